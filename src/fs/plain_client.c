/* SPDX-License-Identifier: Apache-2.0 */
/* Plain volumes in the enclave: inode numbers mapped to paths, each call one request to kilnd, each reply checked. */
#include "fs/plain.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs/plain_nodes.h"
#include "fs/plain_wire.h"

#define HDR_MAX (32 + 2 * (KFS_PLAIN_PATH_MAX + 2))

struct plain {
	pthread_mutex_t lock;
	int fd;
	uint32_t uid, gid;
	struct pn_table t;
	uint8_t hdr[HDR_MAX];
	uint8_t *rep;
	char p1[KFS_PLAIN_PATH_MAX + 1], p2[KFS_PLAIN_PATH_MAX + 1];
};

static struct pn_node *N(struct plain *p, uint64_t ino)
{
	return pn_get(&p->t, ino);
}

static int path_of(struct plain *p, uint64_t ino, char *out)
{
	return pn_path(&p->t, ino, out);
}

/* dir's path, then "/name" (checked) into out. */
static int path_in(struct plain *p, uint64_t dir, const char *name, char *out)
{
	size_t nl = strlen(name), dl;
	int rc;

	if (nl > KFS_NAME_MAX)
		return kiln_err(ENAMETOOLONG, "plain volume: name over %d bytes", KFS_NAME_MAX);
	if (kfs_plain_name_check(name, nl) < 0)
		return -EINVAL;
	rc = path_of(p, dir, out);
	dl = rc < 0 ? 0 : strlen(out);
	if (rc == 0 && dl + 1 + nl > KFS_PLAIN_PATH_MAX)
		return kiln_err(ENAMETOOLONG, "plain volume: path too long");
	if (rc == 0)
		snprintf(out + dl, KFS_PLAIN_PATH_MAX + 1 - dl, "%s%s", dl ? "/" : "", name);
	return rc;
}

/* One round trip; *d and *dl: the reply's data (valid until the next call). */
static int call(struct plain *p, struct kfs_plain_req *r, const void *data, size_t len,
		const uint8_t **d, size_t *dl)
{
	size_t hl, rl;
	uint8_t st;
	int rc;

	r->l1 = r->s1 ? strlen(r->s1) : 0;
	r->l2 = r->s2 ? strlen(r->s2) : 0;
	free(p->rep);
	p->rep = NULL;
	rc = kfs_plain_req_encode(r, p->hdr, sizeof(p->hdr), &hl);
	if (rc == 0)
		rc = kfs_wire_send(p->fd, p->hdr, hl, data, len);
	if (rc == 0)
		rc = kfs_wire_recv(p->fd, &p->rep, &rl);
	if (rc == 0)
		rc = kfs_wire_rep_decode(p->rep, rl, &st, d, dl);
	if (rc < 0)
		return kiln_err_wrap(-EIO, "plain volume");
	if (st)
		return kiln_err(st, "plain volume: %s%s%s", r->s1 ? r->s1 : "", r->s1 ? ": " : "",
				strerror(st));
	return 0;
}

/* A reply that is attributes, as this side's inode ino. */
static int attr_reply(struct plain *p, int rc, const uint8_t *d, size_t dl, uint64_t ino,
		      struct kfs_attr *a)
{
	uint64_t dev;

	if (rc == 0)
		rc = kfs_plain_attr_decode(d, dl, a, &dev);
	if (rc < 0)
		return rc;
	a->ino = ino;
	a->uid = p->uid;
	a->gid = p->gid;
	return 0;
}

static int getattr_locked(struct plain *p, uint64_t ino, struct kfs_attr *a)
{
	struct kfs_plain_req r = { .op = KFS_POP_GETATTR, .s1 = p->p1 };
	struct pn_node *x = N(p, ino);
	const uint8_t *d;
	size_t dl;
	int rc;

	if (x && x->handle) {
		r.flags = KFS_PF_BY_HANDLE;
		r.handle = x->handle;
		r.s1 = NULL;
	} else if ((rc = path_of(p, ino, p->p1)) < 0) {
		return rc;
	}
	rc = call(p, &r, NULL, 0, &d, &dl);
	return attr_reply(p, rc, d, dl, ino, a);
}

#define LOCKED(p, expr)                          \
	({                                       \
		pthread_mutex_lock(&(p)->lock);  \
		__typeof__(expr) _v = (expr);    \
		pthread_mutex_unlock(&(p)->lock); \
		_v;                              \
	})

static int pl_getattr(void *ctx, uint64_t ino, struct kfs_attr *a)
{
	return LOCKED((struct plain *)ctx, getattr_locked(ctx, ino, a));
}

/*
 * An entry the host answered for dir/name (a lookup, or a file just made):
 * its inode (the one known by that name, or for a file that is not a
 * directory the one of the same host file), counted as one more lookup.
 */
static int entry_reply(struct plain *p, int rc, const uint8_t *d, size_t dl, uint64_t dir,
		       const char *name, struct kfs_attr *a, uint64_t *out)
{
	uint64_t dev, ino = 0;

	if (rc == 0)
		rc = kfs_plain_attr_decode(d, dl, a, &dev);
	if (rc == 0)
		rc = pn_resolve(&p->t, dir, name, a->mode & S_IFMT, dev, a->ino, &ino);
	if (rc < 0)
		return rc;
	pn_ref(&p->t, ino);
	if (out)
		*out = ino;
	return attr_reply(p, 0, d, dl, ino, a);
}

static int lookup_locked(struct plain *p, uint64_t dir, const char *name, struct kfs_attr *a)
{
	struct kfs_plain_req r = { .op = KFS_POP_GETATTR, .s1 = p->p1 };
	const uint8_t *d;
	size_t dl;
	int rc = path_in(p, dir, name, p->p1);

	if (rc == 0)
		rc = call(p, &r, NULL, 0, &d, &dl);
	if (rc == -ENOENT)
		pn_unname(&p->t, dir, name);
	return entry_reply(p, rc, d, dl, dir, name, a, NULL);
}

static int pl_lookup(void *ctx, uint64_t dir, const char *name, struct kfs_attr *a)
{
	return LOCKED((struct plain *)ctx, lookup_locked(ctx, dir, name, a));
}

static int mknod_locked(struct plain *p, uint64_t dir, const char *name, uint32_t mode,
			struct kfs_attr *a)
{
	struct kfs_plain_req r = { .op = KFS_POP_MKDIR, .s1 = p->p1, .mode = mode & 07777 };
	const uint8_t *d;
	size_t dl;
	uint64_t ino, h = 0;
	int rc;

	/* a device node would be the parent's device, a socket there serves nothing */
	if (!S_ISREG(mode) && !S_ISDIR(mode) && !S_ISFIFO(mode))
		return kiln_err(EPERM, "plain volume: no device nodes or sockets (the parent's files)");
	rc = path_in(p, dir, name, p->p1);
	if (S_ISFIFO(mode))
		r.op = KFS_POP_MKFIFO;
	if (rc == 0 && S_ISREG(mode)) {
		r.op = KFS_POP_OPEN;
		r.mode = mode & 0777;
		r.flags = KFS_PF_CREATE | KFS_PF_EXCL | KFS_PF_WRITE;
	}
	if (rc == 0)
		rc = call(p, &r, NULL, 0, &d, &dl);
	if (rc == 0 && S_ISREG(mode)) {
		/* keep the handle made with the file: a 0444 file can still be written through it */
		if (dl < 8)
			return kiln_err(EIO, "plain volume: short OPEN reply");
		for (int i = 0; i < 8; i++)
			h = h << 8 | d[i];
		d += 8;
		dl -= 8;
	}
	rc = entry_reply(p, rc, d, dl, dir, name, a, &ino);
	if (rc == 0 && h)
		N(p, ino)->handle = h;
	return rc;
}

static int pl_mknod(void *ctx, uint64_t dir, const char *name, uint32_t mode, uint32_t uid,
		    uint32_t gid, struct kfs_attr *a)
{
	(void)uid;
	(void)gid;
	return LOCKED((struct plain *)ctx, mknod_locked(ctx, dir, name, mode, a));
}

static int symlink_locked(struct plain *p, uint64_t dir, const char *name, const char *target,
			  struct kfs_attr *a)
{
	struct kfs_plain_req r = { .op = KFS_POP_SYMLINK, .s1 = p->p1, .s2 = target };
	const uint8_t *d;
	size_t dl;
	int rc = path_in(p, dir, name, p->p1);

	if (rc == 0 && (!target[0] || strlen(target) > KFS_SYMLINK_MAX))
		rc = kiln_err(ENAMETOOLONG, "plain volume: symlink target empty or too long");
	if (rc == 0)
		rc = call(p, &r, NULL, 0, &d, &dl);
	return entry_reply(p, rc, d, dl, dir, name, a, NULL);
}

static int pl_symlink(void *ctx, uint64_t dir, const char *name, const char *target, uint32_t uid,
		      uint32_t gid, struct kfs_attr *a)
{
	(void)uid;
	(void)gid;
	return LOCKED((struct plain *)ctx, symlink_locked(ctx, dir, name, target, a));
}

static int readlink_locked(struct plain *p, uint64_t ino, char *buf, size_t len)
{
	struct kfs_plain_req r = { .op = KFS_POP_READLINK, .s1 = p->p1 };
	const uint8_t *d;
	size_t dl;
	int rc = path_of(p, ino, p->p1);

	if (rc == 0)
		rc = call(p, &r, NULL, 0, &d, &dl);
	if (rc == 0 && (dl == 0 || dl > KFS_SYMLINK_MAX || memchr(d, 0, dl)))
		rc = kiln_err(EIO, "plain volume: the host sent a bad symlink target");
	if (rc == 0 && dl >= len)
		rc = kiln_err(ERANGE, "plain volume: symlink target too long for the buffer");
	if (rc == 0) {
		memcpy(buf, d, dl);
		buf[dl] = '\0';
	}
	return rc;
}

static int pl_readlink(void *ctx, uint64_t ino, char *buf, size_t len)
{
	return LOCKED((struct plain *)ctx, readlink_locked(ctx, ino, buf, len));
}

static int link_locked(struct plain *p, uint64_t ino, uint64_t dir, const char *name,
		       struct kfs_attr *a)
{
	struct kfs_plain_req r = { .op = KFS_POP_LINK, .s1 = p->p1, .s2 = p->p2 };
	const uint8_t *d;
	size_t dl;
	int rc = path_of(p, ino, p->p1);

	if (rc == 0)
		rc = path_in(p, dir, name, p->p2);
	if (rc == 0)
		rc = call(p, &r, NULL, 0, &d, &dl);
	return entry_reply(p, rc, d, dl, dir, name, a, NULL);
}

static int pl_link(void *ctx, uint64_t ino, uint64_t dir, const char *name, struct kfs_attr *a)
{
	return LOCKED((struct plain *)ctx, link_locked(ctx, ino, dir, name, a));
}

static int remove_locked(struct plain *p, uint64_t dir, const char *name, bool is_dir)
{
	struct kfs_plain_req r = { .op = is_dir ? KFS_POP_RMDIR : KFS_POP_UNLINK, .s1 = p->p1 };
	const uint8_t *d;
	size_t dl;
	int rc = path_in(p, dir, name, p->p1);

	if (rc == 0)
		rc = call(p, &r, NULL, 0, &d, &dl);
	if (rc == 0 || rc == -ENOENT)
		pn_unname(&p->t, dir, name);
	return rc;
}

static int pl_remove(void *ctx, uint64_t dir, const char *name, bool is_dir)
{
	return LOCKED((struct plain *)ctx, remove_locked(ctx, dir, name, is_dir));
}

static int rename_locked(struct plain *p, uint64_t odir, const char *oname, uint64_t ndir,
			 const char *nname, unsigned flags)
{
	struct kfs_plain_req r = { .op = KFS_POP_RENAME, .s1 = p->p1, .s2 = p->p2 };
	const uint8_t *d;
	size_t dl;
	int rc;

	if ((flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) ||
	    flags == (RENAME_NOREPLACE | RENAME_EXCHANGE))
		return kiln_err(EINVAL, "plain volume: rename flags 0x%x not supported", flags);
	r.flags = (flags & RENAME_NOREPLACE ? KFS_PF_NOREPLACE : 0) |
		  (flags & RENAME_EXCHANGE ? KFS_PF_EXCHANGE : 0);
	rc = path_in(p, odir, oname, p->p1);
	if (rc == 0)
		rc = path_in(p, ndir, nname, p->p2);
	if (rc == 0)
		rc = call(p, &r, NULL, 0, &d, &dl);
	return rc < 0 ? rc : pn_rename(&p->t, odir, oname, ndir, nname, flags & RENAME_EXCHANGE);
}

static int pl_rename(void *ctx, uint64_t odir, const char *oname, uint64_t ndir, const char *nname,
		     unsigned flags)
{
	return LOCKED((struct plain *)ctx, rename_locked(ctx, odir, oname, ndir, nname, flags));
}

/* A host handle for ino: read-write when the host allows, else read only. */
static int open_locked(struct plain *p, uint64_t ino)
{
	struct kfs_plain_req r = { .op = KFS_POP_OPEN, .s1 = p->p1, .flags = KFS_PF_WRITE };
	struct pn_node *x = N(p, ino);
	const uint8_t *d;
	size_t dl;
	int rc;

	if (!x)
		return kiln_err(ENOENT, "plain volume: no inode %llu", (unsigned long long)ino);
	if (x->handle) {
		x->opens++;
		return 0;
	}
	rc = path_of(p, ino, p->p1);
	if (rc == 0)
		rc = call(p, &r, NULL, 0, &d, &dl);
	if (rc == -EACCES || rc == -EROFS || rc == -ETXTBSY) {
		r.flags = 0;
		rc = call(p, &r, NULL, 0, &d, &dl);
	}
	if (rc == 0 && dl != 8 + KFS_PLAIN_ATTR_LEN)
		rc = kiln_err(EIO, "plain volume: OPEN reply of %zu bytes", dl);
	if (rc < 0)
		return rc;
	for (int i = 0; i < 8; i++)
		x->handle = x->handle << 8 | d[i];
	x->opens++;
	return 0;
}

static int pl_open(void *ctx, uint64_t ino)
{
	return LOCKED((struct plain *)ctx, open_locked(ctx, ino));
}

static int close_handle(struct plain *p, struct pn_node *x)
{
	struct kfs_plain_req r = { .op = KFS_POP_CLOSE, .handle = x->handle };
	const uint8_t *d;
	size_t dl;

	x->handle = 0;
	return r.handle ? call(p, &r, NULL, 0, &d, &dl) : 0;
}

static int release_locked(struct plain *p, uint64_t ino)
{
	struct pn_node *x = N(p, ino);
	int rc;

	if (!x)
		return kiln_err(ENOENT, "plain volume: no inode %llu", (unsigned long long)ino);
	if (x->opens)
		x->opens--;
	if (x->opens)
		return 0;
	rc = close_handle(p, x);
	pn_collect(&p->t, ino); /* unlinked while open: its last use */
	return rc;
}

static int pl_release(void *ctx, uint64_t ino)
{
	return LOCKED((struct plain *)ctx, release_locked(ctx, ino));
}

/* READ or WRITE of up to KFS_PLAIN_IO_MAX bytes through ino's handle (opened for the call when none). */
static ssize_t io_locked(struct plain *p, uint64_t ino, uint64_t off, void *buf, size_t len,
			 bool wr)
{
	struct kfs_plain_req r = { .op = wr ? KFS_POP_WRITE : KFS_POP_READ, .a = off };
	struct pn_node *x = N(p, ino);
	bool temp = x && !x->handle;
	const uint8_t *d;
	size_t dl, n = len < KFS_PLAIN_IO_MAX ? len : KFS_PLAIN_IO_MAX;
	int rc = !x ? kiln_err(ENOENT, "plain volume: no inode") : temp ? open_locked(p, ino) : 0;

	if (rc < 0)
		return rc;
	r.handle = x->handle;
	r.b = wr ? 0 : n;
	rc = call(p, &r, wr ? buf : NULL, wr ? n : 0, &d, &dl);
	if (rc == 0 && (wr ? dl != 4 : dl > n))
		rc = kiln_err(EIO, "plain volume: %s reply of %zu bytes", wr ? "WRITE" : "READ", dl);
	if (rc == 0 && wr) {
		dl = (size_t)d[0] << 24 | (size_t)d[1] << 16 | (size_t)d[2] << 8 | d[3];
		if (dl > n)
			rc = kiln_err(EIO, "plain volume: the host wrote more than it was sent");
	} else if (rc == 0) {
		memcpy(buf, d, dl);
	}
	if (temp)
		(void)release_locked(p, ino);
	return rc < 0 ? rc : (ssize_t)dl;
}

/* Whole requests: the frontends ask at most 1 MiB, NFS may ask more; short only at EOF (read). */
static ssize_t io(struct plain *p, uint64_t ino, uint64_t off, void *buf, size_t len, bool wr)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = LOCKED(p, io_locked(p, ino, off + done, (uint8_t *)buf + done, len - done, wr));
		if (n < 0)
			return done ? (ssize_t)done : n;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static ssize_t pl_read(void *ctx, uint64_t ino, uint64_t off, void *buf, size_t len)
{
	return io(ctx, ino, off, buf, len, false);
}

static ssize_t pl_write(void *ctx, uint64_t ino, uint64_t off, const void *buf, size_t len)
{
	return io(ctx, ino, off, (void *)buf, len, true);
}

/* One setattr change (op) to ino, by its handle when open. */
static int set_one(struct plain *p, uint64_t ino, struct kfs_plain_req *r)
{
	struct pn_node *x = N(p, ino);
	const uint8_t *d;
	size_t dl;
	int rc = 0;

	if (x && x->handle) {
		r->flags |= KFS_PF_BY_HANDLE;
		r->handle = x->handle;
	} else {
		rc = path_of(p, ino, p->p1);
		r->s1 = p->p1;
	}
	return rc < 0 ? rc : call(p, r, NULL, 0, &d, &dl);
}

static int setattr_locked(struct plain *p, uint64_t ino, unsigned mask, const struct kfs_attr *in,
			  struct kfs_attr *out)
{
	int rc = 0;

	if (((mask & KFS_SET_UID) && in->uid != p->uid) || ((mask & KFS_SET_GID) && in->gid != p->gid))
		return kiln_err(EPERM, "plain volume: files keep one owner");
	if (mask & KFS_SET_SIZE)
		rc = set_one(p, ino, &(struct kfs_plain_req){ .op = KFS_POP_TRUNCATE, .a = in->size });
	if (rc == 0 && (mask & KFS_SET_MODE))
		rc = set_one(p, ino, &(struct kfs_plain_req){ .op = KFS_POP_CHMOD, .mode = in->mode & 07777 });
	if (rc == 0 && (mask & (KFS_SET_ATIME | KFS_SET_MTIME)))
		rc = set_one(p, ino, &(struct kfs_plain_req){
			.op = KFS_POP_UTIMENS, .a = (uint64_t)in->atime_ns, .b = (uint64_t)in->mtime_ns,
			.flags = (mask & KFS_SET_ATIME ? KFS_PF_ATIME : 0) |
				 (mask & KFS_SET_MTIME ? KFS_PF_MTIME : 0) });
	return rc < 0 ? rc : getattr_locked(p, ino, out);
}

static int pl_setattr(void *ctx, uint64_t ino, unsigned mask, const struct kfs_attr *in,
		      struct kfs_attr *out)
{
	return LOCKED((struct plain *)ctx, setattr_locked(ctx, ino, mask, in, out));
}

/* One READDIR round after *cookie: entries to fill until it says stop; *end at the directory's end. */
static int readdir_round(struct plain *p, uint64_t dir, uint64_t *cookie, kfs_fill_fn fill,
			 void *fctx, bool *end)
{
	struct kfs_plain_req r = { .op = KFS_POP_READDIR, .s1 = p->p1, .a = *cookie,
				   .b = KFS_PLAIN_DIR_MAX };
	struct kfs_plain_dirent e;
	const uint8_t *d;
	size_t dl, off = 0;
	int rc = path_of(p, dir, p->p1);

	if (rc == 0)
		rc = call(p, &r, NULL, 0, &d, &dl);
	if (rc < 0)
		return rc;
	*end = dl == 0;
	while ((rc = kfs_plain_dirent_decode(d, dl, &off, &e)) == 0) {
		uint64_t known = pn_find(&p->t, dir, e.name);
		if (e.cookie == *cookie)
			return kiln_err(EIO, "plain volume: the host repeated a directory cookie");
		if (fill(fctx, e.name, known ? known : e.ino | 1ull << 63, e.mode, e.cookie)) {
			*end = true;
			return 0;
		}
		*cookie = e.cookie;
	}
	return rc < 0 ? rc : 0;
}

static int pl_readdir(void *ctx, uint64_t dir, uint64_t cookie, kfs_fill_fn fill, void *fctx)
{
	struct plain *p = ctx;
	bool end = false;
	int rc = 0;

	cookie = cookie < 3 ? 0 : cookie;
	while (rc == 0 && !end)
		rc = LOCKED(p, readdir_round(p, dir, &cookie, fill, fctx, &end));
	return rc;
}

static int parent_locked(struct plain *p, uint64_t dir, uint64_t *parent)
{
	return pn_parent(&p->t, dir, parent);
}

static int pl_parent(void *ctx, uint64_t dir, uint64_t *parent)
{
	return LOCKED((struct plain *)ctx, parent_locked(ctx, dir, parent));
}

static int statfs_locked(struct plain *p, struct kfs_statfs *s)
{
	struct kfs_plain_req r = { .op = KFS_POP_STATFS };
	struct kfs_plain_statfs v;
	const uint8_t *d;
	size_t dl;
	int rc = call(p, &r, NULL, 0, &d, &dl);

	if (rc == 0)
		rc = kfs_plain_statfs_decode(d, dl, &v);
	if (rc < 0)
		return rc;
	s->inodes = v.files > v.ffree ? v.files - v.ffree : 0;
	s->bytes = v.blocks > v.bfree && v.bsize <= (1u << 20) ? (v.blocks - v.bfree) * v.bsize : 0;
	return 0;
}

static int pl_statfs(void *ctx, struct kfs_statfs *s)
{
	return LOCKED((struct plain *)ctx, statfs_locked(ctx, s));
}

static int sync_locked(struct plain *p)
{
	struct kfs_plain_req r = { .op = KFS_POP_FSYNC };
	const uint8_t *d;
	size_t dl;

	return call(p, &r, NULL, 0, &d, &dl);
}

static int pl_sync(void *ctx)
{
	return LOCKED((struct plain *)ctx, sync_locked(ctx));
}

/*
 * user.* extended attributes, asked of the host by path. Other namespaces
 * are not the app's to keep on the parent's files: none to read,
 * EOPNOTSUPP to write. A symlink or FIFO has none (as on Linux).
 */
static int xattr_call(struct plain *p, uint8_t op, uint64_t ino, const char *name,
		      const void *val, size_t len, uint8_t flags, const uint8_t **d, size_t *dl)
{
	struct kfs_plain_req r = { .op = op, .s1 = p->p1, .s2 = name, .flags = flags };
	struct pn_node *x = N(p, ino);
	bool get = op == KFS_POP_GETXATTR || op == KFS_POP_LISTXATTR;
	int rc;

	if (name && kfs_plain_xattr_name_check(name, strlen(name)) < 0)
		return get ? -ENODATA : kiln_err(EOPNOTSUPP, "plain volume: only user.* extended attributes");
	if (!x)
		return kiln_err(ENOENT, "plain volume: no inode %#llx", (unsigned long long)ino);
	if (x->type != S_IFREG && x->type != S_IFDIR) {
		*dl = 0;
		return op == KFS_POP_LISTXATTR ? 0 : get ? -ENODATA : -EPERM;
	}
	if (len > KFS_XATTR_VALUE_MAX)
		return kiln_err(E2BIG, "plain volume: xattr value over %d bytes", KFS_XATTR_VALUE_MAX);
	rc = path_of(p, ino, p->p1);
	return rc < 0 ? rc : call(p, &r, val, len, d, dl);
}

/* A value or a list the host sent, as getxattr(2) and listxattr(2) return it. */
static ssize_t xattr_out(int rc, const uint8_t *d, size_t dl, void *buf, size_t len)
{
	if (rc < 0)
		return rc;
	if (len && dl > len)
		return -ERANGE;
	if (len && dl) /* none (a symlink's list) comes with no data */
		memcpy(buf, d, dl);
	return (ssize_t)dl;
}

static ssize_t getxattr_locked(struct plain *p, uint64_t ino, const char *name, void *buf, size_t len)
{
	const uint8_t *d;
	size_t dl;
	int rc = xattr_call(p, KFS_POP_GETXATTR, ino, name, NULL, 0, 0, &d, &dl);

	if (rc == 0 && dl > KFS_XATTR_VALUE_MAX)
		rc = kiln_err(EIO, "plain volume: the host sent an xattr value of %zu bytes", dl);
	return xattr_out(rc, d, dl, buf, len);
}

static ssize_t pl_getxattr(void *ctx, uint64_t ino, const char *name, void *buf, size_t len)
{
	return LOCKED((struct plain *)ctx, getxattr_locked(ctx, ino, name, buf, len));
}

static ssize_t listxattr_locked(struct plain *p, uint64_t ino, char *buf, size_t len)
{
	const uint8_t *d = NULL;
	size_t dl;
	int rc = xattr_call(p, KFS_POP_LISTXATTR, ino, NULL, NULL, 0, 0, &d, &dl);

	if (rc == 0 && dl)
		rc = kfs_plain_xlist_check(d, dl);
	return xattr_out(rc, d, dl, buf, len);
}

static ssize_t pl_listxattr(void *ctx, uint64_t ino, char *buf, size_t len)
{
	return LOCKED((struct plain *)ctx, listxattr_locked(ctx, ino, buf, len));
}

static int pl_setxattr(void *ctx, uint64_t ino, const char *name, const void *val, size_t len,
		       int flags)
{
	uint8_t f = (flags & XATTR_CREATE ? KFS_PF_XCREATE : 0) | (flags & XATTR_REPLACE ? KFS_PF_XREPLACE : 0);
	const uint8_t *d;
	size_t dl;

	if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
		return kiln_err(EINVAL, "plain volume: setxattr flags 0x%x", flags);
	return LOCKED((struct plain *)ctx,
		      xattr_call(ctx, KFS_POP_SETXATTR, ino, name, val, len, f, &d, &dl));
}

static int pl_removexattr(void *ctx, uint64_t ino, const char *name)
{
	const uint8_t *d;
	size_t dl;

	return LOCKED((struct plain *)ctx,
		      xattr_call(ctx, KFS_POP_REMOVEXATTR, ino, name, NULL, 0, 0, &d, &dl));
}

static void pl_forget(void *ctx, uint64_t ino, uint64_t n)
{
	struct plain *p = ctx;

	pthread_mutex_lock(&p->lock);
	pn_forget(&p->t, ino, n);
	pthread_mutex_unlock(&p->lock);
}

static void pl_count_lookups(void *ctx)
{
	struct plain *p = ctx;

	pthread_mutex_lock(&p->lock);
	pn_count_lookups(&p->t);
	pthread_mutex_unlock(&p->lock);
}

static void plain_free(struct plain *p)
{
	pn_free(&p->t);
	free(p->rep);
	close(p->fd);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* The host's files are durable at its SYNC; the connection's end closes its handles. */
static int pl_unmount(void *ctx)
{
	int rc = pl_sync(ctx);

	plain_free(ctx);
	return rc;
}

static const struct kfs_alt_ops plain_ops = {
	.getattr = pl_getattr, .setattr = pl_setattr, .lookup = pl_lookup, .mknod = pl_mknod,
	.symlink = pl_symlink, .readlink = pl_readlink, .link = pl_link, .remove = pl_remove,
	.rename = pl_rename, .open = pl_open, .release = pl_release, .read = pl_read,
	.write = pl_write, .readdir = pl_readdir, .parent = pl_parent, .statfs = pl_statfs,
	.sync = pl_sync, .unmount = pl_unmount, .getxattr = pl_getxattr, .setxattr = pl_setxattr,
	.listxattr = pl_listxattr, .removexattr = pl_removexattr, .forget = pl_forget,
	.count_lookups = pl_count_lookups,
};

int kfs_plain_mount(int fd, const char *volume, uint32_t uid, uint32_t gid, struct kfs **out)
{
	return kfs_plain_mount_max(fd, volume, uid, gid, KFS_PLAIN_NODES_MAX, out);
}

int kfs_plain_mount_max(int fd, const char *volume, uint32_t uid, uint32_t gid, size_t max,
			struct kfs **out)
{
	struct plain *p = calloc(1, sizeof(*p));
	struct kfs_plain_req r = { .op = KFS_POP_VOLUME, .s1 = volume };
	const uint8_t *d;
	size_t dl;
	int rc;

	if (!p) {
		close(fd);
		return kiln_err(ENOMEM, "plain volume: out of memory");
	}
	pthread_mutex_init(&p->lock, NULL);
	p->fd = fd;
	p->uid = uid;
	p->gid = gid;
	rc = pn_init(&p->t, max);
	if (rc == 0)
		rc = kfs_id_check(volume, strlen(volume));
	if (rc == 0)
		rc = call(p, &r, NULL, 0, &d, &dl);
	if (rc == -EMEDIUMTYPE)
		rc = kiln_err(EMEDIUMTYPE, "the parent keeps this volume encrypted (kiln run -v "
					   "HOSTDIR:/PATH:plain serves a plain one)");
	if (rc == 0)
		rc = kfs_alt_new(&plain_ops, p, out);
	if (rc < 0) {
		plain_free(p);
		return kiln_err_wrap(rc, "volume %s", volume);
	}
	return 0;
}
