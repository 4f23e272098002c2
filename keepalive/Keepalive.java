/*
 * Keepalive: TCP keepalive in action, and proof that it finds a dead peer.
 * SPDX-License-Identifier: MIT-0
 *
 * The Java form of the keepalive demo of the POSIX socket examples (RFC 1122
 * 4.2.3.6): one program that is both server and client, the fork() a thread.
 * The client connects and stays silent; the server turns on SO_KEEPALIVE with
 * TCP_KEEPIDLE, TCP_KEEPINTERVAL and TCP_KEEPCOUNT, prints what the socket uses
 * and waits until keepalive finds the peer dead: "peer dead", exit 3. Its cost:
 * a dead peer is found idle + interval x count seconds after it last answered.
 * --serve is the form a real server uses. More: docs/keepalive.md.
 *
 * Try it:  java keepalive/Keepalive.java                  (demo on 127.0.0.1:12345)
 *          tcpdump -n -i lo port 12345                     (as root: a probe each second)
 */
import java.io.*;
import java.net.*;
import java.nio.ByteBuffer;
import java.nio.channels.*;
import java.nio.file.*;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.*;
import jdk.net.ExtendedSocketOptions;

public class Keepalive {
    static final String DEFAULT_ADDRESS = "127.0.0.1";
    static final int DEFAULT_PORT = 12345;
    static final String USAGE = """
            usage: java keepalive/Keepalive.java [ADDRESS [PORT]] [--idle S] [--interval S] [--count N] [--serve]
            TCP keepalive: a server and a silent client; the server reports when keepalive finds the peer dead (exit 3).
              ADDRESS       address to listen on and connect to (default 127.0.0.1)
              PORT          port (default 12345; 0 picks a free one); a lone number is taken as PORT
              --idle S      idle seconds before the first probe, TCP_KEEPIDLE, 1 to 32767 (default 1)
              --interval S  seconds between probes, TCP_KEEPINTERVAL, 1 to 32767 (default 1)
              --count N     unanswered probes before the peer is dead, TCP_KEEPCOUNT, 1 to 127 (default 10)
              --serve       no built-in client: serve any number of clients, log each dead peer
            example: java keepalive/Keepalive.java 127.0.0.1 12345 --idle 2 --interval 1 --count 3""";

    static int idle = 1, interval = 1, count = 10;
    static volatile int exitStatus = 0; // what Ctrl-C or SIGTERM exits with: the demo's normal end

    public static void main(String[] args) throws IOException {
        List<String> positional = new ArrayList<>();
        boolean serve = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "-h", "--help" -> {
                    System.out.println(USAGE);
                    return;
                }
                case "--idle" -> idle = setting(args, ++i, 32767);          // Linux's ranges, so that the
                case "--interval" -> interval = setting(args, ++i, 32767);  // kernel never refuses one later
                case "--count" -> count = setting(args, ++i, 127);
                case "--serve" -> serve = true;
                default -> {
                    if (args[i].startsWith("-") && !args[i].matches("-\\d+")) usageError("unknown option '" + args[i] + "'");
                    positional.add(args[i]);
                }
            }
        }
        if (positional.size() > 2) usageError("unexpected argument '" + positional.get(2) + "'");
        if (positional.size() == 1 && positional.get(0).matches("-?\\d+")) positional.add(0, DEFAULT_ADDRESS);
        InetAddress address = address(positional.isEmpty() ? DEFAULT_ADDRESS : positional.get(0));
        int port = positional.size() == 2 ? port(positional.get(1)) : DEFAULT_PORT;

        Channel inherited = inheritedChannel();
        if (inherited instanceof SocketChannel client) {                         // inetd nowait, systemd Accept=yes:
            watch(client.socket());                                              // one client, then exit
            return;
        }
        if (inherited instanceof DatagramChannel) fail("error: the socket on stdin is UDP; keepalive is TCP only");
        ServerSocket server = inherited instanceof ServerSocketChannel listener
                ? listener.socket()                                              // inetd wait, systemd Accept=no
                : listen(address, port, serve ? 4096 : 1);
        warmUp(null);
        try (Socket probe = new Socket()) {
            enableKeepalive(probe);                                              // loads jdk.net's native code now
        }
        System.out.println("listening on " + address(server.getLocalSocketAddress()));
        if (serve || inherited != null) {
            serve(server);
            return;
        }
        // A JVM stopped by a signal exits with 128 + its number; in the demo, Ctrl-C is the normal way out.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> Runtime.getRuntime().halt(exitStatus)));
        try {
            demo(server);
        } catch (IOException e) {
            System.err.println("error: " + e.getMessage());
            exit(1);
        }
    }

    static ServerSocket listen(InetAddress address, int port, int backlog) throws IOException {
        ServerSocket server = new ServerSocket();                    // socket()
        server.setReuseAddress(true);                                // setsockopt(SO_REUSEADDR)
        try {
            // A long accept queue (the kernel caps it at somaxconn): a burst of connects
            // waits there for accept() instead of losing its SYNs to a full queue.
            server.bind(new InetSocketAddress(address, port), backlog); // bind() + listen()
        } catch (BindException e) {
            String why = e.getMessage() == null ? "" : e.getMessage();
            if (why.contains("in use")) fail("error: port " + port + " is already in use");
            if (why.contains("denied")) fail("error: port " + port + " needs root; try the default port " + DEFAULT_PORT);
            fail("error: cannot listen on " + address.getHostAddress() + ":" + port + ": " + why);
        }
        return server;
    }

    /** The article's demo: connect a silent client to ourselves, then wait for keepalive to say it died. */
    static void demo(ServerSocket server) throws IOException {
        Thread client = new Thread(() -> {
            try (Socket socket = new Socket()) {
                socket.connect(server.getLocalSocketAddress());                  // connect()
                System.out.println("connected");
                socket.getInputStream().read();                                  // pause(): silent until the end
            } catch (IOException e) {
                // the client side has no keepalive; the server's report is what the demo shows
            }
        });
        client.setDaemon(true);
        client.start();

        Socket peer = server.accept();                                           // accept()
        String settings = enableKeepalive(peer);
        System.out.println("accepted");
        System.out.println(settings);
        long since = System.nanoTime();
        String end = waitForEnd(peer.getInputStream());
        if (end == null) {
            System.out.println("peer closed the connection");
            return;
        }
        System.out.println("peer dead after " + seconds(since) + " s (" + end + ")");
        exit(3);
    }

    /** --serve: one thread per client, each watched by keepalive, each end logged. */
    static void serve(ServerSocket server) {
        long lastWarning = System.nanoTime() - 1_000_000_000L;
        while (true) {
            Socket client;
            try {
                client = server.accept();                                        // accept()
            } catch (IOException e) {
                if (server.isClosed() || notListening(e)) return;
                // Out of file descriptors, say: log at most once a second, and back off instead of spinning.
                lastWarning = warn("accept failed: " + e.getMessage() + " (retrying)", lastWarning);
                pause(100);
                continue;
            }
            try {
                new Thread(() -> watch(client)).start();                         // one thread per client
            } catch (OutOfMemoryError e) {                                       // out of threads (ulimit -u, a
                close(client);                                                   // container's pids limit): as for
                lastWarning = warn("no thread for a client: " + e.getMessage() + " (retrying)", lastWarning);
                pause(100);                                                      // EMFILE, close it and back off
            }
        }
    }

    static void watch(Socket client) {
        String peer = address(client.getRemoteSocketAddress());
        try (client) {                                                           // close() when done
            log("connection from " + peer + ", " + enableKeepalive(client));
            long since = System.nanoTime();
            String end = waitForEnd(client.getInputStream());
            log(end == null ? peer + " closed" : peer + " peer dead after " + seconds(since) + " s (" + end + ")");
        } catch (IOException e) {
            log(peer + " " + e.getMessage());
        }
    }

    /** Reads (and discards) until EOF, then returns null; or returns why the connection failed. */
    static String waitForEnd(InputStream in) {
        byte[] discard = new byte[512];
        try {
            while (in.read(discard) != -1) { }                                   // read(): blocks; keepalive probes meanwhile
            return null;
        } catch (IOException e) {
            return e.getMessage();                                               // ETIMEDOUT: "Connection timed out"
        }
    }

    /** setsockopt(SO_KEEPALIVE) and the three TCP options where supported; returns what the socket reports. */
    static String enableKeepalive(Socket socket) throws IOException {
        socket.setKeepAlive(true);                                               // setsockopt(SOL_SOCKET, SO_KEEPALIVE)
        return "keepalive"
                + " idle=" + set(socket, ExtendedSocketOptions.TCP_KEEPIDLE, idle, "s")        // setsockopt(IPPROTO_TCP, TCP_KEEPIDLE)
                + " interval=" + set(socket, ExtendedSocketOptions.TCP_KEEPINTERVAL, interval, "s") // TCP_KEEPINTVL
                + " count=" + set(socket, ExtendedSocketOptions.TCP_KEEPCOUNT, count, "");     // TCP_KEEPCNT
    }

    static String set(Socket socket, SocketOption<Integer> option, int value, String unit) throws IOException {
        if (!socket.supportedOptions().contains(option)) {
            log(option.name() + " is not supported on this platform: the system default applies");
            return "default";
        }
        socket.setOption(option, value);
        return socket.getOption(option) + unit;                                  // getsockopt(): what is really in force
    }

    static String seconds(long since) {
        return String.format(Locale.ROOT, "%.1f", (System.nanoTime() - since) / 1e9);
    }

    /** The value after an option: a whole number from 1 to {@code max}. */
    static int setting(String[] args, int i, int max) {
        if (i >= args.length) usageError(args[i - 1] + " needs a value");
        if (!args[i].matches("\\d{1,9}") || Integer.parseInt(args[i]) < 1 || Integer.parseInt(args[i]) > max) {
            usageError("bad " + args[i - 1] + " '" + args[i] + "' (want 1 to " + max + ")");
        }
        return Integer.parseInt(args[i]);
    }

    static InetAddress address(String host) {
        try {
            return InetAddress.getByName(host);
        } catch (UnknownHostException e) {
            usageError("unknown address '" + host + "'");
            return null;
        }
    }

    static void exit(int status) {
        exitStatus = status;
        System.exit(status);
    }

    // ---- the same in every server of this collection ----

    /**
     * One connection over loopback before any client comes, so that what the JDK sets up on first
     * use is set up now: the code that closes a socket and, given virtual threads, the pollers that
     * wake one blocked in read(). Set up for the first time during a flood of clients that took
     * every file descriptor, they would fail, and a class that fails to initialise fails for good.
     */
    static void warmUp(ThreadFactory virtualThreads) throws IOException {
        try (ServerSocketChannel listener = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
             SocketChannel client = SocketChannel.open(listener.getLocalAddress())) { // never accepted, never sent to
            if (virtualThreads == null) return;
            Thread reader = virtualThreads.newThread(() -> {
                try {
                    client.read(ByteBuffer.allocate(1));
                } catch (IOException e) {
                    // closed below, as planned
                }
            });
            reader.start();
            for (long end = System.nanoTime() + 1_000_000_000L;                 // until it is parked, or 1 s at most
                 reader.isAlive() && reader.getState() != Thread.State.WAITING && System.nanoTime() < end; ) pause(1);
        }                                                            // closing the client ends its read
    }

    /**
     * The socket inetd or systemd handed over as stdin (socket activation), or null.
     * Then stdout may be that socket, so the ready line and logs go to stderr, and
     * nowhere if stderr is the client's socket too (inetd passes it as 0, 1 and 2;
     * systemd's journal is a socket as well, but another one).
     */
    static Channel inheritedChannel() throws IOException {
        Channel inherited = System.inheritedChannel();
        if (inherited == null) {
            if (String.valueOf(ProcessHandle.current().pid()).equals(System.getenv("LISTEN_PID"))) {
                fail("error: systemd passed the socket as fd 3 (LISTEN_FDS), which Java cannot take over;"
                        + " use StandardInput=socket in the service, or systemd-socket-activate --inetd");
            }
            return null;
        }
        boolean quiet = true;                                        // where /proc cannot tell, to be safe
        try {
            quiet = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).equals(Files.readSymbolicLink(Path.of("/proc/self/fd/0")));
        } catch (IOException | UnsupportedOperationException e) {
            // not Linux, or fd 2 is closed: stay quiet
        }
        PrintStream logs = quiet ? new PrintStream(OutputStream.nullOutputStream()) : System.err;
        System.setOut(logs);
        System.setErr(logs);
        // Closing an inherited socket, the JDK points fds 0, 1 and 2 at /dev/null: serving that one
        // client, write each log line at once, since one still queued then would be lost.
        logAtOnce = inherited instanceof SocketChannel;
        if (!(((NetworkChannel) inherited).getLocalAddress() instanceof InetSocketAddress)) {
            fail("error: the socket on stdin is not a TCP or UDP socket");
        }
        return inherited;
    }

    /** accept() fails with EINVAL on a socket that is not listening: a client inetd handed over had reset. */
    static boolean notListening(IOException e) {
        return "Invalid argument".equals(e.getMessage());
    }

    static void noOptions(String[] args) {
        for (String arg : args) if (arg.matches("-+[A-Za-z].*")) usageError("unknown option '" + arg + "'");
    }

    static int port(String arg) {
        if (!arg.matches("\\d{1,5}") || Integer.parseInt(arg) > 65535) usageError("bad port '" + arg + "' (want 0 to 65535)");
        return Integer.parseInt(arg);
    }

    /** 127.0.0.1:51334, or [::1]:51334 for IPv6: the address in brackets, in RFC 5952's short form, as ss has it. */
    static String address(SocketAddress socketAddress) {
        var a = (InetSocketAddress) socketAddress;
        String host = a.getAddress().isAnyLocalAddress() ? "0.0.0.0" : a.getAddress().getHostAddress();
        if (!host.contains(":")) return host + ":" + a.getPort();
        int start = 0, end = 0;                                      // the first of the longest runs of zero groups
        for (Matcher zeros = ZERO_GROUPS.matcher(host); zeros.find(); ) {
            if ((zeros.end() - zeros.start()) / 2 > (end - start) / 2) { // a zero group is 2 characters, "0:"
                start = zeros.start();
                end = zeros.end();
            }
        }
        return "[" + host.substring(0, start) + (end > start ? "::" : "") + host.substring(end) + "]:" + a.getPort();
    }

    static final Pattern ZERO_GROUPS = Pattern.compile("(^|:)(0(:|$)){2,}");

    // Logs go through a bounded queue to one writer thread, so that a stderr nobody reads (a full
    // pipe) never holds up a client: while the queue is full, lines are counted, then reported.
    static final BlockingQueue<String> LOG = new ArrayBlockingQueue<>(10_000);
    static final AtomicLong UNWRITTEN = new AtomicLong(), LOST = new AtomicLong();
    static final Thread LOG_WRITER = startLogWriter();
    static boolean logAtOnce;                                      // set by inheritedChannel()

    static void log(String message) {
        if (logAtOnce) {
            System.err.println(message);
            return;
        }
        UNWRITTEN.incrementAndGet();
        if (LOG.offer(message)) return;
        UNWRITTEN.decrementAndGet();
        LOST.incrementAndGet();
    }

    /** Logs {@code message} unless the last warning, at {@code last}, was under a second ago; returns the last one's time. */
    static long warn(String message, long last) {
        if (System.nanoTime() - last < 1_000_000_000L) return last;
        log(message);
        return System.nanoTime();
    }

    static Thread startLogWriter() {
        Thread writer = new Thread(() -> {
            List<String> lines = new ArrayList<>();
            while (true) {
                try {
                    lines.add(LOG.take());
                } catch (InterruptedException e) {
                    return;
                }
                // A while for the rest of a burst to come, then all of it in one write(): a wake-up and
                // a write() for every line would cost an iterative server a third of its speed.
                pause(5);
                LOG.drainTo(lines);
                StringBuilder text = new StringBuilder();
                long lost = LOST.getAndSet(0);
                if (lost > 0) text.append("(").append(lost).append(" log lines lost: stderr was not being read)\n");
                for (String line : lines) text.append(line).append('\n');
                System.err.print(text);
                System.err.flush();
                UNWRITTEN.addAndGet(-lines.size());
                lines.clear();
            }
        }, "log");
        writer.setDaemon(true);
        writer.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {     // at exit, a second for the last lines to go out
            for (long end = System.nanoTime() + 1_000_000_000L; UNWRITTEN.get() > 0 && System.nanoTime() < end; ) pause(10);
        }));
        return writer;
    }

    static void close(Closeable socket) {
        try {
            socket.close();                                          // close()
        } catch (IOException e) {
            log("close failed: " + e.getMessage());                 // nothing more to do: it is gone either way
        }
    }

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
