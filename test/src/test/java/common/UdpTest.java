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
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
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

    /**
     * The collection's own UDP services live above 1024: a datagram forged from echo's port to
     * daytime's would set the two answering each other for good. Neither answers the other's
     * default port (15000, 8013) nor its own.
     */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"DAYTIME", "ECHO"})
    void neverAnswersADatagramFromEchoOrDaytimesPort(Servers kind) throws IOException {
        int other = kind == Servers.ECHO ? 8013 : 15000;
        try (Program server = kind.start(); DatagramSocket from = bindOrSkip(other); DatagramSocket ordinary = Net.udp(0)) {
            Net.send(from, server.port(), PING);
            Net.send(ordinary, server.port(), PING);
            Net.receive(ordinary); // one thread answers in order: the first datagram was handled
            from.setSoTimeout(200);
            assertThrows(SocketTimeoutException.class, () -> Net.receive(from), "a datagram from port " + other + " was answered");
            server.awaitLog("ignored a datagram from 127.0.0.1:" + other + ": source port is an echo or daytime port");
        }
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
            server.awaitLog("ignored a datagram from 127.0.0.1:" + port + ": source port is an echo or daytime port");
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
        long deadline = System.nanoTime() + within.toNanos();
        try (DatagramSocket udp = Net.udp(0)) {
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
}
