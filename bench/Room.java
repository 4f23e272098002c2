/*
 * Room: Bench's chat client, a room of members (each a connection) read by a few
 * Reader threads, every line parsed as bytes and every delivery's latency taken.
 * SPDX-License-Identifier: MIT-0
 */
package bench;

import static bench.Bench.CPUS;
import static bench.Bench.EPOCH;
import static bench.Stamps.SENDER_DIGITS;
import static bench.Stamps.STAMP_LENGTH;
import static bench.Stamps.TIME_DIGITS;
import static bench.Stamps.digits;
import static bench.Stamps.indexOf;
import static bench.Stamps.intact;
import static bench.Stamps.isOwn;
import static bench.Stamps.put;
import static bench.Stamps.send;
import static bench.Stamps.stamped;
import static bench.Util.local;

import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * Chat clients, read by a few threads with a Selector each. Every line is
 * parsed as bytes: a line that carries "#SENDER.SEQ.NANOTIME" after a prefix
 * ("user 3: ", "<user3> ") is a delivery and its latency is taken; a line
 * with no prefix, or two stamps, is garbled; other lines are the server's
 * notices (greeting, joins, departures).
 */
final class Room implements AutoCloseable {
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
        send(last.channel, stamped(last.id, 0, 0));
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
}
