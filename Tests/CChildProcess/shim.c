// posix_spawn_file_actions_addclosefrom_np needs _GNU_SOURCE, which must not leak into
// the Swift importer's view of the system headers; so it is defined here and wrapped.
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include "CChildProcess.h"

int directsmtp_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int lowest) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
#else
    (void)actions;
    (void)lowest;
    return ENOSYS;
#endif
}
