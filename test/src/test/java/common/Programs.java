package common;

import java.util.List;

/** The collection's servers, as their source files relative to the project root. */
public final class Programs {
    public static final List<String> ALL = List.of(
            "daytime/Daytime.java",
            "echo/Echo.java",
            "uppercase/Uppercase.java",
            "chat/Chat.java");

    private Programs() {
    }
}
