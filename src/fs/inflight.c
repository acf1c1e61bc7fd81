/* SPDX-License-Identifier: Apache-2.0 */
/* The storage core's block gets in flight: sent ahead of need, answers taken in channel order. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/internal.h"
#include "util/secure.h"

/*
 * How this works. A get sent ahead (read-ahead, a frontend's prefetch)
 * does not wait: kilnd reads and sends the block while the enclave copies
 * the last one to the app. Each get in flight is a slot of a ring (oldest
 * first) with the block's version and a room of its own in fs->ahead for
 * the sealed answer; the channel client reads the answer into that room
 * whenever it reads the replies in front of a later one. The core takes
 * answers in channel order, when a request needs one of those blocks or
 * the ring is full, and opens each with the key and AAD of the version it
 * asked for, into the block's cache slot, only if the inode still names
 * that version: a block rewritten, truncated or deleted since is not
 * cached (a version names one content for good, so what was asked for is
 * never newer than the inode, and an older one is dropped). An answer that
 * fails (missing, forged, a put of that version that failed) is dropped
 * without a word: the block is not cached, so a read of it fetches it in
 * its own round trip, which reports the failure (and, for a put in flight
 * that failed, reaps and repairs it first, fs/pipeline.c). Nothing here
 * can make a read return other bytes than a fetch in its own round trip.
 */

static size_t ring_at(const struct kfs *fs, size_t i)
{
	return (fs->getf_at + i) % KFS_GET_AHEAD;
}

bool kfs_get_in_flight(const struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver)
{
	for (size_t i = 0; i < fs->ngetf; i++) {
		const struct kfs_getf *g = &fs->getf[ring_at(fs, i)];
		if (g->ino == ino && g->blk == blk && g->ver == ver)
			return true;
	}
	return false;
}

/* Is the answer of g still the version its inode names for that block? */
static bool still_named(struct kfs *fs, const struct kfs_getf *g)
{
	struct kfs_inode *n = kfs_ifind(fs, g->ino);

	return n && n->loaded && g->blk < n->nblk && n->blk[g->blk] == g->ver;
}

/* Take the oldest get in flight: its answer into the cache when it is good and still named. */
static void take_oldest(struct kfs *fs)
{
	struct kfs_getf *g = &fs->getf[fs->getf_at];
	uint8_t key[KFS_KEY_LEN];

	if (g->o.rc == KFS_OBJ_IN_FLIGHT && fs->pipe->get_wait(fs->st, &g->o) < 0)
		g->o.rc = -EIO; /* the channel failed: whoever reads next will say so */
	if (g->o.rc == 0 && still_named(fs, g) && !kfs_cache_find(fs, g->ino, g->blk, g->ver) &&
	    kfs_file_key(fs, g->ino, key) == 0) {
		/* a failure leaves the block out of the cache */
		(void)!kfs_open_block(fs, g->ino, g->blk, g->ver, key, &g->o);
		kiln_wipe(key, sizeof(key));
	}
	fs->getf_at = ring_at(fs, 1);
	fs->ngetf--;
}

void kfs_gets_take(struct kfs *fs, uint64_t ino, uint64_t b0, uint64_t end)
{
	size_t upto = 0;

	for (size_t i = 0; i < fs->ngetf; i++) {
		const struct kfs_getf *g = &fs->getf[ring_at(fs, i)];
		if (g->ino == ino && g->blk >= b0 && g->blk < end)
			upto = i + 1;
	}
	while (upto--)
		take_oldest(fs);
}

/* Over a store without a pipe: the new gets (the last cnt of the ring) in one getv, now. */
static void get_now(struct kfs *fs, size_t cnt)
{
	struct kfs_obj v[KFS_GET_AHEAD];
	size_t first = fs->ngetf - cnt;

	for (size_t i = 0; i < cnt; i++)
		v[i] = fs->getf[ring_at(fs, first + i)].o;
	(void)kfs_store_batch(fs->st, false, v, cnt); /* each v[i].rc says */
	for (size_t i = 0; i < cnt; i++)
		fs->getf[ring_at(fs, first + i)].o = v[i];
}

/* Send the get of w in the next slot of the ring; false when the channel refused it. */
static bool send_one(struct kfs *fs, const struct kfs_want *w)
{
	size_t slot = ring_at(fs, fs->ngetf);
	struct kfs_getf *g = &fs->getf[slot];

	g->ino = w->n->ino;
	g->blk = w->blk;
	g->ver = w->n->blk[w->blk];
	kfs_block_id(g->ino, g->blk, g->ver, g->id);
	g->o = (struct kfs_obj){ .id = g->id, .buf = fs->ahead + slot * KFS_SEALED_BLOCK,
				 .cap = KFS_SEALED_BLOCK };
	fs->ngetf++;
	if (!fs->pipe || fs->pipe->get_send(fs->st, &g->o) == 0)
		return true;
	/* one sent stays until its answer (or the channel's failure) is read */
	if (g->o.rc != KFS_OBJ_IN_FLIGHT)
		fs->ngetf--;
	return false;
}

/* Is block w worth a get: stored, not cached, not in flight? */
static bool wanted(const struct kfs *fs, const struct kfs_want *w)
{
	uint64_t ver = w->blk < w->n->nblk ? w->n->blk[w->blk] : 0;

	return ver && !kfs_cache_find((struct kfs *)fs, w->n->ino, w->blk, ver) &&
	       !kfs_get_in_flight(fs, w->n->ino, w->blk, ver);
}

void kfs_gets_send(struct kfs *fs, const struct kfs_want *w, size_t cnt)
{
	struct kfs_want todo[KFS_GET_AHEAD];
	size_t m = 0, sent = 0;

	for (size_t i = 0; i < cnt && m < KFS_GET_AHEAD; i++)
		if (wanted(fs, &w[i]))
			todo[m++] = w[i];
	if (m == 0)
		return;
	if (!fs->ahead && !(fs->ahead = malloc(KFS_GET_AHEAD * KFS_SEALED_BLOCK)))
		return; /* a hint: the blocks are fetched when they are read */
	while (fs->ngetf + m > KFS_GET_AHEAD)
		take_oldest(fs);
	while (sent < m && send_one(fs, &todo[sent]))
		sent++;
	if (!fs->pipe)
		get_now(fs, sent);
}

/*
 * The blocks a span needs fetched: all of a read's, the partly covered
 * ends of a write's, unless the write will not wait for its block
 * (fs/rmw.c).
 */
static size_t span_blocks(struct kfs *fs, struct kfs_inode *n, const struct kfs_span *s,
			  struct kfs_want *w, size_t room)
{
	uint64_t first = s->off / KFS_BLOCK, last = (s->off + s->len - 1) / KFS_BLOCK;
	size_t m = 0;

	if (s->write && first == last &&
	    kfs_write_defers(fs, n, first, (size_t)(s->off % KFS_BLOCK), s->len))
		return 0;

	if (last >= n->nblk) /* nothing is stored past the last block */
		last = n->nblk - 1;

	for (uint64_t b = first; b <= last && m < room; b++) {
		bool whole = s->off <= b * KFS_BLOCK && s->off + s->len >= (b + 1) * KFS_BLOCK;
		if (!s->write || !whole)
			w[m++] = (struct kfs_want){ n, b };
		if (s->write && b == first && last > first + 1)
			b = last - 1; /* a write's middle blocks are whole */
	}
	return m;
}

void kfs_prefetch(struct kfs *fs, const struct kfs_span *s, size_t n)
{
	struct kfs_want w[KFS_GET_AHEAD];
	size_t m = 0;

	if (fs->alt)
		return; /* plain volumes keep no blocks */
	for (size_t i = 0; i < n && i < KFS_PREFETCH_SPANS && m < KFS_GET_AHEAD; i++) {
		struct kfs_inode *in = kfs_ifind(fs, s[i].ino);
		if (!in || !in->loaded || !S_ISREG(in->a.mode) || s[i].len == 0 || in->nblk == 0 ||
		    s[i].off >= in->a.size || s[i].off + s[i].len < s[i].off)
			continue;
		m += span_blocks(fs, in, &s[i], w + m, KFS_GET_AHEAD - m);
	}
	kfs_gets_send(fs, w, m);
}
