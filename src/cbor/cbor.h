/* SPDX-License-Identifier: Apache-2.0 */
/* CBOR (RFC 8949): a decoder for untrusted bytes into an item tree, and a canonical encoder. */
#ifndef KILN_CBOR_CBOR_H
#define KILN_CBOR_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/*
 * Decoding: kiln_cbor_parse() reads exactly one data item (trailing bytes are
 * an error) into a tree of struct kiln_cbor_item allocated from one arena
 * owned by the struct kiln_cbor_doc; kiln_cbor_doc_free() releases it all.
 * Definite byte and text strings point into the caller's buffer, which must
 * outlive the doc; indefinite strings are joined into arena memory.
 *
 * Input is accepted when well-formed; non-canonical encodings (a head not in
 * its shortest form, indefinite lengths) are accepted and reported through
 * KILN_CBOR_F_NONCANONICAL on the item and kiln_cbor_noncanonical() on the doc.
 * Limits bound nesting depth and item count; a length or count claim larger
 * than the bytes left is refused before anything is allocated, so memory use
 * is linear in the input size.
 */

enum kiln_cbor_type {
	KILN_CBOR_UINT,      /* u: the value */
	KILN_CBOR_NINT,      /* u: the argument; the value is -1 - u */
	KILN_CBOR_BYTES,     /* bytes, len */
	KILN_CBOR_TEXT,      /* bytes, len: valid UTF-8, not NUL-terminated */
	KILN_CBOR_ARRAY,     /* count items from child, linked by next */
	KILN_CBOR_MAP,       /* count pairs from child: key, value, key, value ... */
	KILN_CBOR_TAG,       /* u: the tag number; child: the tagged item */
	KILN_CBOR_BOOL,      /* u: 0 or 1 */
	KILN_CBOR_NULL,
	KILN_CBOR_UNDEFINED,
	KILN_CBOR_SIMPLE,    /* u: an unassigned simple value (0..19, 32..255) */
	KILN_CBOR_FLOAT,     /* f: the value (half, single or double on the wire) */
};

#define KILN_CBOR_F_NONCANONICAL 0x1u /* head not shortest, or indefinite length */
#define KILN_CBOR_F_INDEFINITE   0x2u /* encoded with indefinite length */

struct kiln_cbor_item {
	enum kiln_cbor_type type;
	unsigned flags;
	uint64_t u;
	double f;
	const uint8_t *bytes;
	size_t len;
	size_t count;
	struct kiln_cbor_item *child;
	struct kiln_cbor_item *next;
};

struct kiln_cbor_limits {
	unsigned max_depth;  /* nesting of arrays, maps and tags; 0: default 32 */
	size_t max_items;    /* items in the whole document; 0: default 65536 */
};

struct kiln_cbor_doc;

/* Parse one item filling buf exactly; lim may be NULL for the defaults. */
int kiln_cbor_parse(const void *buf, size_t len, const struct kiln_cbor_limits *lim,
		    struct kiln_cbor_doc **out) KILN_MUST;
/* Parse the first item of buf and say how many bytes it used (a CBOR sequence). */
int kiln_cbor_parse_prefix(const void *buf, size_t len, const struct kiln_cbor_limits *lim,
			   struct kiln_cbor_doc **out, size_t *used) KILN_MUST;
void kiln_cbor_doc_free(struct kiln_cbor_doc *doc);
const struct kiln_cbor_item *kiln_cbor_root(const struct kiln_cbor_doc *doc);
/* True when any item in the document was not in canonical form. */
bool kiln_cbor_noncanonical(const struct kiln_cbor_doc *doc);

/* Lookups: NULL when absent or when the container has another type. */
const struct kiln_cbor_item *kiln_cbor_map_get_text(const struct kiln_cbor_item *map,
						    const char *key);
const struct kiln_cbor_item *kiln_cbor_map_get_int(const struct kiln_cbor_item *map,
						   int64_t key);
const struct kiln_cbor_item *kiln_cbor_array_get(const struct kiln_cbor_item *array, size_t i);
/* An integer item as int64_t: -EINVAL if not an integer, -ERANGE if it does not fit. */
int kiln_cbor_get_int(const struct kiln_cbor_item *it, int64_t *v) KILN_MUST;
/* True when it is a text string equal to s. */
bool kiln_cbor_text_eq(const struct kiln_cbor_item *it, const char *s);
const char *kiln_cbor_type_name(enum kiln_cbor_type t);

/*
 * Diagnostic notation (RFC 8949 section 8) of an item, e.g. {"a": [1, h'ff']},
 * into buf (always NUL-terminated); returns the length it needed, like snprintf.
 */
size_t kiln_cbor_diag(const struct kiln_cbor_item *it, char *buf, size_t size);

/*
 * Encoding: calls append to a growing buffer and remember the first failure,
 * so a writer is a straight sequence of calls checked once by
 * kiln_cbor_enc_finish(). Every head is shortest-form and every length
 * definite; floats use the shortest of half/single/double that is exact.
 * Deterministic encoding also wants map keys in bytewise order of their
 * encodings: the caller writes keys in that order.
 */
struct kiln_cbor_enc {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int err;
};

void kiln_cbor_enc_init(struct kiln_cbor_enc *e);
void kiln_cbor_enc_uint(struct kiln_cbor_enc *e, uint64_t v);
void kiln_cbor_enc_int(struct kiln_cbor_enc *e, int64_t v);
/* The negative integer -1 - n (reaches -2^64). */
void kiln_cbor_enc_nint(struct kiln_cbor_enc *e, uint64_t n);
void kiln_cbor_enc_bytes(struct kiln_cbor_enc *e, const void *p, size_t n);
void kiln_cbor_enc_text(struct kiln_cbor_enc *e, const char *s, size_t n);
void kiln_cbor_enc_text_z(struct kiln_cbor_enc *e, const char *s);
void kiln_cbor_enc_array(struct kiln_cbor_enc *e, size_t count);
void kiln_cbor_enc_map(struct kiln_cbor_enc *e, size_t pairs);
void kiln_cbor_enc_tag(struct kiln_cbor_enc *e, uint64_t tag);
void kiln_cbor_enc_bool(struct kiln_cbor_enc *e, bool v);
void kiln_cbor_enc_null(struct kiln_cbor_enc *e);
void kiln_cbor_enc_undefined(struct kiln_cbor_enc *e);
void kiln_cbor_enc_simple(struct kiln_cbor_enc *e, uint8_t v);
void kiln_cbor_enc_float(struct kiln_cbor_enc *e, double v);
/* Append already-encoded CBOR (one or more complete items) verbatim. */
void kiln_cbor_enc_raw(struct kiln_cbor_enc *e, const void *p, size_t n);
/* Hand the bytes to the caller (free() them) or report the first failure. */
int kiln_cbor_enc_finish(struct kiln_cbor_enc *e, uint8_t **out, size_t *len) KILN_MUST;
/* Drop the buffer (on error paths); finish also leaves e empty. */
void kiln_cbor_enc_reset(struct kiln_cbor_enc *e);

#endif
