package harness;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * An interactive program on a pseudo-terminal, as a user runs it in a terminal window:
 * util-linux {@code script} allocates the pty, so the program's terminal does what a real
 * one does (line editing, echo, Ctrl-C as SIGINT). Keys go in with {@link #type}; the
 * screen is everything the terminal showed, and tests wait for text on it.
 *
 * <pre>
 * Pty.assumeInstalled("telnet");
 * try (Pty telnet = Pty.run("telnet", "-E", "127.0.0.1", "9040")) { // -E: no escape key, see ChatTelnetTest
 *     telnet.type("hello\n");
 *     telnet.awaitScreen("user 1: hi");
 * }
 * </pre>
 */
public final class Pty implements AutoCloseable {
    private final Process process;
    private final OutputStream keys;
    private final ByteArrayOutputStream screen = new ByteArrayOutputStream();

    /** Skips the test, saying why, unless {@code tool} and util-linux {@code script} are installed. */
    public static void assumeInstalled(String tool) {
        assumeTrue(Net.onPath("script"), "needs script (util-linux) to run " + tool + " on a pseudo-terminal");
        assumeTrue(Net.onPath(tool), "needs " + tool + " installed (Debian: apt-get install " + tool + ")");
    }

    /** Starts {@code command} on a fresh pseudo-terminal, in a UTF-8 locale. */
    public static Pty run(String... command) {
        return new Pty(command);
    }

    private Pty(String... command) {
        ProcessBuilder builder = new ProcessBuilder("script", "-qfc", String.join(" ", command), "/dev/null");
        builder.environment().put("LC_ALL", "C.UTF-8");
        builder.environment().put("TERM", "dumb");
        builder.redirectErrorStream(true);
        try {
            process = builder.start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        keys = process.getOutputStream();
        Thread reader = new Thread(() -> copyScreen(process.getInputStream()), "screen of " + List.of(command));
        reader.setDaemon(true);
        reader.start();
    }

    private void copyScreen(InputStream terminal) {
        byte[] buffer = new byte[8192];
        try {
            for (int n; (n = terminal.read(buffer)) != -1; ) {
                synchronized (this) {
                    screen.write(buffer, 0, n);
                    notifyAll();
                }
            }
        } catch (IOException e) {
            // the program ended or was destroyed: the screen stays as it was
        }
    }

    /** Types {@code text} (UTF-8) on the keyboard: "\n" is Enter, "\u0003" is Ctrl-C. */
    public void type(String text) {
        try {
            keys.write(text.getBytes(StandardCharsets.UTF_8));
            keys.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Everything the terminal has shown so far, as UTF-8 text. */
    public synchronized String screen() {
        return screen.toString(StandardCharsets.UTF_8);
    }

    /** Waits until the screen shows {@code text}; fails with the whole screen after 20 s. */
    public synchronized void awaitScreen(String text) {
        long deadline = System.nanoTime() + Duration.ofMillis(Net.READ_TIMEOUT_MS).toNanos();
        while (!screen().contains(text)) {
            long left = deadline - System.nanoTime();
            if (left <= 0 || !process.isAlive() && !screen().contains(text)) {
                throw new AssertionError("the screen never showed " + text + "\n--- screen ---\n" + screen());
            }
            try {
                wait(Math.max(1, Math.min(TimeUnit.NANOSECONDS.toMillis(left), 100)));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted", e);
            }
        }
    }

    @Override
    public void close() {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
