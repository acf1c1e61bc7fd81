/* SPDX-License-Identifier: Apache-2.0 */
/* AWS Signature Version 4 (AWS4-HMAC-SHA256): sign a request, or verify a received one. */
#ifndef KILN_AWS_SIGV4_H
#define KILN_AWS_SIGV4_H

/*
 * Usage (client):
 *   struct aws_sigv4_header h[] = { {"Host", "kms.eu-west-1.amazonaws.com"},
 *       {"X-Amz-Date", amz_date}, {"X-Amz-Target", "TrentService.Decrypt"}, ... };
 *   struct aws_sigv4_req r = { "POST", "/", "", h, n, body, body_len };
 *   char authz[AWS_SIGV4_AUTHZ_MAX];
 *   aws_sigv4_sign(&r, &creds, "eu-west-1", "kms", amz_date, authz, sizeof(authz));
 *   -> send "Authorization: <authz>" (and X-Amz-Security-Token if creds has one:
 *      put it in h[] before signing so it is signed, as KMS expects).
 * Usage (server): fill r from the received request (all its headers), then
 *   aws_sigv4_parse_authz(authz_value, &a); look up a.access_key_id's secret;
 *   aws_sigv4_verify(&r, &a, secret, now, 300) -> 0 when the signature matches.
 */

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/err.h"

#define AWS_SIGV4_AUTHZ_MAX 1024

struct aws_sigv4_header {
	const char *name;
	const char *value;
};

/*
 * A request as signed. path is the decoded path (raw bytes, e.g. "/a b"):
 * it is normalized (dot segments, repeated slashes) and percent-encoded
 * here, as for every service but S3. query is the part after '?' (may be
 * NULL or "", may be percent-encoded). body may be NULL when payload_hash
 * (64 lowercase hex digits) is given instead.
 */
struct aws_sigv4_req {
	const char *method;
	const char *path;
	const char *query;
	const struct aws_sigv4_header *headers;
	size_t n_headers;
	const uint8_t *body;
	size_t body_len;
	const char *payload_hash;
};

struct aws_creds {
	char access_key_id[129];
	char secret_access_key[129];
	char *session_token; /* heap, may be NULL */
	time_t expiration;   /* 0: never */
};

/* Wipe and free the credentials' contents. */
void aws_creds_clear(struct aws_creds *c);

/*
 * The canonical request over the headers named in signed_headers (lowercase,
 * ';'-separated, sorted; NULL: every header of r). Returns a malloc'd string
 * in *out, or -EINVAL naming a missing signed header.
 */
int aws_sigv4_canonical_request(const struct aws_sigv4_req *r, const char *signed_headers,
				char **out) KILN_MUST;
/* "AWS4-HMAC-SHA256\n<amz_date>\n<date>/<region>/<service>/aws4_request\n<hex sha256(creq)>". */
int aws_sigv4_string_to_sign(const char *amz_date, const char *region, const char *service,
			     const char *creq, char **out) KILN_MUST;
/* Hex HMAC signature of sts with the key derived from secret/date/region/service. */
int aws_sigv4_signature(const char *secret, const char *date8, const char *region,
			const char *service, const char *sts, char hex[65]) KILN_MUST;
/* The Authorization header value for r signed over all of its headers. */
int aws_sigv4_sign(const struct aws_sigv4_req *r, const struct aws_creds *creds,
		   const char *region, const char *service, const char *amz_date, char *authz,
		   size_t size) KILN_MUST;

/* An Authorization header, parsed (strings point into the struct). */
struct aws_sigv4_authz {
	char access_key_id[129];
	char date[9]; /* YYYYMMDD */
	char region[64];
	char service[64];
	char signed_headers[1024];
	char signature[65];
};

/* Parse "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...". */
int aws_sigv4_parse_authz(const char *value, struct aws_sigv4_authz *a) KILN_MUST;
/*
 * Verify a received request: host and x-amz-date must be signed, the
 * scope date must be x-amz-date's day, x-amz-date within max_skew seconds
 * of now (max_skew 0: not checked), and the signature must match (compared
 * in constant time). -EACCES with a message saying which check failed.
 */
int aws_sigv4_verify(const struct aws_sigv4_req *r, const struct aws_sigv4_authz *a,
		     const char *secret, time_t now, long max_skew) KILN_MUST;

/* "YYYYMMDDTHHMMSSZ" for t (UTC). */
void aws_sigv4_amz_date(time_t t, char out[17]);

#endif
