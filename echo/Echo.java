/*
 * Echo: sends every byte each client sends straight back to it (RFC 862).
 * SPDX-License-Identifier: MIT-0
 *
 * The Java form of the classic fork-per-client echo server (the POSIX socket
 * examples; tcpserv01 in Unix Network Programming), where fork() becomes a
 * thread: the accept loop only accepts and hands each client to a thread of its
 * own, which owns the socket and closes it. Its cost: a thread per client, a
 * virtual one on JDK 21+ (a few kilobytes while it waits), a platform one on 17.
 * UDP datagrams to the same port are echoed too. More: docs/echo.md.
 *
 * Try it:  java echo/Echo.java          (listens on port 15000)
 *          nc localhost 15000           (UDP: nc -u localhost 15000)
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

public class Echo {
    static final int DEFAULT_PORT = 15000;
    static final String USAGE = """
            usage: java echo/Echo.java [PORT]
            The echo service (RFC 862): each byte a TCP client sends, and each UDP datagram, comes back unchanged.
              PORT  port to listen on (default 15000; 0 picks a free one)
            example: java echo/Echo.java 15000, then in another terminal: nc localhost 15000""";

    // A client that waits holds only a small buffer. One whose read fills it while more is
    // waiting (a larger request, or a stream) gets a large direct buffer (no copy through the
    // Java heap) until nothing is waiting again: 64 KiB, as the C child's, so that a request of
    // up to 64 KiB goes back in one write. It is what a client that never reads keeps while its
    // thread waits in write(). Large buffers are kept for reuse, 64 at most: allocateDirect is
    // slow, and its memory comes back only once the collector finds the buffer unused.
    static final int SMALL_BUFFER = 1024, LARGE_BUFFER = 64 * 1024, REQUEST = 64 * 1024;
    static final BlockingQueue<ByteBuffer> LARGE_BUFFERS = new ArrayBlockingQueue<>(64);
    static boolean virtualThreads;                                       // set by clientThreads()

    public static void main(String[] args) throws IOException {
        if (args.length > 0 && (args[0].equals("-h") || args[0].equals("--help"))) {
            System.out.println(USAGE);
            return;
        }
        noOptions(args);
        if (args.length > 1) usageError("unexpected argument '" + args[1] + "'");
        int port = args.length == 1 ? port(args[0]) : DEFAULT_PORT;
        Channel inherited = inheritedChannel();
        if (inherited instanceof SocketChannel client) {                 // inetd nowait, systemd Accept=yes:
            serve(client);                                               // one client, then exit
            return;
        }
        if (inherited instanceof DatagramChannel udp) {                  // inetd dgram wait
            answer(udp);
            return;
        }
        ServerSocketChannel server = inherited instanceof ServerSocketChannel listener
                ? listener                                               // inetd wait, systemd Accept=no
                : listenTcpAndUdp(port);
        ThreadFactory threads = clientThreads();
        warmUp(virtualThreads ? threads : null);
        System.out.println("listening on " + address(server.getLocalAddress()));
        try (server) {
            long lastWarning = System.nanoTime() - 1_000_000_000L;
            while (true) {
                SocketChannel client;
                try {
                    client = server.accept();                            // accept()
                } catch (IOException e) {
                    if (!server.isOpen() || notListening(e)) return;
                    // Out of file descriptors, say: log at most once a second, and back off instead of spinning.
                    lastWarning = warn("accept failed: " + e.getMessage() + " (retrying)", lastWarning);
                    pause(100);
                    continue;
                }
                try {
                    threads.newThread(() -> serve(client)).start();      // one thread per client: the fork()
                    // The client's thread owns the socket now; this loop never touches it again.
                } catch (OutOfMemoryError e) {                           // out of threads (ulimit -u, a container's
                    close(client);                                       // pids limit), where fork() would fail:
                    lastWarning = warn("no thread for a client: " + e.getMessage() + " (retrying)", lastWarning);
                    pause(100);                                          // as for EMFILE, close it and back off
                }
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

    /** Echoes until the client's EOF, sends what is still owed, then closes. */
    static void serve(SocketChannel client) {
        String peer = address(client.socket().getRemoteSocketAddress());
        log("connection from " + peer);
        long[] total = {0};                                              // bytes echoed so far, for the log
        try (client) {                                                   // close() when done, whatever happens
            // An answer longer than one read takes several writes; Nagle would hold the last for the client's delayed ACK.
            client.setOption(StandardSocketOptions.TCP_NODELAY, true);   // setsockopt(TCP_NODELAY)
            echo(client, total);
            client.shutdownOutput();                                     // shutdown(SHUT_WR): EOF for the client too
            log(peer + " closed (" + total[0] + " bytes)");
        } catch (IOException e) {
            log(peer + " " + e.getMessage() + " (" + total[0] + " bytes)"); // a reset ends this client only
        } catch (OutOfMemoryError e) {
            log(peer + " no memory for a buffer: " + e.getMessage() + " (" + total[0] + " bytes)");
        }
    }

    /** Echoes until EOF, counting the bytes in total[0]. */
    static void echo(SocketChannel client, long[] total) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(SMALL_BUFFER);
        InputStream waiting = client.socket().getInputStream();         // for available(): ioctl(FIONREAD)
        for (int n; (n = client.read(buffer.clear())) != -1; ) {         // read() until EOF
            total[0] += n;
            if (n == buffer.capacity() && waiting.available() > 0) {
                stream(client, buffer.flip(), total);                    // more than a small buffer: the rest comes too
            } else {
                buffer.flip();
                while (buffer.hasRemaining()) client.write(buffer);      // write() until all n bytes are sent
            }
        }
    }

    /**
     * Echoes {@code first} and what keeps coming after it, with a large buffer. A request of up to
     * 64 KiB is answered here, in one write if it has all arrived; a client still sending after
     * that streams, on a platform thread (see onPlatformThread()) until nothing is waiting. When
     * the client's window is full, what it holds back is written here, where waiting for the
     * client costs the buffer alone, then the platform thread takes over again.
     */
    static void stream(SocketChannel client, ByteBuffer first, long[] total) throws IOException {
        ByteBuffer buffer = largeBuffer().clear().put(first);
        long request = total[0] + REQUEST;                               // answered here up to this total
        try {
            for (boolean more = true; more; buffer.clear()) {
                more = total[0] <= request ? echoWhatIsWaiting(client, buffer, total, request)
                        : onPlatformThread(() -> echoWhatIsWaiting(client, buffer, total, Long.MAX_VALUE));
                while (buffer.hasRemaining()) client.write(buffer);      // the client reads slower than it sends
            }
        } finally {
            LARGE_BUFFERS.offer(buffer);                                 // for the next client that streams
        }
    }

    /**
     * Echoes what the buffer holds and what has arrived after it, never waiting. Returns false
     * once nothing more is waiting, or true once the total is past {@code until} or at a write
     * the client's window had no room for; either way the buffer is left with what is unsent.
     */
    static boolean echoWhatIsWaiting(SocketChannel client, ByteBuffer buffer, long[] total, long until) throws IOException {
        client.configureBlocking(false);                                 // fcntl(O_NONBLOCK): read() and write()
        try {                                                            // take what they can, and return
            for (int n; (n = client.read(buffer)) > 0; buffer.clear()) { // 0: nothing waiting; -1: EOF, read again
                total[0] += n;
                client.write(buffer.flip());
                if (buffer.hasRemaining() || total[0] > until) return true; // the next write would wait, or a stream
            }
            buffer.flip();
            return false;
        } finally {
            client.configureBlocking(true);
        }
    }

    static ByteBuffer largeBuffer() {
        ByteBuffer reused = LARGE_BUFFERS.poll();
        return reused != null ? reused : ByteBuffer.allocateDirect(LARGE_BUFFER);
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

    /** RFC 862 over UDP: each datagram goes back to its sender unchanged. */
    static void answer(DatagramChannel udp) {
        ByteBuffer datagram = ByteBuffer.allocateDirect(65536);         // room for the largest datagram
        int own = udp.socket().getLocalPort();
        long lastWarning = System.nanoTime() - 1_000_000_000L;
        while (udp.isOpen()) {
            String trouble;
            try {
                var sender = (InetSocketAddress) udp.receive(datagram.clear()); // recvfrom()
                trouble = refusal(sender, own);
                if (trouble == null) {
                    udp.send(datagram.flip(), sender);                   // sendto()
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

    /**
     * Runs {@code work} on a platform thread of its own and waits for it, where clients have virtual
     * threads: waiting, the virtual thread frees its carrier for other clients, and the kernel
     * time-slices the platform thread as it would a forked child. On JDK 17 too: what the JDK keeps
     * for a thread that did a burst (a direct buffer as large as its reads into heap memory) goes
     * with the thread, not with the client. The work never waits for the client, so no client holds
     * the thread for longer than it keeps sending. When no thread can be had, the work runs here.
     */
    static <T> T onPlatformThread(Callable<T> work) throws IOException {
        FutureTask<T> task = new FutureTask<>(work);
        try {
            PLATFORM_THREADS.execute(task);
        } catch (OutOfMemoryError e) {
            task.run();                                                  // out of threads: stay
        }
        try {
            return task.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) throw io;       // the work's own failure, as if here
            if (e.getCause() instanceof Error error) throw error;
            throw (RuntimeException) e.getCause();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException();
        }
    }

    // A thread for each client that streams, kept a tenth of a second for the next: a client
    // hands its work over each time its window has room again, hundreds of times a second.
    static final ExecutorService PLATFORM_THREADS = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 100, TimeUnit.MILLISECONDS,
            new SynchronousQueue<>(), work -> {
                Thread thread = new Thread(work);
                thread.setDaemon(true);                                  // as the client's own: no reason to outlive main
                return thread;
            });

    /** Virtual threads where the JDK has them (21+), platform threads otherwise (17). */
    static ThreadFactory clientThreads() {
        try { // Thread.ofVirtual().factory(), looked up at run time so that this file still runs on JDK 17
            Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
            ThreadFactory virtual = (ThreadFactory) Class.forName("java.lang.Thread$Builder").getMethod("factory").invoke(builder);
            log("one virtual thread per client");
            virtualThreads = true;
            return virtual;
        } catch (ReflectiveOperationException e) {
            log("one platform thread per client (virtual threads need JDK 21)");
            return Thread::new;
        }
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
