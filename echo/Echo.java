/*
 * Echo: sends every byte each client sends straight back to it (RFC 862).
 *
 * The Java form of the classic fork-per-client echo server (the POSIX socket
 * examples, and tcpserv01 in Unix Network Programming), where fork() becomes a
 * thread. Concurrent: the accept loop only accepts and hands each client to a
 * thread of its own, which owns the socket and closes it. On JDK 21 and newer
 * that is a virtual thread, so an idle client costs a few kilobytes; on JDK 17
 * a platform thread, which costs a stack. UDP datagrams to the same port
 * number are echoed too, by one thread of their own.
 *
 * Started by inetd or systemd with the socket open (socket activation), it
 * serves that socket instead: a listener as above, or one client, then exits.
 *
 * Try it:  java echo/Echo.java          (listens on port 15000)
 *          nc localhost 15000           (UDP: nc -u localhost 15000)
 */
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.Channel;
import java.nio.channels.DatagramChannel;
import java.nio.channels.NetworkChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ThreadFactory;

public class Echo {
    static final int DEFAULT_PORT = 15000;
    static final String USAGE = """
            usage: java echo/Echo.java [PORT]
            The echo service (RFC 862): each byte a TCP client sends, and each UDP datagram, comes back unchanged.
              PORT  port to listen on (default 15000; 0 picks a free one)
            example: java echo/Echo.java 15000 & nc localhost 15000""";

    // An idle client holds only a small buffer; one that fills it is sending in bulk
    // and gets a large direct one (no copy through the Java heap) for loopback speed.
    static final int SMALL_BUFFER = 1024, LARGE_BUFFER = 128 * 1024;

    public static void main(String[] args) throws IOException {
        if (args.length > 0 && (args[0].equals("-h") || args[0].equals("--help"))) {
            System.out.println(USAGE);
            return;
        }
        if (args.length > 1) usageError("unexpected argument '" + args[1] + "'");
        int port = args.length == 1 ? port(args[0]) : DEFAULT_PORT;
        Channel inherited = inheritedChannel();
        if (inherited instanceof SocketChannel client) {                 // inetd nowait, systemd Accept=yes:
            serve(client);                                               // one client, then exit
            return;
        }
        if (inherited instanceof DatagramChannel udp) {                  // inetd dgram wait
            answer(udp);
            return;
        }
        ServerSocketChannel server = inherited instanceof ServerSocketChannel listener
                ? listener                                               // inetd wait, systemd Accept=no
                : listenTcpAndUdp(port);
        System.out.println("listening on " + address(server.getLocalAddress()));
        try (server) {
            ThreadFactory threads = clientThreads();
            long lastError = 0;
            while (true) {
                try {
                    SocketChannel client = server.accept();              // accept()
                    threads.newThread(() -> serve(client)).start();      // one thread per client: the fork()
                    // The client's thread owns the socket now; this loop never touches it again.
                } catch (IOException e) {
                    if (!server.isOpen()) return;
                    if (System.nanoTime() - lastError > 1_000_000_000L) { // e.g. out of file descriptors:
                        log("accept failed: " + e.getMessage() + " (retrying)"); // log at most once a second,
                        lastError = System.nanoTime();
                    }
                    pause(100);                                          // and back off instead of spinning
                }
            }
        }
    }

    /** Echoes until the client's EOF, sends what is still owed, then closes. */
    static void serve(SocketChannel client) {
        String peer = address(client.socket().getRemoteSocketAddress());
        log("connection from " + peer);
        long total = 0;
        try (client) {                                                   // close() when done, whatever happens
            ByteBuffer buffer = ByteBuffer.allocate(SMALL_BUFFER);
            for (int n; (n = client.read(buffer)) != -1; total += n) {   // read() until EOF
                buffer.flip();
                while (buffer.hasRemaining()) client.write(buffer);      // write() until all n bytes are sent
                if (n == buffer.capacity() && n < LARGE_BUFFER) buffer = ByteBuffer.allocateDirect(LARGE_BUFFER);
                buffer.clear();
            }
            client.shutdownOutput();                                     // shutdown(SHUT_WR): EOF for the client too
            log(peer + " closed (" + total + " bytes)");
        } catch (IOException e) {
            log(peer + " " + e.getMessage() + " (" + total + " bytes)"); // a reset ends this client only
        }
    }

    /** TCP and UDP on the same port number, as inetd has them; UDP has a thread of its own. */
    static ServerSocketChannel listenTcpAndUdp(int port) throws IOException {
        for (int tries = 1; ; tries++) {
            ServerSocketChannel server = listen(port);
            int bound = server.socket().getLocalPort();
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

    /** RFC 862 over UDP: each datagram goes back to its sender unchanged. */
    static void answer(DatagramChannel udp) {
        ByteBuffer datagram = ByteBuffer.allocateDirect(65536);         // room for the largest datagram
        long lastLog = 0;
        while (udp.isOpen()) {
            String trouble;
            try {
                var sender = (InetSocketAddress) udp.receive(datagram.clear()); // recvfrom()
                if (sender.getPort() >= 1024) {
                    udp.send(datagram.flip(), sender);                   // sendto()
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

    /** Virtual threads where the JDK has them (21+), platform threads otherwise (17). */
    static ThreadFactory clientThreads() {
        try { // Thread.ofVirtual().factory(), looked up at run time so that this file still runs on JDK 17
            Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
            ThreadFactory virtual = (ThreadFactory) Class.forName("java.lang.Thread$Builder").getMethod("factory").invoke(builder);
            log("one virtual thread per client");
            return virtual;
        } catch (ReflectiveOperationException e) {
            log("one platform thread per client (virtual threads need JDK 21)");
            return Thread::new;
        }
    }

    // ---- the same in every server of this collection ----

    static ServerSocketChannel listen(int port) throws IOException {
        ServerSocketChannel server = ServerSocketChannel.open();     // socket()
        server.setOption(StandardSocketOptions.SO_REUSEADDR, true);  // setsockopt(SO_REUSEADDR)
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
