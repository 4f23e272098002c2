/*
 * Daytime: tells each client the time of day, then hangs up (RFC 867).
 * SPDX-License-Identifier: MIT-0
 *
 * The Java form of the classic iterative daytime server and its client (the
 * POSIX socket examples; daytimetcpsrv in Unix Network Programming).
 * Iterative: the accept loop serves each client itself, one at a time, with no
 * threads. Its cost: a slow client would delay the next, so serving one never
 * waits on the client. UDP datagrams to the same port are answered too.
 * More, with the C original beside it: docs/daytime.md.
 *
 * Try it:  java daytime/Daytime.java          (listens on port 8013)
 *          nc localhost 8013 </dev/null       (or: java daytime/Daytime.java --client localhost)
 *          echo | nc -u -w1 localhost 8013    (UDP)
 */
import java.io.*;
import java.net.*;
import java.nio.ByteBuffer;
import java.nio.channels.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.*;

public class Daytime {
    static final int DEFAULT_PORT = 8013; // the well-known port 13 needs root
    static final String USAGE = """
            usage: java daytime/Daytime.java [PORT]
                   java daytime/Daytime.java --client HOST [PORT]
            The daytime service (RFC 867): one line with the time for each TCP client (then EOF) and each UDP datagram.
              PORT           port to listen on or connect to (default 8013; 0 picks a free one)
              --client HOST  connect to HOST and print what its server sends
            example: java daytime/Daytime.java 8013, then in another terminal: java daytime/Daytime.java --client localhost""";

    /** C's ctime() without its newline: "Thu Sep 11 12:44:00 2003", English whatever the locale. */
    static final DateTimeFormatter CTIME = DateTimeFormatter.ofPattern("EEE MMM ppd HH:mm:ss uuuu", Locale.US);

    public static void main(String[] args) throws IOException {
        if (args.length > 0 && (args[0].equals("-h") || args[0].equals("--help"))) {
            System.out.println(USAGE);
            return;
        }
        if (args.length > 0 && args[0].equals("--client")) {
            if (args.length < 2 || args.length > 3) usageError("--client needs HOST and an optional PORT");
            client(args[1], args.length == 3 ? port(args[2]) : DEFAULT_PORT);
        } else {
            noOptions(args);
            if (args.length > 1) usageError("unexpected argument '" + args[1] + "'");
            int port = args.length == 1 ? port(args[0]) : DEFAULT_PORT;
            Channel inherited = inheritedChannel();
            if (inherited instanceof SocketChannel client) {         // inetd nowait, systemd Accept=yes:
                try (client) {                                       // one client, then exit
                    reply(client);
                }
            } else if (inherited instanceof DatagramChannel udp) {   // inetd dgram wait
                answer(udp);
            } else {
                ServerSocketChannel server = inherited instanceof ServerSocketChannel listener
                        ? listener                                   // inetd wait, systemd Accept=no
                        : listenTcpAndUdp(port);
                warmUp(null);
                now();                                               // loads the time zone rules now, too
                System.out.println("listening on " + address(server.getLocalAddress()));
                serve(server);
            }
        }
    }

    static ServerSocketChannel listen(int port) throws IOException {
        ServerSocketChannel server = ServerSocketChannel.open();     // socket()
        server.setOption(StandardSocketOptions.SO_REUSEADDR, true);  // setsockopt(SO_REUSEADDR)
        try {
            // The JDK binds the IPv6 wildcard, dual-stack, so IPv4 and IPv6 clients both come.
            // A long accept queue (the kernel caps it at somaxconn): a burst of connects
            // waits there for accept() instead of losing its SYNs to a full queue.
            server.bind(new InetSocketAddress(port), 4096);          // bind(in6addr_any) + listen()
        } catch (BindException e) {
            String why = e.getMessage() == null ? "" : e.getMessage();
            if (why.contains("in use")) fail("error: port " + port + " is already in use");
            if (why.contains("denied")) fail("error: port " + port + " needs root; try the default port " + DEFAULT_PORT);
            fail("error: cannot listen on port " + port + ": " + why);
        }
        return server;
    }

    static void serve(ServerSocketChannel server) throws IOException {
        long lastWarning = System.nanoTime() - 1_000_000_000L;
        while (true) {
            try (SocketChannel client = server.accept()) {           // accept()
                reply(client);                                       // one client at a time
            } catch (IOException e) {
                if (!server.isOpen() || notListening(e)) return;
                // Out of file descriptors, say: log at most once a second, and back off instead of spinning.
                lastWarning = warn("accept failed: " + e.getMessage() + " (retrying)", lastWarning);
                pause(100);
            }
        }
    }

    /** Writes the time, then closes so that the client surely receives it. */
    static void reply(SocketChannel client) throws IOException {
        String peer = address(client.socket().getRemoteSocketAddress());
        try {
            client.write(ByteBuffer.wrap(now()));                    // write(): 26 bytes always fit the send buffer
            client.shutdownOutput();                                 // shutdown(SHUT_WR): FIN after the line
            // Closing with unread input sends RST, which can destroy the line on its way
            // (RFC 2525, 2.17). So discard what the client has sent, without ever waiting.
            InputStream in = client.socket().getInputStream();
            in.skipNBytes(Math.min(in.available(), 1 << 20));      // ioctl(FIONREAD) + read()
            log("connection from " + peer);
        } catch (IOException e) {
            log(peer + " " + e.getMessage());                        // that client's problem only
        }
    }                                                                // close() by try-with-resources

    /** The reply: C's ctime() and CRLF, 26 bytes in ASCII; formatted once a second, not for every client. */
    static byte[] now() {
        long second = System.currentTimeMillis() / 1000;                 // time()
        Reply last = lastReply;
        if (last.second() == second) return last.bytes();
        ZonedDateTime time = ZonedDateTime.ofInstant(Instant.ofEpochSecond(second), ZoneId.systemDefault());
        byte[] bytes = (CTIME.format(time) + "\r\n").getBytes(StandardCharsets.US_ASCII);
        lastReply = new Reply(second, bytes);                            // one object, safe to share unlocked
        return bytes;
    }

    record Reply(long second, byte[] bytes) {}

    static volatile Reply lastReply = new Reply(-1, null);

    static void client(String host, int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), 10_000); // socket() + connect()
            socket.setSoTimeout(10_000);
            socket.getInputStream().transferTo(System.out);          // read() until EOF, write() to stdout
            System.out.flush();
        } catch (UnknownHostException e) {
            fail("error: cannot get the time from " + host + ":" + port + ": unknown host");
        } catch (IOException e) {
            fail("error: cannot get the time from " + host + ":" + port + ": " + e.getMessage());
        }
    }

    /** TCP and UDP on the same port number, as inetd has them; UDP has a thread of its own. */
    static ServerSocketChannel listenTcpAndUdp(int port) throws IOException {
        for (int tries = 1; ; tries++) {
            ServerSocketChannel server = listen(port);
            int bound = server.socket().getLocalPort();
            DatagramChannel udp = DatagramChannel.open();                // socket(SOCK_DGRAM)
            try {
                udp.bind(new InetSocketAddress(bound));                  // bind(in6addr_any), the same number
            } catch (BindException e) {
                udp.close();
                server.close();
                if (port != 0 || tries == 10) fail("error: UDP port " + bound + " is already in use");
                continue;                                                // port 0: TCP's pick is taken for UDP
            }
            Thread answering = new Thread(() -> answer(udp), "udp");
            answering.setDaemon(true);                                   // ends with the process
            answering.start();
            return server;
        }
    }

    /** RFC 867 over UDP: any datagram is answered with the time. */
    static void answer(DatagramChannel udp) {
        ByteBuffer datagram = ByteBuffer.allocate(512);                  // what it says does not matter
        int own = udp.socket().getLocalPort();
        long lastWarning = System.nanoTime() - 1_000_000_000L;
        while (udp.isOpen()) {
            String trouble;
            try {
                var sender = (InetSocketAddress) udp.receive(datagram.clear()); // recvfrom()
                trouble = refusal(sender, own);
                if (trouble == null) {
                    udp.send(ByteBuffer.wrap(now()), sender);            // sendto()
                    continue;
                }
                trouble = "ignored a datagram from " + address(sender) + ": " + trouble;
            } catch (IOException e) {
                trouble = "UDP: " + e.getMessage();                      // that datagram is lost, no other
            }
            lastWarning = warn(trouble, lastWarning);                   // at most once a second
        }
    }

    // Each source (address and port) is answered from a token bucket of its own: BURST tokens at
    // most, one spent per answer, PER_SECOND back. A bucket is kept as the time it is full again,
    // and only for the SOURCES heard from last, so forged sources cannot fill memory.
    static final int BURST = 8, PER_SECOND = 4, SOURCES = 4096;
    static final Map<SocketAddress, Long> FULL_AGAIN = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<SocketAddress, Long> eldest) {
            return size() > SOURCES;                                     // forget the least recently heard
        }
    };

    /**
     * Why a datagram from {@code sender} must not be answered, or null if it may be, which spends
     * a token. A port below 1024 is another service's (echo, chargen...), and the server's own
     * port is the server itself: an answer could start two services, or one and itself, answering
     * each other for good, or reflect an attack (CERT CA-1996-01). Services on other ports cannot
     * be listed, so each source is answered at a bounded rate: a loop runs out of tokens at once.
     */
    static String refusal(InetSocketAddress sender, int own) {
        if (sender.getPort() < 1024) return "source port below 1024";
        if (sender.getPort() == own) return "source port is the server's own";
        long now = System.nanoTime(), token = 1_000_000_000L / PER_SECOND;  // ns to earn one back
        long full = Math.max(now, FULL_AGAIN.getOrDefault(sender, now));
        if (full - now > (BURST - 1) * token) return "more than " + BURST + " at once or " + PER_SECOND + " a second from it";
        FULL_AGAIN.put(sender, full + token);                            // one token spent: full one token later
        return null;
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
