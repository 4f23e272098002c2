package bench;

import static harness.Net.seconds;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import harness.Program;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The load generator runs every workload against the real servers, and catches a wrong answer. Speeds are not judged. */
class BenchTest {
    @Test
    void everyWorkloadReportsItsFiguresAtSmokeScale() {
        Program bench = Program.of("bench/Bench.java").run(seconds(300), "--smoke", "loopback", "echo", "daytime", "uppercase", "chat");
        assertEquals(0, bench.exitCode(seconds(1)), bench.describe());
        List<String> out = bench.stdout();
        assertTrue(out.contains("| workload | measure | median | of loopback | runs |"), bench.describe());
        for (String row : List.of(
                "| loopback | one-way throughput, 1 connection | ",
                "| echo | bulk, 1 connection | ",
                "| echo | bulk, 8 connections | ",
                "| echo | 64-byte round trip, p99 | ",
                "| echo | memory per idle connection (50 idle) | ",
                "| daytime | connections/s, 4 client threads | ",
                "| uppercase | bulk ASCII, 1 connection | ",
                "| chat | fan-out deliveries/s, 100 clients | ",
                "| chat | delivery latency p99, 50 clients | ")) {
            assertTrue(out.stream().anyMatch(l -> l.startsWith(row) && l.matches(".*\\| [\\d,.]+ \\S+ \\|.*")), "no figure for " + row + "\n" + bench.describe());
        }
    }

    @Test
    void theEchoWorkloadDetectsAServerThatChangesBytes() {
        try (Program uppercase = Program.of("uppercase/Uppercase.java").start("0")) {
            Program bench = Program.of("bench/Bench.java").run(seconds(120), "--smoke", "--port", "" + uppercase.port(), "echo");
            assertEquals(1, bench.exitCode(seconds(1)), bench.describe());
            assertTrue(bench.stderr().stream().anyMatch(l -> l.startsWith("MISMATCH: byte ")), bench.describe());
        }
    }
}
