/* SPDX-License-Identifier: Apache-2.0 */
/* CBOR encoder: shortest-form heads, definite lengths, sticky first error. */
#include "cbor/cbor.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void kiln_cbor_enc_init(struct kiln_cbor_enc *e)
{
	memset(e, 0, sizeof(*e));
}

void kiln_cbor_enc_reset(struct kiln_cbor_enc *e)
{
	free(e->buf);
	kiln_cbor_enc_init(e);
}

static uint8_t *reserve(struct kiln_cbor_enc *e, size_t n)
{
	if (e->err)
		return NULL;
	if (n > SIZE_MAX / 2 - e->len) {
		e->err = kiln_err(E2BIG, "cbor: encoding too large");
		return NULL;
	}
	if (e->len + n > e->cap) {
		size_t cap = e->cap ? e->cap : 64;
		uint8_t *p;

		while (cap < e->len + n)
			cap *= 2;
		p = realloc(e->buf, cap);
		if (!p) {
			e->err = kiln_err(ENOMEM, "cbor: out of memory");
			return NULL;
		}
		e->buf = p;
		e->cap = cap;
	}
	e->len += n;
	return e->buf + e->len - n;
}

static void put_be(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* A head with explicit additional information and an n-byte argument. */
static void head_raw(struct kiln_cbor_enc *e, uint8_t major, uint8_t ai, uint64_t arg, size_t n)
{
	uint8_t *p = reserve(e, 1 + n);

	if (!p)
		return;
	p[0] = (uint8_t)(major << 5 | ai);
	put_be(p + 1, arg, n);
}

static void head(struct kiln_cbor_enc *e, uint8_t major, uint64_t arg)
{
	if (arg < 24)
		head_raw(e, major, (uint8_t)arg, 0, 0);
	else if (arg <= UINT8_MAX)
		head_raw(e, major, 24, arg, 1);
	else if (arg <= UINT16_MAX)
		head_raw(e, major, 25, arg, 2);
	else if (arg <= UINT32_MAX)
		head_raw(e, major, 26, arg, 4);
	else
		head_raw(e, major, 27, arg, 8);
}

void kiln_cbor_enc_raw(struct kiln_cbor_enc *e, const void *p, size_t n)
{
	uint8_t *dst = reserve(e, n);

	if (dst && n)
		memcpy(dst, p, n);
}

void kiln_cbor_enc_uint(struct kiln_cbor_enc *e, uint64_t v)
{
	head(e, 0, v);
}

void kiln_cbor_enc_nint(struct kiln_cbor_enc *e, uint64_t n)
{
	head(e, 1, n);
}

void kiln_cbor_enc_int(struct kiln_cbor_enc *e, int64_t v)
{
	if (v >= 0)
		head(e, 0, (uint64_t)v);
	else
		head(e, 1, (uint64_t)(-(v + 1)));
}

void kiln_cbor_enc_bytes(struct kiln_cbor_enc *e, const void *p, size_t n)
{
	head(e, 2, n);
	kiln_cbor_enc_raw(e, p, n);
}

void kiln_cbor_enc_text(struct kiln_cbor_enc *e, const char *s, size_t n)
{
	head(e, 3, n);
	kiln_cbor_enc_raw(e, s, n);
}

void kiln_cbor_enc_text_z(struct kiln_cbor_enc *e, const char *s)
{
	kiln_cbor_enc_text(e, s, strlen(s));
}

void kiln_cbor_enc_array(struct kiln_cbor_enc *e, size_t count)
{
	head(e, 4, count);
}

void kiln_cbor_enc_map(struct kiln_cbor_enc *e, size_t pairs)
{
	head(e, 5, pairs);
}

void kiln_cbor_enc_tag(struct kiln_cbor_enc *e, uint64_t tag)
{
	head(e, 6, tag);
}

void kiln_cbor_enc_bool(struct kiln_cbor_enc *e, bool v)
{
	head_raw(e, 7, v ? 21 : 20, 0, 0);
}

void kiln_cbor_enc_null(struct kiln_cbor_enc *e)
{
	head_raw(e, 7, 22, 0, 0);
}

void kiln_cbor_enc_undefined(struct kiln_cbor_enc *e)
{
	head_raw(e, 7, 23, 0, 0);
}

void kiln_cbor_enc_simple(struct kiln_cbor_enc *e, uint8_t v)
{
	if (v < 24)
		head_raw(e, 7, v, 0, 0);
	else
		head_raw(e, 7, 24, v, 1);
}

/* The binary16 bits for a value exactly representable as binary32 f, else -1. */
static int32_t to_half(uint32_t f)
{
	int32_t sign = (int32_t)(f >> 16) & 0x8000;
	int exp = (int)((f >> 23) & 0xff) - 127;
	uint32_t mant = f & 0x7fffff;
	int shift;

	if ((f & 0x7fffffff) == 0)
		return sign;
	if (exp == 128)
		return mant ? -1 : sign | 0x7c00;
	if (exp >= -14 && exp <= 15)
		return mant & 0x1fff ? -1 : sign | (exp + 15) << 10 | (int32_t)(mant >> 13);
	if (exp < -24 || exp > 15)
		return -1;
	/* A half subnormal: (2^23 | mant) * 2^(exp - 23) = h * 2^-24. */
	shift = -exp - 1;
	mant |= 0x800000;
	return mant & ((1u << shift) - 1) ? -1 : sign | (int32_t)(mant >> shift);
}

void kiln_cbor_enc_float(struct kiln_cbor_enc *e, double v)
{
	union { float f; uint32_t u; } f32;
	union { double d; uint64_t u; } f64;
	int32_t h;

	if (v != v) {
		head_raw(e, 7, 25, 0x7e00, 2);
		return;
	}
	f32.f = v >= -FLT_MAX && v <= FLT_MAX ? (float)v : v > 0 ? (float)INFINITY : -(float)INFINITY;
	if ((double)f32.f == v) {
		h = to_half(f32.u);
		if (h >= 0)
			head_raw(e, 7, 25, (uint64_t)h, 2);
		else
			head_raw(e, 7, 26, f32.u, 4);
		return;
	}
	f64.d = v;
	head_raw(e, 7, 27, f64.u, 8);
}

int kiln_cbor_enc_finish(struct kiln_cbor_enc *e, uint8_t **out, size_t *len)
{
	int rc = e->err;

	if (rc < 0) {
		kiln_cbor_enc_reset(e);
		return rc;
	}
	*out = e->buf;
	*len = e->len;
	kiln_cbor_enc_init(e);
	return 0;
}
