/*
 * Fork-per-client echo (RFC 862), the C original that echo/Echo.java mirrors:
 * one process per client, 64 KiB buffer. Usage: echo-fork [PORT]
 */
#include "listen.h"

static void serve(int client) {
    static char buf[65536];
    for (ssize_t n; (n = read(client, buf, sizeof buf)) != 0; ) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 || write_all(client, buf, (size_t) n) < 0) return;
    }
    shutdown(client, SHUT_WR); /* EOF: all was echoed, say so */
}

int main(int argc, char **argv) {
    int listener = listen_on(argc, argv);
    signal(SIGCHLD, SIG_IGN); /* children reap themselves */
    for (;;) {
        int client = accept(listener, NULL, NULL);
        if (client < 0) continue;
        if (fork() == 0) { /* the child owns the client; the parent only accepts */
            close(listener);
            serve(client);
            _exit(0);
        }
        close(client);
    }
}
