/* SPDX-License-Identifier: Apache-2.0 */
/* cpio "newc" reader over untrusted bytes (EIF ramdisks in the sim). */
/*
 * How this works. Input is pulled through a 64 KiB buffer from a callback.
 * Each 110-byte header is copied out and parsed with the cursor (strict
 * 8-digit hex fields); the name is read into a bounded buffer and must be a
 * NUL-terminated, relative path without "..". Alignment is tracked from the
 * archive start: header+name and data are each padded to 4 bytes. Sizes are
 * checked against the limits before any data is handed out, and a short
 * input is an error ("truncated"), never a silent end.
 */
#include "eif/cpio_read.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eif/cpio.h"
#include "util/cursor.h"
#include "util/hex.h"

#define IN_BUF (64u * 1024)
#define NAME_MAX_BYTES 4096 /* including the NUL */

struct cpio_reader {
	cpio_in_fn in;
	void *arg;
	struct cpio_limits lim;
	uint8_t buf[IN_BUF];
	size_t buf_pos, buf_len;
	uint64_t off;   /* archive bytes consumed */
	uint64_t left;  /* data of the current entry not yet consumed */
	uint64_t pad;   /* padding after that data */
	uint64_t entries;
	uint64_t total;
	bool done;
	char name[NAME_MAX_BYTES];
	/* fd and memory sources */
	int fd;
	uint64_t src_off, src_len;
	const uint8_t *mem;
};

int cpio_reader_new(cpio_in_fn in, void *arg, const struct cpio_limits *lim,
		    struct cpio_reader **rp)
{
	struct cpio_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return kiln_err(ENOMEM, "out of memory");
	r->in = in;
	r->arg = arg ? arg : r;
	r->fd = -1;
	r->lim.max_entries = 1000000;
	r->lim.max_file_size = UINT32_MAX;
	r->lim.max_total = UINT64_MAX;
	if (lim) {
		if (lim->max_entries)
			r->lim.max_entries = lim->max_entries;
		if (lim->max_file_size && lim->max_file_size < UINT32_MAX)
			r->lim.max_file_size = lim->max_file_size;
		if (lim->max_total)
			r->lim.max_total = lim->max_total;
	}
	*rp = r;
	return 0;
}

static int fd_in(void *buf, size_t len, size_t *got, void *arg)
{
	struct cpio_reader *r = arg;
	ssize_t n;

	if (len > r->src_len)
		len = (size_t)r->src_len;
	*got = 0;
	if (!len)
		return 0;
	do
		n = pread(r->fd, buf, len, (off_t)r->src_off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return kiln_err(errno, "cpio read failed: %s", strerror(errno));
	r->src_off += (uint64_t)n;
	r->src_len -= (uint64_t)n;
	*got = (size_t)n;
	return 0;
}

int cpio_reader_new_fd(int fd, uint64_t off, uint64_t len, const struct cpio_limits *lim,
		       struct cpio_reader **rp)
{
	int rc = cpio_reader_new(fd_in, NULL, lim, rp);

	if (rc < 0)
		return rc;
	(*rp)->fd = fd;
	(*rp)->src_off = off;
	(*rp)->src_len = len;
	return 0;
}

static int mem_in(void *buf, size_t len, size_t *got, void *arg)
{
	struct cpio_reader *r = arg;

	if (len > r->src_len)
		len = (size_t)r->src_len;
	memcpy(buf, r->mem + r->src_off, len);
	r->src_off += len;
	r->src_len -= len;
	*got = len;
	return 0;
}

int cpio_reader_new_mem(const void *buf, size_t len, const struct cpio_limits *lim,
			struct cpio_reader **rp)
{
	int rc = cpio_reader_new(mem_in, NULL, lim, rp);

	if (rc < 0)
		return rc;
	(*rp)->mem = buf;
	(*rp)->src_len = len;
	return 0;
}

static int fill(struct cpio_reader *r)
{
	size_t got = 0;
	int rc;

	r->buf_pos = r->buf_len = 0;
	rc = r->in(r->buf, sizeof(r->buf), &got, r->arg);
	if (rc < 0)
		return rc;
	if (got > sizeof(r->buf))
		return kiln_err(EIO, "cpio input callback overran its buffer");
	r->buf_len = got;
	return 0;
}

/* Copy (dst) or skip (dst NULL) up to len bytes; *got < len only at end of input. */
static int take(struct cpio_reader *r, void *dst, uint64_t len, uint64_t *got)
{
	*got = 0;
	while (*got < len) {
		size_t n;
		int rc;

		if (r->buf_pos == r->buf_len) {
			rc = fill(r);
			if (rc < 0)
				return rc;
			if (!r->buf_len)
				break;
		}
		n = r->buf_len - r->buf_pos;
		if (n > len - *got)
			n = (size_t)(len - *got);
		if (dst)
			memcpy((uint8_t *)dst + *got, r->buf + r->buf_pos, n);
		r->buf_pos += n;
		*got += n;
	}
	r->off += *got;
	return 0;
}

static int take_exact(struct cpio_reader *r, void *dst, uint64_t len, const char *what)
{
	uint64_t got;
	int rc = take(r, dst, len, &got);

	if (rc == 0 && got != len)
		rc = kiln_err(EBADMSG, "truncated cpio archive: %s at offset %llu", what,
			      (unsigned long long)r->off);
	return rc;
}

static int hex_field(struct kiln_cursor *c, uint32_t *v)
{
	const uint8_t *p;
	uint32_t x = 0;
	int rc = kiln_cursor_bytes(c, 8, &p);

	if (rc < 0)
		return rc;
	for (int i = 0; i < 8; i++) {
		int d = kiln_hex_digit(p[i]);

		if (d < 0)
			return kiln_err(EBADMSG, "cpio header field is not 8 hex digits");
		x = (x << 4) | (uint32_t)d;
	}
	*v = x;
	return 0;
}

struct raw_header {
	uint32_t f[13]; /* ino mode uid gid nlink mtime size devmaj devmin rdevmaj rdevmin namesize check */
};

static int parse_header(const uint8_t *h, struct raw_header *rh)
{
	struct kiln_cursor c = kiln_cursor_make(h, CPIO_HEADER_SIZE);
	const uint8_t *magic;
	int rc = kiln_cursor_bytes(&c, 6, &magic);

	if (rc < 0)
		return rc;
	if (memcmp(magic, "070702", 6) == 0)
		return kiln_err(ENOTSUP, "cpio \"crc\" format not supported, only newc");
	if (memcmp(magic, CPIO_NEWC_MAGIC, 6) != 0)
		return kiln_err(EBADMSG, "bad magic: not a cpio newc archive");
	for (int i = 0; i < 13 && rc == 0; i++)
		rc = hex_field(&c, &rh->f[i]);
	return rc;
}

static int check_type(const struct cpio_rentry *e)
{
	switch (e->mode & S_IFMT) {
	case S_IFREG:
		return 0;
	case S_IFLNK:
		if (e->size == 0 || e->size >= NAME_MAX_BYTES)
			return kiln_err(EBADMSG, "cpio entry %s: symlink target of %llu bytes",
					e->name, (unsigned long long)e->size);
		return 0;
	case S_IFDIR:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		if (e->size)
			return kiln_err(EBADMSG, "cpio entry %s: this file type has no data",
					e->name);
		return 0;
	default:
		return kiln_err(EBADMSG, "cpio entry %s: unknown file type 0%o", e->name,
				e->mode & S_IFMT);
	}
}

static int read_name(struct cpio_reader *r, uint32_t namesize)
{
	struct kiln_cursor c;
	const uint8_t *p;
	int rc;

	if (namesize < 2 || namesize > NAME_MAX_BYTES)
		return kiln_err(EBADMSG, "cpio entry name of %u bytes", namesize);
	rc = take_exact(r, r->name, namesize, "entry name");
	if (rc < 0)
		return rc;
	c = kiln_cursor_make(r->name, namesize);
	rc = kiln_cursor_bytes(&c, namesize, &p);
	if (rc == 0 && (p[namesize - 1] != '\0' || memchr(p, '\0', namesize - 1)))
		rc = kiln_err(EBADMSG, "cpio entry name is not one NUL-terminated string");
	if (rc == 0)
		rc = take_exact(r, NULL, (4 - (r->off & 3)) & 3, "name padding");
	return rc;
}

static int check_limits(struct cpio_reader *r, const struct cpio_rentry *e)
{
	if (++r->entries > r->lim.max_entries)
		return kiln_err(E2BIG, "cpio archive has more than %llu entries",
				(unsigned long long)r->lim.max_entries);
	if (e->size > r->lim.max_file_size)
		return kiln_err(EFBIG, "cpio entry %s: %llu bytes, limit %llu", e->name,
				(unsigned long long)e->size,
				(unsigned long long)r->lim.max_file_size);
	if (e->size > r->lim.max_total - r->total)
		return kiln_err(EFBIG, "cpio archive data exceeds %llu bytes",
				(unsigned long long)r->lim.max_total);
	r->total += e->size;
	return 0;
}

int cpio_next(struct cpio_reader *r, struct cpio_rentry *e)
{
	uint8_t h[CPIO_HEADER_SIZE];
	struct raw_header rh;
	int rc;

	if (r->done)
		return 0;
	rc = take_exact(r, NULL, r->left + r->pad, "entry data");
	if (rc < 0)
		return rc;
	r->left = r->pad = 0;
	rc = take_exact(r, h, sizeof(h), "header");
	if (rc == 0)
		rc = parse_header(h, &rh);
	if (rc == 0)
		rc = read_name(r, rh.f[11]);
	if (rc < 0)
		return kiln_err_wrap(rc, "cpio entry at offset %llu", (unsigned long long)r->off);
	memset(e, 0, sizeof(*e));
	e->name = r->name;
	if (strcmp(r->name, CPIO_TRAILER) == 0) {
		r->done = true;
		return 0;
	}
	e->ino = rh.f[0];
	e->mode = rh.f[1];
	e->uid = rh.f[2];
	e->gid = rh.f[3];
	e->nlink = rh.f[4];
	e->mtime = rh.f[5];
	e->size = rh.f[6];
	e->rdevmajor = rh.f[9];
	e->rdevminor = rh.f[10];
	if (!cpio_name_safe(r->name))
		return kiln_err(EBADMSG, "cpio entry name \"%s\" is absolute or has ..", r->name);
	rc = check_type(e);
	if (rc == 0)
		rc = check_limits(r, e);
	if (rc < 0)
		return rc;
	r->left = e->size;
	r->pad = (4 - ((r->off + e->size) & 3)) & 3;
	return 1;
}

int cpio_read_data(struct cpio_reader *r, void *buf, size_t len, size_t *got)
{
	uint64_t n = len < r->left ? len : r->left, g;
	int rc = take(r, buf, n, &g);

	*got = 0;
	if (rc < 0)
		return rc;
	if (g != n)
		return kiln_err(EBADMSG, "truncated cpio archive: data at offset %llu",
				(unsigned long long)r->off);
	r->left -= g;
	*got = (size_t)g;
	return 0;
}

void cpio_reader_free(struct cpio_reader *r)
{
	free(r);
}
