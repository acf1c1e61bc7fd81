/* SPDX-License-Identifier: Apache-2.0 */
/* The local-directory object store: picks a volume's layout (segments, or a file per object). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fs/store_local.h"

bool kfs_seg_name_parse(const char *name, uint64_t *num)
{
	uint64_t v = 0;

	if (strncmp(name, "seg_", 4) || strlen(name) != KFS_SEG_NAME_LEN)
		return false;
	for (const char *p = name + 4; *p; p++) {
		int d = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10 : -1;
		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*num = v;
	return v != 0; /* 0 means no segment in the index */
}

void kfs_seg_name(uint64_t num, char out[KFS_SEG_NAME_LEN + 1])
{
	snprintf(out, KFS_SEG_NAME_LEN + 1, "seg_%016llx", (unsigned long long)num);
}

int kfs_dir_list(int dirfd, DIR **out)
{
	int fd = dup(dirfd);

	*out = fd < 0 ? NULL : fdopendir(fd);
	if (!*out) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return kiln_err(e, "object store: opendir: %s", strerror(e));
	}
	rewinddir(*out); /* the dup shares the offset of an earlier listing */
	return 0;
}

/*
 * A directory that holds objects as files and no segment stays on that
 * layout (volumes made before segments existed); every other one, new and
 * empty ones included, uses segments.
 */
static int has_object_files(int dirfd, bool *files)
{
	struct dirent *e;
	bool segs = false;
	uint64_t num;
	DIR *dir;
	int rc = kfs_dir_list(dirfd, &dir);

	if (rc < 0)
		return rc;
	*files = false;
	while ((e = readdir(dir))) {
		if (kfs_seg_name_parse(e->d_name, &num))
			segs = true;
		else if (kfs_id_check(e->d_name, strlen(e->d_name)) == 0)
			*files = true;
	}
	kiln_err_clear();
	closedir(dir);
	*files = *files && !segs;
	return 0;
}

int kfs_store_dir(int dirfd, const struct kfs_dir_caps *caps, struct kfs_store **out)
{
	bool files = false;
	int rc = has_object_files(dirfd, &files);

	if (rc < 0) {
		close(dirfd);
		return rc;
	}
	return files ? kfs_store_files(dirfd, caps, out) : kfs_store_seg(dirfd, caps, out);
}

int kfs_store_dir_open(const char *path, const struct kfs_dir_caps *caps, struct kfs_store **out)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return kiln_err(errno, "object store %s: %s", path, strerror(errno));
	return kfs_store_dir(fd, caps, out);
}

void kfs_store_dir_prefetch(struct kfs_store *s, const char *id)
{
	struct kfs_store_local *l = (struct kfs_store_local *)s;

	if (id && kfs_id_check(id, strlen(id)) < 0) {
		kiln_err_clear();
		return;
	}
	l->prefetch(s, id);
}

int kfs_store_dir_locate(struct kfs_store *s, const char *id, struct kfs_extent *x)
{
	struct kfs_store_local *l = (struct kfs_store_local *)s;

	if (!l->locate)
		return kiln_err(EOPNOTSUPP, "object %s: this layout keeps a file per object", id);
	return l->locate(s, id, x);
}

int kfs_store_dir_put_point(struct kfs_store *s, const char *id, const void *buf, size_t len)
{
	struct kfs_store_local *l = (struct kfs_store_local *)s;
	int rc = l->marks ? 0 : s->sync(s);

	return rc < 0 ? rc
		      : s->put(s, id, buf, len, KFS_PUT_DURABLE | (l->marks ? KFS_PUT_BARRIER : 0));
}

void kfs_store_dir_defer_compaction(struct kfs_store *s)
{
	struct kfs_store_local *l = (struct kfs_store_local *)s;

	if (l->defer_compaction)
		l->defer_compaction(s);
}

int kfs_store_dir_idle(struct kfs_store *s)
{
	struct kfs_store_local *l = (struct kfs_store_local *)s;

	return l->idle ? l->idle(s) : 0;
}

bool kfs_store_dir_idle_pending(struct kfs_store *s)
{
	struct kfs_store_local *l = (struct kfs_store_local *)s;

	return l->idle_pending && l->idle_pending(s);
}
