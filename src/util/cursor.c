/* SPDX-License-Identifier: Apache-2.0 */
/* Bounds-checked big-endian reads over an untrusted buffer. */
#include "util/cursor.h"

#include <string.h>

static int need(const struct kiln_cursor *c, size_t n)
{
	if (n > kiln_cursor_left(c))
		return kiln_err(EBADMSG, "truncated input: need %zu bytes at offset %zu, %zu left",
				n, c->pos, kiln_cursor_left(c));
	return 0;
}

int kiln_cursor_bytes(struct kiln_cursor *c, size_t n, const uint8_t **p)
{
	int rc = need(c, n);

	if (rc < 0)
		return rc;
	*p = c->buf + c->pos;
	c->pos += n;
	return 0;
}

int kiln_cursor_copy(struct kiln_cursor *c, void *dst, size_t n)
{
	const uint8_t *p;
	int rc = kiln_cursor_bytes(c, n, &p);

	if (rc < 0)
		return rc;
	if (n)
		memcpy(dst, p, n);
	return 0;
}

int kiln_cursor_skip(struct kiln_cursor *c, size_t n)
{
	const uint8_t *p;

	return kiln_cursor_bytes(c, n, &p);
}

static int read_be(struct kiln_cursor *c, size_t n, uint64_t *v)
{
	const uint8_t *p;
	uint64_t x = 0;
	int rc = kiln_cursor_bytes(c, n, &p);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		x = (x << 8) | p[i];
	*v = x;
	return 0;
}

int kiln_cursor_u8(struct kiln_cursor *c, uint8_t *v)
{
	uint64_t x;
	int rc = read_be(c, 1, &x);

	if (rc == 0)
		*v = (uint8_t)x;
	return rc;
}

int kiln_cursor_be16(struct kiln_cursor *c, uint16_t *v)
{
	uint64_t x;
	int rc = read_be(c, 2, &x);

	if (rc == 0)
		*v = (uint16_t)x;
	return rc;
}

int kiln_cursor_be32(struct kiln_cursor *c, uint32_t *v)
{
	uint64_t x;
	int rc = read_be(c, 4, &x);

	if (rc == 0)
		*v = (uint32_t)x;
	return rc;
}

int kiln_cursor_be64(struct kiln_cursor *c, uint64_t *v)
{
	return read_be(c, 8, v);
}
