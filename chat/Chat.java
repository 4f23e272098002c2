/*
 * Chat: a chat room; every line a client sends goes to everyone else.
 *
 * The Java form of the poll() multi-user chat server of the sockets guide. One
 * thread and one Selector (Java's poll()) serve every client: channels are
 * non-blocking and nothing ever waits on one client, so a slow or hostile
 * client costs the others nothing. The price is that each step must be short,
 * and that output a client cannot take yet is queued for it (up to 1 MiB;
 * past that it is disconnected as too slow).
 *
 * Unlike the C original it frames by line, not by read: a line split across
 * reads goes out once, whole, with one "user N: " prefix, and control
 * characters are removed so that no one can move another user's cursor or
 * fake a line from someone else.
 *
 * Started by inetd or systemd with the socket open (socket activation), it
 * serves that socket instead: a listener as above, or one client, alone in a
 * room of its own (a shared room needs the listener: inetd wait, Accept=no).
 *
 * Try it:  java chat/Chat.java          (listens on port 9040, room for 256)
 *          nc localhost 9040            (in two or more terminals)
 */
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.Channel;
import java.nio.channels.DatagramChannel;
import java.nio.channels.NetworkChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class Chat {
    static final int DEFAULT_PORT = 9040, DEFAULT_ROOM_SIZE = 256;
    static final String USAGE = """
            usage: java chat/Chat.java [PORT [MAX_ROOM_SIZE]]
            A chat room: each line a client sends goes to every other client as "user N: line".
              PORT           port to listen on (default 9040; 0 picks a free one)
              MAX_ROOM_SIZE  clients allowed at once; the next one is told "room is full" (default 256)
            example: java chat/Chat.java 9040 256 & nc localhost 9040""";

    static final int MAX_LINE = 4096;         // a longer line goes out in pieces of this many bytes
    static final int MAX_QUEUED = 1 << 20;    // output owed to a client before it is dropped as too slow
    static final int ACCEPTS_PER_ROUND = 64;  // so that a burst of connects cannot starve the room

    /** One member of the room: its socket, its number, the line it is typing and the output it is owed. */
    static final class Client {
        final SocketChannel channel;
        final SelectionKey key;
        final int number;
        final String address;
        final ByteBuffer line = ByteBuffer.allocate(MAX_LINE);   // bytes read but not yet broadcast
        final ArrayDeque<ByteBuffer> output = new ArrayDeque<>(); // messages not yet written
        long queued;                                              // bytes in output
        boolean pending;                                          // in the list of clients to flush

        Client(SocketChannel channel, SelectionKey key, int number) {
            this.channel = channel;
            this.key = key;
            this.number = number;
            this.address = address(channel.socket().getRemoteSocketAddress());
        }
    }

    final Selector selector;
    final ServerSocketChannel server;                        // null in a room of one client (inetd nowait)
    final SelectionKey serverKey;
    final int maxRoomSize;
    final Set<Client> room = new LinkedHashSet<>();
    final ArrayDeque<Client> toFlush = new ArrayDeque<>();   // clients given output in this round
    final ArrayDeque<Client> tooSlow = new ArrayDeque<>();   // to drop once the current broadcast is done
    int lastNumber;
    long acceptPausedUntil, lastWarning = System.nanoTime() - 1_000_000_000L; // System.nanoTime(), not the clock

    Chat(ServerSocketChannel server, int maxRoomSize) throws IOException {
        this.selector = Selector.open();
        this.server = server;
        this.maxRoomSize = maxRoomSize;
        if (server == null) {
            this.serverKey = null;
            return;
        }
        server.configureBlocking(false);                                    // fcntl(O_NONBLOCK)
        this.serverKey = server.register(selector, SelectionKey.OP_ACCEPT);  // pollfd{listener, POLLIN}
    }

    public static void main(String[] args) throws IOException {
        if (args.length > 0 && (args[0].equals("-h") || args[0].equals("--help"))) {
            System.out.println(USAGE);
            return;
        }
        noOptions(args);
        if (args.length > 2) usageError("unexpected argument '" + args[2] + "'");
        int port = args.length >= 1 ? port(args[0]) : DEFAULT_PORT;
        int maxRoomSize = args.length == 2 ? roomSize(args[1]) : DEFAULT_ROOM_SIZE;
        Channel inherited = inheritedChannel();
        if (inherited instanceof SocketChannel client) {                    // inetd nowait, systemd Accept=yes:
            Chat chat = new Chat(null, 1);                                  // a room of one, until it leaves
            chat.join(client);
            chat.run();
            return;
        }
        if (inherited instanceof DatagramChannel) fail("error: the socket on stdin is UDP; chat is TCP only");
        try (ServerSocketChannel server = inherited instanceof ServerSocketChannel listener
                ? listener                                                  // inetd wait, systemd Accept=no
                : listen(port)) {
            warmUp(Thread::new);
            System.out.println("listening on " + address(server.getLocalAddress()));
            new Chat(server, maxRoomSize).run();
        }
    }

    /** The event loop: write what is owed, wait for readiness, handle each ready socket. */
    void run() throws IOException {
        while (server != null ? server.isOpen() : !room.isEmpty()) {
            for (Client client; (client = toFlush.poll()) != null; ) flush(client);
            boolean paused = serverKey != null && serverKey.interestOps() == 0;
            selector.select(paused ? Math.max(1, (acceptPausedUntil - System.nanoTime()) / 1_000_000) : 0); // poll()
            if (paused && System.nanoTime() - acceptPausedUntil >= 0) serverKey.interestOps(SelectionKey.OP_ACCEPT);
            Iterator<SelectionKey> keys = selector.selectedKeys().iterator();
            while (keys.hasNext()) {
                SelectionKey key = keys.next();
                keys.remove();                                              // handled now: clear its revents
                if (!key.isValid()) continue;                               // dropped earlier in this round
                if (key.isAcceptable()) {                                   // POLLIN on the listener
                    accept();
                } else {
                    Client client = (Client) key.attachment();
                    if (key.isReadable()) read(client);                     // POLLIN (or POLLHUP) on a client
                    if (key.isValid() && key.isWritable()) flush(client);   // POLLOUT: room in its send buffer
                }
            }
            dropTooSlow();
        }
    }

    void accept() {
        for (int i = 0; i < ACCEPTS_PER_ROUND; i++) {
            SocketChannel channel;
            try {
                channel = server.accept();                                  // accept()
                if (channel == null) return;                                // no one else is waiting
            } catch (IOException e) {
                if (notListening(e)) {                                      // not a listener after all:
                    serverKey.cancel();                                     // nothing to serve, so the loop ends
                    close(server);
                    return;
                }
                // Out of file descriptors, say: the listener stays ready, so stop watching it
                // for a moment rather than spin, and say so at most once a second.
                acceptPausedUntil = System.nanoTime() + 100_000_000;
                serverKey.interestOps(0);
                lastWarning = warn("accept failed: " + e.getMessage() + " (retrying)", lastWarning);
                return;
            }
            if (room.size() >= maxRoomSize) {
                refuse(channel);
                continue;
            }
            join(channel);
        }
    }

    void join(SocketChannel channel) {
        try {
            channel.configureBlocking(false);
            SelectionKey key = channel.register(selector, SelectionKey.OP_READ); // pollfd{client, POLLIN}
            Client client = new Client(channel, key, ++lastNumber);
            key.attach(client);
            log("connection from " + client.address + " (user " + client.number + ")");
            int size = room.size() + 1;
            send(client, text("welcome, you are user " + client.number + " (" + size + (size == 1 ? " user" : " users") + " in the room)\n"));
            broadcast(client, text("user " + client.number + " joined the chat room\n"));
            room.add(client);
        } catch (IOException e) {
            log("could not register a new client: " + e.getMessage());
            close(channel);
        }
    }

    void refuse(SocketChannel channel) {
        String peer = address(channel.socket().getRemoteSocketAddress());
        try {
            channel.write(text("room is full\n"));                          // 13 bytes fit any empty send buffer
            channel.shutdownOutput();
        } catch (IOException e) {
            // it hung up already; closing below is all there is to do
        }
        close(channel);
        log(peer + " refused: room is full (" + maxRoomSize + ")");
    }

    /** Reads what the client sent and broadcasts each complete line, or a full piece of a long one. */
    void read(Client client) {
        int n;
        try {
            n = client.channel.read(client.line);                           // recv(): at most what fits in the line
        } catch (IOException e) {
            leave(client, "", e.getMessage());
            return;
        }
        ByteBuffer line = client.line;
        byte[] bytes = line.array();
        int start = 0;
        for (int i = 0; i < line.position(); i++) {
            if (bytes[i] != '\n') continue;
            int end = i > start && bytes[i - 1] == '\r' ? i - 1 : i;       // CRLF and LF both end a line
            broadcast(client, message(client, bytes, start, end));
            start = i + 1;
        }
        if (start == 0 && !line.hasRemaining()) {                           // a full line with no end: send a piece
            start = characterBoundary(bytes, MAX_LINE);
            broadcast(client, message(client, bytes, 0, start));
        }
        if (n == -1 && start < line.position()) {                           // EOF after an unfinished line: still send it
            broadcast(client, message(client, bytes, start, line.position()));
            start = line.position();
        }
        line.limit(line.position()).position(start);
        line.compact();                                                     // keep what follows the last line
        if (n == -1) leave(client, "", "closed");
    }

    /** Where to cut a full buffer so that no UTF-8 character is split between two pieces. */
    static int characterBoundary(byte[] bytes, int end) {
        for (int i = end - 1; i >= end - 3; i--) {
            int b = bytes[i] & 0xFF;
            if (b < 0x80) return end;                                       // ASCII: nothing is cut
            if (b >= 0xC0) return i + (b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2) > end ? i : end; // a lead byte
        }
        return end;                                                         // not UTF-8: cut anywhere
    }

    /** "user N: " and the line as UTF-8 text with every control character but TAB removed. */
    static ByteBuffer message(Client from, byte[] bytes, int start, int end) {
        String text = new String(bytes, start, end - start, StandardCharsets.UTF_8); // invalid bytes become U+FFFD
        StringBuilder message = new StringBuilder(end - start + 16).append("user ").append(from.number).append(": ");
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '\t' || !Character.isISOControl(c)) message.append(c); // C0, DEL and C1 go
        }
        return text(message.append('\n').toString());
    }

    /** Queues a message for everyone in the room but {@code except}. */
    void broadcast(Client except, ByteBuffer message) {
        for (Client client : room) {
            if (client != except) send(client, message.duplicate());
        }
    }

    /** Queues a message for one client, to be written at the end of this round. */
    void send(Client client, ByteBuffer message) {
        if (client.queued + message.remaining() > MAX_QUEUED) {
            if (!tooSlow.contains(client)) tooSlow.add(client);             // dropped after this broadcast
            return;
        }
        client.output.add(message);
        client.queued += message.remaining();
        if (!client.pending) {
            client.pending = true;
            toFlush.add(client);
        }
    }

    /** Writes as much of the client's output as its socket takes now; watches for POLLOUT only while some is left. */
    void flush(Client client) {
        client.pending = false;
        if (!client.key.isValid()) return;                                  // it left after output was queued
        try {
            long written = client.channel.write(client.output.toArray(new ByteBuffer[0])); // writev()
            client.queued -= written;
            while (!client.output.isEmpty() && !client.output.peek().hasRemaining()) client.output.poll();
            client.key.interestOps(client.output.isEmpty() ? SelectionKey.OP_READ : SelectionKey.OP_READ | SelectionKey.OP_WRITE);
        } catch (IOException e) {
            leave(client, "", e.getMessage());
            dropTooSlow();
        }
    }

    void dropTooSlow() {
        for (Client client; (client = tooSlow.poll()) != null; ) leave(client, " (too slow)", "too slow");
    }

    /** Takes a client out of the room, closes its socket and tells everyone left. */
    void leave(Client client, String note, String why) {
        if (!room.remove(client)) return;                                   // already gone
        client.key.cancel();
        close(client.channel);                                              // close(): its unsent output is dropped
        log(client.address + " closed (user " + client.number + ": " + why + ")");
        broadcast(null, text("user " + client.number + " disconnected" + note + "\n"));
    }

    static ByteBuffer text(String s) {
        return ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8));
    }

    static int roomSize(String arg) {
        try {
            int size = Integer.parseInt(arg);
            if (size >= 1) return size;
        } catch (NumberFormatException e) {
            // not a number: reported below
        }
        usageError("bad MAX_ROOM_SIZE '" + arg + "' (want 1 or more)");
        return -1;
    }

    // ---- the same in every server of this collection ----

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

    /**
     * One connection over loopback, read on a thread like a client's, before any client comes.
     * What the JDK sets up on first use is set up now (closing a socket; on JDK 21+ the pollers
     * that wake a blocked virtual thread): set up first during a flood of clients that took
     * every file descriptor, it would fail, and a class that fails to initialise fails for good.
     */
    static void warmUp(ThreadFactory threads) throws IOException {
        try (ServerSocketChannel listener = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
             SocketChannel client = SocketChannel.open(listener.getLocalAddress())) { // never accepted, never sent to
            client.socket().setSoTimeout(1);                         // so the read waits 1 ms, then gives up
            Thread reader = threads.newThread(() -> {
                try {
                    client.socket().getInputStream().read();
                } catch (IOException e) {
                    // the time-out, as planned
                }
            });
            reader.start();
            reader.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
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
            while (true) {
                try {
                    String line = LOG.take();
                    long lost = LOST.getAndSet(0);
                    if (lost > 0) System.err.println("(" + lost + " log lines lost: stderr was not being read)");
                    System.err.println(line);
                    UNWRITTEN.decrementAndGet();
                } catch (InterruptedException e) {
                    return;
                }
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
