/* SPDX-License-Identifier: Apache-2.0 */
/* AWS Nitro attestation documents: parse the COSE_Sign1, verify signature, chain and claims. */
#ifndef KILN_ATTEST_ATTEST_H
#define KILN_ATTEST_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define KILN_ATTEST_MAX_PCRS 32
#define KILN_ATTEST_MAX_CABUNDLE 16
#define KILN_ATTEST_SIG_LEN 96 /* ES384: r || s, 48 bytes each */

struct kiln_cbor_doc;

/* A byte field of the document: data == NULL when absent or null. */
struct kiln_attest_blob {
	const uint8_t *data;
	size_t len;
};

/*
 * A parsed document. All blobs point into the doc's own copy of the input,
 * so the doc lives on its own; free it with kiln_attest_doc_free().
 */
struct kiln_attest_doc {
	uint8_t *raw;                       /* the whole COSE_Sign1 as received */
	size_t raw_len;
	bool tagged;                        /* wrapped in COSE tag 18 */
	bool noncanonical;                  /* some CBOR was not in canonical form */
	struct kiln_attest_blob protected_hdr; /* the serialized protected header */
	struct kiln_attest_blob payload;       /* the serialized payload map */
	struct kiln_attest_blob signature;     /* r || s */
	int64_t alg;                        /* COSE alg from the protected header (-35) */
	char *module_id;                    /* NUL-terminated copy */
	char digest[16];                    /* "SHA384" */
	uint64_t timestamp_ms;              /* Unix time in milliseconds */
	struct kiln_attest_blob pcr[KILN_ATTEST_MAX_PCRS];
	struct kiln_attest_blob certificate;   /* leaf, DER */
	struct kiln_attest_blob cabundle[KILN_ATTEST_MAX_CABUNDLE]; /* root first, DER */
	size_t cabundle_len;
	struct kiln_attest_blob public_key;
	struct kiln_attest_blob user_data;
	struct kiln_attest_blob nonce;
	struct kiln_cbor_doc *cose_cbor;    /* owned: the trees the blobs may point into */
	struct kiln_cbor_doc *payload_cbor;
};

/* Parse (but do not verify) a document; every field is checked for type and size. */
int kiln_attest_parse(const void *buf, size_t len, struct kiln_attest_doc **out) KILN_MUST;
void kiln_attest_doc_free(struct kiln_attest_doc *doc);

/* What the verifier must find in the payload; a NULL data pointer means "not checked". */
struct kiln_attest_expect {
	struct kiln_attest_blob pcr[KILN_ATTEST_MAX_PCRS];
	struct kiln_attest_blob nonce;
	struct kiln_attest_blob user_data;
	struct kiln_attest_blob public_key;
};

/* Special values for the verification time (otherwise Unix milliseconds). */
#define KILN_ATTEST_AT_NOW (-1)
#define KILN_ATTEST_AT_DOC (-2) /* the document's own timestamp */

/*
 * A verifier holds the pinned root (the only trust anchor) and a cache of
 * certificate chains already validated against it. It is safe to share
 * between threads.
 */
struct kiln_attest_verifier;

/* PEM of the AWS Nitro Enclaves root G1, the default trust anchor. */
extern const char kiln_attest_aws_root_g1_pem[];

/* root_pem: one PEM certificate, or NULL for the AWS Nitro Enclaves root G1. */
int kiln_attest_verifier_new(const char *root_pem, size_t root_len,
			     struct kiln_attest_verifier **out) KILN_MUST;
void kiln_attest_verifier_free(struct kiln_attest_verifier *v);
/* Forget every cached chain. */
void kiln_attest_verifier_flush(struct kiln_attest_verifier *v);
/* Cache statistics, for tests and benches. */
void kiln_attest_verifier_stats(const struct kiln_attest_verifier *v, uint64_t *hits,
				uint64_t *misses);

/*
 * Verify a parsed document as of at_ms (Unix ms, or KILN_ATTEST_AT_NOW /
 * KILN_ATTEST_AT_DOC): the protected header says ES384, cabundle[0] is the
 * pinned root, the chain leaf -> cabundle[n-1] -> ... -> cabundle[0] is
 * valid at that time, the signature over the payload verifies with the leaf
 * key, and every expectation in exp (may be NULL) holds. On failure the
 * message names the check that failed.
 */
int kiln_attest_verify(struct kiln_attest_verifier *v, const struct kiln_attest_doc *doc,
		       int64_t at_ms, const struct kiln_attest_expect *exp) KILN_MUST;
/* Parse and verify; on success *out (if not NULL) receives the document. */
int kiln_attest_verify_bytes(struct kiln_attest_verifier *v, const void *buf, size_t len,
			     int64_t at_ms, const struct kiln_attest_expect *exp,
			     struct kiln_attest_doc **out) KILN_MUST;

/* A document from more than this far in the future is refused by the freshness check. */
#define KILN_ATTEST_FUTURE_SKEW_MS 60000
/* Durations up to this long (100 years) are accepted. */
#define KILN_ATTEST_DURATION_MAX_MS (100LL * 366 * 86400 * 1000)

/*
 * A duration: one or more NUMBER UNIT groups with units ms, s, m, h and d,
 * e.g. 500ms, 30s, 5m, 1h, 1h30m, 7d; more than zero, at most 100 years.
 */
int kiln_attest_parse_duration(const char *s, int64_t *ms) KILN_MUST;
/* ms as such a duration ("2h5m", "812d3h", "450ms"): the two largest units. */
void kiln_attest_format_duration(int64_t ms, char *buf, size_t size);
/*
 * Freshness: the document's timestamp is at most max_age_ms before now_ms
 * (Unix ms) and at most KILN_ATTEST_FUTURE_SKEW_MS after it. -ESTALE naming
 * the document's age otherwise.
 */
int kiln_attest_check_age(const struct kiln_attest_doc *doc, int64_t now_ms,
			  int64_t max_age_ms) KILN_MUST;

/* The `kiln attest verify|show ...` command; argv[0] is "attest". Returns the exit code. */
int kiln_attest_cli(int argc, char **argv);

#endif
