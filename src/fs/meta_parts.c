/* SPDX-License-Identifier: Apache-2.0 */
/* Inode objects larger than one store object: a head and parts ID.K, each sealed and bound to the head. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "fs/internal.h"

/*
 * A store object is at most KFS_OBJ_MAX bytes, and a directory's inode
 * lists all its entries (some 25 000 of them fill one object). A larger
 * plaintext is cut in chunks: the head, under the object's own id and
 * associated data (so bound to its inode and version as any inode), holds
 *   "KPRT" | be64 total length | be32 parts | be64 part id | the first chunk
 * and part K (1 .. parts - 1) is object ID.K holding chunk K, sealed with
 * the random part id, K and the number of parts in its associated data:
 * a part cannot be moved, dropped, or taken from another write, and the
 * head is what the root's version names. Every id of an inode version is
 * new, so parts are never overwritten in place, and they are put before
 * the head, in the same commit as it.
 */
#define HEAD_LEN KFS_META_HEAD_LEN
#define CHUNK ((size_t)KFS_OBJ_MAX - KFS_SEAL_OVERHEAD)
#define FIRST (CHUNK - HEAD_LEN)

static uint32_t parts_for(size_t total)
{
	return (uint32_t)(1 + (total - FIRST + CHUNK - 1) / CHUNK);
}

static void part_id(const char *id, uint32_t k, char out[KFS_ID_MAX + 1])
{
	snprintf(out, KFS_ID_MAX + 1, "%s.%x", id, k);
}

static void part_aad(const struct kfs *fs, uint64_t pid, uint32_t k, uint32_t parts,
		     struct kfs_aad *aad)
{
	kfs_aad_of(fs, KFS_OBJ_META_PART, pid, k, parts, aad);
}

int kfs_meta_put(struct kfs *fs, const struct kfs_aad *aad, const char *id, const uint8_t *pt,
		 size_t len, uint32_t *parts)
{
	char pidstr[KFS_ID_MAX + 1];
	struct kfs_aad pa;
	uint64_t pid;
	uint8_t *head, *fields = NULL;
	size_t fl;
	int rc = 0;

	*parts = 0;
	if (len <= CHUNK)
		return kfs_seal_put(fs, aad, id, pt, len, KFS_SEAL_META, NULL);
	uint32_t n = parts_for(len);
	if (len > KFS_INODE_MAX || RAND_bytes((uint8_t *)&pid, sizeof(pid)) != 1)
		return kiln_err(len > KFS_INODE_MAX ? EFBIG : EIO, "object %s: %s", id,
				len > KFS_INODE_MAX ? "too large to store" : "no randomness");
	for (uint32_t k = 1; k < n && rc == 0; k++) {
		size_t at = FIRST + (size_t)(k - 1) * CHUNK;
		part_id(id, k, pidstr);
		part_aad(fs, pid, k, n, &pa);
		rc = kfs_seal_put(fs, &pa, pidstr, pt + at, len - at < CHUNK ? len - at : CHUNK,
				  KFS_SEAL_META, NULL);
	}
	if (rc == 0)
		rc = kfs_meta_head_encode(len, n, pid, &fields, &fl);
	head = rc == 0 ? malloc(CHUNK) : NULL;
	if (rc == 0 && !head)
		rc = kiln_err(ENOMEM, "object %s: out of memory", id);
	if (rc < 0) {
		free(fields);
		return rc; /* parts already put are left for a sweep, as any object of a failed commit */
	}
	memcpy(head, fields, HEAD_LEN);
	free(fields);
	memcpy(head + HEAD_LEN, pt, FIRST);
	rc = kfs_seal_put(fs, aad, id, head, CHUNK, KFS_SEAL_META, NULL);
	free(head);
	if (rc == 0)
		*parts = n - 1;
	return rc;
}

/* Part k of n into out (exactly want bytes): 0, or -EIO once logged. */
static int get_part(struct kfs *fs, const char *id, uint64_t pid, uint32_t k, uint32_t n,
		    uint8_t *out, size_t want)
{
	char pidstr[KFS_ID_MAX + 1];
	struct kfs_aad pa;
	uint8_t *pt = NULL;
	size_t len = 0;
	int rc;

	part_id(id, k, pidstr);
	part_aad(fs, pid, k, n, &pa);
	rc = kfs_get_opened(fs, &pa, pidstr, &pt, &len, NULL);
	if (rc == 0 && len != want)
		rc = -EBADMSG;
	if (rc == 0)
		memcpy(out, pt, want);
	free(pt);
	if (rc == -ENOENT || rc == -EBADMSG)
		return kfs_integrity(fs, rc, "object part", pidstr);
	return rc;
}

int kfs_meta_head_parse(const uint8_t *head, size_t len, uint64_t *total, uint32_t *parts,
			uint64_t *pid)
{
	int rc = kfs_meta_head_decode(head, len, total, parts, pid);

	if (rc <= 0)
		return rc;
	if (len != CHUNK || *total <= CHUNK || *total > KFS_INODE_MAX || *parts != parts_for(*total))
		return -EBADMSG;
	return 1;
}

/* The head's plaintext (len bytes) names parts: assemble them all into *pt. */
static int assemble(struct kfs *fs, const char *id, uint8_t *head, size_t len, uint8_t **pt,
		    size_t *total, uint32_t *parts)
{
	uint64_t t, pid;
	uint32_t n;
	uint8_t *all;
	int rc = kfs_meta_head_parse(head, len, &t, &n, &pid);

	if (rc < 0)
		return rc;
	rc = 0;
	all = malloc(t);
	if (!all)
		return kiln_err(ENOMEM, "object %s: out of memory", id);
	memcpy(all, head + HEAD_LEN, FIRST);
	for (uint32_t k = 1; k < n && rc == 0; k++) {
		size_t at = FIRST + (size_t)(k - 1) * CHUNK;
		rc = get_part(fs, id, pid, k, n, all + at, t - at < CHUNK ? t - at : CHUNK);
	}
	if (rc < 0) {
		free(all);
		return rc;
	}
	*pt = all;
	*total = t;
	*parts = n - 1;
	return 0;
}

int kfs_meta_get(struct kfs *fs, const struct kfs_aad *aad, const char *id, uint8_t **pt,
		 size_t *len, uint32_t *parts)
{
	uint8_t *head = NULL;
	size_t hl = 0;
	int rc = kfs_get_opened(fs, aad, id, &head, &hl, NULL);

	uint64_t t, pid;
	uint32_t n;

	*parts = 0;
	if (rc < 0 || kfs_meta_head_decode(head, hl, &t, &n, &pid) == 0) { /* one object: as it is */
		*pt = head;
		*len = hl;
		return rc;
	}
	rc = assemble(fs, id, head, hl, pt, len, parts);
	free(head);
	if (rc < 0) {
		*pt = NULL;
		*len = 0;
	}
	return rc;
}

int kfs_meta_retire(struct kfs *fs, const char *id, uint64_t ver, uint32_t parts)
{
	char pidstr[KFS_ID_MAX + 1];
	int rc = kfs_retire(fs, id, ver);

	for (uint32_t k = 1; k <= parts && rc == 0; k++) {
		part_id(id, k, pidstr);
		rc = kfs_retire(fs, pidstr, ver);
	}
	return rc;
}
