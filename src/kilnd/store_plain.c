/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's plain volumes: the enclave's file requests resolved beneath the volume root, never through a symlink. */
#include "kilnd/store_plain.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#define DIRBUF 32768

struct slot {
	int fd;
	uint32_t gen;
};

struct kd_plain {
	int root;
	uint64_t file_max;
	uint32_t gen;
	struct slot h[KD_PLAIN_HANDLES];
};

int kd_plain_open(const char *root, uint64_t file_max, struct kd_plain **out)
{
	struct kd_plain *p;
	int fd;

	if (mkdir(root, 0700) < 0 && errno != EEXIST)
		return kiln_err(errno, "plain volume %s: %s", root, strerror(errno));
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return kiln_err(errno, "plain volume %s: %s", root, strerror(errno));
	p = calloc(1, sizeof(*p));
	if (!p) {
		close(fd);
		return kiln_err(ENOMEM, "plain volume: out of memory");
	}
	p->root = fd;
	p->file_max = file_max ? file_max : KD_PLAIN_FILE_MAX;
	for (int i = 0; i < KD_PLAIN_HANDLES; i++)
		p->h[i].fd = -1;
	*out = p;
	return 0;
}

void kd_plain_close(struct kd_plain *p)
{
	if (!p)
		return;
	for (int i = 0; i < KD_PLAIN_HANDLES; i++)
		if (p->h[i].fd >= 0)
			close(p->h[i].fd);
	close(p->root);
	free(p);
}

/* path ("" is the root) opened beneath the root, no symlink anywhere in it. */
static int beneath(struct kd_plain *p, const char *path, int flags, uint32_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, p->root, path[0] ? path : ".", &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/* The directory holding path's last component (opened as beneath() does) and that name. */
static int parent_of(struct kd_plain *p, const char *path, char *dir, const char **name)
{
	const char *slash = strrchr(path, '/');
	size_t dl = slash ? (size_t)(slash - path) : 0;

	memcpy(dir, path, dl);
	dir[dl] = '\0';
	*name = slash ? slash + 1 : path;
	return beneath(p, dir, O_RDONLY | O_DIRECTORY, 0);
}

/* FIFOs too: one made here is inert (a pipe in the enclave is the enclave kernel's own). */
static bool served_type(mode_t m)
{
	return S_ISREG(m) || S_ISDIR(m) || S_ISLNK(m) || S_ISFIFO(m);
}

static int attr_out(const struct stat *st, uint8_t *out, size_t *olen)
{
	struct kfs_attr a = {
		.ino = st->st_ino, .mode = st->st_mode, .nlink = (uint32_t)st->st_nlink,
		.size = (uint64_t)st->st_size,
		.atime_ns = (int64_t)st->st_atim.tv_sec * 1000000000 + st->st_atim.tv_nsec,
		.mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
		.ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec,
	};

	if (!served_type(st->st_mode))
		return -EACCES; /* a socket or device: not a plain volume's file */
	kfs_plain_attr_encode(&a, (uint64_t)st->st_dev, out);
	*olen = KFS_PLAIN_ATTR_LEN;
	return 0;
}

static int fd_attr(int fd, uint8_t *out, size_t *olen)
{
	struct stat st;

	return fstat(fd, &st) < 0 ? -errno : attr_out(&st, out, olen);
}

/* The attributes of path's last component itself (a symlink is not followed). */
static int path_attr(struct kd_plain *p, const char *path, uint8_t *out, size_t *olen)
{
	char dir[KFS_PLAIN_PATH_MAX + 1];
	const char *name;
	struct stat st;
	int d, rc;

	if (!path[0])
		return fd_attr(p->root, out, olen);
	d = parent_of(p, path, dir, &name);
	if (d < 0)
		return d;
	rc = fstatat(d, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : attr_out(&st, out, olen);
	close(d);
	return rc;
}

/* The open file named by a handle the enclave sent: index and generation must match a live slot. */
static int handle_fd(struct kd_plain *p, uint64_t h, int *slot)
{
	uint32_t idx = (uint32_t)h, gen = (uint32_t)(h >> 32);

	if (idx == 0 || idx > KD_PLAIN_HANDLES || p->h[idx - 1].fd < 0 || p->h[idx - 1].gen != gen)
		return kiln_err(EBADF, "plain volume: unknown handle %#llx", (unsigned long long)h);
	if (slot)
		*slot = (int)idx - 1;
	return p->h[idx - 1].fd;
}

static int handle_new(struct kd_plain *p, int fd, uint64_t *h)
{
	for (uint32_t i = 0; i < KD_PLAIN_HANDLES; i++) {
		if (p->h[i].fd >= 0)
			continue;
		p->gen = p->gen + 1 ? p->gen + 1 : 1;
		p->h[i] = (struct slot){ fd, p->gen };
		*h = (uint64_t)p->gen << 32 | (i + 1);
		return 0;
	}
	close(fd);
	return -EMFILE;
}

/*
 * A regular file at path opened with flags, and nothing else ever opened:
 * the name is resolved to an O_PATH descriptor, its type checked, and only
 * then is that very inode reopened through /proc (no second lookup, so no
 * race with a parent swapping in a FIFO or a device node).
 */
static int open_regular(struct kd_plain *p, const char *path, int flags, uint32_t mode)
{
	char link[64];
	struct stat st;
	int fd, rfd;

	if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
		return beneath(p, path, flags, mode); /* a new inode: regular */
	fd = beneath(p, path, O_PATH, 0);
	if (fd == -ENOENT && (flags & O_CREAT)) {
		rfd = beneath(p, path, flags | O_EXCL, mode);
		if (rfd != -EEXIST)
			return rfd;
		fd = beneath(p, path, O_PATH, 0);
	}
	if (fd < 0)
		return fd;
	rfd = fstat(fd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : S_ISDIR(st.st_mode) ? -EISDIR : -EACCES;
	if (rfd < 0) {
		close(fd);
		return rfd;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	rfd = open(link, (flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW)) | O_CLOEXEC);
	rfd = rfd < 0 ? -errno : rfd;
	close(fd);
	return rfd;
}

/* The file for a request: its handle, or its path opened with flags (*own: close it after). */
static int target_fd(struct kd_plain *p, const struct kfs_plain_req *r, int flags, bool *own)
{
	*own = !(r->flags & KFS_PF_BY_HANDLE);
	if (!*own)
		return handle_fd(p, r->handle, NULL);
	return flags == O_PATH ? beneath(p, r->s1, flags, 0) : open_regular(p, r->s1, flags, 0);
}

static int sync_if(int fd, const struct kfs_plain_req *r)
{
	return (r->flags & KFS_PF_DURABLE) && fsync(fd) < 0 ? -errno : 0;
}

/* chmod of the very inode fd (O_PATH) names: /proc's link goes to it, not through any path. */
static int fd_chmod(int fd, uint32_t mode)
{
	char link[64];

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	return chmod(link, mode & 01777) < 0 ? -errno : 0;
}

static int op_open(struct kd_plain *p, const struct kfs_plain_req *r, uint8_t *out, size_t *olen)
{
	int fl = (r->flags & KFS_PF_WRITE ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
	struct stat st;
	uint64_t h = 0;
	int fd, rc;

	fl |= (r->flags & KFS_PF_CREATE ? O_CREAT : 0) | (r->flags & KFS_PF_EXCL ? O_EXCL : 0) |
	      (r->flags & KFS_PF_TRUNC ? O_TRUNC : 0);
	fd = open_regular(p, r->s1, fl, r->mode & 0777);
	if (fd < 0)
		return fd;
	rc = fstat(fd, &st) < 0 ? -errno : !S_ISREG(st.st_mode) ? (S_ISDIR(st.st_mode) ? -EISDIR : -EACCES) : 0;
	/* exactly the enclave's bits, whatever kilnd's umask */
	if (rc == 0 && (r->flags & (KFS_PF_CREATE | KFS_PF_EXCL)) == (KFS_PF_CREATE | KFS_PF_EXCL))
		rc = fchmod(fd, r->mode & 0777) < 0 ? -errno : 0;
	if (rc == 0)
		rc = sync_if(fd, r);
	if (rc == 0)
		rc = fd_attr(fd, out + 8, olen);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	rc = handle_new(p, fd, &h);
	kfs_plain_put_be64(out, h);
	*olen += 8;
	return rc;
}

static int op_close(struct kd_plain *p, const struct kfs_plain_req *r)
{
	int slot = 0, fd = handle_fd(p, r->handle, &slot);

	if (fd < 0)
		return fd;
	p->h[slot].fd = -1;
	return close(fd) < 0 ? -errno : 0;
}

static int op_read(struct kd_plain *p, const struct kfs_plain_req *r, uint8_t *out, size_t *olen)
{
	int fd = handle_fd(p, r->handle, NULL);
	size_t got = 0;

	if (fd < 0)
		return fd;
	if (r->a > (uint64_t)INT64_MAX - KFS_PLAIN_IO_MAX)
		return -EINVAL;
	while (got < r->b) {
		ssize_t n = pread(fd, out + got, r->b - got, (off_t)(r->a + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*olen = got;
	return 0;
}

static int op_write(struct kd_plain *p, const struct kfs_plain_req *r, uint8_t *out, size_t *olen)
{
	int fd = handle_fd(p, r->handle, NULL);
	size_t put = 0;

	if (fd < 0)
		return fd;
	if (r->a > p->file_max || r->len > p->file_max - r->a)
		return -EFBIG;
	while (put < r->len) {
		ssize_t n = pwrite(fd, r->data + put, r->len - put, (off_t)(r->a + put));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		put += (size_t)n;
	}
	if ((r->flags & KFS_PF_DURABLE) && fdatasync(fd) < 0)
		return -errno;
	kfs_plain_put_be32(out, (uint32_t)put);
	*olen = 4;
	return 0;
}

static int op_truncate(struct kd_plain *p, const struct kfs_plain_req *r, uint8_t *out, size_t *olen)
{
	bool own;
	struct stat st;
	int fd = target_fd(p, r, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, &own), rc;

	if (fd < 0)
		return fd;
	rc = fstat(fd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;
	if (rc == 0 && r->a > p->file_max)
		rc = -EFBIG;
	if (rc == 0 && ftruncate(fd, (off_t)r->a) < 0)
		rc = -errno;
	if (rc == 0)
		rc = sync_if(fd, r);
	if (rc == 0)
		rc = fd_attr(fd, out, olen);
	if (own)
		close(fd);
	return rc;
}

static int op_chmod_utimens(struct kd_plain *p, const struct kfs_plain_req *r, uint8_t *out,
			    size_t *olen)
{
	bool own;
	int fd = target_fd(p, r, O_PATH, &own), rc = 0;

	if (fd < 0)
		return fd;
	if (r->op == KFS_POP_CHMOD) {
		rc = fd_chmod(fd, r->mode);
	} else {
		struct timespec ts[2];
		for (int i = 0; i < 2; i++) {
			int64_t ns = (int64_t)(i ? r->b : r->a);
			ts[i].tv_sec = ns / 1000000000 - (ns % 1000000000 < 0);
			ts[i].tv_nsec = (ns % 1000000000 + 1000000000) % 1000000000;
		}
		if (!(r->flags & KFS_PF_ATIME))
			ts[0].tv_nsec = UTIME_OMIT;
		if (!(r->flags & KFS_PF_MTIME))
			ts[1].tv_nsec = UTIME_OMIT;
		rc = utimensat(fd, "", ts, AT_EMPTY_PATH) < 0 ? -errno : 0;
	}
	if (rc == 0)
		rc = fd_attr(fd, out, olen);
	if (own)
		close(fd);
	return rc;
}

/* Entries after cookie (cookies are the host's d_off + 3, so never 0-2), skipping . .. and unserved types. */
static int fill_dir(int fd, uint64_t budget, uint8_t *out, size_t *olen)
{
	static __thread uint8_t buf[DIRBUF] __attribute__((aligned(8))); /* linux_dirent64 records */
	long n;

	*olen = 0;
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct { uint64_t ino; int64_t off; uint16_t reclen; uint8_t type; char name[]; }
				*d = (void *)(buf + off);
			struct kfs_plain_dirent e = { .cookie = (uint64_t)d->off + 3, .ino = d->ino };
			struct stat st;
			off += d->reclen;
			if (!strcmp(d->name, ".") || !strcmp(d->name, ".."))
				continue;
			if (d->type == DT_UNKNOWN && fstatat(fd, d->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
				d->type = (uint8_t)IFTODT(st.st_mode);
			if (d->type != DT_REG && d->type != DT_DIR && d->type != DT_LNK && d->type != DT_FIFO)
				continue;
			e.mode = DTTOIF(d->type);
			snprintf(e.name, sizeof(e.name), "%s", d->name);
			if (kfs_plain_dirent_encode(&e, out, budget, olen))
				return 0;
		}
	}
	return n < 0 ? -errno : 0;
}

static int op_readdir(struct kd_plain *p, const struct kfs_plain_req *r, uint8_t *out, size_t *olen)
{
	int fd, rc;

	if (r->a >= 3 && r->a - 3 > (uint64_t)INT64_MAX)
		return -EINVAL;
	if (r->b < 64)
		return -EINVAL;
	fd = beneath(p, r->s1, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	rc = r->a >= 3 && lseek(fd, (off_t)(r->a - 3), SEEK_SET) < 0 ? -errno : 0;
	if (rc == 0)
		rc = fill_dir(fd, r->b, out, olen);
	close(fd);
	return rc;
}

/* mkdir and mkfifo: made owner-only, then given exactly the enclave's bits (not kilnd's umask's). */
static int make_node(struct kd_plain *p, const struct kfs_plain_req *r, int d, const char *name)
{
	int rc = r->op == KFS_POP_MKDIR ? mkdirat(d, name, 0700) : mknodat(d, name, S_IFIFO | 0600, 0);
	int fd = rc < 0 ? -errno : beneath(p, r->s1, O_PATH, 0);

	rc = fd < 0 ? fd : fd_chmod(fd, r->mode);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* A change to the entry named by path's last component: mkdir, mkfifo, rmdir, unlink, symlink, readlink. */
static int op_entry(struct kd_plain *p, const struct kfs_plain_req *r, uint8_t *out, size_t *olen)
{
	char dir[KFS_PLAIN_PATH_MAX + 1];
	const char *name;
	ssize_t n;
	int d = parent_of(p, r->s1, dir, &name), rc;

	if (d < 0)
		return d;
	switch (r->op) {
	case KFS_POP_MKDIR:
	case KFS_POP_MKFIFO:
		rc = make_node(p, r, d, name);
		break;
	case KFS_POP_RMDIR:
	case KFS_POP_UNLINK:
		rc = unlinkat(d, name, r->op == KFS_POP_RMDIR ? AT_REMOVEDIR : 0) < 0 ? -errno : 0;
		break;
	case KFS_POP_SYMLINK:
		rc = symlinkat(r->s2, d, name) < 0 ? -errno : 0;
		break;
	case KFS_POP_READLINK:
		n = readlinkat(d, name, (char *)out, KFS_SYMLINK_MAX + 1);
		rc = n < 0 ? -errno : n > KFS_SYMLINK_MAX ? -ENAMETOOLONG : 0;
		*olen = n < 0 ? 0 : (size_t)n;
		break;
	default:
		rc = -EPROTO;
		break;
	}
	if (rc == 0)
		rc = sync_if(d, r);
	close(d);
	if (rc == 0 && (r->op == KFS_POP_MKDIR || r->op == KFS_POP_MKFIFO || r->op == KFS_POP_SYMLINK))
		rc = path_attr(p, r->s1, out, olen);
	return rc;
}

/* rename and link: two entries, each below its own directory. */
static int op_two(struct kd_plain *p, const struct kfs_plain_req *r, uint8_t *out, size_t *olen)
{
	char d1p[KFS_PLAIN_PATH_MAX + 1], d2p[KFS_PLAIN_PATH_MAX + 1];
	const char *n1, *n2;
	int d1 = parent_of(p, r->s1, d1p, &n1), d2 = parent_of(p, r->s2, d2p, &n2), rc;

	rc = d1 < 0 ? d1 : d2 < 0 ? d2 : 0;
	if (rc == 0 && r->op == KFS_POP_RENAME)
		rc = renameat2(d1, n1, d2, n2, (r->flags & KFS_PF_NOREPLACE ? RENAME_NOREPLACE : 0) |
				       (r->flags & KFS_PF_EXCHANGE ? RENAME_EXCHANGE : 0)) < 0 ? -errno : 0;
	else if (rc == 0)
		rc = linkat(d1, n1, d2, n2, 0) < 0 ? -errno : 0;
	if (rc == 0)
		rc = sync_if(d1, r);
	if (rc == 0)
		rc = sync_if(d2, r);
	if (d1 >= 0)
		close(d1);
	if (d2 >= 0)
		close(d2);
	if (rc == 0 && r->op == KFS_POP_LINK)
		rc = path_attr(p, r->s2, out, olen);
	return rc;
}

/* Of a listxattr list (NUL-terminated names), the user.* ones into out; their length. */
static size_t user_names(const char *names, size_t len, uint8_t *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		size_t l = strnlen(names + i, len - i);
		if (i + l < len && kfs_plain_xattr_name_check(names + i, l) == 0) {
			memcpy(out + o, names + i, l + 1);
			o += l + 1;
		}
		i += l + 1;
	}
	return o;
}

/*
 * The user.* extended attributes of a regular file or directory, reached
 * through the O_PATH descriptor openat2 resolved (its /proc link names that
 * inode, no path is looked up again). Linux keeps user.* off other types.
 */
static int op_xattr(struct kd_plain *p, const struct kfs_plain_req *r, uint8_t *out, size_t *olen)
{
	static __thread char names[KFS_PLAIN_XLIST_MAX];
	char link[64];
	struct stat st;
	ssize_t n = 0;
	int fd = beneath(p, r->s1, O_PATH, 0);

	if (fd < 0)
		return fd;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if (fstat(fd, &st) < 0)
		n = -errno;
	else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		n = r->op == KFS_POP_LISTXATTR ? 0 : r->op == KFS_POP_GETXATTR ? -ENODATA : -EPERM;
	else if (r->op == KFS_POP_GETXATTR)
		n = getxattr(link, r->s2, out, KFS_XATTR_VALUE_MAX);
	else if (r->op == KFS_POP_LISTXATTR)
		n = listxattr(link, names, sizeof(names));
	else if (r->op == KFS_POP_SETXATTR)
		n = setxattr(link, r->s2, r->data, r->len, (r->flags & KFS_PF_XCREATE ? XATTR_CREATE : 0) |
			     (r->flags & KFS_PF_XREPLACE ? XATTR_REPLACE : 0));
	else
		n = removexattr(link, r->s2);
	n = n == -1 ? (errno == ERANGE ? -E2BIG : -errno) : n;
	close(fd);
	if (n > 0 && r->op == KFS_POP_LISTXATTR)
		n = (ssize_t)user_names(names, (size_t)n, out);
	*olen = n > 0 && r->op != KFS_POP_SETXATTR && r->op != KFS_POP_REMOVEXATTR ? (size_t)n : 0;
	return n < 0 ? (int)n : 0;
}

static int op_statfs(struct kd_plain *p, uint8_t *out, size_t *olen)
{
	struct statvfs v;
	struct kfs_plain_statfs s;

	if (fstatvfs(p->root, &v) < 0)
		return -errno;
	s = (struct kfs_plain_statfs){ v.f_frsize, v.f_blocks, v.f_bfree, v.f_bavail, v.f_files,
				       v.f_ffree };
	kfs_plain_statfs_encode(&s, out);
	*olen = KFS_PLAIN_STATFS_LEN;
	return 0;
}

static int op_fsync(struct kd_plain *p, const struct kfs_plain_req *r)
{
	int fd = r->handle ? handle_fd(p, r->handle, NULL) : p->root;

	if (fd < 0)
		return fd;
	if (r->handle)
		return fsync(fd) < 0 ? -errno : 0;
	return syncfs(fd) < 0 ? -errno : 0;
}

int kd_plain_handle(struct kd_plain *p, const struct kfs_plain_req *r, uint8_t *out, size_t cap,
		    size_t *olen)
{
	*olen = 0;
	if (cap < KFS_PLAIN_IO_MAX + 64)
		return -EINVAL;
	switch (r->op) {
	case KFS_POP_GETATTR:
		if (r->flags & KFS_PF_BY_HANDLE) {
			int fd = handle_fd(p, r->handle, NULL);
			return fd < 0 ? fd : fd_attr(fd, out, olen);
		}
		return path_attr(p, r->s1, out, olen);
	case KFS_POP_READDIR:
		return op_readdir(p, r, out, olen);
	case KFS_POP_OPEN:
		return op_open(p, r, out, olen);
	case KFS_POP_CLOSE:
		return op_close(p, r);
	case KFS_POP_READ:
		return op_read(p, r, out, olen);
	case KFS_POP_WRITE:
		return op_write(p, r, out, olen);
	case KFS_POP_TRUNCATE:
		return op_truncate(p, r, out, olen);
	case KFS_POP_CHMOD:
	case KFS_POP_UTIMENS:
		return op_chmod_utimens(p, r, out, olen);
	case KFS_POP_MKDIR:
	case KFS_POP_MKFIFO:
	case KFS_POP_RMDIR:
	case KFS_POP_UNLINK:
	case KFS_POP_SYMLINK:
	case KFS_POP_READLINK:
		return op_entry(p, r, out, olen);
	case KFS_POP_RENAME:
	case KFS_POP_LINK:
		return op_two(p, r, out, olen);
	case KFS_POP_STATFS:
		return op_statfs(p, out, olen);
	case KFS_POP_GETXATTR:
	case KFS_POP_SETXATTR:
	case KFS_POP_LISTXATTR:
	case KFS_POP_REMOVEXATTR:
		return op_xattr(p, r, out, olen);
	case KFS_POP_FSYNC:
		return op_fsync(p, r);
	default:
		return -EPROTO; /* VOLUME twice */
	}
}

int kd_plain_serve(struct kd_plain *p, int fd)
{
	uint8_t *out = malloc(KFS_PLAIN_IO_MAX + 64), *buf = NULL;
	struct kfs_plain_req *r = malloc(sizeof(*r));
	int rc = out && r ? 0 : kiln_err(ENOMEM, "plain volume: out of memory");

	while (rc == 0) {
		size_t len, olen = 0;
		uint8_t st;
		rc = kfs_wire_recv(fd, &buf, &len);
		if (rc == -EPIPE && !strcmp(kiln_errmsg(), "storage channel: closed")) {
			rc = 0;
			break;
		}
		if (rc < 0)
			break;
		/* a malformed request is answered, not fatal: the enclave sees EINVAL */
		rc = kfs_plain_req_decode(buf, len, r);
		if (rc == 0)
			rc = kd_plain_handle(p, r, out, KFS_PLAIN_IO_MAX + 64, &olen);
		st = (uint8_t)(rc < 0 ? (-rc < 256 ? -rc : EIO) : 0);
		rc = kfs_wire_send(fd, &st, 1, out, st ? 0 : olen);
		free(buf);
		buf = NULL;
	}
	free(out);
	free(r);
	return rc;
}
