/* SPDX-License-Identifier: Apache-2.0 */
/* AES-256-GCM sealing and HKDF for the storage core (OpenSSL EVP). */
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <string.h>

#include "fs/seal.h"

#define SEAL_FORMAT 1

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

int kfs_hkdf(const uint8_t *ikm, const uint8_t *salt, size_t salt_len, const char *info,
	     uint64_t ino, uint8_t *out)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	uint8_t inf[64];
	size_t il = strlen(info), outlen = KFS_KEY_LEN;
	int ok;

	if (!c || il > sizeof(inf) - 8) {
		EVP_PKEY_CTX_free(c);
		return kiln_err(EINVAL, "hkdf: bad context");
	}
	memcpy(inf, info, il);
	be64(inf + il, ino);
	ok = EVP_PKEY_derive_init(c) > 0 && EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()) > 0 &&
	     EVP_PKEY_CTX_set1_hkdf_salt(c, salt, (int)salt_len) > 0 &&
	     EVP_PKEY_CTX_set1_hkdf_key(c, ikm, KFS_KEY_LEN) > 0 &&
	     EVP_PKEY_CTX_add1_hkdf_info(c, inf, (int)(il + 8)) > 0 &&
	     EVP_PKEY_derive(c, out, &outlen) > 0 && outlen == KFS_KEY_LEN;
	EVP_PKEY_CTX_free(c);
	return ok ? 0 : kiln_err(EIO, "hkdf: OpenSSL failed");
}

static void aad_bytes(const struct kfs_aad *a, uint8_t out[4 + KFS_UUID_LEN + 1 + 24])
{
	memcpy(out, "kfs1", 4);
	memcpy(out + 4, a->uuid, KFS_UUID_LEN);
	out[4 + KFS_UUID_LEN] = a->kind;
	be64(out + 5 + KFS_UUID_LEN, a->ino);
	be64(out + 13 + KFS_UUID_LEN, a->blk);
	be64(out + 21 + KFS_UUID_LEN, a->ver);
}

/* One GCM pass; enc selects seal or open. The tag is written or checked. */
static int gcm(int enc, const uint8_t *key, const uint8_t *nonce, const struct kfs_aad *a,
	       const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t ad[4 + KFS_UUID_LEN + 1 + 24];
	int n = 0, ok;

	if (!c || len > INT32_MAX) {
		EVP_CIPHER_CTX_free(c);
		return -ENOMEM;
	}
	aad_bytes(a, ad);
	ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc) > 0 &&
	     EVP_CipherUpdate(c, NULL, &n, ad, sizeof(ad)) > 0 &&
	     (len == 0 || EVP_CipherUpdate(c, out, &n, in, (int)len) > 0) &&
	     (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, KFS_TAG_LEN, tag) > 0) &&
	     EVP_CipherFinal_ex(c, out + (len ? n : 0), &n) > 0 &&
	     (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, KFS_TAG_LEN, tag) > 0);
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -EBADMSG;
}

int kfs_seal(const uint8_t *key, const struct kfs_aad *aad, const void *pt, size_t pt_len,
	     uint8_t *out)
{
	out[0] = SEAL_FORMAT;
	if (RAND_bytes(out + 1, KFS_NONCE_LEN) != 1)
		return kiln_err(EIO, "seal: no randomness");
	if (gcm(1, key, out + 1, aad, pt, pt_len, out + 1 + KFS_NONCE_LEN,
		out + 1 + KFS_NONCE_LEN + pt_len) < 0)
		return kiln_err(EIO, "seal: AES-GCM failed");
	return 0;
}

int kfs_open_sealed(const uint8_t *key, const struct kfs_aad *aad, const uint8_t *in,
		    size_t in_len, uint8_t *out)
{
	size_t len;
	uint8_t tag[KFS_TAG_LEN];

	if (in_len < KFS_SEAL_OVERHEAD || in[0] != SEAL_FORMAT)
		return kiln_err(EBADMSG, "sealed object: too short or unknown format");
	len = in_len - KFS_SEAL_OVERHEAD;
	memcpy(tag, in + 1 + KFS_NONCE_LEN + len, KFS_TAG_LEN);
	if (gcm(0, key, in + 1, aad, in + 1 + KFS_NONCE_LEN, len, out, tag) < 0)
		return kiln_err(EBADMSG, "sealed object: authentication failed");
	return 0;
}
