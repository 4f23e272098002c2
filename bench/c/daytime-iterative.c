/*
 * Iterative daytime (RFC 867), the C original that daytime/Daytime.java
 * mirrors: the accept loop itself answers each client, one at a time.
 * Usage: daytime-iterative [PORT]
 */
#include <time.h>
#include "listen.h"

int main(int argc, char **argv) {
    int listener = listen_on(argc, argv);
    for (;;) {
        int client = accept(listener, NULL, NULL);
        if (client < 0) continue;
        time_t now = time(NULL);
        char line[32];
        snprintf(line, sizeof line, "%.24s\r\n", ctime(&now));
        write_all(client, line, 26);
        close(client);
    }
}
