package harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A network namespace of the test's own (unshare -n), with only loopback, up: there a test may
 * drop or rewrite packets with nftables without touching the machine's own network.
 */
public final class Netns {
    private Netns() {
    }

    /** Skips the test unless it runs as root with unshare, nsenter, ip and nft. */
    public static void assumeAvailable() {
        assumeTrue(Net.isRoot(), "needs root, for a network namespace and nftables");
        for (String tool : List.of("unshare", "nsenter", "ip", "nft")) {
            assumeTrue(Net.onPath(tool), "needs " + tool + " on PATH (bash .ci/run installs it)");
        }
    }

    /** The program, to be started in a fresh network namespace. */
    public static Program.Builder isolated(Program.Builder program) {
        return program.wrappedIn("unshare", "-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\"");
    }

    /** Runs a command inside the program's network namespace to its end; it must succeed. Returns its output. */
    public static String run(Program p, String... command) throws IOException, InterruptedException {
        List<String> full = new ArrayList<>(List.of("nsenter", "-t", Long.toString(p.pid()), "-n"));
        full.addAll(List.of(command));
        Process process = new ProcessBuilder(full).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes());
        assertTrue(process.waitFor(20, TimeUnit.SECONDS), command[0] + " did not finish");
        assertEquals(0, process.exitValue(), String.join(" ", command) + ":\n" + output);
        return output;
    }

    /** Starts a command inside the program's network namespace, and leaves it running. */
    public static Process start(Program p, String... command) throws IOException {
        List<String> full = new ArrayList<>(List.of("nsenter", "-t", Long.toString(p.pid()), "-n"));
        full.addAll(List.of(command));
        return new ProcessBuilder(full).redirectErrorStream(true).start();
    }
}
