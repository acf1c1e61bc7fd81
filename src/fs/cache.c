/* SPDX-License-Identifier: Apache-2.0 */
/* The storage core's cache of decrypted blocks: a fixed set of slots, one per (inode, block) position. */
#include <string.h>

#include "fs/internal.h"

/*
 * A slot holds one version of one block. A file's consecutive blocks take
 * consecutive slots, so a read and its read-ahead window (far fewer blocks
 * than KFS_CACHE_BLOCKS) never evict each other; a rewritten block takes
 * the slot of its old version, which nothing can read any more. A version
 * names one block's content for good, so an entry is never stale.
 */
_Static_assert(2 * KFS_BATCH_MAX + KFS_RA_MAX <= KFS_CACHE_BLOCKS,
	       "a read and its read-ahead window fit in the cache without colliding");

struct kfs_cblk *kfs_cache_slot(struct kfs *fs, uint64_t ino, uint64_t blk)
{
	return &fs->cache[(ino * 0x9E3779B97F4A7C15ull + blk) % KFS_CACHE_BLOCKS];
}

const uint8_t *kfs_cache_find(struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver)
{
	struct kfs_cblk *c = kfs_cache_slot(fs, ino, blk);

	return c->ver == ver && c->ino == ino && c->blk == blk ? c->data : NULL;
}

void kfs_cache_put(struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver, const uint8_t *data,
		   size_t len)
{
	struct kfs_cblk *c = kfs_cache_slot(fs, ino, blk);

	c->ino = ino;
	c->blk = blk;
	c->ver = ver;
	memcpy(c->data, data, len);
	memset(c->data + len, 0, KFS_BLOCK - len);
}

void kfs_cache_forget(struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver)
{
	struct kfs_cblk *c = kfs_cache_slot(fs, ino, blk);

	if (c->ver == ver && c->ino == ino && c->blk == blk)
		c->ver = 0;
}
