/* SPDX-License-Identifier: Apache-2.0 */
/* The app's isolation from the parent's channels: a seccomp filter against AF_VSOCK, no CAP_SYS_PTRACE. */
#ifndef KILN_INIT_SECCOMP_H
#define KILN_INIT_SECCOMP_H

#include "util/err.h"

/*
 * Install, in the calling (single-threaded) process, the filter that its
 * process tree keeps for good: socket() and socketpair() with domain
 * AF_VSOCK fail with EPERM, io_uring_setup with ENOSYS (a ring can make
 * sockets without the socket syscall), x32 syscalls with ENOSYS, and a
 * foreign architecture kills the process. Needs CAP_SYS_ADMIN: it does not
 * set no_new_privs, so setuid programs keep working.
 */
int kiln_seccomp_deny_vsock(void) KILN_MUST;

/*
 * What kiln-init does to the app before dropping to its user, unless the
 * config says app.allow_vsock: the filter above, and CAP_SYS_PTRACE out of
 * the bounding and inheritable sets, so that even a root app cannot ptrace
 * kiln-init (kept non-dumpable) or take its descriptors.
 */
int kiln_isolate_app(void) KILN_MUST;

#endif
