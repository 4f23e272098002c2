/*
 * Util: small things every part of Bench uses: daemon threads, rates over a window,
 * loopback addresses, running a command, pinning a thread to a CPU.
 * SPDX-License-Identifier: MIT-0
 */
package bench;

import static bench.Bench.scale;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ClosedSelectorException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.LongSupplier;

final class Util {
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

    static void closeAll(List<? extends AutoCloseable> things) {
        for (AutoCloseable c : things) {
            try {
                if (c != null) c.close();
            } catch (Exception e) {
                System.err.println("close: " + e); // nothing else to do: the run is over
            }
        }
    }

    static void pinThisThread(int cpu) throws Exception {
        String tid = Files.readSymbolicLink(Path.of("/proc/thread-self")).getFileName().toString();
        exec("taskset", "-p", "-c", "" + cpu, tid);
    }
}
