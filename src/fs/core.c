/* SPDX-License-Identifier: Apache-2.0 */
/* The storage core's volume: mount, the inode table, atomic commits of the authenticated root. */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fs/internal.h"
#include "util/secure.h"

#define HDR_ID "hdr"

int64_t kfs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void kfs_touch(struct kfs_inode *n, bool m, bool c)
{
	int64_t now = kfs_now();

	if (m)
		n->a.mtime_ns = now;
	if (c)
		n->a.ctime_ns = now;
	n->dirty = true;
}

/*
 * An object failed to authenticate or went missing: the parent tampered
 * with it (or lost it). Always EIO to the caller, and a log line naming it.
 */
int kfs_integrity(struct kfs *fs, int rc, const char *what, const char *id)
{
	char line[256];

	snprintf(line, sizeof(line), "storage integrity failure: %s (object %s): %s", what, id,
		 rc == -ENOENT ? "missing" : "authentication failed (tampered, swapped or rolled back)");
	if (fs->log)
		fs->log(fs->log_ctx, line);
	return kiln_err(EIO, "%s", line);
}

void kfs_aad_of(const struct kfs *fs, uint8_t kind, uint64_t ino, uint64_t blk, uint64_t ver,
		struct kfs_aad *a)
{
	memset(a, 0, sizeof(*a));
	memcpy(a->uuid, fs->uuid, KFS_UUID_LEN);
	a->kind = kind;
	a->ino = ino;
	a->blk = blk;
	a->ver = ver;
}

static struct kfs_inode **bucket(struct kfs *fs, uint64_t ino)
{
	return &fs->tab[(ino * 0x9E3779B97F4A7C15ull) >> 52];
}

static struct kfs_inode *find(struct kfs *fs, uint64_t ino)
{
	struct kfs_inode *n = *bucket(fs, ino);

	while (n && n->ino != ino)
		n = n->next;
	return n;
}

/* Whoever gets an inode may change it: the next commit looks at it. */
static void touch(struct kfs *fs, struct kfs_inode *n)
{
	if (n->touched || fs->touched_all)
		return;
	if (fs->ntouched == fs->touchedcap) {
		size_t cap = fs->touchedcap ? fs->touchedcap * 2 : 64;
		uint64_t *p = realloc(fs->touched, cap * sizeof(*p));
		if (!p) {
			fs->touched_all = true; /* correct, only slower */
			return;
		}
		fs->touched = p;
		fs->touchedcap = cap;
	}
	fs->touched[fs->ntouched++] = n->ino;
	n->touched = true;
}

/* After a commit stored them all: nothing is touched. */
static void untouch_all(struct kfs *fs)
{
	for (size_t i = 0; i < fs->ntouched; i++) {
		struct kfs_inode *n = find(fs, fs->touched[i]);
		if (n)
			n->touched = false;
	}
	fs->ntouched = 0;
	fs->touched_all = false;
}

struct kfs_inode *kfs_ifind(struct kfs *fs, uint64_t ino)
{
	struct kfs_inode *n = find(fs, ino);

	if (n)
		touch(fs, n);
	return n;
}

static int tab_add(struct kfs *fs, uint64_t ino, uint64_t ver, struct kfs_inode **out)
{
	struct kfs_inode *n = calloc(1, sizeof(*n)), **b = bucket(fs, ino);

	if (!n)
		return kiln_err(ENOMEM, "inode %llu: out of memory", (unsigned long long)ino);
	n->ino = n->a.ino = ino;
	n->ver = ver;
	n->next = *b;
	*b = n;
	fs->ninodes++;
	*out = n;
	return 0;
}

void kfs_inode_drop(struct kfs *fs, struct kfs_inode *n)
{
	struct kfs_inode **p = bucket(fs, n->ino);

	if (n->ver)
		kfs_journal_change(fs, n->ino, 0); /* it leaves the version map */
	while (*p && *p != n)
		p = &(*p)->next;
	if (*p)
		*p = n->next;
	fs->ninodes--;
	kfs_inode_free_fields(n);
	free(n);
}

/* The first 8 bytes of a sealed object's random nonce (after its format byte): unique per write. */
static uint64_t nonce_stamp(const uint8_t *ct)
{
	uint64_t v = 0;

	for (int i = 1; i <= 8; i++)
		v = v << 8 | ct[i];
	return v;
}

int kfs_seal_put(struct kfs *fs, const struct kfs_aad *aad, const char *id, const uint8_t *pt,
		 size_t len, unsigned flags, uint64_t *stamp)
{
	uint8_t *ct = malloc(len + KFS_SEAL_OVERHEAD);
	int rc = ct ? kfs_sealer_seal(fs->sealer, fs->mkey, aad, pt, len, ct) : kiln_err(ENOMEM, "object %s: out of memory", id);

	if (rc == 0 && (flags & KFS_SEAL_META))
		rc = kfs_put_meta(fs, id, ct, len + KFS_SEAL_OVERHEAD);
	else if (rc == 0 && (flags & KFS_PUT_BARRIER)) { /* a commit's record, its deletes behind it */
		struct kfs_obj o = { .id = id, .buf = ct, .len = len + KFS_SEAL_OVERHEAD };
		rc = fs->pipe->point(fs->st, &o, fs->garbage, fs->ngarbage, &fs->garbage_sent);
	} else if (rc == 0)
		rc = fs->st->put(fs->st, id, ct, len + KFS_SEAL_OVERHEAD, flags);
	if (rc == 0 && stamp)
		*stamp = nonce_stamp(ct);
	free(ct);
	return rc;
}

int kfs_open_meta(struct kfs *fs, const struct kfs_aad *aad, const char *id, const uint8_t *ct,
		  size_t cl, uint8_t **pt, size_t *len)
{
	int rc;

	*pt = malloc(cl > KFS_SEAL_OVERHEAD ? cl - KFS_SEAL_OVERHEAD : 1);
	rc = *pt ? kfs_sealer_open(fs->sealer, fs->mkey, aad, ct, cl, *pt) : kiln_err(ENOMEM, "object %s: out of memory", id);
	*len = rc == 0 ? cl - KFS_SEAL_OVERHEAD : 0;
	return rc;
}

int kfs_get_opened(struct kfs *fs, const struct kfs_aad *aad, const char *id, uint8_t **pt,
		   size_t *len, uint64_t *stamp)
{
	uint8_t *ct = NULL;
	size_t cl = 0;
	int rc = fs->st->get(fs->st, id, &ct, &cl);

	if (rc < 0)
		return rc;
	rc = kfs_open_meta(fs, aad, id, ct, cl, pt, len);
	if (rc == 0 && stamp)
		*stamp = nonce_stamp(ct);
	free(ct);
	return rc;
}

static int load_inode(struct kfs *fs, struct kfs_inode *n)
{
	char id[KFS_ID_MAX + 1], what[64];
	struct kfs_aad aad;
	uint8_t *pt = NULL;
	size_t len = 0;
	int rc;

	kfs_inode_id(n->ino, n->ver, id);
	snprintf(what, sizeof(what), "inode %llu", (unsigned long long)n->ino);
	kfs_aad_of(fs, KFS_OBJ_INODE, n->ino, 0, n->ver, &aad);
	rc = kfs_meta_get(fs, &aad, id, &pt, &len, &n->parts);
	if (rc < 0 && rc != -ENOENT && rc != -EBADMSG && rc != -ENOMEM) {
		free(pt);
		return rc; /* the store's own failure, or a part's (logged) */
	}
	if (rc == 0)
		rc = kfs_inode_decode(pt, len, n);
	free(pt);
	if (rc == -ENOMEM)
		return kiln_err(ENOMEM, "%s: out of memory", what);
	if (rc < 0)
		return kfs_integrity(fs, rc, what, id);
	if (S_ISDIR(n->a.mode) && n->npages && (rc = kfs_dpages_load(fs, n)) < 0) {
		kfs_inode_free_fields(n); /* a page's failure was logged by name */
		return rc;
	}
	n->a.ino = n->ino;
	n->loaded = true;
	return 0;
}

int kfs_iset(struct kfs *fs, uint64_t ino, uint64_t ver)
{
	struct kfs_inode *n = find(fs, ino);

	if (n && ver) {
		n->ver = ver;
		return 0;
	}
	if (n) {
		n->ver = 0; /* gone: nothing to record */
		kfs_inode_drop(fs, n);
		return 0;
	}
	return ver ? tab_add(fs, ino, ver, &n) : 0;
}

int kfs_iget(struct kfs *fs, uint64_t ino, struct kfs_inode **out)
{
	struct kfs_inode *n = kfs_ifind(fs, ino);
	int rc;

	if (!n)
		return kiln_err(ENOENT, "inode %llu: no such inode", (unsigned long long)ino);
	if (!n->loaded) {
		rc = load_inode(fs, n);
		if (rc < 0)
			return rc;
	}
	*out = n;
	return 0;
}

int kfs_inode_new(struct kfs *fs, uint32_t mode, uint32_t uid, uint32_t gid,
		  struct kfs_inode **out)
{
	struct kfs_inode *n;
	int rc = tab_add(fs, fs->next_ino, 0, &n);

	if (rc < 0)
		return rc;
	fs->next_ino++;
	n->loaded = true;
	n->a.mode = mode;
	n->a.uid = uid;
	n->a.gid = gid;
	n->a.nlink = S_ISDIR(mode) ? 2 : 1;
	n->a.atime_ns = n->a.mtime_ns = n->a.ctime_ns = kfs_now();
	n->next_cookie = 3;
	n->dirty = true;
	touch(fs, n);
	*out = n;
	return 0;
}

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

bool kfs_unretire(struct kfs *fs, const char *id)
{
	for (size_t i = 0; i < fs->ngarbage; i++)
		if (!strcmp(fs->garbage[i], id)) {
			memmove(fs->garbage[i], fs->garbage[--fs->ngarbage], sizeof(*fs->garbage));
			return true;
		}
	return false;
}

/* Seal and put one dirty inode as a new version; the old one is retired. */
static int store_inode(struct kfs *fs, struct kfs_inode *n)
{
	char id[KFS_ID_MAX + 1];
	struct kfs_aad aad;
	uint8_t *pt = NULL;
	size_t len;
	uint32_t parts;
	/* a large directory's changed pages first, under the version the inode takes */
	int rc = S_ISDIR(n->a.mode) ? kfs_dpages_store(fs, n, fs->next_ver) : 0;

	if (rc == 0)
		rc = kfs_inode_encode(n, &pt, &len);
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
		if (rc == 0 && S_ISDIR(n->a.mode))
			rc = kfs_dpages_retire(fs, n);
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
			struct kfs_inode *n = find(fs, fs->touched[i]);
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
	if (n->loaded && n->npages)
		n->all_dirty = true; /* its pages' puts may have failed too: none is kept */
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

/*
 * The commit's objects, then its record: the touched inodes' new versions
 * put (over the channel without waiting, behind the blocks still in
 * flight), everything made durable, every put's answer reaped (a failed
 * block is repaired), and the record that names them (a journal record or
 * a new root). To a parent that takes commit points the journal record
 * goes right behind the puts as one (KFS_PUT_BARRIER): stored only if all
 * of them were, once they are durable; the commit is one round trip.
 * Otherwise SYNC, whose reply follows the puts' answers, then the record:
 * two. On a failure the touched inodes stay touched and dirty for the next
 * commit.
 */
static int commit_objects(struct kfs *fs)
{
	int rc = each_touched(fs, flush_inode), prc = 0;
	/* after the inodes: their changes may be too many for a record */
	bool point = fs->pipe && fs->pipe->barriers(fs->st) && kfs_journal_fits(fs);

	fs->garbage_sent = false;
	if (rc == 0 && point)
		prc = kfs_journal_put(fs, KFS_PUT_BARRIER);
	else if (rc == 0)
		rc = fs->st->sync(fs->st);
	int src = kfs_puts_settle(fs);
	rc = rc < 0 ? rc : src;
	if (rc == 0 && prc < 0) {
		/* refused, yet every put stored: for a failure before this commit (or its own) */
		point = false;
		rc = fs->st->sync(fs->st);
	}
	if (rc == 0 && !point)
		rc = kfs_journal_fits(fs) ? kfs_journal_put(fs, 0) : fold(fs);
	if (rc < 0)
		(void)each_touched(fs, restore_dirty);
	else
		untouch_all(fs);
	return rc;
}

/*
 * The commit: new inode versions behind the block puts still in flight,
 * everything durable and every put answered (any failed: the commit fails,
 * fs/pipeline.c), then the record that names them (a journal record or a
 * new root: one durable atomic put), and only then the objects the old
 * ones named are deleted. A crash anywhere leaves the old or new state.
 */
int kfs_sync(struct kfs *fs)
{
	if (fs->alt)
		return fs->alt->sync(fs->alt_ctx);
	/* deferred writes sealed first; a block that cannot be is kept for settle to report */
	(void)!kfs_flush_deferred(fs);
	int rc = fs->put_err ? kfs_puts_settle(fs) : 0; /* a failure known already */

	if (rc == 0)
		rc = commit_objects(fs);
	if (rc < 0)
		return kiln_err_wrap(rc, "storage commit");
	kfs_journal_committed(fs);
	fs->commit_ver = fs->next_ver;
	for (size_t i = 0; i < fs->ngarbage && !fs->garbage_sent; i++)
		(void)fs->st->del(fs->st, fs->garbage[i]);
	fs->ngarbage = 0;
	return 0;
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
	return !fs->alt && !kfs_dirty(fs) && !fs->put_err;
}

bool kfs_dirty(struct kfs *fs)
{
	if (fs->alt)
		return false; /* plain volumes keep nothing back */
	if (fs->next_ver != fs->commit_ver || fs->ngarbage || kfs_deferred(fs))
		return true;
	if (fs->touched_all) {
		for (size_t b = 0; b < KFS_BUCKETS; b++)
			for (struct kfs_inode *n = fs->tab[b]; n; n = n->next)
				if (n->dirty)
					return true;
		return false;
	}
	for (size_t i = 0; i < fs->ntouched; i++) {
		struct kfs_inode *n = find(fs, fs->touched[i]);
		if (n && n->dirty)
			return true;
	}
	untouch_all(fs); /* all clean: a read-only stretch does not grow the list for ever */
	return false;
}

static int load_root(struct kfs *fs)
{
	struct kfs_root r;
	struct kfs_inode *n;
	int rc = kfs_root_fetch(fs, &r);

	if (rc < 0)
		return rc;
	fs->gen = r.gen;
	fs->next_ino = r.next_ino;
	fs->next_ver = fs->commit_ver = r.next_ver;
	for (uint64_t i = 0; i < r.n && rc == 0; i++) {
		if (r.map[2 * i + 1] >= r.next_ver || r.map[2 * i] >= r.next_ino || find(fs, r.map[2 * i]))
			rc = kfs_integrity(fs, -EBADMSG, "volume root", KFS_ROOT_ID);
		else
			rc = tab_add(fs, r.map[2 * i], r.map[2 * i + 1], &n);
	}
	free(r.map);
	if (rc == 0)
		rc = kfs_journal_replay(fs);
	if (rc == 0 && !find(fs, KFS_ROOT_INO))
		rc = kfs_integrity(fs, -EBADMSG, "volume root (no root directory)", KFS_ROOT_ID);
	return rc;
}

/* The volume key and uuid are known: the metadata key and the mount's sealer. */
static int keys_ready(struct kfs *fs)
{
	int rc = kfs_sealer_new(fs->vkey, fs->uuid, &fs->sealer);

	return rc < 0 ? rc : kfs_sealer_key(fs->sealer, "kiln-fs meta", 0, fs->mkey);
}

static int create_volume(struct kfs *fs)
{
	struct kfs_hdr h = { 0 };
	struct kfs_inode *root;
	uint8_t *wrapped = NULL, *buf = NULL;
	size_t wl = 0, len;
	int rc;

	if (RAND_bytes(fs->uuid, KFS_UUID_LEN) != 1 ||
	    (!fs->kw->generate && RAND_bytes(fs->vkey, KFS_KEY_LEN) != 1))
		return kiln_err(EIO, "new volume: no randomness");
	if (fs->kw->generate)
		rc = fs->kw->generate(fs->kw, fs->uuid, fs->vkey, &wrapped, &wl);
	else
		rc = fs->kw->wrap(fs->kw, fs->uuid, fs->vkey, &wrapped, &wl);
	if (rc < 0)
		return kiln_err_wrap(rc, "new volume: wrapping the key");
	memcpy(h.uuid, fs->uuid, KFS_UUID_LEN);
	snprintf(h.wrap, sizeof(h.wrap), "%s", fs->kw->name);
	h.wrapped = wrapped;
	h.wrapped_len = wl;
	rc = kfs_hdr_encode(&h, &buf, &len);
	free(wrapped);
	if (rc == 0)
		rc = fs->st->put(fs->st, HDR_ID, buf, len, KFS_PUT_DURABLE);
	free(buf);
	if (rc < 0)
		return rc;
	fs->next_ino = KFS_ROOT_INO;
	fs->next_ver = fs->commit_ver = 1;
	rc = keys_ready(fs);
	if (rc == 0)
		rc = kfs_inode_new(fs, S_IFDIR | 0755, 0, 0, &root);
	if (rc < 0)
		return rc;
	root->parent = KFS_ROOT_INO;
	return kfs_sync(fs);
}

static int open_volume(struct kfs *fs, uint8_t *buf, size_t len)
{
	struct kfs_hdr h;
	int rc = kfs_hdr_decode(buf, len, &h);

	if (rc < 0)
		return rc;
	if (strcmp(h.wrap, fs->kw->name))
		return kiln_err(EKEYREJECTED, "volume key: the volume was made with key \"%s\", not \"%s\"",
				h.wrap, fs->kw->name);
	memcpy(fs->uuid, h.uuid, KFS_UUID_LEN);
	rc = fs->kw->unwrap(fs->kw, fs->uuid, h.wrapped, h.wrapped_len, fs->vkey);
	if (rc < 0)
		return rc;
	rc = keys_ready(fs);
	return rc < 0 ? rc : load_root(fs);
}

static void kfs_free(struct kfs *fs)
{
	for (size_t b = 0; b < KFS_BUCKETS; b++)
		while (fs->tab[b])
			kfs_inode_drop(fs, fs->tab[b]);
	if (fs->st)
		fs->st->close(fs->st);
	if (fs->kw && fs->kw->free)
		fs->kw->free(fs->kw);
	kfs_sealer_free(fs->sealer);
	free(fs->garbage);
	free(fs->touched);
	free(fs->chg);
	/* past zero_from a slot holds zeros, or pages never touched */
	for (size_t i = 0; fs->cache && i < KFS_CACHE_BLOCKS; i++)
		kiln_wipe(fs->cache[i].data, fs->cache[i].zero_from);
	free(fs->cache);
	if (fs->merge)
		kiln_wipe(fs->merge, KFS_BLOCK);
	free(fs->merge);
	free(fs->edge); /* wiped after each use */
	free(fs->sealed);
	free(fs->ahead); /* after the store's close, which may read answers into it */
	kiln_wipe(fs, sizeof(*fs));
	free(fs);
}

int kfs_mount(struct kfs_store *store, struct kfs_keywrap *kw, unsigned flags, kfs_log_fn log,
	      void *log_ctx, struct kfs **out)
{
	struct kfs *fs = calloc(1, sizeof(*fs));
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (!fs) {
		store->close(store);
		if (kw->free)
			kw->free(kw);
		return kiln_err(ENOMEM, "mount: out of memory");
	}
	fs->st = store;
	fs->kw = kw;
	fs->part_pairs = KFS_ROOT_PART_PAIRS;
	/* pages untouched until used: the cache costs memory as it fills */
	fs->cache = calloc(KFS_CACHE_BLOCKS, sizeof(*fs->cache));
	fs->sealed = malloc(KFS_BATCH_MAX * (KFS_BLOCK + KFS_SEAL_OVERHEAD));
	fs->merge = malloc(KFS_BLOCK);
	if (!fs->cache || !fs->sealed || !fs->merge) {
		kfs_free(fs);
		return kiln_err(ENOMEM, "mount: out of memory");
	}
	fs->log = log;
	fs->log_ctx = log_ctx;
	fs->pipe = kfs_store_put_pipe(store);
	rc = store->get(store, HDR_ID, &buf, &len);
	if (rc == -ENOENT && (flags & KFS_MOUNT_CREATE))
		rc = create_volume(fs);
	else if (rc == -ENOENT)
		rc = kiln_err(ENOENT, "no volume here (no header object) and not asked to create one");
	else if (rc == 0)
		rc = open_volume(fs, buf, len);
	free(buf);
	if (rc < 0) {
		kfs_free(fs);
		return kiln_err_wrap(rc, "mount");
	}
	*out = fs;
	return 0;
}

int kfs_unmount(struct kfs *fs)
{
	if (fs->alt)
		return kfs_alt_free(fs);
	int rc = kfs_sync(fs);

	kfs_free(fs);
	return rc;
}

int kfs_statfs(struct kfs *fs, struct kfs_statfs *s)
{
	KFS_ALT(fs, statfs, s);
	s->inodes = fs->ninodes;
	s->bytes = 0;
	for (size_t b = 0; b < KFS_BUCKETS; b++)
		for (struct kfs_inode *n = fs->tab[b]; n; n = n->next)
			s->bytes += n->loaded ? n->a.size : 0;
	return 0;
}
