package uppercase;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import harness.Net;
import harness.Program;
import harness.Pty;
import java.io.ByteArrayOutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** telnet as an upper-case client (README, uppercase): its commands answered, never upper-cased; nc untouched. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class UppercaseTelnetTest {
    static final int IAC = 255, WILL = 251, WONT = 252, DO = 253, DONT = 254, SB = 250, SE = 240, IP = 244;
    static final int BINARY = 0, ECHO = 1, TIMING_MARK = 6;

    Program server;

    @BeforeAll
    void start() {
        server = Program.of("uppercase/Uppercase.java").start("0");
    }

    @AfterAll
    void stop() {
        server.close();
    }

    @Test
    void telnetCommandsAreAnsweredNeverUpperCasedAnd0xFFGoesBackAsIacIac() throws Exception {
        try (Socket s = Net.connect(server.port())) {
            // "у" as inetutils telnet sends it before BINARY: 0x83 became IAC IP, IAC DO TIMING-MARK.
            Net.write(s, UppercaseTest.bytes(0xD1, IAC, IP, IAC, DO, TIMING_MARK, 'a', IAC, DO, ECHO, IAC, SB, 24, 'q', IAC, SE,
                    'b', IAC, IAC, 'c', IAC, DONT, ECHO, '\n'));
            s.shutdownOutput();
            byte[] expected = UppercaseTest.bytes(IAC, DO, BINARY, IAC, WILL, TIMING_MARK, IAC, WONT, ECHO);
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            all.write(expected);
            all.write("УAB".getBytes(StandardCharsets.UTF_8));
            all.write(UppercaseTest.bytes(IAC, IAC, 'C', '\n'));
            assertArrayEquals(all.toByteArray(), Net.readAll(s));
        }
    }

    @Test
    void aTelnetCommandSplitAcrossTwoReadsIsStillACommand() throws Exception {
        try (Socket s = Net.connect(server.port())) {
            s.setTcpNoDelay(true);
            // IAC DO | TIMING-MARK, then IAC | DO TIMING-MARK: each part a read of its own
            Net.write(s, UppercaseTest.bytes(IAC, DO));
            Thread.sleep(200); // the scenario: two reads, not synchronisation
            Net.write(s, UppercaseTest.bytes(TIMING_MARK, 'o', 'k', IAC));
            Thread.sleep(200); // the scenario: two reads, not synchronisation
            Net.write(s, UppercaseTest.bytes(DO, TIMING_MARK, '\n'));
            s.shutdownOutput();
            assertArrayEquals(UppercaseTest.bytes(IAC, DO, BINARY, IAC, WILL, TIMING_MARK, 'O', 'K', IAC, WILL, TIMING_MARK, '\n'),
                    Net.readAll(s));
        }
    }

    /**
     * RELIABILITY #31: Latin-1 from nc, where "ÿú" is 0xFF 0xFA, IAC SB. Telnet subnegotiates only
     * what was agreed, so this is text: the 0xFF, which starts no command, is dropped, the bytes
     * that are not UTF-8 come back unchanged, and no telnet byte is sent.
     */
    @Test
    void aStray0xFFFromAnNcClientSwallowsNothingAndGetsNoTelnetByte() throws Exception {
        try (Socket s = Net.connect(server.port())) {
            Net.write(s, UppercaseTest.bytes('c', 'a', 'f', 0xE9, ' ', 'n', 'i', 0xF1, 'o', ' ', 0xFF, 0xFA, ' ', 'o', 'k', '\n'));
            Net.write(s, "second line\n");
            s.shutdownOutput();
            assertArrayEquals(UppercaseTest.bytes('C', 'A', 'F', 0xE9, ' ', 'N', 'I', 0xF1, 'O', ' ', 0xFA, ' ', 'O', 'K', '\n',
                    'S', 'E', 'C', 'O', 'N', 'D', ' ', 'L', 'I', 'N', 'E', '\n'), Net.readAll(s));
        }
    }

    /** A subnegotiation left unfinished ends at a newline, which is kept: what follows is upper-cased again. */
    @Test
    void anUnfinishedSubnegotiationEndsAtANewline() throws Exception {
        try (Socket s = Net.connect(server.port())) {
            Net.write(s, UppercaseTest.bytes(IAC, WILL, BINARY));
            Net.write(s, "first ");
            Net.write(s, UppercaseTest.bytes(IAC, SB, 24));
            Net.write(s, "lost\nsecond\n");
            s.shutdownOutput();
            assertArrayEquals(concat(UppercaseTest.bytes(IAC, DO, BINARY), "FIRST \nSECOND\n".getBytes(StandardCharsets.US_ASCII)),
                    Net.readAll(s));
        }
    }

    /** Without IAC SE or a newline, a subnegotiation ends after 256 bytes (the option and 255 more), each time anew. */
    @Test
    void anUnfinishedSubnegotiationEndsAfter256Bytes() throws Exception {
        try (Socket s = Net.connect(server.port())) {
            Net.write(s, UppercaseTest.bytes(IAC, WILL, BINARY, IAC, SB, 24, 'a', 'b', 'c', IAC, SE)); // a finished one first
            Net.write(s, UppercaseTest.bytes(IAC, SB, 24));
            Net.write(s, "x".repeat(255 + 10) + "!\n");
            s.shutdownOutput();
            assertArrayEquals(concat(UppercaseTest.bytes(IAC, DO, BINARY), ("X".repeat(10) + "!\n").getBytes(StandardCharsets.US_ASCII)),
                    Net.readAll(s));
        }
    }

    /** A subnegotiation ends at IAC SE only: a data byte 0xF0 (SE), say a window 240 columns wide in NAWS, is data. */
    @Test
    void aByte0xF0InsideASubnegotiationDoesNotEndIt() throws Exception {
        try (Socket s = Net.connect(server.port())) {
            int naws = 31;
            Net.write(s, UppercaseTest.bytes(IAC, WILL, BINARY, IAC, SB, naws, 0, SE, 0, 24));
            Net.write(s, "hidden");
            Net.write(s, UppercaseTest.bytes(IAC, SE));
            Net.write(s, "shown\n");
            s.shutdownOutput();
            assertArrayEquals(concat(UppercaseTest.bytes(IAC, DO, BINARY), "SHOWN\n".getBytes(StandardCharsets.US_ASCII)), Net.readAll(s));
        }
    }

    static byte[] concat(byte[] a, byte[] b) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(a);
        out.writeBytes(b);
        return out.toByteArray();
    }

    @Test
    void telnetShowsUpperCasedCyrillicAndStrasseAndAnNcClientGetsNoTelnetByte() throws Exception {
        Pty.assumeInstalled("telnet");
        try (Pty telnet = Pty.run("telnet", "-E", "127.0.0.1", "" + server.port())) {
            telnet.awaitScreen("Escape character is");
            // Each of у, я, Ŝ, Ě, ワ has a byte that telnet takes for Ctrl-C, -O, -\ or -Z until BINARY;
            // 来, ם and ŝ have 0x9D, Ctrl-], which plain telnet takes for its escape key (not with -E).
            telnet.type("来 ם ŝ как у тебя? straße Ŝ Ě ワ 🙂\n");
            telnet.awaitScreen("来 ם Ŝ КАК У ТЕБЯ? STRASSE Ŝ Ě ワ 🙂\r\n");
            telnet.type("\u0003");                                              // Ctrl-C: the screen goes on
            telnet.type("ещё раз, ß\n");
            telnet.awaitScreen("ЕЩЁ РАЗ, SS\r\n");
        }
        assertEquals("КАК У ТЕБЯ STRASSE\n", UppercaseTest.ask(server.port(), "как у тебя straße\n"));
    }
}
