/* SPDX-License-Identifier: Apache-2.0 */
/* A growable byte queue for non-blocking sockets: append, flush, consume. */
#ifndef KILN_UTIL_BYTEBUF_H
#define KILN_UTIL_BYTEBUF_H

#include <stddef.h>
#include <stdint.h>

struct kiln_bytebuf {
	uint8_t *p;
	size_t len, cap;
};

/* Append n bytes; -ENOBUFS past max bytes queued, -ENOMEM. */
int kiln_bytebuf_add(struct kiln_bytebuf *b, const void *p, size_t n, size_t max);
/* Remove the first n bytes. */
void kiln_bytebuf_drop(struct kiln_bytebuf *b, size_t n);
/* Send what the socket takes now: 0 (maybe partial), or -errno when broken. */
int kiln_bytebuf_flush(struct kiln_bytebuf *b, int fd);

#endif
