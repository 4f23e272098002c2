package bench;

import static harness.Net.seconds;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import harness.Program;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The load generator, compiled as {@code make bench} compiles it, runs every workload against the real
 * servers, and catches a wrong answer. Speeds are not judged.
 */
class BenchTest {
    // "1.52 GB/s", "20,000 /s", "0 MB/s"; "-10.9 KB" too: with 50 idle clients, memory the
    // server gave back meanwhile can outweigh theirs (full scale has 2,000)
    private static final String FIGURE = "-?[\\d,.]+ \\S+";

    @Test
    void everyWorkloadReportsItsFiguresAtSmokeScale() {
        Program bench = Program.ofPackage("bench", "Bench").run(seconds(300), "--smoke", "loopback", "echo", "daytime", "uppercase", "chat", "storms", "startup");
        assertEquals(0, bench.exitCode(seconds(1)), bench.describe());
        List<String> out = bench.stdout();
        assertTrue(out.contains("| workload | measure | median | min-max | client ceiling | runs | note |"), bench.describe());
        for (String row : List.of(
                "| loopback | 1 connection, both ways | ",
                "| echo | bulk, 1 connection: bytes moved, both ways | ",
                "| echo | bulk, 8 connections: bytes moved, both ways | ",
                "| echo | 64-byte round trip, ",
                "| echo | first answer to a new client while 8 stream bulk, median | ",
                "| echo | memory per idle connection (50 idle) | ",
                "| echo | memory per idle connection (50 idle, each after echoing 1 KiB once) | ",
                "| daytime | connections/s, 4 client threads | ",
                "| uppercase | bulk ASCII, 1 connection: bytes moved, both ways | ",
                "| uppercase | upper-casing a stream of ßŉﬃΐ, 1 connection (input) | ",
                "| chat | fan-out, 20 clients, 10 senders flooding | ",
                "| chat | burst fan-out, 20 clients, 4 senders writing 16 lines at a time | ",
                "| chat | delivery latency, 20 clients, 1000 lines/s paced, p99 | ",
                "| chat | 50 clients: deliveries/s sustained with p99 latency under 100 ms | ",
                "| chat | join storm, 50 clients | ",
                "| chat | leave storm, 50 clients: a fresh client's line reaches another | ",
                "| echo, start-up | launch to ready line, cold: compiled (java -cp DIR Echo) | ")) {
            assertTrue(out.stream().anyMatch(l -> l.startsWith(row) && l.matches(".*\\| " + FIGURE + " \\|.*")), "no figure for " + row + "\n" + bench.describe());
        }
        for (String row : List.of("| echo | bulk, 1 connection: bytes moved, both ways | ", "| chat | fan-out, 20 clients, 10 senders flooding | ")) {
            assertTrue(out.stream().anyMatch(l -> l.startsWith(row) && l.matches(".*\\| " + FIGURE + " \\| \\d+ \\|.*")), "no client ceiling for " + row + "\n" + bench.describe());
        }
    }

    @Test
    void theEchoWorkloadDetectsAServerThatChangesBytes() {
        try (Program uppercase = Program.of("uppercase/Uppercase.java").start("0")) {
            Program bench = Program.ofPackage("bench", "Bench").run(seconds(120), "--smoke", "--port", "" + uppercase.port(), "echo");
            assertEquals(1, bench.exitCode(seconds(1)), bench.describe());
            assertTrue(bench.stderr().stream().anyMatch(l -> l.startsWith("MISMATCH: byte ")), bench.describe());
        }
    }
}
