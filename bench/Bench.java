/*
 * Bench: the collection's load generator. It starts each server itself, drives
 * it over loopback, and prints one Markdown table of medians.
 *
 * Every byte of a bulk transfer is checked against what the server should send
 * back, so a fast but wrong server shows up as a mismatch (exit 1), not a number.
 * The machine's own limit is measured in the same run (two sockets in one
 * process), so each throughput is also shown as a fraction of it.
 *
 * Try it:  make bench                       (every workload, 3 runs each)
 *          make bench QUICK=1               (everything once, small: about a minute)
 *          java bench/Bench.java echo chat  (some workloads)
 *          java bench/Bench.java --port 15000 echo   (against a server already running)
 */
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class Bench {
    static final String USAGE = """
            usage: java bench/Bench.java [--quick | --smoke] [--runs N] [--port PORT] [WORKLOAD...]
            Load generator for the collection's servers (run from the project root); prints a Markdown table of medians.
              WORKLOAD     loopback, echo, daytime, uppercase, chat, ncat-chat (default: all)
              --quick      each workload once, small (about a minute in all)
              --smoke      each workload once, tiny: only proves that it runs and checks
              --runs N     runs of each workload (default 3)
              --port PORT  drive a server already listening on 127.0.0.1:PORT, once, instead of starting one
            example: java bench/Bench.java --quick echo""";
    static final List<String> WORKLOADS = List.of("loopback", "echo", "daytime", "uppercase", "chat", "ncat-chat");
    static final int PERIOD = 65_521; // bulk data repeats with this (prime) period, so no shift goes unseen

    /** How much work each workload does. */
    record Scale(String name, long bulkBytes, int roundTrips, int idleClients, int daytimeSeconds, int chatLines, int bigRoom) {}

    static final Scale FULL = new Scale("full", 1L << 30, 20_000, 10_000, 3, 1000, 10_000);
    static final Scale QUICK = new Scale("quick", 64L << 20, 2_000, 1_000, 1, 200, 1_000);
    static final Scale SMOKE = new Scale("smoke", 1L << 20, 100, 50, 1, 5, 50);
    static Scale scale = FULL;

    /** One measured figure: a row of the table. */
    record Figure(String workload, String measure, double value, String unit, boolean throughput) {}

    public static void main(String[] args) throws Exception {
        int runs = 3, port = -1;
        List<String> chosen = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "-h", "--help" -> { System.out.println(USAGE); return; }
                case "--quick" -> scale = QUICK;
                case "--smoke" -> scale = SMOKE;
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--port" -> port = Integer.parseInt(args[++i]);
                default -> {
                    if (!WORKLOADS.contains(args[i])) usageError("unknown workload '" + args[i] + "'");
                    chosen.add(args[i]);
                }
            }
        }
        if (chosen.isEmpty()) chosen.addAll(WORKLOADS);
        if (scale != FULL || port >= 0) runs = 1;
        if (port < 0 && !Files.exists(Path.of("echo/Echo.java"))) fail("error: run Bench from the project root (it starts the servers)");
        System.out.printf(Locale.ROOT, "JDK %s (%s), %d cores, %s, %s scale%n%n", Runtime.version(), System.getProperty("java.vm.name"),
                Runtime.getRuntime().availableProcessors(), LocalDate.now(), scale.name());

        Map<String, List<Figure>> results = new LinkedHashMap<>();
        for (String workload : chosen) {
            for (int run = 0; run < runs; run++) {
                System.err.printf("%s, run %d of %d%n", workload, run + 1, runs);
                for (Figure f : run(workload, port)) results.computeIfAbsent(f.workload() + "|" + f.measure(), k -> new ArrayList<>()).add(f);
            }
        }
        printTable(results);
    }

    static List<Figure> run(String workload, int port) throws Exception {
        if (workload.equals("loopback")) return loopback();
        if (port >= 0) return drive(workload, port, -1);
        if (workload.equals("ncat-chat")) return ncatChat();
        String[] server = switch (workload) {
            case "echo" -> new String[] {"echo/Echo.java", "0"};
            case "daytime" -> new String[] {"daytime/Daytime.java", "0"};
            case "uppercase" -> new String[] {"uppercase/Uppercase.java", "0"};
            case "chat" -> new String[] {"chat/Chat.java", "0", "10000"};
            default -> throw new IllegalArgumentException(workload);
        };
        Process process = start(server);
        try {
            return drive(workload, listeningPort(process), process.pid());
        } finally {
            process.destroy();
            process.waitFor();
        }
    }

    static List<Figure> drive(String workload, int port, long pid) throws Exception {
        List<Figure> figures = new ArrayList<>();
        long mb = scale.bulkBytes();
        switch (workload) {
            case "echo" -> {
                byte[] data = pattern(false);
                figures.add(throughput("echo", "bulk, 1 connection", bulk(port, 1, mb, data, data)));
                figures.add(throughput("echo", "bulk, 8 connections", bulk(port, 8, mb / 8, data, data)));
                double[] rtt = roundTrips(port, scale.roundTrips());
                figures.add(new Figure("echo", "64-byte round trip, p50", rtt[0], "µs", false));
                figures.add(new Figure("echo", "64-byte round trip, p99", rtt[1], "µs", false));
                double[] udp = udpRoundTrips(port, scale.roundTrips());
                figures.add(new Figure("echo", "64-byte UDP round trip, p50", udp[0], "µs", false));
                figures.add(new Figure("echo", "64-byte UDP round trip, p99", udp[1], "µs", false));
                figures.add(throughput("echo", "bulk, 1 connection, 10,000 UDP datagrams/s beside it",
                        besideUdp(port, () -> bulk(port, 1, mb, data, data))));
                int idle = scale.idleClients();
                if (pid > 0) figures.add(new Figure("echo", "memory per idle connection (" + idle + " idle)", idleMemory(port, pid, idle), "KB", false));
            }
            case "uppercase" -> {
                byte[] text = pattern(true), upper = text.clone();
                for (int i = 0; i < upper.length; i++) if (upper[i] >= 'a' && upper[i] <= 'z') upper[i] -= 32;
                figures.add(throughput("uppercase", "bulk ASCII, 1 connection", bulk(port, 1, mb, text, upper)));
            }
            case "daytime" -> {
                for (int threads : new int[] {1, 4}) {
                    figures.add(new Figure("daytime", "connections/s, " + threads + (threads == 1 ? " client thread" : " client threads"),
                            daytime(port, threads, scale.daytimeSeconds()), "/s", false));
                }
            }
            case "chat" -> {
                figures.addAll(chat("chat", port, 100, 10, scale.chatLines(), 0));
                figures.addAll(chat("chat", port, scale.bigRoom(), 1, 20, 100));
            }
            default -> throw new IllegalArgumentException(workload + " cannot be driven on a given port");
        }
        return figures;
    }

    static Figure throughput(String workload, String measure, double bytesPerSecond) {
        return new Figure(workload, measure, bytesPerSecond / 1e9, "GB/s", true);
    }

    // ---- loopback: the machine's own limit ----

    static List<Figure> loopback() throws Exception {
        try (ServerSocketChannel listener = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
            long bytes = 4 * scale.bulkBytes();
            SocketChannel a = SocketChannel.open(listener.getLocalAddress()), b = listener.accept();
            long start = System.nanoTime();
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> write(a, bytes, ByteBuffer.allocateDirect(PERIOD)));
            ByteBuffer in = ByteBuffer.allocateDirect(PERIOD);
            for (long got = 0; got < bytes; in.clear()) got += b.read(in);
            writer.join();
            double oneWay = bytes / ((System.nanoTime() - start) / 1e9);

            a.setOption(StandardSocketOptions.TCP_NODELAY, true);
            b.setOption(StandardSocketOptions.TCP_NODELAY, true);
            CompletableFuture<Void> echoer = CompletableFuture.runAsync(() -> {
                ByteBuffer buffer = ByteBuffer.allocateDirect(64);
                try {
                    while (b.read(buffer) != -1) {
                        if (buffer.hasRemaining()) continue;
                        buffer.flip();
                        while (buffer.hasRemaining()) b.write(buffer);
                        buffer.clear();
                    }
                } catch (IOException e) {
                    // a closed by the measuring side: the end
                }
            });
            double[] rtt = roundTrips(a, scale.roundTrips());
            a.close();
            echoer.join();
            b.close();
            return List.of(throughput("loopback", "one-way throughput, 1 connection", oneWay),
                    new Figure("loopback", "64-byte round trip, p50", rtt[0], "µs", false),
                    new Figure("loopback", "64-byte round trip, p99", rtt[1], "µs", false));
        }
    }

    static void write(SocketChannel channel, long bytes, ByteBuffer chunk) {
        try {
            for (long left = bytes; left > 0; ) {
                chunk.clear().limit((int) Math.min(chunk.capacity(), left));
                left -= channel.write(chunk);
            }
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    // ---- bulk transfers, every byte verified ----

    /** Bytes that repeat with a prime period: random (0-255), or printable ASCII. */
    static byte[] pattern(boolean printable) {
        byte[] p = new byte[PERIOD];
        new SplittableRandom(42).nextBytes(p);
        if (printable) for (int i = 0; i < p.length; i++) p[i] = (byte) (' ' + (p[i] & 0x7F) % 95);
        return p;
    }

    /** Sends {@code bytes} over each of {@code connections}, checks what comes back; returns bytes per second (one way). */
    static double bulk(int port, int connections, long bytes, byte[] send, byte[] expect) throws Exception {
        ByteBuffer out = twice(send), want = twice(expect);
        ExecutorService threads = Executors.newCachedThreadPool();
        try {
            List<SocketChannel> channels = new ArrayList<>();
            for (int c = 0; c < connections; c++) channels.add(SocketChannel.open(new InetSocketAddress("127.0.0.1", port)));
            long start = System.nanoTime();
            List<Future<?>> done = new ArrayList<>();
            for (SocketChannel ch : channels) {
                done.add(threads.submit(() -> {
                    ByteBuffer chunk = out.duplicate();
                    for (long sent = 0; sent < bytes; ) {
                        int offset = (int) (sent % PERIOD);
                        chunk.limit(offset + (int) Math.min(PERIOD, bytes - sent)).position(offset);
                        sent += ch.write(chunk);
                    }
                    ch.shutdownOutput();
                    return null;
                }));
                done.add(threads.submit(() -> {
                    ByteBuffer in = ByteBuffer.allocateDirect(PERIOD);
                    long got = 0;
                    for (int n; (n = ch.read(in)) != -1; in.clear()) {
                        int offset = (int) (got % PERIOD);
                        int at = in.flip().mismatch(want.duplicate().position(offset).limit(offset + n));
                        if (at >= 0) fail("MISMATCH: byte " + (got + at) + " is not what was sent (is this an echo server?)");
                        got += n;
                    }
                    if (got != bytes) fail("MISMATCH: " + got + " bytes came back of " + bytes);
                    ch.close();
                    return null;
                }));
            }
            for (Future<?> f : done) f.get();
            return connections * bytes / ((System.nanoTime() - start) / 1e9);
        } finally {
            threads.shutdownNow();
        }
    }

    static ByteBuffer twice(byte[] pattern) {
        return ByteBuffer.allocateDirect(2 * pattern.length).put(pattern).put(pattern).flip();
    }

    // ---- round trips ----

    static double[] roundTrips(int port, int count) throws IOException {
        try (SocketChannel ch = SocketChannel.open(new InetSocketAddress("127.0.0.1", port))) {
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            return roundTrips(ch, count);
        }
    }

    /** p50 and p99 in microseconds of a 64-byte message sent and read back whole. */
    static double[] roundTrips(SocketChannel ch, int count) throws IOException {
        ByteBuffer message = ByteBuffer.allocateDirect(64), reply = ByteBuffer.allocateDirect(64);
        long[] nanos = new long[count];
        for (int i = -count / 10; i < count; i++) { // the first tenth warms up
            long start = System.nanoTime();
            message.clear();
            while (message.hasRemaining()) ch.write(message);
            for (reply.clear(); reply.hasRemaining(); ) if (ch.read(reply) < 0) fail("EOF during a round trip");
            if (i >= 0) nanos[i] = System.nanoTime() - start;
        }
        Arrays.sort(nanos);
        return new double[] {nanos[count / 2] / 1e3, nanos[count * 99 / 100] / 1e3};
    }

    /** p50 and p99 in microseconds of a 64-byte datagram sent and received back, every byte checked. */
    static double[] udpRoundTrips(int port, int count) throws IOException {
        try (DatagramSocket udp = new DatagramSocket()) {
            udp.connect(new InetSocketAddress("127.0.0.1", port));
            udp.setSoTimeout(5000); // on loopback, one at a time, a datagram is not lost
            byte[] message = Arrays.copyOf(pattern(false), 64);
            DatagramPacket reply = new DatagramPacket(new byte[65536], 65536);
            long[] nanos = new long[count];
            for (int i = -count / 10; i < count; i++) { // the first tenth warms up
                long start = System.nanoTime();
                udp.send(new DatagramPacket(message, 64));
                try {
                    udp.receive(reply);
                } catch (SocketTimeoutException e) {
                    fail("no UDP answer from port " + port + " in 5 s (does the server speak UDP?)");
                }
                if (!Arrays.equals(message, 0, 64, reply.getData(), 0, reply.getLength())) fail("MISMATCH: a UDP datagram came back changed (is this an echo server?)");
                if (i >= 0) nanos[i] = System.nanoTime() - start;
            }
            Arrays.sort(nanos);
            return new double[] {nanos[count / 2] / 1e3, nanos[count * 99 / 100] / 1e3};
        }
    }

    /** Runs {@code work} while another thread sends 64-byte datagrams to the port, 10,000 a second. */
    static double besideUdp(int port, Callable<Double> work) throws Exception {
        AtomicBoolean done = new AtomicBoolean();
        Thread sender = new Thread(() -> {
            try (DatagramSocket udp = new DatagramSocket()) { // the answers are never read: the kernel drops them
                udp.connect(new InetSocketAddress("127.0.0.1", port));
                DatagramPacket datagram = new DatagramPacket(new byte[64], 64);
                for (long next = System.nanoTime(); !done.get(); next += 100_000) {
                    udp.send(datagram);
                    LockSupport.parkNanos(next - System.nanoTime());
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        sender.start();
        try {
            return work.call();
        } finally {
            done.set(true);
            sender.join();
        }
    }

    // ---- idle connections ----

    /** Server memory (RSS) per idle client, with {@code count} of them connected. */
    static double idleMemory(int port, long pid, int count) throws Exception {
        closeAll(connectAndEcho(port, 200)); // warm up: JIT, thread pools
        Thread.sleep(1000);                  // let the server settle before the first reading
        long before = rssKb(pid);
        List<SocketChannel> idle = connectAndEcho(port, count);
        Thread.sleep(1000);
        long after = rssKb(pid);
        closeAll(idle);
        return (after - before) / (double) count;
    }

    /** Connects {@code count} clients that each have one byte echoed, so that each has a serving thread. */
    static List<SocketChannel> connectAndEcho(int port, int count) throws IOException {
        List<SocketChannel> channels = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            SocketChannel ch = SocketChannel.open(new InetSocketAddress("127.0.0.1", port));
            ch.write(ByteBuffer.wrap(new byte[] {'x'}));
            channels.add(ch);
        }
        for (SocketChannel ch : channels) {
            if (ch.read(ByteBuffer.allocate(1)) != 1) fail("an idle client was not echoed");
        }
        return channels;
    }

    static void closeAll(List<SocketChannel> channels) throws IOException {
        for (SocketChannel ch : channels) ch.close();
    }

    static long rssKb(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("\\D", ""));
        }
        throw new IOException("no VmRSS for " + pid);
    }

    // ---- daytime: connections per second ----

    static double daytime(int port, int threads, int seconds) throws Exception {
        Pattern line = Pattern.compile("\\w{3} \\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d \\d{4}\r\n");
        AtomicLong served = new AtomicLong();
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                done.add(pool.submit(() -> {
                    while (System.nanoTime() < end) {
                        try (Socket s = new Socket("127.0.0.1", port)) {
                            s.setSoTimeout(10_000);
                            String reply = new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
                            if (!line.matcher(reply).matches()) fail("MISMATCH: not a daytime line: " + reply);
                            served.incrementAndGet();
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) f.get();
            return served.get() / (double) seconds;
        } finally {
            pool.shutdownNow();
        }
    }

    // ---- chat: fan-out ----

    /**
     * {@code members} clients join; {@code senders} of them each send {@code lines} lines
     * (every {@code pauseMillis}, or as fast as they can with 0), each stamped with the
     * time it was sent. Every other member must receive every line; returns deliveries
     * per second and the p99 time from send to delivery.
     */
    static List<Figure> chat(String workload, int port, int members, int senders, int lines, int pauseMillis) throws Exception {
        Pattern stamp = Pattern.compile("bench (\\d+) (\\d+)");
        long expected = (long) senders * lines * (members - 1);
        long[] latencies = new long[(int) expected];
        AtomicLong delivered = new AtomicLong(), ready = new AtomicLong();
        List<SocketChannel> channels = new ArrayList<>();
        try (Selector selector = Selector.open()) {
            Thread reader = new Thread(() -> {
                ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
                try {
                    while (delivered.get() < expected && !Thread.currentThread().isInterrupted()) {
                        selector.select(100);
                        for (SelectionKey key : selector.selectedKeys()) {
                            StringBuilder partial = (StringBuilder) key.attachment();
                            buffer.clear();
                            if (((SocketChannel) key.channel()).read(buffer) < 0) { key.cancel(); continue; }
                            long now = System.nanoTime();
                            partial.append(new String(buffer.array(), 0, buffer.position(), StandardCharsets.UTF_8));
                            for (int nl; (nl = partial.indexOf("\n")) >= 0; partial.delete(0, nl + 1)) {
                                String line = partial.substring(0, nl);
                                if (line.contains("bench-ready")) ready.incrementAndGet();
                                Matcher m = stamp.matcher(line);
                                if (m.find()) {
                                    long i = delivered.getAndIncrement();
                                    if (i < latencies.length) latencies[(int) i] = now - Long.parseLong(m.group(2));
                                }
                            }
                        }
                        selector.selectedKeys().clear();
                    }
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            for (int i = 0; i < members; i++) {
                SocketChannel ch = SocketChannel.open(new InetSocketAddress("127.0.0.1", port));
                ch.configureBlocking(false);
                channels.add(ch);
            }
            // Register only once all have joined: the join lines queue in the kernel meanwhile,
            // within the server's 1 MiB per client; the reader then drains them with the rest.
            for (SocketChannel ch : channels) {
                selector.wakeup();
                ch.register(selector, SelectionKey.OP_READ, new StringBuilder());
            }
            reader.start();
            // connect() returns before the server has accepted, so wait until everyone is in the
            // room: the last to connect says so, and servers accept in order.
            channels.get(members - 1).write(ByteBuffer.wrap("bench-ready\n".getBytes(StandardCharsets.US_ASCII)));
            for (long deadline = System.nanoTime() + 120_000_000_000L; ready.get() < members - 1; Thread.sleep(10)) {
                if (System.nanoTime() > deadline) fail("chat: only " + ready.get() + " of " + (members - 1) + " members got the ready line");
            }
            long start = System.nanoTime();
            List<CompletableFuture<Void>> sending = new ArrayList<>();
            for (int s = 0; s < senders; s++) {
                SocketChannel ch = channels.get(s);
                sending.add(CompletableFuture.runAsync(() -> {
                    try {
                        for (int i = 0; i < lines; i++) {
                            ByteBuffer line = ByteBuffer.wrap(("bench " + i + " " + System.nanoTime() + "\n").getBytes(StandardCharsets.US_ASCII));
                            while (line.hasRemaining()) if (ch.write(line) == 0) Thread.sleep(1); // the server is behind
                            if (pauseMillis > 0) Thread.sleep(pauseMillis);
                        }
                    } catch (IOException | InterruptedException e) {
                        throw new RuntimeException(e);
                    }
                }));
            }
            sending.forEach(CompletableFuture::join);
            for (long seen = -1; reader.isAlive() && delivered.get() > seen; reader.join(5000)) seen = delivered.get();
            reader.interrupt(); // done, or nothing arrived for 5 s
            reader.join();
            long got = Math.min(delivered.get(), expected);
            double elapsed = (System.nanoTime() - start) / 1e9;
            if (got < expected && workload.equals("chat")) fail("chat: " + got + " of " + expected + " lines delivered");
            Arrays.sort(latencies, 0, (int) got);
            String size = members + " clients";
            List<Figure> figures = new ArrayList<>(List.of(
                    new Figure(workload, "fan-out deliveries/s, " + size + (pauseMillis > 0 ? " (1 line every " + pauseMillis + " ms)" : ""),
                            got / elapsed, "/s", false),
                    new Figure(workload, "delivery latency p99, " + size, latencies[(int) (got * 99 / 100)] / 1e6, "ms", false)));
            // A server that prefixes per read rather than per line garbles lines under load (ncat --chat does).
            if (got < expected) figures.add(new Figure(workload, "lines lost or garbled, " + size, expected - got, "of " + expected, false));
            return figures;
        } finally {
            for (SocketChannel ch : channels) ch.close();
        }
    }

    /** The same fan-out against ncat --chat, where ncat is installed: the common tool's figure, side by side. */
    static List<Figure> ncatChat() throws Exception {
        if (!onPath("ncat")) {
            System.err.println("ncat-chat: skipped, ncat is not installed (apt-get install ncat)");
            return List.of();
        }
        int port;
        try (ServerSocket free = new ServerSocket(0)) {
            port = free.getLocalPort();
        }
        Process ncat = new ProcessBuilder("ncat", "--listen", "--chat", "--max-conns", "1000", "127.0.0.1", "" + port)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            // ncat prints no ready line, and a probe that connects and hangs up makes it quit
            // ("getpeername ... QUITTING"), so watch for its listening socket in /proc instead.
            String local = String.format(Locale.ROOT, ":%04X ", port);
            for (long deadline = System.nanoTime() + 10_000_000_000L; ; Thread.sleep(50)) {
                if (Files.readAllLines(Path.of("/proc/net/tcp")).stream().anyMatch(l -> l.contains(local) && l.contains(" 0A "))) break;
                if (System.nanoTime() > deadline) fail("ncat did not start listening on port " + port);
            }
            return chat("ncat --chat", port, 100, 10, scale.chatLines(), 0);
        } finally {
            ncat.destroy();
            ncat.waitFor();
        }
    }

    // ---- servers ----

    static Process start(String... fileAndArgs) throws IOException {
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java")));
        command.addAll(List.of(fileAndArgs));
        return new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    }

    /** Reads the server's "listening on ADDRESS:PORT" line, then keeps draining its stdout. */
    static int listeningPort(Process process) throws IOException {
        InputStream out = process.getInputStream();
        StringBuilder line = new StringBuilder();
        for (int c; (c = out.read()) != '\n'; line.append((char) c)) if (c < 0) fail("the server ended before it listened");
        Matcher m = Pattern.compile("listening on .*:(\\d+)").matcher(line);
        if (!m.matches()) fail("unexpected first line from the server: " + line);
        Thread drain = new Thread(() -> {
            try {
                out.transferTo(java.io.OutputStream.nullOutputStream());
            } catch (IOException e) {
                // the server ended
            }
        });
        drain.setDaemon(true);
        drain.start();
        return Integer.parseInt(m.group(1));
    }

    static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (Files.isExecutable(Path.of(dir, tool))) return true;
        }
        return false;
    }

    // ---- the table ----

    static void printTable(Map<String, List<Figure>> results) {
        List<Figure> loopback = results.get("loopback|one-way throughput, 1 connection");
        double limit = loopback == null ? Double.NaN : median(loopback);
        System.out.println("| workload | measure | median | of loopback | runs |");
        System.out.println("|---|---|---:|---:|---:|");
        for (List<Figure> runs : results.values()) {
            Figure f = runs.get(0);
            double median = median(runs);
            String fraction = f.throughput() && !Double.isNaN(limit) ? String.format(Locale.ROOT, "%.0f%%", 100 * median / limit) : "";
            System.out.printf(Locale.ROOT, "| %s | %s | %s %s | %s | %d |%n", f.workload(), f.measure(), format(median), f.unit(), fraction, runs.size());
        }
    }

    static double median(List<Figure> runs) {
        double[] values = runs.stream().mapToDouble(Figure::value).sorted().toArray();
        return values[values.length / 2];
    }

    static String format(double value) {
        if (value >= 1000) return String.format(Locale.ROOT, "%,.0f", value);
        if (value >= 10) return String.format(Locale.ROOT, "%.1f", value);
        return String.format(Locale.ROOT, "%.2f", value);
    }

    static void fail(String message) {
        System.err.println(message);
        System.exit(1);
    }

    static void usageError(String message) {
        System.err.println("error: " + message + "\n" + USAGE);
        System.exit(2);
    }
}
