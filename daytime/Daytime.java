/*
 * Daytime: tells each client the time of day, then hangs up (RFC 867).
 *
 * The Java form of the classic iterative daytime server and its client (the
 * POSIX socket examples, and daytimetcpsrv in Unix Network Programming).
 * Iterative: the accept loop serves each client itself, one at a time, with no
 * threads. That is simple and cheap, and it costs concurrency: a slow client
 * would delay the next, so serving one must never wait on the client. UDP
 * datagrams to the same port number are answered too, by a second thread.
 *
 * Started by inetd or systemd with the socket open (socket activation), it
 * serves that socket instead: a listener as above, or one client, then exits.
 *
 * Try it:  java daytime/Daytime.java          (listens on port 8013)
 *          nc localhost 8013                  (or: java daytime/Daytime.java --client localhost)
 *          echo | nc -u -w1 localhost 8013    (UDP)
 */
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channel;
import java.nio.channels.DatagramChannel;
import java.nio.channels.NetworkChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

public class Daytime {
    static final int DEFAULT_PORT = 8013; // the well-known port 13 needs root
    static final String USAGE = """
            usage: java daytime/Daytime.java [PORT]
                   java daytime/Daytime.java --client HOST [PORT]
            The daytime service (RFC 867): one line with the time for each TCP client (then EOF) and each UDP datagram.
              PORT           port to listen on or connect to (default 8013; 0 picks a free one)
              --client HOST  connect to HOST and print what its server sends
            example: java daytime/Daytime.java 8013 & java daytime/Daytime.java --client localhost""";

    /** C's ctime() without its newline: "Thu Sep 11 12:44:00 2003", English whatever the locale. */
    static final DateTimeFormatter CTIME = DateTimeFormatter.ofPattern("EEE MMM ppd HH:mm:ss uuuu", Locale.US);

    public static void main(String[] args) throws IOException {
        if (args.length > 0 && (args[0].equals("-h") || args[0].equals("--help"))) {
            System.out.println(USAGE);
            return;
        }
        if (args.length > 0 && args[0].equals("--client")) {
            if (args.length < 2 || args.length > 3) usageError("--client needs HOST and an optional PORT");
            client(args[1], args.length == 3 ? port(args[2]) : DEFAULT_PORT);
        } else {
            if (args.length > 1) usageError("unexpected argument '" + args[1] + "'");
            int port = args.length == 1 ? port(args[0]) : DEFAULT_PORT;
            Channel inherited = inheritedChannel();
            if (inherited instanceof SocketChannel client) {         // inetd nowait, systemd Accept=yes:
                try (Socket socket = client.socket()) {              // one client, then exit
                    reply(socket);
                }
            } else if (inherited instanceof DatagramChannel udp) {   // inetd dgram wait
                answer(udp);
            } else {
                ServerSocket server = inherited instanceof ServerSocketChannel listener
                        ? listener.socket()                          // inetd wait, systemd Accept=no
                        : listenTcpAndUdp(port);
                System.out.println("listening on " + address(server.getLocalSocketAddress()));
                serve(server);
            }
        }
    }

    static void serve(ServerSocket server) throws IOException {
        long lastError = 0;
        while (true) {
            try (Socket client = server.accept()) {                  // accept()
                reply(client);                                       // one client at a time
            } catch (IOException e) {
                if (server.isClosed()) return;
                if (System.nanoTime() - lastError > 1_000_000_000L) { // e.g. out of file descriptors:
                    log("accept failed: " + e.getMessage() + " (retrying)"); // log at most once a second,
                    lastError = System.nanoTime();
                }
                pause(100);                                          // and back off instead of spinning
            }
        }
    }

    /** Writes the time, then closes so that the client surely receives it. */
    static void reply(Socket client) throws IOException {
        String peer = address(client.getRemoteSocketAddress());
        try {
            client.getOutputStream().write(now());                    // write(): 26 bytes always fit the send buffer
            client.shutdownOutput();                                 // shutdown(SHUT_WR): FIN after the line
            // Closing with unread input sends RST, which can destroy the line on its way
            // (RFC 2525, 2.17). So discard what the client has sent, without ever waiting.
            InputStream in = client.getInputStream();
            in.skipNBytes(Math.min(in.available(), 1 << 20));      // ioctl(FIONREAD) + read()
            log("connection from " + peer);
        } catch (IOException e) {
            log(peer + " " + e.getMessage());                        // that client's problem only
        }
    }                                                                // close() by try-with-resources

    /** The reply: C's ctime() and CRLF, 26 bytes in ASCII. */
    static byte[] now() {
        return (CTIME.format(ZonedDateTime.now()) + "\r\n").getBytes(StandardCharsets.US_ASCII);
    }

    /** TCP and UDP on the same port number, as inetd has them; UDP has a thread of its own. */
    static ServerSocket listenTcpAndUdp(int port) throws IOException {
        for (int tries = 1; ; tries++) {
            ServerSocket server = listen(port);
            int bound = server.getLocalPort();
            DatagramChannel udp = DatagramChannel.open();                // socket(SOCK_DGRAM)
            try {
                udp.bind(new InetSocketAddress(bound));                  // bind(INADDR_ANY), the same number
            } catch (BindException e) {
                udp.close();
                server.close();
                if (port != 0 || tries == 10) fail("error: UDP port " + bound + " is already in use");
                continue;                                                // port 0: TCP's pick is taken for UDP
            }
            Thread answering = new Thread(() -> answer(udp), "udp");
            answering.setDaemon(true);                                   // ends with the process
            answering.start();
            return server;
        }
    }

    /** RFC 867 over UDP: any datagram is answered with the time. */
    static void answer(DatagramChannel udp) {
        ByteBuffer datagram = ByteBuffer.allocate(512);                  // what it says does not matter
        long lastLog = 0;
        while (udp.isOpen()) {
            String trouble;
            try {
                var sender = (InetSocketAddress) udp.receive(datagram.clear()); // recvfrom()
                if (sender.getPort() >= 1024) {
                    udp.send(ByteBuffer.wrap(now()), sender);            // sendto()
                    continue;
                }
                // A port below 1024 is another service's (echo, chargen...): an answer could start
                // an endless loop between the two, or reflect an attack (CERT CA-1996-01).
                trouble = "ignored a datagram from " + address(sender) + ": source port below 1024";
            } catch (IOException e) {
                trouble = "UDP: " + e.getMessage();                      // that datagram is lost, no other
            }
            if (System.nanoTime() - lastLog > 1_000_000_000L) {          // log at most once a second
                log(trouble);
                lastLog = System.nanoTime();
            }
        }
    }

    static void client(String host, int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), 10_000); // socket() + connect()
            socket.setSoTimeout(10_000);
            socket.getInputStream().transferTo(System.out);          // read() until EOF, write() to stdout
            System.out.flush();
        } catch (IOException e) {
            System.err.println("error: cannot get the time from " + host + ":" + port + ": " + e.getMessage());
            System.exit(1);
        }
    }

    // ---- the same in every server of this collection ----

    static ServerSocket listen(int port) throws IOException {
        ServerSocket server = new ServerSocket();                    // socket()
        server.setReuseAddress(true);                                // setsockopt(SO_REUSEADDR)
        try {
            // A long accept queue (the kernel caps it at somaxconn): a burst of connects
            // waits there for accept() instead of losing its SYNs to a full queue.
            server.bind(new InetSocketAddress(port), 4096);          // bind(INADDR_ANY) + listen()
        } catch (BindException e) {
            String why = e.getMessage() == null ? "" : e.getMessage();
            if (why.contains("in use")) fail("error: port " + port + " is already in use");
            if (why.contains("denied")) fail("error: port " + port + " needs root; try the default port " + DEFAULT_PORT);
            fail("error: cannot listen on port " + port + ": " + why);
        }
        return server;
    }

    /**
     * The socket inetd or systemd handed over as stdin (socket activation), or null.
     * Then stdout may be that socket, so the ready line and logs go to stderr, and
     * nowhere if stderr is a socket too (inetd passes the client as 0, 1 and 2).
     */
    static Channel inheritedChannel() throws IOException {
        Channel inherited = System.inheritedChannel();
        if (inherited == null) return null;
        boolean quiet = true;                                        // where /proc cannot tell, to be safe
        try {
            quiet = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString().startsWith("socket:");
        } catch (IOException | UnsupportedOperationException e) {
            // not Linux: stay quiet
        }
        PrintStream logs = quiet ? new PrintStream(OutputStream.nullOutputStream()) : System.err;
        System.setOut(logs);
        System.setErr(logs);
        if (!(((NetworkChannel) inherited).getLocalAddress() instanceof InetSocketAddress)) {
            fail("error: the socket on stdin is not a TCP or UDP socket");
        }
        return inherited;
    }

    static int port(String arg) {
        if (arg.matches("-+[A-Za-z].*")) usageError("unknown option '" + arg + "'");
        try {
            int port = Integer.parseInt(arg);
            if (port >= 0 && port <= 65535) return port;
        } catch (NumberFormatException e) {
            // not a number: reported below like a number out of range
        }
        usageError("bad port '" + arg + "' (want 0 to 65535)");
        return -1;
    }

    /** 127.0.0.1:51334, or [0:0:0:0:0:0:0:1]:51334 for IPv6: the address in brackets, as ss and nc have it. */
    static String address(SocketAddress socketAddress) {
        var a = (InetSocketAddress) socketAddress;
        String host = a.getAddress().isAnyLocalAddress() ? "0.0.0.0" : a.getAddress().getHostAddress();
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
    }

    static void log(String message) { System.err.println(message); }

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
