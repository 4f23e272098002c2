package common;

import static harness.Net.seconds;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import harness.Net;
import harness.Program;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Isolated;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Echo and Uppercase, the thread-per-client servers, under what kills or stalls such servers:
 * clients that stream without pause, running out of threads or descriptors, bursts that leave
 * buffers behind (README: "Every program follows the same rules"). The JDK-specific ones matter on the
 * newest JDK, where clients have virtual threads; on JDK 17 they hold as well.
 */
@Isolated // it times what it proves: other tests beside it would be in the figure
class ThreadPerClientTest {
    /**
     * Virtual threads are not time-sliced: a client whose socket always has data never blocks,
     * and on JDK 21+ a few such clients held every carrier thread, so a newcomer waited seconds
     * or for good. The bound here is generous: a fair server answers in milliseconds.
     */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"ECHO", "UPPERCASE"})
    void aNewClientIsAnsweredWhileEightOthersStream(Servers kind) throws Exception {
        try (Program server = kind.start(); Streams streams = new Streams(server.port(), 8)) {
            Net.await("every stream to flow", seconds(20), streams::allFlowing, streams::toString);
            for (int i = 0; i < 3; i++) kind.assertServes(server, seconds(5));
            assertTrue(streams.allFlowing(), streams.toString());
        }
    }

    /**
     * A message longer than the server's 1 KiB read is answered in two writes or more; with
     * Nagle's algorithm on, the kernel held the last one until the client's delayed ACK, 40 ms
     * later, so 50 round trips of 4 KiB took 2.2 s (C fork echo: under 0.01 s). The client here
     * has TCP_NODELAY, so any wait is the server's. The one timing bound, 1 s for 50, is safe:
     * a server that answers at once needs under 0.1 s even with its code not yet compiled, a
     * tenth of it, while a delayed ACK per round trip (40 ms at least on Linux) cannot fit 50
     * in under 1.9 s. How fast it is belongs to the benchmark; this only tells the two apart.
     */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"ECHO", "UPPERCASE"})
    void messagesOfEverySizeComeBackWithoutWaitingForADelayedAck(Servers kind) throws Exception {
        try (Program server = kind.start(); Socket s = Net.connect(server.port())) {
            s.setTcpNoDelay(true);
            SplittableRandom random = new SplittableRandom(32);
            List<String> times = new ArrayList<>();
            boolean slow = false;
            for (int size : new int[] {1, 1500, 4096, 65536}) {
                byte[] message = new byte[size];
                for (int i = 0; i < size; i++) message[i] = (byte) random.nextInt('a', 'z' + 1);
                byte[] answer = answer(kind, message);
                roundTrip(s, message, answer); // the first of a size may start a thread or compile code: untimed
                long start = System.nanoTime();
                for (int i = 0; i < 50; i++) roundTrip(s, message, answer);
                Duration took = Duration.ofNanos(System.nanoTime() - start);
                times.add(size + " B: " + took.toMillis() + " ms");
                slow |= took.compareTo(seconds(1)) >= 0;
            }
            assertFalse(slow, "50 round trips of each size: " + times + "\n" + server.describe());
        }
    }

    /**
     * A request of up to 64 KiB is answered on the client's own thread, as fork's child answers
     * it, in one write once it has all arrived: handed to a platform thread, each request cost two
     * thread wake-ups (a 4 KiB round trip took 60 µs, C fork echo's 17). A platform thread lives
     * 0.1 s after its work, so one started for the request is still there when the next answer comes.
     * Each request has a connection of its own: a client that sends the next at once, before the
     * server has found nothing more waiting, streams, and may be handed over.
     */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"ECHO", "UPPERCASE"})
    void requestsOfUpTo64KiBAreAnsweredOnTheClientsOwnThread(Servers kind) throws Exception {
        try (Program server = kind.start()) {
            for (int size : new int[] {1025, 1500, 4096, 16384, 65536, 1025, 65536}) {
                byte[] message = letters(size);
                byte[] answer = answer(kind, message);
                try (Socket s = Net.connect(server.port())) {
                    s.setTcpNoDelay(true);
                    byte[] ping = letters(1), pong = answer(kind, ping);
                    roundTrip(s, ping, pong);
                    List<String> before = Net.programThreads(server.pid());
                    roundTrip(s, message, answer);
                    roundTrip(s, ping, pong);                            // answered once the request's work is all done
                    List<String> after = Net.programThreads(server.pid());
                    assertTrue(after.size() <= before.size(), "a " + size + "-byte request: threads " + before + " before, "
                            + after + " after\n" + server.describe());
                }
            }
        }
    }

    /**
     * As fork's child answers it, a request of up to 64 KiB goes back in one write once it has all
     * arrived: the large buffer holds 64 KiB, as C's does (with 32 KiB, one of 40,000 bytes took two
     * writes and 1.5 times as long). The kernel counts the server's write() calls (syscw in
     * /proc/PID/io; its log writes none meanwhile). A request read before all of it has arrived
     * takes two, so the median of 15 counts. Uppercase's large buffer is 32 KiB on JDK 17.
     */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"ECHO", "UPPERCASE"})
    void requestsOfUpTo64KiBGoBackInOneWrite(Servers kind) throws Exception {
        assumeTrue(kind == Servers.ECHO || Runtime.version().feature() >= 21, "uppercase's large buffer is 32 KiB on JDK 17");
        try (Program server = kind.start(); Socket s = Net.connect(server.port())) {
            s.setTcpNoDelay(true);
            roundTrip(s, letters(1), answer(kind, letters(1)));
            server.awaitLog("connection from ");                       // the log's last write for now
            for (int size : new int[] {40_000, 65_536}) {
                byte[] message = letters(size);
                byte[] answer = answer(kind, message);
                List<Long> writes = new ArrayList<>();
                for (int i = 0; i < 15; i++) {
                    long before = writeCalls(server.pid());
                    roundTrip(s, message, answer);
                    writes.add(writeCalls(server.pid()) - before);
                }
                assertEquals(1, writes.stream().sorted().toList().get(7), size + "-byte requests, the server's write() calls for each: " + writes);
            }
        }
    }

    /** {@code size} bytes of text, a to z over and over. */
    static byte[] letters(int size) {
        byte[] message = new byte[size];
        for (int i = 0; i < size; i++) message[i] = (byte) ('a' + i % 26);
        return message;
    }

    /** What the server sends back for an ASCII {@code message}. */
    static byte[] answer(Servers kind, byte[] message) {
        return kind == Servers.ECHO ? message : new String(message, StandardCharsets.US_ASCII).toUpperCase(Locale.ROOT).getBytes(StandardCharsets.US_ASCII);
    }

    /** How many write() calls a process has made, by the kernel's count. */
    static long writeCalls(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/io"))) {
            if (line.startsWith("syscw:")) return Long.parseLong(line.substring(6).trim());
        }
        throw new AssertionError("no syscw in /proc/" + pid + "/io");
    }

    static void roundTrip(Socket s, byte[] message, byte[] answer) throws IOException {
        s.getOutputStream().write(message); // 64 KiB fits the kernel's buffers both ways: no reader thread needed
        assertArrayEquals(answer, Net.readExactly(s, answer.length));
    }

    /**
     * JDK 21+ creates the pollers that wake a blocked virtual thread on first need: if that came
     * while a flood had taken every descriptor, every later blocking read failed, for good. Here
     * the server is left one descriptor, which the first client takes: a client that waits a second
     * before sending makes the server's thread block in read() with none to spare, every time.
     */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"ECHO", "UPPERCASE"})
    void withNoDescriptorToSpareAClientThatWaitsBeforeSendingIsAnswered(Servers kind) throws Exception {
        assumeTrue(Net.onPath("prlimit"), "needs prlimit (util-linux)");
        try (Program server = kind.start()) {
            int last = HardeningTest.lowestFreeDescriptor(server.javaPid());
            HardeningTest.run("prlimit", "--pid", Long.toString(server.javaPid()), "--nofile=" + (last + 1) + ":" + (last + 1));
            try (Socket late = Net.connect(server.port())) {
                server.awaitLog("connection from 127.0.0.1:" + late.getLocalPort());
                Thread.sleep(1000); // the scenario: the server's thread blocks in read() first
                Net.write(late, "ping\n");
                late.shutdownOutput();
                assertEquals(kind == Servers.ECHO ? "ping\n" : "PING\n", new String(Net.readAll(late), StandardCharsets.US_ASCII),
                        server.describe());
            }
        }
    }

    /**
     * Thread.start() fails with OutOfMemoryError when the process limit (ulimit -u, a container's
     * pids limit) is reached: fork() would fail there too. The server must live on, and serve
     * again once threads are free. The limit counts every thread of the user nobody, JVM's included.
     */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"ECHO", "UPPERCASE", "KEEPALIVE"})
    void outOfThreadsTheServerLivesOnAndServesAgain(Servers kind) throws Exception {
        assumeTrue(Net.isRoot() && Net.onPath("setpriv") && Net.onPath("prlimit"),
                "needs root, setpriv and prlimit, to run the server as nobody under a process limit");
        try (Program server = Program.forAnyUser(kind.file)
                .wrappedIn("prlimit", "--nproc=120:120", "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")
                .start(kind.args.toArray(String[]::new))) {
            List<Socket> held = Net.connectMany(server.port(), 300);
            try {
                Net.await("the server to serve every client or run out of threads", seconds(30),
                        () -> logged(server, "no thread for a client: ") > 0 || logged(server, "connection from ") >= held.size(),
                        server::describe);
            } finally {
                held.forEach(Net::close);
            }
            assertTrue(server.process().isAlive(), server.describe());
            kind.assertServes(server, seconds(20));
            if (Runtime.version().feature() < 21 || kind == Servers.KEEPALIVE) {  // a platform thread per client
                assertTrue(server.stderr().stream().anyMatch(l -> l.startsWith("no thread for a client: ")), server.describe());
            }
        }
    }

    /**
     * On JDK 21+ a client that waits has a virtual thread: two thousand of them cost the JVM no
     * operating-system thread each (the log line alone proves nothing).
     */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"ECHO", "UPPERCASE"})
    void onJdk21AndNewerWaitingClientsHaveNoThreadOfTheirOwn(Servers kind) throws Exception {
        assumeTrue(Runtime.version().feature() >= 21, "virtual threads need JDK 21; this is JDK " + Runtime.version().feature());
        try (Program server = kind.start()) {
            List<Socket> waiting = echoedOnce(server.port(), 2000, 1);
            try {
                long threads = Net.procStatus(server.pid(), "Threads");
                assertTrue(threads < 200, threads + " threads for 2000 waiting clients\n" + server.describe());
            } finally {
                waiting.forEach(Net::close);
            }
        }
    }

    /**
     * A burst must not leave a client holding a large buffer, or the platform thread that streamed
     * it, once it waits again: 2000 clients that each sent 64 KiB once cost at most 20 KB each. The
     * heap is fixed and touched at start, so what grows is memory outside it: direct buffers and
     * thread stacks. Only on JDK 21+: on JDK 17 each client has a platform thread, whose stack alone
     * costs more; the buffer alone is proven there too, below.
     */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"ECHO", "UPPERCASE"})
    void clientsThatWaitAfterABurstHoldNoLargeBuffer(Servers kind) throws Exception {
        assumeTrue(Runtime.version().feature() >= 21, "on JDK 17 each client has a platform thread, whose stack alone costs more");
        try (Program server = kind.start("-Xms64m", "-Xmx64m", "-XX:+AlwaysPreTouch")) {
            echoedOnce(server.port(), 200, 64 * 1024).forEach(Net::close); // warm-up: buffers pooled, code compiled
            long before = Net.procStatus(server.pid(), "VmRSS");
            List<Socket> waiting = echoedOnce(server.port(), 2000, 64 * 1024);
            try {
                long perClient = (Net.procStatus(server.pid(), "VmRSS") - before) / 2000;
                assertTrue(perClient <= 20, perClient + " KB for each client that waits after a burst\n" + server.describe());
            } finally {
                waiting.forEach(Net::close);
            }
        }
    }

    /**
     * A client that sends and never reads leaves the server's thread stuck in write(). That thread
     * was a platform thread with a large buffer, for as long as the client stayed: 100 such clients
     * added 100 threads and about 230 KB each on JDK 25. Its work is given back to the client's
     * virtual thread before a write can wait, so they cost a handful of threads and each at most
     * its large buffer and 32 KB more (echo's 64 KiB buffer is direct, so it counts here: 62-75 KB
     * a client in ten runs; uppercase's is on the heap; a platform thread each would be 230). The
     * heap is fixed and touched at start, so what grows is memory outside it: direct buffers and
     * thread stacks.
     */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"ECHO", "UPPERCASE"})
    void onJdk21AndNewerClientsThatSendWithoutReadingHoldNoThreadAndLittleMemory(Servers kind) throws Exception {
        assumeTrue(Runtime.version().feature() >= 21, "on JDK 17 each client has a platform thread of its own anyway");
        try (Program server = kind.start("-Xms64m", "-Xmx64m", "-XX:+AlwaysPreTouch")) {
            try (Streams warmUp = new Streams(server.port(), 10, false)) {   // code compiled, buffers pooled
                warmUp.awaitStuck();
            }
            kind.assertServes(server, seconds(20));
            int threadsBefore = Net.programThreads(server.pid()).size();
            long before = Net.procStatus(server.pid(), "VmRSS");
            try (Streams hogs = new Streams(server.port(), 100, false)) {
                hogs.awaitStuck();
                List<String> threads = Net.programThreads(server.pid());
                long perClient = (Net.procStatus(server.pid(), "VmRSS") - before) / 100;
                assertTrue(threads.size() - threadsBefore <= 5, threads.size() - threadsBefore + " threads more for 100 clients that do not read: "
                        + threads + "\n" + server.describe());
                assertTrue(perClient <= 64 + 32, perClient + " KB for each client that does not read\n" + server.describe());
            }
        }
    }

    /**
     * The buffer alone, on every JDK, 17 included: with memory for a few large buffers only, 400
     * clients that each sent a burst once and wait are all still served; had each kept its buffer
     * until EOF, the server would have run out of memory long before. Echo's large buffers are
     * direct; uppercase's are on the heap (-Xmx bounds direct memory as well, where on JDK 17 the
     * client's thread keeps the JDK's direct copy of its first 32 KiB read).
     */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"ECHO", "UPPERCASE"})
    void clientsThatWaitAfterABurstGiveTheirLargeBufferBack(Servers kind) throws Exception {
        String bound = kind == Servers.ECHO ? "-XX:MaxDirectMemorySize=4m" : "-Xmx24m";
        try (Program server = kind.start(bound)) {
            List<Socket> waiting = List.of();
            try {
                waiting = echoedOnce(server.port(), 400, 256 * 1024);
                for (Socket s : waiting) {
                    Net.write(s, "ping\n");
                    assertEquals(kind == Servers.ECHO ? "ping\n" : "PING\n", new String(Net.readExactly(s, 5), StandardCharsets.US_ASCII));
                }
            } catch (UncheckedIOException e) {
                throw new AssertionError(server.describe(), e);
            } finally {
                waiting.forEach(Net::close);
            }
            assertTrue(server.stderr().stream().noneMatch(l -> l.contains(" no memory for a buffer")), server.describe());
        }
    }

    /**
     * Out of direct memory for a large buffer, that client ends with a line in the log; the server
     * and its other clients go on. Twelve clients that send and never read each hold a buffer of
     * 64 KiB, and UDP's takes 64 KiB.
     */
    @Test
    void outOfMemoryForABufferEndsOnlyThatClient() throws Exception {
        try (Program server = Program.of("echo/Echo.java").jvm("-XX:MaxDirectMemorySize=256k").start("0");
             Streams hogs = new Streams(server.port(), 12, false)) {
            server.awaitLog(" no memory for a buffer: ");
            Servers.ECHO.assertServes(server, seconds(10));
        }
    }

    /** Connects {@code count} clients that each send {@code bytes} and read them back, then wait. */
    static List<Socket> echoedOnce(int port, int count, int bytes) throws IOException {
        List<Socket> clients = new ArrayList<>();
        byte[] data = new byte[bytes];
        try {
            for (int i = 0; i < count; i++) {
                Socket s = Net.connect(port);
                clients.add(s);
                Streams.daemon(() -> s.getOutputStream().write(data));
                Net.readExactly(s, bytes);
            }
        } catch (RuntimeException e) {
            clients.forEach(Net::close); // a client the server dropped: the test fails, and leaves no socket open
            throw e;
        }
        return clients;
    }

    static long logged(Program server, String start) {
        return server.stderr().stream().filter(l -> l.startsWith(start)).count();
    }

    /** Clients that stream as fast as loopback allows: each writes 64 KiB chunks and reads what comes back. */
    static final class Streams implements AutoCloseable {
        final List<Socket> sockets = new ArrayList<>();
        final List<AtomicLong> received = new ArrayList<>();
        final AtomicLong sent = new AtomicLong();

        Streams(int port, int count) throws IOException {
            this(port, count, true);
        }

        /** {@code count} streaming clients; ones that do not {@code read} let the server's writes block. */
        Streams(int port, int count, boolean read) throws IOException {
            byte[] chunk = new byte[64 * 1024];
            Arrays.fill(chunk, (byte) 'a');
            for (int i = 0; i < count; i++) {
                Socket s = Net.connect(port);
                AtomicLong got = new AtomicLong();
                sockets.add(s);
                received.add(got);
                OutputStream out = s.getOutputStream();
                InputStream in = s.getInputStream();
                daemon(() -> {
                    while (true) {
                        out.write(chunk);
                        sent.addAndGet(chunk.length);
                    }
                });
                if (read) daemon(() -> {
                    byte[] buffer = new byte[64 * 1024];
                    for (int n; (n = in.read(buffer)) != -1; ) got.addAndGet(n);
                });
            }
        }

        interface Loop {
            void run() throws IOException;
        }

        static void daemon(Loop loop) {
            Thread t = new Thread(() -> {
                try {
                    loop.run();
                } catch (IOException e) {
                    // the test closed the socket: the stream ends
                }
            });
            t.setDaemon(true);
            t.start();
        }

        /**
         * Waits until the server takes no more bytes from clients that do not read: nothing sent for
         * two seconds, after a megabyte a client at least (the kernel's buffers hold several).
         */
        void awaitStuck() {
            long[] last = {-1, System.nanoTime()};
            Net.await("the server to stop taking the clients' bytes", seconds(120), () -> {
                long now = sent.get();
                if (now != last[0]) {
                    last[0] = now;
                    last[1] = System.nanoTime();
                }
                return now >= (long) sockets.size() << 20 && System.nanoTime() - last[1] > 2_000_000_000L;
            }, () -> "sent " + sent.get() + " bytes");
        }

        /** Every client has had a megabyte back. */
        boolean allFlowing() {
            return received.stream().allMatch(r -> r.get() > 1 << 20);
        }

        @Override
        public String toString() {
            return "bytes received per stream: " + received;
        }

        @Override
        public void close() {
            sockets.forEach(Net::close);
        }
    }
}
