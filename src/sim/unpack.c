/* SPDX-License-Identifier: Apache-2.0 */
/* Unpack an EIF's customer ramdisks into a directory, as the kernel's initramfs code does. */
/*
 * How this works. The ramdisks are untrusted input (an EIF from anywhere):
 * bytes come only through the bounds-checked cpio reader, which already
 * refuses absolute names and "..". Every name is then resolved one
 * component at a time from the root fd with O_NOFOLLOW | O_DIRECTORY, so a
 * symlink planted by an earlier entry ("rootfs/etc -> /etc") can never
 * redirect a later write outside the root. As in the kernel's unpacker, an
 * existing non-directory is replaced, and hard links (nlink > 1, equal ino
 * within one archive) are linked to the first entry of their inode.
 */
#include "sim/sim.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "eif/cpio_read.h"
#include "eif/eif.h"
#include "util/cleanup.h"

#define COPY_BUF (128u * 1024)

struct link_ent {
	uint32_t ino;
	char *name;
};

struct unpacker {
	int root;
	struct link_ent *links;
	size_t nlinks;
	uint8_t *buf;
};

static int sys_err(const char *what, const char *name)
{
	int e = errno;

	return kiln_err(e, "%s %s: %s", what, name, strerror(e));
}

/*
 * Open the directory holding name's last component, creating missing
 * directories (0755) on the way; *base points at that component in name.
 */
static int open_parent(int root, const char *name, const char **base, int *out)
{
	_cleanup_close_ int dir = fcntl(root, F_DUPFD_CLOEXEC, 3);
	char comp[256];
	const char *p = name;

	if (dir < 0)
		return sys_err("dup", "root");
	for (;;) {
		size_t n = strcspn(p, "/");
		int next;

		if (p[n] == '\0')
			break;
		if (n >= sizeof(comp))
			return kiln_err(ENAMETOOLONG, "%s: component too long", name);
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n + 1;
		if (n == 0 || !strcmp(comp, "."))
			continue;
		if (mkdirat(dir, comp, 0755) < 0 && errno != EEXIST)
			return sys_err("mkdir", name);
		next = openat(dir, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			return errno == ELOOP || errno == ENOTDIR ?
				kiln_err(ELOOP, "%s: a parent is a symlink or not a directory", name) :
				sys_err("open", name);
		close(dir);
		dir = next;
	}
	*base = p;
	*out = KILN_STEAL_FD(dir);
	return 0;
}

/* Remove a non-directory in the way, as the kernel's clean_path() does. */
static int clear_path(int dir, const char *base, const char *name, bool is_dir)
{
	struct stat st;

	if (fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : sys_err("stat", name);
	if (S_ISDIR(st.st_mode) && is_dir)
		return 0;
	if (unlinkat(dir, base, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
		return sys_err("replace", name);
	return 0;
}

static int copy_data(struct unpacker *u, struct cpio_reader *r, int fd, const char *name)
{
	for (;;) {
		size_t got;
		int rc = cpio_read_data(r, u->buf, COPY_BUF, &got);

		if (rc < 0)
			return rc;
		if (!got)
			return 0;
		for (size_t off = 0; off < got;) {
			ssize_t w = write(fd, u->buf + off, got - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return errno == ENOSPC ?
					kiln_err(ENOSPC, "%s: the enclave memory is full "
						 "(raise --memory)", name) :
					sys_err("write", name);
			off += (size_t)w;
		}
	}
}

static const struct link_ent *link_find(const struct unpacker *u, uint32_t ino)
{
	for (size_t i = 0; i < u->nlinks; i++)
		if (u->links[i].ino == ino)
			return &u->links[i];
	return NULL;
}

static int link_add(struct unpacker *u, uint32_t ino, const char *name)
{
	struct link_ent *v = realloc(u->links, (u->nlinks + 1) * sizeof(*v));

	if (!v)
		return kiln_err(ENOMEM, "out of memory");
	u->links = v;
	v[u->nlinks].ino = ino;
	v[u->nlinks].name = strdup(name);
	if (!v[u->nlinks].name)
		return kiln_err(ENOMEM, "out of memory");
	u->nlinks++;
	return 0;
}

static int make_file(struct unpacker *u, struct cpio_reader *r, const struct cpio_rentry *e,
		     int dir, const char *base)
{
	const struct link_ent *first = e->nlink > 1 ? link_find(u, e->ino) : NULL;
	_cleanup_close_ int fd = -1;
	int rc;

	if (first) {
		_cleanup_close_ int fdir = -1;
		const char *fbase;

		rc = open_parent(u->root, first->name, &fbase, &fdir);
		if (rc < 0)
			return rc;
		if (linkat(fdir, fbase, dir, base, 0) < 0)
			return sys_err("link", e->name);
		if (!e->size)
			return 0;
		fd = openat(dir, base, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
	} else {
		fd = openat(dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		return sys_err("create", e->name);
	rc = copy_data(u, r, fd, e->name);
	if (rc == 0 && e->nlink > 1 && !first)
		rc = link_add(u, e->ino, e->name);
	return rc;
}

static int make_symlink(struct unpacker *u, struct cpio_reader *r, const struct cpio_rentry *e,
			int dir, const char *base)
{
	size_t got, len = 0;

	/* The reader caps symlink targets below 4096 bytes. */
	do {
		int rc = cpio_read_data(r, u->buf + len, COPY_BUF - 1 - len, &got);

		if (rc < 0)
			return rc;
		len += got;
	} while (got);
	u->buf[len] = '\0';
	if (strlen((char *)u->buf) != len)
		return kiln_err(EBADMSG, "cpio entry %s: symlink target has a NUL byte", e->name);
	if (symlinkat((char *)u->buf, dir, base) < 0)
		return sys_err("symlink", e->name);
	return 0;
}

/* 1 when a device may not be created here (a user namespace): it is left out. */
static int make_node(const struct cpio_rentry *e, int dir, const char *base)
{
	dev_t dev = makedev(e->rdevmajor, e->rdevminor);

	if (mknodat(dir, base, (mode_t)(e->mode & (S_IFMT | 0777)), dev) == 0)
		return 0;
	if (errno != EPERM)
		return sys_err("mknod", e->name);
	return 1;
}

/* Owner, then mode (chown clears set-id bits), then the file's mtime. */
static int set_attrs(const struct cpio_rentry *e, int dir, const char *base)
{
	struct timespec ts[2] = { { e->mtime, 0 }, { e->mtime, 0 } };

	if (fchownat(dir, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EINVAL &&
	    errno != EPERM)
		return sys_err("chown", e->name);
	if (S_ISLNK(e->mode))
		return 0;
	if (fchmodat(dir, base, e->mode & 07777, 0) < 0)
		return sys_err("chmod", e->name);
	if (S_ISREG(e->mode) && utimensat(dir, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return sys_err("utimes", e->name);
	return 0;
}

static int unpack_entry(struct unpacker *u, struct cpio_reader *r, const struct cpio_rentry *e)
{
	_cleanup_close_ int dir = -1;
	const char *base;
	bool is_dir = S_ISDIR(e->mode);
	int rc = open_parent(u->root, e->name, &base, &dir);

	if (rc < 0)
		return rc;
	if (!*base || !strcmp(base, "."))
		return 0; /* the root itself */
	rc = clear_path(dir, base, e->name, is_dir);
	if (rc < 0)
		return rc;
	switch (e->mode & S_IFMT) {
	case S_IFDIR:
		if (mkdirat(dir, base, 0700) < 0 && errno != EEXIST)
			return sys_err("mkdir", e->name);
		break;
	case S_IFREG:
		rc = make_file(u, r, e, dir, base);
		break;
	case S_IFLNK:
		rc = make_symlink(u, r, e, dir, base);
		break;
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		rc = make_node(e, dir, base);
		if (rc > 0)
			return 0;
		break;
	default:
		return kiln_err(EBADMSG, "cpio entry %s: unknown type", e->name);
	}
	return rc < 0 ? rc : set_attrs(e, dir, base);
}

static int unpack_one(struct unpacker *u, int eif_fd, const struct eif_section *s)
{
	struct cpio_reader *r = NULL;
	struct cpio_rentry e;
	int rc = cpio_reader_new_fd(eif_fd, s->offset + EIF_SECTION_HEADER_SIZE, s->size, NULL,
				    &r);

	while (rc == 0 && (rc = cpio_next(r, &e)) > 0)
		rc = unpack_entry(u, r, &e);
	cpio_reader_free(r);
	for (size_t i = 0; i < u->nlinks; i++)
		free(u->links[i].name);
	free(u->links);
	u->links = NULL;
	u->nlinks = 0; /* inode numbers are per archive */
	return rc;
}

int kiln_sim_unpack(int eif_fd, const struct eif_info *info, int dirfd)
{
	struct unpacker u = { .root = dirfd };
	unsigned ramdisk = 0, unpacked = 0;
	int rc = 0;

	u.buf = malloc(COPY_BUF);
	if (!u.buf)
		return kiln_err(ENOMEM, "out of memory");
	for (unsigned i = 0; rc == 0 && i < info->num_sections; i++) {
		if (info->sections[i].type != EIF_SECTION_RAMDISK)
			continue;
		if (ramdisk++ == 0)
			continue; /* ramdisk0 is the bootstrap, which the sim replaces */
		rc = unpack_one(&u, eif_fd, &info->sections[i]);
		if (rc < 0)
			rc = kiln_err_wrap(rc, "ramdisk%u", ramdisk - 1);
		unpacked++;
	}
	free(u.buf);
	if (rc == 0 && !unpacked)
		rc = kiln_err(ENOENT, "the EIF has no customer ramdisk (ramdisk1): "
				      "not an application image");
	return rc;
}
