/* SPDX-License-Identifier: Apache-2.0 */
/* A lock file that is still the one its name points at once it is locked. */
#ifndef KILN_UTIL_LOCKFILE_H
#define KILN_UTIL_LOCKFILE_H

#include "util/err.h"

/*
 * Open (creating, 0600, never through a symlink) name beneath dir (or
 * AT_FDCWD) and flock() it with how. A lock taken on a file that was removed
 * or replaced meanwhile would guard nothing, so the inode is compared with
 * what the name points at now: -EAGAIN then (try again). 0 with *out;
 * -EWOULDBLOCK when LOCK_NB and held elsewhere; other errors -errno, with
 * the message naming the file.
 */
int kiln_lockfile_at(int dir, const char *name, int how, int *out) KILN_MUST;

#endif
