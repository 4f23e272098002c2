package harness;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.ToolProvider;

/**
 * One of the collection's programs, running as a real process from the project
 * root with the JDK that runs the tests: compiled once per test run with
 * {@code javac --release 17} and started as {@code java -cp <classes> <Name> <args>}
 * ({@link #of}; a package of several files, {@link #ofPackage}; for another user, from a
 * copy any user can read, {@link #forAnyUser}),
 * or exactly as a user starts it, {@code java <dir>/<Name>.java <args>},
 * through the source launcher ({@link #source}), which compiles it at every start.
 * Everything it prints on stdout and stderr is kept as lines, so tests can wait for
 * a line and assert on logs. {@link #close()} always destroys the process and its children.
 *
 * <pre>
 * try (Program echo = Program.of("echo/Echo.java").start("0")) {
 *     Socket s = Net.connect(echo.port());
 * }
 * </pre>
 */
public final class Program implements AutoCloseable {
    /** How long a program may take to start: the source launcher compiles it first, on a loaded machine. */
    public static final Duration START = Duration.ofSeconds(60);
    private static final Pattern LISTENING = Pattern.compile("^listening on (.+):(\\d+)$");

    public static Path root() {
        return Path.of(System.getProperty("project.root", "..")).toAbsolutePath().normalize();
    }

    /** The java launcher of the JDK running these tests. */
    public static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** A program to start in its compiled form: its source file relative to the project root. */
    public static Builder of(String sourceFile) {
        return new Builder(sourceFile, compiled(sourceFile));
    }

    /** A program to start as users do, {@code java <dir>/<Name>.java}: the source launcher. */
    public static Builder source(String sourceFile) {
        return new Builder(sourceFile, List.of(sourceFile));
    }

    private static final Map<String, List<String>> COMPILED = new HashMap<>();

    /**
     * {@code -cp <classes> <Name>} for a program compiled with {@code javac --release 17} into
     * test/target/programs/<dir>, once per test run: the source launcher would compile it at
     * every start, which costs most of a second.
     */
    public static synchronized List<String> compiled(String sourceFile) {
        return COMPILED.computeIfAbsent(sourceFile, file -> {
            Path source = root().resolve(file);
            Path classes = root().resolve("test/target/programs").resolve(source.getParent().getFileName());
            ByteArrayOutputStream errors = new ByteArrayOutputStream();
            int status = ToolProvider.getSystemJavaCompiler().run(null, errors, errors,
                    "--release", "17", "-d", classes.toString(), source.toString());
            if (status != 0) throw new AssertionError("javac " + file + " failed:\n" + errors);
            String name = source.getFileName().toString().replaceFirst("\\.java$", "");
            return List.of("-cp", classes.toString(), name);
        });
    }

    /**
     * A program of several files, the package in {@code dir} (bench/): every source there compiled
     * with {@code javac --release 17} into test/target/programs/<dir>, once per test run, as
     * {@code make bench} compiles it into build/, and started as {@code java -cp <classes> <dir>.<main>}.
     */
    public static Builder ofPackage(String dir, String main) {
        return new Builder(dir, compiledPackage(dir, main));
    }

    private static synchronized List<String> compiledPackage(String dir, String main) {
        return COMPILED.computeIfAbsent(dir + "/", d -> {
            Path classes = root().resolve("test/target/programs").resolve(dir);
            List<String> arguments = new ArrayList<>(List.of("--release", "17", "-d", classes.toString()));
            try (var files = Files.list(root().resolve(dir))) {
                files.filter(f -> f.toString().endsWith(".java")).sorted().forEach(f -> arguments.add(f.toString()));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            ByteArrayOutputStream errors = new ByteArrayOutputStream();
            int status = ToolProvider.getSystemJavaCompiler().run(null, errors, errors, arguments.toArray(String[]::new));
            if (status != 0) throw new AssertionError("javac " + dir + "/*.java failed:\n" + errors);
            return List.of("-cp", classes.toString(), dir + "." + main);
        });
    }

    private static final Map<String, Path> COPIED = new HashMap<>();

    /**
     * A program to start as another user ({@code setpriv --reuid=nobody}) in its compiled form, from
     * a copy every user can read, started there: the checkout may be readable by its owner alone (a
     * clone in /root, mode 700), and test/target/programs with it. The copy goes when the tests end.
     */
    public static synchronized Builder forAnyUser(String sourceFile) {
        List<String> compiled = compiled(sourceFile); // -cp <classes> <Name>
        Path copy = COPIED.computeIfAbsent(sourceFile, file -> readableCopy(Path.of(compiled.get(1))));
        Builder builder = new Builder(sourceFile, List.of("-cp", copy.toString(), compiled.get(2)));
        builder.directory = copy;
        return builder;
    }

    private static Path readableCopy(Path classes) {
        try {
            Path copy = Files.createTempDirectory("programs-");
            Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rwxr-xr-x"));
            copy.toFile().deleteOnExit(); // after the files below: the JVM deletes in reverse order
            try (var files = Files.list(classes)) {
                for (Path file : (Iterable<Path>) files::iterator) {
                    Path to = Files.copy(file, copy.resolve(file.getFileName()));
                    Files.setPosixFilePermissions(to, PosixFilePermissions.fromString("rw-r--r--"));
                    to.toFile().deleteOnExit();
                }
            }
            return copy;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static final class Builder {
        private final List<String> program;
        private final List<String> wrapper = new ArrayList<>();
        private final List<String> jvmOptions = new ArrayList<>();
        private Path directory = root();
        private boolean stderrUnread;

        private Builder(String sourceFile, List<String> program) {
            if (!Files.exists(root().resolve(sourceFile))) throw new IllegalArgumentException("no such program: " + sourceFile);
            this.program = program;
        }

        /** JVM options before the source file, e.g. {@code -Duser.timezone=UTC} or {@code -Xmx64m}. */
        public Builder jvm(String... options) {
            jvmOptions.addAll(List.of(options));
            return this;
        }

        /** A command that runs java, e.g. {@code prlimit --nofile=64:64} or {@code unshare -n}. */
        public Builder wrappedIn(String... command) {
            wrapper.addAll(List.of(command));
            return this;
        }

        public List<String> command(String... args) {
            List<String> command = new ArrayList<>(wrapper);
            if (SIGINT_IGNORED) command.addAll(0, List.of("env", "--default-signal=INT")); // as in a terminal
            command.add(java());
            command.addAll(jvmOptions);
            command.addAll(program);
            command.addAll(List.of(args));
            return command;
        }

        /**
         * Leaves the program's stderr unread, as a log nobody reads (a pipe into a pager left open,
         * a stalled collector): once the pipe is full, every write to it blocks. See {@link #readStderr()}.
         */
        public Builder stderrUnread() {
            stderrUnread = true;
            return this;
        }

        /** Starts the program and waits for its {@code listening on} line. */
        public Program start(String... args) {
            Program program = launch(args);
            try {
                program.awaitListening();
            } catch (RuntimeException | Error e) {
                program.close();
                throw e;
            }
            return program;
        }

        /** Starts the program without waiting for anything. */
        public Program launch(String... args) {
            try {
                Process process = new ProcessBuilder(command(args)).directory(directory.toFile()).start();
                process.getOutputStream().close(); // stdin: nothing to read, as under nohup
                Program program = new Program(process, String.join(" ", command(args)));
                if (!stderrUnread) program.readStderr();
                return program;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        /** Runs the program to its end (at most {@code limit}); for clients and bad starts. */
        public Program run(Duration limit, String... args) {
            Program program = launch(args);
            try {
                program.exitCode(limit);
            } catch (RuntimeException | Error e) {
                program.close(); // it outlived its limit: it must not outlive the test
                throw e;
            }
            return program;
        }
    }

    /**
     * Whether the tests themselves ignore SIGINT, as a job a script starts in the background does
     * ({@code make test &}, nohup): children inherit that, and the JVM then leaves SIGINT ignored,
     * so Ctrl-C would not reach a program, as it does for a user at a terminal.
     */
    static final boolean SIGINT_IGNORED = ignores(2);

    /** Whether this process ignores a signal, from the SigIgn mask in /proc/self/status (Linux). */
    static boolean ignores(int signal) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("SigIgn:")) return (Long.parseLong(line.substring(7).trim(), 16) >> (signal - 1) & 1) != 0;
            }
        } catch (IOException e) {
            // not Linux: nothing to restore
        }
        return false;
    }

    private final Process process;
    private final String commandLine;
    private final List<String> out = new ArrayList<>();
    private final List<String> err = new ArrayList<>();
    private final Thread outReader;
    private Thread errReader;
    private int port = -1;

    private Program(Process process, String commandLine) {
        this.process = process;
        this.commandLine = commandLine;
        this.outReader = collect(process.getInputStream(), out, "stdout");
    }

    /** Starts reading stderr, for a program started with {@link Builder#stderrUnread()}. */
    public synchronized void readStderr() {
        if (errReader == null) errReader = collect(process.getErrorStream(), err, "stderr");
    }

    private Thread collect(InputStream stream, List<String> lines, String name) {
        Thread t = new Thread(() -> {
            try (var reader = new BufferedReader(new InputStreamReader(stream, StandardCharsets.UTF_8))) {
                for (String line; (line = reader.readLine()) != null; ) {
                    synchronized (this) {
                        lines.add(line);
                        notifyAll();
                    }
                }
            } catch (IOException e) {
                // The process was destroyed while we read: its output ends here.
            }
        }, name + " of " + process.pid());
        t.setDaemon(true);
        t.start();
        return t;
    }

    private void awaitListening() {
        takePort(awaitStdout(l -> LISTENING.matcher(l).matches(), START));
    }

    /** Waits for the {@code listening on} line on stderr, where it goes under socket activation. */
    public Program awaitListeningOnStderr() {
        takePort(awaitStderr(l -> LISTENING.matcher(l).matches(), START));
        return this;
    }

    private void takePort(String line) {
        Matcher m = LISTENING.matcher(line);
        if (!m.matches()) throw new AssertionError(line);
        port = Integer.parseInt(m.group(2));
    }

    /** The port from the {@code listening on} line. */
    public int port() {
        if (port < 0) throw new IllegalStateException("no listening line seen from " + commandLine);
        return port;
    }

    public long pid() {
        return process.pid();
    }

    public Process process() {
        return process;
    }

    public synchronized List<String> stdout() {
        return List.copyOf(out);
    }

    public synchronized List<String> stderr() {
        return List.copyOf(err);
    }

    /** Waits for a stdout line that matches, and returns it; fails with all output after {@code limit}. */
    public String awaitStdout(Predicate<String> match, Duration limit) {
        return await(out, match, limit, "stdout");
    }

    /** Waits for a stderr line that matches, and returns it; fails with all output after {@code limit}. */
    public String awaitStderr(Predicate<String> match, Duration limit) {
        return await(err, match, limit, "stderr");
    }

    /** Waits for a stderr line that contains {@code text}. */
    public String awaitLog(String text) {
        return awaitStderr(l -> l.contains(text), Duration.ofSeconds(20));
    }

    private synchronized String await(List<String> lines, Predicate<String> match, Duration limit, String name) {
        long deadline = System.nanoTime() + limit.toNanos();
        int seen = 0;
        while (true) {
            for (; seen < lines.size(); seen++) if (match.test(lines.get(seen))) return lines.get(seen);
            long left = deadline - System.nanoTime();
            boolean ended = !process.isAlive() && !outReader.isAlive() && (errReader == null || !errReader.isAlive());
            if (left <= 0 || ended) {
                throw new AssertionError("no matching line on " + name + (ended ? " before the program ended" : " within " + limit)
                        + "\n" + describe());
            }
            try {
                wait(Math.max(1, Math.min(TimeUnit.NANOSECONDS.toMillis(left), 100)));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted", e);
            }
        }
    }

    /** Waits for the program to end, and returns its exit code (with all output collected). */
    public int exitCode(Duration limit) {
        try {
            if (!process.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new AssertionError("still running after " + limit + "\n" + describe());
            }
            outReader.join(limit.toMillis());
            if (errReader != null) errReader.join(limit.toMillis());
            return process.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    /** The command, and everything the program printed so far: for failure messages. */
    public synchronized String describe() {
        return "$ " + commandLine + "\n--- stdout ---\n" + String.join("\n", out) + "\n--- stderr ---\n" + String.join("\n", err);
    }

    /** Sends a signal to the program itself (not to a wrapper), e.g. {@code TERM} or {@code INT}. */
    public void signal(String name) {
        try {
            Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(javaPid())).inheritIO().start();
            if (kill.waitFor() != 0) throw new AssertionError("kill -" + name + " failed");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The pid of the JVM running the program: the process itself, or the java below a wrapper. */
    public long javaPid() {
        if (process.info().command().orElse("").endsWith("/java")) return process.pid();
        return process.descendants()
                .filter(p -> p.info().command().orElse("").endsWith("/java"))
                .mapToLong(ProcessHandle::pid)
                .findFirst()
                .orElse(process.pid());
    }

    @Override
    public void close() {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        try {
            process.waitFor(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
