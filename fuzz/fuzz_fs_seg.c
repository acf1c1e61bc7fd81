/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the segment store's record decoder and segment scan on
 * hostile segment bytes, then a store opened on them as its newest segment
 * (commit point marks, torn tails, a cut at a mark) and used.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fs/seg_file.h"
#include "fs/seg_record.h"
#include "fs/store.h"
#include "util/crc32.h"

struct fuzz_ctx {
	int fd;
	uint64_t size, last_end;
};

/* Every record the scan hands out lies inside the file, after the previous one, and reads back. */
static int visit(void *ctx, const struct kfs_seg_rec *r, uint64_t off)
{
	struct fuzz_ctx *c = ctx;
	uint8_t *buf = NULL;
	uint64_t data;

	if (off < c->last_end || off + kfs_seg_rec_size(r) > c->size || r->idlen > KFS_ID_MAX ||
	    r->len > KFS_SEG_DATA_MAX || kfs_id_check(r->id, r->idlen) < 0)
		abort();
	c->last_end = off + kfs_seg_rec_size(r);
	if (r->kind == KFS_SEG_PUT && kfs_seg_read(c->fd, off, r->id, r->len, &buf) == 0)
		free(buf);
	/* the header check kilnd's GET makes before it sends the data unread: never past the end */
	for (uint64_t at = off; r->kind == KFS_SEG_PUT && at <= off + 1; at++)
		if (kfs_seg_check_head(c->fd, at, r->id, r->len, &data) == 0 &&
		    (data != at + KFS_SEG_HDR + r->idlen || data + r->len > c->size))
			abort();
	return 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/*
 * Random bytes rarely carry a valid CRC: when the input starts with 'F',
 * give each record (as its own length fields lay them out) a right magic
 * and right CRCs, so the fuzzer reaches the checks behind them.
 */
static void fix_crcs(uint8_t *b, size_t size)
{
	size_t off = 1;

	while (size - off >= KFS_SEG_HDR) {
		uint8_t *h = b + off;
		size_t idlen = h[5];
		uint32_t len = ((uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11]) & 0xfff;
		memcpy(h, "KSG1", 4);
		put_be32(h + 8, len);
		if (idlen > size - off - KFS_SEG_HDR)
			idlen = size - off - KFS_SEG_HDR;
		h[5] = (uint8_t)idlen;
		if (len <= size - off - KFS_SEG_HDR - idlen)
			put_be32(h + 12, kiln_crc32(0, h + KFS_SEG_HDR + idlen, len));
		put_be32(h + 16, kiln_crc32(kiln_crc32(0, h, 16), h + KFS_SEG_HDR, idlen));
		off += KFS_SEG_HDR + idlen + len;
		if (off > size)
			break;
	}
}

/*
 * The bytes as the only segment of a store (a directory made once, the
 * file rewritten per input): opening must index only what lies inside the
 * file, and the store must take a commit point after it.
 */
static void open_as_store(const uint8_t *data, size_t size)
{
	static char dir[] = "/tmp/fuzz-fs-seg-XXXXXX", path[64];
	struct kfs_store *st;
	uint8_t *buf = NULL;
	size_t len = 0;
	int fd;

	if (!path[0] && (!mkdtemp(dir) ||
			 snprintf(path, sizeof(path), "%s/seg_0000000000000001", dir) < 0))
		abort();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (kfs_store_dir_open(dir, NULL, &st) < 0)
		return;
	if (st->get(st, KFS_SEG_MARK_ID, &buf, &len) == 0) /* never an object */
		abort();
	if (st->get(st, "j", &buf, &len) == 0)
		free(buf);
	(void)!kfs_store_dir_put_point(st, "j", "point", 5);
	st->close(st);
	kiln_err_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
	static uint8_t data[1 << 20];
	struct kfs_seg_rec r;
	struct kfs_seg_end end;
	int fd;

	if (size > sizeof(data))
		return 0;
	memcpy(data, in, size);
	if (size && data[0] == 'F')
		fix_crcs(data, size);
	fd = memfd_create("seg", MFD_CLOEXEC);
	(void)!kfs_seg_rec_decode(data, size, &r);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	for (int verify = 0; verify < 2; verify++) {
		struct fuzz_ctx c = { fd, size, 0 };
		if (kfs_seg_scan(fd, size, verify, visit, &c, &end) == 0 &&
		    (end.off != c.last_end || end.off > size))
			abort();
	}
	close(fd);
	open_as_store(data, size);
	return 0;
}
