/* SPDX-License-Identifier: Apache-2.0 */
/* The volume root on the parent: one object, or a head and parts when the map outgrows one object. */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "fs/internal.h"

/*
 * A root lists 16 bytes per live inode and an object holds at most
 * KFS_OBJ_MAX bytes, so a root in one object caps a volume at some 65 000
 * inodes. A larger map goes in parts r-GEN-K, each sealed under the
 * metadata key with the root's gen, K and a random part id (pid) in its
 * associated data; the root names how many parts and which pid. So a part
 * cannot be moved to another place, nor taken from another root, even one
 * of the same gen (a rollback makes the next commits write that gen again,
 * in another history). Parts are made durable before the root: a crash
 * leaves the old root with its own parts, which are deleted only after the
 * new root is durable.
 */

static void part_aad(const struct kfs *fs, uint64_t gen, uint64_t pid, uint32_t k,
		     struct kfs_aad *aad)
{
	kfs_aad_of(fs, KFS_OBJ_ROOT_PART, gen, pid, k, aad);
}

static void root_aad(const struct kfs *fs, struct kfs_aad *aad)
{
	kfs_aad_of(fs, KFS_OBJ_ROOT, 0, 0, 0, aad);
}

static void retire_parts(struct kfs *fs, uint64_t gen, uint32_t nparts)
{
	char id[KFS_ID_MAX + 1];

	for (uint32_t k = 0; k < nparts; k++) {
		kfs_root_part_id(gen, k, id);
		if (kfs_retire(fs, id, 0) < 0)
			break; /* out of memory: the parts are leaked, nothing is lost */
	}
}

static int put_parts(struct kfs *fs, const struct kfs_root *r)
{
	char id[KFS_ID_MAX + 1];
	struct kfs_aad aad;
	int rc = 0;

	for (uint32_t k = 0; k < r->nparts && rc == 0; k++) {
		uint64_t first = (uint64_t)k * fs->part_pairs;
		uint32_t count = (uint32_t)(r->n - first < fs->part_pairs ? r->n - first : fs->part_pairs);
		uint8_t *pt = NULL;
		size_t len;

		rc = kfs_root_part_encode(r->map + 2 * first, count, &pt, &len);
		kfs_root_part_id(r->gen, k, id);
		part_aad(fs, r->gen, r->pid, k, &aad);
		if (rc == 0)
			rc = kfs_seal_put(fs, &aad, id, pt, len, 0, NULL);
		free(pt);
	}
	return rc == 0 ? fs->st->sync(fs->st) : rc;
}

int kfs_root_store(struct kfs *fs, struct kfs_root *r)
{
	uint32_t old_parts = fs->root_parts;
	struct kfs_aad aad;
	uint8_t *pt = NULL;
	size_t len;
	int rc = 0;

	r->nparts = r->n <= fs->part_pairs ? 0 : (uint32_t)((r->n + fs->part_pairs - 1) / fs->part_pairs);
	if (r->nparts > KFS_ROOT_PARTS_MAX)
		return kiln_err(EFBIG, "volume root: %llu inodes is more than a volume can hold",
				(unsigned long long)r->n);
	if (r->nparts && RAND_bytes((uint8_t *)&r->pid, sizeof(r->pid)) != 1)
		return kiln_err(EIO, "volume root: no randomness");
	if (r->nparts)
		rc = put_parts(fs, r);
	if (rc == 0)
		rc = kfs_root_encode(r, &pt, &len);
	root_aad(fs, &aad);
	if (rc == 0)
		rc = kfs_seal_put(fs, &aad, KFS_ROOT_ID, pt, len, KFS_PUT_DURABLE, &fs->root_stamp);
	free(pt);
	if (rc < 0)
		return rc; /* parts written for it are leaked; the old root still names its own */
	fs->root_parts = r->nparts;
	retire_parts(fs, r->gen - 1, old_parts);
	return 0;
}

void kfs_root_retire_leftovers(struct kfs *fs)
{
	if (fs->left_gen == 0)
		return;
	kfs_journal_retire(fs, fs->left_gen, fs->left_jseq);
	retire_parts(fs, fs->left_gen, fs->left_parts);
	fs->left_gen = 0;
}

/* Part k of root r: its pairs go after the *got before it (each part says how many it has). */
static int fetch_part(struct kfs *fs, const struct kfs_root *r, uint32_t k, uint64_t *got)
{
	char id[KFS_ID_MAX + 1];
	struct kfs_aad aad;
	uint8_t *pt = NULL;
	size_t len = 0;
	uint32_t count = 0, room = (uint32_t)(r->n - *got < KFS_ROOT_PART_PAIRS ? r->n - *got
										: KFS_ROOT_PART_PAIRS);
	int rc;

	kfs_root_part_id(r->gen, k, id);
	part_aad(fs, r->gen, r->pid, k, &aad);
	rc = kfs_get_opened(fs, &aad, id, &pt, &len, NULL);
	if (rc < 0 && rc != -ENOENT && rc != -EBADMSG) {
		free(pt);
		return rc; /* the store's own failure */
	}
	if (rc == 0)
		rc = kfs_root_part_decode(pt, len, r->map + 2 * *got, room, &count);
	free(pt);
	if (rc == 0 && count == 0)
		rc = -EBADMSG;
	if (rc < 0)
		return kfs_integrity(fs, rc, "volume root part", id);
	*got += count;
	return 0;
}

int kfs_root_fetch(struct kfs *fs, struct kfs_root *r)
{
	struct kfs_aad aad;
	uint8_t *pt = NULL;
	size_t len = 0;
	uint64_t got = 0;
	int rc;

	root_aad(fs, &aad);
	rc = kfs_get_opened(fs, &aad, KFS_ROOT_ID, &pt, &len, &fs->root_stamp);
	if (rc < 0 && rc != -ENOENT && rc != -EBADMSG) {
		free(pt);
		return rc;
	}
	if (rc == 0)
		rc = kfs_root_decode(pt, len, r);
	free(pt);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return kfs_integrity(fs, rc, "volume root", KFS_ROOT_ID);
	if (r->nparts) {
		r->map = malloc(r->n * 16);
		if (!r->map)
			return kiln_err(ENOMEM, "volume root: out of memory");
		for (uint32_t k = 0; k < r->nparts && rc == 0; k++)
			rc = fetch_part(fs, r, k, &got);
		if (rc == 0 && got != r->n)
			rc = kfs_integrity(fs, -EBADMSG, "volume root (parts short of its inodes)",
					   KFS_ROOT_ID);
		if (rc < 0) {
			free(r->map);
			r->map = NULL;
			return rc;
		}
	}
	fs->root_parts = r->nparts;
	fs->left_gen = r->gen > 1 ? r->gen - 1 : 0;
	fs->left_jseq = r->prev_jseq;
	fs->left_parts = r->prev_parts;
	return 0;
}
