/*
 * Streams: connections that stream bytes to a server and check every byte that
 * comes back, and the measures echo and uppercase share: bulk throughput, request
 * and answer, and the first answer to a newcomer while others stream.
 * SPDX-License-Identifier: MIT-0
 */
package bench;

import static bench.Bench.CPUS;
import static bench.Bench.TASKSET;
import static bench.Bench.fail;
import static bench.Bench.scale;
import static bench.Table.record;
import static bench.Table.timedRow;
import static bench.Util.closeAll;
import static bench.Util.daemon;
import static bench.Util.local;
import static bench.Util.pinThisThread;
import static bench.Util.rate;
import static bench.Util.settleMillis;

import bench.Util.IoWork;
import java.io.EOFException;
import java.io.IOException;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Connections that each stream `send` (repeated) to a server and check that
 * `expect` (repeated) comes back, every byte; counts what comes back.
 */
final class Streams implements AutoCloseable {
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
     * Requests of 1, 4, 48 and 64 KiB, each answered before the next. With taskset, the client runs
     * on CPU 0 with the server (see Target.onCpu0()), as for the 64-byte round trips: unpinned,
     * the scheduler put them on one CPU (15-20 µs) or on two (70 µs and more) from run to run,
     * whatever the server. A server that reads less than a request at a time answers in several
     * writes, and unless it sets TCP_NODELAY, Nagle's algorithm holds the last for the client's
     * delayed ACK (40 ms).
     */
    static void messageRoundTrips(Target t, byte[] send, byte[] expect) throws Exception {
        if (TASKSET) EchoWorkload.pin(t, "0");
        try {
            Exception[] failed = {null};
            Thread client = new Thread(() -> {
                try {
                    if (TASKSET) pinThisThread(0);
                    requests(t, send, expect, TASKSET ? ", same CPU" : "");
                } catch (Exception e) {
                    failed[0] = e;
                }
            });
            client.start();
            client.join();
            if (failed[0] != null) throw failed[0];
        } finally {
            if (TASKSET) EchoWorkload.pin(t, "0-" + (CPUS - 1));
        }
    }

    static void requests(Target t, byte[] send, byte[] expect, String where) throws IOException {
        ByteBuffer out = twice(t.isCeiling() ? expect : send), want = twice(expect);
        try (SocketChannel ch = SocketChannel.open(local(t.port))) {
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            for (int size : new int[] {1024, 4096, 48 * 1024, 65536}) { // 48 KiB: over half what a C child reads at once
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
                record(t, size / 1024 + " KiB request and answer" + where + ", p50", "µs", nanos[nanos.length / 2] / 1e3);
            }
        }
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
}
