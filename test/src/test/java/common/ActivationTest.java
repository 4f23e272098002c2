package common;

import static harness.Net.seconds;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import harness.Net;
import harness.Program;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Socket activation, for real: each server started by xinetd and by systemd-socket-activate
 * with its socket already open on stdin, as inetd and systemd start them.
 */
class ActivationTest {
    static final Pattern CTIME_LINE = Pattern.compile("[A-Z][a-z]{2} [A-Z][a-z]{2} [ 123]\\d \\d\\d:\\d\\d:\\d\\d \\d{4}\r\n");

    // ---- inetd nowait: the client is stdin, stdout and stderr; nothing but the protocol may reach it ----

    @ParameterizedTest
    @EnumSource(Servers.class)
    void underInetdNowaitEachClientGetsTheProtocolAndNothingElse(Servers kind, @TempDir Path dir) throws IOException {
        byte[] random = new byte[1 << 20];
        new SplittableRandom(5).nextBytes(random);
        byte[] input = switch (kind) {
            case DAYTIME -> new byte[0];
            case ECHO -> random;
            default -> "hello, wörld\n".getBytes(StandardCharsets.UTF_8);
        };
        try (Inetd inetd = Inetd.start(dir, new Service(kind.file, "tcp", false))) {
            byte[] reply;
            try (Socket s = Net.connect(inetd.port(0))) {
                Thread writer = new Thread(() -> {  // the echo is read while it is written
                    Net.write(s, input);
                    try {
                        s.shutdownOutput();
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
                writer.start();
                reply = Net.readAll(s);
                writer.join();
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
            String text = new String(reply, StandardCharsets.UTF_8);
            switch (kind) {
                case DAYTIME -> assertTrue(CTIME_LINE.matcher(text).matches(), "not exactly one daytime line: '" + text + "'");
                case ECHO -> assertArrayEquals(input, reply, "not exactly the bytes sent");
                case UPPERCASE -> assertEquals("HELLO, WÖRLD\n", text);
                case CHAT -> assertEquals("welcome, you are user 1 (1 user in the room)\n", text); // a room of one
                case KEEPALIVE -> assertEquals("", text);
            }
            Net.await("the one-client server to exit", seconds(20), inetd::serversGone, inetd::describe);
        }
    }

    // ---- inetd dgram wait: the UDP socket is stdin; the server answers datagrams until stopped ----

    @ParameterizedTest
    @EnumSource(value = Servers.class, names = {"DAYTIME", "ECHO"})
    void underInetdDgramWaitDatagramsAreAnswered(Servers kind, @TempDir Path dir) throws IOException {
        try (Inetd inetd = Inetd.start(dir, new Service(kind.file, "udp", true))) {
            String end = kind == Servers.ECHO ? "ping\n" : "\r\n";
            UdpTest.assertAnswers(inetd.port(0), end, Program.START, inetd::describe); // the first datagram starts a JVM
            for (int i = 0; i < 3; i++) UdpTest.assertAnswers(inetd.port(0), end);
        }
    }

    // ---- systemd Accept=no (inetd wait): a listening socket on stdin, served like the server's own ----

    @ParameterizedTest
    @EnumSource(Servers.class)
    void givenAListeningSocketTheServerServesManyClients(Servers kind) throws IOException {
        assumeTrue(Net.onPath("systemd-socket-activate"), "needs systemd-socket-activate (systemd)");
        int port = Net.freePort();
        try (Program server = Program.of(kind.file)
                .wrappedIn("systemd-socket-activate", "--inetd", "--listen=127.0.0.1:" + port).launch()) {
            server.awaitStderr(l -> l.startsWith("Listening on 127.0.0.1:" + port), Program.START);
            try (Socket first = Net.connect(port)) { // the wrapper starts the server on the first connection
                server.awaitListeningOnStderr();     // stdout is the socket: the ready line goes to stderr
                assertEquals(port, server.port());
                for (int i = 0; i < 3; i++) kind.assertServes(server, seconds(10));
            }
        }
    }

    // ---- systemd Accept=yes (inetd nowait): one connected socket on stdin; logs still reach stderr ----

    @ParameterizedTest
    @EnumSource(Servers.class)
    void givenOneConnectionTheServerServesItThenExits(Servers kind) {
        assumeTrue(Net.onPath("systemd-socket-activate"), "needs systemd-socket-activate (systemd)");
        int port = Net.freePort();
        try (Program wrapper = Program.of(kind.file)
                .wrappedIn("systemd-socket-activate", "--inetd", "--accept", "--listen=127.0.0.1:" + port).launch()) {
            wrapper.awaitStderr(l -> l.startsWith("Listening on 127.0.0.1:" + port), Program.START);
            kind.assertServes(wrapper, port, Program.START);
            if (kind != Servers.KEEPALIVE) wrapper.awaitLog("connection from 127.0.0.1:"); // stderr is not the socket here
            if (kind != Servers.DAYTIME) {                                 // closing the inherited socket silences stderr
                wrapper.awaitStderr(l -> l.matches("127\\.0\\.0\\.1:\\d+ closed.*"), seconds(20));
            }
            Net.await("the one-client server to exit", seconds(20),
                    () -> wrapper.process().descendants().noneMatch(ProcessHandle::isAlive), wrapper::describe);
        }
    }

    // ---- what can go wrong around activation ----

    /**
     * A client that resets before the JVM is up leaves a socket with no peer, which the JDK hands
     * over as if it were a listener; accept() on it fails with EINVAL. The program must end at
     * once rather than retry for good, one idle JVM per health check or port scan.
     */
    @ParameterizedTest
    @EnumSource(Servers.class)
    void aClientThatResetsBeforeTheJvmIsUpLeavesNoJvmBehind(Servers kind) {
        assumeTrue(Net.onPath("systemd-socket-activate"), "needs systemd-socket-activate (systemd)");
        int port = Net.freePort();
        try (Program wrapper = Program.of(kind.file)
                .wrappedIn("systemd-socket-activate", "--inetd", "--accept", "--listen=127.0.0.1:" + port).launch()) {
            wrapper.awaitStderr(l -> l.startsWith("Listening on 127.0.0.1:" + port), Program.START);
            for (int i = 0; i < 3; i++) Net.reset(Net.connect(port));
            wrapper.awaitStderr(l -> l.startsWith("Execing "), Program.START);
            Net.await("every server it started to exit", seconds(20),
                    () -> wrapper.process().descendants().noneMatch(ProcessHandle::isAlive), wrapper::describe);
        }
    }

    /**
     * Under systemd, stdout and stderr are journald's socket (StandardOutput=journal): a socket,
     * but not the client's. The logs must reach it; only the client's own socket silences them.
     * Here a TCP socket of the test's plays the journal.
     */
    @ParameterizedTest
    @EnumSource(Servers.class)
    void logsReachAStderrThatIsASocketOtherThanTheClients(Servers kind) throws IOException {
        assumeTrue(Net.onPath("systemd-socket-activate") && Net.onPath("bash"), "needs systemd-socket-activate (systemd) and bash");
        int port = Net.freePort();
        try (ServerSocket journal = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
             Program server = Program.of(kind.file).wrappedIn("systemd-socket-activate", "--inetd", "--listen=127.0.0.1:" + port,
                     "bash", "-c", "exec 2>/dev/tcp/127.0.0.1/" + journal.getLocalPort() + " 1>&2; exec \"$0\" \"$@\"").launch()) {
            server.awaitStderr(l -> l.startsWith("Listening on 127.0.0.1:" + port), Program.START);
            journal.setSoTimeout(Net.READ_TIMEOUT_MS);
            try (Socket first = Net.connect(port); Socket logs = journal.accept()) { // the first client starts the server
                logs.setSoTimeout(Net.READ_TIMEOUT_MS);
                String line;
                do line = Net.readLine(logs); while (line != null && !line.startsWith("listening on ")); // after "one ... thread per client"
                assertEquals("listening on 127.0.0.1:" + port, line, server.describe());
            }
        }
    }

    /**
     * systemd's native form passes the socket as fd 3 with LISTEN_FDS, which Java cannot take
     * over through public API. Each program says so in one line and exits 1, rather than bind
     * the default port and leave the client hanging.
     */
    @ParameterizedTest
    @EnumSource(Servers.class)
    void systemdsFd3IsRefusedWithOneLine(Servers kind) {
        assumeTrue(Net.onPath("systemd-socket-activate"), "needs systemd-socket-activate (systemd)");
        int port = Net.freePort();
        try (Program server = Program.of(kind.file).wrappedIn("systemd-socket-activate", "--listen=127.0.0.1:" + port).launch()) {
            server.awaitStderr(l -> l.startsWith("Listening on 127.0.0.1:" + port), Program.START);
            try (Socket client = Net.connect(port)) { // the first client starts the server
                assertEquals(1, server.exitCode(Program.START), server.describe());
            } catch (IOException e) {
                throw new AssertionError(e);
            }
            assertTrue(server.stderr().contains("error: systemd passed the socket as fd 3 (LISTEN_FDS), which Java cannot take over;"
                    + " use StandardInput=socket in the service, or systemd-socket-activate --inetd"), server.describe());
        }
    }

    /**
     * One inetd service: a program of the collection, over tcp or udp, wait or nowait, in the
     * form the README gives: compiled where a JVM starts per connection (nowait), the source
     * file where one JVM serves them all (wait).
     */
    record Service(String file, String protocol, boolean waits) {
        List<String> program() {
            return waits ? List.of(Program.root().resolve(file).toString()) : Program.compiled(file);
        }
    }

    /** xinetd running the given services on 127.0.0.1, each on a free port; stops them all on close. */
    static final class Inetd implements AutoCloseable {
        final Process process;
        final List<Integer> ports;
        final Path log;

        private Inetd(Process process, List<Integer> ports, Path log) {
            this.process = process;
            this.ports = ports;
            this.log = log;
        }

        static Inetd start(Path dir, Service... services) throws IOException {
            String xinetd = Net.onPath("xinetd") ? "xinetd" : "/usr/sbin/xinetd";
            assumeTrue(Net.isRoot() && (Net.onPath("xinetd") || Files.isExecutable(Path.of(xinetd))),
                    "needs root and xinetd");
            StringBuilder config = new StringBuilder("defaults\n{\n}\n");
            List<Integer> ports = new ArrayList<>();
            for (Service service : services) {
                int port = Net.freePort();
                ports.add(port);
                config.append("service s").append(port).append('-').append(service.protocol()).append("\n{\n")
                        .append("    type        = UNLISTED\n")
                        .append("    port        = ").append(port).append('\n')
                        // UDP: a dual-stack socket, as the README has it (JDK 25 cannot send from an IPv4 one it inherits)
                        .append(service.protocol().equals("tcp") ? "    bind        = 127.0.0.1\n" : "    flags       = IPv6\n")
                        .append("    protocol    = ").append(service.protocol()).append('\n')
                        .append("    socket_type = ").append(service.protocol().equals("tcp") ? "stream" : "dgram").append('\n')
                        .append("    wait        = ").append(service.waits() ? "yes" : "no").append('\n')
                        .append("    user        = root\n")
                        .append("    server      = ").append(Program.java()).append('\n')
                        .append("    server_args = ").append(String.join(" ", service.program())).append('\n')
                        .append("}\n");
            }
            Path conf = Files.writeString(dir.resolve("xinetd.conf"), config);
            Path log = dir.resolve("xinetd.log");
            Process process = new ProcessBuilder(xinetd, "-dontfork", "-f", conf.toString(), "-filelog", log.toString())
                    .redirectErrorStream(true).redirectOutput(dir.resolve("xinetd.out").toFile()).start();
            Inetd inetd = new Inetd(process, ports, log);
            try {
                String ready = "Started working: " + services.length + " available service";
                Net.await("xinetd to start", seconds(20), () -> inetd.logged().contains(ready), inetd::describe);
            } catch (RuntimeException | Error e) {
                inetd.close();
                throw e;
            }
            return inetd;
        }

        int port(int service) {
            return ports.get(service);
        }

        boolean serversGone() {
            return process.descendants().noneMatch(ProcessHandle::isAlive);
        }

        String logged() {
            try {
                return Files.exists(log) ? Files.readString(log) : "";
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        String describe() {
            return "xinetd log:\n" + logged();
        }

        @Override
        public void close() {
            process.descendants().forEach(ProcessHandle::destroyForcibly); // the servers it started
            process.destroyForcibly();
            try {
                process.waitFor(20, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
