package common;

import java.util.List;

/** The collection's servers: source file, and the arguments that come before PORT. */
public final class Programs {
    public record Server(String file, List<String> beforePort) {
        @Override
        public String toString() {
            return file;
        }
    }

    public static final List<Server> ALL = List.of(
            new Server("daytime/Daytime.java", List.of()),
            new Server("echo/Echo.java", List.of()),
            new Server("uppercase/Uppercase.java", List.of()),
            new Server("chat/Chat.java", List.of()),
            new Server("keepalive/Keepalive.java", List.of("127.0.0.1")));

    private Programs() {
    }
}
