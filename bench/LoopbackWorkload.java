/*
 * The loopback workload: the machine's own limit for each shape of traffic, socket
 * pairs inside Bench (and iperf3 where installed), and the cost of one write() to
 * each of many sockets, the floor for chat's fan-out.
 * SPDX-License-Identifier: MIT-0
 */
package bench;

import static bench.Bench.given;
import static bench.Bench.runs;
import static bench.Bench.scale;
import static bench.Scale.SMOKE;
import static bench.Table.note;
import static bench.Table.record;
import static bench.Table.row;
import static bench.Table.rows;
import static bench.Target.startListening;
import static bench.Util.closeAll;
import static bench.Util.daemon;
import static bench.Util.freePort;
import static bench.Util.local;
import static bench.Util.onPath;
import static bench.Util.quietly;
import static bench.Util.rate;

import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

final class LoopbackWorkload {
    static void run() throws Exception {
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
}
