#ifndef DIRECTSMTP_CSYSTEMSHIMS_H
#define DIRECTSMTP_CSYSTEMSHIMS_H

// What Glibc's Swift overlay does not export: epoll and eventfd. Kept to declarations and
// tiny inline accessors so the Swift side never touches the packed epoll_event layout.

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <stdint.h>
#include <sys/socket.h>
// malloc_trim, for the soaks' memory readings (DirectSMTPTesting).
#include <malloc.h>

/// accept4(2), which glibc declares only under _GNU_SOURCE (defined in shims.c).
int directsmtp_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);

/// epoll_wait(2) with a timeout in nanoseconds (epoll_pwait2 where the kernel has it, else
/// rounded up to milliseconds); a negative timeout waits for ever, zero polls.
int directsmtp_epoll_wait_ns(int fd, struct epoll_event *events, int capacity, int64_t timeout_ns);

/// Bytes the C allocator has handed out and not had back: every arena's in-use chunks plus
/// its mmapped blocks (glibc's mallinfo2, or mallinfo before glibc 2.33); -1 where unknown.
int64_t directsmtp_heap_in_use_bytes(void);

static inline struct epoll_event directsmtp_epoll_event_make(uint32_t events, uint64_t data) {
    struct epoll_event event;
    event.events = events;
    event.data.u64 = data;
    return event;
}

static inline uint32_t directsmtp_epoll_event_events(const struct epoll_event *event) {
    return event->events;
}

static inline uint64_t directsmtp_epoll_event_data(const struct epoll_event *event) {
    return event->data.u64;
}

#endif
