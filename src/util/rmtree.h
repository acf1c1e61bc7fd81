/* SPDX-License-Identifier: Apache-2.0 */
/* Remove a directory tree without ever following a symlink out of it. */
#ifndef KILN_UTIL_RMTREE_H
#define KILN_UTIL_RMTREE_H

#include "util/err.h"

/*
 * Remove name (beneath dirfd) and, if it is a directory, everything in it.
 * Every level is opened with O_NOFOLLOW relative to its parent's fd, so a
 * symlink inside the tree is removed, never followed. A missing name is not
 * an error. Nesting deeper than 512 levels fails with -ELOOP.
 */
int kiln_rmtree_at(int dirfd, const char *name) KILN_MUST;

#endif
