// accept4 needs _GNU_SOURCE, which must not leak into the Swift importer's view of the
// system headers; so it is defined here and wrapped.
#define _GNU_SOURCE
#include <sys/socket.h>
#include "CSystemShims.h"

int directsmtp_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return accept4(fd, address, length, flags);
}
