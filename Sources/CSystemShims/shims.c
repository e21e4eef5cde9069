// accept4 and posix_spawn_file_actions_addclosefrom_np need _GNU_SOURCE, which must not
// leak into the Swift importer's view of the system headers; so it is defined here and
// the calls are wrapped.
#define _GNU_SOURCE
#include <spawn.h>
#include <sys/socket.h>
#include "CSystemShims.h"

int directsmtp_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return accept4(fd, address, length, flags);
}

int directsmtp_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}
