/*
 * Bench: the collection's load generator. It starts each server itself (compiled
 * once with javac --release 17, as `make build` does), drives it over loopback,
 * and prints one Markdown table: for each measure the median of the timed runs
 * that follow a warm-up, their spread (min-max), rounded to what that spread
 * supports, and the client's own ceiling: the same client against a trivial
 * server inside Bench. A figure near its ceiling measures Bench, not the server.
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
 * Try it:  make bench                       (5 timed runs of everything, about 15 minutes)
 *          make bench QUICK=1               (one cold run, smaller rooms: about a minute)
 *          java bench/Bench.java echo chat  (some workloads)
 *          java bench/Bench.java --port 15000 echo   (a server already running, no peers)
 */
import java.io.*;
import java.net.*;
import java.nio.ByteBuffer;
import java.nio.channels.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.time.LocalDate;
import java.util.*;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class Bench {
    static final String USAGE = """
            usage: java bench/Bench.java [--quick | --smoke] [--runs N] [--port PORT] [WORKLOAD...]
            Load generator for the collection's servers (run from the project root); prints a Markdown table.
              WORKLOAD     loopback, echo, uppercase, daytime, chat, storms, startup (default: all)
              --quick      one cold run, smaller rooms and storms (about a minute in all)
              --smoke      tiny: only proves that each workload runs and checks what it gets
              --runs N     timed runs (default 5, after a warm-up; 1 with --quick or --smoke, cold)
              --port PORT  drive the server listening on 127.0.0.1:PORT instead, with no peers or ceilings
            example: java bench/Bench.java --quick echo""";
    static final List<String> WORKLOADS = List.of("loopback", "echo", "uppercase", "daytime", "chat", "storms", "startup");

    /** How much work each workload does. */
    record Scale(String name, int runs, double window, int roundTrips, int probes, int idle, int room, int burstRoom,
                 int[] storms, int bigRoom, int minLines, int nonReaders, int floodLines, int delayRoom, int delayProbes) {}

    static final Scale FULL = new Scale("full", 5, 1.0, 10_000, 10, 2_000, 100, 200,
            new int[] {1_000, 5_000, 10_000}, 10_000, 1_000, 200, 3_000_000, 1_000, 20);
    static final Scale QUICK = new Scale("quick", 1, 0.2, 2_000, 3, 500, 100, 200,
            new int[] {1_000}, 1_000, 200, 200, 300_000, 200, 4);
    static final Scale SMOKE = new Scale("smoke", 1, 0.1, 200, 1, 50, 20, 20,
            new int[] {50}, 50, 20, 20, 20_000, 20, 2);
    static Scale scale = FULL;
    static int runs;
    static int given = -1;           // --port
    static Path work;                // compiled programs, C binaries, logs; deleted at exit
    static final int CPUS = Runtime.getRuntime().availableProcessors();
    static final boolean TASKSET = onPath("taskset") && CPUS > 1;

    public static void main(String[] args) throws Exception {
        int runsWanted = -1;
        List<String> chosen = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "-h", "--help" -> { System.out.println(USAGE); return; }
                case "--quick" -> scale = QUICK;
                case "--smoke" -> scale = SMOKE;
                case "--runs" -> runsWanted = number(args, ++i);
                case "--port" -> given = number(args, ++i);
                case "--relay" -> { relay(); return; } // the trivial chat server, in a JVM of its own
                default -> {
                    if (!WORKLOADS.contains(args[i])) usageError("unknown workload '" + args[i] + "'");
                    chosen.add(args[i]);
                }
            }
        }
        if (chosen.isEmpty()) chosen.addAll(WORKLOADS);
        runs = runsWanted > 0 ? runsWanted : scale.runs();
        if (given < 0 && !Files.exists(Path.of("echo/Echo.java"))) fail("error: run Bench from the project root (it starts the servers)");
        work = Files.createTempDirectory("bench-");
        Runtime.getRuntime().addShutdownHook(new Thread(Bench::cleanUp));
        System.out.printf(Locale.ROOT, "JDK %s (%s), %d cores, %s, %s scale, %d timed run%s%s%n%n", Runtime.version(),
                System.getProperty("java.vm.name"), CPUS, LocalDate.now(), scale.name(), runs, runs == 1 ? "" : "s", scale == FULL ? " after a warm-up" : ", cold");
        long start = System.nanoTime();
        if (given < 0 && (chosen.contains("chat") || chosen.contains("storms"))) compiled("bench", "Bench"); // the relay's copy, from the file as it is now
        for (String workload : chosen) {
            switch (workload) {
                case "loopback" -> loopback();
                case "echo" -> echo();
                case "uppercase" -> uppercase();
                case "daytime" -> daytime();
                case "chat" -> chat();
                case "storms" -> storms();
                default -> startup();
            }
        }
        printTable();
        System.err.printf(Locale.ROOT, "bench took %.0f s%n", (System.nanoTime() - start) / 1e9);
    }

    // ---- runs and rows ----

    /** One line of the table: every timed run's figure, and notes. */
    static final class Row {
        final String workload, measure, unit, group;
        final List<Double> values = new ArrayList<>();
        final Set<String> notes = new LinkedHashSet<>();
        long lost, garbled, expected; // chat lines, when a workload counts them
        double clientCores;           // the most of the CPUs Bench itself used for this figure, where measured
        double neverArrived;          // the largest share of deliveries that never arrived intact, when that left no quantile

        Row(String workload, String measure, String unit, String group) {
            this.workload = workload;
            this.measure = measure;
            this.unit = unit;
            this.group = group;
        }
    }

    static final Map<String, Row> rows = new LinkedHashMap<>();
    static final Map<String, List<Double>> ceilings = new HashMap<>();
    /** Throughputs shown as a fraction of the loopback limit of the same shape. */
    static final Map<String, String> LIMITS = Map.of(
            "bulk, 1 connection: bytes moved, both ways", "loopback|1 connection, both ways",
            "bulk, 8 connections: bytes moved, both ways", "loopback|8 connections, both ways",
            "bulk ASCII, 1 connection: bytes moved, both ways", "loopback|1 connection, both ways",
            "bulk ASCII, 8 connections: bytes moved, both ways", "loopback|8 connections, both ways");
    static final List<String> notes = new ArrayList<>();
    static boolean warming;

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

    static Row row(Target t, String measure, String unit) {
        return rows.computeIfAbsent(t.name + "|" + measure, k -> new Row(t.name, measure, unit, t.group));
    }

    static void record(Target t, String measure, String unit, double value) {
        if (warming) return;
        if (t.isCeiling()) ceilings.computeIfAbsent(t.group + "|" + measure, k -> new ArrayList<>()).add(value);
        else row(t, measure, unit).values.add(value);
    }

    /** The row a timed run of a server notes things in; for warm-ups and ceilings, one that is never printed. */
    static Row timedRow(Target t, String measure, String unit) {
        return warming || t.isCeiling() ? NOWHERE : row(t, measure, unit);
    }

    static final Row NOWHERE = new Row("", "", "", "");

    static void note(String text) {
        if (!notes.contains(text)) notes.add(text);
    }

    // ---- the table ----

    static void printTable() {
        System.out.println("| workload | measure | median | min-max | client ceiling | runs | note |");
        System.out.println("|---|---|---:|---:|---:|---:|---|");
        for (Row r : rows.values()) {
            List<String> rowNotes = new ArrayList<>(r.notes);
            if (r.expected > 0) rowNotes.add(String.format(Locale.ROOT, "of %,d lines sent to receivers, %,d lost and %,d garbled (no prefix, or run together)", r.expected, r.lost, r.garbled));
            if (r.neverArrived > 0) rowNotes.add(String.format(Locale.ROOT, "in some runs up to %.1f%% of deliveries never arrived intact, so the quantile fell on them", 100 * r.neverArrived));
            if (r.clientCores > 0) rowNotes.add(String.format(Locale.ROOT, "Bench itself used at most %.2f of %d cores", r.clientCores, CPUS));
            Row limit = rows.get(LIMITS.get(r.measure));
            if (limit != null && !r.values.isEmpty() && !limit.values.isEmpty()) {
                rowNotes.add(String.format(Locale.ROOT, "%.0f%% of loopback", 100 * median(r.values) / Collections.max(limit.values)));
            }
            String median = "", spread = "", ceiling = "";
            if (!r.values.isEmpty()) {
                double[] v = r.values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
                String[] f = rounded(median(r.values), v[0], v[v.length - 1]);
                median = f[0] + " " + r.unit;
                spread = v.length > 1 ? f[1] + "-" + f[2] : "";
            }
            List<Double> c = ceilings.get(r.group + "|" + r.measure);
            if (c != null) { // what the same client did against any server of this run counts too
                double trivial = best(r.unit, c), best = trivial;
                for (Row other : rows.values()) {
                    if (other.group.equals(r.group) && other.measure.equals(r.measure) && !other.values.isEmpty()) best = best(r.unit, List.of(best, best(r.unit, other.values)));
                }
                peerBeatTrivial |= best != trivial;
                ceiling = rounded(best, best, best)[0] + " " + r.unit + (best != trivial ? "*" : "");
            }
            System.out.printf("| %s | %s | %s | %s | %s | %d | %s |%n", r.workload, r.measure, median, spread, ceiling, r.values.size(), String.join("; ", rowNotes));
        }
        RESTARTS.forEach((what, times) -> notes.add(what + " (" + times + (times == 1 ? " time)" : " times)")));
        if (peerBeatTrivial) notes.add(0, "* the client did better against a server of the same run than against its trivial one: that figure is its ceiling here");
        if (!notes.isEmpty()) System.out.println();
        for (String n : notes) System.out.println("- " + n);
    }

    static boolean peerBeatTrivial;
    static final Map<String, Integer> RESTARTS = new LinkedHashMap<>();

    static double best(String unit, List<Double> values) {
        return higherIsBetter(unit) ? Collections.max(values) : Collections.min(values);
    }

    static double median(List<Double> values) {
        double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    static boolean higherIsBetter(String unit) {
        return unit.endsWith("/s");
    }

    /**
     * Median, min and max rounded alike, to the decimal place of the spread's first
     * digit: 1.28-1.71 prints 1.5 (1.3-1.7). Never coarser than one significant
     * digit of the median, never finer than three.
     */
    static String[] rounded(double median, double min, double max) {
        if (median == 0 && min == 0 && max == 0) return new String[] {"0", "0", "0"};
        double magnitude = Math.floor(Math.log10(Math.max(Math.abs(median), 1e-9)));
        double place = max > min ? Math.floor(Math.log10(max - min)) : magnitude - 2;
        int decimals = (int) -Math.min(magnitude, Math.max(place, magnitude - 2));
        String[] out = new String[3];
        double[] in = {median, min, max};
        for (int i = 0; i < 3; i++) { // a min or max keeps at least its first digit: 30 is never shown as 0
            int d = in[i] == 0 ? decimals : Math.max(decimals, (int) -Math.floor(Math.log10(Math.abs(in[i]))));
            out[i] = d > 0 ? String.format(Locale.ROOT, "%,." + d + "f", in[i])
                    : String.format(Locale.ROOT, "%,.0f", Math.round(in[i] / Math.pow(10, -d)) * Math.pow(10, -d));
        }
        return out;
    }

    // ---- servers under test ----

    /** Something to measure: a server, a peer, or a trivial server (then it measures the client's ceiling). */
    static final class Target implements AutoCloseable {
        final String name, group;
        final int port;
        final Closeable inside;
        final Path log;
        Process process;
        List<String> restart; // a tool that may quit under a workload (ncat) is started again for the next
        int joinWindow = Integer.MAX_VALUE; // how many chat clients may wait to be accepted at once, but in storms

        Target(String name, String group, int port, Process process, Closeable inside, Path log) {
            this.name = name;
            this.group = group;
            this.port = port;
            this.process = process;
            this.inside = inside;
            this.log = log;
        }

        /** A tool that quit under the last workload (ncat) is started again, and that is noted. */
        void ensureRunning() throws Exception {
            if (restart == null || process.isAlive()) return;
            RESTARTS.merge(name + " quit under the workloads and was started again; its last words" + lastLog(), 1, Integer::sum);
            process = startListening(port, log, restart.toArray(String[]::new));
        }

        void checkAlive() throws IOException {
            if (process != null && !process.isAlive()) throw new IOException("the server is gone" + lastLog());
        }

        boolean isCeiling() {
            return name.equals(CEILING);
        }

        long pid() {
            return process == null ? -1 : process.pid();
        }

        String lastLog() {
            try {
                List<String> lines = log == null ? List.of() : Files.readAllLines(log);
                lines.removeIf(l -> l.isBlank() || Character.isWhitespace(l.charAt(0))); // a stack trace's frames
                return lines.isEmpty() ? "" : ": " + lines.get(lines.size() - 1);
            } catch (IOException e) {
                return "";
            }
        }

        @Override
        public void close() throws IOException {
            if (inside != null) inside.close();
            if (process == null) return;
            process.destroy();
            try {
                if (!process.waitFor(5, TimeUnit.SECONDS)) process.destroyForcibly().waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** One of the collection's servers, compiled once into the work directory and started as `java -cp DIR Main`. */
    static Target server(String name, String dir, String main, List<String> jvmOptions, String... args) throws Exception {
        if (given >= 0) return new Target(name, name, given, null, null, null);
        List<String> command = new ArrayList<>(List.of(java()));
        command.addAll(jvmOptions);
        command.addAll(List.of("-cp", compiled(dir, main).toString(), main));
        command.addAll(List.of(args));
        return started(name, name, command);
    }

    /** A C reference server from bench/c/, or null (and a note saying why) where it cannot be built. */
    static Target cServer(String name, String group, String source, String... args) throws Exception {
        if (given >= 0 || scale == SMOKE) return null;
        Path binary = work.resolve("c").resolve(source);
        if (!Files.exists(binary)) {
            if (!onPath("gcc")) {
                note(name + ": not measured, gcc is not installed (apt-get install gcc)");
                return null;
            }
            Files.createDirectories(binary.getParent());
            Process gcc = new ProcessBuilder("gcc", "-O2", "-o", binary.toString(), "bench/c/" + source + ".c").inheritIO().start();
            if (gcc.waitFor() != 0) {
                note(name + ": not measured, bench/c/" + source + ".c did not compile");
                return null;
            }
        }
        List<String> command = new ArrayList<>(List.of(binary.toString()));
        command.addAll(List.of(args));
        return started(name, group, command);
    }

    static Target started(String name, String group, List<String> command) throws Exception {
        Path log = work.resolve(name.replaceAll("\\W+", "-") + ".log");
        Process process = new ProcessBuilder(command).redirectError(log.toFile()).start();
        return new Target(name, group, listeningPort(process, log), process, null, log);
    }

    static Path compiled(String dir, String main) throws IOException {
        Path out = work.resolve("classes").resolve(dir);
        if (Files.exists(out)) return out;
        var javac = java.util.spi.ToolProvider.findFirst("javac").orElseThrow(() -> new IOException("this JDK has no javac"));
        if (javac.run(System.out, System.err, "--release", "17", "-d", out.toString(), dir + "/" + main + ".java") != 0) {
            throw new IOException(dir + "/" + main + ".java did not compile");
        }
        return out;
    }

    static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** Reads the "listening on ADDRESS:PORT" line, then keeps draining stdout so the server never blocks on it. */
    static int listeningPort(Process process, Path log) throws IOException {
        InputStream out = process.getInputStream();
        StringBuilder line = new StringBuilder();
        for (int c; (c = out.read()) != '\n'; line.append((char) c)) {
            if (c < 0) throw new IOException("the server ended before it listened: " + Files.readString(log).strip());
        }
        Matcher m = Pattern.compile("listening on .*:(\\d+)").matcher(line);
        if (!m.matches()) throw new IOException("unexpected first line from the server: " + line);
        daemon(() -> quietly(() -> out.transferTo(OutputStream.nullOutputStream())));
        return Integer.parseInt(m.group(1));
    }

    /** Starts a tool that prints no ready line (ncat, iperf3) and waits until its port is listening. */
    static Process startListening(int port, Path log, String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(log == null ? ProcessBuilder.Redirect.DISCARD : ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        // A probe that connects and hangs up would end them (ncat: "getpeername ... QUITTING"), so watch /proc instead.
        String local = String.format(Locale.ROOT, ":%04X ", port);
        for (long deadline = System.nanoTime() + 10_000_000_000L; ; Thread.sleep(20)) {
            if (Files.readAllLines(Path.of("/proc/net/tcp")).stream().anyMatch(l -> l.contains(local) && l.contains(" 0A "))) return p;
            if (System.nanoTime() > deadline || !p.isAlive()) throw new IOException(command[0] + " did not start listening on port " + port);
        }
    }

    static void closeAll(List<? extends AutoCloseable> things) {
        for (AutoCloseable c : things) {
            try {
                if (c != null) c.close();
            } catch (Exception e) {
                System.err.println("close: " + e); // nothing else to do: the run is over
            }
        }
    }

    static List<Target> present(Target... targets) {
        List<Target> list = new ArrayList<>();
        for (Target t : targets) if (t != null) list.add(t);
        return list;
    }

    // ---- loopback: the machine's limit for each shape ----

    static void loopback() throws Exception {
        Target reference = new Target("loopback", "loopback", 0, null, null, null);
        String[][] shapes = {{"1", "one way"}, {"1", "both ways"}, {"8", "both ways"}};
        runs(List.of(reference), t -> {
            for (String[] shape : shapes) {
                double best = 0;
                for (int size : new int[] {64 << 10, 1 << 20}) best = Math.max(best, streams(Integer.parseInt(shape[0]), shape[1].equals("both ways"), size));
                record(t, shape[0] + (shape[0].equals("1") ? " connection, " : " connections, ") + shape[1], "GB/s", best / 1e9);
            }
        });
        rows.values().stream().filter(r -> r.workload.equals("loopback")).forEach(r -> r.notes.add("inside Bench, best of 64 KiB and 1 MiB writes"));
        int sockets = Math.min(scale.bigRoom(), 5000); // and as many again for their peers, within the descriptor limit
        String fanOut = "a 50-byte write() to each of " + sockets + " sockets, one thread, per write";
        runs(List.of(reference), t -> record(t, fanOut, "µs", fanOutWrite(sockets)));
        row(reference, fanOut, "µs").notes.add("the floor for chat: one line to " + scale.bigRoom() + " clients takes " + scale.bigRoom() + " of these on one thread");
        if (given >= 0 || scale == SMOKE) return;
        if (!onPath("iperf3")) {
            note("iperf3: not measured, it is not installed (apt-get install iperf3)");
            return;
        }
        Target iperf = new Target("iperf3", "iperf3", 0, null, null, null);
        runs(List.of(iperf), t -> {
            record(t, "1 connection, one way", "GB/s", iperf3() / 1e9);
            record(t, "1 connection, both ways", "GB/s", iperf3("--bidir") / 1e9);
        });
        row(iperf, "1 connection, both ways", "GB/s").notes.add("iperf3 before 3.16 serves both directions from one thread");
    }

    /** Bytes a second that `connections` socket pairs inside Bench carry, one way or both, with writes of `size`. */
    static double streams(int connections, boolean bothWays, int size) throws Exception {
        AtomicLong received = new AtomicLong();
        List<SocketChannel> channels = new ArrayList<>();
        try (ServerSocketChannel listener = ServerSocketChannel.open().bind(local(0))) {
            for (int c = 0; c < connections; c++) {
                SocketChannel a = SocketChannel.open(listener.getLocalAddress()), b = listener.accept();
                channels.addAll(List.of(a, b));
                pump(a, b, size, received);
                if (bothWays) pump(b, a, size, received);
            }
            return rate(received::get, scale.window() / 2); // the best of two sizes, of several runs: shorter windows do
        } finally {
            closeAll(channels);
        }
    }

    /** Microseconds one thread takes to write one 50-byte line to each of `count` connected sockets (their peers read later). */
    static double fanOutWrite(int count) throws Exception {
        List<SocketChannel> channels = new ArrayList<>();
        try (ServerSocketChannel listener = ServerSocketChannel.open().bind(local(0), 4096)) {
            List<SocketChannel> writers = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                channels.add(SocketChannel.open(listener.getLocalAddress()));
                SocketChannel w = listener.accept();
                w.setOption(StandardSocketOptions.TCP_NODELAY, true);
                writers.add(w);
            }
            channels.addAll(writers);
            ByteBuffer line = ByteBuffer.allocateDirect(50), sink = ByteBuffer.allocateDirect(1 << 16);
            long best = Long.MAX_VALUE;
            for (int round = 0; round < 3; round++) {
                long start = System.nanoTime();
                for (SocketChannel w : writers) w.write(line.clear());
                best = Math.min(best, System.nanoTime() - start);
                for (SocketChannel c : channels.subList(0, count)) c.read(sink.clear()); // one line waits in each
            }
            return best / 1e3 / count;
        } finally {
            closeAll(channels);
        }
    }

    static void pump(SocketChannel from, SocketChannel to, int size, AtomicLong received) {
        daemon(() -> quietly(() -> {
            ByteBuffer out = ByteBuffer.allocateDirect(size);
            while (true) from.write(out.clear());
        }));
        daemon(() -> quietly(() -> {
            ByteBuffer in = ByteBuffer.allocateDirect(size);
            for (int n; (n = to.read(in.clear())) > 0; ) received.addAndGet(n);
        }));
    }

    /** iperf3 over 127.0.0.1 (one server per test, as iperf3 -s -1 serves one); bytes a second received, both directions summed. */
    static double iperf3(String... options) throws Exception {
        int port = freePort();
        Process server = startListening(port, null, "iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", "" + port);
        try {
            List<String> command = new ArrayList<>(List.of("iperf3", "-J", "-c", "127.0.0.1", "-p", "" + port, "-t", "1"));
            command.addAll(List.of(options));
            Process client = new ProcessBuilder(command).redirectErrorStream(true).start();
            String json = new String(client.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            client.waitFor();
            Matcher m = Pattern.compile("\"sum_received(_bidir_reverse)?\":\\s*\\{[^}]*?\"bits_per_second\":\\s*([0-9.eE+]+)").matcher(json);
            double bits = 0;
            while (m.find()) bits += Double.parseDouble(m.group(2));
            if (bits == 0) throw new IOException("iperf3 reported nothing: " + json.lines().filter(l -> l.contains("error")).findFirst().orElse(""));
            return bits / 8;
        } finally {
            server.destroy();
            server.waitFor();
        }
    }

    // ---- echo ----

    static void echo() throws Exception {
        byte[] data = pattern(false);
        List<Target> targets = present(server("echo", "echo", "Echo", List.of(), "0"),
                cServer("echo, C fork-per-client", "echo", "echo-fork", "0"), trivialEcho("echo"));
        try {
            runs(targets, t -> {
                record(t, "bulk, 1 connection: bytes moved, both ways", "GB/s", 2 * bulk(t, 1, data, data) / 1e9);
                record(t, "bulk, 8 connections: bytes moved, both ways", "GB/s", 2 * bulk(t, 8, data, data) / 1e9);
                roundTrips(t);
                messageRoundTrips(t, data, data);
                firstAnswer(t, data, data, "hi\n", "hi\n");
            });
            runs(targets.stream().filter(t -> t.pid() > 0).toList(), t -> {
                idleMemory(t, scale.idle(), 1);
                idleMemory(t, scale.idle(), 1024);
                nonReaders(t, 100);
            });
        } finally {
            closeAll(targets);
        }
    }

    /** Bytes of a bulk transfer: random (0-255) or printable ASCII, repeating with a prime period so no shift goes unseen. */
    static byte[] pattern(boolean printable) {
        byte[] p = new byte[65_521];
        new SplittableRandom(42).nextBytes(p);
        if (printable) for (int i = 0; i < p.length; i++) p[i] = (byte) (' ' + (p[i] & 0x7F) % 95);
        return p;
    }

    static ByteBuffer twice(byte[] pattern) {
        ByteBuffer b = ByteBuffer.allocateDirect(2 * pattern.length);
        return b.put(pattern).put(pattern).flip();
    }

    /**
     * Connections that each stream `send` (repeated) to a server and check that
     * `expect` (repeated) comes back, every byte; counts what comes back.
     */
    static final class Streams implements AutoCloseable {
        final AtomicLong received = new AtomicLong();
        final List<SocketChannel> channels = new ArrayList<>();
        volatile boolean stopped;
        volatile Exception error;

        Streams(int port, int connections, byte[] send, byte[] expect) throws IOException {
            ByteBuffer out = twice(send), want = twice(expect);
            for (int c = 0; c < connections; c++) {
                SocketChannel ch = SocketChannel.open(local(port));
                channels.add(ch);
                thread(() -> {
                    ByteBuffer chunk = out.duplicate();
                    for (long sent = 0; !stopped; ) {
                        int offset = (int) (sent % send.length);
                        sent += ch.write(chunk.limit(offset + send.length).position(offset));
                    }
                });
                thread(() -> {
                    ByteBuffer in = ByteBuffer.allocateDirect(Math.min(expect.length, 1 << 16));
                    for (long got = 0; ; in.clear()) {
                        int n = ch.read(in);
                        if (n < 0) throw new EOFException("the server closed a connection in mid-stream");
                        int offset = (int) (got % expect.length);
                        int at = in.flip().mismatch(want.duplicate().position(offset).limit(offset + n));
                        if (at >= 0) fail("MISMATCH: byte " + (got + at) + " is not what should have come back (is this the right server?)");
                        got += n;
                        received.addAndGet(n);
                    }
                });
            }
        }

        void thread(IoWork body) {
            daemon(() -> {
                try {
                    body.run();
                } catch (IOException e) {
                    if (!stopped && error == null) error = e;
                }
            });
        }

        void check() throws Exception {
            if (error != null) throw error;
        }

        @Override
        public void close() {
            stopped = true;
            closeAll(channels); // a close with unread input resets: the servers must take that in their stride
        }
    }

    /** Bytes a second that come back over `connections` streams, every one checked. */
    static double bulk(Target t, int connections, byte[] send, byte[] expect) throws Exception {
        if (t.isCeiling()) send = expect; // the trivial server echoes: give it what the real one would send back
        try (Streams s = new Streams(t.port, connections, send, expect)) {
            double r = rate(s.received::get);
            s.check();
            return r;
        }
    }

    /**
     * 64-byte round trips, one at a time. With taskset, client and server are
     * pinned: to the same CPU (a wake-up is a context switch) and to different
     * ones (a wake-up crosses CPUs); unpinned runs land in either.
     */
    static void roundTrips(Target t) throws Exception {
        if (!TASKSET) {
            roundTrips(t, "64-byte round trip", -1, -1);
            return;
        }
        roundTrips(t, "64-byte round trip, same CPU", 0, 0);
        roundTrips(t, "64-byte round trip, different CPUs", 0, 1);
    }

    static void roundTrips(Target t, String measure, int serverCpu, int clientCpu) throws Exception {
        if (serverCpu >= 0) pin(t, "" + serverCpu);
        try {
            long[] nanos = new long[scale.roundTrips()];
            Thread client = new Thread(() -> {
                try {
                    if (clientCpu >= 0) pinThisThread(clientCpu);
                    pingPong(t.port, nanos);
                } catch (Exception e) {
                    nanos[0] = -1;
                    System.err.println(t.name + ": round trips: " + e);
                }
            });
            client.start();
            client.join();
            if (nanos[0] < 0) throw new IOException("round trips failed");
            Arrays.sort(nanos);
            record(t, measure + ", p50", "µs", nanos[nanos.length / 2] / 1e3);
            record(t, measure + ", p99", "µs", nanos[nanos.length * 99 / 100] / 1e3);
        } finally {
            if (serverCpu >= 0) pin(t, "0-" + (CPUS - 1));
        }
    }

    static void pingPong(int port, long[] nanos) throws IOException {
        try (SocketChannel ch = SocketChannel.open(local(port))) {
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            ByteBuffer out = ByteBuffer.allocateDirect(64).put(pattern(false), 0, 64).flip(), in = ByteBuffer.allocateDirect(64);
            for (int i = -nanos.length / 10; i < nanos.length; i++) { // the first tenth warms up
                long start = System.nanoTime();
                ch.write(out.rewind());
                for (in.clear(); in.hasRemaining(); ) if (ch.read(in) < 0) throw new EOFException("the server closed the connection");
                if (in.flip().mismatch(out.rewind()) >= 0) fail("MISMATCH: a 64-byte round trip came back changed (is this an echo server?)");
                if (i >= 0) nanos[i] = System.nanoTime() - start;
            }
        }
    }

    /**
     * Requests of 1, 4 and 64 KiB, each answered before the next, unpinned: a server that
     * reads less than a request at a time answers in several writes, and unless it sets
     * TCP_NODELAY, Nagle's algorithm holds the last for the client's delayed ACK (40 ms).
     */
    static void messageRoundTrips(Target t, byte[] send, byte[] expect) throws Exception {
        ByteBuffer out = twice(t.isCeiling() ? expect : send), want = twice(expect);
        try (SocketChannel ch = SocketChannel.open(local(t.port))) {
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            for (int size : new int[] {1024, 4096, 65536}) {
                ByteBuffer in = ByteBuffer.allocateDirect(size);
                long[] nanos = new long[Math.max(10, scale.roundTrips() / 50)];
                for (int i = -nanos.length / 10; i < nanos.length; i++) { // the first tenth warms up
                    long start = System.nanoTime();
                    ch.write(out.clear().limit(size));                        // blocking: all of it
                    for (in.clear(); in.hasRemaining(); ) if (ch.read(in) < 0) throw new EOFException("the server closed the connection");
                    if (in.flip().mismatch(want.clear().limit(size)) >= 0) fail("MISMATCH: a " + size + "-byte request came back changed");
                    if (i >= 0) nanos[i] = System.nanoTime() - start;
                }
                Arrays.sort(nanos);
                record(t, size / 1024 + " KiB request and answer, p50", "µs", nanos[nanos.length / 2] / 1e3);
            }
        }
    }

    /** Pins a server (every thread it has, and so those they start later) to CPUS, e.g. "0" or "0-1"; a thread that ends meanwhile is no matter. */
    static void pin(Target t, String cpus) throws Exception {
        if (t.inside != null) trivialCpu = cpus.contains("-") ? -1 : Integer.parseInt(cpus);
        else if (t.pid() > 0) exec("sh", "-c", "for task in /proc/" + t.pid() + "/task/*; do taskset -p -c " + cpus + " ${task##*/}; done; true");
    }

    static void pinThisThread(int cpu) throws Exception {
        String tid = Files.readSymbolicLink(Path.of("/proc/thread-self")).getFileName().toString();
        exec("taskset", "-p", "-c", "" + cpu, tid);
    }

    /**
     * While 8 clients stream bulk data, new clients connect one by one and send a
     * short line: how long each waits for its answer, connect included. A server
     * that lets busy clients hold every thread keeps a newcomer waiting.
     */
    static void firstAnswer(Target t, byte[] send, byte[] expect, String probe, String answer) throws Exception {
        int timeoutMillis = 5000, unanswered = 0, probes = 0;
        double[] millis = new double[scale.probes()];
        try (Streams streams = new Streams(t.port, 8, t.isCeiling() ? expect : send, expect)) {
            Thread.sleep(settleMillis());
            for (int i = 0; i < millis.length && unanswered < 3; i++, probes++) { // three unanswered tell enough
                long start = System.nanoTime();
                try (Socket s = new Socket()) {
                    s.connect(local(t.port), timeoutMillis);
                    s.setSoTimeout(timeoutMillis);
                    s.getOutputStream().write((t.isCeiling() ? answer : probe).getBytes(StandardCharsets.US_ASCII));
                    byte[] got = s.getInputStream().readNBytes(answer.length());
                    if (!answer.equals(new String(got, StandardCharsets.US_ASCII))) fail("MISMATCH: a new client got '" + new String(got, StandardCharsets.US_ASCII) + "'");
                } catch (SocketTimeoutException e) {
                    unanswered++;
                }
                millis[i] = (System.nanoTime() - start) / 1e6;
                Thread.sleep(settleMillis() / 2);
            }
            streams.check();
        }
        millis = Arrays.copyOf(millis, probes);
        Arrays.sort(millis);
        String measure = "first answer to a new client while 8 stream bulk";
        record(t, measure + ", median", "ms", millis[probes / 2]);
        record(t, measure + ", worst", "ms", millis[probes - 1]);
        if (unanswered > 0) timedRow(t, measure + ", worst", "ms").notes.add("some new clients got no answer within " + timeoutMillis / 1000 + " s");
    }

    /**
     * Memory per idle connection: the server's proportional set size (PSS, from
     * /proc, its child processes included) before and after `count` clients
     * connect, each have `burst` bytes echoed once, and sit idle.
     */
    static void idleMemory(Target t, int count, int burst) throws Exception {
        closeAll(connectAndEcho(t.port, 100, burst)); // warm up: JIT, thread pools, buffers
        Thread.sleep(settleMillis() * 2);
        long before = pssKb(t.pid());
        List<SocketChannel> idle = connectAndEcho(t.port, count, burst);
        Thread.sleep(settleMillis() * 2);
        long after = pssKb(t.pid());
        closeAll(idle);
        String measure = "memory per idle connection (" + count + " idle" + (burst == 1 ? ")" : ", each after echoing 1 KiB once)");
        record(t, measure, "KB", (after - before) / (double) count);
    }

    /**
     * What clients that send and never read hold in the server: `count` clients each send up to
     * 12 MB, without reading, until the server stops taking their bytes (its writes to them are
     * stuck); then the server's threads (its child processes' included) and PSS, against before.
     */
    static void nonReaders(Target t, int count) throws Exception {
        closeAll(connectAndEcho(t.port, 10, 1)); // warm up: the code that serves a client
        Thread.sleep(settleMillis() * 2);
        long threadsBefore = threads(t.pid()), before = pssKb(t.pid());
        List<SocketChannel> clients = new ArrayList<>();
        try {
            long[] sent = new long[count];
            ByteBuffer chunk = twice(pattern(true)).limit(64 << 10);
            for (int i = 0; i < count; i++) {
                SocketChannel ch = SocketChannel.open(local(t.port));
                ch.configureBlocking(false);
                clients.add(ch);
            }
            long lastProgress = System.nanoTime();
            while (System.nanoTime() - lastProgress < 500_000_000L) { // until no client gets a byte in for 0.5 s
                for (int i = 0; i < count; i++) {
                    if (sent[i] >= 12_000_000) continue;
                    int n = clients.get(i).write(chunk.rewind());
                    sent[i] += n;
                    if (n > 0) lastProgress = System.nanoTime();
                }
            }
            Thread.sleep(settleMillis() * 2);
            String measure = count + " clients that send without reading (up to 12 MB each, until stuck), ";
            record(t, measure + "memory per client", "KB", (pssKb(t.pid()) - before) / (double) count);
            record(t, measure + "threads added", "threads", threads(t.pid()) - threadsBefore);
            timedRow(t, measure + "memory per client", "KB").notes.add(String.format(Locale.ROOT, "each sent %.1f MB on average before it was stuck", Arrays.stream(sent).average().orElse(0) / 1e6));
        } finally {
            for (SocketChannel ch : clients) ch.setOption(StandardSocketOptions.SO_LINGER, 0); // reset: nothing left to flush
            closeAll(clients);
        }
    }

    /** The threads of a process and of its child processes (a forked server's clients). */
    static long threads(long pid) throws IOException {
        long n = 0;
        List<Long> pids = new ArrayList<>(List.of(pid));
        ProcessHandle.of(pid).ifPresent(p -> p.descendants().forEach(d -> pids.add(d.pid())));
        for (long p : pids) {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/" + p + "/status"))) {
                    if (line.startsWith("Threads:")) n += Long.parseLong(line.replaceAll("\\D", ""));
                }
            } catch (NoSuchFileException e) {
                // a child that ended meanwhile has no threads
            }
        }
        return n;
    }

    static List<SocketChannel> connectAndEcho(int port, int count, int burst) throws IOException {
        List<SocketChannel> channels = new ArrayList<>();
        ByteBuffer in = ByteBuffer.allocate(burst), out = ByteBuffer.wrap(Arrays.copyOf(pattern(false), burst));
        for (int i = 0; i < count; i++) {
            SocketChannel ch = SocketChannel.open(local(port));
            channels.add(ch);
            ch.write(out.rewind());
            for (in.clear(); in.hasRemaining(); ) if (ch.read(in) < 0) throw new EOFException("an idle client was not echoed");
        }
        return channels;
    }

    static long pssKb(long pid) throws IOException {
        long kb = 0;
        List<Long> pids = new ArrayList<>(List.of(pid));
        ProcessHandle.of(pid).ifPresent(p -> p.descendants().forEach(d -> pids.add(d.pid())));
        for (long p : pids) {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/" + p + "/smaps_rollup"))) {
                    if (line.startsWith("Pss:")) kb += Long.parseLong(line.replaceAll("\\D", ""));
                }
            } catch (NoSuchFileException e) {
                // a child that ended meanwhile holds no memory
            }
        }
        return kb;
    }

    // ---- uppercase ----

    static void uppercase() throws Exception {
        byte[] ascii = pattern(true), asciiUpper = ascii.clone();
        for (int i = 0; i < asciiUpper.length; i++) if (asciiUpper[i] >= 'a' && asciiUpper[i] <= 'z') asciiUpper[i] -= 32;
        String growing = "ßŉﬃΐ".repeat(7000);
        byte[] text = growing.getBytes(StandardCharsets.UTF_8), upper = growing.toUpperCase(Locale.ROOT).getBytes(StandardCharsets.UTF_8);
        Target java = server("uppercase", "uppercase", "Uppercase", List.of(), "0"), ceiling = trivialEcho("uppercase");
        List<Target> targets = present(java, cServer("uppercase, C toupper fork-per-client", "uppercase", "toupper-fork", "0"), ceiling);
        try {
            runs(targets, t -> {
                record(t, "bulk ASCII, 1 connection: bytes moved, both ways", "GB/s", 2 * bulk(t, 1, ascii, asciiUpper) / 1e9);
                record(t, "bulk ASCII, 8 connections: bytes moved, both ways", "GB/s", 2 * bulk(t, 8, ascii, asciiUpper) / 1e9);
                messageRoundTrips(t, ascii, asciiUpper);
                firstAnswer(t, ascii, asciiUpper, "hi\n", "HI\n");
            });
            runs(present(java, ceiling), t -> // C's toupper() knows no ß
                    record(t, "upper-casing a stream of ßŉﬃΐ, 1 connection (input)", "MB/s", bulk(t, 1, text, upper) * text.length / upper.length / 1e6));
            runs(targets.stream().filter(t -> t.pid() > 0).toList(), t -> nonReaders(t, 100));
        } finally {
            closeAll(targets);
        }
    }

    // ---- daytime ----

    static void daytime() throws Exception {
        List<Target> targets = present(server("daytime", "daytime", "Daytime", List.of(), "0"),
                cServer("daytime, C iterative", "daytime", "daytime-iterative", "0"), trivialDaytime());
        try {
            runs(targets, t -> record(t, "connections/s, 4 client threads", "/s", daytimes(t.port, 4)));
        } finally {
            closeAll(targets);
        }
    }

    /** Connections a second: each client connects, reads the line to EOF, checks its shape byte by byte. */
    static double daytimes(int port, int threads) throws Exception {
        AtomicLong served = new AtomicLong();
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> clients = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            clients.add(daemon(() -> {
                ByteBuffer line = ByteBuffer.allocateDirect(64);
                while (!stop.get()) {
                    try (SocketChannel ch = SocketChannel.open(local(port))) {
                        line.clear();
                        while (ch.read(line) >= 0) if (!line.hasRemaining()) break;
                    }
                    if (!isDaytime(line.flip())) fail("MISMATCH: not a daytime line: " + StandardCharsets.US_ASCII.decode(line));
                    served.incrementAndGet();
                }
            }));
        }
        try {
            return rate(served::get);
        } finally {
            stop.set(true);
            for (Thread c : clients) c.join();
        }
    }

    /** "Thu Sep 11 12:44:00 2003\r\n", as ctime() prints it. */
    static boolean isDaytime(ByteBuffer b) {
        if (b.remaining() != 26 || b.get(24) != '\r' || b.get(25) != '\n') return false;
        for (int i = 0; i < 24; i++) {
            byte c = b.get(i);
            boolean ok = switch (i) {
                case 3, 7, 10, 19 -> c == ' ';
                case 8 -> c == ' ' || (c >= '0' && c <= '9');
                case 13, 16 -> c == ':';
                case 0, 1, 2, 4, 5, 6 -> Character.isLetter(c);
                default -> c >= '0' && c <= '9';
            };
            if (!ok) return false;
        }
        return true;
    }

    // ---- chat ----

    static void chat() throws Exception {
        Path gcLog = work.resolve("chat-gc.log");
        Target java = server("chat", "chat", "Chat", List.of("-Xlog:gc:file=" + gcLog), "0", "20000");
        List<Target> targets = present(java, cServer("chat, C poll()", "chat", "chat-poll", "0", "20000"), ncat(), trivialChat());
        try {
            runs(targets, t -> {
                fanOut(t, scale.room(), 10, 1, "fan-out, " + scale.room() + " clients, 10 senders flooding");
                fanOut(t, scale.burstRoom(), 4, 16, "burst fan-out, " + scale.burstRoom() + " clients, 4 senders writing 16 lines at a time");
                pacedLatency(t, scale.room(), 1000);
            });
            int thousand = Math.min(1_000, scale.bigRoom());
            for (Target t : targets) { // one at a time: two rooms of 10,000 would pass the descriptor limit
                if (t != java && !t.isCeiling() && !t.name.contains("C poll()")) continue;
                if (thousand < scale.bigRoom() && !t.name.startsWith("ncat")) {
                    runs(List.of(t), target -> sustained(target, thousand));
                    closeAll(new ArrayList<>(BIG_ROOMS.values()));
                    BIG_ROOMS.clear();
                }
                if (t != java && !t.isCeiling()) continue;
                runs(List.of(t), target -> sustained(target, scale.bigRoom()));
                closeAll(new ArrayList<>(BIG_ROOMS.values()));
                BIG_ROOMS.clear();
            }
            runs(List.of(java), t -> beside(t, scale.delayRoom())); // no ceiling: a relay with no fairness would measure its own queue
            runs(List.of(java), t -> { // the C server's blocking send() holds the room on the slow reader: not measured
                for (int flooders : new int[] {1, 3, 5}) besideSlowReader(t, flooders);
            });
            if (given < 0) flooderHeap();
        } finally {
            closeAll(targets);
        }
    }

    /** ncat --chat, where installed: the common tool, measured by the same client. */
    static Target ncat() throws Exception {
        if (given >= 0 || scale == SMOKE) return null;
        if (!onPath("ncat")) {
            note("ncat --chat: not measured, ncat is not installed (apt-get install ncat)");
            return null;
        }
        int port = freePort();
        Path log = work.resolve("ncat.log");
        List<String> command = List.of("ncat", "--listen", "--chat", "--max-conns", "1000", "127.0.0.1", "" + port);
        Target ncat = new Target("ncat --chat", "chat", port, startListening(port, log, command.toArray(String[]::new)), null, log);
        ncat.restart = command;
        ncat.joinWindow = 8;
        return ncat;
    }

    /**
     * Chat clients, read by a few threads with a Selector each. Every line is
     * parsed as bytes: a line that carries "#SENDER.SEQ.NANOTIME" after a prefix
     * ("user 3: ", "<user3> ") is a delivery and its latency is taken; a line
     * with no prefix, or two stamps, is garbled; other lines are the server's
     * notices (greeting, joins, departures).
     */
    static final class Room implements AutoCloseable {
        final List<Member> members = new ArrayList<>();
        final Reader[] readers = new Reader[Math.max(2, CPUS) + 1]; // all but the last read at once: their members' latencies are timed
        final Reader later;                                         // the last reads the others in batches, every 500 ms
        final Target target;
        final int port, timeEvery;
        int timed;

        /** A room whose every `timeEvery`th member has its latencies timed (1: all of them). */
        Room(Target target, int timeEvery) throws Exception {
            target.ensureRunning();
            this.target = target;
            this.port = target.port;
            this.timeEvery = timeEvery;
            for (int i = 0; i < readers.length; i++) (readers[i] = new Reader(i < readers.length - 1 ? 0 : 500)).start();
            later = readers[readers.length - 1];
        }

        Room(Target target) throws Exception {
            this(target, 1);
        }

        boolean isTimed(Member m) {
            return m.id % timeEvery == timeEvery - 1;
        }

        Member join() throws IOException {
            Member m = new Member(members.size(), SocketChannel.open(local(port)));
            m.channel.setOption(StandardSocketOptions.TCP_NODELAY, true); // Nagle would hold a short line for the last one's ACK
            m.channel.configureBlocking(false);
            members.add(m);
            if (isTimed(m)) {
                timed++;
                readers[m.id % (readers.length - 1)].add(m);
            } else {
                later.add(m);
            }
            return m;
        }

        /** A member that never reads, with a small receive buffer. */
        Member joinIdle() throws IOException {
            SocketChannel ch = SocketChannel.open();
            ch.setOption(StandardSocketOptions.SO_RCVBUF, 4096);
            ch.connect(local(port));
            Member m = new Member(members.size(), ch);
            members.add(m);
            return m;
        }

        /**
         * `count` clients join, as fast as they can with no `window`, else with at
         * most `window` of them still waiting for their first line (ncat listens
         * with a backlog of 10: more would wait for SYN retransmits). Then the last
         * one says a line: when every other member has it, every member is in the
         * room and has read every notice sent before it (servers deliver in order).
         */
        List<Member> fill(int count, int window) throws Exception {
            List<Member> joined = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                joined.add(join());
                if (i < window) continue;
                Member earlier = joined.get(i - window);
                for (long deadline = System.nanoTime() + 5_000_000_000L; earlier.lines == 0 && System.nanoTime() < deadline; ) LockSupport.parkNanos(50_000);
            }
            Member last = joined.get(count - 1);
            send(last.channel, Bench.stamped(last.id, 0, 0));
            awaitLines(joined.subList(0, count - 1), 1, 60);
            return joined;
        }

        void awaitLines(List<Member> who, long lines, int seconds) throws Exception {
            long deadline = System.nanoTime() + seconds * 1_000_000_000L;
            for (Member m : who) {
                while (m.stamped < lines) {
                    target.checkAlive();
                    if (System.nanoTime() > deadline) {
                        throw new IOException(who.stream().filter(x -> x.stamped < lines).count() + " of " + who.size() + " clients still waiting for a line after " + seconds + " s");
                    }
                    LockSupport.parkNanos(200_000);
                }
            }
        }

        /** Latency is recorded for lines stamped in [from, to), into fresh histograms, at the timed members. */
        void record(long from, long to) {
            for (Reader r : readers) {
                if (r == later) continue;
                r.histogram = new Histogram();
                r.from = from;
                r.to = to;
            }
        }

        Histogram recorded() {
            Histogram all = new Histogram();
            for (Reader r : readers) all.add(r.histogram);
            return all;
        }

        long delivered() {
            return Arrays.stream(readers).mapToLong(r -> r.delivered).sum();
        }

        long garbled() {
            return Arrays.stream(readers).mapToLong(r -> r.garbled).sum();
        }

        /** Waits until nothing more arrives for `quietMillis` (at most 10 s). */
        void awaitQuiet(int quietMillis) throws InterruptedException {
            long seen = -1, deadline = System.nanoTime() + 10_000_000_000L;
            while (System.nanoTime() < deadline) {
                long now = delivered() + garbled() + Arrays.stream(readers).mapToLong(r -> r.lines).sum();
                if (now == seen) return;
                seen = now;
                Thread.sleep(quietMillis);
            }
        }

        @Override
        public void close() throws IOException {
            for (Reader r : readers) {
                r.interrupt();
                try {
                    r.join(5000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            for (Member m : members) m.channel.close();
            for (Reader r : readers) r.selector.close();
            try {
                Thread.sleep(100); // ncat --chat quits if a newcomer arrives while it still holds clients that left
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    static final class Member {
        final int id;
        final SocketChannel channel;
        volatile long lines;       // every line; written by its reader only
        volatile long stamped;     // intact lines from others
        volatile long stamps;      // '#' received, intact or not: what a flooding sender waits for
        volatile long stampedAt;   // when the last delivery arrived
        final byte[] carry = new byte[8192]; // a line cut by the end of a read (longer ones are cut short)
        final byte[] digits = new byte[SENDER_DIGITS]; // its id as its lines carry it
        int carried;

        Member(int id, SocketChannel channel) {
            this.id = id;
            this.channel = channel;
            put(digits, 0, SENDER_DIGITS, id);
        }
    }

    static final class Reader extends Thread {
        final Selector selector;
        final long pauseMillis;
        final Queue<Member> arriving = new ConcurrentLinkedQueue<>();
        volatile Histogram histogram = new Histogram();
        volatile long from = Long.MAX_VALUE, to = Long.MIN_VALUE;
        volatile long lines, delivered, garbled; // delivered: every stamp that arrived, intact or not

        Reader(long pauseMillis) throws IOException {
            this.pauseMillis = pauseMillis;
            selector = Selector.open();
            setDaemon(true);
        }

        void add(Member m) {
            arriving.add(m);
            selector.wakeup();
        }

        final ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 16);
        final byte[] bytes = new byte[1 << 16];

        @Override
        public void run() {
            try {
                while (!isInterrupted()) {
                    selector.select(this::read); // select(Consumer): no selected-key set to fill and empty
                    for (Member m; (m = arriving.poll()) != null; ) {
                        if (m.channel.isOpen()) m.channel.register(selector, SelectionKey.OP_READ, m);
                    }
                    if (pauseMillis > 0) Thread.sleep(pauseMillis);
                }
            } catch (IOException | ClosedSelectorException | InterruptedException e) {
                // the room was closed
            }
        }

        void read(SelectionKey key) {
            Member m = (Member) key.attachment();
            int n;
            try {
                n = m.channel.read(buffer.clear());
            } catch (IOException e) {
                n = -1; // reset, or closed by the workload: that member is done
            }
            if (n < 0) {
                key.cancel();
                return;
            }
            buffer.flip().get(bytes, 0, n);
            parse(m, bytes, n, System.nanoTime());
        }

        long linesHere, deliveredHere, garbledHere, stampsHere, intactHere; // one read's counts, published after it

        /** Parses one read: its complete lines, then a line cut at the end is carried over to the next read. */
        void parse(Member m, byte[] b, int n, long now) {
            linesHere = deliveredHere = garbledHere = stampsHere = intactHere = 0;
            int i = 0;
            if (m.carried > 0) {
                int nl = indexOf(b, 0, n, (byte) '\n'), take = Math.min(nl < 0 ? n : nl + 1, m.carry.length - m.carried);
                System.arraycopy(b, 0, m.carry, m.carried, take);
                m.carried += take;
                if (nl < 0) return;
                if (m.carry[m.carried - 1] != '\n') m.carry[m.carried - 1] = '\n';
                line(m, m.carry, 0, m.carried - 1, now);
                m.carried = 0;
                i = nl + 1;
            }
            while (i < n) {
                int j = i;
                while (j < n && b[j] != '#' && b[j] != '\n') j++;
                if (j > i && j + STAMP_LENGTH < n && b[j] == '#' && intact(b, j, j + STAMP_LENGTH)) {
                    stamp(m, b, j, now); // the usual line, its digits unread
                    linesHere++;
                    i = j + STAMP_LENGTH + 1;
                    continue;
                }
                int nl = indexOf(b, j, n, (byte) '\n');
                if (nl < 0) {
                    m.carried = Math.min(n - i, m.carry.length);
                    System.arraycopy(b, i, m.carry, 0, m.carried);
                    break;
                }
                line(m, b, i, nl, now);
                i = nl + 1;
            }
            lines += linesHere;
            if (linesHere > 0) m.lines += linesHere;
            if (stampsHere > 0) {
                m.stamps += stampsHere;
                delivered += deliveredHere;
            }
            if (garbledHere > 0) garbled += garbledHere;
            if (intactHere > 0) {
                m.stampedAt = now;
                m.stamped += intactHere;
            }
        }

        /** Any complete line, b[nl] being its '\n': a notice, a stamped line, or a garbled one. */
        void line(Member m, byte[] b, int start, int nl, long now) {
            linesHere++;
            int first = -1, hashes = 0;
            for (int k = start; k < nl; k++) {
                if (b[k] == '#' && hashes++ == 0) first = k;
            }
            if (hashes == 1 && first > start && nl - first == STAMP_LENGTH && intact(b, first, nl)) {
                stamp(m, b, first, now);
            } else if (hashes > 0) {
                stampsHere += hashes;
                deliveredHere += hashes;
                garbledHere++;
            }
        }

        void stamp(Member m, byte[] b, int at, long now) {
            stampsHere++;
            if (isOwn(m, b, at)) return; // a trivial relay sends a client its own lines too
            deliveredHere++;
            intactHere++;
            if (to > from) {
                long stamp = EPOCH + digits(b, at + STAMP_LENGTH - TIME_DIGITS, TIME_DIGITS);
                if (stamp >= from && stamp < to) histogram.add((now - stamp) / 1000);
            }
        }
    }

    /*
     * What Bench's chat clients say: "#SENDER.SEQUENCE.TIME\n", fixed width, TIME
     * in nanoseconds since Bench started. A line that arrives with a prefix, its
     * '\n' where the width puts it and both dots in place is intact; its digits
     * are only read when they are needed.
     */
    static final int SENDER_DIGITS = 5, SEQUENCE_DIGITS = 8, TIME_DIGITS = 14;
    static final int STAMP_LENGTH = 1 + SENDER_DIGITS + 1 + SEQUENCE_DIGITS + 1 + TIME_DIGITS; // from '#' to the '\n'
    static final long EPOCH = System.nanoTime();

    static boolean intact(byte[] b, int hash, int nl) {
        return b[nl] == '\n' && b[hash + 1 + SENDER_DIGITS] == '.' && b[hash + 2 + SENDER_DIGITS + SEQUENCE_DIGITS] == '.';
    }

    static boolean isOwn(Member m, byte[] b, int hash) {
        for (int i = 0; i < SENDER_DIGITS; i++) if (b[hash + 1 + i] != m.digits[i]) return false;
        return true;
    }

    static long digits(byte[] b, int at, int count) {
        long n = 0;
        for (int i = at; i < at + count; i++) n = n * 10 + (b[i] - '0');
        return n;
    }

    static int indexOf(byte[] b, int from, int to, byte wanted) {
        for (int i = from; i < to; i++) if (b[i] == wanted) return i;
        return -1;
    }

    /** Writes one stamped line at `at`; returns where it ends. */
    static int stamped(byte[] out, int at, long sender, long seq, long time) {
        out[at] = '#';
        put(out, at + 1, SENDER_DIGITS, sender);
        out[at + 1 + SENDER_DIGITS] = '.';
        put(out, at + 2 + SENDER_DIGITS, SEQUENCE_DIGITS, seq);
        out[at + 2 + SENDER_DIGITS + SEQUENCE_DIGITS] = '.';
        put(out, at + STAMP_LENGTH - TIME_DIGITS, TIME_DIGITS, Math.max(0, time - EPOCH));
        out[at + STAMP_LENGTH] = '\n';
        return at + STAMP_LENGTH + 1;
    }

    static void put(byte[] out, int at, int count, long value) {
        for (int i = at + count - 1; i >= at; i--, value /= 10) out[i] = (byte) ('0' + value % 10);
    }

    static ByteBuffer stamped(long sender, long seq, long time) {
        byte[] line = new byte[STAMP_LENGTH + 1];
        stamped(line, 0, sender, seq, time);
        return ByteBuffer.wrap(line);
    }

    /** Writes all of it to a non-blocking channel, waiting while the server is behind. */
    static void send(SocketChannel ch, ByteBuffer b) throws IOException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (b.hasRemaining()) {
            if (ch.write(b) > 0) deadline = System.nanoTime() + 30_000_000_000L;
            else if (System.nanoTime() > deadline) throw new IOException("the server read nothing for 30 s");
            else LockSupport.parkNanos(20_000);
        }
    }

    /**
     * Throughput: `senders` members write stamped lines as fast as they are
     * delivered, `perWrite` lines to a write(), with at most IN_FLIGHT lines sent
     * and not yet seen by one receiver (so no backlog piles up in socket buffers);
     * deliveries a second to the others, counted over the window. Then, with the
     * senders stopped, what never arrived intact is counted as lost or garbled
     * (never as time).
     */
    static void fanOut(Target t, int size, int senders, int perWrite, String measure) throws Exception {
        try (Room room = new Room(t)) {
            List<Member> members = room.fill(size, t.joinWindow);
            Member watcher = members.get(senders);
            long base = room.delivered(), garbledBase = room.garbled(), seen = watcher.stamps;
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong sent = new AtomicLong();
            List<Thread> threads = new ArrayList<>();
            for (Member m : members.subList(0, senders)) {
                threads.add(daemon(() -> {
                    byte[] lines = new byte[perWrite * (STAMP_LENGTH + 1)];
                    ByteBuffer out = ByteBuffer.allocateDirect(lines.length); // a heap buffer would be copied to a direct one at every write
                    for (long seq = 1; !stop.get(); ) {
                        awaitProgress(watcher, seen, () -> sent.get() - IN_FLIGHT, stop);
                        long now = System.nanoTime();
                        for (int i = 0, at = 0; i < perWrite; i++) at = stamped(lines, at, m.id, seq++, now);
                        send(m.channel, out.clear().put(lines).flip());
                        sent.addAndGet(perWrite);
                    }
                }));
            }
            double deliveries = rate(() -> room.delivered() - base);
            stop.set(true);
            for (Thread s : threads) s.join();
            awaitProgress(watcher, seen, sent::get, new AtomicBoolean());
            room.awaitQuiet(200);
            record(t, measure, "/s", deliveries);
            Row r = timedRow(t, measure, "/s");
            r.expected += sent.get() * (size - 1);
            r.lost += sent.get() * (size - 1) - (room.delivered() - base);
            r.garbled += room.garbled() - garbledBase;
        }
    }

    static final int IN_FLIGHT = 4096;

    /** Waits until `watcher` has seen `wanted` stamps since `seen`, or nothing has come for 2 s (lines lost must not stall a sender). */
    static void awaitProgress(Member watcher, long seen, LongSupplier wanted, AtomicBoolean stop) {
        long last = -1, since = System.nanoTime();
        for (long got; (got = watcher.stamps - seen) < wanted.getAsLong() && !stop.get(); LockSupport.parkNanos(20_000)) {
            if (got != last) {
                last = got;
                since = System.nanoTime();
            } else if (System.nanoTime() - since > 2_000_000_000L) {
                return;
            }
        }
    }

    /** Open-loop senders: `rate` lines a second in all, each stamped with the time it was due, so a late server is seen late. */
    static Histogram paced(Room room, List<Member> senders, double rate, double seconds) throws Exception {
        long count = Math.max(1, Math.round(rate * seconds)), interval = Math.round(1e9 / rate);
        long start = System.nanoTime() + 50_000_000L, end = start + count * interval; // the senders start before their first line is due
        room.record(start, end);
        List<Thread> threads = new ArrayList<>();
        for (int s = 0; s < senders.size(); s++) {
            int first = s;
            Member m = senders.get(s);
            threads.add(daemon(() -> {
                for (long k = first; k < count; k += senders.size()) {
                    long due = start + k * interval;
                    for (long wait; (wait = due - System.nanoTime()) > 0; ) LockSupport.parkNanos(wait);
                    send(m.channel, stamped(m.id, k, due));
                }
            }));
        }
        for (Thread s : threads) s.join();
        long expected = 0, deadline = System.nanoTime() + 2_000_000_000L;
        for (int s = 0; s < senders.size(); s++) { // each line reaches every timed member but its sender
            long lines = (count - s + senders.size() - 1) / senders.size();
            expected += lines * (room.timed - (room.isTimed(senders.get(s)) ? 1 : 0));
        }
        while (room.recorded().total < expected && System.nanoTime() < deadline) Thread.sleep(5);
        Histogram h = room.recorded();
        h.expected = expected;
        return h;
    }

    /** Delivery latency in a room of `size` with 10 senders paced at `rate` lines a second in all (not a flood: the server keeps up). */
    static void pacedLatency(Target t, int size, double rate) throws Exception {
        try (Room room = new Room(t)) {
            List<Member> members = room.fill(size, t.joinWindow);
            Histogram h = paced(room, members.subList(0, 10), rate, Math.max(scale.window(), scale.minLines() / rate));
            String measure = "delivery latency, " + size + " clients, " + (int) rate + " lines/s paced";
            latency(t, measure + ", p50", h, 0.50);
            latency(t, measure + ", p99", h, 0.99);
        }
    }

    /**
     * The rate a big room sustains: paced senders offer lines at a doubling rate
     * until the p99 delivery latency passes 100 ms; the last rate that kept under
     * it is reported in deliveries a second, with its p99. The p99 is taken over
     * every delivery of a step (each line once per receiver, so far more than
     * 1,000 samples); each step lasts long enough for `minLines` lines, within
     * limits. Later runs start near the rate the last one found.
     */
    static void sustained(Target t, int size) throws Exception {
        Room room = BIG_ROOMS.get(t);
        if (room == null) {
            BIG_ROOMS.put(t, room = new Room(t, Math.max(1, size / 250)));
            room.fill(size, t.joinWindow); // once for all runs: joining is what the storms measure
        }
        List<Member> senders = room.members.subList(0, 4);
        double rate = SUSTAINED_FROM.getOrDefault(t.name + size, 20.0), best = 0, bestP99 = 0, failed = Double.MAX_VALUE, cores = 0, lowestP99 = 0;
        while (rate >= 5 && rate < failed && rate <= (scale == SMOKE ? 200 : 1_000_000)) {
            double seconds = Math.min(4 * scale.window(), Math.max(2 * scale.window(), scale.minLines() / rate));
            long cpu = cpuNanos(), wall = System.nanoTime();
            double p99 = paced(room, senders, rate, seconds).percentile(0.99);
            double used = (cpuNanos() - cpu) / (double) (System.nanoTime() - wall);
            System.err.printf(Locale.ROOT, "        %s: %,.0f lines/s to %,d clients: p99 %.1f ms, Bench used %.2f cores%n", t.name, rate, size, p99 / 1e3, used);
            if (best == 0 || p99 <= 100_000) cores = used;
            lowestP99 = p99;
            if (p99 <= 100_000) {
                best = rate;
                bestP99 = p99;
                rate *= 2;
            } else {
                failed = rate;
                rate /= 2;
                if (best > 0) break;
            }
        }
        SUSTAINED_FROM.put(t.name + size, Math.max(5, best / 2)); // the warm-up run finds it first
        String measure = size + " clients: deliveries/s sustained with p99 latency under 100 ms";
        record(t, measure, "/s", best * (size - 1));
        Row r = timedRow(t, measure, "/s");
        r.clientCores = Math.max(r.clientCores, cores);
        if (best > 0) record(t, "p99 latency at that rate, " + size + " clients", "ms", bestP99 / 1e3);
        else record(t, "p99 latency at 5 lines/s, the lowest rate tried, " + size + " clients", "ms", lowestP99 / 1e3);
    }

    static final Map<String, Double> SUSTAINED_FROM = new HashMap<>();
    static final Map<Target, Room> BIG_ROOMS = new HashMap<>();

    /**
     * Fairness: in a room of `size` that all read, one member floods short lines
     * as fast as the server takes them; another says a line four times a second.
     * How long those lines take to reach everyone.
     */
    static void beside(Target t, int size) throws Exception {
        try (Room room = new Room(t)) {
            List<Member> members = room.fill(size, t.joinWindow);
            Member flooder = members.get(1);
            AtomicBoolean stop = new AtomicBoolean();
            ByteBuffer flood = ByteBuffer.wrap("x\n".repeat(32 * 1024).getBytes(StandardCharsets.US_ASCII));
            Thread flooding = daemon(() -> {
                while (!stop.get()) send(flooder.channel, flood.rewind());
            });
            Thread.sleep(settleMillis());
            Histogram h = paced(room, members.subList(2, 3), 4, scale.delayProbes() / 4.0);
            stop.set(true);
            flooding.join();
            String measure = "a line's delay beside a flooder, room of " + size;
            latency(t, measure + ", median", h, 0.50);
            latency(t, measure + ", worst", h, 1.0);
        }
    }

    /**
     * Fairness beside a slow but steady reader: in a room of 20 that read at once, one more client
     * reads about 150 KB/s in sips (a 4 KiB receive buffer, 15 KB every 0.1 s), `flooders` members
     * send 4,000-byte lines as fast as the server takes them, and another says a line four times a
     * second. How long those lines take to reach the members that read at once, and how many never
     * do. The slow reader may be dropped as too slow: it is the one that cannot keep up.
     */
    static void besideSlowReader(Target t, int flooders) throws Exception {
        try (Room room = new Room(t); SocketChannel slow = SocketChannel.open()) {
            List<Member> members = room.fill(20, t.joinWindow);
            slow.setOption(StandardSocketOptions.SO_RCVBUF, 4096);
            slow.connect(local(room.port));
            AtomicBoolean stop = new AtomicBoolean();
            List<Thread> threads = new ArrayList<>();
            threads.add(daemon(() -> {
                ByteBuffer sip = ByteBuffer.allocate(15_000);
                while (!stop.get() && slow.read(sip.clear()) >= 0) Thread.sleep(100);
            }));
            ByteBuffer lines = ByteBuffer.wrap(("y".repeat(3_999) + "\n").repeat(10).getBytes(StandardCharsets.US_ASCII));
            for (Member flooder : members.subList(1, 1 + flooders)) {
                threads.add(daemon(() -> {
                    ByteBuffer own = lines.duplicate();
                    while (!stop.get()) send(flooder.channel, own.rewind());
                }));
            }
            Thread.sleep(settleMillis());
            Histogram h = paced(room, members.subList(1 + flooders, 2 + flooders), 4, scale.delayProbes() / 4.0);
            stop.set(true);
            slow.close();                                   // ends a sip that waits for more
            for (Thread thread : threads) thread.join();
            String measure = "a line's delay beside a slow steady reader and " + flooders + (flooders == 1 ? " flooder" : " flooders");
            latency(t, measure + ", median", h, 0.50);
            latency(t, measure + ", worst", h, 1.0);
        }
    }

    /**
     * The output cap under attack: 200 members never read while one floods short
     * lines into a server with a 256 MiB heap; the largest heap left after a
     * garbage collection, from the server's own GC log (-Xlog:gc). A young
     * generation of 16 MiB makes collections, and so readings, frequent; one
     * more is asked for (jcmd GC.run) once the flood has been handled.
     */
    static void flooderHeap() throws Exception {
        Path gcLog = work.resolve("chat-flood-gc.log");
        Target chat = server("chat", "chat", "Chat", List.of("-Xmx256m", "-Xmn16m", "-Xlog:gc:file=" + gcLog), "0", "20000");
        try {
            runs(List.of(chat), t -> {
                long offset = Files.exists(gcLog) ? Files.size(gcLog) : 0;
                try (Room room = new Room(t)) {
                    Member observer = room.join();
                    for (int i = 0; i < scale.nonReaders(); i++) room.joinIdle();
                    Member flooder = room.join();
                    send(flooder.channel, stamped(flooder.id, 0, 0));
                    room.awaitLines(List.of(observer), 1, 60);
                    ByteBuffer flood = ByteBuffer.wrap("x\n".repeat(32 * 1024).getBytes(StandardCharsets.US_ASCII));
                    for (long lines = 0; lines < scale.floodLines(); lines += 32 * 1024) send(flooder.channel, flood.rewind());
                    send(flooder.channel, stamped(flooder.id, 1, 0));
                    room.awaitLines(List.of(observer), 2, 120); // every line flooded has been handled
                    collectGarbage(t);
                    record(t, "heap after a collection, at most, " + scale.nonReaders() + " never reading, one flooding "
                            + String.format(Locale.ROOT, "%,d", scale.floodLines()) + " lines, -Xmx256m (GC log)", "MB", heapAfterGc(gcLog, offset));
                }
            });
        } finally {
            chat.close();
        }
    }

    static void collectGarbage(Target t) throws Exception {
        exec(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(), "" + t.pid(), "GC.run");
    }

    /** The largest heap left after a collection in the GC log, from `offset` on, in MB. */
    static double heapAfterGc(Path gcLog, long offset) throws IOException {
        String text;
        try (RandomAccessFile f = new RandomAccessFile(gcLog.toFile(), "r")) {
            byte[] b = new byte[(int) (f.length() - offset)];
            f.seek(offset);
            f.readFully(b);
            text = new String(b, StandardCharsets.US_ASCII);
        }
        Matcher m = Pattern.compile("\\d+[KMG]->(\\d+)([KMG])\\(").matcher(text);
        double most = -1;
        while (m.find()) most = Math.max(most, Long.parseLong(m.group(1)) * switch (m.group(2)) { case "K" -> 1 / 1024.0; case "G" -> 1024.0; default -> 1.0; });
        if (most < 0) throw new IOException("no garbage collection in the GC log during the run");
        return most;
    }

    /** Records a quantile in ms; one that fell on lines that never arrived intact is a note, not a number. */
    static void latency(Target t, String measure, Histogram h, double q) {
        double micros = h.percentile(q);
        if (Double.isFinite(micros)) record(t, measure, "ms", micros / 1e3);
        else timedRow(t, measure, "ms").neverArrived = Math.max(timedRow(t, measure, "ms").neverArrived, 1 - h.total / (double) h.expected);
    }

    /** Latencies in microseconds, in buckets about 1.5% wide. */
    static final class Histogram {
        final long[] counts = new long[128 + 57 * 64];
        long total, expected;

        void add(long micros) {
            counts[index(Math.max(0, micros))]++;
            total++;
        }

        void add(Histogram other) {
            for (int i = 0; i < counts.length; i++) counts[i] += other.counts[i];
            total += other.total;
        }

        static int index(long v) {
            if (v < 128) return (int) v;
            int top = 63 - Long.numberOfLeadingZeros(v);
            return 128 + (top - 7) * 64 + (int) ((v >>> (top - 6)) & 63);
        }

        static long value(int i) {
            if (i < 128) return i;
            int top = 7 + (i - 128) / 64;
            return (64L + (i - 128) % 64) << (top - 6);
        }

        /** The q-quantile of all that was expected: what never arrived counts as later than everything. */
        double percentile(double q) {
            long rank = Math.max(1, (long) Math.ceil(q * Math.max(expected, total))), seen = 0;
            for (int i = 0; i < counts.length; i++) if ((seen += counts[i]) >= rank) return value(i);
            return Double.POSITIVE_INFINITY;
        }
    }

    // ---- chat storms ----

    /**
     * N clients join as fast as they can: the time until every one of them has
     * every notice sent before the last one's line. Then they all leave at once:
     * the time until a fresh client's line reaches another fresh client.
     */
    static void storms() throws Exception {
        Path gcLog = work.resolve("chat-storms-gc.log");
        Target java = server("chat", "chat", "Chat", List.of("-Xlog:gc:file=" + gcLog), "0", "20000");
        List<Target> targets = present(java, trivialChat());
        int[] sizes = scale.storms();
        Map<Target, Integer> failedAt = new HashMap<>(); // a storm that did not finish is not tried again, nor a bigger one
        try {
            runs(targets, t -> {
                for (int n : warming ? new int[] {sizes[0]} : sizes) {
                    if (n >= failedAt.getOrDefault(t, Integer.MAX_VALUE)) {
                        timedRow(t, "join storm, " + n + " clients", "s").notes.add("not run after a storm of " + failedAt.get(t) + " did not finish");
                        continue;
                    }
                    long offset = t == java && Files.exists(gcLog) ? Files.size(gcLog) : 0;
                    boolean heap = t == java && n == sizes[sizes.length - 1] && given < 0;
                    try {
                        storm(t, n, heap);
                    } catch (IOException e) {
                        failedAt.put(t, n);
                        throw e;
                    }
                    if (heap) record(t, "heap after a collection, at most, " + n + "-client join and leave storm (GC log)", "MB", heapAfterGc(gcLog, offset));
                }
            });
        } finally {
            closeAll(targets);
        }
        if (scale != FULL || given >= 0) return;
        List<Target> peers = present(cServer("chat, C poll()", "chat", "chat-poll", "0", "20000"), ncat());
        try {
            runs(peers, false, 1, t -> storm(t, 1000, false)); // one run: ncat takes over a minute
        } finally {
            closeAll(peers);
        }
        for (Target t : peers) {
            for (int n : sizes) {
                if (n <= 1000) continue;
                row(t, "join storm, " + n + " clients", "s").notes.add(t.name.startsWith("ncat")
                        ? "cannot run: ncat --chat holds at most about 1,000 clients (it uses select())"
                        : "not run: every notice is a blocking send() to each client in turn, as in the article, so storms this size take minutes");
            }
        }
        peers.stream().filter(t -> t.name.startsWith("ncat")).forEach(t -> row(t, "join storm, 1000 clients", "s").notes.add(
                "ncat listens with a backlog of 10: the storm's connects wait for SYN retransmits (1 s)"));
    }

    /** A join storm and a leave storm of `n` clients; with `peakGc`, a garbage collection between them, when the room is fullest. */
    static void storm(Target t, int n, boolean peakGc) throws Exception {
        try (Room room = new Room(t)) {
            long start = System.nanoTime();
            List<Member> members = room.fill(n, Integer.MAX_VALUE);
            long joined = members.stream().mapToLong(m -> m.stampedAt).max().orElseThrow();
            record(t, "join storm, " + n + " clients", "s", (joined - start) / 1e9);
            if (peakGc) collectGarbage(t);
            start = System.nanoTime();
            for (Member m : members) m.channel.close();
            for (Reader r : room.readers) r.selector.wakeup(); // the channels' descriptors close at their next select()
            Member listener = room.join(), speaker = room.join();
            send(speaker.channel, stamped(speaker.id, 1, System.nanoTime()));
            room.awaitLines(List.of(listener), 1, 60);
            record(t, "leave storm, " + n + " clients: a fresh client's line reaches another", "ms", (listener.stampedAt - start) / 1e6);
        }
        Thread.sleep(200); // let the server finish with the departures before the next storm
    }

    // ---- start-up: one JVM per connection ----

    /**
     * What a user of inetd feels: systemd-socket-activate --inetd -a starts one
     * echo JVM per connection; the time from connect to the first byte echoed,
     * compiled (java -cp) against the source launcher, with cat(1) under the same
     * tool for scale. Also the time from launch to the ready line, cold.
     */
    static void startup() throws Exception {
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

    // ---- trivial servers inside Bench: the client's ceiling ----

    static final String CEILING = "client ceiling";
    static volatile int trivialCpu = -1; // round trips pin the trivial echo's threads as they would a server

    /** Echo with a platform thread per connection and 256 KiB direct buffers: nothing a client could do faster with. */
    static Target trivialEcho(String group) throws IOException {
        return trivial(group, listener -> {
            while (true) {
                SocketChannel ch = listener.accept();
                daemon(() -> {
                    if (trivialCpu >= 0) pinThisThread(trivialCpu);
                    try (ch) {
                        quietly(() -> {
                            ByteBuffer b = ByteBuffer.allocateDirect(256 << 10);
                            while (ch.read(b.clear()) > 0) for (b.flip(); b.hasRemaining(); ) ch.write(b);
                        });
                    }
                });
            }
        });
    }

    /** Daytime that writes one fixed line and closes, from two threads: a client faster than one would still show. */
    static Target trivialDaytime() throws IOException {
        return trivial("daytime", listener -> {
            Serving serving = l -> {
                ByteBuffer line = ByteBuffer.wrap("Sun Nov 22 03:39:18 2026\r\n".getBytes(StandardCharsets.US_ASCII));
                while (true) {
                    try (SocketChannel ch = l.accept()) {
                        quietly(() -> ch.write(line.rewind()));
                    }
                }
            };
            daemon(() -> serving.serve(listener));
            serving.serve(listener);
        });
    }

    /**
     * A chat relay with nothing to spare: one thread, one Selector; all that one
     * round brings (lines, each prefixed, and join and leave notices) goes to
     * every member as one buffer, senders included (Bench skips its own lines).
     */
    static Target trivialChat() throws Exception {
        if (given >= 0) return null;
        List<String> command = List.of(java(), "-cp", compiled("bench", "Bench").toString(), "Bench", "--relay");
        return started(CEILING, "chat", command); // a JVM of its own, so that 10,000 clients and the relay's 10,000 fit the descriptor limit
    }

    /** Serves as the trivial chat relay (Bench --relay), printing the ready line as the servers do. */
    static void relay() throws Exception {
        ServerSocketChannel listener = ServerSocketChannel.open().bind(local(0), 4096);
        System.out.println("listening on " + listener.getLocalAddress().toString().replaceFirst("^/", ""));
        serveRelay(listener);
    }

    static void serveRelay(ServerSocketChannel listener) throws Exception {
        {
            Selector selector = Selector.open();
            listener.configureBlocking(false).register(selector, SelectionKey.OP_ACCEPT);
            ByteBuffer in = ByteBuffer.allocateDirect(1 << 16), round = ByteBuffer.allocateDirect(16 << 20);
            byte[] bytes = new byte[1 << 16];
            Set<SocketChannel> members = new LinkedHashSet<>();
            long next = 1;
            while (listener.isOpen()) {
                selector.select(100);
                for (SelectionKey key : selector.selectedKeys()) {
                    if (round.remaining() < 1 << 20) relay(round, members);
                    if (key.isAcceptable()) {
                        for (SocketChannel ch; (ch = listener.accept()) != null; next++) {
                            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                            ch.configureBlocking(false).register(selector, SelectionKey.OP_READ, new Relayed(next));
                            members.add(ch);
                            writeFully(ch, ByteBuffer.wrap("welcome\n".getBytes(StandardCharsets.US_ASCII)));
                            round.put(("user " + next + " joined the chat room\n").getBytes(StandardCharsets.US_ASCII));
                        }
                        continue;
                    }
                    SocketChannel ch = (SocketChannel) key.channel();
                    Relayed from = (Relayed) key.attachment();
                    int n;
                    try {
                        n = ch.read(in.clear());
                    } catch (IOException e) {
                        n = -1;
                    }
                    if (n < 0) {
                        members.remove(ch);
                        key.cancel();
                        ch.close();
                        round.put(("user " + from.number + " disconnected\n").getBytes(StandardCharsets.US_ASCII));
                        continue;
                    }
                    in.flip().get(bytes, 0, n);
                    int start = 0;
                    for (int i = 0; i < n; i++) {
                        if (bytes[i] != '\n') continue;
                        round.put(from.prefix).put(from.partial.flip()).put(bytes, start, i + 1 - start);
                        from.partial.clear();
                        start = i + 1;
                    }
                    from.partial.put(bytes, start, Math.min(n - start, from.partial.remaining())); // a long line is cut: Bench sends none
                }
                selector.selectedKeys().clear();
                relay(round, members);
            }
            selector.close();
            closeAll(new ArrayList<>(members));
        }
    }

    static final class Relayed {
        final long number;
        final byte[] prefix;
        final ByteBuffer partial = ByteBuffer.allocate(4096);

        Relayed(long number) {
            this.number = number;
            this.prefix = ("user " + number + ": ").getBytes(StandardCharsets.US_ASCII);
        }
    }

    static void relay(ByteBuffer round, Set<SocketChannel> members) {
        if (round.position() == 0) return;
        round.flip();
        for (SocketChannel ch : members) {
            try {
                writeFully(ch, round.rewind());
            } catch (IOException e) {
                // a member that left: its EOF is read in the next round
            }
        }
        round.clear();
    }

    static void writeFully(SocketChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) if (ch.write(b) == 0) Thread.onSpinWait();
    }

    interface Serving {
        void serve(ServerSocketChannel listener) throws Exception;
    }

    static Target trivial(String group, Serving body) throws IOException {
        if (given >= 0) return null;
        ServerSocketChannel listener = ServerSocketChannel.open().bind(local(0), 4096);
        daemon(() -> {
            try {
                body.serve(listener);
            } catch (ClosedChannelException | ClosedSelectorException e) {
                // closed at the end of the workload
            }
        });
        return new Target(CEILING, group, ((InetSocketAddress) listener.getLocalAddress()).getPort(), null, listener, null);
    }

    // ---- small things ----

    interface IoWork {
        void run() throws Exception;
    }

    static Thread daemon(IoWork body) {
        Thread t = new Thread(() -> {
            try {
                body.run();
            } catch (ClosedChannelException | ClosedSelectorException e) {
                // closed by the workload, which is done with it
            } catch (Exception e) {
                System.err.println("bench: " + e);
            }
        });
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** Runs `body`; an IOException ends it quietly (a client that resets or closes is how a workload ends). */
    static void quietly(IoWork body) throws Exception {
        try {
            body.run();
        } catch (IOException e) {
            // the connection is over
        }
    }

    /** What `count` gains per second over one window, after a settling time. */
    static double rate(LongSupplier count) throws InterruptedException {
        return rate(count, scale.window());
    }

    static double rate(LongSupplier count, double seconds) throws InterruptedException {
        Thread.sleep(settleMillis());
        long c0 = count.getAsLong(), t0 = System.nanoTime();
        Thread.sleep(Math.round(seconds * 1000));
        long c1 = count.getAsLong(), t1 = System.nanoTime();
        return (c1 - c0) / ((t1 - t0) / 1e9);
    }

    static long cpuNanos() {
        return ProcessHandle.current().info().totalCpuDuration().map(java.time.Duration::toNanos).orElse(0L);
    }

    static long settleMillis() {
        return Math.max(50, Math.round(scale.window() * 200));
    }

    static InetSocketAddress local(int port) {
        return new InetSocketAddress("127.0.0.1", port);
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    static String exec(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) throw new IOException(String.join(" ", command) + ": " + out.strip());
        return out;
    }

    static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (Files.isExecutable(Path.of(dir, tool))) return true;
        }
        return false;
    }

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
