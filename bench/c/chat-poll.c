/*
 * poll() chat room, the C yardstick for chat/Chat.java: the article's design
 * (one process, poll() over every client, blocking send() to each recipient)
 * with the collection's framing: one "user N: " prefix per line, however the
 * lines arrive, and lines longer than 4096 bytes sent in pieces. A recipient
 * that stops reading holds up everyone, as in the article.
 * Usage: chat-poll [PORT [MAX_ROOM_SIZE]]
 */
#include <poll.h>
#include "listen.h"

#define PIECE 4096

struct client { long number; size_t have; char line[PIECE]; };

static struct pollfd *fds;      /* fds[0] is the listener */
static struct client *clients;  /* clients[i] belongs to fds[i] */
static size_t count = 1, room;
static long next_number = 1;

/* To every client but `except` (-1: to all). */
static void broadcast(const char *buf, size_t len, int except) {
    for (size_t i = 1; i < count; i++)
        if (fds[i].fd >= 0 && fds[i].fd != except) write_all(fds[i].fd, buf, len);
}

static void join(int fd) {
    char text[64];
    if (count - 1 >= room) {
        write_all(fd, "room is full\n", 13);
        close(fd);
        return;
    }
    fds[count] = (struct pollfd) {.fd = fd, .events = POLLIN};
    clients[count] = (struct client) {.number = next_number++};
    int n = snprintf(text, sizeof text, "welcome, you are user %ld (%zu in the room)\n", clients[count].number, count);
    write_all(fd, text, (size_t) n);
    n = snprintf(text, sizeof text, "user %ld joined the chat room\n", clients[count].number);
    count++;
    broadcast(text, (size_t) n, fd);
}

/* Everything this read completed goes out as one buffer: one prefix per line. */
static void relay(size_t i, const char *in, size_t len) {
    static char out[2 * 65536];
    struct client *c = &clients[i];
    size_t used = 0;
    for (size_t k = 0; k < len; k++) {
        char b = in[k];
        if (b != '\n' && b != '\r') c->line[c->have++] = b;
        if (b == '\n' || c->have == PIECE) {
            if (used + c->have + 32 > sizeof out) {
                broadcast(out, used, fds[i].fd);
                used = 0;
            }
            used += (size_t) sprintf(out + used, "user %ld: ", c->number);
            memcpy(out + used, c->line, c->have);
            used += c->have;
            out[used++] = '\n';
            c->have = 0;
        }
    }
    if (used > 0) broadcast(out, used, fds[i].fd);
}

static void leave(size_t i) {
    char text[64];
    int n = snprintf(text, sizeof text, "user %ld disconnected\n", clients[i].number);
    close(fds[i].fd);
    fds[i].fd = -1; /* removed after this round, so the loop's indexes stay valid */
    broadcast(text, (size_t) n, -1);
}

int main(int argc, char **argv) {
    static char buf[65536];
    room = argc > 2 ? (size_t) atol(argv[2]) : 256;
    fds = calloc(room + 2, sizeof *fds);
    clients = calloc(room + 2, sizeof *clients);
    fds[0] = (struct pollfd) {.fd = listen_on(argc, argv), .events = POLLIN};
    for (;;) {
        if (poll(fds, count, -1) < 0) continue;
        size_t before = count;
        for (size_t i = 1; i < before; i++) {
            if (fds[i].fd < 0 || !fds[i].revents) continue;
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n > 0) relay(i, buf, (size_t) n);
            else if (n == 0 || errno != EINTR) leave(i);
        }
        if (fds[0].revents & POLLIN) {
            int fd = accept(fds[0].fd, NULL, NULL);
            if (fd >= 0) join(fd);
        }
        size_t kept = 1;
        for (size_t i = 1; i < count; i++) {
            if (fds[i].fd < 0) continue;
            fds[kept] = fds[i];
            clients[kept++] = clients[i];
        }
        count = kept;
    }
}
