package harness;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.function.UnaryOperator;

/**
 * Bulk transfers for tests: one thread writes {@code size} pseudo-random bytes
 * (from a seed, so no test holds them all in memory) and half-closes, while the
 * caller reads to EOF. Both sides are hashed, so a test compares digests.
 */
public final class Bulk {
    private Bulk() {
    }

    /** What went out and what came back. */
    public record Result(long sent, String sentSha256, long received, String receivedSha256) {
        public boolean identical() {
            return sent == received && sentSha256.equals(receivedSha256);
        }
    }

    /** Random bytes, 0 to 255. */
    public static Result roundTrip(Socket socket, long size, long seed) {
        return roundTrip(socket, size, seed, chunk -> chunk, UnaryOperator.identity());
    }

    /**
     * Sends {@code size} bytes made by {@code shape} from random bytes, half-closes,
     * and reads to EOF. The sent digest is of {@code expect} applied to each chunk
     * (for a server that transforms, e.g. upper-cases), so equal digests mean the
     * server answered exactly {@code expect(sent)}.
     */
    public static Result roundTrip(Socket socket, long size, long seed,
                                   UnaryOperator<byte[]> shape, UnaryOperator<byte[]> expect) {
        CompletableFuture<String> sent = CompletableFuture.supplyAsync(() -> send(socket, size, seed, shape, expect), Bulk::daemon);
        MessageDigest received = sha256();
        long count = receive(socket, received);
        return new Result(size, sent.join(), count, HexFormat.of().formatHex(received.digest()));
    }

    /**
     * Sends {@code request} from another thread and half-closes, while the caller reads to EOF;
     * the result is identical when the answer was exactly {@code expected}.
     */
    public static Result roundTrip(Socket socket, byte[] request, byte[] expected) {
        CompletableFuture<String> sent = CompletableFuture.supplyAsync(() -> {
            try {
                socket.getOutputStream().write(request);
                socket.shutdownOutput();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return HexFormat.of().formatHex(sha256().digest(expected));
        }, Bulk::daemon);
        MessageDigest received = sha256();
        long count = receive(socket, received);
        return new Result(expected.length, sent.join(), count, HexFormat.of().formatHex(received.digest()));
    }

    /** Reads to EOF, hashing what arrives; returns how many bytes came. */
    static long receive(Socket socket, MessageDigest digest) {
        long count = 0;
        try {
            InputStream in = socket.getInputStream();
            byte[] buffer = new byte[64 * 1024];
            for (int n; (n = in.read(buffer)) != -1; count += n) digest.update(buffer, 0, n);
        } catch (IOException e) {
            throw new UncheckedIOException("after " + count + " bytes received", e);
        }
        return count;
    }

    static void daemon(Runnable task) {
        Thread t = new Thread(task, "bulk writer");
        t.setDaemon(true);
        t.start();
    }

    private static String send(Socket socket, long size, long seed, UnaryOperator<byte[]> shape, UnaryOperator<byte[]> expect) {
        SplittableRandom random = new SplittableRandom(seed);
        MessageDigest digest = sha256();
        try {
            OutputStream out = socket.getOutputStream();
            for (long left = size; left > 0; ) {
                // Chunks of varying size, so that writes do not line up with the server's reads.
                byte[] chunk = new byte[(int) Math.min(left, 1 + random.nextInt(64 * 1024))];
                random.nextBytes(chunk);
                chunk = shape.apply(chunk);
                out.write(chunk);
                digest.update(expect.apply(chunk));
                left -= chunk.length;
            }
            socket.shutdownOutput();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
