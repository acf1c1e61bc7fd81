/* SPDX-License-Identifier: Apache-2.0 */
/* CBOR diagnostic notation (RFC 8949 section 8) for decoded items: tests and `show`. */
#include "cbor/cbor.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct out {
	char *buf;
	size_t size;
	size_t len;
};

static void KILN_PRINTF(2, 3) put(struct out *o, const char *fmt, ...)
{
	size_t room = o->len < o->size ? o->size - o->len : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

static void put_float(struct out *o, double f)
{
	char tmp[40];

	if (isnan(f)) {
		put(o, "NaN");
		return;
	}
	if (isinf(f)) {
		put(o, "%sInfinity", f < 0 ? "-" : "");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, f);
		if (strtod(tmp, NULL) == f)
			break;
	}
	put(o, "%s%s", tmp, strpbrk(tmp, ".e") ? "" : ".0");
}

static void put_text(struct out *o, const uint8_t *s, size_t n)
{
	put(o, "\"");
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			put(o, "\\%c", s[i]);
		else if (s[i] < 0x20 || s[i] == 0x7f)
			put(o, "\\u%04x", s[i]);
		else
			put(o, "%c", s[i]);
	}
	put(o, "\"");
}

static void put_item(struct out *o, const struct kiln_cbor_item *it);

static void put_children(struct out *o, const struct kiln_cbor_item *it, bool map)
{
	const char *indef = (it->flags & KILN_CBOR_F_INDEFINITE) ? "_ " : "";
	size_t i = 0;

	put(o, "%s%s", map ? "{" : "[", indef);
	for (const struct kiln_cbor_item *c = it->child; c; c = c->next, i++) {
		if (i)
			put(o, map && i % 2 ? ": " : ", ");
		put_item(o, c);
	}
	put(o, "%s", map ? "}" : "]");
}

static void put_item(struct out *o, const struct kiln_cbor_item *it)
{
	switch (it->type) {
	case KILN_CBOR_UINT:
		put(o, "%llu", (unsigned long long)it->u);
		break;
	case KILN_CBOR_NINT:
		if (it->u == UINT64_MAX)
			put(o, "-18446744073709551616");
		else
			put(o, "-%llu", (unsigned long long)it->u + 1);
		break;
	case KILN_CBOR_BYTES:
		put(o, "h'");
		for (size_t i = 0; i < it->len; i++)
			put(o, "%02x", it->bytes[i]);
		put(o, "'");
		break;
	case KILN_CBOR_TEXT:
		put_text(o, it->bytes, it->len);
		break;
	case KILN_CBOR_ARRAY:
		put_children(o, it, false);
		break;
	case KILN_CBOR_MAP:
		put_children(o, it, true);
		break;
	case KILN_CBOR_TAG:
		put(o, "%llu(", (unsigned long long)it->u);
		put_item(o, it->child);
		put(o, ")");
		break;
	case KILN_CBOR_BOOL:
		put(o, it->u ? "true" : "false");
		break;
	case KILN_CBOR_NULL:
		put(o, "null");
		break;
	case KILN_CBOR_UNDEFINED:
		put(o, "undefined");
		break;
	case KILN_CBOR_SIMPLE:
		put(o, "simple(%llu)", (unsigned long long)it->u);
		break;
	case KILN_CBOR_FLOAT:
		put_float(o, it->f);
		break;
	default:
		put(o, "?");
		break;
	}
}

size_t kiln_cbor_diag(const struct kiln_cbor_item *it, char *buf, size_t size)
{
	struct out o = { .buf = buf, .size = size };

	if (size)
		buf[0] = '\0';
	put_item(&o, it);
	return o.len;
}
