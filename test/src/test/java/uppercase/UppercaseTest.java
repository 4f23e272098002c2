package uppercase;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static harness.Net.seconds;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import harness.Bulk;
import harness.Net;
import harness.Program;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class UppercaseTest {
    Program server;

    @BeforeAll
    void start() {
        server = Program.of("uppercase/Uppercase.java").start("0");
    }

    @AfterAll
    void stop() {
        server.close();
    }

    /** Sends the bytes, half-closes, and returns everything the server answered. */
    static byte[] ask(int port, byte[] request) {
        try (Socket s = Net.connect(port)) {
            Net.write(s, request);
            s.shutdownOutput();
            return Net.readAll(s);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    static String ask(int port, String request) {
        return new String(ask(port, request.getBytes(StandardCharsets.UTF_8)), StandardCharsets.UTF_8);
    }

    @Test
    void upperCasesAscii() {
        assertEquals("HELLO WORLD\n", ask(server.port(), "hello world\n"));
    }

    @Test
    void upperCasesEveryAsciiByteAtEveryOffset() { // ASCII goes eight bytes at a time where it can
        for (int offset = 0; offset < 8; offset++) {
            byte[] request = new byte[offset + 3 * 128];
            for (int i = 0; i < request.length; i++) request[i] = (byte) (i % 128);
            assertArrayEquals(asciiUpper(request), ask(server.port(), request), "offset " + offset);
        }
    }

    @Test
    void followsUnicodeRules() {
        assertEquals("STRASSE É ΑΒΓ ЖЁ", ask(server.port(), "straße é αβγ жё"));
        String mixed = "ﬃ ΐ ǰ ŉ İstanbul ǆ 日本語 🙂 abc";  // some grow when upper-cased: ﬃ becomes FFI
        assertEquals(mixed.toUpperCase(Locale.ROOT), ask(server.port(), mixed));
    }

    /**
     * Turkish maps i to İ and ı to I; Lithuanian drops the dot above from į̇. Locale.ROOT does
     * neither, whatever the default locale, in ASCII and in text with other characters alike.
     */
    @Test
    void doesNotDependOnTheDefaultLocale() {
        String text = "title ıi straße į̇";
        for (String language : List.of("tr", "lt")) {
            assertNotEquals(text.toUpperCase(Locale.ROOT), text.toUpperCase(Locale.forLanguageTag(language)));
            try (Program server = Program.of("uppercase/Uppercase.java").jvm("-Duser.language=" + language).start("0")) {
                assertEquals("TITLE", ask(server.port(), "title"), language);
                assertEquals(text.toUpperCase(Locale.ROOT), ask(server.port(), text), language);
            }
        }
    }

    /**
     * ß, ŉ, ﬃ and ΐ grow when upper-cased. 1.5 MiB of each comes back whole, and well inside the
     * bound: upper-casing a whole run at once costs the square of its length (about a minute here).
     */
    @Test
    void longRunsOfCharactersThatGrowComeBackInLinearTime() {
        assertTimeoutPreemptively(seconds(20), () -> {
            for (String c : List.of("ß", "ŉ", "ﬃ", "ΐ", "ßŉﬃΐ")) {
                int n = (3 << 19) / c.getBytes(StandardCharsets.UTF_8).length; // 1.5 MiB
                try (Socket s = Net.connect(server.port())) {
                    Bulk.Result r = Bulk.roundTrip(s, c.repeat(n).getBytes(StandardCharsets.UTF_8),
                            c.toUpperCase(Locale.ROOT).repeat(n).getBytes(StandardCharsets.UTF_8));
                    assertTrue(r.identical(), c + ": " + r);
                }
            }
        });
    }

    @Test
    void joinsACharacterSplitAcrossTwoReads() throws Exception {
        try (Socket s = Net.connect(server.port())) {
            s.setTcpNoDelay(true);
            Net.write(s, new byte[] {'a', (byte) 0xC3}); // one segment, so one read takes both bytes:
            assertEquals("A", new String(Net.readExactly(s, 1), StandardCharsets.UTF_8)); // once "A" is back,
            Net.write(s, new byte[] {(byte) 0xA9});      // the server holds half a character
            assertEquals("É", new String(Net.readExactly(s, 2), StandardCharsets.UTF_8));
        }
    }

    @Test
    void passesInvalidUtf8ThroughUnchanged() {
        // Not 0xFF: it is no UTF-8 either, but from a client it starts a telnet command (0xFF 0xFE
        // is IAC DONT), which is answered instead (UppercaseTelnetTest).
        byte[] request = {'a', (byte) 0xFE, (byte) 0xFE, (byte) 0x80, 'b', (byte) 0xC0, (byte) 0x80, 'c', (byte) 0x80, 'd',
            (byte) 0xED, (byte) 0xA0, (byte) 0x80, 'e', (byte) 0xF4, (byte) 0x90, (byte) 0x80, (byte) 0x80, 'f', (byte) 0xE2, (byte) 0x82};
        byte[] expected = {'A', (byte) 0xFE, (byte) 0xFE, (byte) 0x80, 'B', (byte) 0xC0, (byte) 0x80, 'C', (byte) 0x80, 'D',
            (byte) 0xED, (byte) 0xA0, (byte) 0x80, 'E', (byte) 0xF4, (byte) 0x90, (byte) 0x80, (byte) 0x80, 'F', (byte) 0xE2, (byte) 0x82};
        assertArrayEquals(expected, ask(server.port(), request));
    }

    /**
     * F5 to F7 would lead four-byte forms above U+10FFFF, which Unicode excludes (table 3-7): each
     * is no character, nor are the continuation bytes after it, and all come back as they came.
     */
    @Test
    void passesLeadBytesAboveF4ThroughUnchanged() {
        byte[] request = bytes('a', 0xF5, 0x80, 0x80, 0x80, 'b', 0xF6, 0x90, 0x80, 0x80, 'c', 0xF7, 0xBF, 0xBF, 0xBF, 'd');
        byte[] expected = bytes('A', 0xF5, 0x80, 0x80, 0x80, 'B', 0xF6, 0x90, 0x80, 0x80, 'C', 0xF7, 0xBF, 0xBF, 0xBF, 'D');
        assertArrayEquals(expected, ask(server.port(), request));
    }

    /**
     * E0 80 80 to E0 9F BF would spell U+0000 to U+07FF in three bytes, F0 80 80 80 to F0 8F BF BF
     * the Basic Multilingual Plane in four: overlong forms, which are no UTF-8 and come back as they came.
     */
    @Test
    void passesOverlongThreeAndFourByteFormsThroughUnchanged() {
        byte[] request = bytes('a', 0xE0, 0x80, 0x80, 'b', 0xE0, 0x9F, 0xBF, 'c', 0xE0, 0x81, 0xA1, 'd', 0xF0, 0x8F, 0xBF, 0xBF, 'e');
        byte[] expected = bytes('A', 0xE0, 0x80, 0x80, 'B', 0xE0, 0x9F, 0xBF, 'C', 0xE0, 0x81, 0xA1, 'D', 0xF0, 0x8F, 0xBF, 0xBF, 'E');
        assertArrayEquals(expected, ask(server.port(), request));
    }

    @Test
    void passesRandomHighBytesThroughUnchanged() {
        // A continuation byte (0x80 to 0xBF) after an ASCII letter never starts a character.
        byte[] request = new byte[100_000];
        SplittableRandom random = new SplittableRandom(7);
        for (int i = 0; i < request.length; i++) request[i] = (byte) (i % 2 == 0 ? 'x' : 0x80 + random.nextInt(0x40));
        byte[] expected = request.clone();
        for (int i = 0; i < expected.length; i += 2) expected[i] = 'X';
        assertArrayEquals(expected, ask(server.port(), request));
    }

    @Test
    void answersWithoutWaitingForANewline() {
        try (Socket s = Net.connect(server.port())) {
            Net.write(s, "abc");
            assertEquals("ABC", new String(Net.readExactly(s, 3), StandardCharsets.US_ASCII));
            Net.write(s, "def\n");
            assertEquals("DEF\n", new String(Net.readExactly(s, 4), StandardCharsets.US_ASCII));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void upperCasesTenMegabytesOfAsciiExactlyAndDeliversAllBeforeEof() throws IOException {
        try (Socket s = Net.connect(server.port())) {
            Bulk.Result r = Bulk.roundTrip(s, 10 * 1024 * 1024, 8, UppercaseTest::printable, UppercaseTest::asciiUpper);
            assertTrue(r.identical(), r.toString());
        }
    }

    @Test
    void servesClientsConcurrently() {
        try (Socket idle = Net.connect(server.port()); Socket busy = Net.connect(server.port())) {
            Net.write(idle, "wait"); // sends a little, then waits: must not hold up the other client
            Net.write(busy, "go");
            assertEquals("GO", new String(Net.readExactly(busy, 2), StandardCharsets.US_ASCII));
            assertEquals("WAIT", new String(Net.readExactly(idle, 4), StandardCharsets.US_ASCII));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void logsEachClientWithItsByteCount() {
        try (Socket s = Net.connect(server.port())) {
            int port = s.getLocalPort();
            server.awaitLog("connection from 127.0.0.1:" + port);
            Net.write(s, "12345");
            s.shutdownOutput();
            Net.readAll(s);
            server.awaitLog("127.0.0.1:" + port + " closed (5 bytes)");
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    static byte[] printable(byte[] random) {
        for (int i = 0; i < random.length; i++) random[i] = (byte) (' ' + (random[i] & 0x7F) % 95);
        return random;
    }

    static byte[] bytes(int... values) {
        byte[] bytes = new byte[values.length];
        for (int i = 0; i < values.length; i++) bytes[i] = (byte) values[i];
        return bytes;
    }

    static byte[] asciiUpper(byte[] text) {
        byte[] upper = text.clone();
        for (int i = 0; i < upper.length; i++) if (upper[i] >= 'a' && upper[i] <= 'z') upper[i] -= 32;
        return upper;
    }
}
