/* SPDX-License-Identifier: Apache-2.0 */
/* The FUSE frontend: requests from /dev/fuse decoded with bounds checks, answered by the core. */
#include "init/storage_fuse.h"

#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "util/io.h"

#define ATTR_VALID_S 1
#define BUF_SIZE (KILN_FUSE_MAX_WRITE + 65536)
/*
 * Requests read at once: as many as are queued, up to KFS_PREFETCH_SPANS
 * (the kernel's max_background below), while the arena still has room
 * for the largest (a read of /dev/fuse needs that much): one 1 MiB write
 * and many small ones.
 */
#define ARENA_SIZE (2 * BUF_SIZE)
_Static_assert(KILN_FUSE_OUT_SIZE >= KILN_FUSE_MAX_WRITE + 4096, "reply buffer");

struct req {
	struct kfs *fs;
	int fd;
	const struct fuse_in_header *h;
	const uint8_t *body;
	size_t len;
	uint8_t *out; /* reply payload buffer, KILN_FUSE_OUT_SIZE */
};

int kiln_fuse_mount(const char *path)
{
	char opts[128];
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return kiln_err(errno, "/dev/fuse: %s (no FUSE in this kernel?)", strerror(errno));
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=40000,user_id=0,group_id=0,default_permissions,allow_other", fd);
	if (mount("kiln", path, "fuse.kiln", MS_NOSUID | MS_NODEV | MS_NOATIME, opts) < 0) {
		int e = errno;
		close(fd);
		return kiln_err(e, "mount FUSE on %s: %s", path, strerror(e));
	}
	return fd;
}

static int send_reply(struct req *r, int err, const void *data, size_t len)
{
	struct fuse_out_header oh = { .len = (uint32_t)(sizeof(oh) + (err ? 0 : len)),
				      .error = err, .unique = r->h->unique };
	struct iovec iov[2] = { { &oh, sizeof(oh) }, { (void *)data, err ? 0 : len } };

	/* ENOENT: the request was interrupted, the kernel forgot it; not an error */
	if (writev(r->fd, iov, 2) < 0 && errno != ENOENT)
		return kiln_err(errno, "FUSE reply: %s", strerror(errno));
	return 0;
}

static void fill_attr(const struct kfs_attr *a, struct fuse_attr *o)
{
	memset(o, 0, sizeof(*o));
	o->ino = a->ino;
	o->size = a->size;
	o->blocks = (a->size + 511) / 512;
	o->atime = (uint64_t)(a->atime_ns / 1000000000);
	o->atimensec = (uint32_t)(a->atime_ns % 1000000000);
	o->mtime = (uint64_t)(a->mtime_ns / 1000000000);
	o->mtimensec = (uint32_t)(a->mtime_ns % 1000000000);
	o->ctime = (uint64_t)(a->ctime_ns / 1000000000);
	o->ctimensec = (uint32_t)(a->ctime_ns % 1000000000);
	o->mode = a->mode;
	o->nlink = a->nlink;
	o->uid = a->uid;
	o->gid = a->gid;
	o->blksize = KFS_BLOCK;
}

static int reply_entry(struct req *r, int rc, const struct kfs_attr *a)
{
	struct fuse_entry_out e;

	if (rc < 0)
		return send_reply(r, rc, NULL, 0);
	memset(&e, 0, sizeof(e));
	e.nodeid = a->ino;
	e.entry_valid = e.attr_valid = ATTR_VALID_S;
	fill_attr(a, &e.attr);
	return send_reply(r, 0, &e, sizeof(e));
}

static int reply_attr(struct req *r, int rc, const struct kfs_attr *a)
{
	struct fuse_attr_out o;

	if (rc < 0)
		return send_reply(r, rc, NULL, 0);
	memset(&o, 0, sizeof(o));
	o.attr_valid = ATTR_VALID_S;
	fill_attr(a, &o.attr);
	return send_reply(r, 0, &o, sizeof(o));
}

/* The fixed part of a request body; NULL when the body is shorter. */
static const void *in(struct req *r, size_t n)
{
	return r->len >= n ? r->body : NULL;
}

/* The NUL-terminated string at off in the body (the kernel sends names so). */
static const char *str_at(struct req *r, size_t off, size_t *next)
{
	const uint8_t *p = r->body + off, *z;

	if (off >= r->len || !(z = memchr(p, 0, r->len - off)))
		return NULL;
	if (next)
		*next = off + (size_t)(z - p) + 1;
	return (const char *)p;
}

static int do_init(struct req *r)
{
	const struct fuse_init_in *i = in(r, 16);
	struct fuse_init_out o;
	uint32_t want = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_WRITEBACK_CACHE |
			FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS;

	if (!i || i->major != FUSE_KERNEL_VERSION)
		return send_reply(r, -EPROTO, NULL, 0);
	if (kfs_changes_behind(r->fs))
		want &= ~(uint32_t)FUSE_WRITEBACK_CACHE; /* the kernel would ignore the host's sizes */
	memset(&o, 0, sizeof(o));
	o.major = FUSE_KERNEL_VERSION;
	o.minor = FUSE_KERNEL_MINOR_VERSION < i->minor ? FUSE_KERNEL_MINOR_VERSION : i->minor;
	o.max_readahead = i->max_readahead;
	o.flags = i->flags & want;
	o.max_background = 16;
	o.congestion_threshold = 12;
	o.max_write = KILN_FUSE_MAX_WRITE;
	o.time_gran = 1;
	o.max_pages = KILN_FUSE_MAX_WRITE / 4096;
	kfs_count_lookups(r->fs); /* the kernel FORGETs every entry it was given */
	return send_reply(r, 0, &o, sizeof(o));
}

/* Seconds (signed, as time64) and nanoseconds as ns, clamped to what an int64 holds (~292 years). */
static int64_t time_ns(uint64_t sec, uint32_t nsec)
{
	const int64_t lim = INT64_MAX / 1000000000 - 1;
	int64_t s = (int64_t)sec;

	s = s > lim ? lim : s < -lim ? -lim : s;
	return s * 1000000000 + (nsec < 1000000000 ? nsec : 999999999);
}

static int do_setattr(struct req *r)
{
	const struct fuse_setattr_in *s = in(r, sizeof(*s));
	struct kfs_attr a = { 0 }, out;
	unsigned mask = 0;
	struct timespec ts;
	int64_t now;


	if (!s)
		return send_reply(r, -EINVAL, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	a.mode = s->mode;
	a.uid = s->uid;
	a.gid = s->gid;
	a.size = s->size;
	a.atime_ns = (s->valid & FATTR_ATIME_NOW) ? now : time_ns(s->atime, s->atimensec);
	a.mtime_ns = (s->valid & FATTR_MTIME_NOW) ? now : time_ns(s->mtime, s->mtimensec);
	mask |= (s->valid & FATTR_MODE) ? KFS_SET_MODE : 0;
	mask |= (s->valid & FATTR_UID) ? KFS_SET_UID : 0;
	mask |= (s->valid & FATTR_GID) ? KFS_SET_GID : 0;
	mask |= (s->valid & FATTR_SIZE) ? KFS_SET_SIZE : 0;
	mask |= (s->valid & (FATTR_ATIME | FATTR_ATIME_NOW)) ? KFS_SET_ATIME : 0;
	mask |= (s->valid & (FATTR_MTIME | FATTR_MTIME_NOW)) ? KFS_SET_MTIME : 0;
	return reply_attr(r, kfs_setattr(r->fs, r->h->nodeid, mask, &a, &out), &out);
}

static int do_make(struct req *r, uint32_t op)
{
	struct kfs_attr a;
	size_t off = 0;
	const char *name, *target;
	int rc;

	if (op == FUSE_MKNOD || op == FUSE_MKDIR) {
		const struct fuse_mkdir_in *m = in(r, sizeof(*m));
		off = op == FUSE_MKNOD ? sizeof(struct fuse_mknod_in) : sizeof(*m);
		if (!m || !(name = str_at(r, off, NULL)))
			return send_reply(r, -EINVAL, NULL, 0);
		rc = op == FUSE_MKDIR ? kfs_mkdir(r->fs, r->h->nodeid, name, m->mode, r->h->uid,
						  r->h->gid, &a)
				      : kfs_mknod(r->fs, r->h->nodeid, name, m->mode, r->h->uid,
						  r->h->gid, &a);
		return reply_entry(r, rc, &a);
	}
	if (!(name = str_at(r, 0, &off)) || !(target = str_at(r, off, NULL)))
		return send_reply(r, -EINVAL, NULL, 0);
	return reply_entry(r, kfs_symlink(r->fs, r->h->nodeid, name, target, r->h->uid, r->h->gid,
					  &a), &a);
}

/*
 * An encrypted volume's files keep their page cache across opens
 * (FOPEN_KEEP_CACHE): every change comes through this one mount, so what
 * the kernel cached is never stale, and a file reopened (fio's layout then
 * its run, a database reopening a table) is not read and decrypted again.
 * A plain volume can change on the host: its cache goes at every open.
 */
static uint32_t open_flags(struct req *r, uint32_t op)
{
	return op == FUSE_OPENDIR || kfs_changes_behind(r->fs) ? 0 : FOPEN_KEEP_CACHE;
}

static int do_create(struct req *r)
{
	const struct fuse_create_in *c = in(r, sizeof(*c));
	struct {
		struct fuse_entry_out e;
		struct fuse_open_out o;
	} out;
	struct kfs_attr a;
	const char *name = str_at(r, sizeof(*c), NULL);
	int rc;

	if (!c || !name)
		return send_reply(r, -EINVAL, NULL, 0);
	rc = kfs_mknod(r->fs, r->h->nodeid, name, S_IFREG | (c->mode & 07777), r->h->uid, r->h->gid,
		       &a);
	if (rc == 0 && (rc = kfs_open(r->fs, a.ino)) < 0)
		kfs_forget(r->fs, a.ino, 1); /* the kernel never got this entry */
	if (rc < 0)
		return send_reply(r, rc, NULL, 0);
	memset(&out, 0, sizeof(out));
	out.e.nodeid = a.ino;
	out.e.entry_valid = out.e.attr_valid = ATTR_VALID_S;
	fill_attr(&a, &out.e.attr);
	out.o.fh = a.ino;
	out.o.open_flags = open_flags(r, FUSE_CREATE);
	return send_reply(r, 0, &out, sizeof(out));
}

static int do_rename(struct req *r, uint32_t op)
{
	size_t fixed = op == FUSE_RENAME2 ? sizeof(struct fuse_rename2_in) : sizeof(struct fuse_rename_in);
	const struct fuse_rename2_in *rn = in(r, fixed);
	const char *from, *to;
	size_t off;

	if (!rn || !(from = str_at(r, fixed, &off)) || !(to = str_at(r, off, NULL)))
		return send_reply(r, -EINVAL, NULL, 0);
	return send_reply(r, kfs_rename(r->fs, r->h->nodeid, from, rn->newdir, to,
					op == FUSE_RENAME2 ? rn->flags : 0), NULL, 0);
}

static int do_read(struct req *r)
{
	const struct fuse_read_in *ri = in(r, sizeof(*ri));
	ssize_t n;

	if (!ri || ri->size > KILN_FUSE_MAX_WRITE)
		return send_reply(r, -EINVAL, NULL, 0);
	n = kfs_read(r->fs, r->h->nodeid, ri->offset, r->out, ri->size);
	return send_reply(r, n < 0 ? (int)n : 0, r->out, n < 0 ? 0 : (size_t)n);
}

static int do_write(struct req *r)
{
	const struct fuse_write_in *wi = in(r, sizeof(*wi));
	struct fuse_write_out o = { 0 };
	ssize_t n;

	if (!wi || wi->size > r->len - sizeof(*wi))
		return send_reply(r, -EINVAL, NULL, 0);
	n = kfs_write(r->fs, r->h->nodeid, wi->offset, r->body + sizeof(*wi), wi->size);
	o.size = n < 0 ? 0 : (uint32_t)n;
	return send_reply(r, n < 0 ? (int)n : 0, &o, sizeof(o));
}

struct dirbuf {
	uint8_t *p;
	size_t len, cap;
};

static int add_dirent(struct dirbuf *b, const char *name, uint64_t ino, uint32_t mode, uint64_t off)
{
	size_t nl = strlen(name), rec = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + nl);
	struct fuse_dirent *d = (struct fuse_dirent *)(b->p + b->len);

	if (b->len + rec > b->cap)
		return 1;
	memset(d, 0, rec);
	d->ino = ino;
	d->off = off;
	d->namelen = (uint32_t)nl;
	d->type = (mode & S_IFMT) >> 12;
	memcpy(d->name, name, nl);
	b->len += rec;
	return 0;
}

static int dir_fill(void *ctx, const char *name, uint64_t ino, uint32_t mode, uint64_t cookie)
{
	return add_dirent(ctx, name, ino, mode, cookie);
}

/* Offsets: 1 after ".", 2 after "..", then each entry's cookie. */
static int do_readdir(struct req *r)
{
	const struct fuse_read_in *ri = in(r, sizeof(*ri));
	struct dirbuf b = { .p = r->out };
	uint64_t parent;
	int rc;

	if (!ri)
		return send_reply(r, -EINVAL, NULL, 0);
	b.cap = ri->size < KILN_FUSE_MAX_WRITE ? ri->size : KILN_FUSE_MAX_WRITE;
	rc = kfs_parent(r->fs, r->h->nodeid, &parent);
	if (rc == 0 && ri->offset < 1)
		add_dirent(&b, ".", r->h->nodeid, S_IFDIR, 1);
	if (rc == 0 && ri->offset < 2)
		add_dirent(&b, "..", parent, S_IFDIR, 2);
	if (rc == 0)
		rc = kfs_readdir(r->fs, r->h->nodeid, ri->offset < 2 ? 0 : ri->offset, dir_fill, &b);
	return send_reply(r, rc, b.p, b.len);
}

static int do_xattr(struct req *r, uint32_t op)
{
	const struct fuse_getxattr_in *g = in(r, sizeof(*g));
	struct fuse_getxattr_out go = { 0 };
	const char *name;
	size_t size;
	ssize_t n;

	if (!g)
		return send_reply(r, -EINVAL, NULL, 0);
	if (op == FUSE_SETXATTR) {
		const struct fuse_setxattr_in *s = in(r, FUSE_COMPAT_SETXATTR_IN_SIZE);
		size_t off;
		if (!s || !(name = str_at(r, FUSE_COMPAT_SETXATTR_IN_SIZE, &off)) || s->size > r->len - off)
			return send_reply(r, -EINVAL, NULL, 0);
		return send_reply(r, kfs_setxattr(r->fs, r->h->nodeid, name, r->body + off, s->size,
						  (int)s->flags), NULL, 0);
	}
	size = g->size < KILN_FUSE_MAX_WRITE ? g->size : KILN_FUSE_MAX_WRITE;
	if (op == FUSE_LISTXATTR) {
		n = kfs_listxattr(r->fs, r->h->nodeid, (char *)r->out, size);
	} else {
		if (!(name = str_at(r, sizeof(*g), NULL)))
			return send_reply(r, -EINVAL, NULL, 0);
		n = kfs_getxattr(r->fs, r->h->nodeid, name, r->out, size);
	}
	if (n < 0 || size)
		return send_reply(r, n < 0 ? (int)n : 0, r->out, n < 0 ? 0 : (size_t)n);
	go.size = (uint32_t)n;
	return send_reply(r, 0, &go, sizeof(go));
}

static int do_statfs(struct req *r)
{
	struct fuse_statfs_out o;
	struct kfs_statfs s;
	int rc = kfs_statfs(r->fs, &s);

	memset(&o, 0, sizeof(o));
	o.st.bsize = o.st.frsize = 4096;
	o.st.blocks = 1ull << 32; /* the parent's disk decides; it is not asked */
	o.st.bfree = o.st.bavail = o.st.blocks - (s.bytes + 4095) / 4096;
	o.st.files = 1ull << 32;
	o.st.ffree = o.st.files - s.inodes;
	o.st.namelen = KFS_NAME_MAX;
	return send_reply(r, rc, &o, sizeof(o));
}

static int do_open(struct req *r, uint32_t op)
{
	struct fuse_open_out o = { .fh = r->h->nodeid, .open_flags = open_flags(r, op) };
	int rc = op == FUSE_OPENDIR ? 0 : kfs_open(r->fs, r->h->nodeid);

	return send_reply(r, rc, &o, sizeof(o));
}

/* The kernel drops lookups it counted (one node, or a batch of them). */
static void do_forget(struct req *r, uint32_t op)
{
	const struct fuse_forget_in *f = in(r, sizeof(*f));
	const struct fuse_batch_forget_in *b = in(r, sizeof(*b));
	const struct fuse_forget_one *one = (const void *)(r->body + sizeof(*b));

	if (op == FUSE_FORGET && f) {
		kfs_forget(r->fs, r->h->nodeid, f->nlookup);
		return;
	}
	if (op != FUSE_BATCH_FORGET || !b || b->count > (r->len - sizeof(*b)) / sizeof(*one))
		return;
	for (uint32_t i = 0; i < b->count; i++)
		kfs_forget(r->fs, one[i].nodeid, one[i].nlookup);
}

static int dispatch_names(struct req *r, uint32_t op)
{
	const char *name = str_at(r, op == FUSE_LINK ? sizeof(struct fuse_link_in) : 0, NULL);
	const struct fuse_link_in *l = in(r, sizeof(*l));
	struct kfs_attr a;

	if (!name)
		return send_reply(r, -EINVAL, NULL, 0);
	switch (op) {
	case FUSE_LOOKUP:
		return reply_entry(r, kfs_lookup(r->fs, r->h->nodeid, name, &a), &a);
	case FUSE_UNLINK:
		return send_reply(r, kfs_unlink(r->fs, r->h->nodeid, name), NULL, 0);
	case FUSE_RMDIR:
		return send_reply(r, kfs_rmdir(r->fs, r->h->nodeid, name), NULL, 0);
	case FUSE_LINK:
		return reply_entry(r, l ? kfs_link(r->fs, l->oldnodeid, r->h->nodeid, name, &a) : -EINVAL, &a);
	default:
		return send_reply(r, -ENOSYS, NULL, 0);
	}
}

static int dispatch(struct req *r)
{
	uint32_t op = r->h->opcode;
	struct kfs_attr a;
	char link[KFS_SYMLINK_MAX + 1];
	int rc;

	switch (op) {
	case FUSE_INIT:
		return do_init(r);
	case FUSE_LOOKUP:
	case FUSE_UNLINK:
	case FUSE_RMDIR:
	case FUSE_LINK:
		return dispatch_names(r, op);
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
		do_forget(r, op);
		return 0; /* no reply */
	case FUSE_INTERRUPT:
		return 0;
	case FUSE_GETATTR:
		return reply_attr(r, kfs_getattr(r->fs, r->h->nodeid, &a), &a);
	case FUSE_SETATTR:
		return do_setattr(r);
	case FUSE_READLINK:
		rc = kfs_readlink(r->fs, r->h->nodeid, link, sizeof(link));
		return send_reply(r, rc, link, rc < 0 ? 0 : strlen(link));
	case FUSE_SYMLINK:
	case FUSE_MKNOD:
	case FUSE_MKDIR:
		return do_make(r, op);
	case FUSE_CREATE:
		return do_create(r);
	case FUSE_RENAME:
	case FUSE_RENAME2:
		return do_rename(r, op);
	case FUSE_OPEN:
	case FUSE_OPENDIR:
		return do_open(r, op);
	case FUSE_READ:
		return do_read(r);
	case FUSE_WRITE:
		return do_write(r);
	case FUSE_READDIR:
		return do_readdir(r);
	case FUSE_RELEASE:
		return send_reply(r, kfs_release(r->fs, r->h->nodeid), NULL, 0);
	case FUSE_RELEASEDIR:
	case FUSE_FLUSH:
	case FUSE_ACCESS:
		return send_reply(r, 0, NULL, 0);
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR:
		return send_reply(r, kfs_sync(r->fs), NULL, 0);
	case FUSE_SETXATTR:
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR:
		return do_xattr(r, op);
	case FUSE_REMOVEXATTR:
		return send_reply(r, str_at(r, 0, NULL) ? kfs_removexattr(r->fs, r->h->nodeid,
									   str_at(r, 0, NULL))
							: -EINVAL, NULL, 0);
	case FUSE_STATFS:
		return do_statfs(r);
	case FUSE_DESTROY:
		rc = kfs_sync(r->fs);
		(void)send_reply(r, 0, NULL, 0);
		return rc < 0 ? rc : 1;
	default:
		return send_reply(r, -ENOSYS, NULL, 0);
	}
}

/* A failed background commit is retried at the next one; fsync reports it to the app. */
static void background_commit(struct kfs *fs)
{
	if (kfs_dirty(fs) && kfs_sync_background(fs) < 0)
		fprintf(stderr, "kiln-init: storage: background commit: %s\n", kiln_errmsg());
}

/* The bytes a READ or WRITE will touch; false for any other request or a short one. */
static bool req_span(const uint8_t *req, size_t n, struct kfs_span *s)
{
	const struct fuse_in_header *h = (const struct fuse_in_header *)req;
	const struct fuse_read_in *ri = (const void *)(h + 1);
	const struct fuse_write_in *wi = (const void *)(h + 1);

	if (n < sizeof(*h) || h->len != n)
		return false;
	if (h->opcode == FUSE_READ && n - sizeof(*h) >= sizeof(*ri))
		*s = (struct kfs_span){ h->nodeid, ri->offset, ri->size, false };
	else if (h->opcode == FUSE_WRITE && n - sizeof(*h) >= sizeof(*wi))
		*s = (struct kfs_span){ h->nodeid, wi->offset, wi->size, true };
	else
		return false;
	return true;
}

int kiln_fuse_handle_queued(int fd, struct kfs *fs, uint8_t *const *req, const size_t *n,
			    size_t cnt, uint8_t *out)
{
	struct kfs_span s[KFS_PREFETCH_SPANS];
	size_t m = 0;
	int rc = 0;

	for (size_t i = 0; i < cnt && m < KFS_PREFETCH_SPANS; i++)
		m += req_span(req[i], n[i], &s[m]);
	if (m > 1) /* one alone gains nothing from it */
		kfs_prefetch(fs, s, m);
	for (size_t i = 0; i < cnt && rc == 0; i++)
		rc = kiln_fuse_handle(fd, fs, req[i], n[i], out);
	return rc;
}

static _Atomic uint64_t requests[KILN_FUSE_OPS]; /* kiln_fuse_counts */

void kiln_fuse_counts(uint64_t counts[KILN_FUSE_OPS])
{
	for (size_t i = 0; i < KILN_FUSE_OPS; i++)
		counts[i] = atomic_load_explicit(&requests[i], memory_order_relaxed);
}

int kiln_fuse_handle(int fd, struct kfs *fs, const uint8_t *req, size_t n, uint8_t *out)
{
	struct req r = { .fs = fs, .fd = fd, .out = out, .h = (const struct fuse_in_header *)req };

	if (n < sizeof(*r.h) || r.h->len != n)
		return kiln_err(EPROTO, "FUSE: malformed request of %zu bytes", n);
	r.body = req + sizeof(*r.h);
	r.len = n - sizeof(*r.h);
	atomic_fetch_add_explicit(&requests[r.h->opcode < KILN_FUSE_OPS ? r.h->opcode : KILN_FUSE_OPS - 1],
				  1, memory_order_relaxed);
	kiln_err_clear();
	return dispatch(&r);
}

/*
 * After a request at the start of arena, the requests queued behind it
 * (fd is non-blocking: EAGAIN ends them; another error is left for the
 * next blocking read to see). Returns how many there are in all.
 */
static size_t read_queued(int fd, uint8_t *arena, size_t first, uint8_t **req, size_t *len)
{
	size_t cnt = 1, used = (first + 7) & ~(size_t)7;
	ssize_t n;

	req[0] = arena;
	len[0] = first;
	while (cnt < KFS_PREFETCH_SPANS && ARENA_SIZE - used >= BUF_SIZE &&
	       (n = read(fd, arena + used, BUF_SIZE)) > 0) {
		req[cnt] = arena + used;
		len[cnt++] = (size_t)n;
		used += ((size_t)n + 7) & ~(size_t)7; /* requests stay 8-byte aligned */
	}
	return cnt;
}

int kiln_fuse_serve(int fd, struct kfs *fs)
{
	uint8_t *buf = malloc(ARENA_SIZE), *out = malloc(KILN_FUSE_OUT_SIZE);
	uint8_t *req[KFS_PREFETCH_SPANS];
	size_t len[KFS_PREFETCH_SPANS], cnt;
	int fl = fcntl(fd, F_GETFL);
	int rc = buf && out ? 0 : kiln_err(ENOMEM, "FUSE: out of memory");
	int64_t due = kiln_now_ms() + KILN_FUSE_COMMIT_MS;

	/* poll says when to read; reads past it must not wait */
	if (rc == 0 && (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
		rc = kiln_err(errno, "FUSE: make the device non-blocking: %s", strerror(errno));

	while (rc == 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t wait = due - kiln_now_ms();
		if (wait <= 0 || poll(&p, 1, (int)wait) == 0) {
			background_commit(fs);
			due = kiln_now_ms() + KILN_FUSE_COMMIT_MS;
			continue;
		}
		ssize_t n = read(fd, buf, BUF_SIZE);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == ENOENT))
			continue;
		if (n < 0 && errno == ENODEV)
			break; /* unmounted */
		if (n < 0) {
			rc = kiln_err(errno, "FUSE: read /dev/fuse: %s", strerror(errno));
			break;
		}
		/*
		 * Only a READ or WRITE can gain from the requests behind it; after
		 * any other (a create is four or five requests in a row) looking for
		 * them would be one more read(2) that finds nothing, per request.
		 */
		struct kfs_span s;
		if (req_span(buf, (size_t)n, &s)) {
			cnt = read_queued(fd, buf, (size_t)n, req, len);
			rc = kiln_fuse_handle_queued(fd, fs, req, len, cnt, out);
		} else {
			rc = kiln_fuse_handle(fd, fs, buf, (size_t)n, out);
		}
	}
	free(buf);
	free(out);
	return rc > 0 ? 0 : rc;
}
