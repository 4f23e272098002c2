/*
 * Scale: how much work each workload does. Full is `make bench`, quick is
 * `make bench QUICK=1` (--quick), smoke is the tests' (--smoke: only proves that
 * each workload runs and checks what it gets). Each scale names its values below.
 * SPDX-License-Identifier: MIT-0
 */
package bench;

record Scale(
        String name,
        int runs,        // timed runs: after a warm-up at full scale, cold otherwise
        double window,   // seconds over which a throughput is counted
        int roundTrips,  // 64-byte round trips timed (requests of 1 to 64 KiB: a fiftieth of them)
        int probes,      // new clients timed while 8 others stream bulk
        int idle,        // idle connections whose memory is measured
        int room,        // clients in the chat rooms for fan-out and paced latency
        int burstRoom,   // clients in the burst fan-out room
        int[] storms,    // clients in each join and leave storm
        int bigRoom,     // clients in the big room whose sustained rate is found (loopback: sockets, at most 5,000)
        int minLines,    // lines a paced step lasts for, at least (within limits)
        int nonReaders,  // chat members that never read while one floods
        int floodLines,  // lines that flooder sends
        int delayRoom,   // clients in the room where a line waits beside a flooder
        int delayProbes  // lines timed beside a flooder or a slow reader (four a second)
) {
    static final Scale FULL = full(), QUICK = quick(), SMOKE = smoke();

    private static Scale full() {
        int runs = 5;
        double window = 1.0;
        int roundTrips = 10_000;
        int probes = 10;
        int idle = 2_000;
        int room = 100;
        int burstRoom = 200;
        int[] storms = {1_000, 5_000, 10_000};
        int bigRoom = 10_000;
        int minLines = 1_000;
        int nonReaders = 200;
        int floodLines = 3_000_000;
        int delayRoom = 1_000;
        int delayProbes = 20;
        return new Scale("full", runs, window, roundTrips, probes, idle, room, burstRoom, storms, bigRoom,
                minLines, nonReaders, floodLines, delayRoom, delayProbes);
    }

    private static Scale quick() {
        int runs = 1;
        double window = 0.2;
        int roundTrips = 2_000;
        int probes = 3;
        int idle = 500;
        int room = 100;
        int burstRoom = 200;
        int[] storms = {1_000};
        int bigRoom = 1_000;
        int minLines = 200;
        int nonReaders = 200;
        int floodLines = 300_000;
        int delayRoom = 200;
        int delayProbes = 4;
        return new Scale("quick", runs, window, roundTrips, probes, idle, room, burstRoom, storms, bigRoom,
                minLines, nonReaders, floodLines, delayRoom, delayProbes);
    }

    private static Scale smoke() {
        int runs = 1;
        double window = 0.1;
        int roundTrips = 200;
        int probes = 1;
        int idle = 50;
        int room = 20;
        int burstRoom = 20;
        int[] storms = {50};
        int bigRoom = 50;
        int minLines = 20;
        int nonReaders = 20;
        int floodLines = 20_000;
        int delayRoom = 20;
        int delayProbes = 2;
        return new Scale("smoke", runs, window, roundTrips, probes, idle, room, burstRoom, storms, bigRoom,
                minLines, nonReaders, floodLines, delayRoom, delayProbes);
    }
}
