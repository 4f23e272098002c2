package chat;

import static harness.Net.seconds;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import harness.LineClient;
import harness.Net;
import harness.Program;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ChatTest {
    static final Pattern GREETING = Pattern.compile("welcome, you are user (\\d+) \\((\\d+) users? in the room\\)");
    Program server;

    /** A room of its own for each test: a departure from the last test can never reach this one's members. */
    @BeforeEach
    void start() {
        server = Program.of("chat/Chat.java").start("0");
    }

    @AfterEach
    void stop() {
        server.close();
    }

    /** A member of the room: connected, greeted, and knowing its number. */
    static class Member extends LineClient {
        final long number;
        final int roomSize;

        Member(int port) {
            this(Net.connect(port));
        }

        Member(Socket socket) {
            super(socket);
            String greeting = readLine();
            Matcher m = GREETING.matcher(String.valueOf(greeting));
            if (!m.matches()) throw new AssertionError("not a greeting: " + greeting);
            number = Long.parseLong(m.group(1));
            roomSize = Integer.parseInt(m.group(2));
        }
    }

    @Test
    void joinLinesAndLeaveAreSentToOthersExactly() {
        try (Member a = new Member(server.port())) {
            Member b = new Member(server.port());
            assertTrue(b.number > a.number);
            assertEquals(a.roomSize + 1, b.roomSize);
            assertEquals("user " + b.number + " joined the chat room", a.readLine());

            a.send("hello\n");
            assertEquals("user " + a.number + ": hello", b.readLine());
            b.send("hi there\n");
            assertEquals("user " + b.number + ": hi there", a.readLine()); // a did not get its own line back

            b.close();
            assertEquals("user " + b.number + " disconnected", a.readLine());
            server.awaitLog("127.0.0.1:" + b.localPort() + " closed (user " + b.number + ": closed)");
        }
    }

    @Test
    void greetsWithTheNumberAndTheRoomSize() {
        try (Program small = Program.of("chat/Chat.java").start("0", "5"); Member first = new Member(small.port())) {
            assertEquals(1, first.roomSize);
            try (Member second = new Member(small.port())) {
                assertEquals(first.number + 1, second.number);
                assertEquals(2, second.roomSize);
            }
        }
    }

    @Test
    void aLineSplitAcrossTwoReadsArrivesOnceWhole() throws Exception {
        try (Member a = new Member(server.port()); Member b = new Member(server.port())) {
            a.readLine(); // b joined
            a.socket.setTcpNoDelay(true);
            a.send("hel");
            // b's line is sent after "hel" has arrived, so once it has gone round, the server has
            // read "hel" on its own, in the same turn of its loop or before.
            b.send("ping\n");
            assertEquals("user " + b.number + ": ping", a.readLine());
            a.send("lo world\n");
            a.send("next\n");
            assertEquals("user " + a.number + ": hello world", b.readLine());
            assertEquals("user " + a.number + ": next", b.readLine());
        }
    }

    @Test
    void severalLinesInOneWriteAreSeveralMessagesWithLfOrCrlf() {
        try (Member a = new Member(server.port()); Member b = new Member(server.port())) {
            a.send("one\ntwo\r\nthree\n");
            assertEquals("user " + a.number + ": one", b.readLine());
            assertEquals("user " + a.number + ": two", b.readLine());
            assertEquals("user " + a.number + ": three", b.readLine());
        }
    }

    @Test
    void controlCharactersNeverReachOthersAndEachLineHasOnePrefix() {
        try (Member a = new Member(server.port()); Member b = new Member(server.port())) {
            byte[] hostile = concat(
                    "\u001b[2J clear\n",                     // ANSI clear screen
                    "\u001b]52;c;aGVsbG8=\u0007 clip\n",     // OSC 52: write the clipboard
                    "\r\nuser 1: fake\n",                   // CRLF alone, then a fake line
                    "ok\ruser 1: fake too\n",               // a lone CR to overwrite the prefix
                    "bell\u0007 del\u007f tab\tend\n");
            // 0xFE and 0xC0 are never UTF-8 (0xFF would be too, but it starts a telnet command)
            byte[] c1AndInvalid = {'c', '1', (byte) 0xC2, (byte) 0x9B, '3', '1', 'm', ' ', (byte) 0xFE, (byte) 0xC0, '!', '\n'};
            Net.write(a.socket, hostile);
            Net.write(a.socket, c1AndInvalid);
            String prefix = "user " + a.number + ": ";
            List<String> expected = List.of(
                    prefix + "[2J clear",
                    prefix + "]52;c;aGVsbG8= clip",
                    prefix,
                    prefix + "user 1: fake",
                    prefix + "okuser 1: fake too",
                    prefix + "bell del tab\tend",
                    prefix + "c131m \uFFFD\uFFFD!");
            for (String line : expected) {
                String got = b.readLine();
                assertEquals(line, got);
                assertTrue(got.chars().noneMatch(c -> c != '\t' && Character.isISOControl(c)), got);
            }
        }
    }

    @Test
    void aControlCharacterIsRemovedAloneWhenNonAsciiTextFollowsIt() {
        try (Member a = new Member(server.port()); Member b = new Member(server.port())) {
            a.send("a\u0007é\n" + "\u001b[1mbold\u001b[0m, ünd\n" + "x\u0000y\u0085z ж\n");
            String prefix = "user " + a.number + ": ";
            assertEquals(prefix + "aé", b.readLine());                   // the text before the control, once
            assertEquals(prefix + "[1mbold[0m, ünd", b.readLine());
            assertEquals(prefix + "xyz ж", b.readLine());                // C0 and C1 (U+0085) alike
        }
    }

    @Test
    void bidirectionalControlsAndLineSeparatorsAreRemoved() {
        try (Member a = new Member(server.port()); Member b = new Member(server.port())) {
            a.send("abc\u202Edcba\u202C \u2066iso\u2069 \u202A\u202B\u202D one\u2028two\u2029three \u2067\u2068.\n");
            assertEquals("user " + a.number + ": abcdcba iso  onetwothree .", b.readLine());
            a.send("\u200Fמימין\u200E ltr\u061C alm.\n");                   // RLM, LRM, ALM: marks that reorder too
            assertEquals("user " + a.number + ": מימין ltr alm.", b.readLine());
        }
    }

    @Test
    void aLineOfExactly4096BytesIsOneMessageWithLfOrCrlf() {
        try (Member a = new Member(server.port()); Member b = new Member(server.port())) {
            String exact = "e".repeat(4096), crlf = "c".repeat(4095);
            a.send(exact + "\n" + crlf + "\r\n" + "after\n");
            String prefix = "user " + a.number + ": ";
            assertEquals(prefix + exact, b.readLine());
            assertEquals(prefix + crlf, b.readLine());
            assertEquals(prefix + "after", b.readLine()); // no empty message for either line end
        }
    }

    @Test
    void aLongLineIsNeverCutInsideACharacter() {
        try (Member a = new Member(server.port()); Member b = new Member(server.port())) {
            String line = "x" + "ж".repeat(3000) + "\n";                 // 6001 bytes: byte 4096 is inside a "ж"
            a.send(line);
            String prefix = "user " + a.number + ": ";
            String first = b.readLine(), second = b.readLine();
            assertEquals(prefix + "x" + "ж".repeat(2047), first);       // 4095 bytes, whole characters
            assertEquals(prefix + "ж".repeat(953), second);
        }
    }

    /** 😀 is four bytes: starting at byte 4093, 4094 or 4095 of a line, its end lies past the 4,096 of a piece. */
    @Test
    void aFourByteCharacterAcrossThePieceBoundaryOfALongLineGoesWholeIntoTheNextPiece() {
        try (Member a = new Member(server.port()); Member b = new Member(server.port())) {
            String prefix = "user " + a.number + ": ";
            a.send("x".repeat(4092) + "😀" + "y\n");                       // bytes 4092-4095: it fits the first piece
            assertEquals(prefix + "x".repeat(4092) + "😀", b.readLine());
            assertEquals(prefix + "y", b.readLine());
            for (int start = 4093; start <= 4095; start++) {
                a.send("x".repeat(start) + "😀" + "y\n");
                assertEquals(prefix + "x".repeat(start), b.readLine(), "😀 at byte " + start);
                assertEquals(prefix + "😀y", b.readLine(), "😀 at byte " + start);
            }
        }
    }

    @Test
    void anUnfinishedLastLineIsSentAtEof() throws Exception {
        try (Member a = new Member(server.port()); Member b = new Member(server.port())) {
            a.send("one\nno newline at the end");
            a.socket.shutdownOutput();
            assertEquals("user " + a.number + ": one", b.readLine());
            assertEquals("user " + a.number + ": no newline at the end", b.readLine());
            assertEquals("user " + a.number + " disconnected", b.readLine());
        }
    }

    /** The first piece is cut before the CR, which may start a CRLF; EOF ends the line instead, and adds nothing. */
    @Test
    void aLineOf4095BytesAndACrBeforeEofIsOneMessage() throws Exception {
        try (Member a = new Member(server.port()); Member b = new Member(server.port())) {
            String line = "c".repeat(4095);
            a.send(line + "\r");
            a.socket.shutdownOutput();
            assertEquals("user " + a.number + ": " + line, b.readLine());
            assertEquals("user " + a.number + " disconnected", b.readLine());   // no empty "user N: " before it
        }
    }

    /**
     * A client that reads slowly and then half-closes gets every line it was owed, and then EOF.
     * The sender is held to the slow reader's pace meanwhile, so nothing piles up to the 1 MiB cap.
     */
    @Test
    void aSlowReaderThatHalfClosesGetsEveryLineItWasOwed() throws Exception {
        try (Program room = Program.of("chat/Chat.java").start("0")) {
            Socket raw = new Socket();
            raw.setReceiveBufferSize(4096);
            raw.connect(new InetSocketAddress("127.0.0.1", room.port()));
            raw.setSoTimeout(Net.READ_TIMEOUT_MS);
            try (Member slow = new Member(raw); Member sender = new Member(room.port()); Member witness = new Member(room.port())) {
                slow.readLine(); slow.readLine(); sender.readLine();          // join lines
                int lines = 2000;                                             // 2 MB: twice the cap, were it not held back
                String body = "x".repeat(1000);
                CompletableFuture<Void> send = inThread(() -> {
                    for (int i = 0; i < lines; i++) sender.send(i + " " + body + "\n");
                });
                java.io.InputStream in = raw.getInputStream();
                java.io.ByteArrayOutputStream got = new java.io.ByteArrayOutputStream();
                byte[] chunk = new byte[16 * 1024];
                CompletableFuture<Void> witnessed = inThread(
                        () -> witness.skipUntil("user " + sender.number + ": " + (lines - 1) + " " + body));
                while (!witnessed.isDone()) {                                  // a few MB/s at most, far below the sender's pace
                    int n = in.read(chunk);
                    if (n < 0) break;
                    got.write(chunk, 0, n);
                    Thread.sleep(2); // the scenario: a slow reader, not synchronisation
                }
                witnessed.join();
                send.join();
                raw.shutdownOutput();                                          // EOF: it leaves, owed everything sent
                in.transferTo(got);                                            // to the server's FIN
                String[] received = got.toString(StandardCharsets.UTF_8).split("\n");
                int next = 0;
                for (String line : received) {
                    if (line.equals("user " + sender.number + ": " + next + " " + body)) next++;
                    else assertFalse(line.startsWith("user " + sender.number + ": "), "out of order: " + line.substring(0, 30));
                }
                assertEquals(lines, next, "lines the half-closing client received");
                room.awaitLog("user " + slow.number + ": closed");
            }
        }
    }

    @Test
    void aLongLineWithoutNewlineGoesOutInPiecesWithBoundedMemory() {
        try (Program small = Program.of("chat/Chat.java").jvm("-Xmx64m").start("0");
             Member sender = new Member(small.port());
             Member receiver = new Member(small.port());
             Member other = new Member(small.port())) {
            sender.readLine(); sender.readLine(); receiver.readLine(); // join lines
            byte[] line = new byte[1 << 20];
            for (int i = 0; i < line.length; i++) line[i] = (byte) ('a' + i % 26);
            CompletableFuture<Void> write = CompletableFuture.runAsync(() -> Net.write(sender.socket, line));
            String prefix = "user " + sender.number + ": ";
            StringBuilder got = new StringBuilder();
            for (int piece = 0; piece < line.length / 4096; piece++) {
                String message = receiver.readLine();
                assertTrue(message.startsWith(prefix), message.substring(0, Math.min(40, message.length())));
                assertEquals(4096, message.length() - prefix.length());
                got.append(message, prefix.length(), message.length());
            }
            write.join();
            assertEquals(new String(line, StandardCharsets.US_ASCII), got.toString());
            other.send("still here\n");
            assertEquals("user " + other.number + ": still here", receiver.readLine());
            assertTrue(small.process().isAlive(), small.describe());
        }
    }

    @Test
    void aStalledClientIsDroppedWhileOthersGetEveryLine() throws Exception {
        try (Program room = Program.of("chat/Chat.java").start("0")) {
            Socket raw = new Socket();
            raw.setReceiveBufferSize(4096);
            raw.connect(new InetSocketAddress("127.0.0.1", room.port()));
            raw.setSoTimeout(Net.READ_TIMEOUT_MS);
            try (Member stalled = new Member(raw); Member sender = new Member(room.port()); Member receiver = new Member(room.port())) {
                // stalled never reads again from here on
                sender.readLine(); // receiver joined
                int lines = 2000;                                             // 2 MB: past the 1 MiB cap and the kernel's buffers
                String body = "x".repeat(1000);
                CompletableFuture<Void> send = CompletableFuture.runAsync(() -> {
                    for (int i = 0; i < lines; i++) sender.send(i + " " + body + "\n");
                });
                int next = 0;
                boolean dropped = false;
                while (next < lines) {
                    String line = receiver.readLine();
                    if (line.equals("user " + stalled.number + " disconnected (too slow)")) {
                        dropped = true;
                        continue;
                    }
                    assertEquals("user " + sender.number + ": " + next + " " + body, line);
                    next++;
                }
                send.join();
                assertTrue(dropped, "the stalled client was not dropped");
                room.awaitLog("user " + stalled.number + ": too slow");
            }
        }
    }

    @Test
    void resetsDuringABroadcastStormHurtNoOneElse() throws Exception {
        try (Program room = Program.of("chat/Chat.java").start("0")) {
            List<Member> keepers = new ArrayList<>(), victims = new ArrayList<>();
            for (int i = 0; i < 50; i++) (i % 2 == 0 ? keepers : victims).add(new Member(room.port()));
            try {
                int perSender = 200;
                List<Member> senders = keepers.subList(0, 5);
                List<CompletableFuture<Void>> storm = new ArrayList<>();
                for (Member s : senders) {
                    storm.add(CompletableFuture.runAsync(() -> {
                        for (int i = 0; i < perSender; i++) s.send("storm " + i + "\n");
                    }));
                }
                for (Member v : victims) Net.reset(v.socket);
                storm.forEach(CompletableFuture::join);
                for (Member k : keepers) {
                    Set<String> missing = new HashSet<>();
                    for (Member s : senders) {
                        if (s != k) for (int i = 0; i < perSender; i++) missing.add("user " + s.number + ": storm " + i);
                    }
                    while (!missing.isEmpty()) {
                        String line = k.readLine();
                        assertTrue(line != null, "EOF with " + missing.size() + " lines missing");
                        missing.remove(line);
                    }
                }
                try (Member late = new Member(room.port())) {
                    assertEquals(keepers.size() + 1, late.roomSize);
                }
            } finally {
                keepers.forEach(LineClient::close);
            }
        }
    }

    @Test
    void aFullRoomTurnsNewcomersAwayAndGoesOn() {
        try (Program room = Program.of("chat/Chat.java").start("0", "3");
             Member a = new Member(room.port()); Member b = new Member(room.port()); Member c = new Member(room.port())) {
            try (LineClient fourth = new LineClient(room.port())) {
                assertEquals("room is full", fourth.readLine());
                assertNull(fourth.readLine());
            }
            a.send("still open\n");
            b.skipUntil("user " + a.number + ": still open");
            c.skipUntil("user " + a.number + ": still open");
            room.awaitLog("refused: room is full (3)");
        }
    }

    /**
     * A newcomer to a full room that talks before it reads still gets "room is full" and a clean
     * end: the server's FIN goes before the reset that closing with its unread input sends.
     */
    @Test
    void aNewcomerToAFullRoomWhoTalksFirstStillGetsTheAnswer() throws Exception {
        try (Program room = Program.of("chat/Chat.java").start("0", "1"); Member only = new Member(room.port())) {
            for (int i = 0; i < 20; i++) {
                try (LineClient talker = new LineClient(room.port())) {
                    CompletableFuture<Void> talking = inThread(() -> {
                        try {
                            while (true) talker.socket.getOutputStream().write("hello?\n".repeat(100).getBytes());
                        } catch (IOException e) {
                            // turned away, as it should be
                        }
                    });
                    assertEquals("room is full", talker.readLine(), "try " + i);
                    assertNull(talker.readLine(), "try " + i);                      // EOF, not "Connection reset"
                    talker.close();
                    talking.join();
                }
            }
        }
    }

    @Test
    void aThousandClientsAllReceiveABroadcast() {
        try (Program room = Program.of("chat/Chat.java").start("0", "1000")) {
            List<Member> members = new ArrayList<>();
            try {
                for (int i = 0; i < 1000; i++) members.add(new Member(room.port()));
                Member speaker = members.get(0);
                speaker.send("hello, everyone\n");
                for (Member m : members.subList(1, members.size())) m.skipUntil("user " + speaker.number + ": hello, everyone");
            } finally {
                members.forEach(LineClient::close);
            }
        }
    }

    @Test
    void idleClientsCostNoCpu() throws Exception {
        List<Member> idle = new ArrayList<>();
        try {
            for (int i = 0; i < 100; i++) idle.add(new Member(server.port()));
            idle.get(0).send("now everyone has output queued once\n");
            idle.get(99).skipUntil("user " + idle.get(0).number + ": now everyone has output queued once");
            var before = Net.cpuTime(server.pid());
            Thread.sleep(3000); // the measurement window
            var used = Net.cpuTime(server.pid()).minus(before);
            assertTrue(used.toMillis() < 900, "100 idle clients used " + used + " of CPU in 3 s");
        } finally {
            idle.forEach(LineClient::close);
        }
    }

    /** Runs {@code task} on a thread of its own (the common pool has a single thread on a 2-core machine). */
    static <T> CompletableFuture<T> inThread(java.util.function.Supplier<T> task) {
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread thread = new Thread(() -> {
            try {
                result.complete(task.get());
            } catch (Throwable e) {
                result.completeExceptionally(e);
            }
        });
        thread.setDaemon(true);
        thread.start();
        return result;
    }

    static CompletableFuture<Void> inThread(Runnable task) {
        return inThread(() -> {
            task.run();
            return null;
        });
    }

    static byte[] concat(String... parts) {
        return String.join("", parts).getBytes(StandardCharsets.UTF_8);
    }
}
