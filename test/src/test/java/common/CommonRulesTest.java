package common;

import static harness.Net.seconds;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import harness.Net;
import harness.Program;
import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/** The rules every program keeps (README: "Every program follows the same rules"): help, bad arguments, a port in use. */
@Execution(ExecutionMode.CONCURRENT) // each test starts a program of its own
class CommonRulesTest {
    static List<Programs.Server> programs() {
        return Programs.ALL;
    }

    static String[] withPort(Programs.Server server, String port) {
        List<String> args = new java.util.ArrayList<>(server.beforePort());
        args.add(port);
        return args.toArray(String[]::new);
    }

    @ParameterizedTest
    @MethodSource("programs")
    void helpPrintsUsageToStdoutAndExits0(Programs.Server server) {
        String file = server.file();
        Program p = Program.of(file).run(Program.START, "--help");
        assertEquals(0, p.exitCode(seconds(1)), p.describe());
        List<String> out = p.stdout();
        // The same shape for all: usage line(s), one line saying what it is, the arguments
        // with their defaults, one example.
        assertTrue(out.get(0).startsWith("usage: java " + file), p.describe());
        assertEquals(1, out.stream().filter(l -> !l.startsWith(" ") && !l.startsWith("usage: ") && !l.startsWith("example: ")).count(), p.describe());
        assertTrue(out.stream().anyMatch(l -> l.startsWith("  ") && l.contains("(default ")), p.describe());
        assertTrue(out.get(out.size() - 1).startsWith("example: java " + file), p.describe());
        assertEquals(List.of(), p.stderr());
    }

    /**
     * Through the source launcher, as the README and each header say to run it (other tests
     * start the compiled form): the file compiles alone on this JDK, and serves.
     */
    @ParameterizedTest
    @EnumSource(Servers.class)
    void startedAsUsersStartItEachServerServes(Servers kind) {
        try (Program server = Program.source(kind.file).start(kind.args.toArray(String[]::new))) {
            kind.assertServes(server, seconds(10));
            assertNoStackTrace(server);
        }
    }

    @ParameterizedTest
    @MethodSource("programs")
    void badPortIsNamedThenUsageWithExit2(Programs.Server server) {
        for (String bad : List.of("http", "65536", "99999999999", "-1", "+80", "0x50", " 80")) {
            Program p = Program.of(server.file()).run(Program.START, withPort(server, bad));
            assertEquals(2, p.exitCode(seconds(1)), p.describe());
            assertEquals("error: bad port '" + bad + "' (want 0 to 65535)", p.stderr().get(0), p.describe());
            assertTrue(p.stderr().get(1).startsWith("usage: "), p.describe());
            assertNoStackTrace(p);
        }
    }

    /**
     * 65535 is the highest port, and a port like any other (65536 is refused above). The programs
     * take it one after another: daytime and echo bind its UDP port as well.
     */
    @Test
    void theHighestPort65535IsAccepted() {
        assumeTrue(free(65535), "port 65535 is in use here");
        for (Programs.Server server : Programs.ALL) {
            try (Program p = Program.of(server.file()).start(withPort(server, "65535"))) {
                assertEquals(65535, p.port(), p.describe());
            }
        }
    }

    /** Whether a TCP and a UDP socket can bind {@code port} on the wildcard address now. */
    static boolean free(int port) {
        try (ServerSocket tcp = new ServerSocket(); DatagramSocket udp = new DatagramSocket(null)) {
            tcp.setReuseAddress(true);
            tcp.bind(new InetSocketAddress(port));
            udp.bind(new InetSocketAddress(port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    @ParameterizedTest
    @MethodSource("programs")
    void unknownOptionIsNamedThenUsageWithExit2(Programs.Server server) {
        Program p = Program.of(server.file()).run(Program.START, "--frobnicate");
        assertEquals(2, p.exitCode(seconds(1)), p.describe());
        assertTrue(p.stderr().get(0).startsWith("error: ") && p.stderr().get(0).contains("--frobnicate"), p.describe());
        assertNoStackTrace(p);
    }

    /** An option these programs do not have is named as such, even when a value follows it. */
    @ParameterizedTest
    @MethodSource("programs")
    void anUnknownOptionWithAValueIsNamedAsAnOption(Programs.Server server) {
        Program p = Program.of(server.file()).run(Program.START, "--port", "5");
        assertEquals(2, p.exitCode(seconds(1)), p.describe());
        assertEquals("error: unknown option '--port'", p.stderr().get(0), p.describe());
        assertTrue(p.stderr().get(1).startsWith("usage: "), p.describe());
    }

    /** IPv6 peers are written as ss and nc write them, RFC 5952's short form in brackets: [::1]:51334. */
    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"DAYTIME", "ECHO", "UPPERCASE", "CHAT"})
    void anIpv6PeerIsLoggedInTheShortForm(Servers kind) throws IOException {
        try (Program server = kind.start(); Socket client = new Socket()) {
            try {
                client.connect(new InetSocketAddress("::1", server.port()), Net.READ_TIMEOUT_MS);
            } catch (IOException e) {
                assumeTrue(false, "no IPv6 loopback here: " + e.getMessage());
            }
            server.awaitLog("connection from [::1]:" + client.getLocalPort());
        }
    }

    @Test
    void anIpv6ListeningAddressIsWrittenInTheShortForm() {
        assumeTrue(ipv6Loopback(), "no IPv6 loopback here");
        try (Program keepalive = Program.of("keepalive/Keepalive.java").start("--serve", "::1", "0")) {
            assertEquals("listening on [::1]:" + keepalive.port(), keepalive.stdout().get(0));
        }
    }

    /**
     * RFC 5952 4.2.3: of two equally long runs of zero groups, the first is shortened to "::".
     * Only keepalive binds an address it is given; that address is put on loopback in a network
     * namespace of the test's own.
     */
    @Test
    void ofTwoEquallyLongRunsOfZerosTheFirstIsShortened() {
        assumeTrue(Net.isRoot() && Net.onPath("unshare") && Net.onPath("ip"), "needs root, unshare and ip for an address of its own");
        try (Program keepalive = Program.of("keepalive/Keepalive.java")
                .wrappedIn("unshare", "-n", "sh", "-c", "ip link set lo up && ip address add 2001:db8:0:0:1:0:0:1/128 dev lo nodad"
                        + " && exec \"$0\" \"$@\"")
                .start("--serve", "2001:db8:0:0:1:0:0:1", "0")) {
            assertEquals(List.of("listening on [2001:db8::1:0:0:1]:" + keepalive.port()), keepalive.stdout());
        }
    }

    static boolean ipv6Loopback() {
        try (ServerSocket probe = new ServerSocket()) {
            probe.bind(new InetSocketAddress("::1", 0));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    @ParameterizedTest
    @MethodSource("programs")
    void portInUseIsOneClearLineAndExit1(Programs.Server server) throws IOException {
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress(0));
            int port = taken.getLocalPort();
            Program p = Program.of(server.file()).run(Program.START, withPort(server, "" + port));
            assertEquals(1, p.exitCode(seconds(1)), p.describe());
            assertEquals(List.of("error: port " + port + " is already in use"), p.stderr());
            assertEquals(List.of(), p.stdout());
        }
    }

    static void assertNoStackTrace(Program p) {
        assertFalse(p.stderr().stream().anyMatch(l -> l.startsWith("\tat ") || l.contains("Exception")), p.describe());
    }
}
