/*
 * Histogram: the chat clients' delivery latencies, in microseconds.
 * SPDX-License-Identifier: MIT-0
 */
package bench;

/** Latencies in microseconds, in buckets about 1.5% wide. */
final class Histogram {
    final long[] counts = new long[128 + 57 * 64];
    long total, expected;

    void add(long micros) {
        counts[index(Math.max(0, micros))]++;
        total++;
    }

    void add(Histogram other) {
        for (int i = 0; i < counts.length; i++) counts[i] += other.counts[i];
        total += other.total;
    }

    static int index(long v) {
        if (v < 128) return (int) v;
        int top = 63 - Long.numberOfLeadingZeros(v);
        return 128 + (top - 7) * 64 + (int) ((v >>> (top - 6)) & 63);
    }

    static long value(int i) {
        if (i < 128) return i;
        int top = 7 + (i - 128) / 64;
        return (64L + (i - 128) % 64) << (top - 6);
    }

    /** The q-quantile of all that was expected: what never arrived counts as later than everything. */
    double percentile(double q) {
        long rank = Math.max(1, (long) Math.ceil(q * Math.max(expected, total))), seen = 0;
        for (int i = 0; i < counts.length; i++) if ((seen += counts[i]) >= rank) return value(i);
        return Double.POSITIVE_INFINITY;
    }
}
