/*
 * Bench: the collection's load generator.
 * SPDX-License-Identifier: MIT-0
 *
 * It starts each server itself (compiled once with javac --release 17, as
 * `make build` does), drives it over loopback, and prints one Markdown table: for
 * each measure the median of the timed runs that follow a warm-up, their spread
 * (min-max), rounded to what that spread supports, and the client's own ceiling:
 * the same client against a trivial server inside Bench. A figure near its
 * ceiling measures Bench, not the server.
 *
 * The yardsticks run in the same sitting: the machine's loopback limit for each
 * shape of traffic (streams inside Bench, and iperf3 when installed), the small
 * C servers in bench/c/ (fork echo and toupper, iterative daytime, poll() chat)
 * when gcc is present, and ncat --chat when installed. Echo moves each byte
 * across loopback twice, and its bulk figures count both. Round trips are timed
 * with client and server pinned to one CPU and to two (taskset).
 *
 * What comes back is checked: a bulk byte out of place stops the run with
 * MISMATCH (exit 1). Chat lines are parsed as bytes, with no Strings: a line
 * lost, or garbled (no prefix, two lines run together), is counted and shown.
 * Benchmarks report; they never pass or fail on speed.
 *
 * This file reads the options and runs the workloads, one file each
 * (LoopbackWorkload to StartupWorkload), at a Scale. Table keeps their rows and
 * prints them; Target starts the servers and Trivial the ceilings; Streams, Room
 * (the chat client), Stamps and Histogram are the client's parts; Util holds the
 * small things.
 *
 * Try it:  make bench                       (5 timed runs of everything, about 15 minutes)
 *          make bench QUICK=1               (one cold run, smaller rooms: about a minute)
 *          java -cp build/bench bench.Bench echo chat   (some workloads, once make bench has compiled them)
 *          java -cp build/bench bench.Bench --port 15000 echo   (a server already running, no peers)
 */
package bench;

import static bench.Scale.FULL;
import static bench.Scale.QUICK;
import static bench.Scale.SMOKE;
import static bench.Table.note;
import static bench.Table.printTable;
import static bench.Util.onPath;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

public class Bench {
    static final String USAGE = """
            usage: java -cp build/bench bench.Bench [--quick | --smoke] [--runs N] [--port PORT] [--results DIR] [WORKLOAD...]
            Load generator for the collection's servers (make bench compiles it; run from the project root); prints a Markdown table.
              WORKLOAD     loopback, echo, uppercase, daytime, chat, storms, startup (default: all)
              --quick      one cold run, smaller rooms and storms (about a minute in all)
              --smoke      tiny: only proves that each workload runs and checks what it gets
              --runs N     timed runs (default 5, after a warm-up; 1 with --quick or --smoke, cold)
              --port PORT  drive the server listening on 127.0.0.1:PORT instead, with no peers or ceilings
              --results DIR  also write the table to DIR/benchmark-jdkN.md (N: this JDK's version), as make bench does
            example: java -cp build/bench bench.Bench --quick echo""";
    static final List<String> WORKLOADS = List.of("loopback", "echo", "uppercase", "daytime", "chat", "storms", "startup");
    static Scale scale = FULL;
    static int runs;
    static int given = -1;           // --port
    static Path work;                // compiled programs, C binaries, logs; deleted at exit
    static final int CPUS = Runtime.getRuntime().availableProcessors();
    static final boolean TASKSET = onPath("taskset") && CPUS > 1;
    static final long EPOCH = System.nanoTime(); // the logs' seconds and the chat lines' stamps count from here
    static boolean warming;          // a warm-up run: nothing is recorded

    /** Everything printed on stdout goes to {@code file} too, under a line that says where it comes from. */
    static void alsoTo(Path file) throws IOException {
        OutputStream copy = Files.newOutputStream(file);
        copy.write(("<!-- written by make bench on " + LocalDate.now() + "; the next run replaces it -->\n\n").getBytes(StandardCharsets.UTF_8));
        PrintStream screen = System.out;
        System.setOut(new PrintStream(new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                screen.write(b);
                copy.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                screen.write(b, off, len);
                copy.write(b, off, len);
            }

            @Override
            public void flush() throws IOException {
                screen.flush();
                copy.flush();
            }
        }, true, StandardCharsets.UTF_8));
    }

    public static void main(String[] args) throws Exception {
        int runsWanted = -1;
        Path results = null;
        List<String> chosen = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "-h", "--help" -> { System.out.println(USAGE); return; }
                case "--quick" -> scale = QUICK;
                case "--smoke" -> scale = SMOKE;
                case "--runs" -> runsWanted = number(args, ++i);
                case "--port" -> given = number(args, ++i);
                case "--results" -> results = Path.of(i + 1 < args.length ? args[++i] : ".");
                case "--relay" -> { Trivial.relay(); return; } // the trivial chat server, in a JVM of its own
                default -> {
                    if (!WORKLOADS.contains(args[i])) usageError("unknown workload '" + args[i] + "'");
                    chosen.add(args[i]);
                }
            }
        }
        if (chosen.isEmpty()) chosen.addAll(WORKLOADS);
        runs = runsWanted > 0 ? runsWanted : scale.runs();
        if (given < 0 && !Files.exists(Path.of("echo/Echo.java"))) fail("error: run Bench from the project root (it starts the servers)");
        if (results != null) alsoTo(results.resolve("benchmark-jdk" + Runtime.version().feature() + ".md"));
        work = Files.createTempDirectory("bench-");
        Runtime.getRuntime().addShutdownHook(new Thread(Bench::cleanUp));
        System.out.printf(Locale.ROOT, "JDK %s (%s), %d cores, %s, %s scale, %d timed run%s%s%n%n", Runtime.version(),
                System.getProperty("java.vm.name"), CPUS, LocalDate.now(), scale.name(), runs, runs == 1 ? "" : "s", scale == FULL ? " after a warm-up" : ", cold");
        long start = System.nanoTime();
        for (String workload : chosen) {
            switch (workload) {
                case "loopback" -> LoopbackWorkload.run();
                case "echo" -> EchoWorkload.run();
                case "uppercase" -> UppercaseWorkload.run();
                case "daytime" -> DaytimeWorkload.run();
                case "chat" -> ChatWorkload.run();
                case "storms" -> StormsWorkload.run();
                default -> StartupWorkload.run();
            }
        }
        printTable();
        System.err.printf(Locale.ROOT, "bench took %.0f s%n", (System.nanoTime() - start) / 1e9);
    }

    // ---- runs ----

    interface Work {
        void on(Target t) throws Exception;
    }

    /**
     * A warm-up run that is not recorded, then the timed runs, the targets taking
     * turns so that whatever else the machine does falls on all of them alike.
     * Ceilings (the trivial servers) get at most two timed runs.
     */
    static void runs(List<Target> targets, Work work) {
        runs(targets, scale == FULL, runs, work); // quick and smoke are one cold run: a check that all works
    }

    static void runs(List<Target> targets, boolean warmUp, int timedRuns, Work work) {
        for (int run = warmUp ? -1 : 0; run < timedRuns; run++) {
            warming = run < 0;
            for (Target t : targets) {
                if (t.isCeiling() && run >= 2) continue;
                System.err.printf(Locale.ROOT, "%5.0f s  %s: %s%n", (System.nanoTime() - EPOCH) / 1e9, t.name, warming ? "warm-up" : "run " + (run + 1) + " of " + timedRuns);
                try {
                    t.ensureRunning();
                    work.on(t);
                } catch (Exception e) {
                    String why = e.getMessage() == null ? e.toString() : e.getMessage();
                    note(t.name + ": " + why);
                    System.err.println(t.name + ": " + why);
                }
            }
        }
        warming = false;
    }

    // ---- exit ----

    /** At exit: stop every process Bench started, remove the work directory. */
    static void cleanUp() {
        ProcessHandle.current().descendants().forEach(ProcessHandle::destroy);
        try (var paths = Files.walk(work)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            System.err.println("could not remove " + work + ": " + e);
        }
    }

    static int number(String[] args, int i) {
        try {
            return Integer.parseInt(args[i]);
        } catch (RuntimeException e) {
            usageError(args[i - 1] + " needs a number");
            return 0;
        }
    }

    static void fail(String message) {
        System.err.println(message);
        System.exit(1);
    }

    static void usageError(String message) {
        System.err.println("error: " + message + "\n" + USAGE);
        System.exit(2);
    }
}
