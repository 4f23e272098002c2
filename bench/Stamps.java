/*
 * Stamps: what Bench's chat clients say, "#SENDER.SEQUENCE.TIME\n", fixed width,
 * TIME in nanoseconds since Bench started. A line that arrives with a prefix, its
 * '\n' where the width puts it and both dots in place is intact; its digits are
 * only read when they are needed. And send(), which writes them to a busy server.
 * SPDX-License-Identifier: MIT-0
 */
package bench;

import static bench.Bench.EPOCH;

import bench.Room.Member;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.concurrent.locks.LockSupport;

final class Stamps {
    static final int SENDER_DIGITS = 5, SEQUENCE_DIGITS = 8, TIME_DIGITS = 14;
    static final int STAMP_LENGTH = 1 + SENDER_DIGITS + 1 + SEQUENCE_DIGITS + 1 + TIME_DIGITS; // from '#' to the '\n'

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
}
