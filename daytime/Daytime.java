/*
 * Daytime: tells each client the time of day, then hangs up (RFC 867).
 *
 * The Java form of the classic iterative daytime server and its client (the
 * POSIX socket examples, and daytimetcpsrv in Unix Network Programming).
 * Iterative: the accept loop serves each client itself, one at a time, with no
 * threads. That is simple and cheap, and it costs concurrency: a slow client
 * would delay the next, so serving one must never wait on the client.
 *
 * Try it:  java daytime/Daytime.java          (listens on port 8013)
 *          nc localhost 8013                  (or: java daytime/Daytime.java --client localhost)
 */
import java.io.IOException;
import java.io.InputStream;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

public class Daytime {
    static final int DEFAULT_PORT = 8013; // the well-known port 13 needs root
    static final String USAGE = """
            usage: java daytime/Daytime.java [PORT]
                   java daytime/Daytime.java --client HOST [PORT]
            The daytime service (RFC 867): each client gets one line with the time, then EOF.
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
            serve(listen(args.length == 1 ? port(args[0]) : DEFAULT_PORT));
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
        byte[] line = (CTIME.format(ZonedDateTime.now()) + "\r\n").getBytes(StandardCharsets.US_ASCII);
        try {
            client.getOutputStream().write(line);                    // write(): 26 bytes always fit the send buffer
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
            server.bind(new InetSocketAddress(port), 128);           // bind(INADDR_ANY) + listen()
        } catch (BindException e) {
            String why = e.getMessage() == null ? "" : e.getMessage();
            if (why.contains("in use")) fail("error: port " + port + " is already in use");
            if (why.contains("denied")) fail("error: port " + port + " needs root; try the default port " + DEFAULT_PORT);
            fail("error: cannot listen on port " + port + ": " + why);
        }
        System.out.println("listening on " + address(server.getLocalSocketAddress()));
        return server;
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

    /** 127.0.0.1:51334 or [::1]:51334, as ss and nc print them. */
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
