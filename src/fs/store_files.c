/* SPDX-License-Identifier: Apache-2.0 */
/* The original local-directory layout: one file per object, nothing opened outside its root. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fs/store_local.h"

struct dir_store {
	struct kfs_store_local ops;
	int dirfd;
	struct kfs_dir_caps caps;
	uint64_t bytes, objects; /* current usage, for the caps */
	/* objects put since the last sync, while they are few (see dir_sync) */
	char (*unsynced)[KFS_ID_MAX + 1];
	size_t nunsynced;
	bool many;
};

#define SYNC_FEW 64

/* Open id beneath the root only: no "..", no absolute paths, no symlinks. */
int kfs_open_beneath(int dirfd, const char *name, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)flags | O_CLOEXEC | O_NOFOLLOW,
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

static int dir_open(struct dir_store *d, const char *name, int flags, mode_t mode)
{
	return kfs_open_beneath(d->dirfd, name, flags, mode);
}

static int dir_get(struct kfs_store *s, const char *id, uint8_t **buf, size_t *len)
{
	struct dir_store *d = (struct dir_store *)s;
	struct stat st;
	int rc = kfs_id_check(id, strlen(id)), fd;

	if (rc < 0)
		return rc;
	fd = dir_open(d, id, O_RDONLY, 0);
	if (fd < 0)
		return kiln_err(-fd, "object %s: %s", id, strerror(-fd));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > KFS_OBJ_MAX + 4096) {
		close(fd);
		return kiln_err(EIO, "object %s: not a regular file of sane size", id);
	}
	*buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!*buf) {
		close(fd);
		return kiln_err(ENOMEM, "object %s: out of memory", id);
	}
	ssize_t n = pread(fd, *buf, (size_t)st.st_size, 0);
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc < 0 || n != st.st_size) {
		free(*buf);
		*buf = NULL;
		return kiln_err(EIO, "object %s: short read", id);
	}
	*len = (size_t)n;
	return 0;
}

static void dir_prefetch(struct kfs_store *s, const char *id)
{
	struct dir_store *d = (struct dir_store *)s;
	int fd = id ? dir_open(d, id, O_RDONLY, 0) : -1;

	if (fd < 0)
		return;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
	close(fd);
}

static int64_t dir_size(struct dir_store *d, const char *id)
{
	struct stat st;

	if (fstatat(d->dirfd, id, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return -1;
	return st.st_size;
}

static int dir_caps_ok(struct dir_store *d, const char *id, size_t len, int64_t old)
{
	uint64_t bytes = d->bytes + len - (old > 0 ? (uint64_t)old : 0);
	uint64_t objs = d->objects + (old < 0);

	if (len > KFS_OBJ_MAX + 4096)
		return kiln_err(EFBIG, "object %s: %zu bytes is over the object limit", id, len);
	if (d->caps.max_bytes && bytes > d->caps.max_bytes)
		return kiln_err(ENOSPC, "object %s: volume byte cap %llu reached", id,
				(unsigned long long)d->caps.max_bytes);
	if (d->caps.max_objects && objs > d->caps.max_objects)
		return kiln_err(ENOSPC, "object %s: volume object cap %llu reached", id,
				(unsigned long long)d->caps.max_objects);
	return 0;
}

static int dir_write_tmp(struct dir_store *d, const char *tmp, const void *buf, size_t len,
			 unsigned flags)
{
	const uint8_t *p = buf;
	int fd = dir_open(d, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600), rc = 0;

	if (fd < 0)
		return kiln_err(-fd, "object temp %s: %s", tmp, strerror(-fd));
	for (size_t off = 0; off < len && rc == 0;) {
		ssize_t n = write(fd, p + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			rc = kiln_err(n < 0 ? errno : EIO, "object temp %s: write: %s", tmp,
				      strerror(n < 0 ? errno : EIO));
		else
			off += (size_t)n;
	}
	if (rc == 0 && (flags & KFS_PUT_DURABLE) && fdatasync(fd) < 0)
		rc = kiln_err(errno, "object temp %s: fdatasync: %s", tmp, strerror(errno));
	close(fd);
	return rc;
}

static int dir_put(struct kfs_store *s, const char *id, const void *buf, size_t len, unsigned flags)
{
	struct dir_store *d = (struct dir_store *)s;
	char tmp[KFS_ID_MAX + 8];
	int rc = kfs_id_check(id, strlen(id));
	int64_t old;

	if (rc < 0)
		return rc;
	old = dir_size(d, id);
	rc = dir_caps_ok(d, id, len, old);
	if (rc < 0)
		return rc;
	snprintf(tmp, sizeof(tmp), ".tmp.%s", id);
	rc = dir_write_tmp(d, tmp, buf, len, flags);
	if (rc == 0 && renameat(d->dirfd, tmp, d->dirfd, id) < 0)
		rc = kiln_err(errno, "object %s: rename: %s", id, strerror(errno));
	if (rc < 0) {
		unlinkat(d->dirfd, tmp, 0);
		return rc;
	}
	if ((flags & KFS_PUT_DURABLE) && fsync(d->dirfd) < 0)
		return kiln_err(errno, "object %s: fsync directory: %s", id, strerror(errno));
	if (!(flags & KFS_PUT_DURABLE) && d->nunsynced < SYNC_FEW)
		snprintf(d->unsynced[d->nunsynced++], KFS_ID_MAX + 1, "%s", id);
	else if (!(flags & KFS_PUT_DURABLE))
		d->many = true;
	d->bytes += len - (old > 0 ? (uint64_t)old : 0);
	d->objects += old < 0;
	return 0;
}

static int dir_del(struct kfs_store *s, const char *id)
{
	struct dir_store *d = (struct dir_store *)s;
	int rc = kfs_id_check(id, strlen(id));
	int64_t old;

	if (rc < 0)
		return rc;
	old = dir_size(d, id);
	if (unlinkat(d->dirfd, id, 0) < 0 && errno != ENOENT)
		return kiln_err(errno, "object %s: unlink: %s", id, strerror(errno));
	if (old >= 0) {
		d->bytes -= (uint64_t)old < d->bytes ? (uint64_t)old : d->bytes;
		d->objects -= d->objects > 0;
	}
	return 0;
}

/* fdatasync one object put since the last sync; one deleted since needs nothing. */
static int sync_one(struct dir_store *d, const char *id)
{
	int fd = dir_open(d, id, O_RDONLY, 0), rc = 0;

	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return kiln_err(-fd, "object %s: %s", id, strerror(-fd));
	if (fdatasync(fd) < 0)
		rc = kiln_err(errno, "object %s: fdatasync: %s", id, strerror(errno));
	close(fd);
	return rc;
}

/*
 * Every object put since the last sync durable. A commit after a few small
 * writes (an app's fsync) syncs just those objects: fdatasync makes each
 * one's data and size durable, and fsync of the directory its name (the
 * rename from the temp file): what syncfs gave them, without waiting for
 * everything else dirty on the parent's filesystem. After many puts one
 * syncfs is cheaper than a flush per object.
 */
static int dir_sync(struct kfs_store *s)
{
	struct dir_store *d = (struct dir_store *)s;
	int rc = 0;

	if (d->many && syncfs(d->dirfd) < 0)
		rc = kiln_err(errno, "object store: syncfs: %s", strerror(errno));
	for (size_t i = 0; !d->many && i < d->nunsynced && rc == 0; i++)
		rc = sync_one(d, d->unsynced[i]);
	if (rc == 0 && !d->many && d->nunsynced && fsync(d->dirfd) < 0)
		rc = kiln_err(errno, "object store: fsync directory: %s", strerror(errno));
	if (rc == 0) {
		d->nunsynced = 0;
		d->many = false;
	}
	return rc;
}

static void dir_close(struct kfs_store *s)
{
	struct dir_store *d = (struct dir_store *)s;

	close(d->dirfd);
	free(d->unsynced);
	free(d);
}

/* Count what is there (for the caps) and drop temp files a crash left behind. */
static int dir_scan(struct dir_store *d)
{
	struct dirent *e;
	DIR *dir;
	int rc = kfs_dir_list(d->dirfd, &dir);

	if (rc < 0)
		return rc;
	while ((e = readdir(dir))) {
		int64_t sz;
		if (!strncmp(e->d_name, ".tmp.", 5)) {
			unlinkat(d->dirfd, e->d_name, 0);
			continue;
		}
		if (kfs_id_check(e->d_name, strlen(e->d_name)) < 0 || (sz = dir_size(d, e->d_name)) < 0)
			continue;
		d->bytes += (uint64_t)sz;
		d->objects++;
	}
	kiln_err_clear();
	closedir(dir);
	return 0;
}

int kfs_store_files(int dirfd, const struct kfs_dir_caps *caps, struct kfs_store **out)
{
	struct dir_store *d = calloc(1, sizeof(*d));
	int rc;

	if (!d) {
		close(dirfd);
		return kiln_err(ENOMEM, "object store: out of memory");
	}
	d->ops.ops = (struct kfs_store){ dir_get, dir_put, dir_del, dir_sync, dir_close, NULL, NULL };
	d->ops.prefetch = dir_prefetch;
	d->dirfd = dirfd;
	d->unsynced = malloc(SYNC_FEW * sizeof(*d->unsynced));
	if (!d->unsynced) {
		dir_close(&d->ops.ops);
		return kiln_err(ENOMEM, "object store: out of memory");
	}
	if (caps)
		d->caps = *caps;
	rc = dir_scan(d);
	if (rc < 0) {
		dir_close(&d->ops.ops);
		return rc;
	}
	*out = &d->ops.ops;
	return 0;
}
