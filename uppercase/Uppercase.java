/*
 * Uppercase: sends back, in upper case, the text each client sends.
 *
 * The Java form of the upper-case server of the "how sockets really work"
 * article, in its concurrent form: the accept loop hands each client to a
 * thread of its own (virtual on JDK 21+, platform on 17), which runs the
 * article's service(in, out) and closes the socket. TCP keeps no message
 * boundaries, so text is converted as it arrives, never waiting for a newline.
 * Upper case follows Unicode with Locale.ROOT ("straße" becomes "STRASSE" in
 * every locale); bytes that are not UTF-8 come back unchanged.
 *
 * Started by inetd or systemd with the socket open (socket activation), it
 * serves that socket instead: a listener as above, or one client, then exits.
 *
 * Try it:  java uppercase/Uppercase.java          (listens on port 1067)
 *          nc localhost 1067
 */
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketAddress;
import java.nio.ByteOrder;
import java.nio.channels.Channel;
import java.nio.channels.DatagramChannel;
import java.nio.channels.NetworkChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.ThreadFactory;

public class Uppercase {
    static final int DEFAULT_PORT = 1067;
    static final String USAGE = """
            usage: java uppercase/Uppercase.java [PORT]
            The upper-case service: text each client sends comes back in upper case (UTF-8, Unicode rules).
              PORT  port to listen on (default 1067; 0 picks a free one)
            example: java uppercase/Uppercase.java 1067 & nc localhost 1067""";

    // Start small, so that an idle client costs little; grow for one that sends in bulk.
    static final int SMALL_BUFFER = 1024, LARGE_BUFFER = 64 * 1024;
    // Bytes [i, i + 8) of a byte[] as one long, for upper-casing ASCII eight bytes at a time.
    static final VarHandle EIGHT_BYTES = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    public static void main(String[] args) throws IOException {
        if (args.length > 0 && (args[0].equals("-h") || args[0].equals("--help"))) {
            System.out.println(USAGE);
            return;
        }
        if (args.length > 1) usageError("unexpected argument '" + args[1] + "'");
        int port = args.length == 1 ? port(args[0]) : DEFAULT_PORT;
        Channel inherited = inheritedChannel();
        if (inherited instanceof SocketChannel client) {                 // inetd nowait, systemd Accept=yes:
            serve(client.socket());                                      // one client, then exit
            return;
        }
        if (inherited instanceof DatagramChannel) fail("error: the socket on stdin is UDP; this service is TCP only");
        try (ServerSocket server = inherited instanceof ServerSocketChannel listener
                ? listener.socket()                                      // inetd wait, systemd Accept=no
                : listen(port)) {
            System.out.println("listening on " + address(server.getLocalSocketAddress()));
            ThreadFactory threads = clientThreads();
            long lastError = 0;
            while (true) {
                try {
                    Socket client = server.accept();                     // accept()
                    threads.newThread(() -> serve(client)).start();      // one thread per client: the fork()
                    // The client's thread owns the socket now; this loop never touches it again.
                } catch (IOException e) {
                    if (server.isClosed()) return;
                    if (System.nanoTime() - lastError > 1_000_000_000L) { // e.g. out of file descriptors:
                        log("accept failed: " + e.getMessage() + " (retrying)"); // log at most once a second,
                        lastError = System.nanoTime();
                    }
                    pause(100);                                          // and back off instead of spinning
                }
            }
        }
    }

    static void serve(Socket client) {
        String peer = address(client.getRemoteSocketAddress());
        log("connection from " + peer);
        try (client) {                                                   // close() when done, whatever happens
            long total = service(client.getInputStream(), new BufferedOutputStream(client.getOutputStream(), SMALL_BUFFER));
            client.shutdownOutput();                                     // shutdown(SHUT_WR): EOF for the client too
            log(peer + " closed (" + total + " bytes)");
        } catch (IOException e) {
            log(peer + " " + e.getMessage());                            // a reset ends this client only
        }
    }

    /** The article's service(in, out): upper-cases what arrives, as it arrives, until EOF. */
    static long service(InputStream in, OutputStream out) throws IOException {
        byte[] buffer = new byte[SMALL_BUFFER];
        int kept = 0; // bytes of a character cut off by the last read, waiting for the rest
        long total = 0;
        for (int n; (n = in.read(buffer, kept, buffer.length - kept)) != -1; total += n) {
            int end = kept + n;
            kept = upperCase(buffer, end, out);
            out.flush();                                                 // answer now, not at the next newline
            System.arraycopy(buffer, end - kept, buffer, 0, kept);
            if (end == buffer.length && end < LARGE_BUFFER) buffer = java.util.Arrays.copyOf(buffer, LARGE_BUFFER);
        }
        out.write(buffer, 0, kept);                                      // cut off for good: not UTF-8, sent as is
        out.flush();
        return total;
    }

    /**
     * Writes bytes[0, end) upper-cased, except for a character cut off at the end,
     * whose length it returns. Runs of UTF-8 are converted (ASCII in place, the
     * fast path); any byte that cannot start a UTF-8 character is written unchanged.
     */
    static int upperCase(byte[] bytes, int end, OutputStream out) throws IOException {
        int i = 0;
        while (i < end) {
            int start = i;
            boolean ascii = true;
            while (i < end) {
                if (i + 8 <= end) {
                    long word = (long) EIGHT_BYTES.get(bytes, i);
                    if ((word & 0x80808080_80808080L) == 0) {            // eight ASCII bytes at once:
                        long lower = (word + 0x1F1F1F1F_1F1F1F1FL)       // top bit of each byte set if b >= 'a'
                                & ~(word + 0x05050505_05050505L)         // and clear if b > 'z' (no carries:
                                & 0x80808080_80808080L;                  // every b is below 0x80)
                        EIGHT_BYTES.set(bytes, i, word ^ (lower >>> 2)); // 0x80 >>> 2 is 0x20, a-z's lower-case bit
                        i += 8;
                        continue;
                    }
                }
                int b = bytes[i];
                if (b >= 0) {                                            // ASCII: a-z to A-Z, in place, and
                    int isLower = (((b - 'a') | ('z' - b)) >>> 31) ^ 1;  // without a branch, which random
                    bytes[i++] = (byte) (b ^ (isLower << 5));            // letters would mispredict
                    continue;
                }
                int length = utf8Length(bytes, i, end);
                if (length <= 0) break;
                ascii = false;
                i += length;
            }
            if (ascii) {
                out.write(bytes, start, i - start);
            } else {
                String text = new String(bytes, start, i - start, StandardCharsets.UTF_8);
                out.write(text.toUpperCase(Locale.ROOT).getBytes(StandardCharsets.UTF_8));
            }
            if (i < end && utf8Length(bytes, i, end) == 0) return end - i; // cut off: wait for the rest
            if (i < end) out.write(bytes[i++]);                          // not UTF-8: passed through unchanged
        }
        return 0;
    }

    /**
     * The length of the well-formed UTF-8 character at bytes[i] (2 to 4), 0 if it
     * may be one but is cut off at end, or -1 if it is not one (Unicode table 3-7:
     * no overlong forms, no surrogates, nothing above U+10FFFF).
     */
    static int utf8Length(byte[] bytes, int i, int end) {
        int lead = bytes[i] & 0xFF;
        int length = lead < 0xC2 ? -1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : lead < 0xF5 ? 4 : -1;
        if (length < 0) return -1;
        int low = lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;     // the second byte's range
        int high = lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
        for (int k = 1; k < length; k++) {
            if (i + k == end) return 0;
            int b = bytes[i + k] & 0xFF;
            if (b < (k == 1 ? low : 0x80) || b > (k == 1 ? high : 0xBF)) return -1;
        }
        return length;
    }

    /** Virtual threads where the JDK has them (21+), platform threads otherwise (17). */
    static ThreadFactory clientThreads() {
        try { // Thread.ofVirtual().factory(), looked up at run time so that this file still runs on JDK 17
            Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
            ThreadFactory virtual = (ThreadFactory) Class.forName("java.lang.Thread$Builder").getMethod("factory").invoke(builder);
            log("one virtual thread per client");
            return virtual;
        } catch (ReflectiveOperationException e) {
            log("one platform thread per client (virtual threads need JDK 21)");
            return Thread::new;
        }
    }

    // ---- the same in every server of this collection ----

    static ServerSocket listen(int port) throws IOException {
        ServerSocket server = new ServerSocket();                    // socket()
        server.setReuseAddress(true);                                // setsockopt(SO_REUSEADDR)
        try {
            // A long accept queue (the kernel caps it at somaxconn): a burst of connects
            // waits there for accept() instead of losing its SYNs to a full queue.
            server.bind(new InetSocketAddress(port), 4096);          // bind(INADDR_ANY) + listen()
        } catch (BindException e) {
            String why = e.getMessage() == null ? "" : e.getMessage();
            if (why.contains("in use")) fail("error: port " + port + " is already in use");
            if (why.contains("denied")) fail("error: port " + port + " needs root; try the default port " + DEFAULT_PORT);
            fail("error: cannot listen on port " + port + ": " + why);
        }
        return server;
    }

    /**
     * The socket inetd or systemd handed over as stdin (socket activation), or null.
     * Then stdout may be that socket, so the ready line and logs go to stderr, and
     * nowhere if stderr is a socket too (inetd passes the client as 0, 1 and 2).
     */
    static Channel inheritedChannel() throws IOException {
        Channel inherited = System.inheritedChannel();
        if (inherited == null) return null;
        boolean quiet = true;                                        // where /proc cannot tell, to be safe
        try {
            quiet = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString().startsWith("socket:");
        } catch (IOException | UnsupportedOperationException e) {
            // not Linux: stay quiet
        }
        PrintStream logs = quiet ? new PrintStream(OutputStream.nullOutputStream()) : System.err;
        System.setOut(logs);
        System.setErr(logs);
        if (!(((NetworkChannel) inherited).getLocalAddress() instanceof InetSocketAddress)) {
            fail("error: the socket on stdin is not a TCP or UDP socket");
        }
        return inherited;
    }

    static int port(String arg) {
        if (arg.matches("-+[A-Za-z].*")) usageError("unknown option '" + arg + "'");
        try {
            int port = Integer.parseInt(arg);
            if (port >= 0 && port <= 65535) return port;
        } catch (NumberFormatException e) {
            // not a number: reported below like a number out of range
        }
        usageError("bad port '" + arg + "' (want 0 to 65535)");
        return -1;
    }

    /** 127.0.0.1:51334, or [0:0:0:0:0:0:0:1]:51334 for IPv6: the address in brackets, as ss and nc have it. */
    static String address(SocketAddress socketAddress) {
        var a = (InetSocketAddress) socketAddress;
        String host = a.getAddress().isAnyLocalAddress() ? "0.0.0.0" : a.getAddress().getHostAddress();
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
    }

    static void log(String message) { System.err.println(message); }

    static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static void usageError(String message) {
        System.err.println("error: " + message + "\n" + USAGE);
        System.exit(2);
    }

    static void fail(String message) {
        System.err.println(message);
        System.exit(1);
    }
}
