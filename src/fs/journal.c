/* SPDX-License-Identifier: Apache-2.0 */
/* The storage core's journal: small sealed records of what each commit changed, after the root. */
#include <stdlib.h>

#include "fs/internal.h"

/*
 * A root lists every live inode, so writing one per commit costs as much
 * as the volume is large. A commit that changed a few inodes instead
 * writes one record of the (ino, ver) pairs it changed. Record seq after
 * the root of generation gen is the object j-<gen>-<seq>, sealed with
 * gen, seq and the root's own random nonce (its stamp) in its associated
 * data: it cannot be moved to another place in the chain, nor behind
 * another root, even one of the same generation (after a rollback the
 * same generation is written again, by another history). Mount replays records 1, 2, ...
 * up to the first missing one. A dropped record ends the chain there,
 * which is a rollback of the whole volume to that commit, as the parent
 * could always do; and the first commit of every mount writes a new root
 * (a new gen), so records beyond such a gap are never read again. Every
 * KFS_JOURNAL_MAX records (or for a commit of more than KFS_JOURNAL_PAIRS
 * changes) a new root is written and the records go.
 */

void kfs_journal_change(struct kfs *fs, uint64_t ino, uint64_t ver)
{
	if (fs->chg_lost)
		return;
	if (fs->nchg == fs->chgcap) {
		size_t cap = fs->chgcap ? fs->chgcap * 2 : 32;
		uint64_t *p = cap <= KFS_JOURNAL_PAIRS ? realloc(fs->chg, cap * 16) : NULL;
		if (!p) {
			fs->chg_lost = true; /* too many, or no memory: the commit writes a root */
			return;
		}
		fs->chg = p;
		fs->chgcap = cap;
	}
	fs->chg[2 * fs->nchg] = ino;
	fs->chg[2 * fs->nchg++ + 1] = ver;
}

bool kfs_journal_fits(const struct kfs *fs)
{
	return fs->jok && !fs->chg_lost && fs->jseq < KFS_JOURNAL_MAX;
}

/* The commit's record, durable (flags: KFS_PUT_BARRIER or 0): then the changes it lists are committed. */
int kfs_journal_put(struct kfs *fs, unsigned flags)
{
	struct kfs_root r = { .gen = fs->gen, .seq = fs->jseq + 1, .next_ino = fs->next_ino,
			      .next_ver = fs->next_ver, .n = fs->nchg, .map = fs->chg };
	struct kfs_aad aad = { .kind = KFS_OBJ_JOURNAL, .ino = r.gen, .blk = fs->root_stamp, .ver = r.seq };
	char id[KFS_ID_MAX + 1];
	uint8_t *pt = NULL;
	size_t len;
	int rc = kfs_journal_encode(&r, &pt, &len);

	kfs_journal_id(r.gen, r.seq, id);
	if (rc == 0)
		rc = kfs_seal_put(fs, &aad, id, pt, len, KFS_PUT_DURABLE | flags, NULL);
	free(pt);
	if (rc == 0)
		fs->jseq = r.seq;
	return rc;
}

/* After a new root: the records of the old one go with the commit's garbage (a failure only leaks them). */
void kfs_journal_retire(struct kfs *fs, uint64_t gen, uint64_t upto)
{
	char id[KFS_ID_MAX + 1];

	for (uint64_t seq = 1; seq <= upto; seq++) {
		kfs_journal_id(gen, seq, id);
		if (kfs_retire(fs, id, 0) < 0)
			break;
	}
}

void kfs_journal_committed(struct kfs *fs)
{
	fs->nchg = 0;
	fs->chg_lost = false;
}

/* A record's counters only grow, and its pairs stay below them; the root directory never goes. */
static int apply(struct kfs *fs, const struct kfs_root *r, const char *id)
{
	int rc = 0;

	if (r->next_ino < fs->next_ino || r->next_ver < fs->next_ver)
		return kfs_integrity(fs, -EBADMSG, "journal record", id);
	for (uint64_t i = 0; i < r->n && rc == 0; i++) {
		uint64_t ino = r->map[2 * i], ver = r->map[2 * i + 1];
		if (ino == 0 || ino >= r->next_ino || ver >= r->next_ver ||
		    (ver == 0 && ino == KFS_ROOT_INO))
			return kfs_integrity(fs, -EBADMSG, "journal record", id);
		rc = kfs_iset(fs, ino, ver);
	}
	fs->next_ino = r->next_ino;
	fs->next_ver = fs->commit_ver = r->next_ver;
	return rc;
}

/* Record seq of the current root: 0, -ENOENT at the end of the chain, or -errno. */
static int replay_one(struct kfs *fs, uint64_t seq)
{
	struct kfs_aad aad = { .kind = KFS_OBJ_JOURNAL, .ino = fs->gen, .blk = fs->root_stamp, .ver = seq };
	struct kfs_root r = { 0 };
	char id[KFS_ID_MAX + 1];
	uint8_t *pt = NULL;
	size_t len = 0;
	int rc;

	kfs_journal_id(fs->gen, seq, id);
	rc = kfs_get_opened(fs, &aad, id, &pt, &len, NULL);
	if (rc == -ENOENT || (rc < 0 && rc != -EBADMSG))
		return rc;
	if (rc == 0)
		rc = kfs_journal_decode(pt, len, &r);
	free(pt);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0 || r.gen != fs->gen || r.seq != seq)
		rc = kfs_integrity(fs, -EBADMSG, "journal record", id);
	else
		rc = apply(fs, &r, id);
	free(r.map);
	return rc;
}

int kfs_journal_replay(struct kfs *fs)
{
	int rc;

	fs->jseq = 0;
	fs->jok = false; /* records may follow only a root this mount wrote */
	while ((rc = replay_one(fs, fs->jseq + 1)) == 0)
		fs->jseq++;
	return rc == -ENOENT ? 0 : rc;
}
