package common;

import static harness.Net.seconds;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import harness.Net;
import harness.Netns;
import harness.Program;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Echo and Daytime over UDP, beside TCP on the same port number (RFC 862, RFC 867). */
class UdpTest {
    static final byte[] PING = "ping\n".getBytes(StandardCharsets.US_ASCII);

    /**
     * A datagram from a port below 1024 may come from another service (echo, chargen): an
     * answer could start an endless loop or reflect an attack (CERT CA-1996-01). Like
     * FreeBSD's inetd, the servers ignore it, and say so at most once a second.
     */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"DAYTIME", "ECHO"})
    void neverAnswersADatagramFromAPortBelow1024(Servers kind) throws IOException {
        assumeTrue(Net.isRoot(), "binding source port 997 needs root");
        try (Program server = kind.start(); DatagramSocket privileged = Net.udp(997); DatagramSocket ordinary = Net.udp(0)) {
            long start = System.nanoTime();
            for (int i = 0; i < 20; i++) Net.send(privileged, server.port(), PING);
            // One thread answers datagrams in order: once this one is answered, the 20 were handled.
            Net.send(ordinary, server.port(), PING);
            Net.receive(ordinary);
            privileged.setSoTimeout(200); // an answer would be queued here already: loopback delivers at once
            assertThrows(SocketTimeoutException.class, () -> Net.receive(privileged), "a datagram from port 997 was answered");
            server.awaitLog("ignored a datagram from 127.0.0.1:997: source port below 1024");
            long logged = server.stderr().stream().filter(l -> l.startsWith("ignored a datagram")).count();
            long seconds = (System.nanoTime() - start) / 1_000_000_000L;
            assertTrue(logged <= 1 + seconds, logged + " log lines in " + seconds + " s\n" + server.describe());
        }
    }

    /** Only ports below 1024 are refused (README): 1024 is the first that any user's program may bind. */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"DAYTIME", "ECHO"})
    void answersADatagramFromPort1024(Servers kind) throws IOException {
        try (Program server = kind.start(); DatagramSocket from1024 = bindOrSkip(1024)) {
            assertAnswers(from1024, server.port(), kind == Servers.ECHO ? "ping\n" : "\r\n", seconds(10), server::describe);
        }
    }

    /**
     * Two services on ports no list can know (both started on any port) answer each other for
     * good once a datagram is forged from one to the other. Each source has a budget of answers,
     * so the loop runs out within a few datagrams: the two use under 0.3 s of CPU in the next
     * 3 s (a loop takes all of a core, 2.5 s), and say what they dropped at most once a second.
     * Forged without root: echo is stopped (SIGSTOP) while ten datagrams from a port of the
     * test's wait in its socket; then daytime starts on that port, and echo goes on.
     */
    @Test
    void aDatagramForgedFromDaytimeToEchoOnAnyPortsDiesDown() throws Exception {
        try (Program echo = Servers.ECHO.start(); DatagramSocket forger = udpPortFreeForTcp()) {
            int port = forger.getLocalPort();
            echo.signal("STOP");
            Net.await("echo to stop", seconds(10), () -> stopped(echo.javaPid()), echo::describe);
            for (int i = 0; i < 10; i++) Net.send(forger, echo.port(), PING);
            forger.close();                                                // for daytime to take its port
            try (Program daytime = Program.of(Servers.DAYTIME.file).start(Integer.toString(port))) {
                Duration before = Net.cpuTime(echo.javaPid()).plus(Net.cpuTime(daytime.javaPid()));
                long start = System.nanoTime();
                echo.signal("CONT");
                Thread.sleep(3000); // the measurement window
                Duration used = Net.cpuTime(echo.javaPid()).plus(Net.cpuTime(daytime.javaPid())).minus(before);
                String both = echo.describe() + "\n" + daytime.describe();
                assertTrue(used.toMillis() < 300, "echo and daytime used " + used + " of CPU in 3 s\n" + both);
                long seconds = (System.nanoTime() - start) / 1_000_000_000L;
                long echoLines = logged(echo, "ignored a datagram from "), daytimeLines = logged(daytime, "ignored a datagram from ");
                assertTrue(echoLines + daytimeLines > 0, "neither said it dropped the loop's datagrams\n" + both);
                assertTrue(echoLines <= 1 + seconds && daytimeLines <= 1 + seconds, "too many log lines in " + seconds + " s\n" + both);
            }
        }
    }

    /** The budget bounds loops, not people: 16 datagrams (twice the burst), one every 0.3 s, are all answered. */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"DAYTIME", "ECHO"})
    void aClientSendingAtAHumanPaceGetsEveryAnswer(Servers kind) throws Exception {
        try (Program server = kind.start(); DatagramSocket udp = Net.udp(0)) {
            udp.setSoTimeout(5000); // loopback answers in a millisecond; a refused datagram is never answered
            for (int i = 0; i < 16; i++) {
                Net.send(udp, server.port(), PING);
                try {
                    Net.receive(udp);
                } catch (SocketTimeoutException e) {
                    throw new AssertionError("datagram " + (i + 1) + " was not answered\n" + server.describe(), e);
                }
                Thread.sleep(300); // the scenario: the client's pace, not synchronisation
            }
        }
    }

    /**
     * Each source is answered from a bucket of 8 tokens, one back every quarter second: a burst of
     * 40 datagrams from one port gets 8 answers, and one more for each quarter second that handling
     * the burst took (on a loaded machine it may take that long).
     */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"DAYTIME", "ECHO"})
    void aBurstFromOneSourceGetsEightAnswers(Servers kind) throws Exception {
        try (Program server = kind.start(); DatagramSocket udp = Net.udp(0)) {
            assertBurstAnswered(server, udp);
        }
    }

    /**
     * Tokens are not saved up past the bucket: a source that was quiet for 3 s after one datagram
     * (12 tokens' time) still gets no more than 8 answers to its next burst of 40.
     */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"DAYTIME", "ECHO"})
    void aSourceQuietForSecondsSavesUpNoMoreThanEightAnswers(Servers kind) throws Exception {
        try (Program server = kind.start(); DatagramSocket udp = Net.udp(0)) {
            Net.send(udp, server.port(), PING);
            Net.receive(udp);
            Thread.sleep(3000); // the scenario: a source that is quiet for a while, not synchronisation
            assertBurstAnswered(server, udp);
        }
    }

    /** Sends 40 datagrams from {@code udp} at once: 8 are answered, and one more for each 0.25 s the server took over them. */
    static void assertBurstAnswered(Program server, DatagramSocket udp) throws IOException {
        long start = System.nanoTime();
        for (int i = 0; i < 40; i++) Net.send(udp, server.port(), PING);
        try (DatagramSocket marker = Net.udp(0)) {                     // one thread answers datagrams in order: once
            Net.send(marker, server.port(), PING);                     // this one is answered, the 40 were handled
            Net.receive(marker);
        }
        long quarters = (System.nanoTime() - start) / 250_000_000L;
        udp.setSoTimeout(200); // the answers are queued here already: loopback delivers at once
        int answers = 0;
        try {
            while (true) {
                Net.receive(udp);
                answers++;
            }
        } catch (SocketTimeoutException e) {
            // no more answers
        }
        assertTrue(answers >= 8 && answers <= 8 + quarters, answers + " answers to a burst of 40 handled within "
                + (quarters + 1) * 250 + " ms\n" + server.describe());
    }

    static boolean stopped(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return stat.charAt(stat.lastIndexOf(')') + 2) == 'T';
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static long logged(Program server, String start) {
        return server.stderr().stream().filter(l -> l.startsWith(start)).count();
    }

    static DatagramSocket bindOrSkip(int port) {
        try {
            DatagramSocket socket = new DatagramSocket(new InetSocketAddress("127.0.0.1", port));
            socket.setSoTimeout(Net.READ_TIMEOUT_MS);
            return socket;
        } catch (IOException e) {
            assumeTrue(false, "UDP port " + port + " is taken on this machine: " + e.getMessage());
            return null;
        }
    }

    /**
     * A datagram whose source is forged as the server's own address and port: answered, the answer
     * goes to the server itself, which answers again, for good. nftables in a network namespace of
     * the test's own rewrites the source port of every datagram to the server's port (answers
     * included, so an answer would loop), and counts them.
     */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"DAYTIME", "ECHO"})
    void neverAnswersADatagramForgedFromItsOwnAddressAndPort(Servers kind) throws Exception {
        Netns.assumeAvailable();
        assumeTrue(Net.onPath("bash"), "needs bash, to send a datagram inside the namespace");
        try (Program server = Netns.isolated(Program.of(kind.file)).start(kind.args.toArray(String[]::new))) {
            int port = server.port();
            Netns.run(server, "nft", "add table ip forge; add chain ip forge out { type filter hook output priority -300; }; "
                    + "add rule ip forge out udp dport " + port + " counter notrack udp sport set " + port);
            Netns.run(server, "bash", "-c", "echo forged > /dev/udp/127.0.0.1/" + port);
            server.awaitLog("ignored a datagram from 127.0.0.1:" + port + ": source port is the server's own");
            String rules = Netns.run(server, "nft", "list table ip forge");
            assertTrue(rules.contains("counter packets 1 "), "the datagram was answered:\n" + rules + server.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"DAYTIME", "ECHO"})
    void aUdpPortInUseSaysSoAndExits1(Servers kind) throws IOException {
        try (DatagramSocket taken = udpPortFreeForTcp()) {
            int port = taken.getLocalPort();
            Program p = Program.of(kind.file).run(Program.START, Integer.toString(port));
            assertEquals(1, p.exitCode(seconds(1)), p.describe());
            assertEquals(List.of("error: UDP port " + port + " is already in use"), p.stderr(), p.describe());
        }
    }

    /**
     * A UDP socket on the wildcard address (as the servers bind it) whose port number TCP can still
     * bind. Another test can take a number between freePort() and a bind: so UDP is bound first and
     * held, which keeps every other freePort() off that number, and then TCP is tried; a number
     * taken on either side meanwhile is given up for another.
     */
    static DatagramSocket udpPortFreeForTcp() throws IOException {
        for (int tries = 1; ; tries++) {
            DatagramSocket udp = new DatagramSocket(null);
            try (ServerSocket tcp = new ServerSocket()) {
                udp.bind(new InetSocketAddress(Net.freePort()));
                tcp.setReuseAddress(true);                                 // as the servers bind it
                tcp.bind(new InetSocketAddress(udp.getLocalPort()));
                return udp;
            } catch (IOException e) {
                udp.close();
                if (tries == 100) throw e;
            }
        }
    }

    /** UDP has a thread of its own: a flood of datagrams does not keep TCP clients waiting. */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"DAYTIME", "ECHO"})
    void tcpClientsAreServedDuringAUdpFlood(Servers kind) throws Exception {
        try (Program server = kind.start(); DatagramSocket flood = Net.udp(0)) {
            AtomicBoolean flooding = new AtomicBoolean(true);
            Thread sender = new Thread(() -> {
                byte[] datagram = new byte[1024];
                while (flooding.get()) Net.send(flood, server.port(), datagram);
            });
            sender.start();
            try {
                for (int i = 0; i < 50; i++) kind.assertServes(server, seconds(5));
            } finally {
                flooding.set(false);
                sender.join();
            }
            assertAnswers(server.port(), kind == Servers.ECHO ? "ping\n" : "\r\n"); // and UDP still answers
        }
    }

    /** Sends PING until an answer ending in {@code end} comes: datagrams may be dropped, so a client retries. */
    static void assertAnswers(int port, String end) throws IOException {
        assertAnswers(port, end, seconds(10), () -> "");
    }

    /** As above, for a server that may still be starting (inetd starts it on the first datagram): retries {@code within}. */
    static void assertAnswers(int port, String end, Duration within, Supplier<String> state) throws IOException {
        try (DatagramSocket udp = Net.udp(0)) {
            assertAnswers(udp, port, end, within, state);
        }
    }

    /** As above, from {@code udp}: twice a second at most, well within a source's budget. */
    static void assertAnswers(DatagramSocket udp, int port, String end, Duration within, Supplier<String> state) throws IOException {
        long deadline = System.nanoTime() + within.toNanos();
        udp.setSoTimeout(500);
        while (true) {
            Net.send(udp, port, PING);
            try {
                String answer = new String(Net.receive(udp), StandardCharsets.US_ASCII);
                assertTrue(answer.endsWith(end), answer);
                return;
            } catch (SocketTimeoutException e) {
                if (System.nanoTime() > deadline) throw new AssertionError("no answer within " + within + "; " + state.get(), e);
            }
        }
    }
}
