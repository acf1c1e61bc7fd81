/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's copy of the app's output on the console, written without ever blocking. */
#ifndef KILN_INIT_CONSOLE_H
#define KILN_INIT_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define KILN_CONSOLE_BUF (256u << 10)

/*
 * One of kiln-init's own stdout/stderr (the console). Pipes and terminals
 * are reopened through /proc/self/fd with O_NONBLOCK, so a stalled reader
 * never stalls kiln-init (the shared file description is left alone: it may
 * be the user's terminal); regular files are written as they are. Bytes
 * that cannot be written yet wait in a buffer; the caller stops reading the
 * app while there is no room, so a slow console slows the app down exactly
 * as if the app wrote to it directly, and nothing is lost. A console that
 * fails (EPIPE, EIO) is given up silently: the control channel still has
 * the lines.
 */
struct kiln_console {
	int fd;			/* -1: given up */
	bool own;		/* fd was reopened here */
	uint8_t *buf;
	size_t off, len;	/* pending bytes: buf[off, off + len) */
};

int kiln_console_open(struct kiln_console *c, int fd) KILN_MUST;
void kiln_console_close(struct kiln_console *c);
/* Bytes put() accepts now. */
size_t kiln_console_room(const struct kiln_console *c);
/* Write what can be written, keep the rest (n <= room). */
void kiln_console_put(struct kiln_console *c, const uint8_t *p, size_t n);
/* Write pending bytes; call when fd polls writable. */
void kiln_console_flush(struct kiln_console *c);
bool kiln_console_pending(const struct kiln_console *c);

#endif
