/* SPDX-License-Identifier: Apache-2.0 */
/* AWS KMS client (JSON 1.1, SigV4), with Recipient (attestation) operations for enclaves. */
#ifndef KILN_AWS_KMS_H
#define KILN_AWS_KMS_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>

#include "aws/creds.h"
#include "aws/https.h"

/*
 * How this works: every call is a POST of a JSON body to the endpoint's /
 * with X-Amz-Target: TrentService.<Op>, signed with SigV4 (service "kms").
 * Calls retry on throttling, KMS internal errors, HTTP 5xx and connection
 * failures with exponential backoff and full jitter (sleep a random time
 * in [0, min(5 s, 100 ms * 2^attempt))), until the overall timeout. Other
 * errors come back at once as "KMS <Op>: <__type>: <message>" (KMS's own
 * words) with an errno: AccessDenied -EACCES, NotFound -ENOENT,
 * InvalidCiphertext -EBADMSG, validation -EINVAL, others -EIO.
 * Recipient operations send {KeyEncryptionAlgorithm: RSAES_OAEP_SHA_256,
 * AttestationDocument} and open the CiphertextForRecipient with the
 * private key whose public half the document carries.
 */

struct aws_kms_opts {
	const char *region;	/* required */
	const char *endpoint;	/* NULL: https://kms.REGION.amazonaws.com */
	const char *ca_bundle;	/* NULL: the system's */
	int timeout_ms;		/* per call, retries included; 0: 30 s */
};

struct aws_kms;

int aws_kms_new(const struct aws_kms_opts *o, struct aws_creds_src *creds,
		struct aws_kms **out) KILN_MUST;
void aws_kms_free(struct aws_kms *k);
/* A keep-alive connection for one thread at a time. */
int aws_kms_conn(struct aws_kms *k, struct aws_http_client **out) KILN_MUST;
/*
 * Open conn's TCP and TLS connection ahead of the first call, within
 * max_ms (and the client's timeout). Optional: a call connects anyway, and
 * reports (and retries) any trouble itself.
 */
int aws_kms_conn_open(struct aws_kms *k, struct aws_http_client *conn, int max_ms) KILN_MUST;

/* One operation: body is the JSON request; *resp the JSON answer (json_decref it). */
int aws_kms_call(struct aws_kms *k, struct aws_http_client *conn, const char *op,
		 const char *body, json_t **resp) KILN_MUST;

/*
 * Classify one HTTP answer (a pure function, fuzzed): 0 with *resp for a
 * 200 with a JSON object; otherwise < 0 with the message, *retry set when
 * trying again may help.
 */
int aws_kms_answer(const char *op, int status, const char *body, size_t len, json_t **resp,
		   bool *retry) KILN_MUST;

/* Encrypt: plaintext -> base64 CiphertextBlob (malloc'd). */
int aws_kms_encrypt(struct aws_kms *k, struct aws_http_client *conn, const char *key_id,
		    const uint8_t *pt, size_t n, char **b64) KILN_MUST;

/* The enclave side: a fresh RSA-2048 key and its SubjectPublicKeyInfo DER. */
struct aws_kms_recipient {
	EVP_PKEY *key;
	uint8_t *spki;
	size_t spki_len;
	const uint8_t *doc; /* the attestation document naming spki (caller's) */
	size_t doc_len;
};

int aws_kms_recipient_key(struct aws_kms_recipient *r) KILN_MUST;
void aws_kms_recipient_free(struct aws_kms_recipient *r);

/*
 * Decrypt (key_id may be NULL), GenerateDataKey (AES_256) and GenerateRandom
 * for a recipient: the plaintext comes back in *pt (malloc'd; the caller
 * wipes it with kiln_free_secret(*pt, *n)).
 */
int aws_kms_decrypt_recipient(struct aws_kms *k, struct aws_http_client *conn,
			      const char *ciphertext_b64, const char *key_id,
			      const struct aws_kms_recipient *r, uint8_t **pt,
			      size_t *n) KILN_MUST;
int aws_kms_generate_data_key_recipient(struct aws_kms *k, struct aws_http_client *conn,
					const char *key_id, const struct aws_kms_recipient *r,
					uint8_t **pt, size_t *n, char **ciphertext_b64) KILN_MUST;
int aws_kms_generate_random_recipient(struct aws_kms *k, struct aws_http_client *conn,
				      size_t bytes, const struct aws_kms_recipient *r,
				      uint8_t **pt, size_t *n) KILN_MUST;
/* Open a recipient answer's CiphertextForRecipient (fuzzed with aws_kms_answer). */
int aws_kms_open_recipient(const char *op, json_t *resp, EVP_PKEY *key, uint8_t **pt,
			   size_t *n) KILN_MUST;

/* Strict base64 (RFC 4648, padded). *out malloc'd. */
int aws_b64_decode(const char *s, uint8_t **out, size_t *n) KILN_MUST;
int aws_b64_encode(const uint8_t *p, size_t n, char **out) KILN_MUST;

/* Tests: how many HTTP attempts the last aws_kms_call made (this thread). */
int aws_kms_last_attempts(void);

#endif
