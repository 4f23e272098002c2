package common;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import harness.Net;
import harness.Program;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

/** Every server of the collection, how to start it on a free port, and how to check that it serves a client. */
public enum Servers {
    DAYTIME("daytime/Daytime.java", "0"),
    ECHO("echo/Echo.java", "0"),
    UPPERCASE("uppercase/Uppercase.java", "0"),
    CHAT("chat/Chat.java", "0"),
    KEEPALIVE("keepalive/Keepalive.java", "--serve", "127.0.0.1", "0");

    public final String file;
    public final List<String> args;

    Servers(String file, String... args) {
        this.file = file;
        this.args = List.of(args);
    }

    public Program start(String... jvmOptions) {
        return Program.of(file).jvm(jvmOptions).start(args.toArray(String[]::new));
    }

    /** Args with the port replaced, to start again on the same port. */
    public String[] argsWithPort(int port) {
        return args.stream().map(a -> a.equals("0") ? Integer.toString(port) : a).toArray(String[]::new);
    }

    /** Connects a fresh client and checks that it gets a correct answer within {@code limit}. */
    public void assertServes(Program server, Duration limit) {
        assertServes(server, server.port(), limit);
    }

    /** The same, on a port the program did not print (one a socket-activation wrapper listens on). */
    public void assertServes(Program server, int port, Duration limit) {
        try (Socket s = Net.connect(port)) {
            s.setSoTimeout((int) limit.toMillis());
            switch (this) {
                case DAYTIME -> assertTrue(new String(Net.readAll(s), StandardCharsets.US_ASCII).endsWith("\r\n"));
                case ECHO, UPPERCASE -> {
                    Net.write(s, "ping\n");
                    s.shutdownOutput();
                    assertEquals(this == ECHO ? "ping\n" : "PING\n", new String(Net.readAll(s), StandardCharsets.US_ASCII));
                }
                case CHAT -> assertTrue(Net.readLine(s).startsWith("welcome, you are user "));
                case KEEPALIVE -> server.awaitStderr(l -> l.startsWith("connection from 127.0.0.1:" + s.getLocalPort() + ", keepalive"), limit);
            }
        } catch (IOException e) {
            throw new AssertionError(server.describe(), e);
        }
    }
}
