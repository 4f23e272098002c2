package harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The TCP connections a process holds open (Linux): its socket descriptors in /proc/PID/fd,
 * matched by inode with the kernel's table of connections, /proc/PID/net/tcp and tcp6. A
 * socket the process has closed is not listed, even while the kernel still sends its last
 * bytes or waits out TIME-WAIT, so this says what the program keeps, not what the kernel does.
 * <p>
 * The kernel writes those tables a page per read() and finds its place again by position, so
 * while other sockets come and go (tests run side by side) a line can appear twice or not at
 * all. The tables are read twice and the lines kept by inode: no connection counts twice, and
 * one is missed only if both reads miss it.
 */
public final class HeldSockets {
    private HeldSockets() {
    }

    /**
     * One connection: the peer's port, the TCP state as ss names it (ESTAB, CLOSE-WAIT...) and
     * the timer the kernel runs on it ("tr" in the table: 0 none, 1 retransmit, 2 keepalive,
     * 3 TIME-WAIT, 4 zero-window probe).
     */
    public record Connection(int peerPort, String state, int timer) {
    }

    static final String[] STATES = {"?", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT",
            "UNCONN", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING"};

    /** The connections that process {@code pid} holds on its local port {@code port}, the listener left out. */
    public static List<Connection> on(long pid, int port) {
        Set<Long> inodes = socketInodes(pid);
        Map<Long, Connection> held = new LinkedHashMap<>();
        for (int read = 0; read < 2; read++) {
            for (String table : List.of("tcp", "tcp6")) {
                List<String> lines;
                try {
                    lines = Files.readAllLines(Path.of("/proc/" + pid + "/net/" + table));
                } catch (NoSuchFileException e) {
                    continue; // no IPv6 here, or the process has ended
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
                for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
                    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
                    String[] f = line.trim().split("\\s+");
                    if (f.length < 10 || localPort(f[1]) != port) continue;
                    String state = STATES[Math.min(Integer.parseInt(f[3], 16), STATES.length - 1)];
                    long inode = Long.parseLong(f[9]);
                    if (state.equals("LISTEN") || !inodes.contains(inode)) continue;
                    held.put(inode, new Connection(localPort(f[2]), state, Integer.parseInt(f[5].substring(0, 2), 16)));
                }
            }
        }
        return new ArrayList<>(held.values());
    }

    /** The peer ports of those connections. */
    public static Set<Integer> peerPorts(long pid, int port) {
        Set<Integer> ports = new HashSet<>();
        for (Connection c : on(pid, port)) ports.add(c.peerPort());
        return ports;
    }

    static int localPort(String address) {
        return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1), 16);
    }

    static Set<Long> socketInodes(long pid) {
        Set<Long> inodes = new HashSet<>();
        try (var fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : (Iterable<Path>) fds::iterator) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();  // socket:[12345]
                    if (target.startsWith("socket:[")) inodes.add(Long.parseLong(target.substring(8, target.length() - 1)));
                } catch (IOException e) {
                    // closed while we listed: not held
                }
            }
        } catch (NoSuchFileException e) {
            return inodes; // the process has ended: it holds nothing
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return inodes;
    }
}
