#ifndef DIRECTSMTP_CCHILDPROCESS_H
#define DIRECTSMTP_CCHILDPROCESS_H

// For the tests' ChildProcess only (never linked into the library): the spawn call that
// Glibc's Swift overlay does not export.

#include <spawn.h>

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34 and later): the child closes
/// every descriptor from `lowest` up, whatever other threads opened without O_CLOEXEC.
/// Returns 0 or an error number (ENOSYS with an older glibc).
int directsmtp_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int lowest);

#endif
