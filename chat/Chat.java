/*
 * Chat: a chat room; every line a client sends goes to everyone else.
 * SPDX-License-Identifier: MIT-0
 *
 * The Java form of the poll() multi-user chat server of the sockets guide (no
 * RFC). One thread and one Selector, Java's poll(), serve every client on
 * non-blocking channels. Its cost: the room shares one core, but a slow or
 * hostile client costs the others nothing, since nothing waits on one client.
 * Lines are framed whole, cleaned of control characters, and written to each
 * client once a turn of the loop; what a client cannot take yet waits for it,
 * up to 1 MiB. The details, telnet and each defence: docs/chat.md.
 *
 * Try it:  java chat/Chat.java          (port 9040, a room for 256)
 *          nc localhost 9040            (or telnet -E localhost 9040), in two or more terminals
 */
import java.io.*;
import java.net.*;
import java.nio.ByteBuffer;
import java.nio.channels.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.*;

public class Chat {
    static final int DEFAULT_PORT = 9040, DEFAULT_ROOM_SIZE = 256;
    static final String USAGE = """
            usage: java chat/Chat.java [PORT [MAX_ROOM_SIZE]]
            A chat room: each line a client sends (with nc or telnet) goes to every other client as "user N: line".
              PORT           port to listen on (default 9040; 0 picks a free one)
              MAX_ROOM_SIZE  clients allowed at once; the next one is told "room is full" (default 256)
            example: java chat/Chat.java 9040 256, then in two other terminals: nc localhost 9040 (or telnet -E localhost 9040: without -E, telnet takes the byte 0x9D of some UTF-8 characters for its escape key)""";

    static final int MAX_LINE = 4096;         // a longer line goes out in pieces of this many bytes
    static final int SEND_BUFFERS = 16 << 20; // the kernel's part of the room's output, shared out among its clients,
    static final int MIN_SEND_BUFFER = 4 << 10, MAX_SEND_BUFFER = 64 << 10; // each getting this much at least, and at most
    static final int MAX_SAID = 16 << 10;     // a client is read until it has said this much in a round, framed
    static final int MAX_QUEUED = 1 << 20;    // memory a client's pending output may keep alive before it is dropped as too slow
    static final int ENTRY_COST = 256;        // memory of one pending view beside its message's bytes: the view and its entry
                                              // (100 bytes), its slot, and the message's own objects, when it alone keeps them
    static final int BUDGET = 64 << 10;       // a sender's bytes pending at clients that keep up, past which it is not read
    static final long KEEP_UP = 1_000_000_000;// a client keeps up while its oldest pending byte is younger than this (ns)
    static final long DRAIN = 5_000_000_000L; // a client that left is closed once it takes nothing of what it is owed for this long
    static final long STORM = 1_000_000_000;  // the longest a round gathers joins and departures before telling anyone (ns)
    static final int ACCEPTS_PER_ROUND = 1024;// so that a burst of connects cannot starve the room
    static final int RESERVE = 1 << 20;       // memory kept back for dropping a client when the heap is full
    // Loaded now, with Chat: compiled, each nested class is a file of its own, which the loop could
    // not open once clients have taken every file descriptor (and the class would be lost for good).
    static final List<Class<?>> NESTED = List.of(Client.class, Sender.class, Pending.class, Telnet.class);

    final Selector selector;
    final ServerSocketChannel server;                        // null in a room of one client (inetd nowait)
    final SelectionKey serverKey;
    final int maxRoomSize;
    final Set<Client> room = new LinkedHashSet<>();
    final ArrayList<Client> senders = new ArrayList<>();     // clients whose lines are in this round
    final ArrayList<Client> paused = new ArrayList<>();
    final Set<Client> draining = new LinkedHashSet<>();      // left, and still being sent what they are owed
    final ArrayList<Client> troubled = new ArrayList<>();    // too slow or broken while the room was served
    long lastNumber, comings;                                // a long: a public room can see 2^31 joins; comings:
                                                             // joins and departures so far
    int connected;                                           // the room and those draining: MAX_ROOM_SIZE counts both
    int sendBuffer = MAX_SEND_BUFFER;                        // each client's share of SEND_BUFFERS now
    long lastSweep, acceptPausedUntil, lastWarning = System.nanoTime() - 1_000_000_000L; // System.nanoTime(), not the clock
    long lastOutOfMemory = lastWarning;
    byte[] reserve = new byte[RESERVE];                      // given back on OutOfMemoryError, to act in

    Chat(ServerSocketChannel server, int maxRoomSize) throws IOException {
        this.selector = Selector.open();
        this.server = server;
        this.maxRoomSize = maxRoomSize;
        if (server != null) server.configureBlocking(false);                // fcntl(O_NONBLOCK)
        this.serverKey = server == null ? null : server.register(selector, SelectionKey.OP_ACCEPT); // pollfd{listener, POLLIN}
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
            warmUp(null);
            System.out.println("listening on " + address(server.getLocalAddress()));
            new Chat(server, maxRoomSize).run();
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

    /** The event loop: send what the last round produced, wait for readiness, handle each ready socket. */
    void run() throws IOException {
        while (server != null ? server.isOpen() : connected > 0) {
            try {
                endRound();
                int ready = selector.select(timeout());                     // poll()
                long start = System.nanoTime();
                if (serverKey != null && serverKey.interestOps() == 0 && System.nanoTime() - acceptPausedUntil >= 0) {
                    serverKey.interestOps(SelectionKey.OP_ACCEPT);
                }
                while (ready > 0) {
                    long before = comings;
                    Iterator<SelectionKey> keys = selector.selectedKeys().iterator();
                    while (keys.hasNext()) {
                        SelectionKey key = keys.next();
                        keys.remove();                                      // handled now: clear its revents
                        if (!key.isValid()) continue;                       // dropped earlier in this round
                        if (key.isAcceptable()) {                           // POLLIN on the listener
                            accept();
                        } else {
                            Client client = (Client) key.attachment();
                            if (key.isReadable()) read(client);             // POLLIN (or POLLHUP) on a client
                            if (key.isValid() && key.isWritable()) flush(client); // POLLOUT: room in its send buffer
                        }
                    }
                    // Clients came or went, and no one spoke: in a storm of joins or departures, wait a moment
                    // for more before anyone is told, so that everyone gets them in a few large writes, and
                    // those leaving together are not sent each other's notices (nor written to once gone).
                    boolean storm = comings > before && senders.isEmpty() && System.nanoTime() - start < STORM;
                    ready = storm ? selector.select(1) : 0;                 // poll(), for 1 ms at most
                }
            } catch (OutOfMemoryError e) {
                outOfMemory();                                              // the client owed most goes, never the room
            }
        }
    }

    void accept() {
        for (int i = 0; i < ACCEPTS_PER_ROUND; i++) {
            if (i > 0 && connected >= maxRoomSize) return;                // the rest wait a round: some may be leaving
            SocketChannel channel;
            try {
                channel = server.accept();                                  // accept()
                if (channel == null) return;                                // no one else is waiting
            } catch (IOException e) {
                if (notListening(e)) {                                      // not a listener after all:
                    close(server);                                          // nothing to serve, so the loop ends
                    return;
                }
                // Out of file descriptors, say: the listener stays ready, so stop watching it
                // for a moment rather than spin, and say so at most once a second.
                acceptPausedUntil = System.nanoTime() + 100_000_000;
                serverKey.interestOps(0);
                lastWarning = warn("accept failed: " + e.getMessage() + " (retrying)", lastWarning);
                return;
            }
            if (connected >= maxRoomSize) refuse(channel);                  // those still draining count too
            else join(channel);
        }
    }

    /** Reads until the client has said MAX_SAID this round, as framed (empty lines grow ninefold), so no one holds up the room. */
    void read(Client client) {
        client.ownStart = roundLength;
        while (roundLength - client.ownStart < MAX_SAID && readLines(client)) continue;
        client.ownEnd = roundLength;
        if (client.ownEnd > client.ownStart) senders.add(client);
    }

    /** Reads once and frames what came; true if there may be more to read. */
    boolean readLines(Client client) {
        int before = client.line.position(), n;
        try {
            n = client.channel.read(client.line);                           // recv(): at most what fits in the line
        } catch (IOException e) {
            leave(client, e.getMessage());
            return false;
        }
        boolean more = n > 0 && !client.line.hasRemaining();
        frameLines(client, before, n);
        if (n == -1) leave(client, "closed");
        return more;
    }

    /** Writes bytes [start, end) of the round to a client, or makes them pending behind what it is owed already. */
    void share(Client client, int start, int end, long now) {
        if (start >= end) return;
        if (client.pending.isEmpty()) {
            out.limit(end).position(start);
            try {
                client.channel.write(out);                                  // write(): no copy, the buffer is direct
            } catch (IOException e) {
                trouble(client, e.getMessage());
                return;
            }
            start = out.position();
        }
        for (int i = messageAt(start); i < count && starts[i] < end; i++) { // a view of each message the rest is part of
            int from = starts[i], to = i + 1 < count ? starts[i + 1] : roundLength;
            if (messages[i] == null) messages[i] = ByteBuffer.wrap(Arrays.copyOfRange(round, from, to)); // once a round
            queue(client, messages[i].duplicate().position(Math.max(start, from) - from).limit(Math.min(end, to) - from), owners[i], now);
        }
    }

    /** Closes a client's socket, after a FIN if it owes us nothing more; whatever is still pending for it is dropped. */
    void end(Client client, boolean fin, String why) {
        if (!client.key.isValid()) return;                                  // ended already
        try {
            if (fin) client.channel.shutdownOutput();                       // shutdown(SHUT_WR)
        } catch (IOException e) {
            // it is gone already: closing is all there is to do
        }
        fallBehind(client);
        client.pending.clear();
        client.queued = 0;
        draining.remove(client);
        client.key.cancel();
        // Logged first: closing a socket inherited from inetd points stderr at /dev/null.
        log(client.address + " closed (user " + client.number + ": " + why + ")");
        // What the kernel holds still goes out, unless unread input turns the close into a reset.
        close(client.channel);                                              // close()
        connected--;
    }

    /** Writes as much of the client's pending output as its socket takes now, in one gathering write. */
    void flush(Client client) {
        int n = 0;
        long size = 0;
        for (Pending p : client.pending) {                                  // what its send buffer can take, and no more:
            if (n == gather.length || size > 2 * sendBuffer) break;         // the JDK copies each view it is given
            gather[n++] = p.bytes();
            size += p.bytes().remaining();
        }
        long written;
        try {
            written = client.channel.write(gather, 0, n);                   // writev()
        } catch (IOException e) {
            leave(client, e.getMessage());
            return;
        } finally {
            Arrays.fill(gather, 0, n, null);
        }
        if (written == 0) return;
        client.progress = System.nanoTime();
        while (!client.pending.isEmpty() && !client.pending.peek().bytes().hasRemaining()) done(client, client.pending.poll());
        if (client.pending.isEmpty()) client.behind = false;                // caught up: it holds senders back again
        if (client.leaving && client.pending.isEmpty()) end(client, true, "closed"); // all it was owed is sent: now the FIN
        else interest(client);
    }

    /**
     * Takes a client out of the room; everyone left is told at the end of this round, with all who left in it.
     * On EOF it is still sent what it is owed, then a FIN, unless it takes none of it for DRAIN.
     */
    void leave(Client client, String why) {
        if (client.leaving) end(client, false, why);                        // broke while it was sent what it was owed
        if (!room.remove(client)) return;                                   // out of the room already
        shareSendBuffers();
        comings++;
        notice("user " + client.number + " disconnected" + (why.equals("too slow") ? " (too slow)" : "") + "\n");
        fallBehind(client);                                                 // no sender waits on it any more
        if (why.equals("closed") && !client.pending.isEmpty()) {
            client.leaving = true;
            draining.add(client);
            interest(client);                                               // POLLOUT only, until its queue is empty
        } else {
            end(client, false, why);                                        // owed nothing: close() sends the FIN
        }
    }

    /** Gives each client in the room its part of this round, all but its own lines, in one write from one shared buffer. */
    void deliver() {
        int length = roundLength;
        if (out.capacity() < length) out = ByteBuffer.allocateDirect(Math.max(length, 2 * out.capacity()));
        out.clear();
        out.put(round, 0, length);
        long now = System.nanoTime();
        for (Client client : room) {
            boolean spoke = client.ownEnd > client.ownStart;
            share(client, client.shareFrom, spoke ? client.ownStart : length, now);
            if (spoke) share(client, client.ownEnd, length, now);
        }
        for (Client sender : senders) {
            if (sender.sender.inFlight < BUDGET || sender.paused || sender.leaving) continue;
            sender.paused = true;                                           // not read until its lines are taken
            paused.add(sender);
            interest(sender);
        }
        forgetRound();                                                      // what happens now is the next round
    }

    // ---- the room in detail: its members, their lines, what each is owed ----

    /** One member of the room: its socket, its number, the line it is typing and the output pending for it. */
    static final class Client {
        final SocketChannel channel;
        final SelectionKey key;
        final long number;
        final byte[] prefix;                                      // "user N: "
        final String address;
        final ByteBuffer line = ByteBuffer.allocate(MAX_LINE);   // bytes read but not yet broadcast
        boolean cut;                                              // a piece of a long line went out, its end not yet
        final ArrayDeque<Pending> pending = new ArrayDeque<>();   // what it could not take yet, oldest first
        long queued;                                              // what that keeps alive, in bytes of memory
        boolean behind;                                           // fell behind KEEP_UP: it holds no sender back until its queue empties
        long progress;                                            // when it last took some of its output
        final Sender sender = new Sender();                       // its own lines pending at clients that keep up
        boolean paused;                                           // over BUDGET: not read until they take them
        boolean leaving;                                          // out of the room, still owed output
        int shareFrom, ownStart, ownEnd;                          // this round: where its part starts, and its own lines
        String trouble;                                           // why it must go, once the room is served
        Telnet telnet;                                            // null until it sends a telnet command

        Client(SocketChannel channel, SelectionKey key, long number) {
            this.channel = channel;
            this.key = key;
            this.number = number;
            this.prefix = ("user " + number + ": ").getBytes(StandardCharsets.US_ASCII);
            this.address = address(channel.socket().getRemoteSocketAddress());
        }
    }

    /** A client as a sender: how many bytes of its lines are pending at clients that keep up. */
    static final class Sender {
        long inFlight;
    }

    /** Output a client could not take yet: its own view of one message, whose lines they are (null: the room's notices), and since when. */
    record Pending(ByteBuffer bytes, Sender from, long since) {}

    /** How long select() may wait: until the accept back-off ends, or the next look at who keeps up, or for readiness (0). */
    long timeout() {
        long wait = !paused.isEmpty() ? KEEP_UP / 5 : !draining.isEmpty() ? DRAIN / 5 : Long.MAX_VALUE;
        if (serverKey != null && serverKey.interestOps() == 0) wait = Math.min(wait, acceptPausedUntil - System.nanoTime());
        return wait == Long.MAX_VALUE ? 0 : Math.max(1, wait / 1_000_000);
    }

    void join(SocketChannel channel) {
        try {
            channel.configureBlocking(false);
            channel.setOption(StandardSocketOptions.SO_SNDBUF, sendBuffer);    // setsockopt(SO_SNDBUF)
            channel.setOption(StandardSocketOptions.TCP_NODELAY, true);         // a round is one write already: Nagle
                                                                                // would hold it for the last one's ACK
            SelectionKey key = channel.register(selector, SelectionKey.OP_READ); // pollfd{client, POLLIN}
            Client client = new Client(channel, key, ++lastNumber);
            key.attach(client);
            connected++;
            comings++;
            log("connection from " + client.address + " (user " + client.number + ")");
            int size = room.size() + 1;
            send(client, text("welcome, you are user " + client.number + " (" + size + (size == 1 ? " user" : " users") + " in the room)\n"));
            notice("user " + client.number + " joined the chat room\n");
            client.shareFrom = roundLength;                                 // it gets what follows its own notice
            room.add(client);
            shareSendBuffers();
        } catch (IOException e) {
            log("could not register a new client: " + e.getMessage());
            close(channel);
        }
    }

    /**
     * Gives each client its share of SEND_BUFFERS: a fixed send buffer, not one the kernel grows to
     * megabytes, since every line waits behind what is queued there (in a room of 1,000 beside one
     * flooder, others' lines arrived 0.15 s late with 64 KiB each, 0.09 s with 16 KiB), and only
     * when it is full does a client that reads too slowly show. The share is reset for everyone
     * when the room outgrows it, or shrinks to a quarter of what it allows: O(1) a join on average.
     */
    void shareSendBuffers() {
        int size = Math.max(1, room.size());
        if (size > SEND_BUFFERS / sendBuffer && sendBuffer > MIN_SEND_BUFFER) sendBuffer /= 2;
        else if (size <= SEND_BUFFERS / sendBuffer / 4 && sendBuffer < MAX_SEND_BUFFER) sendBuffer *= 2;
        else return;
        for (Client client : room) {
            try {
                client.channel.setOption(StandardSocketOptions.SO_SNDBUF, sendBuffer); // setsockopt(SO_SNDBUF)
            } catch (IOException e) {
                // it is broken, and will be found so when it is next read or written
            }
        }
    }

    void refuse(SocketChannel channel) {
        String peer = address(channel.socket().getRemoteSocketAddress());
        try {
            channel.configureBlocking(false);
            channel.write(text("room is full\n"));                          // 13 bytes fit any empty send buffer
            channel.shutdownOutput();                                       // shutdown(SHUT_WR): the FIN follows them
            // Closing with unread input sends a reset, which can destroy the message on its
            // way (RFC 2525 2.17): read what has arrived so far, without waiting for more.
            for (int i = 0; i < 8 && channel.read(ByteBuffer.allocate(8192)) > 0; i++) continue;
        } catch (IOException e) {
            // it hung up already; closing below is all there is to do
        }
        close(channel);
        log(peer + " refused: room is full (" + maxRoomSize + ")");
    }

    /** Ends a round: drops the clients found too slow or broken, then gives everyone their part of what it produced. */
    void endRound() {
        while (roundLength > 0 || !troubled.isEmpty()) {
            for (Client client : troubled) leave(client, client.trouble);
            troubled.clear();
            if (roundLength > 0) deliver();                                 // may find more trouble, and so a new round
        }
        long now = System.nanoTime();
        if (now - lastSweep >= KEEP_UP / 5 && (!paused.isEmpty() || !draining.isEmpty())) {
            lastSweep = now;
            if (!paused.isEmpty()) {                                        // senders wait: on someone who fell behind?
                for (Client client : room) if (!client.pending.isEmpty() && now - client.pending.peek().since() > KEEP_UP) fallBehind(client);
            }
            for (Client client : List.copyOf(draining)) {
                if (now - client.progress > DRAIN) end(client, false, "closed, and took nothing of what it was owed for " + DRAIN / 1_000_000_000 + " s");
            }
        }
        for (Iterator<Client> i = paused.iterator(); i.hasNext(); ) {
            Client client = i.next();
            if (client.sender.inFlight >= BUDGET && client.key.isValid()) continue; // its lines are still on their way
            client.paused = false;
            interest(client);
            i.remove();
        }
    }

    /**
     * What clients are owed filled the heap: the client owed most goes, as the OOM killer would end
     * the largest child of a forked C server, not the server, and this round is lost.
     */
    void outOfMemory() {
        reserve = null;
        forgetRound();
        Client most = null;
        for (Client client : room) if (most == null || client.queued > most.queued) most = client;
        if (most != null) {
            for (Pending p; (p = most.pending.poll()) != null; ) done(most, p); // its memory back at once,
            trouble(most, "too slow");                                      // its socket closed at the round's end
        }
        try {
            reserve = new byte[RESERVE];
            lastOutOfMemory = warn("out of memory: the client owed most was dropped", lastOutOfMemory);
        } catch (OutOfMemoryError again) {
            // still full: the next round that fails drops the next client
        }
    }

    /** Forgets this round's messages, delivered or not, and each client's part in it. */
    void forgetRound() {
        for (Client client : room) client.shareFrom = client.ownStart = client.ownEnd = 0;
        senders.clear();
        roundLength = 0;
        Arrays.fill(messages, 0, count, null);
        count = 0;
    }

    /** Sends a message to one client alone (its welcome, telnet's answers): at once if it is owed nothing, else pending. */
    void send(Client client, ByteBuffer message) {
        if (client.pending.isEmpty()) {
            try {
                client.channel.write(message);                              // write()
            } catch (IOException e) {
                trouble(client, e.getMessage());
            }
        }
        queue(client, message, null, System.nanoTime());                    // the rest, unless it is in trouble now
    }

    /** Makes a view pending for a client, charged at the whole message it keeps alive; past MAX_QUEUED the client must go. */
    void queue(Client client, ByteBuffer view, Sender from, long now) {
        if (!view.hasRemaining() || client.trouble != null) return;
        long cost = view.capacity() + ENTRY_COST;
        if (client.queued + cost > MAX_QUEUED) {
            trouble(client, "too slow");
            return;
        }
        if (from != null && !client.behind) from.inFlight += view.capacity();
        client.pending.add(new Pending(view, from, now));
        client.queued += cost;
        if (client.pending.size() == 1) {                                   // it took all it could until now:
            client.progress = now;                                          // POLLOUT from here on, asked for once
            interest(client);
        }
    }

    /** Returns what a pending view was charged, to the client and to its sender. */
    static void done(Client client, Pending p) {
        client.queued -= p.bytes().capacity() + ENTRY_COST;
        if (p.from() != null && !client.behind) p.from().inFlight -= p.bytes().capacity();
    }

    /** A client whose oldest pending byte got too old holds no sender back from now on, until it has caught up. */
    static void fallBehind(Client client) {
        if (client.behind) return;
        for (Pending p : client.pending) if (p.from() != null) p.from().inFlight -= p.bytes().capacity();
        client.behind = true;
    }

    /** Watches a client for input unless it is paused or leaving, and for POLLOUT only while output is pending. */
    static void interest(Client client) {
        if (!client.key.isValid()) return;
        int read = client.paused || client.leaving ? 0 : SelectionKey.OP_READ;
        client.key.interestOps(read | (client.pending.isEmpty() ? 0 : SelectionKey.OP_WRITE));
    }

    void trouble(Client client, String why) {
        if (client.trouble != null) return;
        client.trouble = why;
        troubled.add(client);
    }

    /** Frames each complete line of a client's buffer, or a full piece of a long one; {@code n}: bytes just read, -1 at EOF. */
    void frameLines(Client client, int before, int n) {
        ByteBuffer line = client.line;
        byte[] bytes = line.array();
        if (n > 0 && (client.telnet != null || Telnet.present(bytes, before, line.position()))) {
            if (client.telnet == null) client.telnet = new Telnet();
            line.position(client.telnet.filter(bytes, before, line.position()));  // commands out, answers ready
            if (client.telnet.answers.size() > 0) send(client, ByteBuffer.wrap(client.telnet.answers.toByteArray()));
            client.telnet.answers.reset();
        }
        int start = 0;
        for (int i = 0; i < line.position(); i++) {
            if (bytes[i] != '\n') continue;
            int end = i > start && bytes[i - 1] == '\r' ? i - 1 : i;       // CRLF and LF both end a line
            if (end > start || !client.cut) frame(client, bytes, start, end); // the end of a line sent in pieces adds nothing
            client.cut = false;
            start = i + 1;
        }
        if (start == 0 && !line.hasRemaining()) {                           // a full line with no end: send a piece,
            start = bytes[MAX_LINE - 1] == '\r' ? MAX_LINE - 1 : MAX_LINE;  // keeping a CR that may start its CRLF,
            if (Telnet.insideCharacter(bytes, start)) {                     // and no UTF-8 character cut in two:
                while ((bytes[--start] & 0xC0) == 0x80) continue;           // the piece ends before its lead byte
            }
            frame(client, bytes, 0, start);
            client.cut = true;
        }
        if (n == -1 && start < line.position()) {                           // EOF ends an unfinished line as '\n' would,
            int end = bytes[line.position() - 1] == '\r' ? line.position() - 1 : line.position();
            if (end > start || !client.cut) frame(client, bytes, start, end); // so a CR kept back from a piece adds nothing
            start = line.position();
        }
        line.limit(line.position()).position(start);
        line.compact();                                                     // keep what follows the last line
    }

    /**
     * Adds "user N: " and the line to this round, as UTF-8 text with every control character
     * but TAB removed, and the bidirectional controls and line separators too. ASCII, the usual
     * case, is copied as bytes; anything else is decoded (invalid bytes become U+FFFD).
     */
    void frame(Client from, byte[] bytes, int start, int end) {
        begin(from.sender);
        append(from.prefix, 0, from.prefix.length);
        int text = roundLength, run = start;
        for (int i = start; i < end; i++) {
            byte b = bytes[i];
            if (b < 0) {                                                    // not ASCII: start again, with a String
                roundLength = text;
                StringBuilder kept = new StringBuilder(end - start);
                for (char c : new String(bytes, start, end - start, StandardCharsets.UTF_8).toCharArray()) {
                    boolean control = c != '\t' && Character.isISOControl(c); // C0, DEL and C1
                    boolean invisible = c >= '\u2028' && c <= '\u202E' || c >= '\u2066' && c <= '\u2069'
                            || c == '\u200E' || c == '\u200F' || c == '\u061C'; // LRM, RLM, ALM: marks, but they reorder too
                    if (!control && !invisible) kept.append(c);
                }
                append(kept.append('\n').toString().getBytes(StandardCharsets.UTF_8));
                return;
            }
            if (b < ' ' && b != '\t' || b == 0x7F) {                        // C0 and DEL go
                append(bytes, run, i - run);
                run = i + 1;
            }
        }
        append(bytes, run, end - run);
        append(NEWLINE, 0, 1);
    }

    static final byte[] NEWLINE = {'\n'};

    byte[] round = new byte[64 << 10];                       // this round's messages, framed, in order: a message is what
    int roundLength;                                         // one client said in the round, or a run of notices
    int[] starts = new int[64];                              // where each message of the round starts,
    Sender[] owners = new Sender[64];                        // whose it is (null: the room's notices),
    ByteBuffer[] messages = new ByteBuffer[64];              // and its own buffer, made once some client must wait for it
    int count;                                               // how many messages the round has
    ByteBuffer out = ByteBuffer.allocateDirect(64 << 10);    // the round's bytes, where every write takes them from
    final ByteBuffer[] gather = new ByteBuffer[1024];        // one writev() of pending views: IOV_MAX at most

    void notice(String text) {
        begin(null);
        append(text.getBytes(StandardCharsets.US_ASCII));
    }

    /** Starts a message of this round for what {@code owner} says now, unless its message is the last one already. */
    void begin(Sender owner) {
        if (count > 0 && owners[count - 1] == owner) return;
        if (count == starts.length) {
            starts = Arrays.copyOf(starts, 2 * count);
            owners = Arrays.copyOf(owners, 2 * count);
            messages = Arrays.copyOf(messages, 2 * count);
        }
        if (count > 0 && starts[count - 1] == roundLength) count--;         // the last one is empty: take its place
        starts[count] = roundLength;
        owners[count++] = owner;
    }

    void append(byte[] bytes) {
        append(bytes, 0, bytes.length);
    }

    void append(byte[] bytes, int start, int length) {
        if (roundLength + length > round.length) round = Arrays.copyOf(round, Math.max(roundLength + length, 2 * round.length));
        System.arraycopy(bytes, start, round, roundLength, length);
        roundLength += length;
    }

    /** The message of this round that byte {@code at} belongs to. */
    int messageAt(int at) {
        int i = Arrays.binarySearch(starts, 0, count, at);
        return i >= 0 ? i : -i - 2;
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
