package chat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import chat.ChatTest.Member;
import harness.Net;
import harness.Program;
import harness.Pty;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** telnet as a chat client (README, chat): its commands answered, its UTF-8 whole, nc users untouched. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ChatTelnetTest {
    static final int IAC = 255, WILL = 251, WONT = 252, DO = 253, DONT = 254, SB = 250, SE = 240;
    static final int IP = 244, AO = 245, BREAK = 243, SUSP = 237;  // what telnet sends for Ctrl-C, -O, -\ and -Z
    static final int BINARY = 0, ECHO = 1, TIMING_MARK = 6, TERMINAL_TYPE = 24;

    /**
     * Each has a byte (0x83, 0x8F, 0x9C, 0x9A) whose low seven bits are Ctrl-C, Ctrl-O, Ctrl-\ or
     * Ctrl-Z: until it sends in binary, telnet sends the command for that key instead of the byte.
     */
    static final String MANGLED = "как у тебя Ŝ Ě ワ";

    /**
     * Each has a byte 0x9D, whose low seven bits are Ctrl-], telnet's escape key: until it sends in
     * binary, plain telnet opens its telnet> prompt instead of sending the character, and the server
     * never sees it. telnet -E has no escape key.
     */
    static final String ESCAPES = "来 ם ŝ";

    Program server;

    /** A room of its own for each test: a departure from the other can never reach this one's members. */
    @BeforeEach
    void start() {
        server = Program.of("chat/Chat.java").start("0");
    }

    @AfterEach
    void stop() {
        server.close();
    }

    @Test
    void telnetCommandsAreAnsweredNeverBroadcastAndAByteTelnetTookForCtrlCIsPutBack() throws Exception {
        try (Member nc = new Member(server.port()); Member telnet = new Member(server.port())) {
            nc.readLine(); // telnet joined
            // What inetutils telnet sends for "у\n" before BINARY: d1, then IAC IP and IAC DO TIMING-MARK
            // in place of 0x83, then CR LF.
            Net.write(telnet.socket, bytes(0xD1, IAC, IP, IAC, DO, TIMING_MARK, '\r', '\n'));
            assertEquals("user " + telnet.number + ": у", nc.readLine());
            assertArrayEquals(bytes(IAC, DO, BINARY, IAC, WILL, TIMING_MARK), Net.readExactly(telnet.socket, 6));
            // Its answer to BINARY needs none; other options are refused once; a refusal of what
            // is off, a subnegotiation and IP outside a character mean nothing; IAC IAC is 0xFF.
            Net.write(telnet.socket, bytes(IAC, WILL, BINARY, IAC, WILL, TERMINAL_TYPE, IAC, DO, ECHO, IAC, DONT, ECHO,
                    IAC, WONT, TERMINAL_TYPE, IAC, SB, TERMINAL_TYPE, 0, 'x', IAC, IAC, 'y', IAC, SE, IAC, IP,
                    'o', 'k', IAC, IAC, '\n'));
            assertEquals("user " + telnet.number + ": ok\uFFFD", nc.readLine());
            assertArrayEquals(bytes(IAC, DONT, TERMINAL_TYPE, IAC, WONT, ECHO), Net.readExactly(telnet.socket, 6));
            nc.send("plain\n");
            assertEquals("user " + nc.number + ": plain", telnet.readLine()); // and nothing else came before it
        }
    }

    @Test
    void aTelnetCommandSplitAcrossTwoReadsIsStillACommand() throws Exception {
        try (Member nc = new Member(server.port()); Member telnet = new Member(server.port())) {
            nc.readLine(); // telnet joined
            telnet.socket.setTcpNoDelay(true);
            // IAC DO | TIMING-MARK, then IAC | DO TIMING-MARK: each part a read of its own
            Net.write(telnet.socket, bytes(IAC, DO));
            Thread.sleep(200); // the scenario: two reads, not synchronisation
            Net.write(telnet.socket, bytes(TIMING_MARK, 'o', 'k', IAC));
            Thread.sleep(200); // the scenario: two reads, not synchronisation
            Net.write(telnet.socket, bytes(DO, TIMING_MARK, '\n'));
            assertEquals("user " + telnet.number + ": ok", nc.readLine());
            assertArrayEquals(bytes(IAC, DO, BINARY, IAC, WILL, TIMING_MARK, IAC, WILL, TIMING_MARK), Net.readExactly(telnet.socket, 9));
            nc.send("done\n");
            assertEquals("user " + nc.number + ": done", telnet.readLine());    // and nothing else came before it
        }
    }

    /**
     * Before BINARY, telnet sends IAC IP, AO, BREAK or SUSP (then IAC DO TIMING-MARK) in place of a
     * byte 0x83, 0x8F, 0x9C or 0x9A, wherever it stands in a character: at the end of "у", "ぃ" and
     * 4-byte "😏", "😜", "😚", in the middle of "ワ".
     */
    @Test
    void aByteTelnetTookForAKeyInsideACharacterIsPutBack() {
        try (Member nc = new Member(server.port()); Member telnet = new Member(server.port())) {
            nc.readLine(); // telnet joined
            Net.write(telnet.socket, bytes(0xD1, IAC, IP, IAC, DO, TIMING_MARK, ' ',
                    0xE3, 0x81, IAC, IP, IAC, DO, TIMING_MARK, ' ',
                    0xF0, 0x9F, 0x98, IAC, AO, IAC, DO, TIMING_MARK, ' ',
                    0xF0, 0x9F, 0x98, IAC, BREAK, IAC, DO, TIMING_MARK, ' ',
                    0xF0, 0x9F, 0x98, IAC, SUSP, IAC, DO, TIMING_MARK, ' ',
                    0xE3, IAC, IP, IAC, DO, TIMING_MARK, 0xAF, '\r', '\n'));
            assertEquals("user " + telnet.number + ": у ぃ 😏 😜 😚 ワ", nc.readLine());
            byte[] mark = bytes(IAC, WILL, TIMING_MARK);
            assertArrayEquals(concat(bytes(IAC, DO, BINARY), mark, mark, mark, mark, mark, mark), Net.readExactly(telnet.socket, 21));
        }
    }

    /** In binary, telnet sends "у" as d1 83; a Ctrl-C after it is IAC IP, not the 0x83 of another "у". */
    @Test
    void aTelnetCommandRightAfterAWholeCharacterIsACommandNotText() {
        try (Member nc = new Member(server.port()); Member telnet = new Member(server.port())) {
            nc.readLine(); // telnet joined
            Net.write(telnet.socket, bytes(IAC, WILL, BINARY));
            assertArrayEquals(bytes(IAC, DO, BINARY), Net.readExactly(telnet.socket, 3));
            Net.write(telnet.socket, bytes(0xD1, 0x83, IAC, IP, IAC, DO, TIMING_MARK,
                    0xE3, 0x81, 0x83, IAC, AO, IAC, DO, TIMING_MARK,
                    0xF0, 0x9F, 0x98, 0x8F, IAC, IP, IAC, DO, TIMING_MARK,
                    0xE3, 0x83, 0xAF, IAC, SUSP, IAC, DO, TIMING_MARK,
                    'a', IAC, BREAK, IAC, DO, TIMING_MARK, '!', '\n'));
            assertEquals("user " + telnet.number + ": уぃ😏ワa!", nc.readLine());
            byte[] mark = bytes(IAC, WILL, TIMING_MARK);
            assertArrayEquals(concat(mark, mark, mark, mark, mark), Net.readExactly(telnet.socket, 15));
        }
    }

    /**
     * RELIABILITY #31: Latin-1 from nc, where "ÿú" is 0xFF 0xFA, IAC SB. Telnet subnegotiates only
     * what was agreed, so this is text: the 0xFF, which starts no command, is dropped, 0xFA and the
     * other bytes that are not UTF-8 become U+FFFD, and the nc user is sent no telnet byte.
     */
    @Test
    void aStray0xFFFromAnNcUserSwallowsNothingAndGetsNoTelnetByte() {
        try (Member nc = new Member(server.port()); Member other = new Member(server.port())) {
            nc.readLine(); // other joined
            Net.write(nc.socket, bytes('c', 'a', 'f', 0xE9, ' ', 'n', 'i', 0xF1, 'o', ' ', 0xFF, 0xFA, ' ', 'o', 'k', '\n'));
            Net.write(nc.socket, bytes(0xFF, 0xF4, 'x', 0xFF, 0xF1, '\n'));              // "ÿôxÿñ": IAC IP, IAC NOP
            nc.send("second line\n");
            assertEquals("user " + nc.number + ": caf\uFFFD ni\uFFFDo \uFFFD ok", other.readLine());
            assertEquals("user " + nc.number + ": x", other.readLine());
            assertEquals("user " + nc.number + ": second line", other.readLine());
            other.send("done\n");
            assertEquals("user " + other.number + ": done", nc.readLine());  // and nothing else came before it
        }
    }

    @Test
    void anUnfinishedSubnegotiationEndsAtANewlineOrAfter256Bytes() {
        try (Member nc = new Member(server.port()); Member telnet = new Member(server.port())) {
            nc.readLine(); // telnet joined
            Net.write(telnet.socket, bytes(IAC, WILL, BINARY));
            assertArrayEquals(bytes(IAC, DO, BINARY), Net.readExactly(telnet.socket, 3));
            Net.write(telnet.socket, concat("first ".getBytes(), bytes(IAC, SB, TERMINAL_TYPE), "lost\nsecond\n".getBytes()));
            assertEquals("user " + telnet.number + ": first ", nc.readLine());
            assertEquals("user " + telnet.number + ": second", nc.readLine());
            // 256 bytes skipped (the option and 255 more), then text again
            Net.write(telnet.socket, concat(bytes(IAC, SB, TERMINAL_TYPE), "x".repeat(255 + 10).getBytes(), "!\n".getBytes()));
            assertEquals("user " + telnet.number + ": " + "x".repeat(10) + "!", nc.readLine());
            Net.write(telnet.socket, concat(bytes(IAC, SB, TERMINAL_TYPE, 'a', IAC, SE), "done\n".getBytes()));
            assertEquals("user " + telnet.number + ": done", nc.readLine());
        }
    }

    /**
     * A subnegotiation ends at IAC SE only: a data byte 0xF0 (SE), say a window 240 columns wide in
     * NAWS, is data, and what follows it up to IAC SE is skipped too, never broadcast.
     */
    @Test
    void aByte0xF0InsideASubnegotiationDoesNotEndIt() {
        try (Member nc = new Member(server.port()); Member telnet = new Member(server.port())) {
            nc.readLine(); // telnet joined
            Net.write(telnet.socket, bytes(IAC, WILL, BINARY));
            assertArrayEquals(bytes(IAC, DO, BINARY), Net.readExactly(telnet.socket, 3));
            int naws = 31;
            Net.write(telnet.socket, concat(bytes(IAC, SB, naws, 0, SE, 0, 24), "hidden".getBytes(), bytes(IAC, SE), "shown\n".getBytes()));
            assertEquals("user " + telnet.number + ": shown", nc.readLine());
        }
    }

    /**
     * What telnet is answered comes after what it was owed before: a telnet user who fell behind
     * and presses Ctrl-C while it catches up (IAC DO TIMING-MARK after each read) gets every line
     * whole, in order, and the answers after them, never inside a line.
     */
    @Test
    void telnetsAnswersNeverCutIntoTheLinesItIsOwed() throws Exception {
        Socket raw = new Socket();
        raw.setReceiveBufferSize(4096);
        raw.connect(new InetSocketAddress("127.0.0.1", server.port()), Net.READ_TIMEOUT_MS);
        raw.setSoTimeout(Net.READ_TIMEOUT_MS);
        try (Member telnet = new Member(raw); Member talker = new Member(server.port()); Member witness = new Member(server.port())) {
            telnet.readLine(); telnet.readLine(); talker.readLine();          // join lines: nothing more is on its way
            String body = "x".repeat(3990), prefix = "user " + talker.number + ": ";
            int lines = 150;                                                    // 600 KB: owed, under the 1 MiB cap
            CompletableFuture<Void> said = ChatTest.inThread(() -> {
                for (int i = 0; i < lines; i++) talker.send(i + " " + body + "\n");
            });
            witness.skipUntil(prefix + (lines - 1) + " " + body);             // all of it is owed to the telnet user now
            said.join();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            InputStream in = raw.getInputStream();
            byte[] sip = new byte[1500];
            for (int newlines = 0; newlines < lines; ) {                        // answers have no '\n' in them
                int n = in.read(sip);
                assertTrue(n > 0, "EOF after " + newlines + " lines");
                for (int i = 0; i < n; i++) if (sip[i] == '\n') newlines++;
                got.write(sip, 0, n);
                Net.write(telnet.socket, bytes(IAC, DO, TIMING_MARK));        // Ctrl-C, as telnet sends it
            }
            String[] received = got.toString(StandardCharsets.ISO_8859_1).split("\n");
            for (int i = 0; i < lines; i++) {
                String line = received[i];
                assertEquals(prefix + i + " " + body, line, "line " + i + (line.indexOf(0xFF) >= 0 ? ", with a telnet answer inside" : ""));
            }
        }
    }

    @Test
    void twoTelnetUsersTypeAnyScriptAndPressCtrlCAndEveryLineArrivesWhole() throws Exception {
        Pty.assumeInstalled("telnet");
        try (Member nc = new Member(server.port()); Pty a = Pty.run("telnet", "-E", "127.0.0.1", "" + server.port())) {
            long na = number(a);
            nc.skipUntil("user " + na + " joined the chat room");
            try (Pty b = Pty.run("telnet", "-E", "127.0.0.1", "" + server.port())) {
                long nb = number(b);
                a.awaitScreen("user " + nb + " joined the chat room");
                assertEquals("user " + nb + " joined the chat room", nc.readLine());
                // Ctrl-C makes telnet drop what arrives until the server answers its TIMING-MARK (that
                // is what Ctrl-C is for), so after it the same user speaks first: once that line has
                // arrived, the answer has too, and whatever the screen misses after it is lost for good.
                String[][] turns = {
                    {"a", ESCAPES + " " + MANGLED + " 🙂"},
                    {"b", ESCAPES + " 日本語のテキスト, и эмодзи 🙂👍🏽"}, // 本 and テ have 0x9C and 0x83
                    {"a", "^C"},
                    {"a", "после Ctrl-C: всё ещё видно " + MANGLED},
                    {"b", "^C"},
                    {"b", "中文也可以 ✓ " + MANGLED},
                    {"a", "и снова " + MANGLED},
                };
                for (String[] turn : turns) {
                    Pty typist = turn[0].equals("a") ? a : b, reader = typist == a ? b : a;
                    if (turn[1].equals("^C")) {
                        typist.type("\u0003");                                  // SIGINT: IAC IP, IAC DO TIMING-MARK
                        continue;
                    }
                    typist.type(turn[1] + "\n");
                    String line = "user " + (typist == a ? na : nb) + ": " + turn[1];
                    reader.awaitScreen(line + "\r\n");
                    assertEquals(line, nc.readLine());
                }
                nc.send("from nc\n");                                           // both screens still update
                a.awaitScreen("user " + nc.number + ": from nc\r\n");
                b.awaitScreen("user " + nc.number + ": from nc\r\n");
                a.type("bye\n");
                assertEquals("user " + na + ": bye", nc.readLine());            // exact lines, no telnet byte between
            }
        }
    }

    /** The number in the welcome line on a telnet user's screen. */
    static long number(Pty telnet) {
        telnet.awaitScreen(" in the room)\r\n");
        Matcher m = Pattern.compile("welcome, you are user (\\d+) ").matcher(telnet.screen());
        if (!m.find()) throw new AssertionError(telnet.screen());
        return Long.parseLong(m.group(1));
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) out.writeBytes(part);
        return out.toByteArray();
    }

    static byte[] bytes(int... values) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int v : values) out.write(v);
        return out.toByteArray();
    }
}
