package common;

import static harness.Net.seconds;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import harness.Program;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The rules of SPEC.md that every program keeps: help, bad arguments, a port in use. */
class CommonRulesTest {
    static List<String> programs() {
        return Programs.ALL;
    }

    @ParameterizedTest
    @MethodSource("programs")
    void helpPrintsUsageToStdoutAndExits0(String file) {
        Program p = Program.of(file).run(Program.START, "--help");
        assertEquals(0, p.exitCode(seconds(1)), p.describe());
        List<String> out = p.stdout();
        assertTrue(out.get(0).startsWith("usage: java " + file), p.describe());
        assertTrue(out.stream().anyMatch(l -> l.startsWith("example: ")), p.describe());
        assertEquals(List.of(), p.stderr());
    }

    @ParameterizedTest
    @MethodSource("programs")
    void badPortIsNamedThenUsageWithExit2(String file) {
        for (String bad : List.of("http", "65536", "-1")) {
            Program p = Program.of(file).run(Program.START, bad);
            assertEquals(2, p.exitCode(seconds(1)), p.describe());
            assertEquals("error: bad port '" + bad + "' (want 0 to 65535)", p.stderr().get(0), p.describe());
            assertTrue(p.stderr().get(1).startsWith("usage: "), p.describe());
            assertNoStackTrace(p);
        }
    }

    @ParameterizedTest
    @MethodSource("programs")
    void unknownOptionIsNamedThenUsageWithExit2(String file) {
        Program p = Program.of(file).run(Program.START, "--frobnicate");
        assertEquals(2, p.exitCode(seconds(1)), p.describe());
        assertTrue(p.stderr().get(0).startsWith("error: ") && p.stderr().get(0).contains("--frobnicate"), p.describe());
        assertNoStackTrace(p);
    }

    @ParameterizedTest
    @MethodSource("programs")
    void portInUseIsOneClearLineAndExit1(String file) throws IOException {
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress(0));
            int port = taken.getLocalPort();
            Program p = Program.of(file).run(Program.START, "" + port);
            assertEquals(1, p.exitCode(seconds(1)), p.describe());
            assertEquals(List.of("error: port " + port + " is already in use"), p.stderr());
            assertEquals(List.of(), p.stdout());
        }
    }

    static void assertNoStackTrace(Program p) {
        assertFalse(p.stderr().stream().anyMatch(l -> l.startsWith("\tat ") || l.contains("Exception")), p.describe());
    }
}
