/*
 * Trivial: the trivial servers inside Bench, against which the same client measures
 * its own ceiling: an echo, a daytime, and a chat relay that runs in a JVM of its
 * own (Bench --relay).
 * SPDX-License-Identifier: MIT-0
 */
package bench;

import static bench.Bench.given;
import static bench.Bench.work;
import static bench.Target.java;
import static bench.Target.started;
import static bench.Util.closeAll;
import static bench.Util.daemon;
import static bench.Util.local;
import static bench.Util.pinThisThread;
import static bench.Util.quietly;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

final class Trivial {
    static final String CEILING = "client ceiling";
    static volatile int trivialCpu = -1; // round trips pin the trivial echo's threads as they would a server

    /** Echo with a platform thread per connection and 256 KiB direct buffers: nothing a client could do faster with. */
    static Target trivialEcho(String group) throws IOException {
        return trivial(group, listener -> {
            while (true) {
                SocketChannel ch = listener.accept();
                daemon(() -> {
                    if (trivialCpu >= 0) pinThisThread(trivialCpu);
                    try (ch) {
                        quietly(() -> {
                            ByteBuffer b = ByteBuffer.allocateDirect(256 << 10);
                            while (ch.read(b.clear()) > 0) for (b.flip(); b.hasRemaining(); ) ch.write(b);
                        });
                    }
                });
            }
        });
    }

    /** Daytime that writes one fixed line and closes, from two threads: a client faster than one would still show. */
    static Target trivialDaytime() throws IOException {
        return trivial("daytime", listener -> {
            Serving serving = l -> {
                ByteBuffer line = ByteBuffer.wrap("Sun Nov 22 03:39:18 2026\r\n".getBytes(StandardCharsets.US_ASCII));
                while (true) {
                    try (SocketChannel ch = l.accept()) {
                        quietly(() -> ch.write(line.rewind()));
                    }
                }
            };
            daemon(() -> serving.serve(listener));
            serving.serve(listener);
        });
    }

    /**
     * A chat relay with nothing to spare: one thread, one Selector; all that one
     * round brings (lines, each prefixed, and join and leave notices) goes to
     * every member as one buffer, senders included (Bench skips its own lines).
     */
    static Target trivialChat() throws Exception {
        if (given >= 0) return null;
        List<String> command = List.of(java(), "-cp", ownClasses(), "bench.Bench", "--relay");
        return started(CEILING, "chat", command); // a JVM of its own, so that 10,000 clients and the relay's 10,000 fit the descriptor limit
    }

    /**
     * Bench's own classes, for the relay's JVM: the class path this one runs from
     * (build/bench), or, where the source launcher of JDK 22 and newer runs
     * bench/Bench.java and keeps them in memory, a copy compiled into the work directory.
     */
    static String ownClasses() throws IOException {
        if (ClassLoader.getSystemResource("bench/Bench.class") != null) return System.getProperty("java.class.path");
        Path out = work.resolve("classes").resolve("bench");
        if (Files.exists(out)) return out.toString();
        var javac = java.util.spi.ToolProvider.findFirst("javac").orElseThrow(() -> new IOException("this JDK has no javac"));
        if (javac.run(System.out, System.err, "--release", "17", "-sourcepath", ".", "-d", out.toString(), "bench/Bench.java") != 0) {
            throw new IOException("bench/*.java did not compile");
        }
        return out.toString();
    }

    /** Serves as the trivial chat relay (Bench --relay), printing the ready line as the servers do. */
    static void relay() throws Exception {
        ServerSocketChannel listener = ServerSocketChannel.open().bind(local(0), 4096);
        System.out.println("listening on " + listener.getLocalAddress().toString().replaceFirst("^/", ""));
        serveRelay(listener);
    }

    static void serveRelay(ServerSocketChannel listener) throws Exception {
        {
            Selector selector = Selector.open();
            listener.configureBlocking(false).register(selector, SelectionKey.OP_ACCEPT);
            ByteBuffer in = ByteBuffer.allocateDirect(1 << 16), round = ByteBuffer.allocateDirect(16 << 20);
            byte[] bytes = new byte[1 << 16];
            Set<SocketChannel> members = new LinkedHashSet<>();
            long next = 1;
            while (listener.isOpen()) {
                selector.select(100);
                for (SelectionKey key : selector.selectedKeys()) {
                    if (round.remaining() < 1 << 20) relay(round, members);
                    if (key.isAcceptable()) {
                        for (SocketChannel ch; (ch = listener.accept()) != null; next++) {
                            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                            ch.configureBlocking(false).register(selector, SelectionKey.OP_READ, new Relayed(next));
                            members.add(ch);
                            writeFully(ch, ByteBuffer.wrap("welcome\n".getBytes(StandardCharsets.US_ASCII)));
                            round.put(("user " + next + " joined the chat room\n").getBytes(StandardCharsets.US_ASCII));
                        }
                        continue;
                    }
                    SocketChannel ch = (SocketChannel) key.channel();
                    Relayed from = (Relayed) key.attachment();
                    int n;
                    try {
                        n = ch.read(in.clear());
                    } catch (IOException e) {
                        n = -1;
                    }
                    if (n < 0) {
                        members.remove(ch);
                        key.cancel();
                        ch.close();
                        round.put(("user " + from.number + " disconnected\n").getBytes(StandardCharsets.US_ASCII));
                        continue;
                    }
                    in.flip().get(bytes, 0, n);
                    int start = 0;
                    for (int i = 0; i < n; i++) {
                        if (bytes[i] != '\n') continue;
                        round.put(from.prefix).put(from.partial.flip()).put(bytes, start, i + 1 - start);
                        from.partial.clear();
                        start = i + 1;
                    }
                    from.partial.put(bytes, start, Math.min(n - start, from.partial.remaining())); // a long line is cut: Bench sends none
                }
                selector.selectedKeys().clear();
                relay(round, members);
            }
            selector.close();
            closeAll(new ArrayList<>(members));
        }
    }

    static final class Relayed {
        final long number;
        final byte[] prefix;
        final ByteBuffer partial = ByteBuffer.allocate(4096);

        Relayed(long number) {
            this.number = number;
            this.prefix = ("user " + number + ": ").getBytes(StandardCharsets.US_ASCII);
        }
    }

    static void relay(ByteBuffer round, Set<SocketChannel> members) {
        if (round.position() == 0) return;
        round.flip();
        for (SocketChannel ch : members) {
            try {
                writeFully(ch, round.rewind());
            } catch (IOException e) {
                // a member that left: its EOF is read in the next round
            }
        }
        round.clear();
    }

    static void writeFully(SocketChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) if (ch.write(b) == 0) Thread.onSpinWait();
    }

    interface Serving {
        void serve(ServerSocketChannel listener) throws Exception;
    }

    static Target trivial(String group, Serving body) throws IOException {
        if (given >= 0) return null;
        ServerSocketChannel listener = ServerSocketChannel.open().bind(local(0), 4096);
        daemon(() -> {
            try {
                body.serve(listener);
            } catch (ClosedChannelException | ClosedSelectorException e) {
                // closed at the end of the workload
            }
        });
        return new Target(CEILING, group, ((InetSocketAddress) listener.getLocalAddress()).getPort(), null, listener, null);
    }
}
