/* SPDX-License-Identifier: Apache-2.0 */
/* The storage core's file content: sealed fixed-size blocks, copy-on-write versions, and xattrs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "fs/internal.h"
#include "util/secure.h"

int kfs_file_key(struct kfs *fs, uint64_t ino, uint8_t *key)
{
	size_t slot = ino % (sizeof(fs->fkey) / sizeof(fs->fkey[0]));
	int rc = 0;

	if (ino == 0 || fs->fkey[slot].ino != ino) {
		rc = kfs_sealer_key(fs->sealer, "kiln-fs file", ino, fs->fkey[slot].key);
		fs->fkey[slot].ino = rc == 0 ? ino : 0;
	}
	if (rc == 0)
		memcpy(key, fs->fkey[slot].key, KFS_KEY_LEN);
	return rc;
}

static void block_aad(struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver, struct kfs_aad *a)
{
	kfs_aad_of(fs, KFS_OBJ_BLOCK, ino, blk, ver, a);
}

/* One get into the caller's buffer when o->cap says so (a store without getv). */
static int get_one(struct kfs_store *st, struct kfs_obj *o)
{
	uint8_t *buf = NULL;
	int rc;

	if (!o->cap)
		return st->get(st, o->id, &o->buf, &o->len);
	rc = st->get(st, o->id, &buf, &o->len);
	if (rc == 0 && o->len > o->cap)
		rc = kiln_err(EMSGSIZE, "object %s: %zu bytes, more than it can be", o->id, o->len);
	if (rc == 0)
		memcpy(o->buf, buf, o->len);
	free(buf);
	return rc;
}

/* A batch through the store's putv/getv, or one call per object when it has none. */
int kfs_store_batch(struct kfs_store *st, bool put, struct kfs_obj *v, size_t n)
{
	int first = 0;

	if (put ? st->putv != NULL : st->getv != NULL)
		return put ? st->putv(st, v, n) : st->getv(st, v, n);
	for (size_t i = 0; i < n; i++) {
		v[i].rc = put ? st->put(st, v[i].id, v[i].buf, v[i].len, 0) : get_one(st, &v[i]);
		if (v[i].rc < 0 && first == 0)
			first = v[i].rc;
	}
	return first;
}

/* The old block (KFS_BLOCK bytes at old) goes under the pieces a deferred write left in c. */
static void merge_under(struct kfs_cblk *c, const uint8_t *old)
{
	for (size_t p = 0; p < KFS_PIECES; p++)
		if (!(c->valid & (1u << p)))
			memcpy(c->data + p * KFS_PIECE, old + p * KFS_PIECE, KFS_PIECE);
	c->valid = KFS_PIECES_ALL;
	kfs_cache_written_to(c, KFS_BLOCK);
}

/*
 * Authenticate version ver of stored block blk (fetched as o) into its
 * cache slot, zeros past what was stored; -EBADMSG when it does not. A
 * slot holding a deferred write over that version gets the old bytes
 * under its new ones; one holding another block's is left alone
 * (-EBUSY). No log line here: a block read ahead that fails is only
 * reported if it is asked for.
 */
int kfs_open_block(struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver, const uint8_t *key,
		   const struct kfs_obj *o)
{
	struct kfs_cblk *c = kfs_cache_slot(fs, ino, blk);
	bool under = c->dirty && c->ino == ino && c->blk == blk && c->ver == ver;
	uint8_t *out = under ? fs->merge : c->data;
	struct kfs_aad aad;
	size_t len;
	int rc;

	if (o->len < KFS_SEAL_OVERHEAD || o->len - KFS_SEAL_OVERHEAD > KFS_BLOCK)
		return -EBADMSG;
	if (under ? c->valid == KFS_PIECES_ALL : kfs_cache_taken(fs, ino, blk))
		return under ? 0 : -EBUSY;
	len = o->len - KFS_SEAL_OVERHEAD;
	block_aad(fs, ino, blk, ver, &aad);
	if (!under) {
		c->ver = 0; /* the slot is being overwritten */
		kfs_cache_written_to(c, len); /* a failed open may leave bytes there */
	}
	rc = kfs_sealer_open(fs->sealer, key, &aad, o->buf, o->len, out);
	if (rc < 0)
		return rc;
	if (under) {
		memset(out + len, 0, KFS_BLOCK - len);
		merge_under(c, out);
		return 0;
	}
	kfs_cache_zero_past(c, len);
	c->ino = ino;
	c->blk = blk;
	c->ver = ver;
	c->valid = KFS_PIECES_ALL;
	c->dirty = false;
	return 0;
}

/* One round trip: fetch v[0..m-1] (blocks at[], into fs->sealed) and decrypt them into the cache. */
static int fetch_batch(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, struct kfs_obj *v,
		       const uint64_t *at, size_t m)
{
	char what[80];
	int rc = 0, brc;

	(void)kfs_store_batch(fs->st, false, v, m); /* each v[j].rc says */
	for (size_t j = 0; j < m; j++) {
		brc = v[j].rc;
		if (rc == 0 && brc == 0)
			brc = kfs_open_block(fs, n->ino, at[j], n->blk[at[j]], key, &v[j]);
		if (rc < 0 || brc == 0)
			continue;
		/* missing, oversize or forged is an integrity failure; the channel's errors are its own */
		snprintf(what, sizeof(what), "block %llu of inode %llu", (unsigned long long)at[j],
			 (unsigned long long)n->ino);
		rc = brc == -ENOENT || brc == -EMSGSIZE || v[j].rc == 0 ? kfs_integrity(fs, brc, what, v[j].id)
									: brc;
	}
	return rc;
}

/* Does block b hold what bytes [off, off + len) need of it: a hole, or those pieces cached? */
static bool ready(struct kfs *fs, struct kfs_inode *n, uint64_t b, uint64_t off, size_t len)
{
	return b >= n->nblk || !n->blk[b] ||
	       kfs_cache_pieces(fs, n->ino, b, n->blk[b], kfs_pieces(b, off, len));
}

/* Whether blocks b0 .. end-1 all hold what the bytes need; taken: one's slot holds another's deferred write. */
static bool all_ready(struct kfs *fs, struct kfs_inode *n, uint64_t b0, uint64_t end, uint64_t off,
		      size_t len, bool *taken)
{
	bool all = true;

	for (uint64_t b = b0; b < end; b++)
		if (!ready(fs, n, b, off, len)) {
			all = false;
			*taken = *taken || kfs_cache_taken(fs, n->ino, b);
		}
	return all;
}

/*
 * Bring what bytes [off, off + len) need of the stored blocks among b0 ..
 * end-1 into the cache: first the answers of their gets in flight, then
 * the rest, up to KFS_BATCH_MAX per round trip to the parent. A slot
 * holding another block's deferred write is sealed first, with all the
 * others (a failure there is that block's, kept for the next commit).
 */
int kfs_fetch_blocks(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, uint64_t b0,
		     uint64_t end, uint64_t off, size_t len)
{
	struct kfs_obj v[KFS_BATCH_MAX];
	char ids[KFS_BATCH_MAX][KFS_ID_MAX + 1];
	uint64_t at[KFS_BATCH_MAX];
	bool taken = false;
	size_t m = 0;
	int rc = 0;

	if (end > n->nblk)
		end = n->nblk;
	if (all_ready(fs, n, b0, end, off, len, &taken))
		return 0;
	if (fs->ngetf)
		kfs_gets_take(fs, n->ino, b0, end);
	if (taken)
		(void)!kfs_flush_deferred(fs);
	/* a get must not overtake the answer of a put it reads (fs/pipeline.c) */
	if (fs->nflight && !all_ready(fs, n, b0, end, off, len, &taken) &&
	    (rc = kfs_puts_reap(fs, fs->nflight)) < 0)
		return rc;
	for (uint64_t b = b0; b < end && rc == 0; b++) {
		if (!ready(fs, n, b, off, len)) {
			kfs_block_id(n->ino, b, n->blk[b], ids[m]);
			v[m] = (struct kfs_obj){ .id = ids[m], .cap = KFS_SEALED_BLOCK,
						 .buf = fs->sealed + m * KFS_SEALED_BLOCK };
			at[m++] = b;
		}
		if (m == KFS_BATCH_MAX || (m && b + 1 == end)) {
			rc = fetch_batch(fs, n, key, v, at, m);
			m = 0;
		}
	}
	return rc;
}

/*
 * Block b's plaintext (KFS_BLOCK bytes, of which the pieces in need are
 * sure) once fetched: the cache's copy, or zeros for a hole.
 */
static const uint8_t *block_data(struct kfs *fs, struct kfs_inode *n, uint64_t b, uint8_t need)
{
	static const uint8_t zeros[KFS_BLOCK];

	if (b >= n->nblk || n->blk[b] == 0)
		return zeros;
	return kfs_cache_pieces(fs, n->ino, b, n->blk[b], need);
}

/*
 * The first len bytes of block blk into out (zeros past what was stored):
 * a caller that seals len bytes copies no more, which for a small write
 * into a new file is most of its cost.
 */
static int read_block(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, uint64_t blk,
		      uint8_t *out, size_t len)
{
	const uint8_t *d;
	int rc = kfs_fetch_blocks(fs, n, key, blk, blk + 1, blk * KFS_BLOCK, KFS_BLOCK);

	if (rc == 0 && !(d = block_data(fs, n, blk, KFS_PIECES_ALL)))
		rc = kiln_err(EIO, "block %llu: not in the cache after its fetch",
			      (unsigned long long)blk);
	if (rc == 0)
		memcpy(out, d, len);
	return rc;
}

/* What write_blocks needs per batch: the objects, their ids and versions. */
struct wbatch {
	struct kfs_obj v[KFS_BATCH_MAX];
	char ids[KFS_BATCH_MAX][KFS_ID_MAX + 1];
	uint64_t ver[KFS_BATCH_MAX];
};

/* Seal block b0 + i (len bytes at pt) as a new version, into slot i of fs->sealed and of w. */
static int seal_block(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, struct wbatch *w,
		      uint64_t b0, size_t i, const uint8_t *pt, size_t len)
{
	struct kfs_aad aad;

	w->ver[i] = fs->next_ver++;
	block_aad(fs, n->ino, b0 + i, w->ver[i], &aad);
	w->v[i] = (struct kfs_obj){ .id = w->ids[i], .buf = fs->sealed + i * KFS_SEALED_BLOCK,
				    .len = len + KFS_SEAL_OVERHEAD };
	kfs_block_id(n->ino, b0 + i, w->ver[i], w->ids[i]);
	return kfs_sealer_seal(fs->sealer, key, &aad, pt, len, w->v[i].buf);
}

/* The inode names version ver for block b from now on; the one it replaces is retired. */
static int name_block(struct kfs *fs, struct kfs_inode *n, uint64_t b, uint64_t ver)
{
	char id[KFS_ID_MAX + 1];
	int rc = 0;

	if (n->blk[b]) {
		kfs_block_id(n->ino, b, n->blk[b], id);
		rc = kfs_retire(fs, id, n->blk[b]);
	}
	n->blk[b] = ver;
	return rc;
}

/*
 * The same over a pipelined store: each block is sent as soon as it is
 * sealed and named at once; the put's answer comes later (fs/pipeline.c).
 */
static int write_blocks_piped(struct kfs *fs, struct kfs_inode *n, const uint8_t *key,
			      struct wbatch *w, uint64_t b0, size_t cnt, const uint8_t *const *pt,
			      const size_t *lens)
{
	int rc = 0;

	for (size_t i = 0; i < cnt && rc == 0; i++) {
		rc = seal_block(fs, n, key, w, b0, i, pt[i], lens[i]);
		if (rc == 0)
			rc = kfs_put_block(fs, &w->v[i], n->ino, b0 + i, w->ver[i], n->blk[b0 + i]);
		if (rc == 0)
			rc = name_block(fs, n, b0 + i, w->ver[i]);
	}
	return rc;
}

/*
 * Store blocks b0 .. b0+cnt-1 (cnt <= KFS_BATCH_MAX; block i is pt[i],
 * lens[i] bytes) as new versions in one batch, sealed into fs->sealed. All
 * or none: if any put fails the others are deleted and the old versions stay.
 */
int kfs_write_blocks(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, uint64_t b0,
		     size_t cnt, const uint8_t *const *pt, const size_t *lens)
{
	struct wbatch *w = malloc(sizeof(*w));
	int rc = w ? 0 : kiln_err(ENOMEM, "write: out of memory");

	if (rc == 0 && fs->pipe) {
		rc = write_blocks_piped(fs, n, key, w, b0, cnt, pt, lens);
		goto out;
	}
	for (size_t i = 0; i < cnt && rc == 0; i++)
		rc = seal_block(fs, n, key, w, b0, i, pt[i], lens[i]);
	if (rc == 0 && (rc = kfs_store_batch(fs->st, true, w->v, cnt)) < 0)
		for (size_t i = 0; i < cnt; i++)
			if (w->v[i].rc == 0)
				(void)fs->st->del(fs->st, w->ids[i]);
	for (size_t i = 0; i < cnt && rc == 0; i++)
		rc = name_block(fs, n, b0 + i, w->ver[i]);
out:
	/* a small write: the next one may well be to the same block */
	if (rc == 0 && cnt == 1)
		kfs_cache_put(fs, n->ino, b0, n->blk[b0], pt[0], lens[0]);
	free(w);
	return rc;
}

static int write_block(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, uint64_t blk,
		       const uint8_t *data, size_t len)
{
	return kfs_write_blocks(fs, n, key, blk, 1, &data, &len);
}

static int grow_blocks(struct kfs_inode *n, uint64_t size)
{
	uint64_t need = (size + KFS_BLOCK - 1) / KFS_BLOCK;
	uint64_t *p;

	if (need <= n->nblk)
		return 0;
	p = realloc(n->blk, need * sizeof(uint64_t));
	if (!p)
		return kiln_err(ENOMEM, "file: out of memory");
	memset(p + n->nblk, 0, (need - n->nblk) * sizeof(uint64_t));
	n->blk = p;
	n->nblk = (uint32_t)need;
	return 0;
}

/*
 * Drop blocks past size; the block holding the new end is rewritten short,
 * first: if that fails nothing has changed. The inode is marked dirty as
 * soon as a block is retired, so a later failure still leaves it naming
 * only blocks that stay (its size, and so its block count, unchanged).
 */
int kfs_truncate_blocks(struct kfs *fs, struct kfs_inode *n, uint64_t size)
{
	char id[KFS_ID_MAX + 1];
	uint64_t keep = (size + KFS_BLOCK - 1) / KFS_BLOCK;
	uint8_t key[KFS_KEY_LEN], *buf = NULL;
	int rc = 0;

	if (size >= n->a.size)
		return grow_blocks(n, size);
	/* the tail past the new end must read as zeros if the file grows again */
	if (size % KFS_BLOCK && keep - 1 < n->nblk && n->blk[keep - 1]) {
		buf = malloc(KFS_BLOCK);
		rc = buf ? kfs_file_key(fs, n->ino, key)
			 : kiln_err(ENOMEM, "truncate: out of memory");
		if (rc == 0)
			rc = read_block(fs, n, key, keep - 1, buf, size % KFS_BLOCK);
		if (rc == 0)
			rc = write_block(fs, n, key, keep - 1, buf, size % KFS_BLOCK);
		n->dirty |= rc == 0;
		kiln_wipe(key, sizeof(key));
		if (buf)
			kiln_wipe(buf, size % KFS_BLOCK);
		free(buf);
	}
	for (uint64_t b = keep; b < n->nblk && rc == 0; b++)
		if (n->blk[b]) {
			n->dirty = true;
			kfs_block_id(n->ino, b, n->blk[b], id);
			rc = kfs_retire(fs, id, n->blk[b]);
			n->blk[b] = 0;
		}
	if (rc == 0 && n->nblk > keep)
		n->nblk = (uint32_t)keep;
	return rc;
}

static int get_file(struct kfs *fs, uint64_t ino, struct kfs_inode **n)
{
	int rc = kfs_iget(fs, ino, n);

	if (rc == 0 && !S_ISREG((*n)->a.mode))
		return kiln_err(S_ISDIR((*n)->a.mode) ? EISDIR : EINVAL,
				"inode %llu: not a regular file", (unsigned long long)ino);
	return rc;
}

/* Blocks in one batch from block b up to block last (inclusive). */
static size_t batch_len(uint64_t b, uint64_t last)
{
	return last - b + 1 < KFS_BATCH_MAX ? (size_t)(last - b + 1) : KFS_BATCH_MAX;
}

/* Block b cached (or a hole) or its get in flight? */
static bool coming(struct kfs *fs, struct kfs_inode *n, uint64_t b)
{
	return block_data(fs, n, b, KFS_PIECES_ALL) || kfs_get_in_flight(fs, n->ino, b, n->blk[b]);
}

/*
 * How many blocks past block last to read ahead, for a read of blocks
 * first .. last. A read that starts where the last one ended (or in its
 * last block) is sequential: the window starts at KFS_RA_MIN blocks and
 * doubles up to KFS_RA_MAX; any other read closes it, so random reads
 * fetch only what they ask for. The window's gets are sent again once
 * the block half-way into it is neither cached nor in flight, so each
 * batch is half a window or more and the reader stays half a window
 * behind what was asked for.
 */
static uint64_t readahead(struct kfs *fs, struct kfs_inode *n, uint64_t first, uint64_t last)
{
	bool seq = first == n->ra_next || first + 1 == n->ra_next;
	uint64_t probe;

	n->ra_next = last + 1;
	if (!seq) {
		n->ra_win = 0;
		return 0;
	}
	n->ra_win = n->ra_win == 0 ? KFS_RA_MIN : n->ra_win * 2 > KFS_RA_MAX ? KFS_RA_MAX : n->ra_win * 2;
	probe = last + 1 + n->ra_win / 2;
	if (probe >= n->nblk)
		probe = n->nblk - 1;
	if (last + 1 >= n->nblk || coming(fs, n, probe))
		return 0;
	return n->ra_win;
}

/*
 * Put the gets of blocks from..from+cnt-1 in flight: kilnd reads and
 * sends them while this read and the next are copied to the app.
 */
static void read_ahead(struct kfs *fs, struct kfs_inode *n, uint64_t from, uint64_t cnt)
{
	struct kfs_want w[KFS_RA_MAX];
	size_t m = 0;

	for (uint64_t b = from; b < from + cnt && b < n->nblk && m < KFS_RA_MAX; b++)
		w[m++] = (struct kfs_want){ n, b };
	kfs_gets_send(fs, w, m);
}

/* Are blocks first .. last all cached, holes or in flight (no round trip of their own)? */
static bool all_coming(struct kfs *fs, struct kfs_inode *n, uint64_t first, uint64_t last)
{
	for (uint64_t b = first; b <= last; b++)
		if (!coming(fs, n, b))
			return false;
	return true;
}

/* Copy the bytes of block b that lie in [off, off + len) to buf (which holds from off). */
static void copy_out(const uint8_t *d, uint64_t b, uint64_t off, size_t len, uint8_t *buf)
{
	uint64_t start = b * KFS_BLOCK, from = start > off ? start : off;
	uint64_t to = off + len < start + KFS_BLOCK ? off + len : start + KFS_BLOCK;

	memcpy(buf + (from - off), d + (from - start), (size_t)(to - from));
}

ssize_t kfs_read(struct kfs *fs, uint64_t ino, uint64_t off, void *buf, size_t len)
{
	KFS_ALT(fs, read, ino, off, buf, len);
	struct kfs_inode *n;
	uint8_t key[KFS_KEY_LEN];
	const uint8_t *d;
	uint64_t first, last, ahead;
	int rc = get_file(fs, ino, &n);

	if (rc < 0)
		return rc;
	if (off >= n->a.size || len == 0)
		return 0;
	if (len > n->a.size - off)
		len = (size_t)(n->a.size - off);
	first = off / KFS_BLOCK;
	last = (off + len - 1) / KFS_BLOCK;
	ahead = readahead(fs, n, first, last);
	/* behind what this read waits for, unless it has a round trip of its own to make first */
	if (ahead && all_coming(fs, n, first, last)) {
		read_ahead(fs, n, last + 1, ahead);
		ahead = 0;
	}
	rc = kfs_file_key(fs, ino, key);
	for (uint64_t b = first; rc == 0 && b <= last;) {
		uint64_t end = b + KFS_BATCH_MAX < last + 1 ? b + KFS_BATCH_MAX : last + 1;
		rc = kfs_fetch_blocks(fs, n, key, b, end, off, len);
		for (; rc == 0 && b < end; b++) {
			if (!(d = block_data(fs, n, b, kfs_pieces(b, off, len))))
				rc = kiln_err(EIO, "block %llu: not in the cache after its fetch",
					      (unsigned long long)b);
			else
				copy_out(d, b, off, len, buf);
		}
	}
	if (rc == 0 && ahead)
		read_ahead(fs, n, last + 1, ahead);
	kiln_wipe(key, sizeof(key));
	return rc < 0 ? rc : (ssize_t)len;
}

/* Bytes of block b that exist in a file of the given size (stored length). */
size_t kfs_block_len(uint64_t b, uint64_t size)
{
	uint64_t start = b * KFS_BLOCK;

	return size <= start ? 0 : (size_t)(size - start < KFS_BLOCK ? size - start : KFS_BLOCK);
}

/*
 * One batch of a write: len bytes at offset in of block b, over cnt
 * blocks. Whole blocks are sealed straight from data; only the blocks at
 * either end can be partly written: they are read into fs->edge (two
 * blocks, made at first need: a deferred write needs none) first so that
 * their other bytes stay, unless the write is within one block and can wait
 * in the cache for its old block (fs/rmw.c). Only the bytes to be sealed
 * are filled, and wiped after.
 */
static int write_batch(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, uint64_t b,
		       size_t cnt, size_t in, const uint8_t *data, size_t len)
{
	const uint8_t *pt[KFS_BATCH_MAX];
	size_t lens[KFS_BATCH_MAX], end = in + len, used[2] = { 0, 0 };
	int rc = cnt == 1 && len < KFS_BLOCK ? kfs_write_defer(fs, n, key, b, in, data, len) : 0;

	if (rc != 0) /* deferred (fs/rmw.c), or failed */
		return rc < 0 ? rc : 0;
	for (size_t i = 0; i < cnt && rc == 0; i++) {
		size_t start = i * KFS_BLOCK, from = start > in ? start : in;
		size_t to = end < start + KFS_BLOCK ? end : start + KFS_BLOCK;
		size_t keep = kfs_block_len(b + i, n->a.size);
		uint8_t *e;

		lens[i] = to - start > keep ? to - start : keep;
		if (from == start && to == start + KFS_BLOCK) {
			pt[i] = data + (start - in);
			continue;
		}
		if (!fs->edge && !(fs->edge = malloc(2 * KFS_BLOCK)))
			return kiln_err(ENOMEM, "write: out of memory");
		e = fs->edge + (i ? KFS_BLOCK : 0);
		used[i ? 1 : 0] = lens[i];
		rc = read_block(fs, n, key, b + i, e, lens[i]);
		if (rc == 0)
			memcpy(e + (from - start), data + (from - in), to - from);
		pt[i] = e;
	}
	if (rc == 0)
		rc = kfs_write_blocks(fs, n, key, b, cnt, pt, lens);
	if (fs->edge) {
		kiln_wipe(fs->edge, used[0]);
		kiln_wipe(fs->edge + KFS_BLOCK, used[1]);
	}
	return rc;
}

ssize_t kfs_write(struct kfs *fs, uint64_t ino, uint64_t off, const void *buf, size_t len)
{
	KFS_ALT(fs, write, ino, off, buf, len);
	struct kfs_inode *n;
	uint8_t key[KFS_KEY_LEN];
	uint64_t end = off + len, last;
	size_t done = 0;
	int rc = get_file(fs, ino, &n);

	if (rc < 0)
		return rc;
	if (end < off || end > KFS_MAX_FILE)
		return kiln_err(EFBIG, "write: past the maximum file size");
	if (len == 0)
		return 0;
	if ((rc = grow_blocks(n, end)) < 0)
		return rc;
	last = (end - 1) / KFS_BLOCK;
	rc = kfs_file_key(fs, ino, key);
	while (rc == 0 && done < len) {
		uint64_t b = (off + done) / KFS_BLOCK, in = (off + done) % KFS_BLOCK;
		size_t cnt = batch_len(b, last);
		size_t chunk = cnt * KFS_BLOCK - in < len - done ? cnt * KFS_BLOCK - in : len - done;
		rc = write_batch(fs, n, key, b, cnt, (size_t)in, (const uint8_t *)buf + done, chunk);
		done += rc == 0 ? chunk : 0;
	}
	kiln_wipe(key, sizeof(key));
	if (done == 0)
		return rc;
	/*
	 * Batches already stored stay (a short write): the inode must record
	 * them, or the next commit would delete the blocks it still names.
	 */
	if (off + done > n->a.size)
		n->a.size = off + done;
	kfs_touch(n, true, true);
	return (ssize_t)done;
}

static struct kfs_xattr *xa_find(struct kfs_inode *n, const char *name)
{
	for (uint32_t i = 0; i < n->nxa; i++)
		if (!strcmp(n->xa[i].name, name))
			return &n->xa[i];
	return NULL;
}

int kfs_setxattr(struct kfs *fs, uint64_t ino, const char *name, const void *val, size_t len,
		 int flags)
{
	KFS_ALT(fs, setxattr, ino, name, val, len, flags);
	struct kfs_inode *n;
	struct kfs_xattr *x;
	uint8_t *copy;
	size_t nl = strlen(name);
	int rc = kfs_iget(fs, ino, &n);

	if (rc < 0)
		return rc;
	if (nl == 0 || nl > KFS_XATTR_NAME_MAX || len > KFS_XATTR_VALUE_MAX)
		return kiln_err(nl > KFS_XATTR_NAME_MAX ? ERANGE : (nl ? E2BIG : EINVAL),
				"xattr: bad name or value size");
	x = xa_find(n, name);
	if (x && (flags & XATTR_CREATE))
		return kiln_err(EEXIST, "xattr %s: exists", name);
	if (!x && (flags & XATTR_REPLACE))
		return kiln_err(ENODATA, "xattr %s: no such attribute", name);
	if (!x && n->nxa >= 1024)
		return kiln_err(ENOSPC, "xattr: too many attributes");
	copy = malloc(len ? len : 1);
	if (!copy)
		return kiln_err(ENOMEM, "xattr: out of memory");
	memcpy(copy, val, len);
	if (!x) {
		void *p = realloc(n->xa, (n->nxa + 1) * sizeof(*n->xa));
		char *nm = strdup(name);
		if (p)
			n->xa = p;
		if (!p || !nm) {
			free(nm);
			free(copy);
			return kiln_err(ENOMEM, "xattr: out of memory");
		}
		x = &n->xa[n->nxa++];
		x->name = nm;
		x->val = NULL;
	}
	free(x->val);
	x->val = copy;
	x->len = len;
	kfs_touch(n, false, true);
	return 0;
}

ssize_t kfs_getxattr(struct kfs *fs, uint64_t ino, const char *name, void *buf, size_t len)
{
	KFS_ALT(fs, getxattr, ino, name, buf, len);
	struct kfs_inode *n;
	struct kfs_xattr *x;
	int rc = kfs_iget(fs, ino, &n);

	if (rc < 0)
		return rc;
	if (!(x = xa_find(n, name)))
		return -ENODATA;
	if (len == 0)
		return (ssize_t)x->len;
	if (len < x->len)
		return -ERANGE;
	memcpy(buf, x->val, x->len);
	return (ssize_t)x->len;
}

ssize_t kfs_listxattr(struct kfs *fs, uint64_t ino, char *buf, size_t len)
{
	KFS_ALT(fs, listxattr, ino, buf, len);
	struct kfs_inode *n;
	size_t need = 0;
	int rc = kfs_iget(fs, ino, &n);

	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < n->nxa; i++)
		need += strlen(n->xa[i].name) + 1;
	if (len == 0)
		return (ssize_t)need;
	if (len < need)
		return -ERANGE;
	for (uint32_t i = 0, o = 0; i < n->nxa; i++) {
		size_t l = strlen(n->xa[i].name) + 1;
		memcpy(buf + o, n->xa[i].name, l);
		o += (uint32_t)l;
	}
	return (ssize_t)need;
}

int kfs_removexattr(struct kfs *fs, uint64_t ino, const char *name)
{
	KFS_ALT(fs, removexattr, ino, name);
	struct kfs_inode *n;
	struct kfs_xattr *x;
	int rc = kfs_iget(fs, ino, &n);

	if (rc < 0)
		return rc;
	if (!(x = xa_find(n, name)))
		return kiln_err(ENODATA, "xattr %s: no such attribute", name);
	free(x->name);
	free(x->val);
	memmove(x, x + 1, (n->nxa - (uint32_t)(x - n->xa) - 1) * sizeof(*x));
	n->nxa--;
	kfs_touch(n, false, true);
	return 0;
}
