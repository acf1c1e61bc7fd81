/* SPDX-License-Identifier: Apache-2.0 */
/* Nitro attestation document parser: COSE_Sign1 envelope and the payload map. */
#include "attest/attest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbor/cbor.h"

/*
 * How this works: the input is copied once, decoded with the CBOR decoder
 * (small depth and item limits: a real document is ~30 items, 3 levels), and
 * every field is type- and size-checked against the Nitro specification
 * (aws-nitro-enclaves-nsm-api, "Attestation document specification"). Each
 * payload key may appear once; unknown keys are ignored. Nothing here trusts
 * the document: verification is kiln_attest_verify()'s job.
 */

#define COSE_TAG_SIGN1 18
#define COSE_HDR_ALG 1
#define COSE_HDR_CRIT 2
#define MAX_CERT_LEN 1024
#define MAX_PUBKEY_LEN 1024
#define MAX_USER_LEN 512

static const struct kiln_cbor_limits doc_limits = { .max_depth = 8, .max_items = 4096 };

enum field {
	F_MODULE_ID,
	F_DIGEST,
	F_TIMESTAMP,
	F_PCRS,
	F_CERTIFICATE,
	F_CABUNDLE,
	F_PUBLIC_KEY,
	F_USER_DATA,
	F_NONCE,
	F_COUNT,
};

static const char *const field_names[F_COUNT] = {
	"module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle",
	"public_key", "user_data", "nonce",
};

void kiln_attest_doc_free(struct kiln_attest_doc *doc)
{
	if (!doc)
		return;
	kiln_cbor_doc_free(doc->cose_cbor);
	kiln_cbor_doc_free(doc->payload_cbor);
	free(doc->module_id);
	free(doc->raw);
	free(doc);
}

static int want_type(const struct kiln_cbor_item *it, enum kiln_cbor_type t, const char *what)
{
	if (!it)
		return kiln_err(EBADMSG, "%s missing", what);
	if (it->type != t)
		return kiln_err(EBADMSG, "%s is a %s, want a %s", what, kiln_cbor_type_name(it->type),
				kiln_cbor_type_name(t));
	return 0;
}

static int get_bytes(const struct kiln_cbor_item *it, size_t min, size_t max,
		     struct kiln_attest_blob *b, const char *what)
{
	int rc = want_type(it, KILN_CBOR_BYTES, what);

	if (rc < 0)
		return rc;
	if (it->len < min || it->len > max)
		return kiln_err(EBADMSG, "%s is %zu bytes, want %zu..%zu", what, it->len, min, max);
	b->data = it->bytes;
	b->len = it->len;
	return 0;
}

/* A byte string, or null (left absent). */
static int get_opt_bytes(const struct kiln_cbor_item *it, size_t min, size_t max,
			 struct kiln_attest_blob *b, const char *what)
{
	if (it->type == KILN_CBOR_NULL)
		return 0;
	return get_bytes(it, min, max, b, what);
}

static int parse_protected(struct kiln_attest_doc *doc)
{
	struct kiln_cbor_doc *hdr;
	const struct kiln_cbor_item *map, *alg;
	int rc;

	if (doc->protected_hdr.len == 0)
		return kiln_err(EBADMSG, "protected header is empty (no alg)");
	rc = kiln_cbor_parse(doc->protected_hdr.data, doc->protected_hdr.len, &doc_limits, &hdr);
	if (rc < 0)
		return kiln_err_wrap(rc, "protected header");
	map = kiln_cbor_root(hdr);
	rc = want_type(map, KILN_CBOR_MAP, "protected header");
	if (rc < 0)
		goto out;
	if (kiln_cbor_map_get_int(map, COSE_HDR_CRIT)) {
		rc = kiln_err(EBADMSG, "protected header has critical parameters");
		goto out;
	}
	alg = kiln_cbor_map_get_int(map, COSE_HDR_ALG);
	if (!alg || kiln_cbor_get_int(alg, &doc->alg) < 0)
		rc = kiln_err(EBADMSG, "protected header has no integer alg");
out:
	kiln_cbor_doc_free(hdr);
	return rc;
}

static int parse_cose(struct kiln_attest_doc *doc)
{
	const struct kiln_cbor_item *root;
	int rc;

	rc = kiln_cbor_parse(doc->raw, doc->raw_len, &doc_limits, &doc->cose_cbor);
	if (rc < 0)
		return rc;
	doc->noncanonical = kiln_cbor_noncanonical(doc->cose_cbor);
	root = kiln_cbor_root(doc->cose_cbor);
	if (root->type == KILN_CBOR_TAG) {
		if (root->u != COSE_TAG_SIGN1)
			return kiln_err(EBADMSG, "COSE: tag %llu, want 18 (COSE_Sign1)",
					(unsigned long long)root->u);
		doc->tagged = true;
		root = root->child;
	}
	rc = want_type(root, KILN_CBOR_ARRAY, "COSE_Sign1");
	if (rc < 0)
		return rc;
	if (root->count != 4)
		return kiln_err(EBADMSG, "COSE_Sign1 has %zu elements, want 4", root->count);
	rc = get_bytes(kiln_cbor_array_get(root, 0), 0, SIZE_MAX, &doc->protected_hdr,
		       "COSE protected header");
	if (rc == 0)
		rc = want_type(kiln_cbor_array_get(root, 1), KILN_CBOR_MAP, "COSE unprotected header");
	if (rc == 0)
		rc = get_bytes(kiln_cbor_array_get(root, 2), 1, SIZE_MAX, &doc->payload, "COSE payload");
	if (rc == 0)
		rc = get_bytes(kiln_cbor_array_get(root, 3), 0, SIZE_MAX, &doc->signature,
			       "COSE signature");
	if (rc == 0)
		rc = parse_protected(doc);
	return rc;
}

static int parse_pcrs(struct kiln_attest_doc *doc, const struct kiln_cbor_item *map)
{
	const struct kiln_cbor_item *k;
	int rc = want_type(map, KILN_CBOR_MAP, "pcrs");

	if (rc < 0)
		return rc;
	if (map->count == 0 || map->count > KILN_ATTEST_MAX_PCRS)
		return kiln_err(EBADMSG, "pcrs has %zu entries, want 1..%d", map->count,
				KILN_ATTEST_MAX_PCRS);
	for (k = map->child; k; k = k->next->next) {
		const struct kiln_cbor_item *v = k->next;
		char what[32];

		if (k->type != KILN_CBOR_UINT || k->u >= KILN_ATTEST_MAX_PCRS)
			return kiln_err(EBADMSG, "pcrs: key is not a PCR index 0..%d",
					KILN_ATTEST_MAX_PCRS - 1);
		snprintf(what, sizeof(what), "PCR%u", (unsigned)k->u);
		if (doc->pcr[k->u].data)
			return kiln_err(EBADMSG, "pcrs: %s appears twice", what);
		rc = get_bytes(v, 32, 64, &doc->pcr[k->u], what);
		if (rc < 0)
			return rc;
		if (v->len != 32 && v->len != 48 && v->len != 64)
			return kiln_err(EBADMSG, "%s is %zu bytes, want 32, 48 or 64", what, v->len);
	}
	return 0;
}

static int parse_cabundle(struct kiln_attest_doc *doc, const struct kiln_cbor_item *arr)
{
	const struct kiln_cbor_item *c;
	int rc = want_type(arr, KILN_CBOR_ARRAY, "cabundle");

	if (rc < 0)
		return rc;
	if (arr->count == 0 || arr->count > KILN_ATTEST_MAX_CABUNDLE)
		return kiln_err(EBADMSG, "cabundle has %zu entries, want 1..%d", arr->count,
				KILN_ATTEST_MAX_CABUNDLE);
	for (c = arr->child; c; c = c->next) {
		char what[32];

		snprintf(what, sizeof(what), "cabundle[%zu]", doc->cabundle_len);
		rc = get_bytes(c, 1, MAX_CERT_LEN, &doc->cabundle[doc->cabundle_len++], what);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int parse_text_fields(struct kiln_attest_doc *doc, enum field f,
			     const struct kiln_cbor_item *v)
{
	int rc = want_type(v, KILN_CBOR_TEXT, field_names[f]);

	if (rc < 0)
		return rc;
	if (v->len == 0 || memchr(v->bytes, 0, v->len))
		return kiln_err(EBADMSG, "%s is empty or contains NUL", field_names[f]);
	if (f == F_DIGEST) {
		if (!kiln_cbor_text_eq(v, "SHA384"))
			return kiln_err(EBADMSG, "digest is not \"SHA384\"");
		memcpy(doc->digest, "SHA384", sizeof("SHA384"));
		return 0;
	}
	doc->module_id = strndup((const char *)v->bytes, v->len);
	return doc->module_id ? 0 : kiln_err(ENOMEM, "out of memory");
}

static int parse_field(struct kiln_attest_doc *doc, enum field f, const struct kiln_cbor_item *v)
{
	int rc;

	switch (f) {
	case F_MODULE_ID:
	case F_DIGEST:
		return parse_text_fields(doc, f, v);
	case F_TIMESTAMP:
		rc = want_type(v, KILN_CBOR_UINT, "timestamp");
		if (rc == 0 && v->u == 0)
			rc = kiln_err(EBADMSG, "timestamp is zero");
		if (rc == 0 && v->u > INT64_MAX)
			rc = kiln_err(EBADMSG, "timestamp out of range");
		doc->timestamp_ms = v->u;
		return rc;
	case F_PCRS:
		return parse_pcrs(doc, v);
	case F_CERTIFICATE:
		return get_bytes(v, 1, MAX_CERT_LEN, &doc->certificate, "certificate");
	case F_CABUNDLE:
		return parse_cabundle(doc, v);
	case F_PUBLIC_KEY:
		return get_opt_bytes(v, 1, MAX_PUBKEY_LEN, &doc->public_key, "public_key");
	case F_USER_DATA:
		return get_opt_bytes(v, 0, MAX_USER_LEN, &doc->user_data, "user_data");
	case F_NONCE:
		return get_opt_bytes(v, 0, MAX_USER_LEN, &doc->nonce, "nonce");
	default:
		return kiln_err(EINVAL, "internal: bad field");
	}
}

static int parse_payload(struct kiln_attest_doc *doc)
{
	const struct kiln_cbor_item *map, *k;
	bool seen[F_COUNT] = { false };
	int rc;

	rc = kiln_cbor_parse(doc->payload.data, doc->payload.len, &doc_limits, &doc->payload_cbor);
	if (rc < 0)
		return rc;
	doc->noncanonical |= kiln_cbor_noncanonical(doc->payload_cbor);
	map = kiln_cbor_root(doc->payload_cbor);
	rc = want_type(map, KILN_CBOR_MAP, "payload");
	for (k = rc == 0 ? map->child : NULL; k; k = k->next->next) {
		enum field f;

		if (k->type != KILN_CBOR_TEXT)
			return kiln_err(EBADMSG, "payload key is a %s, want a text string",
					kiln_cbor_type_name(k->type));
		for (f = 0; f < F_COUNT && !kiln_cbor_text_eq(k, field_names[f]); f++)
			;
		if (f == F_COUNT)
			continue;
		if (seen[f])
			return kiln_err(EBADMSG, "field %s appears twice", field_names[f]);
		seen[f] = true;
		rc = parse_field(doc, f, k->next);
		if (rc < 0)
			return rc;
	}
	for (enum field f = 0; rc == 0 && f <= F_CABUNDLE; f++)
		if (!seen[f])
			rc = kiln_err(EBADMSG, "field %s missing", field_names[f]);
	return rc;
}

int kiln_attest_parse(const void *buf, size_t len, struct kiln_attest_doc **out)
{
	struct kiln_attest_doc *doc;
	int rc;

	doc = calloc(1, sizeof(*doc));
	if (!doc || !(doc->raw = malloc(len ? len : 1))) {
		free(doc);
		return kiln_err(ENOMEM, "out of memory");
	}
	if (len)
		memcpy(doc->raw, buf, len);
	doc->raw_len = len;
	rc = parse_cose(doc);
	if (rc == 0) {
		rc = parse_payload(doc);
		if (rc < 0)
			kiln_err_wrap(rc, "payload");
	}
	if (rc < 0) {
		kiln_attest_doc_free(doc);
		return kiln_err_wrap(rc, "attestation document");
	}
	*out = doc;
	return 0;
}
