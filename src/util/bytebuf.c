/* SPDX-License-Identifier: Apache-2.0 */
/* Growable byte queue used by the DNS relays on both sides of the channel. */
#include "util/bytebuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/err.h"

int kiln_bytebuf_add(struct kiln_bytebuf *b, const void *p, size_t n, size_t max)
{
	if (b->len + n > max)
		return kiln_err(ENOBUFS, "output queue full (%zu bytes)", max);
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *np;

		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np)
			return kiln_err(ENOMEM, "out of memory");
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

void kiln_bytebuf_drop(struct kiln_bytebuf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

int kiln_bytebuf_flush(struct kiln_bytebuf *b, int fd)
{
	while (b->len) {
		ssize_t w = send(fd, b->p, b->len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == EAGAIN ? 0 : -errno;
		kiln_bytebuf_drop(b, (size_t)w);
	}
	return 0;
}
