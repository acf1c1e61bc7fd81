/* SPDX-License-Identifier: Apache-2.0 */
/* Make a directory with its parents; remove a tree without following a symlink out of it. */
#ifndef KILN_UTIL_DIRTREE_H
#define KILN_UTIL_DIRTREE_H

#include <sys/types.h>

#include "util/err.h"

/* mkdir -p: missing parents 0755, path itself mode; existing ones are fine.
 * 0, or -errno naming the directory that could not be made. */
int kiln_mkdir_p(const char *path, mode_t mode) KILN_MUST;

/*
 * Remove name (beneath dirfd) and, if it is a directory, everything in it.
 * Every level is opened with O_NOFOLLOW relative to its parent's fd, so a
 * symlink inside the tree is removed, never followed. A missing name is not
 * an error. Nesting deeper than 512 levels fails with -ELOOP.
 */
int kiln_rmtree_at(int dirfd, const char *name) KILN_MUST;

#endif
