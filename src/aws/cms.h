/* SPDX-License-Identifier: Apache-2.0 */
/* KMS CiphertextForRecipient: BER CMS EnvelopedData parse, open (decrypt) and seal. */
#ifndef KILN_AWS_CMS_H
#define KILN_AWS_CMS_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Larger than any KMS answer (plaintexts are at most 4 KiB). */
#define AWS_CMS_MAX (64 * 1024)

/*
 * What an EnvelopedData with one KeyTransRecipientInfo (RSAES-OAEP with
 * SHA-256 and MGF1-SHA-256) over AES-256-CBC content holds. ski points
 * into the parsed blob; encrypted_key and content are malloc'd (BER may
 * split them into chunks).
 */
struct aws_cms_env {
	const uint8_t *ski; /* rid [0] SubjectKeyIdentifier; NULL for issuerAndSerial */
	size_t ski_len;
	uint8_t *encrypted_key;
	size_t encrypted_key_len;
	uint8_t iv[16];
	uint8_t *content;
	size_t content_len;
};

/* Parse p (BER, definite or indefinite lengths); -EBADMSG naming what is wrong. */
int aws_cms_parse(const uint8_t *p, size_t n, struct aws_cms_env *env) KILN_MUST;
void aws_cms_env_free(struct aws_cms_env *env);
/*
 * Decrypt: RSA-OAEP(SHA-256, MGF1-SHA-256) of the encrypted key with key
 * (the private half), then AES-256-CBC with PKCS#7 padding. *out is
 * malloc'd; the caller wipes it (kiln_free_secret(*out, *out_len)).
 */
int aws_cms_decrypt(const struct aws_cms_env *env, EVP_PKEY *key, uint8_t **out,
		    size_t *out_len) KILN_MUST;
/* Parse and decrypt in one go. */
int aws_cms_open(const uint8_t *p, size_t n, EVP_PKEY *key, uint8_t **out,
		 size_t *out_len) KILN_MUST;
/*
 * Build what KMS answers for a recipient: the same BER layout (indefinite
 * lengths, constructed encrypted content), rid = SHA-256 of the recipient's
 * SubjectPublicKeyInfo DER, a fresh content key and IV. For kiln dev-kms.
 */
int aws_cms_seal(EVP_PKEY *recipient, const uint8_t *pt, size_t pt_len, uint8_t **out,
		 size_t *out_len) KILN_MUST;

#endif
