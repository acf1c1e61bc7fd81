/* SPDX-License-Identifier: Apache-2.0 */
/* The storage core's namespace: lookup, create, link, unlink, rename, readdir, attributes. */
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/internal.h"

static int name_ok(const char *name)
{
	size_t l = strnlen(name, KFS_NAME_MAX + 1);

	if (l == 0 || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return kiln_err(EINVAL, "name \"%.40s\": not a valid entry name", name);
	if (l > KFS_NAME_MAX)
		return kiln_err(ENAMETOOLONG, "name: longer than %d bytes", KFS_NAME_MAX);
	return 0;
}

static int get_dir(struct kfs *fs, uint64_t ino, struct kfs_inode **d)
{
	int rc = kfs_iget(fs, ino, d);

	if (rc == 0 && !S_ISDIR((*d)->a.mode))
		return kiln_err(ENOTDIR, "inode %llu: not a directory", (unsigned long long)ino);
	if (rc == 0 && (*d)->a.nlink == 0)
		return kiln_err(ENOENT, "directory %llu: removed", (unsigned long long)ino);
	return rc;
}

static int dent_add(struct kfs_inode *d, const char *name, uint64_t ino, uint32_t mode)
{
	struct kfs_dent *e;

	if (d->nent == d->entcap) {
		uint32_t cap = d->entcap ? d->entcap * 2 : 8;
		void *p = realloc(d->ents, cap * sizeof(*d->ents));
		if (!p)
			return kiln_err(ENOMEM, "directory: out of memory");
		d->ents = p;
		d->entcap = cap;
	}
	e = &d->ents[d->nent];
	e->name = strdup(name);
	if (!e->name)
		return kiln_err(ENOMEM, "directory: out of memory");
	e->nlen = (uint16_t)strlen(name); /* name_ok: at most KFS_NAME_MAX */
	e->ino = ino;
	e->mode = mode & S_IFMT;
	e->cookie = d->next_cookie++;
	d->nent++;
	kfs_dpage_touch(d, e->cookie);
	kfs_dix_added(d);
	kfs_touch(d, true, true);
	return 0;
}

static void dent_del(struct kfs_inode *d, struct kfs_dent *e)
{
	size_t i = (size_t)(e - d->ents);

	kfs_dix_removing(d, (uint32_t)i);
	kfs_dpage_touch(d, e->cookie);
	free(e->name);
	memmove(e, e + 1, (d->nent - i - 1) * sizeof(*e));
	d->nent--;
	kfs_touch(d, true, true);
}

int kfs_getattr(struct kfs *fs, uint64_t ino, struct kfs_attr *a)
{
	KFS_ALT(fs, getattr, ino, a);
	struct kfs_inode *n;
	int rc = kfs_iget(fs, ino, &n);

	if (rc == 0)
		*a = n->a;
	return rc;
}

int kfs_lookup(struct kfs *fs, uint64_t dir, const char *name, struct kfs_attr *a)
{
	KFS_ALT(fs, lookup, dir, name, a);
	struct kfs_inode *d;
	struct kfs_dent *e;
	int rc = get_dir(fs, dir, &d);

	if (rc < 0)
		return rc;
	e = kfs_dent_find(d, name);
	if (!e)
		return -ENOENT; /* the common case: no message needed */
	return kfs_getattr(fs, e->ino, a);
}

static int make_node(struct kfs *fs, uint64_t dir, const char *name, uint32_t mode, uint32_t uid,
		     uint32_t gid, struct kfs_inode **out)
{
	struct kfs_inode *d, *n;
	int rc = name_ok(name);

	if (rc == 0)
		rc = get_dir(fs, dir, &d);
	if (rc < 0)
		return rc;
	if (kfs_dent_find(d, name))
		return kiln_err(EEXIST, "\"%s\": exists", name);
	rc = kfs_inode_new(fs, mode, uid, gid, &n);
	if (rc < 0)
		return rc;
	rc = dent_add(d, name, n->ino, mode);
	if (rc < 0) {
		kfs_inode_drop(fs, n);
		return rc;
	}
	if (S_ISDIR(mode)) {
		n->parent = dir;
		d->a.nlink++;
	}
	*out = n;
	return 0;
}

int kfs_mknod(struct kfs *fs, uint64_t dir, const char *name, uint32_t mode, uint32_t uid,
	      uint32_t gid, struct kfs_attr *a)
{
	KFS_ALT(fs, mknod, dir, name, mode, uid, gid, a);
	struct kfs_inode *n;
	int rc;

	if (!S_ISREG(mode))
		return kiln_err(EPERM, "\"%s\": only regular files, directories and symlinks", name);
	rc = make_node(fs, dir, name, mode, uid, gid, &n);
	if (rc == 0)
		*a = n->a;
	return rc;
}

int kfs_mkdir(struct kfs *fs, uint64_t dir, const char *name, uint32_t mode, uint32_t uid,
	      uint32_t gid, struct kfs_attr *a)
{
	KFS_ALT(fs, mknod, dir, name, S_IFDIR | (mode & 07777), uid, gid, a);
	struct kfs_inode *n;
	int rc = make_node(fs, dir, name, S_IFDIR | (mode & 07777), uid, gid, &n);

	if (rc == 0)
		*a = n->a;
	return rc;
}

int kfs_symlink(struct kfs *fs, uint64_t dir, const char *name, const char *target, uint32_t uid,
		uint32_t gid, struct kfs_attr *a)
{
	KFS_ALT(fs, symlink, dir, name, target, uid, gid, a);
	struct kfs_inode *n;
	size_t tl = strlen(target);
	int rc;

	if (tl == 0 || tl > KFS_SYMLINK_MAX)
		return kiln_err(tl ? ENAMETOOLONG : ENOENT, "symlink \"%s\": bad target length", name);
	rc = make_node(fs, dir, name, S_IFLNK | 0777, uid, gid, &n);
	if (rc < 0)
		return rc;
	n->target = strdup(target);
	if (!n->target)
		return kiln_err(ENOMEM, "symlink: out of memory");
	n->a.size = tl;
	*a = n->a;
	return 0;
}

int kfs_readlink(struct kfs *fs, uint64_t ino, char *buf, size_t len)
{
	KFS_ALT(fs, readlink, ino, buf, len);
	struct kfs_inode *n;
	int rc = kfs_iget(fs, ino, &n);

	if (rc < 0)
		return rc;
	if (!S_ISLNK(n->a.mode))
		return kiln_err(EINVAL, "inode %llu: not a symlink", (unsigned long long)ino);
	if (strlen(n->target) >= len)
		return kiln_err(ERANGE, "readlink: buffer too small");
	strcpy(buf, n->target);
	return 0;
}

int kfs_link(struct kfs *fs, uint64_t ino, uint64_t dir, const char *name, struct kfs_attr *a)
{
	KFS_ALT(fs, link, ino, dir, name, a);
	struct kfs_inode *n, *d;
	int rc = name_ok(name);

	if (rc == 0)
		rc = kfs_iget(fs, ino, &n);
	if (rc == 0)
		rc = get_dir(fs, dir, &d);
	if (rc < 0)
		return rc;
	if (S_ISDIR(n->a.mode))
		return kiln_err(EPERM, "link \"%s\": cannot hard-link a directory", name);
	if (kfs_dent_find(d, name))
		return kiln_err(EEXIST, "\"%s\": exists", name);
	rc = dent_add(d, name, ino, n->a.mode);
	if (rc < 0)
		return rc;
	n->a.nlink++;
	kfs_touch(n, false, true);
	*a = n->a;
	return 0;
}

/* Free an inode's content once it has no name and no open handle. */
static int maybe_destroy(struct kfs *fs, struct kfs_inode *n)
{
	char id[KFS_ID_MAX + 1];
	int rc = 0;

	if (n->a.nlink || n->opens || n->ino == KFS_ROOT_INO)
		return 0;
	if (S_ISREG(n->a.mode))
		rc = kfs_truncate_blocks(fs, n, 0);
	if (n->ver) {
		kfs_inode_id(n->ino, n->ver, id);
		if (rc == 0)
			rc = kfs_meta_retire(fs, id, n->ver, n->parts);
	}
	kfs_inode_drop(fs, n);
	return rc;
}

/* Drop one name of n (a directory loses both of its links). */
static int drop_name(struct kfs *fs, struct kfs_inode *d, struct kfs_dent *e, struct kfs_inode *n)
{
	if (S_ISDIR(n->a.mode)) {
		n->a.nlink = 0;
		d->a.nlink--;
	} else {
		n->a.nlink--;
	}
	dent_del(d, e);
	kfs_touch(n, false, true);
	return maybe_destroy(fs, n);
}

/* The entry name in directory dir, with both inodes: what unlink and rmdir remove. */
static int named_child(struct kfs *fs, uint64_t dir, const char *name, struct kfs_inode **d,
		       struct kfs_dent **e, struct kfs_inode **n)
{
	int rc = get_dir(fs, dir, d);

	if (rc < 0)
		return rc;
	if (!(*e = kfs_dent_find(*d, name)))
		return kiln_err(ENOENT, "\"%s\": no such entry", name);
	return kfs_iget(fs, (*e)->ino, n);
}

int kfs_unlink(struct kfs *fs, uint64_t dir, const char *name)
{
	KFS_ALT(fs, remove, dir, name, false);
	struct kfs_inode *d, *n;
	struct kfs_dent *e;
	int rc = named_child(fs, dir, name, &d, &e, &n);

	if (rc < 0)
		return rc;
	if (S_ISDIR(n->a.mode))
		return kiln_err(EISDIR, "unlink \"%s\": is a directory", name);
	return drop_name(fs, d, e, n);
}

int kfs_rmdir(struct kfs *fs, uint64_t dir, const char *name)
{
	KFS_ALT(fs, remove, dir, name, true);
	struct kfs_inode *d, *n;
	struct kfs_dent *e;
	int rc = named_child(fs, dir, name, &d, &e, &n);

	if (rc < 0)
		return rc;
	if (!S_ISDIR(n->a.mode))
		return kiln_err(ENOTDIR, "rmdir \"%s\": not a directory", name);
	if (n->nent)
		return kiln_err(ENOTEMPTY, "rmdir \"%s\": not empty", name);
	return drop_name(fs, d, e, n);
}

/* Is dir anc an ancestor of (or equal to) ino? Renaming a dir below itself is EINVAL. */
static int is_ancestor(struct kfs *fs, uint64_t anc, uint64_t ino, bool *yes)
{
	struct kfs_inode *n;

	*yes = false;
	for (int depth = 0; depth < 4096; depth++) {
		int rc;
		if (ino == anc) {
			*yes = true;
			return 0;
		}
		if (ino == KFS_ROOT_INO)
			return 0;
		rc = kfs_iget(fs, ino, &n);
		if (rc < 0)
			return rc;
		ino = n->parent;
	}
	return kiln_err(EIO, "directory tree: loop in parent links");
}

static int check_target(struct kfs *fs, struct kfs_inode *src, struct kfs_dent *te,
			struct kfs_inode **tn)
{
	int rc;

	*tn = NULL;
	if (!te)
		return 0;
	rc = kfs_iget(fs, te->ino, tn);
	if (rc < 0)
		return rc;
	if (S_ISDIR(src->a.mode) && !S_ISDIR((*tn)->a.mode))
		return kiln_err(ENOTDIR, "rename: target is not a directory");
	if (!S_ISDIR(src->a.mode) && S_ISDIR((*tn)->a.mode))
		return kiln_err(EISDIR, "rename: target is a directory");
	if (S_ISDIR((*tn)->a.mode) && (*tn)->nent)
		return kiln_err(ENOTEMPTY, "rename: target directory not empty");
	return 0;
}

int kfs_rename(struct kfs *fs, uint64_t odir, const char *oname, uint64_t ndir, const char *nname,
	       unsigned flags)
{
	KFS_ALT(fs, rename, odir, oname, ndir, nname, flags);
	struct kfs_inode *od, *nd, *n, *tn;
	struct kfs_dent *e, *te;
	bool below;
	int rc;

	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return kiln_err(EINVAL, "rename: flags 0x%x not supported", flags);
	if ((rc = name_ok(nname)) < 0 || (rc = get_dir(fs, odir, &od)) < 0 ||
	    (rc = get_dir(fs, ndir, &nd)) < 0)
		return rc;
	if (!(e = kfs_dent_find(od, oname)))
		return kiln_err(ENOENT, "rename \"%s\": no such entry", oname);
	if ((rc = kfs_iget(fs, e->ino, &n)) < 0)
		return rc;
	te = kfs_dent_find(nd, nname);
	if (te && (flags & RENAME_NOREPLACE))
		return kiln_err(EEXIST, "rename: \"%s\" exists", nname);
	if (te && te->ino == n->ino)
		return 0; /* POSIX: both names are links to the same file */
	if (S_ISDIR(n->a.mode)) {
		if ((rc = is_ancestor(fs, n->ino, ndir, &below)) < 0)
			return rc;
		if (below)
			return kiln_err(EINVAL, "rename: a directory cannot move below itself");
	}
	if ((rc = check_target(fs, n, te, &tn)) < 0)
		return rc;
	if (tn && (rc = drop_name(fs, nd, te, tn)) < 0)
		return rc;
	if ((rc = dent_add(nd, nname, n->ino, n->a.mode)) < 0)
		return rc;
	dent_del(od, kfs_dent_find(od, oname));
	if (S_ISDIR(n->a.mode) && od != nd) {
		od->a.nlink--;
		nd->a.nlink++;
		n->parent = ndir;
	}
	kfs_touch(n, false, true);
	return 0;
}

int kfs_parent(struct kfs *fs, uint64_t dir, uint64_t *parent)
{
	KFS_ALT(fs, parent, dir, parent);
	struct kfs_inode *d;
	int rc = get_dir(fs, dir, &d);

	if (rc == 0)
		*parent = d->parent;
	return rc;
}

int kfs_readdir(struct kfs *fs, uint64_t dir, uint64_t cookie, kfs_fill_fn fill, void *ctx)
{
	KFS_ALT(fs, readdir, dir, cookie, fill, ctx);
	struct kfs_inode *d;
	uint32_t lo = 0, hi;
	int rc = get_dir(fs, dir, &d);

	if (rc < 0)
		return rc;
	/* entries are in cookie order: binary search the first one after cookie */
	hi = d->nent;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (d->ents[mid].cookie <= cookie)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (uint32_t i = lo; i < d->nent; i++)
		if (fill(ctx, d->ents[i].name, d->ents[i].ino, d->ents[i].mode, d->ents[i].cookie))
			break;
	return 0;
}

int kfs_open(struct kfs *fs, uint64_t ino)
{
	KFS_ALT(fs, open, ino);
	struct kfs_inode *n;
	int rc = kfs_iget(fs, ino, &n);

	if (rc == 0)
		n->opens++;
	return rc;
}

int kfs_release(struct kfs *fs, uint64_t ino)
{
	KFS_ALT(fs, release, ino);
	struct kfs_inode *n;
	int rc = kfs_iget(fs, ino, &n);

	if (rc < 0)
		return rc;
	if (n->opens)
		n->opens--;
	return maybe_destroy(fs, n);
}

int kfs_setattr(struct kfs *fs, uint64_t ino, unsigned mask, const struct kfs_attr *in,
		struct kfs_attr *out)
{
	KFS_ALT(fs, setattr, ino, mask, in, out);
	struct kfs_inode *n;
	int rc = kfs_iget(fs, ino, &n);

	if (rc < 0)
		return rc;
	if (mask & KFS_SET_SIZE) {
		if (!S_ISREG(n->a.mode))
			return kiln_err(S_ISDIR(n->a.mode) ? EISDIR : EINVAL, "truncate: not a file");
		if (in->size > KFS_MAX_FILE)
			return kiln_err(EFBIG, "truncate: over the maximum file size");
		if ((rc = kfs_truncate_blocks(fs, n, in->size)) < 0)
			return rc;
		n->a.size = in->size;
		kfs_touch(n, true, true);
	}
	if (mask & KFS_SET_MODE)
		n->a.mode = (n->a.mode & S_IFMT) | (in->mode & 07777);
	if (mask & KFS_SET_UID)
		n->a.uid = in->uid;
	if (mask & KFS_SET_GID)
		n->a.gid = in->gid;
	if (mask & KFS_SET_ATIME)
		n->a.atime_ns = in->atime_ns;
	if (mask & KFS_SET_MTIME)
		n->a.mtime_ns = in->mtime_ns;
	kfs_touch(n, false, true);
	if (out)
		*out = n->a;
	return 0;
}
