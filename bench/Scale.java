/*
 * Scale: how much work each workload does. Full is `make bench`, quick is
 * `make bench QUICK=1` (--quick), smoke is the tests' (--smoke: only proves that
 * each workload runs and checks what it gets).
 * SPDX-License-Identifier: MIT-0
 */
package bench;

record Scale(String name, int runs, double window, int roundTrips, int probes, int idle, int room, int burstRoom,
             int[] storms, int bigRoom, int minLines, int nonReaders, int floodLines, int delayRoom, int delayProbes) {

    static final Scale FULL = new Scale("full", 5, 1.0, 10_000, 10, 2_000, 100, 200,
            new int[] {1_000, 5_000, 10_000}, 10_000, 1_000, 200, 3_000_000, 1_000, 20);
    static final Scale QUICK = new Scale("quick", 1, 0.2, 2_000, 3, 500, 100, 200,
            new int[] {1_000}, 1_000, 200, 200, 300_000, 200, 4);
    static final Scale SMOKE = new Scale("smoke", 1, 0.1, 200, 1, 50, 20, 20,
            new int[] {50}, 50, 20, 20, 20_000, 20, 2);
}
