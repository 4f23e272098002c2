package echo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import harness.Net;
import harness.Program;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Virtual threads must not pin: with a single carrier thread, every client is still served. */
class EchoVirtualThreadsTest {
    @Test
    void aThousandConcurrentClientsOnOneCarrierThreadAreAllServed() {
        assumeTrue(Runtime.version().feature() >= 21, "virtual threads need JDK 21; this is JDK " + Runtime.version().feature());
        try (Program server = Program.of("echo/Echo.java").jvm("-Djdk.virtualThreadScheduler.parallelism=1").start("0")) {
            server.awaitLog("one virtual thread per client");
            List<Socket> clients = new ArrayList<>();
            try {
                for (int i = 0; i < 1000; i++) clients.add(Net.connect(server.port()));
                // Every client is connected and its thread blocked in read() before any is served.
                for (int i = 0; i < clients.size(); i++) Net.write(clients.get(i), "client " + i + "\n");
                for (int i = 0; i < clients.size(); i++) {
                    String expected = "client " + i + "\n";
                    assertEquals(expected, new String(Net.readExactly(clients.get(i), expected.length())));
                }
            } finally {
                clients.forEach(Net::close);
            }
        }
    }
}
