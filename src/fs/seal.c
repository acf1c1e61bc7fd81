/* SPDX-License-Identifier: Apache-2.0 */
/* AES-256-GCM sealing and HKDF for the storage core (OpenSSL EVP), one-shot and per mount. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fs/nonces.h"
#include "fs/seal.h"
#include "util/secure.h"

/*
 * How this works. An object is format byte, random nonce, AES-256-GCM
 * ciphertext, tag; its associated data (struct kfs_aad) is recomputed, never
 * stored. Keys come from the volume key by HKDF-SHA256. Per object the
 * arithmetic is small (a 1-byte file's seal is a few AES blocks); what cost
 * was OpenSSL's setup: fetching the algorithm, building an EVP_PKEY HKDF and
 * a cipher context, and a RAND_bytes call, each time. A mount's sealer
 * (struct kfs_sealer) does each of those once: the HKDF Extract, the fetch,
 * the cipher contexts (re-keyed only when the key changes) and nonces drawn
 * a page at a time.
 */

#define SEAL_FORMAT 1
#define AAD_LEN (4 + KFS_UUID_LEN + 1 + 24)
#define INFO_MAX 64

struct kfs_kdf {
	EVP_MAC_CTX *prk; /* HMAC-SHA256 keyed with the PRK */
};

/* A cipher context and the key it holds (keyed: the key was set and nothing failed since). */
struct keyed_gcm {
	EVP_CIPHER_CTX *c;
	uint8_t key[KFS_KEY_LEN];
	bool keyed;
};

struct kfs_sealer {
	struct kfs_kdf *kdf;
	EVP_CIPHER *aes;
	struct keyed_gcm gcm[2];
	unsigned rekey; /* the slot a new key takes: the one used less lately */
	struct kfs_nonces nonces;
};

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* info || ino (8 bytes BE) into out; 0 when info is too long. */
static size_t info_bytes(const char *info, uint64_t ino, uint8_t out[INFO_MAX])
{
	size_t il = strlen(info);

	if (il > INFO_MAX - 8)
		return 0;
	memcpy(out, info, il);
	be64(out + il, ino);
	return il + 8;
}

/* A new HMAC-SHA256 context keyed with key (a zero-length key is HMAC's zero block). */
static EVP_MAC_CTX *hmac_new(const uint8_t *key, size_t key_len)
{
	static const uint8_t none[1];
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM p[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
			   OSSL_PARAM_construct_end() };

	EVP_MAC_free(mac); /* the context holds its own reference */
	if (c && EVP_MAC_init(c, key_len ? key : none, key_len, p) <= 0) {
		EVP_MAC_CTX_free(c);
		c = NULL;
	}
	return c;
}

int kfs_kdf_new(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
		struct kfs_kdf **out)
{
	struct kfs_kdf *k = calloc(1, sizeof(*k));
	EVP_MAC_CTX *ext = hmac_new(salt, salt_len);
	uint8_t prk[KFS_KEY_LEN];
	size_t n = 0;
	int ok = k && ext && EVP_MAC_update(ext, ikm, ikm_len) > 0 &&
		 EVP_MAC_final(ext, prk, &n, sizeof(prk)) > 0 && n == sizeof(prk);

	EVP_MAC_CTX_free(ext);
	if (ok)
		k->prk = hmac_new(prk, sizeof(prk));
	kiln_wipe(prk, sizeof(prk));
	if (!ok || !k->prk) {
		kfs_kdf_free(k);
		return kiln_err(EIO, "hkdf: OpenSSL failed");
	}
	*out = k;
	return 0;
}

int kfs_kdf_expand(struct kfs_kdf *k, const uint8_t *info, size_t info_len, uint8_t *out)
{
	static const uint8_t one = 1; /* T(1) = HMAC(PRK, T(0) || info || 0x01), T(0) empty */
	size_t n = 0;

	/* a NULL key re-initialises the HMAC with the PRK already expanded into it */
	if (EVP_MAC_init(k->prk, NULL, 0, NULL) <= 0 || EVP_MAC_update(k->prk, info, info_len) <= 0 ||
	    EVP_MAC_update(k->prk, &one, 1) <= 0 || EVP_MAC_final(k->prk, out, &n, KFS_KEY_LEN) <= 0 ||
	    n != KFS_KEY_LEN)
		return kiln_err(EIO, "hkdf: OpenSSL failed");
	return 0;
}

void kfs_kdf_free(struct kfs_kdf *k)
{
	if (!k)
		return;
	EVP_MAC_CTX_free(k->prk); /* cleanses the keyed state */
	free(k);
}

int kfs_hkdf(const uint8_t *ikm, const uint8_t *salt, size_t salt_len, const char *info,
	     uint64_t ino, uint8_t *out)
{
	uint8_t inf[INFO_MAX];
	size_t il = info_bytes(info, ino, inf);
	struct kfs_kdf *k;
	int rc;

	if (il == 0)
		return kiln_err(EINVAL, "hkdf: bad context");
	rc = kfs_kdf_new(ikm, KFS_KEY_LEN, salt, salt_len, &k);
	if (rc == 0)
		rc = kfs_kdf_expand(k, inf, il, out);
	kfs_kdf_free(k);
	return rc;
}

static void aad_bytes(const struct kfs_aad *a, uint8_t out[AAD_LEN])
{
	memcpy(out, "kfs1", 4);
	memcpy(out + 4, a->uuid, KFS_UUID_LEN);
	out[4 + KFS_UUID_LEN] = a->kind;
	be64(out + 5 + KFS_UUID_LEN, a->ino);
	be64(out + 13 + KFS_UUID_LEN, a->blk);
	be64(out + 21 + KFS_UUID_LEN, a->ver);
}

/*
 * One GCM pass on c; enc selects seal or open, the tag is written or
 * checked. cipher or key NULL: c keeps the one it has.
 */
static int gcm(EVP_CIPHER_CTX *c, const EVP_CIPHER *cipher, const uint8_t *key, int enc,
	       const uint8_t *nonce, const struct kfs_aad *a, const uint8_t *in, size_t len,
	       uint8_t *out, uint8_t *tag)
{
	uint8_t ad[AAD_LEN];
	int n = 0, ok;

	if (len > INT32_MAX)
		return -EINVAL;
	aad_bytes(a, ad);
	ok = EVP_CipherInit_ex(c, cipher, NULL, key, nonce, enc) > 0 &&
	     EVP_CipherUpdate(c, NULL, &n, ad, sizeof(ad)) > 0 &&
	     (len == 0 || EVP_CipherUpdate(c, out, &n, in, (int)len) > 0) &&
	     (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, KFS_TAG_LEN, tag) > 0) &&
	     EVP_CipherFinal_ex(c, out + (len ? n : 0), &n) > 0 &&
	     (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, KFS_TAG_LEN, tag) > 0);
	return ok ? 0 : -EBADMSG;
}

/* Seal into out, whose nonce (out + 1) is already drawn. */
static int seal_with(EVP_CIPHER_CTX *c, const EVP_CIPHER *cipher, const uint8_t *key,
		     const struct kfs_aad *aad, const void *pt, size_t pt_len, uint8_t *out)
{
	out[0] = SEAL_FORMAT;
	if (gcm(c, cipher, key, 1, out + 1, aad, pt, pt_len, out + 1 + KFS_NONCE_LEN,
		out + 1 + KFS_NONCE_LEN + pt_len) < 0)
		return kiln_err(EIO, "seal: AES-GCM failed");
	return 0;
}

static int open_with(EVP_CIPHER_CTX *c, const EVP_CIPHER *cipher, const uint8_t *key,
		     const struct kfs_aad *aad, const uint8_t *in, size_t in_len, uint8_t *out)
{
	size_t len;
	uint8_t tag[KFS_TAG_LEN];

	if (in_len < KFS_SEAL_OVERHEAD || in[0] != SEAL_FORMAT)
		return kiln_err(EBADMSG, "sealed object: too short or unknown format");
	len = in_len - KFS_SEAL_OVERHEAD;
	memcpy(tag, in + 1 + KFS_NONCE_LEN + len, KFS_TAG_LEN);
	if (gcm(c, cipher, key, 0, in + 1, aad, in + 1 + KFS_NONCE_LEN, len, out, tag) < 0)
		return kiln_err(EBADMSG, "sealed object: authentication failed");
	return 0;
}

int kfs_seal(const uint8_t *key, const struct kfs_aad *aad, const void *pt, size_t pt_len,
	     uint8_t *out)
{
	struct kfs_nonces single = { 0 }; /* no page: one draw */
	EVP_CIPHER_CTX *c;
	int rc = kfs_nonce_take(&single, out + 1);

	if (rc < 0)
		return kiln_err_wrap(rc, "seal");
	c = EVP_CIPHER_CTX_new();
	rc = c ? seal_with(c, EVP_aes_256_gcm(), key, aad, pt, pt_len, out)
	       : kiln_err(ENOMEM, "seal: out of memory");
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int kfs_open_sealed(const uint8_t *key, const struct kfs_aad *aad, const uint8_t *in,
		    size_t in_len, uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int rc = c ? open_with(c, EVP_aes_256_gcm(), key, aad, in, in_len, out)
		   : kiln_err(ENOMEM, "sealed object: out of memory");

	EVP_CIPHER_CTX_free(c);
	return rc;
}

int kfs_sealer_new(const uint8_t *vkey, const uint8_t *uuid, struct kfs_sealer **out)
{
	struct kfs_sealer *s = calloc(1, sizeof(*s));
	int rc = s ? kfs_kdf_new(vkey, KFS_KEY_LEN, uuid, KFS_UUID_LEN, &s->kdf)
		   : kiln_err(ENOMEM, "sealer: out of memory");

	if (rc == 0)
		rc = kfs_nonces_init(&s->nonces);
	if (rc == 0) {
		s->aes = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
		s->gcm[0].c = EVP_CIPHER_CTX_new();
		s->gcm[1].c = EVP_CIPHER_CTX_new();
		/* the cipher is set once; a key and nonce are set per object */
		for (int i = 0; i < 2 && rc == 0; i++)
			if (!s->aes || !s->gcm[i].c ||
			    EVP_CipherInit_ex(s->gcm[i].c, s->aes, NULL, NULL, NULL, 1) <= 0)
				rc = kiln_err(EIO, "sealer: OpenSSL has no AES-256-GCM");
	}
	if (rc < 0) {
		kfs_sealer_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int kfs_sealer_key(struct kfs_sealer *s, const char *info, uint64_t ino, uint8_t *out)
{
	uint8_t inf[INFO_MAX];
	size_t il = info_bytes(info, ino, inf);

	return il ? kfs_kdf_expand(s->kdf, inf, il, out) : kiln_err(EINVAL, "hkdf: bad context");
}

/* The context holding key, or the one used less lately given key: *set is what gcm() must set. */
static struct keyed_gcm *gcm_for(struct kfs_sealer *s, const uint8_t *key, const uint8_t **set)
{
	struct keyed_gcm *g;

	for (unsigned i = 0; i < 2; i++) {
		g = &s->gcm[i];
		if (g->keyed && kiln_ct_memcmp(g->key, key, KFS_KEY_LEN) == 0) {
			s->rekey = i ^ 1;
			*set = NULL;
			return g;
		}
	}
	g = &s->gcm[s->rekey];
	s->rekey ^= 1;
	memcpy(g->key, key, KFS_KEY_LEN);
	g->keyed = true;
	*set = key;
	return g;
}

/* After a failure the context's state is unknown: the next use sets its key again. */
static int gcm_done(struct keyed_gcm *g, int rc)
{
	if (rc < 0) {
		g->keyed = false;
		kiln_wipe(g->key, KFS_KEY_LEN);
	}
	return rc;
}

int kfs_sealer_seal(struct kfs_sealer *s, const uint8_t *key, const struct kfs_aad *aad,
		    const void *pt, size_t pt_len, uint8_t *out)
{
	const uint8_t *set;
	struct keyed_gcm *g;
	int rc = kfs_nonce_take(&s->nonces, out + 1);

	if (rc < 0)
		return kiln_err_wrap(rc, "seal");
	g = gcm_for(s, key, &set);
	return gcm_done(g, seal_with(g->c, NULL, set, aad, pt, pt_len, out));
}

int kfs_sealer_open(struct kfs_sealer *s, const uint8_t *key, const struct kfs_aad *aad,
		    const uint8_t *in, size_t in_len, uint8_t *out)
{
	const uint8_t *set;
	struct keyed_gcm *g = gcm_for(s, key, &set);

	return gcm_done(g, open_with(g->c, NULL, set, aad, in, in_len, out));
}

void kfs_sealer_free(struct kfs_sealer *s)
{
	if (!s)
		return;
	kfs_kdf_free(s->kdf);
	for (int i = 0; i < 2; i++)
		EVP_CIPHER_CTX_free(s->gcm[i].c); /* cleanses the key schedule */
	EVP_CIPHER_free(s->aes);
	kfs_nonces_free(&s->nonces);
	kiln_free_secret(s, sizeof(*s));
}
