/*
 * Table: the rows the workloads record, one per server and measure, and the
 * Markdown table they are printed as: median, spread, the client's ceiling, notes.
 * SPDX-License-Identifier: MIT-0
 */
package bench;

import static bench.Bench.CPUS;
import static bench.Bench.warming;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

final class Table {
    /** One line of the table: every timed run's figure, and notes. */
    static final class Row {
        final String workload, measure, unit, group;
        final List<Double> values = new ArrayList<>();
        final Set<String> notes = new LinkedHashSet<>();
        long lost, garbled, expected; // chat lines, when a workload counts them
        double clientCores;           // the most of the CPUs Bench itself used for this figure, where measured
        double neverArrived;          // the largest share of deliveries that never arrived intact, when that left no quantile

        Row(String workload, String measure, String unit, String group) {
            this.workload = workload;
            this.measure = measure;
            this.unit = unit;
            this.group = group;
        }
    }

    static final Map<String, Row> rows = new LinkedHashMap<>();
    static final Map<String, List<Double>> ceilings = new HashMap<>();
    /** Throughputs shown as a fraction of the loopback limit of the same shape. */
    static final Map<String, String> LIMITS = Map.of(
            "bulk, 1 connection: bytes moved, both ways", "loopback|1 connection, both ways",
            "bulk, 8 connections: bytes moved, both ways", "loopback|8 connections, both ways",
            "bulk ASCII, 1 connection: bytes moved, both ways", "loopback|1 connection, both ways",
            "bulk ASCII, 8 connections: bytes moved, both ways", "loopback|8 connections, both ways");
    static final List<String> notes = new ArrayList<>();

    static Row row(Target t, String measure, String unit) {
        return rows.computeIfAbsent(t.name + "|" + measure, k -> new Row(t.name, measure, unit, t.group));
    }

    static void record(Target t, String measure, String unit, double value) {
        if (warming) return;
        if (t.isCeiling()) ceilings.computeIfAbsent(t.group + "|" + measure, k -> new ArrayList<>()).add(value);
        else row(t, measure, unit).values.add(value);
    }

    /** The row a timed run of a server notes things in; for warm-ups and ceilings, one that is never printed. */
    static Row timedRow(Target t, String measure, String unit) {
        return warming || t.isCeiling() ? NOWHERE : row(t, measure, unit);
    }

    static final Row NOWHERE = new Row("", "", "", "");

    static void note(String text) {
        if (!notes.contains(text)) notes.add(text);
    }

    static void printTable() {
        System.out.println("| workload | measure | median | min-max | client ceiling | runs | note |");
        System.out.println("|---|---|---:|---:|---:|---:|---|");
        for (Row r : rows.values()) {
            List<String> rowNotes = new ArrayList<>(r.notes);
            if (r.expected > 0) rowNotes.add(String.format(Locale.ROOT, "of %,d lines sent to receivers, %,d lost and %,d garbled (no prefix, or run together)", r.expected, r.lost, r.garbled));
            if (r.neverArrived > 0) rowNotes.add(String.format(Locale.ROOT, "in some runs up to %.1f%% of deliveries never arrived intact, so the quantile fell on them", 100 * r.neverArrived));
            if (r.clientCores > 0) rowNotes.add(String.format(Locale.ROOT, "Bench itself used at most %.2f of %d cores", r.clientCores, CPUS));
            Row limit = rows.get(LIMITS.get(r.measure));
            if (limit != null && !r.values.isEmpty() && !limit.values.isEmpty()) {
                rowNotes.add(String.format(Locale.ROOT, "%.0f%% of loopback", 100 * median(r.values) / Collections.max(limit.values)));
            }
            String median = "", spread = "", ceiling = "";
            if (!r.values.isEmpty()) {
                double[] v = r.values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
                String[] f = rounded(median(r.values), v[0], v[v.length - 1]);
                median = f[0] + " " + r.unit;
                spread = v.length > 1 ? f[1] + "-" + f[2] : "";
            }
            List<Double> c = ceilings.get(r.group + "|" + r.measure);
            if (c != null) { // what the same client did against any server of this run counts too
                double trivial = best(r.unit, c), best = trivial;
                for (Row other : rows.values()) {
                    if (other.group.equals(r.group) && other.measure.equals(r.measure) && !other.values.isEmpty()) best = best(r.unit, List.of(best, best(r.unit, other.values)));
                }
                peerBeatTrivial |= best != trivial;
                ceiling = rounded(best, best, best)[0] + " " + r.unit + (best != trivial ? "*" : "");
            }
            System.out.printf("| %s | %s | %s | %s | %s | %d | %s |%n", r.workload, r.measure, median, spread, ceiling, r.values.size(), String.join("; ", rowNotes));
        }
        RESTARTS.forEach((what, times) -> notes.add(what + " (" + times + (times == 1 ? " time)" : " times)")));
        if (peerBeatTrivial) notes.add(0, "* the client did better against a server of the same run than against its trivial one: that figure is its ceiling here");
        if (!notes.isEmpty()) System.out.println();
        for (String n : notes) System.out.println("- " + n);
    }

    static boolean peerBeatTrivial;
    static final Map<String, Integer> RESTARTS = new LinkedHashMap<>();

    static double best(String unit, List<Double> values) {
        return higherIsBetter(unit) ? Collections.max(values) : Collections.min(values);
    }

    static double median(List<Double> values) {
        double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    static boolean higherIsBetter(String unit) {
        return unit.endsWith("/s");
    }

    /**
     * Median, min and max rounded alike, to the decimal place of the spread's first
     * digit: 1.28-1.71 prints 1.5 (1.3-1.7). Never coarser than one significant
     * digit of the median, never finer than three.
     */
    static String[] rounded(double median, double min, double max) {
        if (median == 0 && min == 0 && max == 0) return new String[] {"0", "0", "0"};
        double spread = max > min ? Math.floor(Math.log10(max - min)) : Double.NaN;
        double magnitude = median != 0 ? Math.floor(Math.log10(Math.abs(median))) : spread; // a median of 0: the spread's
        double place = max > min ? spread : magnitude - 2;                                  // first digit decides
        int decimals = (int) -Math.min(magnitude, Math.max(place, magnitude - 2));
        String[] out = new String[3];
        double[] in = {median, min, max};
        for (int i = 0; i < 3; i++) { // a min or max keeps at least its first digit: 30 is never shown as 0
            int d = in[i] == 0 ? decimals : Math.max(decimals, (int) -Math.floor(Math.log10(Math.abs(in[i]))));
            out[i] = d > 0 ? String.format(Locale.ROOT, "%,." + d + "f", in[i])
                    : String.format(Locale.ROOT, "%,.0f", Math.round(in[i] / Math.pow(10, -d)) * Math.pow(10, -d));
        }
        return out;
    }
}
