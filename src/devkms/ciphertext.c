/* SPDX-License-Identifier: Apache-2.0 */
/* dev-kms ciphertext blobs: AES-256-GCM with the key id bound in (format in docs/dev-kms.md). */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "devkms/devkms.h"
#include "util/secure.h"

/*
 * How this works: blob = "KDK" 0x01 | u8 id_len (36) | key id (ASCII UUID)
 * | 12-byte random IV | ciphertext | 16-byte GCM tag. The GCM additional
 * data is the blob's first 41 bytes (magic, length, key id) followed by
 * the canonical encryption context, so neither the key id nor the context
 * can be changed without the tag failing. Decrypt without a KeyId reads
 * the id from the header and loads that key.
 */

static const uint8_t magic[4] = { 'K', 'D', 'K', 0x01 };
#define HDR_LEN (4 + 1 + KILN_DEVKMS_KEY_ID_LEN)
#define IV_LEN 12
#define TAG_LEN 16

int kiln_devkms_ct_key_id(const uint8_t *blob, size_t len, char id[KILN_DEVKMS_KEY_ID_LEN + 1])
{
	if (len < KILN_DEVKMS_CT_OVERHEAD || memcmp(blob, magic, sizeof(magic)) ||
	    blob[4] != KILN_DEVKMS_KEY_ID_LEN)
		return kiln_err(EBADMSG, "not a dev-kms ciphertext");
	memcpy(id, blob + 5, KILN_DEVKMS_KEY_ID_LEN);
	id[KILN_DEVKMS_KEY_ID_LEN] = '\0';
	if (!kiln_devkms_is_key_id(id))
		return kiln_err(EBADMSG, "not a dev-kms ciphertext");
	return 0;
}

/* One GCM pass; enc selects direction. tag is written (enc) or checked. */
static int gcm(bool enc, const uint8_t *key, const uint8_t *iv, const uint8_t *hdr,
	       const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
	       uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, outl = 0;
	int ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv, enc) == 1 &&
		 EVP_CipherUpdate(c, NULL, &n, hdr, HDR_LEN) == 1 &&
		 (aad_len == 0 || EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) == 1) &&
		 (len == 0 || EVP_CipherUpdate(c, out, &outl, in, (int)len) == 1) &&
		 (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1) &&
		 EVP_CipherFinal_ex(c, out + outl, &n) == 1 &&
		 (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1);

	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -EBADMSG;
}

int kiln_devkms_ct_seal(const struct kiln_devkms_key *key, const uint8_t *aad, size_t aad_len,
			const uint8_t *pt, size_t pt_len, uint8_t **blob, size_t *blob_len)
{
	if (pt_len > 65536 || aad_len > INT32_MAX)
		return kiln_err(EINVAL, "plaintext too large");
	size_t n = KILN_DEVKMS_CT_OVERHEAD + pt_len;
	uint8_t *b = malloc(n);
	if (!b)
		return kiln_err(ENOMEM, "out of memory");
	memcpy(b, magic, sizeof(magic));
	b[4] = KILN_DEVKMS_KEY_ID_LEN;
	memcpy(b + 5, key->id, KILN_DEVKMS_KEY_ID_LEN);
	if (RAND_bytes(b + HDR_LEN, IV_LEN) != 1 ||
	    gcm(true, key->material, b + HDR_LEN, b, aad, aad_len, pt, pt_len,
		b + HDR_LEN + IV_LEN, b + n - TAG_LEN) < 0) {
		kiln_free_secret(b, n);
		return kiln_err(EIO, "encryption failed");
	}
	*blob = b;
	*blob_len = n;
	return 0;
}

int kiln_devkms_ct_open(const struct kiln_devkms_key *key, const uint8_t *aad, size_t aad_len,
			const uint8_t *blob, size_t len, uint8_t **pt, size_t *pt_len)
{
	char id[KILN_DEVKMS_KEY_ID_LEN + 1];
	int rc = kiln_devkms_ct_key_id(blob, len, id);
	if (rc < 0)
		return rc;
	if (strcmp(id, key->id))
		return kiln_err(EXDEV, "ciphertext was encrypted under another key");
	size_t n = len - KILN_DEVKMS_CT_OVERHEAD;
	uint8_t *out = malloc(n ? n : 1), tag[TAG_LEN];
	if (!out)
		return kiln_err(ENOMEM, "out of memory");
	memcpy(tag, blob + len - TAG_LEN, TAG_LEN);
	if (gcm(false, key->material, blob + HDR_LEN, blob, aad, aad_len, blob + HDR_LEN + IV_LEN,
		n, out, tag) < 0) {
		kiln_free_secret(out, n);
		return kiln_err(EBADMSG, "ciphertext failed authentication");
	}
	*pt = out;
	*pt_len = n;
	return 0;
}
