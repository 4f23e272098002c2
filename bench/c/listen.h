/*
 * What the C reference servers share: listen on the wildcard address and say
 * so on stdout with the same ready line as the Java servers, so that Bench
 * starts and finds them the same way. Bench builds them with gcc; they are
 * references to measure against, not part of the collection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listen_on(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0, one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *) &addr, sizeof addr) < 0 || listen(fd, 4096) < 0) {
        perror("listen");
        exit(1);
    }
    getsockname(fd, (struct sockaddr *) &addr, &len);
    printf("listening on 0.0.0.0:%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error return, not a signal */
    return fd;
}

/* write() until all of it is gone, as the articles' writen() does. */
static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        buf += n;
        len -= (size_t) n;
    }
    return 0;
}
