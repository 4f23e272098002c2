package common;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import harness.Program;
import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Each program ends with the same fragment (listening, socket activation, ports, addresses,
 * the log), copied on purpose so that every file runs alone. The copies must not drift: a fix
 * made in one file and not the others fails here, naming the file and line.
 */
class FragmentTest {
    static final String MARKER = "// ---- the same in every server of this collection";
    /** A member is a method or field declared at the class's own level, with the comment above it. */
    static final Pattern MEMBER = Pattern.compile("^ {4}(?! )(?:[\\w<>\\[\\],.]+ )+(\\w+)\\s*[(=;,]");
    /** Where a copy differs on purpose: keepalive binds ADDRESS, and takes options of its own. */
    static final Map<String, Set<String>> DIFFERENT_ON_PURPOSE = Map.of("keepalive/Keepalive.java", Set.of("listen"));

    @Test
    void theSharedFragmentIsTheSameInEveryProgram() throws IOException {
        Map<String, Map<String, Member>> files = new LinkedHashMap<>();
        for (Programs.Server server : Programs.ALL) files.put(server.file(), members(server.file()));
        List<String> drift = new ArrayList<>();
        for (String name : files.get(Programs.ALL.get(0).file()).keySet()) {
            Map<String, Member> copies = new LinkedHashMap<>();
            files.forEach((file, members) -> {
                if (!DIFFERENT_ON_PURPOSE.getOrDefault(file, Set.of()).contains(name) && members.containsKey(name)) {
                    copies.put(file, members.get(name));
                }
            });
            // The copy most files share is the fragment; each other copy has drifted from it.
            List<String> majority = copies.values().stream().map(Member::lines)
                    .max(Comparator.comparingLong(lines -> copies.values().stream().filter(c -> c.lines().equals(lines)).count()))
                    .orElseThrow();
            copies.forEach((file, copy) -> {
                int at = firstDifference(copy.lines(), majority);
                if (at >= 0) drift.add(file + ":" + (copy.line() + at) + ": " + name + " differs from the other copies");
            });
        }
        assertEquals(List.of(), drift);
        for (var file : files.entrySet()) { // every member is in every file (keepalive parses its own options)
            for (String name : files.get(Programs.ALL.get(0).file()).keySet()) {
                if (file.getKey().startsWith("keepalive/") && name.equals("noOptions")) continue;
                assertTrue(file.getValue().containsKey(name), file.getKey() + " lacks " + name + " of the shared fragment");
            }
        }
    }

    /**
     * Echo and Daytime alone answer UDP, so their UDP code is copied between the two only, above
     * the fragment: how each binds its port, and the guard against loops (the token buckets and
     * refusal()). Those copies must not drift either.
     */
    @Test
    void theUdpGuardIsTheSameInEchoAndDaytime() throws IOException {
        Map<String, Member> echo = members(Files.readAllLines(Program.root().resolve("echo/Echo.java")), 0);
        Map<String, Member> daytime = members(Files.readAllLines(Program.root().resolve("daytime/Daytime.java")), 0);
        List<String> drift = new ArrayList<>();
        for (String name : List.of("listenTcpAndUdp", "BURST", "refusal")) {
            assertTrue(echo.containsKey(name) && daytime.containsKey(name), name + " is not in both echo and daytime");
            int at = firstDifference(daytime.get(name).lines(), echo.get(name).lines());
            if (at >= 0) drift.add("daytime/Daytime.java:" + (daytime.get(name).line() + at) + ": " + name + " differs from echo's");
        }
        assertEquals(List.of(), drift);
    }

    record Member(String name, int line, List<String> lines) {
    }

    /**
     * The members after the marker, by name: each runs from the comment above it to the next
     * blank line (the fragment's methods hold none), with its line number (1-based).
     */
    static Map<String, Member> members(String file) throws IOException {
        List<String> lines = Files.readAllLines(Program.root().resolve(file));
        int start = -1;
        for (int i = 0; i < lines.size(); i++) if (lines.get(i).contains(MARKER)) start = i + 1;
        assertTrue(start > 0, file + " has no line '" + MARKER + "'");
        return members(lines, start);
    }

    /** The members of lines[start..], as above. */
    static Map<String, Member> members(List<String> lines, int start) {
        Map<String, Member> members = new LinkedHashMap<>();
        List<String> chunk = new ArrayList<>();
        int chunkStart = start;
        for (int i = start; i < lines.size(); i++) {
            String line = i < lines.size() - 1 ? lines.get(i) : ""; // the last line closes the class
            if (!line.isBlank()) {
                if (chunk.isEmpty()) chunkStart = i;
                chunk.add(line);
                continue;
            }
            if (chunk.isEmpty()) continue;
            String name = chunk.stream().map(MEMBER::matcher).filter(Matcher::find).map(m -> m.group(1)).findFirst()
                    .orElse("line " + (chunkStart + 1));
            members.put(name, new Member(name, chunkStart + 1, List.copyOf(chunk)));
            chunk = new ArrayList<>();
        }
        return members;
    }

    static int firstDifference(List<String> a, List<String> b) {
        for (int i = 0; i < Math.min(a.size(), b.size()); i++) if (!a.get(i).equals(b.get(i))) return i;
        return a.size() == b.size() ? -1 : Math.min(a.size(), b.size());
    }
}
