/* SPDX-License-Identifier: Apache-2.0 */
/* XDR (RFC 4506): one bounds-checked input cursor and one growable output buffer. */
#ifndef KILN_NFS_XDR_H
#define KILN_NFS_XDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/*
 * Every decode of untrusted bytes goes through struct xdr_in: a getter that
 * would read past the end sets err, returns zeros, and every later getter
 * fails too, so a decoder checks xdr_ok() once at the end of a structure.
 */
struct xdr_in {
	const uint8_t *buf;
	size_t len, off;
	bool err;
};

static inline void xdr_in_init(struct xdr_in *x, const void *buf, size_t len)
{
	x->buf = buf;
	x->len = len;
	x->off = 0;
	x->err = false;
}
static inline bool xdr_ok(const struct xdr_in *x) { return !x->err; }
static inline size_t xdr_left(const struct xdr_in *x) { return x->err ? 0 : x->len - x->off; }

uint32_t xdr_u32(struct xdr_in *x);
uint64_t xdr_u64(struct xdr_in *x);
bool xdr_bool(struct xdr_in *x); /* anything but 0 or 1 is an error */
/* Fixed-length opaque (len bytes plus padding) copied into out. */
void xdr_fixed(struct xdr_in *x, void *out, size_t len);
/*
 * Variable-length opaque of at most max bytes: *p points into the input
 * (valid while it is), *len its length. Padding must be zero bytes.
 */
void xdr_opaque_ref(struct xdr_in *x, size_t max, const uint8_t **p, uint32_t *len);
/* Same for a string, copied NUL-terminated into out (size > max); embedded NULs are an error. */
void xdr_string(struct xdr_in *x, char *out, size_t max);
/* Mark the cursor failed (a decoder found a bad value). */
static inline void xdr_fail(struct xdr_in *x) { x->err = true; }

/*
 * Output: a buffer that grows up to cap; an append past cap sets err and
 * is dropped (the caller turns that into a resource error).
 */
struct xdr_out {
	uint8_t *buf;
	size_t len, alloc, cap;
	bool err;
};

int xdr_out_init(struct xdr_out *o, size_t cap) KILN_MUST;
void xdr_out_free(struct xdr_out *o);
void xdr_put_u32(struct xdr_out *o, uint32_t v);
void xdr_put_u64(struct xdr_out *o, uint64_t v);
void xdr_put_fixed(struct xdr_out *o, const void *p, size_t len);
void xdr_put_opaque(struct xdr_out *o, const void *p, size_t len);
void xdr_put_string(struct xdr_out *o, const char *s);
/* Reserve one u32 (a length or status filled later); returns its offset. */
size_t xdr_reserve(struct xdr_out *o);
void xdr_patch_u32(struct xdr_out *o, size_t at, uint32_t v);
/* Reserve len bytes (plus padding) and return where to write them, or NULL. */
uint8_t *xdr_put_space(struct xdr_out *o, size_t len);
/*
 * An opaque written in place: lenat is its reserved length word, followed
 * by a larger xdr_put_space(); keep n bytes of it, zero their padding.
 */
void xdr_opaque_trim(struct xdr_out *o, size_t lenat, size_t n);

#endif
