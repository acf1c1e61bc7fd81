/* SPDX-License-Identifier: Apache-2.0 */
/* The storage core's deferred read-modify-write: a small write waits in the cache for its old block. */
#include <string.h>

#include "fs/internal.h"
#include "util/secure.h"

/*
 * How this works. A write of part of a 32 KiB block must keep the block's
 * other bytes, which are in the stored block: fetching it first costs the
 * write a round trip to the parent. Instead, a write within one stored
 * block that is not cached, covering whole 4 KiB pieces (what the kernel's
 * writeback sends: whole pages), is copied into the block's cache slot,
 * which remembers which pieces it holds (valid) and that it is dirty, and
 * returns. The slot keeps the version the inode still names: the block is
 * sealed later, under a new version allocated then, when it must be:
 *
 * - every piece written (sequential small writes): sealed at once, no get;
 * - a commit, the unmount, or a slot wanted by another block (eviction):
 *   every dirty slot is sealed together, the gets of their old versions
 *   sent as one batch of gets in flight (fs/inflight.c), so the parent
 *   reads them together and each is merged (old under new) as it comes;
 * - a read of a piece not held, a write that does not cover whole pieces
 *   or a truncate through the block: that block is fetched and merged in
 *   the request's own round trip (fs/data.c) and is then whole.
 *
 * A block whose old version does not authenticate (or is missing) is
 * never sealed: the new bytes would launder a tampered block. Its fetch
 * in a round trip of its own logs the object, the block is dropped (it
 * keeps naming its old version) and the error waits for the next commit,
 * which fails with it, as a put refused after its write returned does
 * (fs/pipeline.c). A hole needs no get (zeros): such writes are merged
 * at once as before; so are pieces past the end of the file, which are
 * zeros in any stored block (a truncate rewrites the block at the new end).
 */

/* Bytes of block blk the file holds: pieces from here on are zeros in the stored block. */
static uint64_t stored_end(const struct kfs_inode *n, uint64_t blk)
{
	uint64_t start = blk * KFS_BLOCK;

	return n->a.size > start ? n->a.size - start : 0;
}

/* The pieces of block blk wholly past the end of the file. */
static uint8_t past_end(const struct kfs_inode *n, uint64_t blk)
{
	uint64_t end = stored_end(n, blk);
	uint8_t m = 0;

	for (size_t p = 0; p < KFS_PIECES; p++)
		if (p * KFS_PIECE >= end)
			m |= (uint8_t)(1u << p);
	return m;
}

/* The pieces a write of len bytes at byte in of block blk makes whole: covered, or up to the end. */
static uint8_t covered(const struct kfs_inode *n, uint64_t blk, size_t in, size_t len)
{
	uint64_t end = stored_end(n, blk);
	uint8_t m = 0;

	for (size_t p = 0; p < KFS_PIECES; p++) {
		uint64_t lo = p * KFS_PIECE, hi = lo + KFS_PIECE;
		if (in <= lo && in + len >= (end < hi && end > lo ? end : hi))
			m |= (uint8_t)(1u << p);
	}
	return m;
}

/* Does slot c hold a deferred write into the version of blk that n names now? */
static bool holds(const struct kfs_cblk *c, const struct kfs_inode *n, uint64_t blk)
{
	return c->dirty && c->ino == n->ino && c->blk == blk && c->ver == n->blk[blk];
}

bool kfs_write_defers(struct kfs *fs, const struct kfs_inode *n, uint64_t blk, size_t in,
		      size_t len)
{
	uint64_t ver = blk < n->nblk ? n->blk[blk] : 0;
	struct kfs_cblk *c;
	uint8_t have;

	if (!ver || len == 0 || in + len > KFS_BLOCK || kfs_cache_find(fs, n->ino, blk, ver))
		return false; /* a hole, or cached whole: merged at once without a round trip */
	c = kfs_cache_slot(fs, n->ino, blk);
	have = (holds(c, n, blk) ? c->valid : past_end(n, blk)) | covered(n, blk, in, len);
	return (kfs_pieces(0, in, len) & ~have) == 0;
}

/* The slot (whole: every piece written) sealed as a new version of its block, and clean. */
static int seal_slot(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, struct kfs_cblk *c,
		     size_t min_len)
{
	const uint8_t *pt = c->data;
	size_t len = kfs_block_len(c->blk, n->a.size);
	int rc;

	if (len < min_len)
		len = min_len;
	rc = kfs_write_blocks(fs, n, key, c->blk, 1, &pt, &len);
	n->dirty |= rc == 0;
	return rc;
}

int kfs_write_defer(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, uint64_t blk,
		    size_t in, const uint8_t *data, size_t len)
{
	struct kfs_cblk *c = kfs_cache_slot(fs, n->ino, blk);
	int rc;

	if (!kfs_write_defers(fs, n, blk, in, len))
		return 0;
	if (!holds(c, n, blk)) {
		if (kfs_cache_taken(fs, n->ino, blk))
			(void)!kfs_flush_deferred(fs); /* a failure is that block's, kept for the commit */
		/* zeros: the tail of a piece written up to the end of the file stays zero */
		kfs_cache_zero_past(c, 0);
		c->ino = n->ino;
		c->blk = blk;
		c->ver = n->blk[blk];
		c->valid = past_end(n, blk);
		c->dirty = true;
	}
	memcpy(c->data + in, data, len);
	kfs_cache_written_to(c, in + len);
	c->valid |= covered(n, blk, in, len);
	if (c->valid != KFS_PIECES_ALL)
		return 1;
	rc = seal_slot(fs, n, key, c, in + len);
	return rc < 0 ? rc : 1;
}

/* A deferred write that cannot be stored: the block keeps its old version, the commit is told. */
static int drop(struct kfs *fs, struct kfs_cblk *c, int rc)
{
	c->dirty = false;
	c->ver = 0;
	if (fs->put_err == 0)
		fs->put_err = rc;
	return rc;
}

/* Seal one slot of a flush: its old block merged under it first if the batch's get did not bring it. */
static int flush_one(struct kfs *fs, struct kfs_cblk *c)
{
	struct kfs_inode *n = kfs_ifind(fs, c->ino);
	uint8_t key[KFS_KEY_LEN];
	int rc;

	if (!kfs_cache_pending(fs, c)) { /* rewritten, truncated or repaired since */
		c->dirty = false;
		return 0;
	}
	rc = kfs_file_key(fs, n->ino, key);
	/* the request's own round trip: a failure is logged, naming the object */
	if (rc == 0 && c->valid != KFS_PIECES_ALL)
		rc = kfs_fetch_blocks(fs, n, key, c->blk, c->blk + 1, c->blk * KFS_BLOCK, KFS_BLOCK);
	if (rc == 0 && (!kfs_cache_pending(fs, c) || c->valid != KFS_PIECES_ALL))
		rc = kiln_err(EIO, "block %llu of inode %llu: its old version changed under a deferred write",
			      (unsigned long long)c->blk, (unsigned long long)c->ino);
	if (rc == 0)
		rc = seal_slot(fs, n, key, c, 0);
	kiln_wipe(key, sizeof(key));
	return rc < 0 ? drop(fs, c, rc) : 0;
}

/* Up to KFS_GET_AHEAD dirty slots from slot *at on (stale ones cleaned on the way). */
static size_t collect(struct kfs *fs, size_t *at, struct kfs_cblk **out)
{
	size_t m = 0;

	for (; *at < KFS_CACHE_BLOCKS && m < KFS_GET_AHEAD; (*at)++) {
		struct kfs_cblk *c = &fs->cache[*at];
		if (!c->dirty)
			continue;
		if (kfs_cache_pending(fs, c))
			out[m++] = c;
		else
			c->dirty = false;
	}
	return m;
}

/* The gets of the old versions of the batch's partly written blocks, in flight together, then taken. */
static void fetch_olds(struct kfs *fs, struct kfs_cblk *const *c, size_t m)
{
	struct kfs_want w[KFS_GET_AHEAD];
	size_t k = 0;

	for (size_t i = 0; i < m; i++)
		if (c[i]->valid != KFS_PIECES_ALL)
			w[k++] = (struct kfs_want){ kfs_ifind(fs, c[i]->ino), c[i]->blk };
	kfs_gets_send(fs, w, k);
	for (size_t i = 0; i < k; i++)
		kfs_gets_take(fs, w[i].n->ino, w[i].blk, w[i].blk + 1);
}

int kfs_flush_deferred(struct kfs *fs)
{
	struct kfs_cblk *batch[KFS_GET_AHEAD];
	size_t at = 0, m;
	int first = 0, rc;

	while ((m = collect(fs, &at, batch)) > 0) {
		fetch_olds(fs, batch, m);
		for (size_t i = 0; i < m; i++)
			if ((rc = flush_one(fs, batch[i])) < 0 && first == 0)
				first = rc;
	}
	return first;
}

bool kfs_deferred(struct kfs *fs)
{
	for (size_t i = 0; i < KFS_CACHE_BLOCKS; i++)
		if (fs->cache[i].dirty && kfs_cache_pending(fs, &fs->cache[i]))
			return true;
	return false;
}
