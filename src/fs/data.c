/* SPDX-License-Identifier: Apache-2.0 */
/* The storage core's file content: sealed fixed-size blocks, copy-on-write versions, and xattrs. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "fs/internal.h"

static int file_key(struct kfs *fs, uint64_t ino, uint8_t *key)
{
	return kfs_hkdf(fs->vkey, fs->uuid, KFS_UUID_LEN, "kiln-fs file", ino, key);
}

static void block_aad(struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver, struct kfs_aad *a)
{
	memset(a, 0, sizeof(*a));
	memcpy(a->uuid, fs->uuid, KFS_UUID_LEN);
	a->kind = KFS_OBJ_BLOCK;
	a->ino = ino;
	a->blk = blk;
	a->ver = ver;
}

/* A batch through the store's putv/getv, or one call per object when it has none. */
static int store_batch(struct kfs_store *st, bool put, struct kfs_obj *v, size_t n)
{
	int first = 0;

	if (put ? st->putv != NULL : st->getv != NULL)
		return put ? st->putv(st, v, n) : st->getv(st, v, n);
	for (size_t i = 0; i < n; i++) {
		v[i].rc = put ? st->put(st, v[i].id, v[i].buf, v[i].len, 0)
			      : st->get(st, v[i].id, &v[i].buf, &v[i].len);
		if (v[i].rc < 0 && first == 0)
			first = v[i].rc;
	}
	return first;
}

static struct kfs_cblk *cache_slot(struct kfs *fs, uint64_t ver)
{
	if (!fs->cache)
		fs->cache = calloc(KFS_CACHE_BLOCKS, sizeof(*fs->cache));
	return fs->cache ? &fs->cache[(ver * 0x9E3779B97F4A7C15ull) % KFS_CACHE_BLOCKS] : NULL;
}

/* Block blk at version ver from the cache into out; false when it is not there. */
static bool cache_get(struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver, uint8_t *out)
{
	struct kfs_cblk *c = cache_slot(fs, ver);

	if (!c || c->ver != ver || c->ino != ino || c->blk != blk)
		return false;
	memcpy(out, c->data, KFS_BLOCK);
	return true;
}

/* Remember a block as read_blocks returns it: len bytes stored, zeros after. */
static void cache_put(struct kfs *fs, uint64_t ino, uint64_t blk, uint64_t ver,
		      const uint8_t *data, size_t len)
{
	struct kfs_cblk *c = cache_slot(fs, ver);

	if (!c)
		return; /* no memory for it: the cache is only an optimisation */
	c->ino = ino;
	c->blk = blk;
	c->ver = ver;
	memcpy(c->data, data, len);
	memset(c->data + len, 0, KFS_BLOCK - len);
}

/* Authenticate block blk (fetched with result got) into out; KFS_BLOCK bytes, zero-filled. */
static int open_block(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, uint64_t blk,
		      const struct kfs_obj *o, uint8_t *out)
{
	char what[80];
	struct kfs_aad aad;
	int rc = o->rc;

	snprintf(what, sizeof(what), "block %llu of inode %llu", (unsigned long long)blk,
		 (unsigned long long)n->ino);
	if (rc == -ENOENT)
		return kfs_integrity(fs, rc, what, o->id);
	if (rc < 0)
		return rc;
	block_aad(fs, n->ino, blk, n->blk[blk], &aad);
	if (o->len < KFS_SEAL_OVERHEAD || o->len - KFS_SEAL_OVERHEAD > KFS_BLOCK)
		rc = -EBADMSG;
	else
		rc = kfs_open_sealed(key, &aad, o->buf, o->len, out);
	return rc < 0 ? kfs_integrity(fs, rc, what, o->id) : 0;
}

/*
 * Read blocks b0 .. b0+cnt-1 (cnt <= KFS_BATCH_MAX) into out, KFS_BLOCK
 * bytes each, zero-filled past what was stored; holes read as zeros. The
 * stored ones are fetched in one batch (one round trip to the parent).
 */
static int read_blocks(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, uint64_t b0,
		       size_t cnt, uint8_t *out)
{
	struct kfs_obj v[KFS_BATCH_MAX];
	char ids[KFS_BATCH_MAX][KFS_ID_MAX + 1];
	size_t at[KFS_BATCH_MAX], m = 0;
	int rc = 0;

	memset(out, 0, cnt * KFS_BLOCK);
	for (size_t i = 0; i < cnt; i++) {
		uint64_t b = b0 + i;
		if (b >= n->nblk || n->blk[b] == 0 ||
		    cache_get(fs, n->ino, b, n->blk[b], out + i * KFS_BLOCK))
			continue; /* a hole, or decrypted a moment ago */
		kfs_block_id(n->ino, b, n->blk[b], ids[m]);
		v[m] = (struct kfs_obj){ .id = ids[m] };
		at[m++] = i;
	}
	if (m)
		(void)store_batch(fs->st, false, v, m);
	for (size_t j = 0; j < m; j++) {
		if (rc == 0)
			rc = open_block(fs, n, key, b0 + at[j], &v[j], out + at[j] * KFS_BLOCK);
		if (rc == 0)
			cache_put(fs, n->ino, b0 + at[j], n->blk[b0 + at[j]], out + at[j] * KFS_BLOCK,
				  KFS_BLOCK);
		free(v[j].buf);
	}
	return rc;
}

static int read_block(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, uint64_t blk,
		      uint8_t *out)
{
	return read_blocks(fs, n, key, blk, 1, out);
}

/* What write_blocks needs per batch: sealed copies, their ids and versions. */
struct wbatch {
	struct kfs_obj v[KFS_BATCH_MAX];
	char ids[KFS_BATCH_MAX][KFS_ID_MAX + 1];
	uint64_t ver[KFS_BATCH_MAX];
};

/*
 * Store blocks b0 .. b0+cnt-1 (cnt <= KFS_BATCH_MAX; block i is data +
 * i * KFS_BLOCK, lens[i] bytes) as new versions in one batch. All or none:
 * if any put fails the others are deleted and the old versions stay.
 */
static int write_blocks(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, uint64_t b0,
			size_t cnt, const uint8_t *data, const size_t *lens)
{
	struct wbatch *w = malloc(sizeof(*w));
	uint8_t *ct = malloc(cnt * (KFS_BLOCK + KFS_SEAL_OVERHEAD));
	struct kfs_aad aad;
	int rc = w && ct ? 0 : kiln_err(ENOMEM, "write: out of memory");

	for (size_t i = 0; i < cnt && rc == 0; i++) {
		w->ver[i] = fs->next_ver++;
		block_aad(fs, n->ino, b0 + i, w->ver[i], &aad);
		w->v[i] = (struct kfs_obj){ .id = w->ids[i], .buf = ct + i * (KFS_BLOCK + KFS_SEAL_OVERHEAD),
					    .len = lens[i] + KFS_SEAL_OVERHEAD };
		kfs_block_id(n->ino, b0 + i, w->ver[i], w->ids[i]);
		rc = kfs_seal(key, &aad, data + i * KFS_BLOCK, lens[i], w->v[i].buf);
	}
	if (rc == 0 && (rc = store_batch(fs->st, true, w->v, cnt)) < 0)
		for (size_t i = 0; i < cnt; i++)
			if (w->v[i].rc == 0)
				(void)fs->st->del(fs->st, w->ids[i]);
	for (size_t i = 0; i < cnt && rc == 0; i++) {
		uint64_t b = b0 + i;
		if (n->blk[b]) {
			kfs_block_id(n->ino, b, n->blk[b], w->ids[i]);
			rc = kfs_retire(fs, w->ids[i], n->blk[b]);
		}
		n->blk[b] = w->ver[i];
		if (cnt == 1) /* a small write: the next one may well be to the same block */
			cache_put(fs, n->ino, b, w->ver[i], data, lens[i]);
	}
	free(ct);
	free(w);
	return rc;
}

static int write_block(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, uint64_t blk,
		       const uint8_t *data, size_t len)
{
	return write_blocks(fs, n, key, blk, 1, data, &len);
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
		rc = buf ? file_key(fs, n->ino, key) : kiln_err(ENOMEM, "truncate: out of memory");
		if (rc == 0)
			rc = read_block(fs, n, key, keep - 1, buf);
		if (rc == 0)
			rc = write_block(fs, n, key, keep - 1, buf, size % KFS_BLOCK);
		n->dirty |= rc == 0;
		OPENSSL_cleanse(key, sizeof(key));
		if (buf)
			OPENSSL_cleanse(buf, KFS_BLOCK);
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

ssize_t kfs_read(struct kfs *fs, uint64_t ino, uint64_t off, void *buf, size_t len)
{
	KFS_ALT(fs, read, ino, off, buf, len);
	struct kfs_inode *n;
	uint8_t key[KFS_KEY_LEN], *blk = NULL;
	size_t done = 0, cap = 0;
	uint64_t last;
	int rc = get_file(fs, ino, &n);

	if (rc < 0)
		return rc;
	if (off >= n->a.size || len == 0)
		return 0;
	if (len > n->a.size - off)
		len = (size_t)(n->a.size - off);
	last = (off + len - 1) / KFS_BLOCK;
	cap = batch_len(off / KFS_BLOCK, last) * KFS_BLOCK;
	blk = malloc(cap);
	rc = blk ? file_key(fs, ino, key) : kiln_err(ENOMEM, "read: out of memory");
	while (rc == 0 && done < len) {
		uint64_t b = (off + done) / KFS_BLOCK, in = (off + done) % KFS_BLOCK;
		size_t cnt = batch_len(b, last);
		size_t chunk = cnt * KFS_BLOCK - in < len - done ? cnt * KFS_BLOCK - in : len - done;
		rc = read_blocks(fs, n, key, b, cnt, blk);
		if (rc == 0)
			memcpy((uint8_t *)buf + done, blk + in, chunk);
		done += chunk;
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (blk)
		OPENSSL_cleanse(blk, cap);
	free(blk);
	return rc < 0 ? rc : (ssize_t)len;
}

/* Bytes of block b that exist in a file of the given size (stored length). */
static size_t block_len(uint64_t b, uint64_t size)
{
	uint64_t start = b * KFS_BLOCK;

	return size <= start ? 0 : (size_t)(size - start < KFS_BLOCK ? size - start : KFS_BLOCK);
}

/*
 * One batch of a write: len bytes at offset in of block b, over cnt
 * blocks. Only the blocks at either end can be partly written: they are
 * read first so that their other bytes stay.
 */
static int write_batch(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, uint64_t b,
		       size_t cnt, size_t in, const uint8_t *data, size_t len, uint8_t *blk)
{
	size_t lens[KFS_BATCH_MAX], end = in + len;
	int rc = 0;

	if (in != 0)
		rc = read_block(fs, n, key, b, blk);
	if (rc == 0 && end % KFS_BLOCK && !(cnt == 1 && in != 0))
		rc = read_block(fs, n, key, b + cnt - 1, blk + (cnt - 1) * KFS_BLOCK);
	if (rc < 0)
		return rc;
	memcpy(blk + in, data, len);
	for (size_t i = 0; i < cnt; i++) {
		size_t wend = end - i * KFS_BLOCK < KFS_BLOCK ? end - i * KFS_BLOCK : KFS_BLOCK;
		size_t keep = block_len(b + i, n->a.size);
		lens[i] = wend > keep ? wend : keep;
	}
	return write_blocks(fs, n, key, b, cnt, blk, lens);
}

ssize_t kfs_write(struct kfs *fs, uint64_t ino, uint64_t off, const void *buf, size_t len)
{
	KFS_ALT(fs, write, ino, off, buf, len);
	struct kfs_inode *n;
	uint8_t key[KFS_KEY_LEN], *blk = NULL;
	uint64_t end = off + len, last;
	size_t done = 0, cap = 0;
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
	cap = batch_len(off / KFS_BLOCK, last) * KFS_BLOCK;
	blk = malloc(cap);
	rc = blk ? file_key(fs, ino, key) : kiln_err(ENOMEM, "write: out of memory");
	while (rc == 0 && done < len) {
		uint64_t b = (off + done) / KFS_BLOCK, in = (off + done) % KFS_BLOCK;
		size_t cnt = batch_len(b, last);
		size_t chunk = cnt * KFS_BLOCK - in < len - done ? cnt * KFS_BLOCK - in : len - done;
		rc = write_batch(fs, n, key, b, cnt, (size_t)in, (const uint8_t *)buf + done, chunk, blk);
		done += rc == 0 ? chunk : 0;
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (blk)
		OPENSSL_cleanse(blk, cap);
	free(blk);
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
