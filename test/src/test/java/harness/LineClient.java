package harness;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/** A test client for line protocols: buffered reads, a read timeout, lines as UTF-8 text. */
public class LineClient implements AutoCloseable {
    public final Socket socket;
    private final InputStream in;

    public LineClient(Socket socket) {
        this.socket = socket;
        try {
            this.in = new BufferedInputStream(socket.getInputStream(), 64 * 1024);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public LineClient(int port) {
        this(Net.connect(port));
    }

    /** The next line without its '\n', or null at EOF. */
    public String readLine() {
        try {
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            for (int b; (b = in.read()) != -1; ) {
                if (b == '\n') return line.toString(StandardCharsets.UTF_8);
                line.write(b);
            }
            if (line.size() > 0) throw new AssertionError("EOF inside a line: " + line.toString(StandardCharsets.UTF_8));
            return null;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Reads lines until one equals {@code expected}; fails at EOF or on a read timeout. */
    public void skipUntil(String expected) {
        for (String line; (line = readLine()) != null; ) if (line.equals(expected)) return;
        throw new AssertionError("EOF before '" + expected + "'");
    }

    public void send(String text) {
        Net.write(socket, text);
    }

    public int localPort() {
        return socket.getLocalPort();
    }

    @Override
    public void close() {
        Net.close(socket);
    }
}
