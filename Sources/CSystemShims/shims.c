// accept4 needs _GNU_SOURCE, which must not leak into the Swift importer's view of the
// system headers; so it is defined here and wrapped.
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "CSystemShims.h"

// epoll_pwait2 is called by its number: glibc declares it only from 2.35 on, and the
// library must build against older ones, whose kernels may well have the call. Since
// Linux 5.1 a new call has the same number on every architecture but alpha.
#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

int directsmtp_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return accept4(fd, address, length, flags);
}

int directsmtp_epoll_wait_ns(int fd, struct epoll_event *events, int capacity, int64_t timeout_ns) {
    // epoll_pwait2 (Linux 5.11) takes the timeout in nanoseconds; without it (an older
    // kernel, or a seccomp filter that refuses it), epoll_wait and whole milliseconds.
    static atomic_int unsupported;
    if (timeout_ns > 0 && !atomic_load_explicit(&unsupported, memory_order_relaxed)) {
        // The kernel's timespec: 64-bit seconds and nanoseconds on every architecture.
        struct { int64_t seconds, nanoseconds; } timeout = { timeout_ns / 1000000000, timeout_ns % 1000000000 };
        long count = syscall(SYS_epoll_pwait2, fd, events, capacity, &timeout, NULL, (size_t)(_NSIG / 8));
        if (count >= 0 || (errno != ENOSYS && errno != EPERM)) return (int)count;
        atomic_store_explicit(&unsupported, 1, memory_order_relaxed);
    }
    int milliseconds = -1;
    if (timeout_ns >= 0) {
        int64_t rounded = (timeout_ns + 999999) / 1000000;  // up: never wake before a deadline
        milliseconds = rounded > INT_MAX ? INT_MAX : (int)rounded;
    }
    return epoll_wait(fd, events, capacity, milliseconds);
}

int64_t directsmtp_heap_in_use_bytes(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 info = mallinfo2();
    return (int64_t)(info.uordblks + info.hblkhd);
#elif defined(__GLIBC__)
    // Before glibc 2.33 only mallinfo, whose int fields (read as unsigned) wrap past 4 GiB.
    struct mallinfo info = mallinfo();
    return (int64_t)(unsigned)info.uordblks + (int64_t)(unsigned)info.hblkhd;
#else
    return -1;
#endif
}
