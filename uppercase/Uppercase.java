/*
 * Uppercase: sends back, in upper case, the text each client sends.
 * SPDX-License-Identifier: MIT-0
 *
 * The Java form of the upper-case server of the "how sockets really work"
 * article, concurrent: the accept loop hands each client to a thread of its own
 * (virtual on JDK 21+, platform on 17), which runs the article's service(in,
 * out) and closes the socket. Its cost: a thread per client. Text is converted
 * as it arrives, by Unicode's rules with Locale.ROOT; bytes that are not UTF-8
 * come back unchanged. Telnet works as well as nc. More: docs/uppercase.md.
 *
 * Try it:  java uppercase/Uppercase.java          (listens on port 1067)
 *          nc localhost 1067                     (or telnet -E localhost 1067)
 */
import java.io.*;
import java.lang.invoke.*;
import java.net.*;
import java.nio.*;
import java.nio.channels.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.*;

public class Uppercase {
    static final int DEFAULT_PORT = 1067;
    static final String USAGE = """
            usage: java uppercase/Uppercase.java [PORT]
            The upper-case service: text each client sends (with nc or telnet) comes back in upper case (UTF-8, Unicode rules).
              PORT  port to listen on (default 1067; 0 picks a free one)
            example: java uppercase/Uppercase.java 1067, then in another terminal: nc localhost 1067 (or telnet -E localhost 1067: without -E, telnet takes the byte 0x9D of some UTF-8 characters for its escape key)""";

    // A client that waits holds only a small buffer; one whose read fills it while more is
    // waiting (a larger request, or a stream) gets a large one until nothing is waiting again:
    // 64 KiB, as the C child's, so that a request of up to 64 KiB goes back in one write (32 KiB
    // on JDK 17, whose client threads keep the JDK's direct copy of their largest read for good).
    // It is what a client that never reads keeps while its thread waits in write(). Large buffers
    // are kept for reuse, 64 at most: a new one for every request would be zeroed and soon
    // garbage, and made a 4 KiB request take twice as long on JDK 25.
    static final int SMALL_BUFFER = 1024, LARGE_BUFFER = 64 * 1024, REQUEST = 64 * 1024;
    static final BlockingQueue<ByteBuffer> LARGE_BUFFERS = new ArrayBlockingQueue<>(64);
    static boolean virtualThreads;                                       // set by clientThreads()
    // Bytes [i, i + 8) of a byte[] as one long, for upper-casing ASCII eight bytes at a time.
    static final VarHandle EIGHT_BYTES = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    public static void main(String[] args) throws IOException {
        if (args.length > 0 && (args[0].equals("-h") || args[0].equals("--help"))) {
            System.out.println(USAGE);
            return;
        }
        noOptions(args);
        if (args.length > 1) usageError("unexpected argument '" + args[1] + "'");
        int port = args.length == 1 ? port(args[0]) : DEFAULT_PORT;
        Channel inherited = inheritedChannel();
        if (inherited instanceof SocketChannel client) {                 // inetd nowait, systemd Accept=yes:
            serve(client);                                               // one client, then exit
            return;
        }
        if (inherited instanceof DatagramChannel) fail("error: the socket on stdin is UDP; this service is TCP only");
        try (ServerSocketChannel server = inherited instanceof ServerSocketChannel listener
                ? listener                                               // inetd wait, systemd Accept=no
                : listen(port)) {
            ThreadFactory threads = clientThreads();
            warmUp(virtualThreads ? threads : null);
            System.out.println("listening on " + address(server.getLocalAddress()));
            long lastWarning = System.nanoTime() - 1_000_000_000L;
            while (true) {
                SocketChannel client;
                try {
                    client = server.accept();                            // accept()
                } catch (IOException e) {
                    if (!server.isOpen() || notListening(e)) return;
                    // Out of file descriptors, say: log at most once a second, and back off instead of spinning.
                    lastWarning = warn("accept failed: " + e.getMessage() + " (retrying)", lastWarning);
                    pause(100);
                    continue;
                }
                try {
                    threads.newThread(() -> serve(client)).start();      // one thread per client: the fork()
                    // The client's thread owns the socket now; this loop never touches it again.
                } catch (OutOfMemoryError e) {                           // out of threads (ulimit -u, a container's
                    close(client);                                       // pids limit), where fork() would fail:
                    lastWarning = warn("no thread for a client: " + e.getMessage() + " (retrying)", lastWarning);
                    pause(100);                                          // as for EMFILE, close it and back off
                }
            }
        }
    }

    static ServerSocketChannel listen(int port) throws IOException {
        ServerSocketChannel server = ServerSocketChannel.open();     // socket()
        server.setOption(StandardSocketOptions.SO_REUSEADDR, true);  // setsockopt(SO_REUSEADDR)
        try {
            // The JDK binds the IPv6 wildcard, dual-stack, so IPv4 and IPv6 clients both come.
            // A long accept queue (the kernel caps it at somaxconn): a burst of connects
            // waits there for accept() instead of losing its SYNs to a full queue.
            server.bind(new InetSocketAddress(port), 4096);          // bind(in6addr_any) + listen()
        } catch (BindException e) {
            String why = e.getMessage() == null ? "" : e.getMessage();
            if (why.contains("in use")) fail("error: port " + port + " is already in use");
            if (why.contains("denied")) fail("error: port " + port + " needs root; try the default port " + DEFAULT_PORT);
            fail("error: cannot listen on port " + port + ": " + why);
        }
        return server;
    }

    static void serve(SocketChannel client) {
        String peer = address(client.socket().getRemoteSocketAddress());
        log("connection from " + peer);
        try (client) {                                                   // close() when done, whatever happens
            // An answer longer than one read takes several writes; Nagle would hold the last for the client's delayed ACK.
            client.setOption(StandardSocketOptions.TCP_NODELAY, true);   // setsockopt(TCP_NODELAY)
            long total = service(client, client);
            client.shutdownOutput();                                     // shutdown(SHUT_WR): EOF for the client too
            log(peer + " closed (" + total + " bytes)");
        } catch (IOException e) {
            log(peer + " " + e.getMessage());                            // a reset ends this client only
        } catch (OutOfMemoryError e) {
            log(peer + " no memory for a buffer: " + e.getMessage());
        }
    }

    /** The article's service(in, out), given the client's socket as both: upper-cases what arrives, as it arrives, until EOF. */
    static long service(SocketChannel in, SocketChannel out) throws IOException {
        Telnet telnet = new Telnet();
        ByteBuffer buffer = ByteBuffer.allocate(SMALL_BUFFER);
        InputStream waiting = in.socket().getInputStream();             // for available(): ioctl(FIONREAD)
        long[] total = {0};
        for (int n; (n = in.read(buffer)) != -1; ) {                     // read() until EOF
            total[0] += n;
            if (!buffer.hasRemaining() && waiting.available() > 0) {
                stream(in, out, telnet, buffer, total);                  // more than a small buffer: the rest comes too
            } else {
                ByteBuffer answer = answer(buffer, telnet);
                while (answer.hasRemaining()) out.write(answer);         // write() until all of it is sent
            }
        }
        for (buffer.flip(); buffer.hasRemaining(); ) out.write(buffer);  // a character cut off for good: not UTF-8, sent as is
        return total[0];
    }

    /**
     * Serves what {@code small} holds and what keeps coming after it, with a large buffer. A
     * request of up to 64 KiB is answered here, in one write if it has all arrived; a client still
     * sending after that streams, on a platform thread (see onPlatformThread()) until nothing is
     * waiting. When the client's window is full, what it holds back is written here, where waiting
     * for the client costs the buffer alone, then the platform thread takes over again. A
     * character cut off stays in {@code small}.
     */
    static void stream(SocketChannel in, SocketChannel out, Telnet telnet, ByteBuffer small, long[] total) throws IOException {
        ByteBuffer buffer = largeBuffer().clear().put(small.flip());
        ByteBuffer[] unsent = {ByteBuffer.allocate(0)};                  // the answer not yet written: none so far
        long request = total[0] + REQUEST;                               // answered here up to this total
        try {
            for (boolean more = true; more; ) {
                more = total[0] <= request ? upperCaseWhatIsWaiting(in, out, telnet, buffer, unsent, total, request)
                        : onPlatformThread(() -> upperCaseWhatIsWaiting(in, out, telnet, buffer, unsent, total, Long.MAX_VALUE));
                while (unsent[0].hasRemaining()) out.write(unsent[0]);   // the client reads slower than it sends
            }
            small.clear().put(buffer.flip());
        } finally {
            LARGE_BUFFERS.offer(buffer);                                 // for the next client with more to say
        }
    }

    static ByteBuffer largeBuffer() {
        ByteBuffer reused = LARGE_BUFFERS.poll();
        return reused != null ? reused : ByteBuffer.allocate(virtualThreads ? LARGE_BUFFER : LARGE_BUFFER / 2);
    }

    /**
     * Serves what the buffer holds and what has arrived after it, never waiting. Returns false
     * once nothing more is waiting, or true once the total is past {@code until} or at a write
     * the client's window had no room for, whose rest is left in unsent[0].
     */
    static boolean upperCaseWhatIsWaiting(SocketChannel in, SocketChannel out, Telnet telnet, ByteBuffer buffer,
                                          ByteBuffer[] unsent, long[] total, long until) throws IOException {
        in.configureBlocking(false);                                     // fcntl(O_NONBLOCK): read() and write()
        try {                                                            // take what they can, and return
            for (int n; (n = in.read(buffer)) > 0; ) {                   // 0: nothing waiting; -1: EOF, read again
                total[0] += n;
                unsent[0] = answer(buffer, telnet);
                out.write(unsent[0]);
                if (unsent[0].hasRemaining() || total[0] > until) return true; // the next write would wait, or a stream
            }
            return false;
        } finally {
            in.configureBlocking(true);
        }
    }

    /**
     * What to send for the text in the buffer, before its position: upper-cased, with telnet's
     * commands taken out and their answers first. A character cut off at the end stays in the
     * buffer, to be joined by the rest at the next read.
     */
    static ByteBuffer answer(ByteBuffer buffer, Telnet telnet) throws IOException {
        byte[] bytes = buffer.array();
        int end = buffer.position();
        buffer.clear();
        if (telnet.state == Telnet.TEXT && upperCaseAscii(bytes, 0, end) == end) {
            return ByteBuffer.wrap(bytes, 0, end);                       // ASCII alone, the usual case: upper-cased in place
        }
        Answer answer = new Answer(end + 64);
        end = telnet.filter(bytes, 0, end);                              // telnet's commands out, their answers
        telnet.answers.writeTo(answer);                                  // ready to go first
        telnet.answers.reset();
        int kept = upperCase(bytes, end, new Escaping(answer, telnet));
        buffer.put(bytes, end - kept, kept);                             // the rest of a character comes next
        return answer.bytes();
    }

    /** Bytes to send, collected for one write(). */
    static final class Answer extends ByteArrayOutputStream {
        Answer(int size) {
            super(size);
        }

        ByteBuffer bytes() {
            return ByteBuffer.wrap(buf, 0, count);
        }
    }

    /**
     * Writes bytes[0, end) upper-cased, except for a character cut off at the end,
     * whose length it returns. Runs of UTF-8 are converted (ASCII in place, the
     * fast path); any byte that cannot start a UTF-8 character is written unchanged.
     */
    static int upperCase(byte[] bytes, int end, OutputStream out) throws IOException {
        int i = 0;
        while (i < end) {
            int start = i, length = 1;
            boolean ascii = true;
            while (i < end) {
                i = upperCaseAscii(bytes, i, end);
                if (i == end) break;
                length = utf8Length(bytes, i, end);
                if (length <= 0) break;
                ascii = false;
                i += length;
            }
            if (ascii) {
                out.write(bytes, start, i - start);
            } else {                                                     // one character at a time: see upper()
                String text = new String(bytes, start, i - start, StandardCharsets.UTF_8);
                StringBuilder upper = new StringBuilder(text.length() + 16);
                text.codePoints().forEach(c -> upper.append(upper(c)));
                out.write(upper.toString().getBytes(StandardCharsets.UTF_8));
            }
            if (length == 0) return end - i;                             // cut off: wait for the rest
            if (length < 0) out.write(bytes[i++]);                       // not UTF-8: passed through unchanged
        }
        return 0;
    }

    /** Upper-cases the ASCII in bytes [i, end), in place, up to the first byte that is not ASCII; returns where that is. */
    static int upperCaseAscii(byte[] bytes, int i, int end) {
        for (; i + 8 <= end; i += 8) {
            long word = (long) EIGHT_BYTES.get(bytes, i);
            if ((word & 0x80808080_80808080L) != 0) break;               // eight ASCII bytes at once:
            long lower = (word + 0x1F1F1F1F_1F1F1F1FL)                   // top bit of each byte set if b >= 'a'
                    & ~(word + 0x05050505_05050505L)                     // and clear if b > 'z' (no carries:
                    & 0x80808080_80808080L;                              // every b is below 0x80)
            EIGHT_BYTES.set(bytes, i, word ^ (lower >>> 2));             // 0x80 >>> 2 is 0x20, a-z's lower-case bit
        }
        for (; i < end && bytes[i] >= 0; i++) {                          // the rest one at a time, without a
            int b = bytes[i], isLower = (((b - 'a') | ('z' - b)) >>> 31) ^ 1; // branch, which random letters
            bytes[i] = (byte) (b ^ (isLower << 5));                      // would mispredict
        }
        return i;
    }

    /**
     * The upper case of one character in Unicode's full mapping (ß is SS), kept for the
     * Basic Multilingual Plane. Not text.toUpperCase() for a whole run: it re-grows its
     * result at each character that grows, so a long run of ß costs the square of its
     * length. Upper case in Locale.ROOT needs no context, so one at a time is the same.
     */
    static String upper(int c) {
        if (c >= UPPER.length) return Character.toString(c).toUpperCase(Locale.ROOT);
        String upper = UPPER[c];
        if (upper == null) UPPER[c] = upper = Character.toString(c).toUpperCase(Locale.ROOT);
        return upper;                                                    // (a String is safe to share unlocked)
    }

    static final String[] UPPER = new String[1 << 16];

    /**
     * The length of the well-formed UTF-8 character at bytes[i] (2 to 4), 0 if it
     * may be one but is cut off at end, or -1 if it is not one (Unicode table 3-7:
     * no overlong forms, no surrogates, nothing above U+10FFFF).
     */
    static int utf8Length(byte[] bytes, int i, int end) {
        int lead = bytes[i] & 0xFF;
        int length = lead < 0xC2 ? -1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : lead < 0xF5 ? 4 : -1;
        if (length < 0) return -1;
        int low = lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;     // the second byte's range
        int high = lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
        for (int k = 1; k < length; k++) {
            if (i + k == end) return 0;
            int b = bytes[i + k] & 0xFF;
            if (b < (k == 1 ? low : 0x80) || b > (k == 1 ? high : 0xBF)) return -1;
        }
        return length;
    }

    /**
     * Runs {@code work} on a platform thread of its own and waits for it, where clients have virtual
     * threads: waiting, the virtual thread frees its carrier for other clients, and the kernel
     * time-slices the platform thread as it would a forked child. On JDK 17 too: what the JDK keeps
     * for a thread that did a burst (a direct buffer as large as its reads into heap memory) goes
     * with the thread, not with the client. The work never waits for the client, so no client holds
     * the thread for longer than it keeps sending. When no thread can be had, the work runs here.
     */
    static <T> T onPlatformThread(Callable<T> work) throws IOException {
        FutureTask<T> task = new FutureTask<>(work);
        try {
            PLATFORM_THREADS.execute(task);
        } catch (OutOfMemoryError e) {
            task.run();                                                  // out of threads: stay
        }
        try {
            return task.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) throw io;       // the work's own failure, as if here
            if (e.getCause() instanceof Error error) throw error;
            throw (RuntimeException) e.getCause();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException();
        }
    }

    // A thread for each client that streams, kept a tenth of a second for the next: a client
    // hands its work over each time its window has room again, hundreds of times a second.
    static final ExecutorService PLATFORM_THREADS = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 100, TimeUnit.MILLISECONDS,
            new SynchronousQueue<>(), work -> {
                Thread thread = new Thread(work);
                thread.setDaemon(true);                                  // as the client's own: no reason to outlive main
                return thread;
            });

    /** Virtual threads where the JDK has them (21+), platform threads otherwise (17). */
    static ThreadFactory clientThreads() {
        try { // Thread.ofVirtual().factory(), looked up at run time so that this file still runs on JDK 17
            Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
            ThreadFactory virtual = (ThreadFactory) Class.forName("java.lang.Thread$Builder").getMethod("factory").invoke(builder);
            log("one virtual thread per client");
            virtualThreads = true;
            return virtual;
        } catch (ReflectiveOperationException e) {
            log("one platform thread per client (virtual threads need JDK 21)");
            return Thread::new;
        }
    }

    /**
     * Just enough telnet (RFC 854) for the telnet client to work: commands are taken out of the
     * input and answered, never taken for text. The only option agreed to is BINARY from the client
     * (it then sends UTF-8 as typed); the server's own output stays NVT text, which telnet shows
     * as it comes (in binary it would stop the terminal from turning \n into a new line).
     */
    static final class Telnet {
        static final int IAC = 255, DONT = 254, DO = 253, WONT = 252, WILL = 251, SB = 250, SE = 240;
        static final int IP = 244, AO = 245, BREAK = 243, ABORT = 238, SUSP = 237, EOF = 236; // the lowest command
        static final int BINARY = 0, TIMING_MARK = 6;
        static final int TEXT = 0, SB_IAC = 1;                    // states beside IAC, a verb, SB
        static final int OFF = 0, ASKED = 1, ON = 2;
        static final int MAX_SUBNEGOTIATION = 256;                // bytes skipped at most, if no IAC SE comes
        final ByteArrayOutputStream answers = new ByteArrayOutputStream();
        boolean recognised;                                       // it has negotiated: it is telnet
        int state = TEXT, binary = OFF, skipped;                  // binary: the client's side of BINARY

        static boolean present(byte[] bytes, int start, int end) {
            for (int i = start; i < end; i++) if (bytes[i] == (byte) IAC) return true;
            return false;
        }

        /** Takes the telnet commands out of bytes [start, end), in place, and returns where the text now ends. */
        int filter(byte[] bytes, int start, int end) {
            if (state == TEXT && !present(bytes, start, end)) return end;   // the usual case: text alone
            int to = start;
            for (int i = start; i < end; i++) {
                int b = bytes[i] & 0xFF;
                switch (state) {
                    case TEXT -> {
                        if (b == IAC) state = IAC;
                        else bytes[to++] = (byte) b;
                    }
                    case IAC -> {
                        state = TEXT;
                        // IAC IAC is the byte 0xFF; before what is no command, IAC is dropped, and so it is
                        // before SB from a client that never negotiated (telnet subnegotiates only what was
                        // agreed): "ÿú" from nc is text.
                        if (b == IAC || b < EOF || b == SB && !recognised) {
                            bytes[to++] = (byte) b;
                        } else if (b >= WILL || b == SB) {
                            state = b;                                       // a verb, or a subnegotiation to skip
                            skipped = 0;
                        } else if (typed(b) > 0 && insideCharacter(bytes, to)) {
                            bytes[to++] = (byte) typed(b);
                        }
                    }
                    case WILL, WONT, DO, DONT -> {
                        if (!recognised) {                                   // a negotiation: telnet, so ask for
                            recognised = true;                               // 8-bit input (a stray 0xFF from nc
                            binary = ASKED;                                  // starts none, and gets no answer)
                            answer(DO, BINARY);
                        }
                        negotiate(state, b);
                        state = TEXT;
                    }
                    case SB, SB_IAC -> {
                        // Skipped up to IAC SE. Left unfinished, it ends at a newline, which is kept, or
                        // after MAX_SUBNEGOTIATION bytes, so that it never mutes the user who sent it.
                        if (b == '\n') bytes[to++] = '\n';
                        if (b == '\n' || state == SB_IAC && b == SE || ++skipped == MAX_SUBNEGOTIATION) state = TEXT;
                        else state = state == SB && b == IAC ? SB_IAC : SB;
                    }
                    default -> throw new IllegalStateException("telnet state " + state);
                }
            }
            return to;
        }

        /**
         * Until it sends in binary, telnet takes a byte whose low seven bits are ^C, ^O, ^\ or ^Z for
         * that key, and sends its command instead (inetutils telnet.c, TerminalSpecialChars()). Inside
         * a UTF-8 character, where no key press can be, such a command is that byte, with its high bit.
         */
        static int typed(int command) {
            return switch (command) {
                case IP -> 0x83;                                             // ^C
                case AO -> 0x8F;                                             // ^O
                case BREAK, ABORT -> 0x9C;                                   // ^\
                case SUSP -> 0x9A;                                           // ^Z
                default -> -1;
            };
        }

        /** Whether bytes [.., end) end with a UTF-8 lead byte still waiting for some of its continuation bytes. */
        static boolean insideCharacter(byte[] bytes, int end) {
            for (int i = end - 1; i >= Math.max(0, end - 3); i--) {
                int b = bytes[i] & 0xFF;
                if (b < 0x80) return false;
                if (b >= 0xC0) return end - i < (b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2);
            }
            return false;
        }

        /** Answers WILL/WONT/DO/DONT: BINARY from the client is agreed, TIMING-MARK is answered, the rest refused. */
        void negotiate(int verb, int option) {
            boolean on = verb == WILL || verb == DO;
            if (option == TIMING_MARK && verb == DO) {
                answer(WILL, TIMING_MARK);           // every byte before it is handled: the mark ends telnet's flush
            } else if (option == BINARY && (verb == WILL || verb == WONT)) {
                if (binary == (on ? OFF : ON)) answer(on ? DO : DONT, BINARY); // a change it asked for; not an answer
                binary = on ? ON : OFF;
            } else if (on) {
                answer(verb == WILL ? DONT : WONT, option); // refused; a WONT or DONT for what is off needs no answer
            }
        }

        void answer(int verb, int option) {
            answers.write(IAC);
            answers.write(verb);
            answers.write(option);
        }
    }

    /** Output to a telnet client, 0xFF doubled (IAC IAC) once it is known for telnet, so that no byte of text is taken for a command. */
    static final class Escaping extends FilterOutputStream {
        final Telnet telnet;

        Escaping(OutputStream out, Telnet telnet) {
            super(out);
            this.telnet = telnet;
        }

        @Override
        public void write(byte[] bytes, int start, int length) throws IOException {
            int run = start, end = start + length;
            for (int i = start; i < end && telnet.recognised; i++) {
                if (bytes[i] != (byte) Telnet.IAC) continue;
                out.write(bytes, run, i + 1 - run);                  // up to and with the 0xFF,
                run = i;                                             // which starts the next run too
            }
            out.write(bytes, run, end - run);
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }
    }

    // Loaded now, with Uppercase: compiled, each nested class is a file of its own, which a client's
    // thread could not open once clients have taken every file descriptor.
    static final Class<?>[] TELNET = {Telnet.class, Escaping.class, Answer.class};

    // ---- the same in every server of this collection ----

    /**
     * One connection over loopback before any client comes, so that what the JDK sets up on first
     * use is set up now: the code that closes a socket and, given virtual threads, the pollers that
     * wake one blocked in read(). Set up for the first time during a flood of clients that took
     * every file descriptor, they would fail, and a class that fails to initialise fails for good.
     */
    static void warmUp(ThreadFactory virtualThreads) throws IOException {
        try (ServerSocketChannel listener = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
             SocketChannel client = SocketChannel.open(listener.getLocalAddress())) { // never accepted, never sent to
            if (virtualThreads == null) return;
            Thread reader = virtualThreads.newThread(() -> {
                try {
                    client.read(ByteBuffer.allocate(1));
                } catch (IOException e) {
                    // closed below, as planned
                }
            });
            reader.start();
            for (long end = System.nanoTime() + 1_000_000_000L;                 // until it is parked, or 1 s at most
                 reader.isAlive() && reader.getState() != Thread.State.WAITING && System.nanoTime() < end; ) pause(1);
        }                                                            // closing the client ends its read
    }

    /**
     * The socket inetd or systemd handed over as stdin (socket activation), or null.
     * Then stdout may be that socket, so the ready line and logs go to stderr, and
     * nowhere if stderr is the client's socket too (inetd passes it as 0, 1 and 2;
     * systemd's journal is a socket as well, but another one).
     */
    static Channel inheritedChannel() throws IOException {
        Channel inherited = System.inheritedChannel();
        if (inherited == null) {
            if (String.valueOf(ProcessHandle.current().pid()).equals(System.getenv("LISTEN_PID"))) {
                fail("error: systemd passed the socket as fd 3 (LISTEN_FDS), which Java cannot take over;"
                        + " use StandardInput=socket in the service, or systemd-socket-activate --inetd");
            }
            return null;
        }
        boolean quiet = true;                                        // where /proc cannot tell, to be safe
        try {
            quiet = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).equals(Files.readSymbolicLink(Path.of("/proc/self/fd/0")));
        } catch (IOException | UnsupportedOperationException e) {
            // not Linux, or fd 2 is closed: stay quiet
        }
        PrintStream logs = quiet ? new PrintStream(OutputStream.nullOutputStream()) : System.err;
        System.setOut(logs);
        System.setErr(logs);
        // Closing an inherited socket, the JDK points fds 0, 1 and 2 at /dev/null: serving that one
        // client, write each log line at once, since one still queued then would be lost.
        logAtOnce = inherited instanceof SocketChannel;
        if (!(((NetworkChannel) inherited).getLocalAddress() instanceof InetSocketAddress)) {
            fail("error: the socket on stdin is not a TCP or UDP socket");
        }
        return inherited;
    }

    /** accept() fails with EINVAL on a socket that is not listening: a client inetd handed over had reset. */
    static boolean notListening(IOException e) {
        return "Invalid argument".equals(e.getMessage());
    }

    static void noOptions(String[] args) {
        for (String arg : args) if (arg.matches("-+[A-Za-z].*")) usageError("unknown option '" + arg + "'");
    }

    static int port(String arg) {
        if (!arg.matches("\\d{1,5}") || Integer.parseInt(arg) > 65535) usageError("bad port '" + arg + "' (want 0 to 65535)");
        return Integer.parseInt(arg);
    }

    /** 127.0.0.1:51334, or [::1]:51334 for IPv6: the address in brackets, in RFC 5952's short form, as ss has it. */
    static String address(SocketAddress socketAddress) {
        var a = (InetSocketAddress) socketAddress;
        String host = a.getAddress().isAnyLocalAddress() ? "0.0.0.0" : a.getAddress().getHostAddress();
        if (!host.contains(":")) return host + ":" + a.getPort();
        int start = 0, end = 0;                                      // the first of the longest runs of zero groups
        for (Matcher zeros = ZERO_GROUPS.matcher(host); zeros.find(); ) {
            if ((zeros.end() - zeros.start()) / 2 > (end - start) / 2) { // a zero group is 2 characters, "0:"
                start = zeros.start();
                end = zeros.end();
            }
        }
        return "[" + host.substring(0, start) + (end > start ? "::" : "") + host.substring(end) + "]:" + a.getPort();
    }

    static final Pattern ZERO_GROUPS = Pattern.compile("(^|:)(0(:|$)){2,}");

    // Logs go through a bounded queue to one writer thread, so that a stderr nobody reads (a full
    // pipe) never holds up a client: while the queue is full, lines are counted, then reported.
    static final BlockingQueue<String> LOG = new ArrayBlockingQueue<>(10_000);
    static final AtomicLong UNWRITTEN = new AtomicLong(), LOST = new AtomicLong();
    static final Thread LOG_WRITER = startLogWriter();
    static boolean logAtOnce;                                      // set by inheritedChannel()

    static void log(String message) {
        if (logAtOnce) {
            System.err.println(message);
            return;
        }
        UNWRITTEN.incrementAndGet();
        if (LOG.offer(message)) return;
        UNWRITTEN.decrementAndGet();
        LOST.incrementAndGet();
    }

    /** Logs {@code message} unless the last warning, at {@code last}, was under a second ago; returns the last one's time. */
    static long warn(String message, long last) {
        if (System.nanoTime() - last < 1_000_000_000L) return last;
        log(message);
        return System.nanoTime();
    }

    static Thread startLogWriter() {
        Thread writer = new Thread(() -> {
            List<String> lines = new ArrayList<>();
            while (true) {
                try {
                    lines.add(LOG.take());
                } catch (InterruptedException e) {
                    return;
                }
                // A while for the rest of a burst to come, then all of it in one write(): a wake-up and
                // a write() for every line would cost an iterative server a third of its speed.
                pause(5);
                LOG.drainTo(lines);
                StringBuilder text = new StringBuilder();
                long lost = LOST.getAndSet(0);
                if (lost > 0) text.append("(").append(lost).append(" log lines lost: stderr was not being read)\n");
                for (String line : lines) text.append(line).append('\n');
                System.err.print(text);
                System.err.flush();
                UNWRITTEN.addAndGet(-lines.size());
                lines.clear();
            }
        }, "log");
        writer.setDaemon(true);
        writer.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {     // at exit, a second for the last lines to go out
            for (long end = System.nanoTime() + 1_000_000_000L; UNWRITTEN.get() > 0 && System.nanoTime() < end; ) pause(10);
        }));
        return writer;
    }

    static void close(Closeable socket) {
        try {
            socket.close();                                          // close()
        } catch (IOException e) {
            log("close failed: " + e.getMessage());                 // nothing more to do: it is gone either way
        }
    }

    static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static void usageError(String message) {
        System.err.println("error: " + message + "\n" + USAGE);
        System.exit(2);
    }

    static void fail(String message) {
        System.err.println(message);
        System.exit(1);
    }
}
