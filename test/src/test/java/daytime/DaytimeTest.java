package daytime;

import static harness.Net.seconds;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import harness.Net;
import harness.Program;
import java.io.IOException;
import java.lang.reflect.Field;
import java.net.DatagramSocket;
import java.net.URL;
import java.net.URLClassLoader;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DaytimeTest {
    static final Pattern CTIME_LINE = Pattern.compile(
            "^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 123][0-9] \\d\\d:\\d\\d:\\d\\d \\d{4}\r\n$");
    static final DateTimeFormatter CTIME = DateTimeFormatter.ofPattern("EEE MMM ppd HH:mm:ss uuuu", Locale.US);

    Program server;

    /** Fourteen hours ahead of UTC: a server that answered in UTC would be far off. */
    static final ZoneId FAR_FROM_UTC = ZoneId.of("Pacific/Kiritimati");

    @BeforeAll
    void start() {
        server = Program.of("daytime/Daytime.java").jvm("-Duser.timezone=" + FAR_FROM_UTC).start("0");
    }

    @AfterAll
    void stop() {
        server.close();
    }

    static String daytime(int port) {
        try (Socket s = Net.connect(port)) {
            return new String(Net.readAll(s), StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void repliesWithTheLocalTimeAsCtimeThenCrlf() {
        String reply = daytime(server.port());
        Instant now = Instant.now();
        assertTrue(CTIME_LINE.matcher(reply).matches(), "not a ctime() line: " + reply);
        Instant told = LocalDateTime.parse(reply.strip(), CTIME).atZone(FAR_FROM_UTC).toInstant();
        assertTrue(Duration.between(told, now).abs().compareTo(seconds(2)) <= 0, "told " + told + " at " + now);
    }

    /**
     * The server's own formatter (loaded from its class, as the tests compile it) at fixed
     * instants, in zones either side of UTC: the day of month space-padded as ctime() pads it,
     * the zone's own date (English names whatever the default locale: see the test below).
     * The process above can only be asked for now.
     */
    @Test
    void formatsFixedInstantsLikeCtime() throws Exception {
        String[][] cases = {
            {"2026-11-05T09:07:03Z", "UTC", "Thu Nov  5 09:07:03 2026"},
            {"2026-11-05T09:07:03Z", "Pacific/Kiritimati", "Thu Nov  5 23:07:03 2026"},
            {"2026-11-05T09:07:03Z", "Pacific/Niue", "Wed Nov  4 22:07:03 2026"},
            {"2026-01-01T00:00:00Z", "America/St_Johns", "Wed Dec 31 20:30:00 2025"},
            {"2028-02-29T23:59:59Z", "UTC", "Tue Feb 29 23:59:59 2028"},
            {"2027-07-10T12:00:00Z", "Asia/Kolkata", "Sat Jul 10 17:30:00 2027"},
        };
        try (URLClassLoader loader = new URLClassLoader(new URL[] {Path.of(Program.compiled("daytime/Daytime.java").get(1)).toUri().toURL()})) {
            Field field = loader.loadClass("Daytime").getDeclaredField("CTIME");
            field.setAccessible(true);
            DateTimeFormatter ctime = (DateTimeFormatter) field.get(null);
            for (String[] c : cases) {
                assertEquals(c[2], ctime.format(Instant.parse(c[0]).atZone(ZoneId.of(c[1]))), c[0] + " in " + c[1]);
            }
        }
    }

    @Test
    void answersAnyDatagramWithTheLine() throws IOException {
        try (DatagramSocket udp = Net.udp(0)) {
            for (byte[] datagram : List.of(new byte[0], "what time is it?\n".getBytes(StandardCharsets.US_ASCII), new byte[9000])) {
                Net.send(udp, server.port(), datagram);
                String reply = new String(Net.receive(udp), StandardCharsets.US_ASCII);
                assertTrue(CTIME_LINE.matcher(reply).matches(), "not a ctime() line: " + reply);
            }
        }
    }

    @Test
    void usesEnglishNamesWhateverTheDefaultLocale() {
        try (Program french = Program.of("daytime/Daytime.java").jvm("-Duser.language=fr", "-Duser.country=FR").start("0")) {
            String reply = daytime(french.port());
            assertTrue(CTIME_LINE.matcher(reply).matches(), "not an English ctime() line: " + reply);
        }
    }

    @Test
    void logsEachClientWithItsAddress() {
        try (Socket s = Net.connect(server.port())) {
            String peer = "127.0.0.1:" + s.getLocalPort();
            Net.readAll(s);
            server.awaitLog("connection from " + peer);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * Closing a socket with unread input sends a reset, which can destroy the reply on its way
     * (RFC 2525, 2.17). A client that keeps sending while it reads leaves input unread at every
     * close. The server half-closes first, so its FIN goes out before any reset: the client reads
     * the whole line, then a clean EOF, where a reset alone would end it with "Connection reset".
     * (Linux keeps what arrived before a reset readable, so the server's discard of the input it
     * has, which other stacks need, makes no difference a client here can see.)
     */
    @Test
    void aClientThatKeepsSendingGetsTheWholeLineThenEof() throws Exception {
        byte[] chunk = new byte[1024];
        for (int i = 0; i < 200; i++) {
            try (Socket s = Net.connect(server.port())) {
                Thread sender = new Thread(() -> {
                    try {
                        while (true) s.getOutputStream().write(chunk);
                    } catch (IOException e) {
                        // the server closed, as it should once it has answered
                    }
                });
                sender.start();
                String reply = new String(Net.readAll(s), StandardCharsets.US_ASCII); // a reset fails here
                assertTrue(CTIME_LINE.matcher(reply).matches(), "try " + i + ": got '" + reply + "'");
                s.close();
                sender.join();
            }
        }
    }

    @Test
    void clientsThatNeverReadDoNotHoldUpTheNext() throws IOException {
        List<Socket> idle = new ArrayList<>();
        try {
            for (int i = 0; i < 30; i++) idle.add(Net.connect(server.port())); // connect, then never read
            try (Socket next = Net.connect(server.port())) {
                next.setSoTimeout(5_000); // 30 idle clients must not cost the next one seconds
                String reply = new String(Net.readAll(next), StandardCharsets.US_ASCII);
                assertTrue(CTIME_LINE.matcher(reply).matches(), reply);
            }
        } finally {
            idle.forEach(Net::close);
        }
    }

    @Test
    void clientModePrintsTheServersLine() {
        Program client = Program.of("daytime/Daytime.java").run(Program.START, "--client", "127.0.0.1", "" + server.port());
        assertEquals(0, client.exitCode(seconds(1)), client.describe());
        assertEquals(1, client.stdout().size(), client.describe());
        assertTrue(CTIME_LINE.matcher(client.stdout().get(0) + "\r\n").matches(), client.describe());
    }

    @Test
    void clientModeAgainstAClosedPortSaysSoAndExits1() throws IOException {
        int closed = Net.freePort();
        Program client = Program.of("daytime/Daytime.java").run(Program.START, "--client", "127.0.0.1", "" + closed);
        assertEquals(1, client.exitCode(seconds(1)), client.describe());
        assertEquals(List.of(), client.stdout());
        assertEquals(List.of("error: cannot get the time from 127.0.0.1:" + closed + ": Connection refused"), client.stderr());
    }

    @Test
    void clientModeWithAnUnknownHostSaysSoAndExits1() {
        Program client = Program.of("daytime/Daytime.java").run(Program.START, "--client", "no.such.host.invalid");
        assertEquals(1, client.exitCode(seconds(1)), client.describe());
        assertEquals(List.of("error: cannot get the time from no.such.host.invalid:8013: unknown host"), client.stderr());
    }

    @Test
    void clientModeWithoutHostIsAUsageError() {
        Program client = Program.of("daytime/Daytime.java").run(Program.START, "--client");
        assertEquals(2, client.exitCode(seconds(1)), client.describe());
        assertEquals("error: --client needs HOST and an optional PORT", client.stderr().get(0));
    }

    @Test
    void portZeroReportsTheRealPort() {
        assertTrue(server.port() > 0);
        assertTrue(CTIME_LINE.matcher(daytime(server.port())).matches());
    }
}
