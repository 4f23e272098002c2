package keepalive;

import static harness.Net.seconds;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import harness.HeldSockets;
import harness.Net;
import harness.Netns;
import harness.Program;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class KeepaliveTest {
    static final Pattern CONNECTION = Pattern.compile("connection from 127\\.0\\.0\\.1:(\\d+), keepalive .*");

    @Test
    void demoPrintsConnectedAcceptedAndTheSettingsInForce() {
        try (Program demo = Program.of("keepalive/Keepalive.java").start("0")) {
            demo.awaitStdout("connected"::equals, seconds(20));
            demo.awaitStdout("accepted"::equals, seconds(20));
            demo.awaitStdout("keepalive idle=1s interval=1s count=10"::equals, seconds(20));
        }
    }

    @Test
    void overridesAreHonouredAndReadBack() {
        try (Program demo = Program.of("keepalive/Keepalive.java").start("127.0.0.1", "0", "--idle", "7", "--interval", "3", "--count", "4")) {
            demo.awaitStdout("keepalive idle=7s interval=3s count=4"::equals, seconds(20));
        }
    }

    @Test
    void ctrlCAndSigtermEndTheDemoWithExit0() {
        for (String signal : List.of("INT", "TERM")) {
            try (Program demo = Program.of("keepalive/Keepalive.java").start("0")) {
                demo.awaitStdout("accepted"::equals, seconds(20));
                demo.signal(signal);
                assertEquals(0, demo.exitCode(seconds(10)), demo.describe());
            }
        }
    }

    /** Linux takes TCP_KEEPIDLE and TCP_KEEPINTVL from 1 to 32767 s, TCP_KEEPCNT from 1 to 127: checked with the arguments. */
    @Test
    void settingsOutsideTheKernelsRangesAreNamedWithTheRange() {
        for (String[] bad : List.of(new String[] {"--idle", "0", "32767"}, new String[] {"--idle", "40000", "32767"},
                new String[] {"--interval", "40000", "32767"}, new String[] {"--count", "128", "127"}, new String[] {"--count", "x", "127"})) {
            for (String mode : List.of("", "--serve")) {
                List<String> args = new java.util.ArrayList<>(List.of("0", bad[0], bad[1]));
                if (!mode.isEmpty()) args.add(mode);
                Program p = Program.of("keepalive/Keepalive.java").run(Program.START, args.toArray(String[]::new));
                assertEquals(2, p.exitCode(seconds(1)), p.describe());
                assertEquals("error: bad " + bad[0] + " '" + bad[1] + "' (want 1 to " + bad[2] + ")", p.stderr().get(0), p.describe());
                assertTrue(p.stderr().get(1).startsWith("usage: "), p.describe());
                assertEquals(List.of(), p.stdout(), "nothing may start: " + p.describe());
            }
        }
    }

    /** A number too large for an int is out of range like any other: one line and the usage, never a stack trace. */
    @Test
    void settingsTooLargeForAnIntAreNamedWithTheRange() {
        for (String[] bad : List.of(new String[] {"--count", "99999999999", "127"}, new String[] {"--idle", "2147483648", "32767"},
                new String[] {"--interval", "99999999999999999999", "32767"})) {
            Program p = Program.of("keepalive/Keepalive.java").run(Program.START, "0", bad[0], bad[1]);
            assertEquals(2, p.exitCode(seconds(1)), p.describe());
            assertEquals("error: bad " + bad[0] + " '" + bad[1] + "' (want 1 to " + bad[2] + ")", p.stderr().get(0), p.describe());
            assertTrue(p.stderr().get(1).startsWith("usage: "), p.describe());
            assertTrue(p.stderr().stream().noneMatch(l -> l.startsWith("\tat ") || l.contains("Exception")), p.describe());
        }
    }

    @Test
    void theKernelRunsAKeepaliveTimerOnTheAcceptedSocket() throws IOException {
        assumeTrue(Files.isReadable(Path.of("/proc/net/tcp")), "needs Linux's /proc/net/tcp");
        try (Program demo = Program.of("keepalive/Keepalive.java").start("0")) {
            demo.awaitStdout("accepted"::equals, seconds(20));
            // The accepted socket: the demo's connection on its listening port (its client's is on another).
            // 2 is the keepalive timer; a socket without SO_KEEPALIVE runs none (0) while idle.
            List<HeldSockets.Connection> held = HeldSockets.on(demo.pid(), demo.port());
            assertEquals(List.of(2), held.stream().filter(c -> c.state().equals("ESTAB")).map(HeldSockets.Connection::timer).toList(),
                    "timers on port " + demo.port() + ": " + held);
        }
    }

    // ---- a dead peer, for real: a network namespace of our own, and nftables dropping packets ----

    /** Keepalive in a fresh network namespace with only loopback, up. */
    static Program startIsolated(String... args) {
        return Netns.isolated(Program.of("keepalive/Keepalive.java")).start(args);
    }

    /** Drops every packet to or from a local port, inside the program's namespace. */
    static void dropPort(Program p, int port) throws Exception {
        Netns.run(p, "nft", "add table inet cut; "
                + "add chain inet cut incoming { type filter hook input priority 0; }; "
                + "add rule inet cut incoming tcp sport " + port + " drop; "
                + "add rule inet cut incoming tcp dport " + port + " drop");
    }

    @Test
    void aDeadPeerIsReportedWithinIdlePlusIntervalTimesCount() throws Exception {
        Netns.assumeAvailable();
        try (Program demo = startIsolated("127.0.0.1", "0", "--idle", "2", "--interval", "1", "--count", "3")) {
            demo.awaitStdout("accepted"::equals, seconds(20));
            dropPort(demo, demo.port());
            long dropped = System.nanoTime();
            String line = demo.awaitStdout(l -> l.startsWith("peer dead after"), seconds(30));
            Duration took = Duration.ofNanos(System.nanoTime() - dropped);
            assertEquals(3, demo.exitCode(seconds(10)), demo.describe());
            assertTrue(line.matches("peer dead after \\d+\\.\\d s \\(Connection timed out\\)"), line);
            // idle 2 + interval 1 x count 3 = 5 s, give or take 1.5 s
            assertTrue(took.toMillis() >= 3500 && took.toMillis() <= 6500, "reported " + took + " after the drop: " + line);
        }
    }

    @Test
    void serveReportsOnlyThePeerThatDied() throws Exception {
        Netns.assumeAvailable();
        try (Program server = startIsolated("--serve", "127.0.0.1", "0", "--idle", "2", "--interval", "1", "--count", "3")) {
            String connect = "exec 3<>/dev/tcp/127.0.0.1/" + server.port() + " && exec cat <&3";
            Process doomed = Netns.start(server, "bash", "-c", connect);
            Process alive = null;
            try {
                int doomedPort = clientPort(server.awaitStderr(l -> CONNECTION.matcher(l).matches(), seconds(20)));
                alive = Netns.start(server, "bash", "-c", connect);
                int alivePort = clientPort(server.awaitStderr(l -> CONNECTION.matcher(l).matches() && clientPort(l) != doomedPort, seconds(20)));
                dropPort(server, doomedPort);
                server.awaitStderr(l -> l.startsWith("127.0.0.1:" + doomedPort + " peer dead after"), seconds(30));

                assertTrue(server.stderr().stream().noneMatch(l -> l.startsWith("127.0.0.1:" + alivePort + " ")), server.describe());
                assertTrue(alive.isAlive(), "the live client's connection ended");
                alive.destroy(); // now it leaves, and the server says so
                server.awaitStderr(l -> l.equals("127.0.0.1:" + alivePort + " closed"), seconds(20));
            } finally {
                doomed.destroyForcibly();
                if (alive != null) alive.destroyForcibly();
            }
        }
    }

    static int clientPort(String logLine) {
        Matcher m = CONNECTION.matcher(logLine);
        if (!m.matches()) throw new AssertionError(logLine);
        return Integer.parseInt(m.group(1));
    }
}
