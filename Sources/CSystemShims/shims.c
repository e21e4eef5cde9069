// accept4 needs _GNU_SOURCE, which must not leak into the Swift importer's view of the
// system headers; so it is defined here and wrapped.
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include "CSystemShims.h"

int directsmtp_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return accept4(fd, address, length, flags);
}

int directsmtp_epoll_wait_ns(int fd, struct epoll_event *events, int capacity, int64_t timeout_ns) {
    // epoll_pwait2 (Linux 5.11) takes the timeout in nanoseconds; without it (an older
    // kernel, or a seccomp filter that refuses it), epoll_wait and whole milliseconds.
    static atomic_int unsupported;
    if (timeout_ns > 0 && !atomic_load_explicit(&unsupported, memory_order_relaxed)) {
        struct timespec timeout = { timeout_ns / 1000000000, timeout_ns % 1000000000 };
        int count = epoll_pwait2(fd, events, capacity, &timeout, NULL);
        if (count >= 0 || (errno != ENOSYS && errno != EPERM)) return count;
        atomic_store_explicit(&unsupported, 1, memory_order_relaxed);
    }
    int milliseconds = -1;
    if (timeout_ns >= 0) {
        int64_t rounded = (timeout_ns + 999999) / 1000000;  // up: never wake before a deadline
        milliseconds = rounded > INT_MAX ? INT_MAX : (int)rounded;
    }
    return epoll_wait(fd, events, capacity, milliseconds);
}
