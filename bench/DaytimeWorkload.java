/*
 * The daytime workload: connections a second, each line read to EOF and checked
 * byte by byte against the shape ctime() prints.
 * SPDX-License-Identifier: MIT-0
 */
package bench;

import static bench.Bench.fail;
import static bench.Bench.runs;
import static bench.Table.record;
import static bench.Target.cServer;
import static bench.Target.present;
import static bench.Target.server;
import static bench.Trivial.trivialDaytime;
import static bench.Util.closeAll;
import static bench.Util.daemon;
import static bench.Util.local;
import static bench.Util.rate;

import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

final class DaytimeWorkload {
    static void run() throws Exception {
        List<Target> targets = present(server("daytime", "daytime", "Daytime", List.of(), "0"),
                cServer("daytime, C iterative", "daytime", "daytime-iterative", "0"), trivialDaytime());
        try {
            runs(targets, t -> record(t, "connections/s, 4 client threads", "/s", daytimes(t.port, 4)));
        } finally {
            closeAll(targets);
        }
    }

    /** Connections a second: each client connects, reads the line to EOF, checks its shape byte by byte. */
    static double daytimes(int port, int threads) throws Exception {
        AtomicLong served = new AtomicLong();
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> clients = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            clients.add(daemon(() -> {
                ByteBuffer line = ByteBuffer.allocateDirect(64);
                while (!stop.get()) {
                    try (SocketChannel ch = SocketChannel.open(local(port))) {
                        line.clear();
                        while (ch.read(line) >= 0) if (!line.hasRemaining()) break;
                    }
                    if (!isDaytime(line.flip())) fail("MISMATCH: not a daytime line: " + StandardCharsets.US_ASCII.decode(line));
                    served.incrementAndGet();
                }
            }));
        }
        try {
            return rate(served::get);
        } finally {
            stop.set(true);
            for (Thread c : clients) c.join();
        }
    }

    /** "Thu Sep 11 12:44:00 2003\r\n", as ctime() prints it. */
    static boolean isDaytime(ByteBuffer b) {
        if (b.remaining() != 26 || b.get(24) != '\r' || b.get(25) != '\n') return false;
        for (int i = 0; i < 24; i++) {
            byte c = b.get(i);
            boolean ok = switch (i) {
                case 3, 7, 10, 19 -> c == ' ';
                case 8 -> c == ' ' || (c >= '0' && c <= '9');
                case 13, 16 -> c == ':';
                case 0, 1, 2, 4, 5, 6 -> Character.isLetter(c);
                default -> c >= '0' && c <= '9';
            };
            if (!ok) return false;
        }
        return true;
    }
}
