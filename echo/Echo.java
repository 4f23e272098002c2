/*
 * Echo: sends every byte each client sends straight back to it (RFC 862).
 *
 * The Java form of the classic fork-per-client echo server (the POSIX socket
 * examples, and tcpserv01 in Unix Network Programming), where fork() becomes a
 * thread. Concurrent: the accept loop only accepts and hands each client to a
 * thread of its own, which owns the socket and closes it. On JDK 21 and newer
 * that is a virtual thread, so an idle client costs a few kilobytes; on JDK 17
 * a platform thread, which costs a stack.
 *
 * Try it:  java echo/Echo.java          (listens on port 15000)
 *          nc localhost 15000
 */
import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.ThreadFactory;

public class Echo {
    static final int DEFAULT_PORT = 15000;
    static final String USAGE = """
            usage: java echo/Echo.java [PORT]
            The echo service (RFC 862): every byte a client sends comes back unchanged.
              PORT  port to listen on (default 15000; 0 picks a free one)
            example: java echo/Echo.java 15000 & nc localhost 15000""";

    // An idle client holds only a small buffer; one that fills it is sending in bulk
    // and gets a large direct one (no copy through the Java heap) for loopback speed.
    static final int SMALL_BUFFER = 1024, LARGE_BUFFER = 128 * 1024;

    public static void main(String[] args) throws IOException {
        if (args.length > 0 && (args[0].equals("-h") || args[0].equals("--help"))) {
            System.out.println(USAGE);
            return;
        }
        if (args.length > 1) usageError("unexpected argument '" + args[1] + "'");
        int port = args.length == 1 ? port(args[0]) : DEFAULT_PORT;
        try (ServerSocketChannel server = listen(port)) {
            ThreadFactory threads = clientThreads();
            long lastError = 0;
            while (true) {
                try {
                    SocketChannel client = server.accept();              // accept()
                    threads.newThread(() -> serve(client)).start();      // one thread per client: the fork()
                    // The client's thread owns the socket now; this loop never touches it again.
                } catch (IOException e) {
                    if (!server.isOpen()) return;
                    if (System.nanoTime() - lastError > 1_000_000_000L) { // e.g. out of file descriptors:
                        log("accept failed: " + e.getMessage() + " (retrying)"); // log at most once a second,
                        lastError = System.nanoTime();
                    }
                    pause(100);                                          // and back off instead of spinning
                }
            }
        }
    }

    /** Echoes until the client's EOF, sends what is still owed, then closes. */
    static void serve(SocketChannel client) {
        String peer = address(client.socket().getRemoteSocketAddress());
        log("connection from " + peer);
        long total = 0;
        try (client) {                                                   // close() when done, whatever happens
            ByteBuffer buffer = ByteBuffer.allocate(SMALL_BUFFER);
            for (int n; (n = client.read(buffer)) != -1; total += n) {   // read() until EOF
                buffer.flip();
                while (buffer.hasRemaining()) client.write(buffer);      // write() until all n bytes are sent
                if (n == buffer.capacity() && n < LARGE_BUFFER) buffer = ByteBuffer.allocateDirect(LARGE_BUFFER);
                buffer.clear();
            }
            client.shutdownOutput();                                     // shutdown(SHUT_WR): EOF for the client too
            log(peer + " closed (" + total + " bytes)");
        } catch (IOException e) {
            log(peer + " " + e.getMessage() + " (" + total + " bytes)"); // a reset ends this client only
        }
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

    static ServerSocketChannel listen(int port) throws IOException {
        ServerSocketChannel server = ServerSocketChannel.open();     // socket()
        server.setOption(StandardSocketOptions.SO_REUSEADDR, true);  // setsockopt(SO_REUSEADDR)
        try {
            server.bind(new InetSocketAddress(port), 128);           // bind(INADDR_ANY) + listen()
        } catch (BindException e) {
            String why = e.getMessage() == null ? "" : e.getMessage();
            if (why.contains("in use")) fail("error: port " + port + " is already in use");
            if (why.contains("denied")) fail("error: port " + port + " needs root; try the default port " + DEFAULT_PORT);
            fail("error: cannot listen on port " + port + ": " + why);
        }
        System.out.println("listening on " + address(server.getLocalAddress()));
        return server;
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

    /** 127.0.0.1:51334 or [::1]:51334, as ss and nc print them. */
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
