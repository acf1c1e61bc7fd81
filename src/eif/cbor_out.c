/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal CBOR encoder (definite lengths, shortest heads) for EIF signatures. */
#include "eif/cbor_out.h"

#include <stdlib.h>
#include <string.h>

static void put(struct cbor_out *o, const void *p, size_t n)
{
	if (o->err || n == 0)
		return;
	if (n > o->cap - o->len) {
		size_t cap = o->cap ? o->cap : 256;
		uint8_t *nb;

		while (cap - o->len < n) {
			if (cap > SIZE_MAX / 2) {
				o->err = kiln_err(ENOMEM, "CBOR output too large");
				return;
			}
			cap *= 2;
		}
		nb = realloc(o->buf, cap);
		if (!nb) {
			o->err = kiln_err(ENOMEM, "out of memory encoding CBOR");
			return;
		}
		o->buf = nb;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void head(struct cbor_out *o, uint8_t major, uint64_t v)
{
	uint8_t b[9];
	size_t n;

	major <<= 5;
	if (v < 24) {
		b[0] = major | (uint8_t)v;
		n = 1;
	} else if (v <= UINT8_MAX) {
		b[0] = major | 24;
		n = 2;
	} else if (v <= UINT16_MAX) {
		b[0] = major | 25;
		n = 3;
	} else if (v <= UINT32_MAX) {
		b[0] = major | 26;
		n = 5;
	} else {
		b[0] = major | 27;
		n = 9;
	}
	for (size_t i = 1; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	put(o, b, n);
}

void cbor_out_uint(struct cbor_out *o, uint64_t v)
{
	head(o, 0, v);
}

void cbor_out_int(struct cbor_out *o, int64_t v)
{
	if (v >= 0)
		head(o, 0, (uint64_t)v);
	else
		head(o, 1, (uint64_t)(-(v + 1)));
}

void cbor_out_bytes(struct cbor_out *o, const void *p, size_t n)
{
	head(o, 2, n);
	put(o, p, n);
}

void cbor_out_text(struct cbor_out *o, const char *s)
{
	size_t n = strlen(s);

	head(o, 3, n);
	put(o, s, n);
}

void cbor_out_array(struct cbor_out *o, uint64_t n)
{
	head(o, 4, n);
}

void cbor_out_map(struct cbor_out *o, uint64_t n)
{
	head(o, 5, n);
}

void cbor_out_u8_array(struct cbor_out *o, const uint8_t *p, size_t n)
{
	head(o, 4, n);
	for (size_t i = 0; i < n; i++)
		head(o, 0, p[i]);
}

int cbor_out_error(const struct cbor_out *o)
{
	return o->err;
}

uint8_t *cbor_out_steal(struct cbor_out *o, size_t *len)
{
	uint8_t *b = o->buf;

	*len = o->len;
	memset(o, 0, sizeof(*o));
	return b;
}

void cbor_out_free(struct cbor_out *o)
{
	free(o->buf);
	memset(o, 0, sizeof(*o));
}
