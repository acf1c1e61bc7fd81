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

/* Read block blk into out (KFS_BLOCK bytes, zero-filled past what was stored). */
static int read_block(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, uint64_t blk,
		      uint8_t *out)
{
	char id[KFS_ID_MAX + 1], what[80];
	struct kfs_aad aad;
	uint8_t *ct = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, KFS_BLOCK);
	if (blk >= n->nblk || n->blk[blk] == 0)
		return 0; /* a hole */
	kfs_block_id(n->ino, blk, n->blk[blk], id);
	snprintf(what, sizeof(what), "block %llu of inode %llu", (unsigned long long)blk,
		 (unsigned long long)n->ino);
	rc = fs->st->get(fs->st, id, &ct, &len);
	if (rc == -ENOENT)
		return kfs_integrity(fs, rc, what, id);
	if (rc < 0)
		return rc;
	block_aad(fs, n->ino, blk, n->blk[blk], &aad);
	if (len < KFS_SEAL_OVERHEAD || len - KFS_SEAL_OVERHEAD > KFS_BLOCK)
		rc = -EBADMSG;
	else
		rc = kfs_open_sealed(key, &aad, ct, len, out);
	free(ct);
	return rc < 0 ? kfs_integrity(fs, rc, what, id) : 0;
}

/* Store data (len <= KFS_BLOCK) as a new version of block blk; retire the old one. */
static int write_block(struct kfs *fs, struct kfs_inode *n, const uint8_t *key, uint64_t blk,
		       const uint8_t *data, size_t len)
{
	char id[KFS_ID_MAX + 1];
	struct kfs_aad aad;
	uint8_t *ct = malloc(len + KFS_SEAL_OVERHEAD);
	uint64_t ver = fs->next_ver;
	int rc;

	if (!ct)
		return kiln_err(ENOMEM, "write: out of memory");
	block_aad(fs, n->ino, blk, ver, &aad);
	rc = kfs_seal(key, &aad, data, len, ct);
	kfs_block_id(n->ino, blk, ver, id);
	if (rc == 0)
		rc = fs->st->put(fs->st, id, ct, len + KFS_SEAL_OVERHEAD, 0);
	free(ct);
	if (rc < 0)
		return rc;
	fs->next_ver++;
	if (n->blk[blk]) {
		kfs_block_id(n->ino, blk, n->blk[blk], id);
		rc = kfs_retire(fs, id, n->blk[blk]);
	}
	n->blk[blk] = ver;
	return rc;
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

/* Drop blocks past size; the block holding the new end is rewritten short. */
int kfs_truncate_blocks(struct kfs *fs, struct kfs_inode *n, uint64_t size)
{
	char id[KFS_ID_MAX + 1];
	uint64_t keep = (size + KFS_BLOCK - 1) / KFS_BLOCK;
	uint8_t key[KFS_KEY_LEN], *buf = NULL;
	int rc = 0;

	if (size >= n->a.size)
		return grow_blocks(n, size);
	for (uint64_t b = keep; b < n->nblk && rc == 0; b++)
		if (n->blk[b]) {
			kfs_block_id(n->ino, b, n->blk[b], id);
			rc = kfs_retire(fs, id, n->blk[b]);
			n->blk[b] = 0;
		}
	if (rc == 0 && n->nblk > keep)
		n->nblk = (uint32_t)keep;
	if (rc < 0 || size % KFS_BLOCK == 0 || n->blk[keep - 1] == 0)
		return rc;
	/* the tail past the new end must read as zeros if the file grows again */
	buf = malloc(KFS_BLOCK);
	rc = buf ? file_key(fs, n->ino, key) : kiln_err(ENOMEM, "truncate: out of memory");
	if (rc == 0)
		rc = read_block(fs, n, key, keep - 1, buf);
	if (rc == 0)
		rc = write_block(fs, n, key, keep - 1, buf, size % KFS_BLOCK);
	OPENSSL_cleanse(key, sizeof(key));
	free(buf);
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

ssize_t kfs_read(struct kfs *fs, uint64_t ino, uint64_t off, void *buf, size_t len)
{
	KFS_ALT(fs, read, ino, off, buf, len);
	struct kfs_inode *n;
	uint8_t key[KFS_KEY_LEN], *blk;
	size_t done = 0;
	int rc = get_file(fs, ino, &n);

	if (rc < 0)
		return rc;
	if (off >= n->a.size)
		return 0;
	if (len > n->a.size - off)
		len = (size_t)(n->a.size - off);
	blk = malloc(KFS_BLOCK);
	rc = blk ? file_key(fs, ino, key) : kiln_err(ENOMEM, "read: out of memory");
	while (rc == 0 && done < len) {
		uint64_t b = (off + done) / KFS_BLOCK, in = (off + done) % KFS_BLOCK;
		size_t chunk = KFS_BLOCK - in < len - done ? KFS_BLOCK - in : len - done;
		rc = read_block(fs, n, key, b, blk);
		if (rc == 0)
			memcpy((uint8_t *)buf + done, blk + in, chunk);
		done += chunk;
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (blk)
		OPENSSL_cleanse(blk, KFS_BLOCK);
	free(blk);
	return rc < 0 ? rc : (ssize_t)len;
}

/* Bytes of block b that exist in a file of the given size (stored length). */
static size_t block_len(uint64_t b, uint64_t size)
{
	uint64_t start = b * KFS_BLOCK;

	return size <= start ? 0 : (size_t)(size - start < KFS_BLOCK ? size - start : KFS_BLOCK);
}

ssize_t kfs_write(struct kfs *fs, uint64_t ino, uint64_t off, const void *buf, size_t len)
{
	KFS_ALT(fs, write, ino, off, buf, len);
	struct kfs_inode *n;
	uint8_t key[KFS_KEY_LEN], *blk;
	uint64_t end = off + len;
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
	blk = malloc(KFS_BLOCK);
	rc = blk ? file_key(fs, ino, key) : kiln_err(ENOMEM, "write: out of memory");
	while (rc == 0 && done < len) {
		uint64_t b = (off + done) / KFS_BLOCK, in = (off + done) % KFS_BLOCK;
		size_t chunk = KFS_BLOCK - in < len - done ? KFS_BLOCK - in : len - done;
		size_t keep = block_len(b, n->a.size), blen;
		if (in != 0 || chunk != KFS_BLOCK)
			rc = read_block(fs, n, key, b, blk);
		if (rc < 0)
			break;
		memcpy(blk + in, (const uint8_t *)buf + done, chunk);
		blen = in + chunk > keep ? in + chunk : keep;
		rc = write_block(fs, n, key, b, blk, blen);
		done += chunk;
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (blk)
		OPENSSL_cleanse(blk, KFS_BLOCK);
	free(blk);
	if (rc < 0)
		return rc;
	if (end > n->a.size)
		n->a.size = end;
	kfs_touch(n, true, true);
	return (ssize_t)len;
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
	if (fs->alt)
		return kiln_err(EOPNOTSUPP, "extended attributes: not on a plain volume");
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
	if (fs->alt)
		return kiln_err(EOPNOTSUPP, "extended attributes: not on a plain volume");
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
	if (fs->alt)
		return kiln_err(EOPNOTSUPP, "extended attributes: not on a plain volume");
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
	if (fs->alt)
		return kiln_err(EOPNOTSUPP, "extended attributes: not on a plain volume");
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
