/* SPDX-License-Identifier: Apache-2.0 */
/* kiln's default state directory: one rule for kilnd and the commands that find it. */
#ifndef KILN_UTIL_STATE_DIR_H
#define KILN_UTIL_STATE_DIR_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/*
 * /run/kiln for root, else XDG_RUNTIME_DIR/kiln; xdg must be absolute (the
 * XDG base directory rules ignore a relative one), else -ENOENT.
 */
int kiln_state_dir_for(bool root, const char *xdg, char *buf, size_t len) KILN_MUST;
/* The same for this process: its euid and $XDG_RUNTIME_DIR. */
int kiln_state_dir_default(char *buf, size_t len) KILN_MUST;

#endif
