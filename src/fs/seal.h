/* SPDX-License-Identifier: Apache-2.0 */
/* AES-256-GCM sealing of objects and HKDF key derivation for the storage core. */
#ifndef KILN_FS_SEAL_H
#define KILN_FS_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define KFS_KEY_LEN 32
#define KFS_NONCE_LEN 12
#define KFS_TAG_LEN 16
#define KFS_SEAL_OVERHEAD (1 + KFS_NONCE_LEN + KFS_TAG_LEN)
#define KFS_UUID_LEN 16

/* What an object is; bound into its associated data so types never mix. */
enum kfs_obj_kind {
	KFS_OBJ_ROOT = 1,
	KFS_OBJ_INODE = 2,
	KFS_OBJ_BLOCK = 3,
	KFS_OBJ_WRAP = 4,
	KFS_OBJ_JOURNAL = 5, /* ino: the root's gen, blk: its nonce stamp, ver: the record's number */
	KFS_OBJ_ROOT_PART = 6, /* ino: the root's gen, blk: its part id, ver: the part's number */
	KFS_OBJ_META_PART = 7, /* ino: the object's random part id, blk: the part's number, ver: how many */
	KFS_OBJ_DIR_PAGE = 8,  /* ino: the directory, blk: the page's key, ver: the page's version */
};

/* The associated data every sealed object carries (never stored: recomputed). */
struct kfs_aad {
	uint8_t uuid[KFS_UUID_LEN]; /* the volume */
	uint8_t kind;		    /* enum kfs_obj_kind */
	uint64_t ino, blk, ver;
};

/* HKDF-SHA256(ikm, salt, info || ino as 8 bytes BE) into out (KFS_KEY_LEN). */
int kfs_hkdf(const uint8_t *ikm, const uint8_t *salt, size_t salt_len, const char *info,
	     uint64_t ino, uint8_t *out) KILN_MUST;

/*
 * HKDF-SHA256 (RFC 5869) with its Extract step done once: an HMAC context
 * keyed with the PRK, re-initialised for each Expand of one block
 * (HMAC(PRK, info || 0x01), KFS_KEY_LEN bytes). One thread at a time.
 */
struct kfs_kdf;
int kfs_kdf_new(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
		struct kfs_kdf **out) KILN_MUST;
int kfs_kdf_expand(struct kfs_kdf *k, const uint8_t *info, size_t info_len, uint8_t *out) KILN_MUST;
/* Wipes the PRK; NULL is fine. */
void kfs_kdf_free(struct kfs_kdf *k);

/* Seal pt into out (pt_len + KFS_SEAL_OVERHEAD bytes) with a fresh random nonce. */
int kfs_seal(const uint8_t *key, const struct kfs_aad *aad, const void *pt, size_t pt_len,
	     uint8_t *out) KILN_MUST;
/*
 * Open in (in_len bytes) into out (in_len - KFS_SEAL_OVERHEAD bytes).
 * -EBADMSG when it is too short, of another format or fails authentication.
 */
int kfs_open_sealed(const uint8_t *key, const struct kfs_aad *aad, const uint8_t *in,
		    size_t in_len, uint8_t *out) KILN_MUST;

/*
 * A mount's sealing state, made once per mount instead of per object: the
 * volume key's HKDF ready to expand, two AES-GCM contexts kept keyed (the
 * metadata key's and the last file key's; another key re-keys the one used
 * less lately) and nonces drawn in bulk (fs/nonces.h). Same bytes as the
 * functions above: kfs_sealer_key(s, info, ino) is kfs_hkdf(vkey, uuid,
 * KFS_UUID_LEN, info, ino), and what one seals the other opens. One thread
 * at a time (the core's).
 */
struct kfs_sealer;
int kfs_sealer_new(const uint8_t *vkey, const uint8_t *uuid, struct kfs_sealer **out) KILN_MUST;
int kfs_sealer_key(struct kfs_sealer *s, const char *info, uint64_t ino, uint8_t *out) KILN_MUST;
int kfs_sealer_seal(struct kfs_sealer *s, const uint8_t *key, const struct kfs_aad *aad,
		    const void *pt, size_t pt_len, uint8_t *out) KILN_MUST;
int kfs_sealer_open(struct kfs_sealer *s, const uint8_t *key, const struct kfs_aad *aad,
		    const uint8_t *in, size_t in_len, uint8_t *out) KILN_MUST;
/* Wipes the keys, the cipher contexts and the unused nonces; NULL is fine. */
void kfs_sealer_free(struct kfs_sealer *s);

#endif
