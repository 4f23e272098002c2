/*
 * The uppercase workload: bulk ASCII throughput and requests, checked against what
 * C's toupper() would send back, a newcomer's first answer, and a stream of
 * characters whose upper case is longer (ß becomes SS) for the Java server alone.
 * SPDX-License-Identifier: MIT-0
 */
package bench;

import static bench.Bench.runs;
import static bench.EchoWorkload.nonReaders;
import static bench.Streams.bulk;
import static bench.Streams.firstAnswer;
import static bench.Streams.messageRoundTrips;
import static bench.Streams.pattern;
import static bench.Table.record;
import static bench.Target.cServer;
import static bench.Target.copies;
import static bench.Target.onCpu0;
import static bench.Target.present;
import static bench.Target.server;
import static bench.Trivial.trivialEcho;
import static bench.Util.closeAll;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;

final class UppercaseWorkload {
    static void run() throws Exception {
        byte[] ascii = pattern(true), asciiUpper = ascii.clone();
        for (int i = 0; i < asciiUpper.length; i++) if (asciiUpper[i] >= 'a' && asciiUpper[i] <= 'z') asciiUpper[i] -= 32;
        String growing = "ßŉﬃΐ".repeat(7000);
        byte[] text = growing.getBytes(StandardCharsets.UTF_8), upper = growing.toUpperCase(Locale.ROOT).getBytes(StandardCharsets.UTF_8);
        Target java = server("uppercase", "uppercase", "Uppercase", List.of(), "0"), ceiling = trivialEcho("uppercase");
        List<Target> targets = present(java, cServer("uppercase, C toupper fork-per-client", "uppercase", "toupper-fork", "0"), ceiling);
        Map<Target, Target> onCpu0 = onCpu0(targets);
        try {
            runs(targets, t -> {
                record(t, "bulk ASCII, 1 connection: bytes moved, both ways", "GB/s", 2 * bulk(t, 1, ascii, asciiUpper) / 1e9);
                record(t, "bulk ASCII, 8 connections: bytes moved, both ways", "GB/s", 2 * bulk(t, 8, ascii, asciiUpper) / 1e9);
                messageRoundTrips(onCpu0.get(t), ascii, asciiUpper);
                firstAnswer(t, ascii, asciiUpper, "hi\n", "HI\n");
            });
            runs(present(java, ceiling), t -> // C's toupper() knows no ß
                    record(t, "upper-casing a stream of ßŉﬃΐ, 1 connection (input)", "MB/s", bulk(t, 1, text, upper) * text.length / upper.length / 1e6));
            runs(targets.stream().filter(t -> t.pid() > 0).toList(), t -> nonReaders(t, 100));
        } finally {
            closeAll(targets);
            closeAll(copies(onCpu0));
        }
    }
}
