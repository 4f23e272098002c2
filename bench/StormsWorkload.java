/*
 * The storms workload: chat rooms that fill as fast as clients can join, then empty
 * at once; and the heap the Java server holds at the peak. The C poll() server and
 * ncat --chat join the smallest storm at full scale.
 * SPDX-License-Identifier: MIT-0
 */
package bench;

import static bench.Bench.given;
import static bench.Bench.runs;
import static bench.Bench.scale;
import static bench.Bench.warming;
import static bench.Bench.work;
import static bench.ChatWorkload.collectGarbage;
import static bench.ChatWorkload.heapAfterGc;
import static bench.ChatWorkload.ncat;
import static bench.Scale.FULL;
import static bench.Stamps.send;
import static bench.Stamps.stamped;
import static bench.Table.record;
import static bench.Table.row;
import static bench.Table.timedRow;
import static bench.Target.cServer;
import static bench.Target.present;
import static bench.Target.server;
import static bench.Trivial.trivialChat;
import static bench.Util.closeAll;

import bench.Room.Member;
import bench.Room.Reader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

final class StormsWorkload {
    /**
     * N clients join as fast as they can: the time until every one of them has
     * every notice sent before the last one's line. Then they all leave at once:
     * the time until a fresh client's line reaches another fresh client.
     */
    static void run() throws Exception {
        Path gcLog = work.resolve("chat-storms-gc.log");
        Target java = server("chat", "chat", "Chat", List.of("-Xlog:gc:file=" + gcLog), "0", "20000");
        List<Target> targets = present(java, trivialChat());
        int[] sizes = scale.storms();
        Map<Target, Integer> failedAt = new HashMap<>(); // a storm that did not finish is not tried again, nor a bigger one
        try {
            runs(targets, t -> {
                for (int n : warming ? new int[] {sizes[0]} : sizes) {
                    if (n >= failedAt.getOrDefault(t, Integer.MAX_VALUE)) {
                        timedRow(t, "join storm, " + n + " clients", "s").notes.add("not run after a storm of " + failedAt.get(t) + " did not finish");
                        continue;
                    }
                    long offset = t == java && Files.exists(gcLog) ? Files.size(gcLog) : 0;
                    boolean heap = t == java && n == sizes[sizes.length - 1] && given < 0;
                    try {
                        storm(t, n, heap);
                    } catch (IOException e) {
                        failedAt.put(t, n);
                        throw e;
                    }
                    if (heap) record(t, "heap after a collection, at most, " + n + "-client join and leave storm (GC log)", "MB", heapAfterGc(gcLog, offset));
                }
            });
        } finally {
            closeAll(targets);
        }
        if (scale != FULL || given >= 0) return;
        List<Target> peers = present(cServer("chat, C poll()", "chat", "chat-poll", "0", "20000"), ncat());
        try {
            runs(peers, false, 1, t -> storm(t, 1000, false)); // one run: ncat takes over a minute
        } finally {
            closeAll(peers);
        }
        for (Target t : peers) {
            for (int n : sizes) {
                if (n <= 1000) continue;
                row(t, "join storm, " + n + " clients", "s").notes.add(t.name.startsWith("ncat")
                        ? "cannot run: ncat --chat holds at most about 1,000 clients (it uses select())"
                        : "not run: every notice is a blocking send() to each client in turn, as in the article, so storms this size take minutes");
            }
        }
        peers.stream().filter(t -> t.name.startsWith("ncat")).forEach(t -> row(t, "join storm, 1000 clients", "s").notes.add(
                "ncat listens with a backlog of 10: the storm's connects wait for SYN retransmits (1 s)"));
    }

    /** A join storm and a leave storm of `n` clients; with `peakGc`, a garbage collection between them, when the room is fullest. */
    static void storm(Target t, int n, boolean peakGc) throws Exception {
        try (Room room = new Room(t)) {
            long start = System.nanoTime();
            List<Member> members = room.fill(n, Integer.MAX_VALUE);
            long joined = members.stream().mapToLong(m -> m.stampedAt).max().orElseThrow();
            record(t, "join storm, " + n + " clients", "s", (joined - start) / 1e9);
            if (peakGc) collectGarbage(t);
            start = System.nanoTime();
            for (Member m : members) m.channel.close();
            for (Reader r : room.readers) r.selector.wakeup(); // the channels' descriptors close at their next select()
            Member listener = room.join(), speaker = room.join();
            send(speaker.channel, stamped(speaker.id, 1, System.nanoTime()));
            room.awaitLines(List.of(listener), 1, 60);
            record(t, "leave storm, " + n + " clients: a fresh client's line reaches another", "ms", (listener.stampedAt - start) / 1e6);
        }
        Thread.sleep(200); // let the server finish with the departures before the next storm
    }
}
