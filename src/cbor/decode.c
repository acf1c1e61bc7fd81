/* SPDX-License-Identifier: Apache-2.0 */
/* CBOR decoder: untrusted bytes -> arena-allocated item tree, through the cursor. */
#include "cbor/cbor.h"

#include <stdlib.h>
#include <string.h>

#include "util/cursor.h"

/*
 * How this works: parse_item() reads one head (major type, additional info,
 * argument) and recurses for containers and tags, one level per nesting step,
 * refusing to go deeper than the depth limit. Every item costs at least one
 * input byte, so a count claim is checked against the bytes left before any
 * child is parsed, and the item budget caps total work. Indefinite strings are
 * walked twice: once on a copy of the cursor to validate the chunks and sum
 * their sizes, once to copy them into a single arena buffer.
 */

#define DEFAULT_DEPTH 32
#define MAX_DEPTH 256
#define DEFAULT_ITEMS 65536
#define BREAK 0xff
#define CHUNK_SIZE 4096

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	_Alignas(16) unsigned char data[];
};

struct kiln_cbor_doc {
	struct arena_chunk *chunks;
	struct kiln_cbor_item *root;
	bool noncanonical;
};

struct parser {
	struct kiln_cursor c;
	struct kiln_cbor_doc *doc;
	unsigned max_depth;
	size_t items_left;
};

struct head {
	uint8_t major;
	uint8_t ai;
	uint64_t arg;
	bool indefinite;
	bool noncanonical;
	size_t offset;
};

static void *arena_alloc(struct kiln_cbor_doc *doc, size_t n)
{
	struct arena_chunk *ch = doc->chunks;
	size_t need = (n + 15) & ~(size_t)15;

	if (need < n)
		return NULL;
	if (!ch || ch->size - ch->used < need) {
		size_t size = need > CHUNK_SIZE ? need : CHUNK_SIZE;

		ch = malloc(sizeof(*ch) + size);
		if (!ch)
			return NULL;
		ch->size = size;
		ch->used = 0;
		ch->next = doc->chunks;
		doc->chunks = ch;
	}
	ch->used += need;
	return ch->data + ch->used - need;
}

void kiln_cbor_doc_free(struct kiln_cbor_doc *doc)
{
	struct arena_chunk *ch, *next;

	if (!doc)
		return;
	for (ch = doc->chunks; ch; ch = next) {
		next = ch->next;
		free(ch);
	}
	free(doc);
}

const struct kiln_cbor_item *kiln_cbor_root(const struct kiln_cbor_doc *doc)
{
	return doc->root;
}

bool kiln_cbor_noncanonical(const struct kiln_cbor_doc *doc)
{
	return doc->noncanonical;
}

/* Peek whether the next byte is a break (0xff) without consuming it. */
static bool at_break(const struct parser *p)
{
	struct kiln_cursor tmp = p->c;
	uint8_t b;

	return kiln_cursor_u8(&tmp, &b) == 0 && b == BREAK;
}

static int read_arg(struct kiln_cursor *c, struct head *h)
{
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	int rc;

	switch (h->ai) {
	case 24:
		rc = kiln_cursor_u8(c, &v8);
		h->arg = v8;
		h->noncanonical = v8 < 24;
		return rc;
	case 25:
		rc = kiln_cursor_be16(c, &v16);
		h->arg = v16;
		h->noncanonical = v16 <= UINT8_MAX;
		return rc;
	case 26:
		rc = kiln_cursor_be32(c, &v32);
		h->arg = v32;
		h->noncanonical = v32 <= UINT16_MAX;
		return rc;
	case 27:
		rc = kiln_cursor_be64(c, &h->arg);
		h->noncanonical = h->arg <= UINT32_MAX;
		return rc;
	case 28:
	case 29:
	case 30:
		return kiln_err(EBADMSG, "reserved additional information %u at offset %zu",
				h->ai, h->offset);
	case 31:
		h->indefinite = true;
		h->noncanonical = true;
		return 0;
	default:
		h->arg = h->ai;
		return 0;
	}
}

static int read_head(struct kiln_cursor *c, struct head *h)
{
	uint8_t ib;
	int rc;

	memset(h, 0, sizeof(*h));
	h->offset = c->pos;
	rc = kiln_cursor_u8(c, &ib);
	if (rc < 0)
		return rc;
	h->major = ib >> 5;
	h->ai = ib & 0x1f;
	return read_arg(c, h);
}

/* RFC 3629 UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
static int check_utf8(const uint8_t *s, size_t n, size_t offset)
{
	struct kiln_cursor c = kiln_cursor_make(s, n);

	while (kiln_cursor_left(&c)) {
		uint8_t b, lo = 0x80, hi = 0xbf;
		size_t more;

		if (kiln_cursor_u8(&c, &b) < 0)
			break;
		if (b < 0x80)
			continue;
		if (b >= 0xc2 && b <= 0xdf)
			more = 1;
		else if (b >= 0xe0 && b <= 0xef)
			more = 2, lo = b == 0xe0 ? 0xa0 : 0x80, hi = b == 0xed ? 0x9f : 0xbf;
		else if (b >= 0xf0 && b <= 0xf4)
			more = 3, lo = b == 0xf0 ? 0x90 : 0x80, hi = b == 0xf4 ? 0x8f : 0xbf;
		else
			goto bad;
		for (size_t i = 0; i < more; i++) {
			if (kiln_cursor_u8(&c, &b) < 0 || b < lo || b > hi)
				goto bad;
			lo = 0x80, hi = 0xbf;
		}
	}
	return 0;
bad:
	return kiln_err(EBADMSG, "invalid UTF-8 in text string at offset %zu", offset);
}

static int take_string(struct parser *p, const struct head *h, const uint8_t **data)
{
	if (h->arg > kiln_cursor_left(&p->c))
		return kiln_err(EBADMSG, "string at offset %zu claims %llu bytes, %zu left",
				h->offset, (unsigned long long)h->arg, kiln_cursor_left(&p->c));
	if (kiln_cursor_bytes(&p->c, (size_t)h->arg, data) < 0)
		return -EBADMSG;
	if (h->major == 3)
		return check_utf8(*data, (size_t)h->arg, h->offset);
	return 0;
}

static int take_item_budget(struct parser *p, size_t offset)
{
	if (p->items_left == 0)
		return kiln_err(E2BIG, "too many items at offset %zu", offset);
	p->items_left--;
	return 0;
}

/*
 * Walk the chunks of an indefinite string from cursor c up to and including
 * the break; if dst is set, copy them there. Returns the total length.
 */
static int walk_chunks(struct parser *p, struct kiln_cursor *c, uint8_t major, uint8_t *dst,
		       size_t *total)
{
	struct parser sub = *p;

	*total = 0;
	sub.c = *c;
	for (;;) {
		const uint8_t *data;
		struct head h;
		int rc;

		if (at_break(&sub))
			break;
		rc = read_head(&sub.c, &h);
		if (rc < 0)
			return rc;
		if (h.major != major || h.indefinite)
			return kiln_err(EBADMSG, "indefinite %s string: chunk at offset %zu is "
					"not a definite %s string",
					major == 2 ? "byte" : "text", h.offset,
					major == 2 ? "byte" : "text");
		if (!dst && (rc = take_item_budget(p, h.offset)) < 0)
			return rc;
		rc = take_string(&sub, &h, &data);
		if (rc < 0)
			return rc;
		if (dst && h.arg)
			memcpy(dst + *total, data, (size_t)h.arg);
		*total += (size_t)h.arg;
	}
	if (kiln_cursor_skip(&sub.c, 1) < 0)
		return -EBADMSG;
	*c = sub.c;
	return 0;
}

static int parse_indefinite_string(struct parser *p, const struct head *h,
				   struct kiln_cbor_item *it)
{
	struct kiln_cursor start = p->c;
	uint8_t *buf = NULL;
	size_t total;
	int rc;

	rc = walk_chunks(p, &p->c, h->major, NULL, &total);
	if (rc < 0)
		return rc;
	if (total) {
		buf = arena_alloc(p->doc, total);
		if (!buf)
			return kiln_err(ENOMEM, "out of memory");
		rc = walk_chunks(p, &start, h->major, buf, &total);
		if (rc < 0)
			return rc;
	}
	it->bytes = buf;
	it->len = total;
	return 0;
}

static int parse_item(struct parser *p, unsigned depth, struct kiln_cbor_item **out);

static int parse_children(struct parser *p, const struct head *h, unsigned depth,
			  struct kiln_cbor_item *it)
{
	bool map = h->major == 5;
	struct kiln_cbor_item **link = &it->child;
	size_t n = 0;

	if (!h->indefinite && h->arg > kiln_cursor_left(&p->c) / (map ? 2 : 1))
		return kiln_err(EBADMSG, "%s at offset %zu claims %llu %s, %zu bytes left",
				map ? "map" : "array", h->offset, (unsigned long long)h->arg,
				map ? "pairs" : "items", kiln_cursor_left(&p->c));
	for (;;) {
		int rc;

		if (h->indefinite ? at_break(p) : n == h->arg * (map ? 2 : 1))
			break;
		rc = parse_item(p, depth + 1, link);
		if (rc < 0)
			return rc;
		link = &(*link)->next;
		n++;
	}
	if (h->indefinite && kiln_cursor_skip(&p->c, 1) < 0)
		return kiln_err(EBADMSG, "unterminated indefinite-length %s at offset %zu",
				map ? "map" : "array", h->offset);
	if (map && n % 2)
		return kiln_err(EBADMSG, "map at offset %zu has a key without a value", h->offset);
	it->count = map ? n / 2 : n;
	return 0;
}

/* binary16 -> double through binary32 bits (exact; no libm). */
static double half_to_double(uint16_t h)
{
	union { uint32_t u; float f; } f32;
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
	double v;

	if (exp == 0) {
		v = mant / 16777216.0; /* mant * 2^-24 */
		return sign ? -v : v;
	}
	if (exp == 31)
		f32.u = sign | 0x7f800000u | mant << 13;
	else
		f32.u = sign | (exp - 15 + 127) << 23 | mant << 13;
	return f32.f;
}

static int parse_simple(const struct head *h, struct kiln_cbor_item *it)
{
	union { uint32_t u; float f; } f32;
	union { uint64_t u; double d; } f64;

	switch (h->ai) {
	case 20:
	case 21:
		it->type = KILN_CBOR_BOOL;
		it->u = h->ai == 21;
		return 0;
	case 22:
		it->type = KILN_CBOR_NULL;
		return 0;
	case 23:
		it->type = KILN_CBOR_UNDEFINED;
		return 0;
	case 24:
		if (h->arg < 32)
			return kiln_err(EBADMSG, "two-byte simple value %llu at offset %zu",
					(unsigned long long)h->arg, h->offset);
		it->type = KILN_CBOR_SIMPLE;
		return 0;
	case 25:
		it->type = KILN_CBOR_FLOAT;
		it->f = half_to_double((uint16_t)h->arg);
		return 0;
	case 26:
		f32.u = (uint32_t)h->arg;
		it->type = KILN_CBOR_FLOAT;
		it->f = f32.f;
		return 0;
	case 27:
		f64.u = h->arg;
		it->type = KILN_CBOR_FLOAT;
		it->f = f64.d;
		return 0;
	case 31:
		return kiln_err(EBADMSG, "break outside an indefinite-length item at offset %zu",
				h->offset);
	default:
		it->type = KILN_CBOR_SIMPLE;
		return 0;
	}
}

static int parse_body(struct parser *p, const struct head *h, unsigned depth,
		      struct kiln_cbor_item *it)
{
	static const enum kiln_cbor_type types[] = {
		KILN_CBOR_UINT, KILN_CBOR_NINT, KILN_CBOR_BYTES, KILN_CBOR_TEXT,
		KILN_CBOR_ARRAY, KILN_CBOR_MAP, KILN_CBOR_TAG,
	};

	if (h->major == 7)
		return parse_simple(h, it);
	it->type = types[h->major];
	if (h->indefinite && (h->major <= 1 || h->major == 6))
		return kiln_err(EBADMSG, "indefinite length not allowed for major type %u at "
				"offset %zu", h->major, h->offset);
	switch (h->major) {
	case 0:
	case 1:
		return 0;
	case 2:
	case 3:
		if (h->indefinite)
			return parse_indefinite_string(p, h, it);
		it->len = (size_t)h->arg;
		return take_string(p, h, &it->bytes);
	case 4:
	case 5:
		return parse_children(p, h, depth, it);
	case 6:
		return parse_item(p, depth + 1, &it->child);
	default:
		return kiln_err(EBADMSG, "bad major type at offset %zu", h->offset);
	}
}

static int parse_item(struct parser *p, unsigned depth, struct kiln_cbor_item **out)
{
	struct kiln_cbor_item *it;
	struct head h;
	int rc;

	if (depth > p->max_depth)
		return kiln_err(EBADMSG, "nesting deeper than %u at offset %zu", p->max_depth,
				p->c.pos);
	rc = take_item_budget(p, p->c.pos);
	if (rc < 0)
		return rc;
	rc = read_head(&p->c, &h);
	if (rc < 0)
		return rc;
	it = arena_alloc(p->doc, sizeof(*it));
	if (!it)
		return kiln_err(ENOMEM, "out of memory");
	memset(it, 0, sizeof(*it));
	it->u = h.arg;
	if (h.noncanonical && h.major != 7) {
		it->flags |= KILN_CBOR_F_NONCANONICAL;
		p->doc->noncanonical = true;
	}
	if (h.indefinite && h.major != 7)
		it->flags |= KILN_CBOR_F_INDEFINITE;
	*out = it;
	return parse_body(p, &h, depth, it);
}

int kiln_cbor_parse_prefix(const void *buf, size_t len, const struct kiln_cbor_limits *lim,
			   struct kiln_cbor_doc **out, size_t *used)
{
	struct parser p = {
		.c = kiln_cursor_make(buf, len),
		.max_depth = lim && lim->max_depth ? lim->max_depth : DEFAULT_DEPTH,
		.items_left = lim && lim->max_items ? lim->max_items : DEFAULT_ITEMS,
	};
	int rc;

	if (p.max_depth > MAX_DEPTH)
		p.max_depth = MAX_DEPTH;
	p.doc = calloc(1, sizeof(*p.doc));
	if (!p.doc)
		return kiln_err(ENOMEM, "out of memory");
	rc = parse_item(&p, 0, &p.doc->root);
	if (rc < 0) {
		kiln_cbor_doc_free(p.doc);
		return kiln_err_wrap(rc, "cbor");
	}
	*used = p.c.pos;
	*out = p.doc;
	return 0;
}

int kiln_cbor_parse(const void *buf, size_t len, const struct kiln_cbor_limits *lim,
		    struct kiln_cbor_doc **out)
{
	struct kiln_cbor_doc *doc;
	size_t used;
	int rc;

	rc = kiln_cbor_parse_prefix(buf, len, lim, &doc, &used);
	if (rc < 0)
		return rc;
	if (used != len) {
		kiln_cbor_doc_free(doc);
		return kiln_err(EBADMSG, "cbor: %zu trailing bytes after the item", len - used);
	}
	*out = doc;
	return 0;
}

const struct kiln_cbor_item *kiln_cbor_map_get_text(const struct kiln_cbor_item *map,
						    const char *key)
{
	const struct kiln_cbor_item *k;

	if (!map || map->type != KILN_CBOR_MAP)
		return NULL;
	for (k = map->child; k && k->next; k = k->next->next)
		if (kiln_cbor_text_eq(k, key))
			return k->next;
	return NULL;
}

const struct kiln_cbor_item *kiln_cbor_map_get_int(const struct kiln_cbor_item *map,
						   int64_t key)
{
	const struct kiln_cbor_item *k;
	int64_t v;

	if (!map || map->type != KILN_CBOR_MAP)
		return NULL;
	for (k = map->child; k && k->next; k = k->next->next)
		if (kiln_cbor_get_int(k, &v) == 0 && v == key)
			return k->next;
	return NULL;
}

const struct kiln_cbor_item *kiln_cbor_array_get(const struct kiln_cbor_item *array, size_t i)
{
	const struct kiln_cbor_item *it;

	if (!array || array->type != KILN_CBOR_ARRAY || i >= array->count)
		return NULL;
	for (it = array->child; it && i; it = it->next)
		i--;
	return it;
}

int kiln_cbor_get_int(const struct kiln_cbor_item *it, int64_t *v)
{
	if (!it || (it->type != KILN_CBOR_UINT && it->type != KILN_CBOR_NINT))
		return -EINVAL;
	if (it->u > INT64_MAX)
		return -ERANGE;
	*v = it->type == KILN_CBOR_UINT ? (int64_t)it->u : -1 - (int64_t)it->u;
	return 0;
}

bool kiln_cbor_text_eq(const struct kiln_cbor_item *it, const char *s)
{
	size_t n = strlen(s);

	return it && it->type == KILN_CBOR_TEXT && it->len == n && (n == 0 || !memcmp(it->bytes, s, n));
}

const char *kiln_cbor_type_name(enum kiln_cbor_type t)
{
	switch (t) {
	case KILN_CBOR_UINT:
		return "unsigned integer";
	case KILN_CBOR_NINT:
		return "negative integer";
	case KILN_CBOR_BYTES:
		return "byte string";
	case KILN_CBOR_TEXT:
		return "text string";
	case KILN_CBOR_ARRAY:
		return "array";
	case KILN_CBOR_MAP:
		return "map";
	case KILN_CBOR_TAG:
		return "tag";
	case KILN_CBOR_BOOL:
		return "bool";
	case KILN_CBOR_NULL:
		return "null";
	case KILN_CBOR_UNDEFINED:
		return "undefined";
	case KILN_CBOR_SIMPLE:
		return "simple value";
	case KILN_CBOR_FLOAT:
		return "float";
	default:
		return "unknown";
	}
}
