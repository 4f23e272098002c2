package harness;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/** Client helpers for tests: every socket has a read timeout, nothing waits forever. */
public final class Net {
    /** The read timeout of every test socket: long enough for a loaded CI machine. */
    public static final int READ_TIMEOUT_MS = 20_000;

    private Net() {
    }

    /** Connects to 127.0.0.1:port with a read timeout. */
    public static Socket connect(int port) {
        return connect("127.0.0.1", port);
    }

    public static Socket connect(String host, int port) {
        Socket socket = new Socket();
        try {
            socket.connect(new InetSocketAddress(host, port), READ_TIMEOUT_MS);
            socket.setSoTimeout(READ_TIMEOUT_MS);
            return socket;
        } catch (IOException e) {
            close(socket);
            throw new UncheckedIOException("connect to " + host + ":" + port, e);
        }
    }

    public static void write(Socket socket, byte[] bytes) {
        try {
            socket.getOutputStream().write(bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static void write(Socket socket, String text) {
        write(socket, text.getBytes(StandardCharsets.UTF_8));
    }

    /** A UDP socket on 127.0.0.1 ({@code port} 0: any free one), with the read timeout of every test socket. */
    public static DatagramSocket udp(int port) {
        try {
            DatagramSocket socket = new DatagramSocket(new InetSocketAddress("127.0.0.1", port));
            socket.setSoTimeout(READ_TIMEOUT_MS);
            return socket;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Sends one datagram to 127.0.0.1:{@code port}. */
    public static void send(DatagramSocket socket, int port, byte[] payload) {
        try {
            socket.send(new DatagramPacket(payload, payload.length, new InetSocketAddress("127.0.0.1", port)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Receives one datagram (any size UDP allows) and returns its payload. */
    public static byte[] receive(DatagramSocket socket) throws IOException {
        DatagramPacket packet = new DatagramPacket(new byte[65536], 65536);
        socket.receive(packet);
        return Arrays.copyOf(packet.getData(), packet.getLength());
    }

    /** Reads until EOF (a read timeout fails the test). */
    public static byte[] readAll(Socket socket) {
        try {
            return socket.getInputStream().readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Reads exactly n bytes. */
    public static byte[] readExactly(Socket socket, int n) {
        try {
            byte[] bytes = socket.getInputStream().readNBytes(n);
            if (bytes.length != n) throw new AssertionError("EOF after " + bytes.length + " of " + n + " bytes");
            return bytes;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Reads one line up to and including its '\n', as UTF-8 text without the '\n'; null at EOF. */
    public static String readLine(Socket socket) {
        try {
            InputStream in = socket.getInputStream();
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            for (int b; (b = in.read()) != -1; ) {
                if (b == '\n') return line.toString(StandardCharsets.UTF_8);
                line.write(b);
            }
            return line.size() == 0 ? null : line.toString(StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static void close(Socket socket) {
        try {
            socket.close();
        } catch (IOException e) {
            // closing a test socket: nothing to learn from a failure here
        }
    }

    /** Closes with SO_LINGER 0, so the peer gets a reset instead of a FIN. */
    public static void reset(Socket socket) {
        try {
            socket.setSoLinger(true, 0);
            socket.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** Polls a condition until it holds; fails after {@code limit} with {@code what}. */
    public static void await(String what, Duration limit, BooleanSupplier condition) {
        await(what, limit, condition, () -> "");
    }

    /** As {@link #await(String, Duration, BooleanSupplier)}, saying {@code state} when it times out. */
    public static void await(String what, Duration limit, BooleanSupplier condition, Supplier<String> state) {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("timed out after " + limit + " waiting for " + what + "; " + state.get());
            try {
                Thread.sleep(20); // polling interval, not synchronisation: the condition decides
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted", e);
            }
        }
    }

    /** A line of /proc/PID/status, e.g. {@code Threads} or {@code VmRSS}, as a number. */
    public static long procStatus(long pid, String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith(field + ":")) return Long.parseLong(line.substring(field.length() + 1).trim().split("\\s+")[0]);
            }
            throw new AssertionError("no " + field + " in /proc/" + pid + "/status");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Threads of a process that the program made, by their kernel names (/proc/PID/task/TID/comm).
     * Left out are the JVM's own pools that grow under load and shrink on their own timers
     * or start on first need (JIT compilers, GC workers, the carriers of virtual threads, which
     * retire after 30 s idle, and the pollers behind them), so that a count back at its idle
     * value means no thread of the program leaked.
     */
    public static List<String> programThreads(long pid) {
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            return tasks.map(t -> {
                try {
                    return Files.readString(t.resolve("comm")).strip();
                } catch (IOException e) {
                    return "C1 exited"; // the thread ended while we listed: not counted
                }
            }).filter(name -> !JVM_POOLS.matcher(name).lookingAt()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static final Pattern JVM_POOLS = Pattern.compile("C1 |C2 |GC Thread|G1 |ForkJoinPool-|MasterPoller|Read-Poller|Write-Poller");

    /** How many file descriptors a process has open. */
    public static long openFiles(long pid) {
        try (var fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            return fds.count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A port number free a moment ago for both TCP and UDP, for a program that must bind it
     * itself. It lies below the kernel's ephemeral range, so no server on port 0 or client of
     * a test running beside this one can take it between this check and the program's bind.
     */
    public static int freePort() {
        try {
            String range = Files.readAllLines(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).get(0);
            int low = 20000, high = Math.min(Integer.parseInt(range.trim().split("\\s+")[0]), 30000);
            for (int tries = 0; ; tries++) {
                int port = high > low ? ThreadLocalRandom.current().nextInt(low, high) : 0;
                try (ServerSocket tcp = new ServerSocket(); DatagramSocket udp = new DatagramSocket(null)) {
                    tcp.setReuseAddress(true);
                    tcp.bind(new InetSocketAddress(port));
                    udp.bind(new InetSocketAddress(tcp.getLocalPort()));
                    return tcp.getLocalPort();
                } catch (IOException e) {
                    if (tries == 100) throw e; // something on this machine holds that number: try another
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** CPU time a process has used so far (user + system), from /proc/PID/stat. */
    public static Duration cpuTime(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" "); // fields from the 3rd on
            long ticks = Long.parseLong(fields[11]) + Long.parseLong(fields[12]);  // utime + stime
            return Duration.ofMillis(ticks * 10); // USER_HZ is 100 on Linux
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Whether this process runs as root (effective uid 0, from /proc/self/status), for tests
     * that need it: what the process can do, not what user.name says.
     */
    public static boolean isRoot() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) return line.split("\\s+")[2].equals("0");
            }
        } catch (IOException e) {
            // not Linux: treated as not root, so those tests skip
        }
        return false;
    }

    /**
     * Connects up to {@code count} clients at once to 127.0.0.1:port and returns those that got
     * in: a connect that takes more than 300 ms (the server's accept queue is full) is given up.
     */
    public static List<Socket> connectMany(int port, int count) {
        List<Socket> connected = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Socket s = new Socket();
            try {
                s.connect(new InetSocketAddress("127.0.0.1", port), 300);
                s.setSoTimeout(READ_TIMEOUT_MS);
                connected.add(s);
            } catch (IOException e) {
                close(s);
            }
        }
        return connected;
    }

    /** Whether a command is on PATH, for tests that skip without it. */
    public static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (Files.isExecutable(Path.of(dir, tool))) return true;
        }
        return false;
    }

    public static Duration seconds(long s) {
        return Duration.ofSeconds(s);
    }
}
