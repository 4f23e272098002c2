package echo;

import static harness.Net.seconds;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import harness.Bulk;
import harness.Net;
import harness.Program;
import java.io.IOException;
import java.io.OutputStream;
import java.net.DatagramSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class EchoTest {
    static final int MB = 1024 * 1024;
    Program server;

    @BeforeAll
    void start() {
        server = Program.of("echo/Echo.java").start("0");
    }

    @AfterAll
    void stop() {
        server.close();
    }

    @Test
    void echoesTenMegabytesOfRandomBytesUnchangedThenEof() throws IOException {
        try (Socket s = Net.connect(server.port())) {
            Bulk.Result r = Bulk.roundTrip(s, 10 * MB, 1);
            assertEquals(r.sent(), r.received());
            assertEquals(r.sentSha256(), r.receivedSha256());
        }
    }

    @Test
    void udpDatagramsOfEverySizeComeBackUnchanged() throws IOException {
        SplittableRandom random = new SplittableRandom(9);
        List<Integer> sizes = new ArrayList<>(List.of(0, 1, 1472, 1473, 65_507)); // 65,507: the most UDP carries over IPv4
        for (int i = 0; i < 200; i++) sizes.add(1 + random.nextInt(65_507));
        for (int size : sizes) {
            try (DatagramSocket udp = Net.udp(0)) { // a socket for each: a source is answered a few times a second
                byte[] payload = new byte[size];
                random.nextBytes(payload);
                Net.send(udp, server.port(), payload);
                assertArrayEquals(payload, Net.receive(udp), "a datagram of " + size + " bytes");
            }
        }
    }

    @Test
    void finishesSendingAHundredMegabytesAfterTheClientHalfCloses() throws IOException {
        try (Socket s = Net.connect(server.port())) {
            Bulk.Result r = Bulk.roundTrip(s, 100 * MB, 2);
            assertTrue(r.identical(), r.toString());
        }
    }

    @Test
    void smallMessagesComeBackAtOnce() throws IOException {
        try (Socket s = Net.connect(server.port())) {
            for (String line : List.of("hello\n", "ping\r\n", "x")) {
                Net.write(s, line);
                assertEquals(line, new String(Net.readExactly(s, line.length())));
            }
        }
    }

    @Test
    void servesAHundredConcurrentClientsEachWithItsOwnData() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(100);
        try {
            List<Future<Bulk.Result>> results = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                long seed = 1000 + i;
                results.add(pool.submit(() -> {
                    try (Socket s = Net.connect(server.port())) {
                        return Bulk.roundTrip(s, MB, seed);
                    }
                }));
            }
            for (Future<Bulk.Result> r : results) assertTrue(r.get().identical(), r.get().toString());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void slowReaderWithATinyWindowGetsEveryByte() throws Exception {
        try (Socket s = new Socket()) {
            s.setReceiveBufferSize(4096);
            s.connect(new java.net.InetSocketAddress("127.0.0.1", server.port()));
            s.setSoTimeout(Net.READ_TIMEOUT_MS);
            byte[] data = new byte[10 * MB];
            new java.util.Random(3).nextBytes(data);
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                Net.write(s, data);
                try {
                    s.shutdownOutput();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            Thread.sleep(2000); // the scenario: a reader that pauses while the server has much to send
            assertArrayEquals(data, Net.readAll(s));
            writer.join();
        }
    }

    @Test
    void aResetClosesOnlyThatConnection() throws Exception {
        try (Socket other = Net.connect(server.port())) {
            Socket victim = Net.connect(server.port());
            int victimPort = victim.getLocalPort();
            Net.write(victim, new byte[MB]);
            Net.readExactly(victim, 1000); // the transfer is under way
            Net.reset(victim);
            server.awaitLog("127.0.0.1:" + victimPort + " Connection reset");

            assertTrue(Bulk.roundTrip(other, 10 * MB, 4).identical());
        }
    }

    @Test
    void aClientThatNeverReadsDoesNotStopOthers() throws Exception {
        try (Socket hog = Net.connect(server.port())) {
            CompletableFuture<Void> flood = CompletableFuture.runAsync(() -> {
                try {
                    OutputStream out = hog.getOutputStream();
                    byte[] chunk = new byte[MB];
                    for (int i = 0; i < 50; i++) out.write(chunk); // blocks once the buffers are full
                } catch (IOException e) {
                    // ends when the test closes the socket
                }
            });
            try (Socket other = Net.connect(server.port())) {
                assertTrue(Bulk.roundTrip(other, 10 * MB, 5).identical());
            }
            hog.close();
            flood.join();
        }
    }

    @Test
    void startupLogNamesTheThreadKind() {
        String expected = Runtime.version().feature() >= 21
                ? "one virtual thread per client"
                : "one platform thread per client (virtual threads need JDK 21)";
        assertTrue(server.stderr().contains(expected), server.describe());
    }

    @Test
    void threadsAndSocketsAreReleasedWhenClientsLeave() throws Exception {
        holdClients(50); // warm up: thread pools, JIT, carrier threads reach their idle size
        List<String> threads = Net.programThreads(server.pid());
        long files = Net.openFiles(server.pid());
        holdClients(50);
        Net.await("threads back to " + threads, seconds(20), () -> Net.programThreads(server.pid()).size() <= threads.size(),
                () -> "threads now " + Net.programThreads(server.pid()));
        Net.await("open files back to " + files, seconds(20), () -> Net.openFiles(server.pid()) <= files);
    }

    /** Connects n clients at once, checks each is echoed, then closes them all and waits for the server's logs. */
    void holdClients(int n) {
        List<Socket> clients = new ArrayList<>();
        for (int i = 0; i < n; i++) clients.add(Net.connect(server.port()));
        for (Socket s : clients) Net.write(s, "hi");
        for (Socket s : clients) assertEquals("hi", new String(Net.readExactly(s, 2)));
        for (Socket s : clients) {
            int port = s.getLocalPort();
            Net.close(s);
            server.awaitLog("127.0.0.1:" + port + " closed (2 bytes)");
        }
    }

    @Test
    void idleClientsCostNoCpu() throws Exception {
        List<Socket> idle = new ArrayList<>();
        try {
            for (int i = 0; i < 100; i++) idle.add(Net.connect(server.port()));
            for (Socket s : idle) Net.write(s, "x");
            for (Socket s : idle) Net.readExactly(s, 1);
            var before = Net.cpuTime(server.pid());
            Thread.sleep(3000); // the measurement window
            var used = Net.cpuTime(server.pid()).minus(before);
            // A server that spins uses all of a core (3 s); an idle one next to nothing.
            assertTrue(used.toMillis() < 900, "100 idle clients used " + used + " of CPU in 3 s");
        } finally {
            idle.forEach(Net::close);
        }
    }
}
