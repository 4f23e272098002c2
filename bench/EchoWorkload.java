/*
 * The echo workload: bulk throughput over 1 and 8 connections, every byte checked;
 * round trips, pinned with taskset where it can; requests of 1 to 64 KiB; a new
 * client's first answer while others stream; memory per idle connection.
 * SPDX-License-Identifier: MIT-0
 */
package bench;

import static bench.Bench.CPUS;
import static bench.Bench.TASKSET;
import static bench.Bench.fail;
import static bench.Bench.runs;
import static bench.Bench.scale;
import static bench.Streams.bulk;
import static bench.Streams.firstAnswer;
import static bench.Streams.messageRoundTrips;
import static bench.Streams.pattern;
import static bench.Streams.twice;
import static bench.Table.record;
import static bench.Table.timedRow;
import static bench.Target.cServer;
import static bench.Target.copies;
import static bench.Target.onCpu0;
import static bench.Target.present;
import static bench.Target.server;
import static bench.Trivial.trivialCpu;
import static bench.Trivial.trivialEcho;
import static bench.Util.closeAll;
import static bench.Util.local;
import static bench.Util.pinThisThread;
import static bench.Util.settleMillis;

import java.io.EOFException;
import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

final class EchoWorkload {
    static void run() throws Exception {
        byte[] data = pattern(false);
        List<Target> targets = present(server("echo", "echo", "Echo", List.of(), "0"),
                cServer("echo, C fork-per-client", "echo", "echo-fork", "0"), trivialEcho("echo"));
        Map<Target, Target> onCpu0 = onCpu0(targets);
        try {
            runs(targets, t -> {
                record(t, "bulk, 1 connection: bytes moved, both ways", "GB/s", 2 * bulk(t, 1, data, data) / 1e9);
                record(t, "bulk, 8 connections: bytes moved, both ways", "GB/s", 2 * bulk(t, 8, data, data) / 1e9);
                roundTrips(onCpu0.get(t));
                messageRoundTrips(onCpu0.get(t), data, data);
                firstAnswer(t, data, data, "hi\n", "hi\n");
            });
            runs(targets.stream().filter(t -> t.pid() > 0).toList(), t -> {
                idleMemory(t, scale.idle(), 1);
                idleMemory(t, scale.idle(), 1024);
                nonReaders(t, 100);
            });
        } finally {
            closeAll(targets);
            closeAll(copies(onCpu0));
        }
    }

    /**
     * 64-byte round trips, one at a time. With taskset, the server runs on CPU 0
     * (see Target.onCpu0()) and the client is pinned: to the same CPU (a wake-up
     * is a context switch) and to the other (a wake-up crosses CPUs); unpinned
     * runs land in either.
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

    /** The trivial server's threads go to CPUS, e.g. "0", or "0-1" for all; a server process was started on CPU 0 (Target.onCpu0()). */
    static void pin(Target t, String cpus) {
        if (t.inside != null) trivialCpu = cpus.contains("-") ? -1 : Integer.parseInt(cpus);
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
}
