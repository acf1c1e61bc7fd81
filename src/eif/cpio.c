/* SPDX-License-Identifier: Apache-2.0 */
/* Deterministic cpio "newc" writer for EIF ramdisks. */
#include "eif/cpio.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A hard-link group's inode number (open addressing, grown at half full). */
struct link_slot {
	uint64_t group; /* 0: empty */
	uint32_t ino;
};

struct cpio_writer {
	cpio_out_fn out;
	cpio_out_fd_fn out_fd; /* NULL: cpio_write_fd reads into a buffer itself */
	void *arg;
	uint32_t mtime;
	uint32_t next_ino;
	uint64_t off;
	bool in_entry;
	uint64_t left; /* data still owed by the open entry */
	bool failed;
	bool finished;
	struct link_slot *links;
	size_t links_cap; /* power of two */
	size_t links_used;
};

static int emit(struct cpio_writer *w, const void *buf, size_t len)
{
	int rc;

	if (!len)
		return 0;
	rc = w->out(buf, len, w->arg);
	if (rc < 0) {
		w->failed = true;
		return rc;
	}
	w->off += len;
	return 0;
}

static int pad4(struct cpio_writer *w)
{
	static const uint8_t zeros[3];

	return emit(w, zeros, (4 - (w->off & 3)) & 3);
}

int cpio_writer_new(cpio_out_fn out, void *arg, uint32_t mtime, struct cpio_writer **wp)
{
	struct cpio_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return kiln_err(ENOMEM, "out of memory");
	w->out = out;
	w->arg = arg;
	w->mtime = mtime;
	w->next_ino = 1;
	*wp = w;
	return 0;
}

static size_t slot_of(uint64_t group, size_t cap)
{
	return (size_t)((group * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

static int links_grow(struct cpio_writer *w)
{
	size_t cap = w->links_cap ? 2 * w->links_cap : 64;
	struct link_slot *n = calloc(cap, sizeof(*n));

	if (!n)
		return kiln_err(ENOMEM, "out of memory");
	for (size_t i = 0; i < w->links_cap; i++) {
		size_t j;

		if (!w->links[i].group)
			continue;
		for (j = slot_of(w->links[i].group, cap); n[j].group; j = (j + 1) & (cap - 1))
			;
		n[j] = w->links[i];
	}
	free(w->links);
	w->links = n;
	w->links_cap = cap;
	return 0;
}

/* The inode of an entry: a fresh number, or its link group's. */
static int inode_for(struct cpio_writer *w, uint64_t group, uint32_t *ino)
{
	size_t j;
	int rc;

	if (w->next_ino == UINT32_MAX)
		return kiln_err(E2BIG, "too many cpio entries");
	if (!group) {
		*ino = w->next_ino++;
		return 0;
	}
	if (2 * (w->links_used + 1) > w->links_cap) {
		rc = links_grow(w);
		if (rc < 0)
			return rc;
	}
	for (j = slot_of(group, w->links_cap); w->links[j].group; j = (j + 1) & (w->links_cap - 1)) {
		if (w->links[j].group == group) {
			*ino = w->links[j].ino;
			return 0;
		}
	}
	w->links[j].group = group;
	w->links[j].ino = *ino = w->next_ino++;
	w->links_used++;
	return 0;
}

bool cpio_name_safe(const char *name)
{
	const char *p = name;

	if (!*name || *name == '/')
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += n;
		p += *p == '/';
	}
	return true;
}

static int header(struct cpio_writer *w, const char *name, uint32_t ino, uint32_t mode,
		  uint32_t uid, uint32_t gid, uint32_t nlink, uint32_t mtime, uint64_t size,
		  uint32_t rmaj, uint32_t rmin)
{
	char h[CPIO_HEADER_SIZE + 1];
	size_t namesize = strlen(name) + 1;
	int rc;

	snprintf(h, sizeof(h), "%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 CPIO_NEWC_MAGIC, ino, mode, uid, gid, nlink, mtime, (uint32_t)size, 0u, 0u,
		 rmaj, rmin, (uint32_t)namesize, 0u);
	rc = emit(w, h, CPIO_HEADER_SIZE);
	if (rc == 0)
		rc = emit(w, name, namesize);
	if (rc == 0)
		rc = pad4(w);
	return rc;
}

static int usable(const struct cpio_writer *w)
{
	if (w->failed)
		return kiln_err(EIO, "cpio writer failed earlier");
	if (w->finished)
		return kiln_err(EINVAL, "cpio archive already finished");
	return 0;
}

int cpio_add_entry(struct cpio_writer *w, const struct cpio_entry *e)
{
	uint32_t ino = 0, nlink = e->nlink;
	int rc = usable(w);

	if (rc < 0)
		return rc;
	if (w->in_entry)
		return kiln_err(EINVAL, "cpio entry not ended before %s", e->name);
	if (!cpio_name_safe(e->name))
		return kiln_err(EINVAL, "cpio entry name \"%s\" is empty, absolute or has ..",
				e->name);
	if (strlen(e->name) >= 4096)
		return kiln_err(ENAMETOOLONG, "cpio entry name too long: %.64s...", e->name);
	if (e->size > UINT32_MAX)
		return kiln_err(EFBIG, "%s: %llu bytes; cpio newc cannot hold files of 4 GiB or more",
				e->name, (unsigned long long)e->size);
	if (!nlink)
		nlink = S_ISDIR(e->mode) ? 2 : 1;
	rc = inode_for(w, e->link_group, &ino);
	if (rc == 0)
		rc = header(w, e->name, ino, e->mode, e->uid, e->gid, nlink, w->mtime, e->size,
			    e->rdevmajor, e->rdevminor);
	if (rc < 0)
		return kiln_err_wrap(rc, "cpio entry %s", e->name);
	w->in_entry = true;
	w->left = e->size;
	return 0;
}

int cpio_write_data(struct cpio_writer *w, const void *buf, size_t len)
{
	int rc = usable(w);

	if (rc < 0)
		return rc;
	if (!w->in_entry)
		return kiln_err(EINVAL, "cpio data outside an entry");
	if (len > w->left)
		return kiln_err(EFBIG, "cpio entry data longer than its declared size");
	rc = emit(w, buf, len);
	if (rc == 0)
		w->left -= len;
	return rc;
}

void cpio_writer_set_out_fd(struct cpio_writer *w, cpio_out_fd_fn out_fd)
{
	w->out_fd = out_fd;
}

/* Without an fd output: read through a bounce buffer into cpio_write_data. */
static int copy_fd(struct cpio_writer *w, int fd, uint64_t off, uint64_t len)
{
	enum { CHUNK = 1 << 16 };
	uint8_t *buf = malloc(CHUNK);
	int rc = buf ? 0 : kiln_err(ENOMEM, "out of memory");

	while (rc == 0 && len) {
		ssize_t n = pread(fd, buf, len < CHUNK ? (size_t)len : CHUNK, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			rc = kiln_err(n < 0 ? errno : EIO, "read: %s",
				      n < 0 ? strerror(errno) : "file shorter than expected");
		else
			rc = cpio_write_data(w, buf, (size_t)n);
		off += n > 0 ? (uint64_t)n : 0;
		len -= n > 0 ? (uint64_t)n : 0;
	}
	free(buf);
	return rc;
}

int cpio_write_fd(struct cpio_writer *w, int fd, uint64_t off, uint64_t len)
{
	int rc = usable(w);

	if (rc < 0)
		return rc;
	if (!w->in_entry)
		return kiln_err(EINVAL, "cpio data outside an entry");
	if (len > w->left)
		return kiln_err(EFBIG, "cpio entry data longer than its declared size");
	if (!w->out_fd)
		return copy_fd(w, fd, off, len);
	rc = w->out_fd(fd, off, len, w->arg);
	if (rc < 0) {
		w->failed = true;
		return rc;
	}
	w->off += len;
	w->left -= len;
	return 0;
}

int cpio_end_entry(struct cpio_writer *w)
{
	int rc = usable(w);

	if (rc < 0)
		return rc;
	if (!w->in_entry)
		return kiln_err(EINVAL, "no cpio entry to end");
	if (w->left)
		return kiln_err(EIO, "cpio entry short by %llu bytes", (unsigned long long)w->left);
	w->in_entry = false;
	return pad4(w);
}

int cpio_add_bytes(struct cpio_writer *w, const struct cpio_entry *e, const void *data)
{
	int rc = cpio_add_entry(w, e);

	if (rc == 0)
		rc = cpio_write_data(w, data, (size_t)e->size);
	if (rc == 0)
		rc = cpio_end_entry(w);
	return rc;
}

int cpio_finish(struct cpio_writer *w)
{
	int rc = usable(w);

	if (rc < 0)
		return rc;
	if (w->in_entry)
		return kiln_err(EINVAL, "cpio entry not ended before the trailer");
	rc = header(w, CPIO_TRAILER, 0, 0, 0, 0, 1, 0, 0, 0, 0);
	if (rc == 0)
		w->finished = true;
	return rc;
}

uint64_t cpio_writer_bytes(const struct cpio_writer *w)
{
	return w->off;
}

void cpio_writer_free(struct cpio_writer *w)
{
	if (!w)
		return;
	free(w->links);
	free(w);
}
