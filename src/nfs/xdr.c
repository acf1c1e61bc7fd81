/* SPDX-License-Identifier: Apache-2.0 */
/* XDR decoding with bounds checks on every read, and the growable encoder. */
#include <stdlib.h>
#include <string.h>

#include "nfs/xdr.h"

#define PAD4(n) (((n) + 3u) & ~(size_t)3u)

static const uint8_t *take(struct xdr_in *x, size_t n)
{
	if (x->err || n > x->len - x->off) {
		x->err = true;
		return NULL;
	}
	const uint8_t *p = x->buf + x->off;
	x->off += n;
	return p;
}

uint32_t xdr_u32(struct xdr_in *x)
{
	const uint8_t *p = take(x, 4);

	if (!p)
		return 0;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t xdr_u64(struct xdr_in *x)
{
	uint64_t hi = xdr_u32(x);

	return hi << 32 | xdr_u32(x);
}

bool xdr_bool(struct xdr_in *x)
{
	uint32_t v = xdr_u32(x);

	if (v > 1)
		x->err = true;
	return v == 1;
}

/* Padding bytes must be zero (RFC 4506 4.10): a canonical encoding only. */
static void skip_pad(struct xdr_in *x, size_t n)
{
	size_t pad = PAD4(n) - n;
	const uint8_t *p = take(x, pad);

	for (size_t i = 0; p && i < pad; i++)
		if (p[i])
			x->err = true;
}

void xdr_fixed(struct xdr_in *x, void *out, size_t len)
{
	const uint8_t *p = take(x, len);

	if (!p) {
		memset(out, 0, len);
		return;
	}
	memcpy(out, p, len);
	skip_pad(x, len);
}

void xdr_opaque_ref(struct xdr_in *x, size_t max, const uint8_t **p, uint32_t *len)
{
	uint32_t n = xdr_u32(x);

	*p = NULL;
	*len = 0;
	if (x->err)
		return;
	if (n > max) {
		x->err = true;
		return;
	}
	const uint8_t *d = take(x, n);
	if (!d)
		return;
	skip_pad(x, n);
	if (x->err)
		return;
	*p = d;
	*len = n;
}

void xdr_string(struct xdr_in *x, char *out, size_t max)
{
	const uint8_t *p;
	uint32_t n;

	out[0] = '\0';
	xdr_opaque_ref(x, max, &p, &n);
	if (x->err)
		return;
	if (memchr(p, 0, n)) {
		x->err = true;
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

int xdr_out_init(struct xdr_out *o, size_t cap)
{
	memset(o, 0, sizeof(*o));
	o->cap = cap;
	o->alloc = cap < 4096 ? cap : 4096;
	o->buf = malloc(o->alloc);
	if (!o->buf)
		return kiln_err(ENOMEM, "xdr: out of memory");
	return 0;
}

void xdr_out_free(struct xdr_out *o)
{
	free(o->buf);
	memset(o, 0, sizeof(*o));
}

static uint8_t *grow(struct xdr_out *o, size_t n)
{
	if (o->err || n > o->cap - o->len) {
		o->err = true;
		return NULL;
	}
	if (o->len + n > o->alloc) {
		size_t a = o->alloc * 2;
		while (a < o->len + n)
			a *= 2;
		if (a > o->cap)
			a = o->cap;
		uint8_t *b = realloc(o->buf, a);
		if (!b) {
			o->err = true;
			return NULL;
		}
		o->buf = b;
		o->alloc = a;
	}
	uint8_t *p = o->buf + o->len;
	o->len += n;
	return p;
}

void xdr_put_u32(struct xdr_out *o, uint32_t v)
{
	uint8_t *p = grow(o, 4);

	if (!p)
		return;
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void xdr_put_u64(struct xdr_out *o, uint64_t v)
{
	xdr_put_u32(o, (uint32_t)(v >> 32));
	xdr_put_u32(o, (uint32_t)v);
}

uint8_t *xdr_put_space(struct xdr_out *o, size_t len)
{
	uint8_t *p = grow(o, PAD4(len));

	if (p)
		memset(p + len, 0, PAD4(len) - len);
	return p;
}

void xdr_opaque_trim(struct xdr_out *o, size_t lenat, size_t n)
{
	o->len = lenat + 4 + PAD4(n);
	memset(o->buf + lenat + 4 + n, 0, PAD4(n) - n);
	xdr_patch_u32(o, lenat, (uint32_t)n);
}

void xdr_put_fixed(struct xdr_out *o, const void *p, size_t len)
{
	uint8_t *d = xdr_put_space(o, len);

	if (d && len)
		memcpy(d, p, len);
}

void xdr_put_opaque(struct xdr_out *o, const void *p, size_t len)
{
	xdr_put_u32(o, (uint32_t)len);
	xdr_put_fixed(o, p, len);
}

void xdr_put_string(struct xdr_out *o, const char *s)
{
	xdr_put_opaque(o, s, strlen(s));
}

size_t xdr_reserve(struct xdr_out *o)
{
	size_t at = o->len;

	xdr_put_u32(o, 0);
	return at;
}

void xdr_patch_u32(struct xdr_out *o, size_t at, uint32_t v)
{
	if (o->err || at + 4 > o->len)
		return;
	o->buf[at] = (uint8_t)(v >> 24);
	o->buf[at + 1] = (uint8_t)(v >> 16);
	o->buf[at + 2] = (uint8_t)(v >> 8);
	o->buf[at + 3] = (uint8_t)v;
}
