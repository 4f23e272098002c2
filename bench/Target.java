/*
 * Target: something a workload measures (a server, a peer, or a trivial server that
 * measures the client's ceiling), and how each is started: the collection's servers
 * compiled once into the work directory, the C servers in bench/c/, and tools that
 * print no ready line (ncat, iperf3).
 * SPDX-License-Identifier: MIT-0
 */
package bench;

import static bench.Bench.given;
import static bench.Bench.scale;
import static bench.Bench.work;
import static bench.Scale.SMOKE;
import static bench.Table.RESTARTS;
import static bench.Table.note;
import static bench.Trivial.CEILING;
import static bench.Util.daemon;
import static bench.Util.onPath;
import static bench.Util.quietly;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Something to measure: a server, a peer, or a trivial server (then it measures the client's ceiling). */
final class Target implements AutoCloseable {
    final String name, group;
    final int port;
    final Closeable inside;
    final Path log;
    Process process;
    List<String> command; // how it was started, to start it again on one CPU
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
        return started(name, group, command, name);
    }

    static Target started(String name, String group, List<String> command, String logName) throws Exception {
        Path log = work.resolve(logName.replaceAll("\\W+", "-") + ".log");
        Process process = new ProcessBuilder(command).redirectError(log.toFile()).start();
        Target t = new Target(name, group, listeningPort(process, log), process, null, log);
        t.command = command;
        return t;
    }

    /**
     * The same server started again with taskset on CPU 0 alone, for timing requests on one CPU;
     * the target itself where it cannot be (a trivial server, a --port). Pinning a server that is
     * running would not do: a JVM sizes its virtual-thread scheduler for the CPUs it has at start,
     * and JDK 25, sized for two and given one, wakes a second carrier thread that has no CPU to run
     * on for each request (42 µs a 1 KiB request, 17 µs when started on the one CPU).
     */
    Target onCpu0() throws Exception {
        if (command == null || !Bench.TASKSET) return this;
        List<String> pinned = new ArrayList<>(List.of("taskset", "-c", "0"));
        pinned.addAll(command);
        return started(name, group, pinned, name + " on CPU 0");
    }

    /** Each target and its copy on CPU 0 (itself where there is none). */
    static Map<Target, Target> onCpu0(List<Target> targets) throws Exception {
        Map<Target, Target> copies = new HashMap<>();
        for (Target t : targets) copies.put(t, t.onCpu0());
        return copies;
    }

    static List<Target> copies(Map<Target, Target> onCpu0) {
        return onCpu0.entrySet().stream().filter(e -> e.getKey() != e.getValue()).map(Map.Entry::getValue).toList();
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

    static List<Target> present(Target... targets) {
        List<Target> list = new ArrayList<>();
        for (Target t : targets) if (t != null) list.add(t);
        return list;
    }
}
