/* SPDX-License-Identifier: Apache-2.0 */
/* The storage core's pipelined block puts: sent without waiting, reaped before anything depends on them. */
#include <string.h>

#include "fs/internal.h"

/*
 * How this works. Over the storage channel a block put does not wait for
 * its answer: the enclave seals the next blocks while kilnd writes these.
 * Each put in flight is remembered (inode, block, its version and the one
 * it replaced), at most KFS_PUT_AHEAD of them, and its answer is reaped
 * when the window is full, before a commit (kfs_sync reaps all first), and
 * before a block is fetched (a get of a block whose put failed would look
 * like tampering). A put that failed is repaired at its reaping: the block
 * names its previous version again when that one is still stored (it was
 * committed, so it waits in the garbage list, deleted only after a
 * successful commit, and is taken back out of it), else it becomes a
 * hole; the inode is dirty, and the first such error is kept for the next
 * commit, which fails with it (as a write-back error fails fsync) and so
 * neither writes a root nor deletes anything. The commit after that
 * stores the repaired inode.
 */

/*
 * A sent commit's record answered: it and the failures of the puts before
 * it are that commit's (kfs_commit_wait reports them); later ones are the
 * next commit's.
 */
static void record_answered(struct kfs *fs, int rc)
{
	fs->sent.answered = true;
	fs->sent.point_rc = rc;
	fs->sent.put_err = fs->put_err;
	fs->sent.meta_err = fs->meta_err;
	fs->put_err = fs->meta_err = 0;
}

/* A block put that failed with rc: the block gets back what it was, or a hole. */
static void repair(struct kfs *fs, const struct kfs_flight *f, int rc)
{
	struct kfs_inode *n = kfs_ifind(fs, f->ino);
	char id[KFS_ID_MAX + 1];

	if (fs->put_err == 0)
		fs->put_err = rc;
	kfs_cache_forget(fs, f->ino, f->blk, f->ver);
	if (!n || !n->loaded || f->blk >= n->nblk || n->blk[f->blk] != f->ver)
		return; /* rewritten, truncated or deleted since: nothing names it */
	if (f->old)
		kfs_block_id(f->ino, f->blk, f->old, id);
	n->blk[f->blk] = f->old && kfs_unretire(fs, id) ? f->old : 0;
	n->dirty = true;
}

int kfs_puts_reap(struct kfs *fs, size_t cnt)
{
	int rcs[KFS_PUT_AHEAD], rc;

	if (cnt == 0)
		return 0;
	rc = fs->pipe->reap(fs->st, rcs, cnt);
	for (size_t i = 0; i < cnt; i++) {
		const struct kfs_flight *f = &fs->flight[i];
		if (f->kind == KFS_FLIGHT_RECORD)
			record_answered(fs, rcs[i]);
		else if (rcs[i] < 0 && f->kind == KFS_FLIGHT_INODE) /* its commit fails */
			fs->meta_err = fs->meta_err ? fs->meta_err : rcs[i];
		else if (rcs[i] < 0)
			repair(fs, f, rcs[i]);
	}
	fs->nflight -= cnt;
	memmove(fs->flight, fs->flight + cnt, fs->nflight * sizeof(*fs->flight));
	return rc;
}

/* Send o without waiting (flags: the wire's), and remember what it was; half the window reaped when full. */
static int put_flight(struct kfs *fs, const struct kfs_obj *o, unsigned flags, struct kfs_flight f)
{
	int rc = 0;

	if (fs->nflight == KFS_PUT_AHEAD)
		rc = kfs_puts_reap(fs, KFS_PUT_AHEAD / 2);
	if (rc == 0)
		rc = fs->pipe->send(fs->st, o, flags);
	if (rc < 0)
		return rc;
	fs->flight[fs->nflight++] = f;
	return 0;
}

int kfs_put_block(struct kfs *fs, const struct kfs_obj *o, uint64_t ino, uint64_t blk,
		  uint64_t ver, uint64_t old)
{
	return put_flight(fs, o, 0, (struct kfs_flight){ KFS_FLIGHT_BLOCK, ino, blk, ver, old });
}

int kfs_put_meta(struct kfs *fs, const char *id, const uint8_t *buf, size_t len)
{
	struct kfs_obj o = { .id = id, .buf = (uint8_t *)buf, .len = len };

	if (!fs->pipe)
		return fs->st->put(fs->st, id, buf, len, 0);
	return put_flight(fs, &o, 0, (struct kfs_flight){ .kind = KFS_FLIGHT_INODE });
}

int kfs_put_record(struct kfs *fs, const char *id, const uint8_t *buf, size_t len)
{
	struct kfs_obj o = { .id = id, .buf = (uint8_t *)buf, .len = len };

	return put_flight(fs, &o, KFS_PUT_DURABLE | KFS_PUT_BARRIER,
			  (struct kfs_flight){ .kind = KFS_FLIGHT_RECORD });
}

size_t kfs_record_in_flight(const struct kfs *fs)
{
	for (size_t i = 0; i < fs->nflight; i++)
		if (fs->flight[i].kind == KFS_FLIGHT_RECORD)
			return i + 1;
	return 0;
}

int kfs_puts_failed(int put_err, int meta_err)
{
	if (put_err)
		return kiln_err(-put_err, "a block written earlier could not be stored: %s",
				strerror(-put_err));
	if (meta_err)
		return kiln_err(-meta_err, "an inode could not be stored: %s", strerror(-meta_err));
	return 0;
}

int kfs_puts_settle(struct kfs *fs)
{
	int rc = fs->pipe ? kfs_puts_reap(fs, fs->nflight) : 0;

	if (rc == 0)
		rc = kfs_puts_failed(fs->put_err, fs->meta_err);
	fs->put_err = fs->meta_err = 0;
	return rc;
}
