/* SPDX-License-Identifier: Apache-2.0 */
/* Reading a segment file: the scan that rebuilds the index, and one record's data. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs/seg_file.h"
#include "util/crc32.h"

static int read_at(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	*got = 0;
	while (*got < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + *got, len - *got, (off_t)(off + *got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_err(errno, "segment: read at %llu: %s", (unsigned long long)off,
					strerror(errno));
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}

/* Check the data of r at off against its CRC, reading it into scratch. */
static int check_data(int fd, const struct kfs_seg_rec *r, uint64_t off, uint8_t *scratch)
{
	size_t got;
	int rc = read_at(fd, scratch, r->len, off + KFS_SEG_HDR + r->idlen, &got);

	if (rc < 0)
		return rc;
	if (got != r->len || kiln_crc32(0, scratch, r->len) != r->data_crc)
		return kiln_err(EBADMSG, "record of %s at offset %llu: data CRC mismatch", r->id,
				(unsigned long long)off);
	return 0;
}

/* Whether bytes [off, size) of fd are all zero (as an append whose data never landed). */
static bool zeros_from(int fd, uint64_t off, uint64_t size, uint8_t *scratch)
{
	while (off < size) {
		size_t want = size - off < 65536 ? (size_t)(size - off) : 65536, got;
		if (read_at(fd, scratch, want, off, &got) < 0 || got == 0)
			return false;
		for (size_t i = 0; i < got; i++)
			if (scratch[i])
				return false;
		off += got;
	}
	return true;
}

/*
 * The record at off into r: 0, 1 when the scan ends here (why in
 * kiln_errmsg(), *torn whether it looks like an interrupted append), or an
 * error.
 */
static int scan_one(int fd, uint64_t size, uint64_t off, uint8_t *scratch, bool verify_data,
		    struct kfs_seg_rec *r, bool *torn)
{
	uint8_t hdr[KFS_SEG_HDR + KFS_ID_MAX];
	uint64_t left = size - off;
	size_t got;
	int rc = read_at(fd, hdr, left < sizeof(hdr) ? (size_t)left : sizeof(hdr), off, &got);

	if (rc < 0)
		return rc;
	*torn = true;
	rc = kfs_seg_rec_decode(hdr, got, r);
	if (rc == -EAGAIN) {
		kiln_err(EBADMSG, "record at offset %llu: short header", (unsigned long long)off);
		return 1;
	}
	if (rc < 0) {
		*torn = zeros_from(fd, off, size, scratch);
		kiln_err_wrap(rc, "offset %llu", (unsigned long long)off);
		return 1;
	}
	if (kfs_seg_rec_size(r) > left) {
		kiln_err(EBADMSG, "record of %s at offset %llu: %u data bytes past the end", r->id,
			 (unsigned long long)off, r->len);
		return 1;
	}
	r->damaged = verify_data && r->kind == KFS_SEG_PUT && check_data(fd, r, off, scratch) < 0;
	return r->damaged && kfs_seg_rec_size(r) == left ? 1 : 0;
}

int kfs_seg_scan(int fd, uint64_t size, bool verify_data, kfs_seg_visit visit, void *ctx,
		 struct kfs_seg_end *end)
{
	uint8_t *scratch = malloc(KFS_SEG_DATA_MAX);
	struct kfs_seg_rec r;
	uint64_t off = 0;
	int rc = 0;

	if (!scratch)
		return kiln_err(ENOMEM, "segment scan: out of memory");
	end->torn = false;
	while (off < size && rc == 0) {
		rc = scan_one(fd, size, off, scratch, verify_data, &r, &end->torn);
		if (rc == 0)
			rc = visit(ctx, &r, off);
		if (rc == 0)
			off += kfs_seg_rec_size(&r);
	}
	free(scratch);
	end->off = off;
	return rc < 0 ? rc : 0;
}

/*
 * Whether the header and id read at off (got bytes of hdr; more is fine)
 * are id's PUT record of len data bytes, decoded into r.
 */
static int head_is(const uint8_t *hdr, size_t got, uint64_t off, const char *id, uint32_t len,
		   struct kfs_seg_rec *r)
{
	size_t idlen = strlen(id);

	if (got < KFS_SEG_HDR + idlen || kfs_seg_rec_decode(hdr, KFS_SEG_HDR + idlen, r) < 0 ||
	    r->kind != KFS_SEG_PUT || strcmp(r->id, id) || r->len != len)
		return kiln_err(EBADMSG, "object %s: its record at offset %llu is short, overwritten "
					 "or fails its CRC", id, (unsigned long long)off);
	return 0;
}

int kfs_seg_check_head(int fd, uint64_t off, const char *id, uint32_t len, uint64_t *data)
{
	uint8_t hdr[KFS_SEG_HDR + KFS_ID_MAX];
	size_t want = KFS_SEG_HDR + strlen(id), got;
	struct kfs_seg_rec r;
	struct stat st;
	int rc = read_at(fd, hdr, want, off, &got);

	if (rc < 0)
		return rc;
	if (fstat(fd, &st) < 0)
		return kiln_err(errno, "object %s: fstat: %s", id, strerror(errno));
	rc = head_is(hdr, got, off, id, len, &r);
	if (rc == 0 && (uint64_t)st.st_size < off + want + len)
		rc = kiln_err(EBADMSG, "object %s: its record at offset %llu is cut short", id,
			      (unsigned long long)off);
	if (rc == 0)
		*data = off + want;
	return rc;
}

int kfs_seg_read(int fd, uint64_t off, const char *id, uint32_t len, uint8_t **buf)
{
	uint8_t hdr[KFS_SEG_HDR + KFS_ID_MAX];
	size_t idlen = strlen(id);
	struct kfs_seg_rec r;
	ssize_t n;
	uint8_t *data = malloc(len ? len : 1);
	struct iovec iov[2] = { { hdr, KFS_SEG_HDR + idlen }, { data, len } };
	int rc;

	if (!data)
		return kiln_err(ENOMEM, "object %s: out of memory", id);
	do
		n = preadv(fd, iov, 2, (off_t)off);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = errno;
		free(data);
		return kiln_err(e, "object %s: read: %s", id, strerror(e));
	}
	rc = head_is(hdr, (size_t)n, off, id, len, &r);
	if (rc == 0 && ((size_t)n != KFS_SEG_HDR + idlen + len ||
			kiln_crc32(0, data, len) != r.data_crc))
		rc = kiln_err(EBADMSG, "object %s: its record at offset %llu is short, overwritten "
				       "or fails its CRC", id, (unsigned long long)off);
	if (rc < 0) {
		free(data);
		return rc;
	}
	*buf = data;
	return 0;
}
