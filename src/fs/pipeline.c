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

/* A put that failed with rc: the block gets back what it was, or a hole. */
static void repair(struct kfs *fs, const struct kfs_flight *f, int rc)
{
	struct kfs_inode *n = kfs_ifind(fs, f->ino);
	char id[KFS_ID_MAX + 1];

	if (f->ino == 0) { /* an inode object: its commit fails (kfs_puts_settle) */
		fs->meta_err = fs->meta_err ? fs->meta_err : rc;
		return;
	}
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
	for (size_t i = 0; i < cnt; i++)
		if (rcs[i] < 0)
			repair(fs, &fs->flight[i], rcs[i]);
	fs->nflight -= cnt;
	memmove(fs->flight, fs->flight + cnt, fs->nflight * sizeof(*fs->flight));
	return rc;
}

int kfs_put_block(struct kfs *fs, const struct kfs_obj *o, uint64_t ino, uint64_t blk,
		  uint64_t ver, uint64_t old)
{
	int rc = 0;

	if (fs->nflight == KFS_PUT_AHEAD)
		rc = kfs_puts_reap(fs, KFS_PUT_AHEAD / 2);
	if (rc == 0)
		rc = fs->pipe->send(fs->st, o);
	if (rc < 0)
		return rc;
	fs->flight[fs->nflight++] = (struct kfs_flight){ ino, blk, ver, old };
	return 0;
}

int kfs_put_meta(struct kfs *fs, const char *id, const uint8_t *buf, size_t len)
{
	struct kfs_obj o = { .id = id, .buf = (uint8_t *)buf, .len = len };

	if (!fs->pipe)
		return fs->st->put(fs->st, id, buf, len, 0);
	return kfs_put_block(fs, &o, 0, 0, 0, 0); /* ino 0: an inode object (repair) */
}

int kfs_puts_settle(struct kfs *fs)
{
	int rc = fs->pipe ? kfs_puts_reap(fs, fs->nflight) : 0;

	if (rc == 0 && fs->put_err) {
		rc = kiln_err(-fs->put_err, "a block written earlier could not be stored: %s",
			      strerror(-fs->put_err));
		fs->put_err = 0;
	}
	if (rc == 0 && fs->meta_err)
		rc = kiln_err(-fs->meta_err, "an inode could not be stored: %s", strerror(-fs->meta_err));
	fs->meta_err = 0;
	return rc;
}
