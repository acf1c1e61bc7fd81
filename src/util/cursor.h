/* SPDX-License-Identifier: Apache-2.0 */
/* A bounds-checked read cursor: the only way kiln reads untrusted bytes. */
#ifndef KILN_UTIL_CURSOR_H
#define KILN_UTIL_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/*
 * A cursor never reads past its end. Every getter returns 0 or -EBADMSG
 * (with a message naming what was short), and on failure leaves the cursor
 * where it was, so a parser can stop at the first error and report it.
 */
struct kiln_cursor {
	const uint8_t *buf;
	size_t len;
	size_t pos;
};

static inline struct kiln_cursor kiln_cursor_make(const void *buf, size_t len)
{
	struct kiln_cursor c = { .buf = buf, .len = len, .pos = 0 };
	return c;
}

static inline size_t kiln_cursor_left(const struct kiln_cursor *c)
{
	return c->len - c->pos;
}

int kiln_cursor_u8(struct kiln_cursor *c, uint8_t *v) KILN_MUST;
int kiln_cursor_be16(struct kiln_cursor *c, uint16_t *v) KILN_MUST;
int kiln_cursor_be32(struct kiln_cursor *c, uint32_t *v) KILN_MUST;
int kiln_cursor_be64(struct kiln_cursor *c, uint64_t *v) KILN_MUST;
/* Point *p at the next n bytes (no copy) and advance. */
int kiln_cursor_bytes(struct kiln_cursor *c, size_t n, const uint8_t **p) KILN_MUST;
/* Copy the next n bytes into dst and advance. */
int kiln_cursor_copy(struct kiln_cursor *c, void *dst, size_t n) KILN_MUST;
int kiln_cursor_skip(struct kiln_cursor *c, size_t n) KILN_MUST;

#endif
