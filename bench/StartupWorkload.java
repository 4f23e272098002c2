/*
 * The start-up workload: one JVM per connection, as inetd runs it. The time from
 * launch to the ready line, and under systemd-socket-activate --inetd from connect
 * to the first byte echoed: compiled, from source, with an AOT cache (JDK 25), cat(1).
 * SPDX-License-Identifier: MIT-0
 */
package bench;

import static bench.Bench.fail;
import static bench.Bench.given;
import static bench.Bench.runs;
import static bench.Bench.scale;
import static bench.Bench.work;
import static bench.Scale.SMOKE;
import static bench.Table.note;
import static bench.Table.record;
import static bench.Target.compiled;
import static bench.Target.java;
import static bench.Target.listeningPort;
import static bench.Target.startListening;
import static bench.Util.freePort;
import static bench.Util.local;
import static bench.Util.onPath;

import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

final class StartupWorkload {
    /**
     * What a user of inetd feels: systemd-socket-activate --inetd -a starts one
     * echo JVM per connection; the time from connect to the first byte echoed,
     * compiled (java -cp) against the source launcher, with cat(1) under the same
     * tool for scale. Also the time from launch to the ready line, cold.
     */
    static void run() throws Exception {
        if (given >= 0) return;
        Path classes = compiled("echo", "Echo");
        Map<String, List<String>> forms = new LinkedHashMap<>();
        forms.put("compiled (java -cp DIR Echo)", List.of(java(), "-cp", classes.toString(), "Echo"));
        if (scale != SMOKE) forms.put("source launcher (java echo/Echo.java)", List.of(java(), "echo/Echo.java")); // a second or two each
        List<String> aot = aotCache(classes);
        if (aot != null) forms.put("compiled jar with a JDK 25 AOT cache (-XX:AOTCache)", aot);
        Target target = new Target("echo, start-up", "start-up", 0, null, null, null);
        runs(List.of(target), t -> {
            for (var form : forms.entrySet()) {
                long start = System.nanoTime();
                List<String> command = new ArrayList<>(form.getValue());
                command.add("0");
                Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
                try {
                    listeningPort(p, work.resolve("startup.log"));
                    record(t, "launch to ready line, cold: " + form.getKey(), "ms", (System.nanoTime() - start) / 1e6);
                } finally {
                    p.destroy();
                    p.waitFor();
                }
            }
            if (!onPath("systemd-socket-activate")) {
                note("one JVM per connection: not measured, systemd-socket-activate is not installed");
                return;
            }
            for (var form : forms.entrySet()) record(t, "one JVM per connection (inetd), first byte: " + form.getKey(), "ms", firstByte(form.getValue()));
            record(t, "one JVM per connection (inetd), first byte: cat(1), a C program, for scale", "ms", firstByte(List.of("cat")));
        });
    }

    /**
     * On JDK 25 and newer, echo as a jar (an AOT cache takes no class directory)
     * with an AOT cache (JEP 483, 514) trained by one connection under inetd; the
     * cache is written as that JVM exits. Its warnings go to stderr: under inetd
     * stdout is the client.
     */
    static List<String> aotCache(Path classes) throws Exception {
        if (Runtime.version().feature() < 25 || !onPath("systemd-socket-activate")) return null;
        Path jar = work.resolve("echo.jar"), cache = work.resolve("echo.aot");
        var jarTool = java.util.spi.ToolProvider.findFirst("jar").orElseThrow(() -> new IOException("this JDK has no jar tool"));
        if (jarTool.run(System.out, System.err, "cf", jar.toString(), "-C", classes.toString(), ".") != 0) throw new IOException("jar failed");
        List<String> quiet = List.of("-Xlog:disable", "-Xlog:all=warning:stderr");
        List<String> training = new ArrayList<>(List.of(java(), "-XX:AOTCacheOutput=" + cache));
        training.addAll(quiet);
        training.addAll(List.of("-cp", jar.toString(), "Echo"));
        firstByte(training);
        for (long size = -1, deadline = System.nanoTime() + 60_000_000_000L; System.nanoTime() < deadline; Thread.sleep(500)) {
            long now = Files.exists(cache) ? Files.size(cache) : 0;
            if (now > 0 && now == size) {
                List<String> form = new ArrayList<>(List.of(java(), "-XX:AOTCache=" + cache));
                form.addAll(quiet);
                form.addAll(List.of("-cp", jar.toString(), "Echo"));
                return form;
            }
            size = now;
        }
        note("echo, start-up: no AOT cache was written within 60 s; not measured");
        return null;
    }

    /** Under systemd-socket-activate --inetd -a: connect, send a byte, time until it comes back. */
    static double firstByte(List<String> command) throws Exception {
        int port = freePort();
        List<String> activate = new ArrayList<>(List.of("systemd-socket-activate", "--inetd", "-a", "-l", "127.0.0.1:" + port));
        activate.addAll(command);
        Process p = startListening(port, null, activate.toArray(String[]::new));
        try (Socket s = new Socket()) {
            long start = System.nanoTime();
            s.connect(local(port));
            s.setSoTimeout(30_000);
            s.getOutputStream().write('x');
            int got = s.getInputStream().read();
            double millis = (System.nanoTime() - start) / 1e6;
            if (got != 'x') fail("MISMATCH: the first byte back was " + got + ", not 'x' (does the JVM print to stdout under inetd?)");
            s.shutdownOutput();
            s.getInputStream().transferTo(OutputStream.nullOutputStream()); // until that JVM has finished
            return millis;
        } finally {
            p.destroy();
            p.waitFor();
        }
    }
}
