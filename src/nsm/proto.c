/* SPDX-License-Identifier: Apache-2.0 */
/* NSM protocol: encoders and strict decoders for nsm-api's CBOR Request and Response. */
#include "nsm/nsm.h"

#include <stdlib.h>
#include <string.h>

#include "cbor/cbor.h"

/*
 * How this works: a message is one externally tagged variant, either a text
 * string (unit variant) or a map with one text key whose value is the
 * struct's field map. decode_variant() finds the variant in a table that
 * says whether it has a body; decode_fields() walks the body once, matching
 * each key to a field descriptor, refusing unknown keys, duplicates, wrong
 * types and out-of-range integers, then checks every required field was
 * seen. Encoders write the same shapes with fields in nsm-api's declaration
 * order, as serde_cbor does.
 */

static const uint8_t empty_bytes[1];

static const struct kiln_cbor_limits proto_limits = { .max_depth = 4, .max_items = 1024 };

static const char *const status_names[KILN_NSM_STATUS_COUNT] = {
	"Success",	   "InvalidArgument", "InvalidIndex",  "InvalidResponse", "ReadOnlyIndex",
	"InvalidOperation", "BufferTooSmall", "InputTooLarge", "InternalError",
};

struct variant {
	const char *name;
	enum kiln_nsm_op op;
	bool body;
};

static const struct variant request_variants[] = {
	{ "DescribePCR", KILN_NSM_DESCRIBE_PCR, true },
	{ "ExtendPCR", KILN_NSM_EXTEND_PCR, true },
	{ "LockPCR", KILN_NSM_LOCK_PCR, true },
	{ "LockPCRs", KILN_NSM_LOCK_PCRS, true },
	{ "DescribeNSM", KILN_NSM_DESCRIBE_NSM, false },
	{ "Attestation", KILN_NSM_ATTESTATION, true },
	{ "GetRandom", KILN_NSM_GET_RANDOM, false },
	{ NULL, KILN_NSM_OP_NONE, false },
};

static const struct variant response_variants[] = {
	{ "DescribePCR", KILN_NSM_DESCRIBE_PCR, true },
	{ "ExtendPCR", KILN_NSM_EXTEND_PCR, true },
	{ "LockPCR", KILN_NSM_LOCK_PCR, false },
	{ "LockPCRs", KILN_NSM_LOCK_PCRS, false },
	{ "DescribeNSM", KILN_NSM_DESCRIBE_NSM, true },
	{ "Attestation", KILN_NSM_ATTESTATION, true },
	{ "GetRandom", KILN_NSM_GET_RANDOM, true },
	{ "Error", KILN_NSM_ERROR, true },
	{ NULL, KILN_NSM_OP_NONE, false },
};

const char *kiln_nsm_status_name(enum kiln_nsm_status s)
{
	return (unsigned)s < KILN_NSM_STATUS_COUNT ? status_names[s] : "?";
}

const char *kiln_nsm_op_name(enum kiln_nsm_op op)
{
	for (const struct variant *v = response_variants; v->name; v++)
		if (v->op == op)
			return v->name;
	return "?";
}

static const char *digest_name(enum kiln_nsm_digest d)
{
	switch (d) {
	case KILN_NSM_SHA256:
		return "SHA256";
	case KILN_NSM_SHA384:
		return "SHA384";
	case KILN_NSM_SHA512:
		return "SHA512";
	default:
		return NULL;
	}
}

/* ---- encoding ---- */

static void enc_bytes(struct kiln_cbor_enc *e, const struct kiln_nsm_blob *b)
{
	kiln_cbor_enc_bytes(e, b->data ? b->data : empty_bytes, b->len);
}

static void enc_opt_bytes(struct kiln_cbor_enc *e, const char *key, const struct kiln_nsm_blob *b)
{
	kiln_cbor_enc_text_z(e, key);
	if (b->data)
		kiln_cbor_enc_bytes(e, b->data, b->len);
	else
		kiln_cbor_enc_null(e);
}

/* The head of a struct variant: {"Name": {<pairs> ... */
static void enc_struct(struct kiln_cbor_enc *e, enum kiln_nsm_op op, size_t pairs)
{
	kiln_cbor_enc_map(e, 1);
	kiln_cbor_enc_text_z(e, kiln_nsm_op_name(op));
	kiln_cbor_enc_map(e, pairs);
}

static void enc_u16_field(struct kiln_cbor_enc *e, const char *key, uint16_t v)
{
	kiln_cbor_enc_text_z(e, key);
	kiln_cbor_enc_uint(e, v);
}

static int finish(struct kiln_cbor_enc *e, size_t max, const char *what, uint8_t **out,
		  size_t *len)
{
	int rc = kiln_cbor_enc_finish(e, out, len);

	if (rc < 0)
		return kiln_err_wrap(rc, "nsm: encode %s", what);
	if (*len > max) {
		free(*out);
		*out = NULL;
		return kiln_err(EMSGSIZE, "nsm: %s is %zu bytes, the limit is %zu", what, *len, max);
	}
	return 0;
}

int kiln_nsm_request_encode(const struct kiln_nsm_request *r, uint8_t **out, size_t *len)
{
	struct kiln_cbor_enc e;

	kiln_cbor_enc_init(&e);
	switch (r->op) {
	case KILN_NSM_DESCRIBE_NSM:
	case KILN_NSM_GET_RANDOM:
		kiln_cbor_enc_text_z(&e, kiln_nsm_op_name(r->op));
		break;
	case KILN_NSM_DESCRIBE_PCR:
	case KILN_NSM_LOCK_PCR:
		enc_struct(&e, r->op, 1);
		enc_u16_field(&e, "index", r->index);
		break;
	case KILN_NSM_LOCK_PCRS:
		enc_struct(&e, r->op, 1);
		enc_u16_field(&e, "range", r->range);
		break;
	case KILN_NSM_EXTEND_PCR:
		enc_struct(&e, r->op, 2);
		enc_u16_field(&e, "index", r->index);
		kiln_cbor_enc_text_z(&e, "data");
		enc_bytes(&e, &r->data);
		break;
	case KILN_NSM_ATTESTATION:
		enc_struct(&e, r->op, 3);
		enc_opt_bytes(&e, "user_data", &r->user_data);
		enc_opt_bytes(&e, "nonce", &r->nonce);
		enc_opt_bytes(&e, "public_key", &r->public_key);
		break;
	default:
		return kiln_err(EINVAL, "nsm: no request type %d", (int)r->op);
	}
	return finish(&e, KILN_NSM_REQUEST_MAX, "request", out, len);
}

static int enc_describe_nsm(struct kiln_cbor_enc *e, const struct kiln_nsm_description *d)
{
	const char *digest = digest_name(d->digest);

	if (!digest || d->n_locked > KILN_NSM_LOCKED_MAX)
		return kiln_err(EINVAL, "nsm: bad DescribeNSM fields");
	enc_struct(e, KILN_NSM_DESCRIBE_NSM, 7);
	enc_u16_field(e, "version_major", d->version_major);
	enc_u16_field(e, "version_minor", d->version_minor);
	enc_u16_field(e, "version_patch", d->version_patch);
	kiln_cbor_enc_text_z(e, "module_id");
	kiln_cbor_enc_text_z(e, d->module_id);
	enc_u16_field(e, "max_pcrs", d->max_pcrs);
	kiln_cbor_enc_text_z(e, "locked_pcrs");
	kiln_cbor_enc_array(e, d->n_locked);
	for (size_t i = 0; i < d->n_locked; i++)
		kiln_cbor_enc_uint(e, d->locked_pcrs[i]);
	kiln_cbor_enc_text_z(e, "digest");
	kiln_cbor_enc_text_z(e, digest);
	return 0;
}

/* A struct variant whose one field is a byte string. */
static void enc_one_bytes(struct kiln_cbor_enc *e, enum kiln_nsm_op op, const char *key,
			  const struct kiln_nsm_blob *b)
{
	enc_struct(e, op, 1);
	kiln_cbor_enc_text_z(e, key);
	enc_bytes(e, b);
}

int kiln_nsm_response_encode(const struct kiln_nsm_response *r, uint8_t **out, size_t *len)
{
	struct kiln_cbor_enc e;
	int rc = 0;

	kiln_cbor_enc_init(&e);
	switch (r->op) {
	case KILN_NSM_LOCK_PCR:
	case KILN_NSM_LOCK_PCRS:
		kiln_cbor_enc_text_z(&e, kiln_nsm_op_name(r->op));
		break;
	case KILN_NSM_DESCRIBE_PCR:
		enc_struct(&e, r->op, 2);
		kiln_cbor_enc_text_z(&e, "lock");
		kiln_cbor_enc_bool(&e, r->lock);
		kiln_cbor_enc_text_z(&e, "data");
		enc_bytes(&e, &r->data);
		break;
	case KILN_NSM_EXTEND_PCR:
		enc_one_bytes(&e, r->op, "data", &r->data);
		break;
	case KILN_NSM_ATTESTATION:
		enc_one_bytes(&e, r->op, "document", &r->data);
		break;
	case KILN_NSM_GET_RANDOM:
		enc_one_bytes(&e, r->op, "random", &r->data);
		break;
	case KILN_NSM_DESCRIBE_NSM:
		rc = enc_describe_nsm(&e, &r->nsm);
		break;
	case KILN_NSM_ERROR:
		if ((unsigned)r->error >= KILN_NSM_STATUS_COUNT) {
			rc = kiln_err(EINVAL, "nsm: no error code %d", (int)r->error);
			break;
		}
		kiln_cbor_enc_map(&e, 1);
		kiln_cbor_enc_text_z(&e, "Error");
		kiln_cbor_enc_text_z(&e, status_names[r->error]);
		break;
	default:
		rc = kiln_err(EINVAL, "nsm: no response type %d", (int)r->op);
		break;
	}
	if (rc < 0) {
		kiln_cbor_enc_reset(&e);
		return rc;
	}
	return finish(&e, KILN_NSM_RESPONSE_MAX, "response", out, len);
}

/* ---- decoding ---- */

enum field_kind { K_U16, K_BYTES, K_OPT_BYTES, K_BOOL, K_TEXT, K_U16_SET, K_DIGEST };

struct field {
	const char *name;
	enum field_kind kind;
	void *dst;
	bool optional;
	size_t max; /* K_BYTES/K_OPT_BYTES/K_TEXT: longest accepted */
	bool seen;
};

static int want(const struct kiln_cbor_item *it, enum kiln_cbor_type t, const char *what)
{
	if (it->type != t)
		return kiln_err(EBADMSG, "nsm: %s is a %s, want a %s", what,
				kiln_cbor_type_name(it->type), kiln_cbor_type_name(t));
	return 0;
}

static int get_u16(const struct kiln_cbor_item *it, uint16_t *v, const char *what)
{
	int rc = want(it, KILN_CBOR_UINT, what);

	if (rc == 0 && it->u > UINT16_MAX)
		rc = kiln_err(EBADMSG, "nsm: %s %llu does not fit u16", what,
			      (unsigned long long)it->u);
	if (rc == 0)
		*v = (uint16_t)it->u;
	return rc;
}

static int get_bytes(const struct kiln_cbor_item *it, struct kiln_nsm_blob *b, size_t max,
		     const char *what)
{
	int rc = want(it, KILN_CBOR_BYTES, what);

	if (rc < 0)
		return rc;
	if (it->len > max)
		return kiln_err(EBADMSG, "nsm: %s is %zu bytes, at most %zu", what, it->len, max);
	b->data = it->len ? it->bytes : empty_bytes;
	b->len = it->len;
	return 0;
}

static int get_text(const struct kiln_cbor_item *it, char *dst, size_t max, const char *what)
{
	int rc = want(it, KILN_CBOR_TEXT, what);

	if (rc < 0)
		return rc;
	if (it->len == 0 || it->len > max || memchr(it->bytes, 0, it->len))
		return kiln_err(EBADMSG, "nsm: %s is empty, longer than %zu or has NUL", what, max);
	memcpy(dst, it->bytes, it->len);
	dst[it->len] = '\0';
	return 0;
}

static int get_u16_set(const struct kiln_cbor_item *it, struct kiln_nsm_description *d,
		       const char *what)
{
	const struct kiln_cbor_item *x;
	int rc = want(it, KILN_CBOR_ARRAY, what);

	if (rc < 0)
		return rc;
	if (it->count > KILN_NSM_LOCKED_MAX)
		return kiln_err(EBADMSG, "nsm: %s has %zu entries, at most %d", what, it->count,
				KILN_NSM_LOCKED_MAX);
	d->n_locked = 0;
	for (x = it->child; x; x = x->next) {
		uint16_t v = 0;

		rc = get_u16(x, &v, what);
		if (rc < 0)
			return rc;
		if (d->n_locked && v <= d->locked_pcrs[d->n_locked - 1])
			return kiln_err(EBADMSG, "nsm: %s is not an increasing set", what);
		d->locked_pcrs[d->n_locked++] = v;
	}
	return 0;
}

static int get_digest(const struct kiln_cbor_item *it, enum kiln_nsm_digest *d)
{
	static const enum kiln_nsm_digest all[] = { KILN_NSM_SHA256, KILN_NSM_SHA384,
						    KILN_NSM_SHA512 };
	int rc = want(it, KILN_CBOR_TEXT, "digest");

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (kiln_cbor_text_eq(it, digest_name(all[i]))) {
			*d = all[i];
			return 0;
		}
	return kiln_err(EBADMSG, "nsm: unknown digest");
}

static int decode_field(struct field *f, const struct kiln_cbor_item *v)
{
	switch (f->kind) {
	case K_U16:
		return get_u16(v, f->dst, f->name);
	case K_OPT_BYTES:
		if (v->type == KILN_CBOR_NULL)
			return 0;
		return get_bytes(v, f->dst, f->max, f->name);
	case K_BYTES:
		return get_bytes(v, f->dst, f->max, f->name);
	case K_BOOL:
		if (want(v, KILN_CBOR_BOOL, f->name) < 0)
			return -EBADMSG;
		*(bool *)f->dst = v->u != 0;
		return 0;
	case K_TEXT:
		return get_text(v, f->dst, f->max, f->name);
	case K_U16_SET:
		return get_u16_set(v, f->dst, f->name);
	case K_DIGEST:
		return get_digest(v, f->dst);
	default:
		return kiln_err(EINVAL, "nsm: internal: bad field kind");
	}
}

static int decode_fields(const struct kiln_cbor_item *map, const char *variant, struct field *f,
			 size_t n)
{
	const struct kiln_cbor_item *k;
	int rc = want(map, KILN_CBOR_MAP, variant);

	if (rc < 0)
		return rc;
	for (k = map->child; k; k = k->next->next) {
		size_t i;

		for (i = 0; i < n && !kiln_cbor_text_eq(k, f[i].name); i++)
			;
		if (i == n)
			return kiln_err(EBADMSG, "nsm: %s has an unknown field", variant);
		if (f[i].seen)
			return kiln_err(EBADMSG, "nsm: %s has field %s twice", variant, f[i].name);
		f[i].seen = true;
		rc = decode_field(&f[i], k->next);
		if (rc < 0)
			return kiln_err_wrap(rc, "%s", variant);
	}
	for (size_t i = 0; i < n; i++)
		if (!f[i].seen && !f[i].optional)
			return kiln_err(EBADMSG, "nsm: %s lacks field %s", variant, f[i].name);
	return 0;
}

/* Split the root into the variant's table entry and its body (NULL for unit variants). */
static int decode_variant(const struct kiln_cbor_item *root, const struct variant *table,
			  const struct variant **v, const struct kiln_cbor_item **body)
{
	const struct kiln_cbor_item *name = root;

	*body = NULL;
	if (root->type == KILN_CBOR_MAP) {
		if (root->count != 1)
			return kiln_err(EBADMSG, "nsm: message map has %zu entries, want 1",
					root->count);
		name = root->child;
		*body = name->next;
	}
	if (name->type != KILN_CBOR_TEXT)
		return kiln_err(EBADMSG, "nsm: message is a %s, want a variant name",
				kiln_cbor_type_name(name->type));
	for (*v = table; (*v)->name && !kiln_cbor_text_eq(name, (*v)->name); (*v)++)
		;
	if (!(*v)->name)
		return kiln_err(EBADMSG, "nsm: unknown message type");
	if ((*v)->body != (*body != NULL))
		return kiln_err(EBADMSG, "nsm: %s %s", (*v)->name,
				(*v)->body ? "lacks its fields" : "takes no fields");
	return 0;
}

static int parse(const uint8_t *buf, size_t len, size_t max, const char *what,
		 struct kiln_cbor_doc **doc)
{
	int rc;

	*doc = NULL;
	if (len == 0 || len > max)
		return kiln_err(EMSGSIZE, "nsm: %s is %zu bytes, want 1..%zu", what, len, max);
	rc = kiln_cbor_parse(buf, len, &proto_limits, doc);
	return rc < 0 ? kiln_err_wrap(rc, "nsm: %s", what) : 0;
}

#define NFIELDS(a) (sizeof(a) / sizeof(struct field))

static int request_body(struct kiln_nsm_request *r, const char *name,
			const struct kiln_cbor_item *body)
{
	struct field idx[] = { { "index", K_U16, &r->index, false, 0, false } };
	struct field range[] = { { "range", K_U16, &r->range, false, 0, false } };
	struct field ext[] = {
		{ "index", K_U16, &r->index, false, 0, false },
		{ "data", K_BYTES, &r->data, false, KILN_NSM_REQUEST_MAX, false },
	};
	struct field att[] = {
		{ "user_data", K_OPT_BYTES, &r->user_data, true, KILN_NSM_REQUEST_MAX, false },
		{ "nonce", K_OPT_BYTES, &r->nonce, true, KILN_NSM_REQUEST_MAX, false },
		{ "public_key", K_OPT_BYTES, &r->public_key, true, KILN_NSM_REQUEST_MAX, false },
	};

	switch (r->op) {
	case KILN_NSM_DESCRIBE_PCR:
	case KILN_NSM_LOCK_PCR:
		return decode_fields(body, name, idx, NFIELDS(idx));
	case KILN_NSM_LOCK_PCRS:
		return decode_fields(body, name, range, NFIELDS(range));
	case KILN_NSM_EXTEND_PCR:
		return decode_fields(body, name, ext, NFIELDS(ext));
	case KILN_NSM_ATTESTATION:
		return decode_fields(body, name, att, NFIELDS(att));
	case KILN_NSM_DESCRIBE_NSM:
	case KILN_NSM_GET_RANDOM:
		return 0;
	default:
		return kiln_err(EINVAL, "nsm: internal: bad request op");
	}
}

int kiln_nsm_request_decode(const uint8_t *buf, size_t len, struct kiln_nsm_request *r,
			    struct kiln_cbor_doc **doc)
{
	const struct variant *v;
	const struct kiln_cbor_item *body;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = parse(buf, len, KILN_NSM_REQUEST_MAX, "request", doc);
	if (rc == 0)
		rc = decode_variant(kiln_cbor_root(*doc), request_variants, &v, &body);
	if (rc == 0) {
		r->op = v->op;
		rc = request_body(r, v->name, body);
	}
	if (rc < 0) {
		kiln_nsm_doc_free(*doc);
		*doc = NULL;
		memset(r, 0, sizeof(*r));
	}
	return rc;
}

static int error_body(struct kiln_nsm_response *r, const struct kiln_cbor_item *body)
{
	int rc = want(body, KILN_CBOR_TEXT, "Error");

	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < KILN_NSM_STATUS_COUNT; i++)
		if (kiln_cbor_text_eq(body, status_names[i])) {
			r->error = (enum kiln_nsm_status)i;
			return 0;
		}
	return kiln_err(EBADMSG, "nsm: unknown error code");
}

static int response_body(struct kiln_nsm_response *r, const char *name,
			 const struct kiln_cbor_item *body)
{
	struct kiln_nsm_description *d = &r->nsm;
	struct field pcr[] = {
		{ "lock", K_BOOL, &r->lock, false, 0, false },
		{ "data", K_BYTES, &r->data, false, KILN_NSM_PCR_MAX, false },
	};
	struct field ext[] = { { "data", K_BYTES, &r->data, false, KILN_NSM_PCR_MAX, false } };
	struct field att[] = {
		{ "document", K_BYTES, &r->data, false, KILN_NSM_RESPONSE_MAX, false },
	};
	struct field rnd[] = {
		{ "random", K_BYTES, &r->data, false, KILN_NSM_RESPONSE_MAX, false },
	};
	struct field nsm[] = {
		{ "version_major", K_U16, &d->version_major, false, 0, false },
		{ "version_minor", K_U16, &d->version_minor, false, 0, false },
		{ "version_patch", K_U16, &d->version_patch, false, 0, false },
		{ "module_id", K_TEXT, d->module_id, false, KILN_NSM_MODULE_ID_MAX, false },
		{ "max_pcrs", K_U16, &d->max_pcrs, false, 0, false },
		{ "locked_pcrs", K_U16_SET, d, false, 0, false },
		{ "digest", K_DIGEST, &d->digest, false, 0, false },
	};

	switch (r->op) {
	case KILN_NSM_DESCRIBE_PCR:
		return decode_fields(body, name, pcr, NFIELDS(pcr));
	case KILN_NSM_EXTEND_PCR:
		return decode_fields(body, name, ext, NFIELDS(ext));
	case KILN_NSM_ATTESTATION:
		return decode_fields(body, name, att, NFIELDS(att));
	case KILN_NSM_GET_RANDOM:
		return decode_fields(body, name, rnd, NFIELDS(rnd));
	case KILN_NSM_DESCRIBE_NSM:
		return decode_fields(body, name, nsm, NFIELDS(nsm));
	case KILN_NSM_ERROR:
		return error_body(r, body);
	case KILN_NSM_LOCK_PCR:
	case KILN_NSM_LOCK_PCRS:
		return 0;
	default:
		return kiln_err(EINVAL, "nsm: internal: bad response op");
	}
}

int kiln_nsm_response_decode(const uint8_t *buf, size_t len, struct kiln_nsm_response *r,
			     struct kiln_cbor_doc **doc)
{
	const struct variant *v;
	const struct kiln_cbor_item *body;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = parse(buf, len, KILN_NSM_RESPONSE_MAX, "response", doc);
	if (rc == 0)
		rc = decode_variant(kiln_cbor_root(*doc), response_variants, &v, &body);
	if (rc == 0) {
		r->op = v->op;
		rc = response_body(r, v->name, body);
	}
	if (rc < 0) {
		kiln_nsm_doc_free(*doc);
		*doc = NULL;
		memset(r, 0, sizeof(*r));
	}
	return rc;
}

void kiln_nsm_doc_free(struct kiln_cbor_doc *doc)
{
	kiln_cbor_doc_free(doc);
}
