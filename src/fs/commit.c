/* SPDX-License-Identifier: Apache-2.0 */
/* The storage core's commit: the touched inodes' new versions, the record naming them, then the garbage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/internal.h"

/*
 * How this works. A commit seals each inode changed since the last one as
 * a new version and puts it (over the channel without waiting, behind the
 * block puts still in flight), then the record that names them all: a
 * journal record, or a new root. Only once that record is stored are the
 * objects the old versions named deleted (the garbage list). A crash
 * anywhere leaves the old state or the new one.
 *
 * To a parent that takes commit points the record goes as one, right
 * behind the puts: stored only if all of them were, once they are
 * durable. Then the commit is one round trip, and kfs_commit_send can
 * return before it ends: the frontend serves other calls while kilnd
 * writes, and kfs_commit_wait ends the commit (kfs_sync does both). In
 * between, changes go on in memory and block puts go out behind the
 * record; they are the next commit's. What the sent commit must know at
 * its end is set aside when it is sent (struct kfs_sent): the garbage
 * retired until then, the changes its record lists, the inodes it stored;
 * and commit_ver moves at once, so that a version it names and that is
 * replaced meanwhile waits as garbage instead of being deleted. Only one
 * commit is out at a time: the next waits for it first.
 */

int kfs_retire(struct kfs *fs, const char *id, uint64_t ver)
{
	if (ver >= fs->commit_ver)
		return fs->st->del(fs->st, id);
	if (fs->ngarbage == fs->garbagecap) {
		size_t cap = fs->garbagecap ? fs->garbagecap * 2 : 64;
		void *p = realloc(fs->garbage, cap * sizeof(*fs->garbage));
		if (!p)
			return kiln_err(ENOMEM, "object %s: out of memory", id);
		fs->garbage = p;
		fs->garbagecap = cap;
	}
	snprintf(fs->garbage[fs->ngarbage++], KFS_ID_MAX + 1, "%s", id);
	return 0;
}

/* The sent commit's garbage stays first: one of it taken out, its last fills the hole. */
bool kfs_unretire(struct kfs *fs, const char *id)
{
	for (size_t i = 0; i < fs->ngarbage; i++)
		if (!strcmp(fs->garbage[i], id)) {
			if (i < fs->sent.ngarbage) {
				fs->sent.ngarbage--;
				memcpy(fs->garbage[i], fs->garbage[fs->sent.ngarbage], sizeof(*fs->garbage));
				i = fs->sent.ngarbage;
			}
			memmove(fs->garbage[i], fs->garbage[--fs->ngarbage], sizeof(*fs->garbage));
			return true;
		}
	return false;
}

/* The first n of the garbage: no stored record names them now. */
static void collect(struct kfs *fs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		(void)fs->st->del(fs->st, fs->garbage[i]);
	memmove(fs->garbage, fs->garbage + n, (fs->ngarbage - n) * sizeof(*fs->garbage));
	fs->ngarbage -= n;
}

/* Seal and put one dirty inode as a new version; the old one is retired. */
static int store_inode(struct kfs *fs, struct kfs_inode *n)
{
	char id[KFS_ID_MAX + 1];
	struct kfs_aad aad;
	uint8_t *pt = NULL;
	size_t len;
	uint32_t parts;
	int rc = kfs_inode_encode(n, &pt, &len);

	if (rc < 0)
		return kiln_err_wrap(rc, "inode %llu", (unsigned long long)n->ino);
	kfs_aad_of(fs, KFS_OBJ_INODE, n->ino, 0, fs->next_ver, &aad);
	kfs_inode_id(n->ino, aad.ver, id);
	rc = kfs_meta_put(fs, &aad, id, pt, len, &parts);
	free(pt);
	if (rc < 0)
		return rc;
	if (n->ver) {
		kfs_inode_id(n->ino, n->ver, id);
		rc = kfs_meta_retire(fs, id, n->ver, n->parts);
	}
	n->parts = parts;
	n->ver = fs->next_ver++;
	n->dirty = false;
	kfs_journal_change(fs, n->ino, n->ver);
	return rc;
}

/* One touched inode: an unlinked one's stored object goes (it leaves the root), a dirty one is stored. */
static int flush_inode(struct kfs *fs, struct kfs_inode *n)
{
	char id[KFS_ID_MAX + 1];
	int rc;

	if (n->loaded && n->a.nlink == 0) {
		if (!n->ver)
			return 0;
		kfs_inode_id(n->ino, n->ver, id);
		rc = kfs_meta_retire(fs, id, n->ver, n->parts);
		if (rc == 0) {
			n->ver = 0;
			kfs_journal_change(fs, n->ino, 0);
		}
		return rc;
	}
	return n->dirty ? store_inode(fs, n) : 0;
}

/* Each inode touched since the last commit, or each of them when the list overflowed. */
static int each_touched(struct kfs *fs, int (*fn)(struct kfs *fs, struct kfs_inode *n))
{
	int rc = 0;

	if (fs->touched_all) {
		for (size_t b = 0; b < KFS_BUCKETS && rc == 0; b++)
			for (struct kfs_inode *n = fs->tab[b]; n && rc == 0; n = n->next)
				rc = fn(fs, n);
	} else {
		for (size_t i = 0; i < fs->ntouched && rc == 0; i++) {
			struct kfs_inode *n = kfs_itab_find(fs, fs->touched[i]);
			if (n) /* else dropped since: ops.c retired its object */
				rc = fn(fs, n);
		}
	}
	return rc;
}

/*
 * A touched inode whose new version may not be stored (its put, sent
 * without waiting, failed; which one is not known): stored again by the
 * next commit. The failed commit wrote no record naming any of them.
 */
static int restore_dirty(struct kfs *fs, struct kfs_inode *n)
{
	if (n->loaded && n->a.nlink > 0 && n->ver)
		n->dirty = true;
	return 0;
}

static int put_root(struct kfs *fs)
{
	struct kfs_root r = { .gen = fs->gen + 1, .next_ino = fs->next_ino, .n = 0,
			      .prev_jseq = fs->jseq, .prev_parts = fs->root_parts };
	int rc;

	r.map = malloc(fs->ninodes ? fs->ninodes * 16 : 1);
	if (!r.map)
		return kiln_err(ENOMEM, "volume root: out of memory");
	for (size_t b = 0; b < KFS_BUCKETS; b++)
		for (struct kfs_inode *n = fs->tab[b]; n; n = n->next)
			if (n->ver && !(n->loaded && n->a.nlink == 0) && r.n < fs->ninodes) {
				r.map[2 * r.n] = n->ino;
				r.map[2 * r.n++ + 1] = n->ver;
			}
	r.next_ver = fs->next_ver;
	rc = kfs_root_store(fs, &r);
	free(r.map);
	if (rc == 0)
		fs->gen++;
	return rc;
}

/* A new root (a new gen); the old root's journal records then go. */
static int fold(struct kfs *fs)
{
	uint64_t gen = fs->gen, upto = fs->jseq;
	int rc = put_root(fs);

	if (rc < 0)
		return rc;
	kfs_journal_retire(fs, gen, upto);
	kfs_root_retire_leftovers(fs);
	fs->jseq = 0;
	fs->jok = true;
	return 0;
}

/* The commit's record went without waiting: what it must know at its end (struct kfs_sent). */
static void sent_begin(struct kfs *fs)
{
	fs->sent.on = true;
	fs->sent.answered = false;
	fs->sent.ngarbage = fs->ngarbage;
	fs->sent.nchg = fs->nchg;
	kfs_touched_take(fs, &fs->sent);
	fs->commit_ver = fs->next_ver;
}

/* A sent commit failed: the inodes it stored are stored again by the next. */
static void sent_failed(struct kfs *fs)
{
	if (fs->sent.all) {
		fs->touched_all = true;
		(void)each_touched(fs, restore_dirty);
		return;
	}
	for (size_t i = 0; i < fs->sent.ninos; i++) {
		struct kfs_inode *n = kfs_itab_find(fs, fs->sent.inos[i]);
		if (n) { /* else dropped since: its change follows this commit's */
			(void)restore_dirty(fs, n);
			kfs_touched_add(fs, n);
		}
	}
}

/*
 * The commit's objects, then its record (see the top). To a parent that
 * takes commit points the journal record is sent as one, and the commit
 * ends in kfs_commit_wait. Otherwise SYNC, whose reply follows the puts'
 * answers, then the record: two round trips. On a failure the touched
 * inodes stay touched and dirty for the next commit.
 */
static int commit_objects(struct kfs *fs)
{
	int rc = each_touched(fs, flush_inode);
	/* after the inodes: their changes may be too many for a record */
	bool point = fs->pipe && fs->pipe->barriers(fs->st) && kfs_journal_fits(fs);

	if (rc == 0 && point && (rc = kfs_journal_put(fs, true, fs->nchg)) == 0) {
		sent_begin(fs);
		return 0;
	}
	if (rc == 0 && !point)
		rc = fs->st->sync(fs->st);
	int src = kfs_puts_settle(fs);
	rc = rc < 0 ? rc : src;
	if (rc == 0)
		rc = kfs_journal_fits(fs) ? kfs_journal_put(fs, false, fs->nchg) : fold(fs);
	if (rc < 0) {
		(void)each_touched(fs, restore_dirty);
		return rc;
	}
	kfs_touched_clear(fs);
	kfs_journal_committed(fs, fs->nchg, true);
	fs->commit_ver = fs->next_ver;
	collect(fs, fs->ngarbage);
	return 0;
}

int kfs_commit_send(struct kfs *fs)
{
	if (fs->alt)
		return fs->alt->sync(fs->alt_ctx);
	int rc = kfs_commit_wait(fs); /* one at a time */

	if (rc < 0)
		return rc;
	/* deferred writes sealed first; a block that cannot be is kept for settle to report */
	(void)!kfs_flush_deferred(fs);
	rc = fs->put_err ? kfs_puts_settle(fs) : 0; /* a failure known already */
	if (rc == 0)
		rc = commit_objects(fs);
	return rc < 0 ? kiln_err_wrap(rc, "storage commit") : 0;
}

bool kfs_commit_sent(const struct kfs *fs)
{
	return fs->sent.on;
}

int kfs_commit_ready(struct kfs *fs)
{
	size_t n = 0;

	if (!fs->sent.on || fs->sent.answered)
		return 1;
	int rc = fs->pipe->answered(fs->st, &n);
	return rc < 0 ? rc : n >= kfs_record_in_flight(fs);
}

int kfs_commit_fd(const struct kfs *fs)
{
	return fs->sent.on ? fs->pipe->fd(fs->st) : -1;
}

/*
 * Its record's answer, and the first failures of the puts before it. A
 * point refused although every put was stored was refused for a failure
 * an earlier commit reported: the puts are made durable by SYNC and the
 * record is put again, listing only this commit's changes.
 */
static int sent_result(struct kfs *fs)
{
	struct kfs_sent *c = &fs->sent;
	size_t n = c->answered ? 0 : kfs_record_in_flight(fs);
	int rc = c->answered || n ? 0 : kiln_err(EPROTO, "the commit's record is not in flight");

	if (rc == 0 && n)
		rc = kfs_puts_reap(fs, n); /* up to its record: that sets c->answered */
	if (rc == 0)
		rc = kfs_puts_failed(c->put_err, c->meta_err);
	if (rc == 0 && c->point_rc == 0)
		fs->jseq++;
	else if (rc == 0) {
		rc = fs->st->sync(fs->st);
		if (rc == 0)
			rc = kfs_journal_put(fs, false, c->nchg);
	}
	return rc;
}

int kfs_commit_wait(struct kfs *fs)
{
	if (!fs->sent.on)
		return 0;
	int rc = sent_result(fs);

	if (rc < 0)
		sent_failed(fs);
	else {
		kfs_journal_committed(fs, fs->sent.nchg, false);
		collect(fs, fs->sent.ngarbage);
	}
	fs->sent.on = fs->sent.answered = false;
	fs->sent.ngarbage = fs->sent.nchg = fs->sent.ninos = 0;
	return rc < 0 ? kiln_err_wrap(rc, "storage commit") : 0;
}

/*
 * The whole commit: sent, then waited for. A commit sent before and not
 * waited for yet ends first, and its failure is this one's.
 */
int kfs_sync(struct kfs *fs)
{
	int rc = kfs_commit_send(fs);

	return rc < 0 ? rc : kfs_commit_wait(fs);
}

int kfs_sync_background(struct kfs *fs)
{
	int rc, err;

	if (fs->alt)
		return fs->alt->sync(fs->alt_ctx);
	(void)!kfs_flush_deferred(fs); /* its failure, like a put's, waits for the next fsync */
	rc = fs->pipe ? kfs_puts_reap(fs, fs->nflight) : 0;
	err = fs->put_err;
	fs->put_err = 0; /* the repaired blocks are committed now; the error waits */
	if (rc == 0)
		rc = kfs_sync(fs);
	if (fs->put_err == 0)
		fs->put_err = err;
	return rc;
}

bool kfs_synced(struct kfs *fs)
{
	return !fs->alt && !fs->sent.on && !kfs_dirty(fs) && !fs->put_err;
}

bool kfs_dirty(struct kfs *fs)
{
	if (fs->alt)
		return false; /* plain volumes keep nothing back */
	if (fs->next_ver != fs->commit_ver || fs->ngarbage > fs->sent.ngarbage || kfs_deferred(fs))
		return true;
	if (fs->touched_all) {
		for (size_t b = 0; b < KFS_BUCKETS; b++)
			for (struct kfs_inode *n = fs->tab[b]; n; n = n->next)
				if (n->dirty)
					return true;
		return false;
	}
	for (size_t i = 0; i < fs->ntouched; i++) {
		struct kfs_inode *n = kfs_itab_find(fs, fs->touched[i]);
		if (n && n->dirty)
			return true;
	}
	kfs_touched_clear(fs); /* all clean: a read-only stretch does not grow the list for ever */
	return false;
}
