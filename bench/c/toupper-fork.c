/*
 * Fork-per-client upper-case server, ASCII only (toupper() in the C locale),
 * 64 KiB buffer: the C yardstick for uppercase/Uppercase.java on ASCII text.
 * Usage: toupper-fork [PORT]
 */
#include <ctype.h>
#include "listen.h"

static void serve(int client) {
    static char buf[65536];
    for (ssize_t n; (n = read(client, buf, sizeof buf)) != 0; ) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return;
        for (ssize_t i = 0; i < n; i++) buf[i] = (char) toupper((unsigned char) buf[i]);
        if (write_all(client, buf, (size_t) n) < 0) return;
    }
    shutdown(client, SHUT_WR);
}

int main(int argc, char **argv) {
    int listener = listen_on(argc, argv);
    signal(SIGCHLD, SIG_IGN);
    for (;;) {
        int client = accept(listener, NULL, NULL);
        if (client < 0) continue;
        if (fork() == 0) {
            close(listener);
            serve(client);
            _exit(0);
        }
        close(client);
    }
}
