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
    /** Moved out of the fragment, to stand with the model it belongs to; compared wherever it stands (below). */
    static final Set<String> WITH_THE_MODEL = Set.of("listen");

    @Test
    void theSharedFragmentIsTheSameInEveryProgram() throws IOException {
        Map<String, Map<String, Member>> files = new LinkedHashMap<>();
        for (Programs.Server server : Programs.ALL) files.put(server.file(), members(server.file()));
        List<String> drift = new ArrayList<>();
        for (String name : files.get(Programs.ALL.get(0).file()).keySet()) {
            if (WITH_THE_MODEL.contains(name)) continue;
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
                if (file.getKey().startsWith("keepalive/") && name.equals("noOptions") || WITH_THE_MODEL.contains(name)) continue;
                assertTrue(file.getValue().containsKey(name), file.getKey() + " lacks " + name + " of the shared fragment");
            }
        }
    }

    /**
     * Beyond the fragment, some blocks are shared by two or more programs: listen() by every server
     * but keepalive, the UDP code by echo and daytime, the Telnet class by chat and uppercase, the
     * hand-off to a platform thread by echo and uppercase. Each must be the same in every file that
     * has it (SHARED), and any other member (method, field or nested class, with the comment above
     * it) declared alike in three or more files too, where most copies agree: one that differs
     * has drifted. main and USAGE, which every program has of its own, and the UDP answer, which
     * is the service itself, are alike in name only.
     */
    @Test
    void everyBlockTwoOrMoreProgramsShareIsTheSame() throws IOException {
        Map<String, Map<String, Member>> byDeclaration = new LinkedHashMap<>(); // declaration -> file -> its copy
        for (Programs.Server server : Programs.ALL) {
            List<String> lines = Files.readAllLines(Program.root().resolve(server.file()));
            for (Member m : declared(lines)) byDeclaration.computeIfAbsent(m.name(), d -> new LinkedHashMap<>()).putIfAbsent(server.file(), m);
        }
        SHARED.forEach((name, files) -> {
            for (String file : files) {
                assertTrue(byDeclaration.entrySet().stream().anyMatch(d -> d.getValue().containsKey(file)
                        && (d.getKey().contains(" " + name + "(") || d.getKey().contains(" " + name + " "))),
                        file + " lacks " + name + ", which it shares with " + files);
            }
        });
        List<String> drift = new ArrayList<>();
        byDeclaration.forEach((declaration, copies) -> {
            if (copies.size() < 2 || OWN.stream().anyMatch(declaration::contains)) return;
            boolean shared = SHARED.keySet().stream().anyMatch(name -> declaration.contains(" " + name + "(") || declaration.contains(" " + name + " "));
            Map<List<String>, Long> alike = new LinkedHashMap<>();
            copies.values().forEach(c -> alike.merge(c.lines(), 1L, Long::sum));
            List<String> reference = alike.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow().getKey();
            if (!shared && alike.get(reference) < 2) return;               // alike in name only, as main is
            String from = copies.entrySet().stream().filter(c -> c.getValue().lines().equals(reference)).findFirst().orElseThrow().getKey();
            copies.forEach((file, copy) -> {
                int at = firstDifference(copy.lines(), reference);
                if (at >= 0) drift.add(file + ":" + (copy.line() + at) + ": " + declaration + " differs from the copy in " + from);
            });
        });
        assertEquals(List.of(), drift);
    }

    /** Blocks that must be in each of these files, the same in each. */
    static final Map<String, List<String>> SHARED = Map.of(
            "listen", List.of("daytime/Daytime.java", "echo/Echo.java", "uppercase/Uppercase.java", "chat/Chat.java"),
            "refusal", List.of("echo/Echo.java", "daytime/Daytime.java"),
            "listenTcpAndUdp", List.of("echo/Echo.java", "daytime/Daytime.java"),
            "BURST", List.of("echo/Echo.java", "daytime/Daytime.java"),
            "Telnet", List.of("uppercase/Uppercase.java", "chat/Chat.java"),
            "onPlatformThread", List.of("echo/Echo.java", "uppercase/Uppercase.java"),
            "PLATFORM_THREADS", List.of("echo/Echo.java", "uppercase/Uppercase.java"),
            "clientThreads", List.of("echo/Echo.java", "uppercase/Uppercase.java"));
    /** Declared alike, different on purpose. */
    static final List<String> OWN = List.of(" main(", " USAGE ", " answer(");

    /**
     * Every member of the program's class, by its declaration line: from the comment above it to
     * the line that closes it (braces counted outside strings and comments), with its first line.
     */
    static List<Member> declared(List<String> lines) {
        List<Member> members = new ArrayList<>();
        int start = -1, depth = 0;
        boolean textBlock = false;
        String declaration = null;
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (depth == 0 && declaration == null) {
                if (!line.startsWith("    ") || line.startsWith("     ") || line.isBlank() || line.startsWith("    }")) {
                    start = -1;                                          // between members
                    continue;
                }
                if (start < 0) start = i;
                String code = line.strip();
                if (code.startsWith("/*") || code.startsWith("*") || code.startsWith("//") || code.startsWith("@")) continue;
                declaration = code;
            }
            if (line.split("\"\"\"", -1).length % 2 == 0) textBlock = !textBlock;
            if (!textBlock) {
                String code = line.replaceAll("\"(\\\\.|[^\"\\\\])*\"", "\"\"").replaceAll("'(\\\\.|[^'\\\\])'", "''")
                        .replaceAll("//.*", "");
                for (char c : code.toCharArray()) depth += c == '{' ? 1 : c == '}' ? -1 : 0;
                if (depth == 0 && (code.strip().endsWith(";") || code.strip().endsWith("}"))) {
                    members.add(new Member(declaration, start + 1, List.copyOf(lines.subList(start, i + 1))));
                    declaration = null;
                    start = -1;
                }
            }
        }
        return members;
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
