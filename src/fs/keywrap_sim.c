/* SPDX-License-Identifier: Apache-2.0 */
/* The sim key wrap: AES-GCM under a key every kiln build can compute (not secret; sim only). */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "util/secure.h"

struct sim_wrap {
	struct kfs_keywrap ops;
	uint8_t kek[KFS_KEY_LEN];
};

static void wrap_aad(const uint8_t *uuid, struct kfs_aad *aad)
{
	memset(aad, 0, sizeof(*aad));
	memcpy(aad->uuid, uuid, KFS_UUID_LEN);
	aad->kind = KFS_OBJ_WRAP;
}

static int sim_wrap(struct kfs_keywrap *w, const uint8_t *uuid, const uint8_t *key, uint8_t **out,
		    size_t *out_len)
{
	struct kfs_aad aad;

	wrap_aad(uuid, &aad);
	*out = malloc(KFS_KEY_LEN + KFS_SEAL_OVERHEAD);
	if (!*out)
		return kiln_err(ENOMEM, "sim key wrap: out of memory");
	*out_len = KFS_KEY_LEN + KFS_SEAL_OVERHEAD;
	return kfs_seal(((struct sim_wrap *)w)->kek, &aad, key, KFS_KEY_LEN, *out);
}

static int sim_unwrap(struct kfs_keywrap *w, const uint8_t *uuid, const uint8_t *in, size_t in_len,
		      uint8_t *key)
{
	struct kfs_aad aad;

	wrap_aad(uuid, &aad);
	if (in_len != KFS_KEY_LEN + KFS_SEAL_OVERHEAD ||
	    kfs_open_sealed(((struct sim_wrap *)w)->kek, &aad, in, in_len, key) < 0) {
		kiln_wipe(key, KFS_KEY_LEN);
		return kiln_err(EKEYREJECTED,
				"volume key: cannot unwrap with the sim key (wrong key for this volume)");
	}
	return 0;
}

static void sim_free(struct kfs_keywrap *w)
{
	kiln_wipe(w, sizeof(struct sim_wrap));
	free(w);
}

int kfs_keywrap_sim(const char *secret, struct kfs_keywrap **out)
{
	struct sim_wrap *s = calloc(1, sizeof(*s));
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int mdlen = 0;
	int ok;

	if (!s || !c) {
		free(s);
		EVP_MD_CTX_free(c);
		return kiln_err(ENOMEM, "sim key wrap: out of memory");
	}
	snprintf(s->ops.name, sizeof(s->ops.name), "sim");
	s->ops.wrap = sim_wrap;
	s->ops.generate = NULL;
	s->ops.unwrap = sim_unwrap;
	s->ops.free = sim_free;
	ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) > 0 &&
	     EVP_DigestUpdate(c, "kiln sim volume wrapping key v1", 31) > 0 &&
	     (!secret || EVP_DigestUpdate(c, secret, strlen(secret)) > 0) &&
	     EVP_DigestFinal_ex(c, s->kek, &mdlen) > 0 && mdlen == KFS_KEY_LEN;
	EVP_MD_CTX_free(c);
	if (!ok) {
		sim_free(&s->ops);
		return kiln_err(EIO, "sim key wrap: SHA-256 failed");
	}
	*out = &s->ops;
	return 0;
}
