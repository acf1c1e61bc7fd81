/* SPDX-License-Identifier: Apache-2.0 */
/* The storage core's cache of decrypted blocks: a fixed set of slots, one per (inode, block) position. */
#include <string.h>

#include "fs/internal.h"

/*
 * A slot holds one version of one block. A file's consecutive blocks take
 * consecutive slots, so a read and its read-ahead window (far fewer blocks
 * than KFS_CACHE_BLOCKS) never evict each other; a rewritten block takes
 * the slot of its old version, which nothing can read any more. A version
 * names one block's content for good, so an entry is never stale. A slot
 * holding a deferred write (fs/rmw.c) is not filled over: it is sealed
 * first, or the fill (a hint) is skipped.
 */
_Static_assert(2 * KFS_BATCH_MAX + KFS_RA_MAX <= KFS_CACHE_BLOCKS,
	       "a read and its read-ahead window fit in the cache without colliding");

struct kfs_cblk *kfs_cache_slot(struct kfs *fs, uint64_t ino, uint64_t blk)
{
	return &fs->cache[(ino * 0x9E3779B97F4A7C15ull + blk) % KFS_CACHE_BLOCKS];
}

const uint8_t *kfs_cache_pieces(struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver,
				uint8_t need)
{
	struct kfs_cblk *c = kfs_cache_slot(fs, ino, blk);

	return c->ver == ver && c->ino == ino && c->blk == blk && (c->valid & need) == need
		       ? c->data
		       : NULL;
}

const uint8_t *kfs_cache_find(struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver)
{
	return kfs_cache_pieces(fs, ino, blk, ver, KFS_PIECES_ALL);
}

bool kfs_cache_pending(struct kfs *fs, const struct kfs_cblk *c)
{
	struct kfs_inode *n;

	if (!c->dirty || c->ver == 0)
		return false;
	/* rewritten whole, truncated or deleted since: nothing will read these bytes */
	n = kfs_ifind(fs, c->ino);
	return n && n->loaded && c->blk < n->nblk && n->blk[c->blk] == c->ver;
}

bool kfs_cache_taken(struct kfs *fs, uint64_t ino, uint64_t blk)
{
	struct kfs_cblk *c = kfs_cache_slot(fs, ino, blk);

	return (c->ino != ino || c->blk != blk) && kfs_cache_pending(fs, c);
}

uint8_t kfs_pieces(uint64_t blk, uint64_t off, size_t len)
{
	uint64_t start = blk * KFS_BLOCK, end = start + KFS_BLOCK;
	uint64_t from = off > start ? off : start, to = off + len < end ? off + len : end;

	if (len == 0 || from >= to)
		return 0;
	return (uint8_t)(((1u << ((to - start - 1) / KFS_PIECE + 1)) - 1) &
			 ~((1u << ((from - start) / KFS_PIECE)) - 1));
}

void kfs_cache_put(struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver, const uint8_t *data,
		   size_t len)
{
	struct kfs_cblk *c = kfs_cache_slot(fs, ino, blk);

	if (kfs_cache_taken(fs, ino, blk))
		return; /* a cache fill only saves a fetch; the deferred write must stay */
	c->ino = ino;
	c->blk = blk;
	c->ver = ver;
	c->valid = KFS_PIECES_ALL;
	c->dirty = false;
	if (c->data != data) /* a dirty slot sealed from its own bytes */
		memcpy(c->data, data, len);
	kfs_cache_zero_past(c, len);
}

void kfs_cache_zero_past(struct kfs_cblk *c, size_t len)
{
	if (c->zero_from > len)
		memset(c->data + len, 0, c->zero_from - len);
	c->zero_from = (uint32_t)len;
}

void kfs_cache_written_to(struct kfs_cblk *c, size_t end)
{
	if (c->zero_from < end)
		c->zero_from = (uint32_t)end;
}

void kfs_cache_forget(struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver)
{
	struct kfs_cblk *c = kfs_cache_slot(fs, ino, blk);

	if (c->ver == ver && c->ino == ino && c->blk == blk) {
		c->ver = 0;
		c->dirty = false;
	}
}
