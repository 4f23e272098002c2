package common;

import static harness.Net.seconds;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import harness.LineClient;
import harness.Net;
import harness.Program;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Every server survives exhaustion, garbage, churn, slow clients and signals (README: "Every program follows the same rules"). */
@Execution(ExecutionMode.CONCURRENT) // each test starts servers of its own
class HardeningTest {
    /**
     * Descriptors the JDK may open once, on first need, and keep (on JDK 21+ the pollers
     * behind virtual threads). A leak of one socket per session would be thousands.
     */
    static final int JDK_FILES = 10;

    @ParameterizedTest
    @EnumSource(Servers.class)
    void outOfFileDescriptorsTheServerBacksOffAndRecovers(Servers kind) throws Exception {
        assumeTrue(Net.onPath("prlimit"), "needs prlimit (util-linux)");
        try (Program server = Program.of(kind.file).wrappedIn("prlimit", "--nofile=64:64").start(kind.args.toArray(String[]::new))) {
            if (kind == Servers.DAYTIME) { // it keeps no client's descriptor: leave it none to spare
                run("prlimit", "--pid", Long.toString(server.javaPid()), "--nofile=" + lowestFreeDescriptor(server.javaPid()) + ":");
            }
            List<Socket> held = Net.connectMany(server.port(), 200);
            try {
                Net.await("accept() to fail", seconds(20), () -> acceptFailures(server) > 0, server::describe);
                long logsBefore = acceptFailures(server);
                Duration cpuBefore = Net.cpuTime(server.javaPid());
                Thread.sleep(3000); // the observation window
                Duration cpu = Net.cpuTime(server.javaPid()).minus(cpuBefore);
                long logs = acceptFailures(server) - logsBefore;
                assertTrue(cpu.toMillis() < 900, kind + " used " + cpu + " of CPU in 3 s while out of descriptors");
                assertTrue(logs <= 4, kind + " logged " + logs + " accept failures in 3 s\n" + server.describe());
            } finally {
                held.forEach(Net::close);
            }
            if (kind == Servers.DAYTIME) run("prlimit", "--pid", Long.toString(server.javaPid()), "--nofile=64:");
            kind.assertServes(server, seconds(2));
        }
    }

    /**
     * Out of descriptors for as long as 200 clients are held, the failure is logged again about once
     * a second, not only when it starts: at most once a second (above), and no less while it lasts.
     */
    @ParameterizedTest
    @EnumSource(Servers.class)
    void outOfFileDescriptorsTheFailureIsLoggedAgainEachSecondWhileItLasts(Servers kind) throws Exception {
        assumeTrue(Net.onPath("prlimit"), "needs prlimit (util-linux)");
        try (Program server = Program.of(kind.file).wrappedIn("prlimit", "--nofile=64:64").start(kind.args.toArray(String[]::new))) {
            if (kind == Servers.DAYTIME) { // it keeps no client's descriptor: leave it none to spare
                run("prlimit", "--pid", Long.toString(server.javaPid()), "--nofile=" + lowestFreeDescriptor(server.javaPid()) + ":");
            }
            List<Socket> held = Net.connectMany(server.port(), 200);
            try {
                Net.await("accept() to fail", seconds(20), () -> acceptFailures(server) > 0, server::describe);
                Net.await("the failure to be logged twice more", seconds(10), () -> acceptFailures(server) >= 3, server::describe);
            } finally {
                held.forEach(Net::close);
            }
        }
    }

    /** The number the process's next descriptor would get: RLIMIT_NOFILE bounds numbers, not a count. */
    static int lowestFreeDescriptor(long pid) throws IOException {
        try (var fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            Set<Integer> open = fds.map(p -> Integer.parseInt(p.getFileName().toString())).collect(Collectors.toSet());
            int free = 0;
            while (open.contains(free)) free++;
            return free;
        }
    }

    static void run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes());
        assertEquals(0, process.waitFor(), String.join(" ", command) + ": " + output);
    }

    static long acceptFailures(Program server) {
        return server.stderr().stream().filter(l -> l.startsWith("accept failed")).count();
    }

    @ParameterizedTest
    @EnumSource(Servers.class)
    void randomBytesAndResetsLeaveTheServerWhole(Servers kind) throws Exception {
        try (Program server = kind.start()) {
            randomSessions(server.port(), 50, 1); // warm up: thread pools and carriers reach their idle size
            Net.await("the warm-up clients to leave", seconds(20), () -> Net.openFiles(server.javaPid()) < 200);
            List<String> threads = Net.programThreads(server.javaPid());
            long files = Net.openFiles(server.javaPid());
            randomSessions(server.port(), 2000, 2);
            kind.assertServes(server, seconds(10));
            Net.await("threads back to " + threads, seconds(30), () -> Net.programThreads(server.javaPid()).size() <= threads.size(),
                    () -> "threads now " + Net.programThreads(server.javaPid()));
            Net.await("open files back near " + files, seconds(30), () -> Net.openFiles(server.javaPid()) <= files + JDK_FILES);
            assertTrue(server.process().isAlive(), server.describe());
        }
    }

    /** Sessions of random bytes (up to 64 KiB), 30% of them ended by a reset, 8 at a time. */
    static void randomSessions(int port, int count, long seed) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                SplittableRandom random = new SplittableRandom(seed * 100_000 + i);
                done.add(pool.submit(() -> {
                    byte[] garbage = new byte[random.nextInt(64 * 1024 + 1)];
                    random.nextBytes(garbage);
                    boolean reset = random.nextInt(100) < 30;
                    try (Socket s = Net.connect(port)) {
                        s.getOutputStream().write(garbage);
                        if (reset) {
                            Net.reset(s);
                        } else {
                            s.shutdownOutput();
                            s.getInputStream().transferTo(OutputStream.nullOutputStream());
                        }
                    } catch (IOException e) {
                        // a server may answer garbage by closing (daytime does at once): fine
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) f.get();
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Connect-then-close as fast as possible, from 32 threads: the clients do not wait for
     * accept(), so the connections queue up, and the servers' long accept queue keeps them.
     */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"DAYTIME", "ECHO", "UPPERCASE", "KEEPALIVE"})
    void connectCloseChurnLeavesTheServerWhole(Servers kind) throws Exception {
        try (Program server = kind.start()) {
            long files = Net.openFiles(server.javaPid());
            churn(server.port(), 10_000 / 32 * 32);
            Net.await("open files back near " + files, seconds(30), () -> Net.openFiles(server.javaPid()) <= files + JDK_FILES);
            kind.assertServes(server, seconds(10));
        }
    }

    @Test
    void chatBroadcastsEveryJoinAndLeaveThroughTenThousandCycles() throws Exception {
        try (Program server = Servers.CHAT.start()) {
            List<LineClient> listeners = new ArrayList<>();
            for (int i = 0; i < 10; i++) listeners.add(new LineClient(server.port()));
            try {
                for (LineClient l : listeners) l.readLine(); // greeting
                int cycles = 10_000 / 32 * 32;
                AtomicBoolean churning = new AtomicBoolean(true);
                List<Future<int[]>> counts = new ArrayList<>();
                ExecutorService readers = Executors.newFixedThreadPool(listeners.size());
                for (LineClient l : listeners) {
                    counts.add(readers.submit(() -> {
                        int joins = 0, leaves = 0;
                        while (joins < cycles || leaves < cycles) {
                            String line = l.readLine();
                            if (line.matches("user \\d+ joined the chat room")) joins++;
                            else if (line.matches("user \\d+ disconnected")) leaves++;
                            if (!churning.get() && joins >= cycles && leaves >= cycles) break;
                        }
                        return new int[] {joins, leaves};
                    }));
                }
                churn(server.port(), cycles);
                churning.set(false);
                for (Future<int[]> f : counts) {
                    int[] c = f.get();
                    // every churn client joined and left; listeners that joined after a listener add to its joins
                    assertTrue(c[0] >= cycles && c[1] >= cycles, "joins " + c[0] + ", leaves " + c[1]);
                }
                readers.shutdownNow();
                Servers.CHAT.assertServes(server, seconds(10));
            } finally {
                listeners.forEach(LineClient::close);
            }
        }
    }

    /** Connect-then-close, from 32 threads. */
    static void churn(int port, int cycles) throws Exception {
        int threads = 32;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                done.add(pool.submit(() -> {
                    for (int i = 0; i < cycles / threads; i++) Net.connect(port).close();
                    return null;
                }));
            }
            for (Future<?> f : done) f.get();
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void chatDripFeedersBeyondTheRoomSizeDoNotLockOutOthers() throws Exception {
        try (Program server = Program.of("chat/Chat.java").start("0", "20")) {
            List<Socket> drips = new ArrayList<>();
            try {
                for (int i = 0; i < 19; i++) drips.add(Net.connect(server.port()));
                try (LineClient member = new LineClient(server.port())) { // the 20th and last place
                    for (int i = 0; i < 50; i++) drips.add(Net.connect(server.port()));
                    drip(drips, 3);
                    try (LineClient late = new LineClient(server.port())) {
                        late.socket.setSoTimeout(2000);
                        assertEquals("room is full", late.readLine()); // a clear answer, at once
                    }
                    Net.write(drips.get(0), "\nfrom a dripper\n");
                    member.skipUntil("user 1: from a dripper");
                }
            } finally {
                drips.forEach(Net::close);
            }
        }
    }

    @Test
    void aThousandEchoDripFeedersDoNotLockOutOthers() throws Exception {
        try (Program server = Servers.ECHO.start()) {
            List<Socket> drips = new ArrayList<>();
            try {
                for (int i = 0; i < 1000; i++) drips.add(Net.connect(server.port()));
                drip(drips, 3);
                Servers.ECHO.assertServes(server, seconds(2));
            } finally {
                drips.forEach(Net::close);
            }
        }
    }

    /** Each client sends one byte a second, for {@code seconds} seconds. */
    static void drip(List<Socket> clients, int seconds) throws Exception {
        for (int s = 0; s < seconds; s++) {
            for (Socket c : clients) {
                try {
                    c.getOutputStream().write('.');
                } catch (IOException e) {
                    // turned away by a full room and closed: a drip-feeder does not care
                }
            }
            Thread.sleep(1000); // the drip rate is the scenario
        }
    }

    /**
     * A stderr nobody reads (a pipe into a pager left open, a stalled collector) fills, and then
     * every write to it blocks: logging must never hold up a client. Lines that do not fit the
     * log's queue are counted, and the count is reported once stderr is read again.
     */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"DAYTIME", "ECHO", "UPPERCASE", "CHAT"}) // keepalive answers only in its log
    void aStderrThatNobodyReadsHoldsUpNoClient(Servers kind) throws Exception {
        try (Program server = Program.of(kind.file).stderrUnread().start(kind.args.toArray(String[]::new))) {
            // A log line or two per client: the 64 KiB pipe fills, then the log's queue of 10,000 lines.
            churn(server.port(), (kind == Servers.DAYTIME ? 16_000 : 8_000) / 32 * 32);
            kind.assertServes(server, seconds(10));
            server.readStderr();
            server.awaitStderr(l -> l.matches("\\(\\d+ log lines lost: stderr was not being read\\)"), seconds(30));
        }
    }

    /**
     * The count of lines lost while stderr was not read is one line, written once when it is read
     * again: the lines logged after it come alone.
     */
    @Test
    void theLostLogLinesAreReportedOnceNotBeforeEveryLaterLine() throws Exception {
        try (Program server = Program.of("echo/Echo.java").stderrUnread().start("0")) {
            churn(server.port(), 8_000 / 32 * 32); // two log lines per client: the pipe fills, then the queue
            Servers.ECHO.assertServes(server, seconds(10)); // accepted after every churned client
            server.readStderr();
            server.awaitStderr(l -> l.matches("\\(\\d+ log lines lost: stderr was not being read\\)"), seconds(30));
            for (int i = 0; i < 3; i++) {
                try (Socket s = Net.connect(server.port())) {
                    int port = s.getLocalPort();
                    s.shutdownOutput();
                    Net.readAll(s);
                    server.awaitLog("127.0.0.1:" + port + " closed (0 bytes)");
                }
            }
            assertEquals(1, server.stderr().stream().filter(l -> l.endsWith(" log lines lost: stderr was not being read)")).count(),
                    server.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Servers.class)
    void sigtermAndSigintEndTheServerPromptlyAndFreeThePort(Servers kind) {
        for (String signal : List.of("TERM", "INT")) {
            int port;
            try (Program server = kind.start(); Socket client = Net.connect(server.port())) {
                port = server.port();
                kind.assertServes(server, seconds(10));
                server.signal(signal);
                // 128 + the signal's number, as for any program a signal ends (the keepalive demo's 0 is tested with it)
                assertEquals(signal.equals("TERM") ? 143 : 130, server.exitCode(seconds(2)), signal + "\n" + server.describe());
                assertFalse(server.stderr().stream().anyMatch(l -> l.contains("Exception") || l.startsWith("\tat ")), server.describe());
            } catch (IOException e) {
                throw new AssertionError(e);
            }
            try (Program again = Program.of(kind.file).start(kind.argsWithPort(port))) {
                assertEquals(port, again.port());
            }
        }
    }

    /**
     * A program run as another user needs nothing from the checkout, which may be readable by its
     * owner alone (a clone in /root, mode 700): neither its classes nor its working directory are
     * there, or the JVM, as nobody, could not even find its current directory.
     */
    @Test
    void aProgramForAnyUserNeedsNothingFromTheCheckout() throws IOException {
        try (Program p = Program.forAnyUser(Servers.ECHO.file).start(Servers.ECHO.args.toArray(String[]::new))) {
            Path cwd = Files.readSymbolicLink(Path.of("/proc/" + p.javaPid() + "/cwd"));
            String command = Files.readString(Path.of("/proc/" + p.javaPid() + "/cmdline")).replace('\0', ' ');
            assertFalse(cwd.startsWith(Program.root()), "started in " + cwd + ", inside the checkout " + Program.root());
            assertFalse(command.contains(Program.root().toString()), "the checkout is in its command: " + command);
        }
    }

    @ParameterizedTest
    @EnumSource(Servers.class)
    void aPrivilegedPortWithoutRootSaysSoAndExits1(Servers kind) {
        assumeTrue(Net.isRoot() && Net.onPath("setpriv"), "needs root and setpriv to drop to nobody");
        Program p = Program.forAnyUser(kind.file).wrappedIn("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")
                .run(Program.START, kind.argsWithPort(80));
        assertEquals(1, p.exitCode(seconds(1)), p.describe());
        assertEquals(1, p.stderr().size(), p.describe());
        assertTrue(p.stderr().get(0).startsWith("error: port 80 needs root; try the default port "), p.describe());
    }
}
