/* SPDX-License-Identifier: Apache-2.0 */
/* The FUSE frontend's request handling, driven directly (no mount): replies and edge values. */
#include <linux/fuse.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "init/storage_fuse.h"
#include "t.h"

#include "counting_store.h"

static uint8_t out[KILN_FUSE_OUT_SIZE];
static uint8_t reply[4096]; /* the last reply's body (what fits) */

static struct kfs *mem_fs(void)
{
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	struct kfs *fs = NULL;

	if (kfs_store_mem(&st) < 0 || kfs_keywrap_sim(NULL, &kw) < 0 ||
	    kfs_mount(st, kw, KFS_MOUNT_CREATE, NULL, NULL, &fs) < 0)
		return NULL;
	return fs;
}

/* Send one request; the reply's error field (0 or -errno), or 1 when none came. */
static int call(struct kfs *fs, uint32_t op, uint64_t node, const void *body, size_t blen)
{
	uint64_t req[512];
	struct fuse_in_header *h = (struct fuse_in_header *)req;
	struct fuse_out_header oh;
	int p[2];
	int rc;

	memset(req, 0, sizeof(req));
	h->len = (uint32_t)(sizeof(*h) + blen);
	h->opcode = op;
	h->unique = 7;
	h->nodeid = node;
	memcpy(h + 1, body, blen);
	if (pipe(p) < 0)
		return -99;
	rc = kiln_fuse_handle(p[1], fs, (const uint8_t *)req, h->len, out);
	close(p[1]);
	if (rc < 0 || read(p[0], &oh, sizeof(oh)) != sizeof(oh))
		oh.error = 1;
	else if (oh.len > sizeof(oh) && read(p[0], reply, sizeof(reply)) < 0)
		oh.error = 1;
	close(p[0]);
	return oh.error;
}

TEST(setattr_huge_time_clamped)
{
	struct kfs *fs = mem_fs();
	struct fuse_setattr_in s = { .valid = FATTR_ATIME | FATTR_MTIME,
				     .atime = (uint64_t)1 << 62, .mtime = (uint64_t)-5 };
	struct kfs_attr a;

	CHECK(fs);
	if (!fs)
		return;
	CHECK(call(fs, FUSE_SETATTR, KFS_ROOT_INO, &s, sizeof(s)) == 0);
	CHECK(kfs_getattr(fs, KFS_ROOT_INO, &a) == 0);
	CHECK(a.atime_ns == (INT64_MAX / 1000000000 - 1) * 1000000000); /* clamped, not wrapped */
	CHECK(a.mtime_ns == -5000000000LL);				   /* before 1970 is fine */
	kfs_unmount(fs);
}

TEST(malformed_and_unknown)
{
	struct kfs *fs = mem_fs();
	uint8_t shortreq[16] = { 16 };

	CHECK(fs);
	if (!fs)
		return;
	CHECK_ERR(kiln_fuse_handle(-1, fs, shortreq, sizeof(shortreq), out), "malformed request");
	CHECK(call(fs, 9999, KFS_ROOT_INO, NULL, 0) == -ENOSYS);
	CHECK(call(fs, FUSE_LOOKUP, KFS_ROOT_INO, "nope", 4) == -EINVAL); /* no NUL */
	CHECK(call(fs, FUSE_LOOKUP, KFS_ROOT_INO, "nope", 5) == -ENOENT);
	CHECK(call(fs, FUSE_READ, KFS_ROOT_INO, "x", 1) == -EINVAL); /* short body */
	kfs_unmount(fs);
}

/* Every request counts under its opcode (an unknown or huge one in the last slot); a malformed one does not. */
TEST(requests_counted)
{
	struct kfs *fs = mem_fs();
	uint64_t before[KILN_FUSE_OPS], after[KILN_FUSE_OPS];
	uint8_t shortreq[16] = { 16 };

	CHECK(fs);
	if (!fs)
		return;
	kiln_fuse_counts(before);
	CHECK(call(fs, FUSE_LOOKUP, KFS_ROOT_INO, "nope", 5) == -ENOENT);
	CHECK(call(fs, FUSE_LOOKUP, KFS_ROOT_INO, "nada", 5) == -ENOENT);
	CHECK(call(fs, FUSE_GETATTR, KFS_ROOT_INO, NULL, 0) == 0);
	CHECK(call(fs, 9999, KFS_ROOT_INO, NULL, 0) == -ENOSYS);
	CHECK(kiln_fuse_handle(-1, fs, shortreq, sizeof(shortreq), out) < 0);
	kiln_fuse_counts(after);
	CHECK(after[FUSE_LOOKUP] - before[FUSE_LOOKUP] == 2);
	CHECK(after[FUSE_GETATTR] - before[FUSE_GETATTR] == 1);
	CHECK(after[KILN_FUSE_OPS - 1] - before[KILN_FUSE_OPS - 1] == 1);
	uint64_t total = 0;
	for (size_t i = 0; i < KILN_FUSE_OPS; i++)
		total += after[i] - before[i];
	CHECK(total == 4);
	kfs_unmount(fs);
}

/*
 * Files are opened with FOPEN_KEEP_CACHE (this mount is the only writer,
 * so the page cache is never stale); directories are not.
 */
TEST(open_keeps_cache)
{
	struct kfs *fs = mem_fs();
	struct fuse_open_in o = { .flags = 0 };
	struct {
		struct fuse_create_in c;
		char name[2];
	} cr = { .c = { .mode = S_IFREG | 0644 }, .name = "f" };
	struct fuse_entry_out *e = (struct fuse_entry_out *)reply;
	struct fuse_open_out *oo;
	uint64_t ino;

	CHECK(fs);
	if (!fs)
		return;
	CHECK(call(fs, FUSE_CREATE, KFS_ROOT_INO, &cr, sizeof(cr)) == 0);
	ino = e->nodeid;
	oo = (struct fuse_open_out *)(reply + sizeof(*e));
	CHECK(oo->open_flags & FOPEN_KEEP_CACHE);
	oo = (struct fuse_open_out *)reply;
	CHECK(call(fs, FUSE_OPEN, ino, &o, sizeof(o)) == 0 && (oo->open_flags & FOPEN_KEEP_CACHE));
	CHECK(call(fs, FUSE_OPENDIR, KFS_ROOT_INO, &o, sizeof(o)) == 0 && oo->open_flags == 0);
	kfs_unmount(fs);
}

static int stub_open(void *ctx, uint64_t ino)
{
	return 0;
}

static int stub_unmount(void *ctx)
{
	return 0;
}

/* A plain volume (the host writes it too) keeps no page cache across opens. */
TEST(plain_open_drops_cache)
{
	static const struct kfs_alt_ops ops = { .open = stub_open, .unmount = stub_unmount };
	struct fuse_open_in o = { .flags = 0 };
	struct fuse_open_out *oo = (struct fuse_open_out *)reply;
	struct kfs *fs = NULL;

	CHECK(kfs_alt_new(&ops, NULL, &fs) == 0);
	if (!fs)
		return;
	memset(reply, 0xff, sizeof(reply));
	CHECK(call(fs, FUSE_OPEN, 2, &o, sizeof(o)) == 0 && oo->open_flags == 0);
	kfs_unmount(fs);
}

/* A FUSE request as the kernel queues it: header, fixed part, data. */
static size_t fuse_req(uint64_t *req, uint32_t op, uint64_t node, const void *fixed, size_t flen,
		       const void *data, size_t dlen)
{
	struct fuse_in_header *h = (struct fuse_in_header *)req;

	memset(h, 0, sizeof(*h));
	h->len = (uint32_t)(sizeof(*h) + flen + dlen);
	h->opcode = op;
	h->unique = node + op;
	h->nodeid = node;
	memcpy(h + 1, fixed, flen);
	memcpy((uint8_t *)(h + 1) + flen, data, dlen);
	return h->len;
}

/*
 * 4 KiB writes into 8 different blocks of a file, queued together (as the
 * kernel's writeback sends them) on a device that keeps message
 * boundaries as /dev/fuse does: the serving loop reads them all, the
 * writes wait for no old block (fs/rmw.c: they are merged at the commit
 * of FUSE_DESTROY, whose gets go in one batch), and they land as if
 * served one by one (before the queued reads, a get per write).
 */
TEST(queued_writes_one_batch)
{
	static uint8_t file[16 * KFS_BLOCK], page[4096], back[16 * KFS_BLOCK];
	static uint64_t req[(sizeof(page) + 256) / 8];
	struct fuse_write_in wi = { .size = sizeof(page) };
	struct fuse_out_header oh;
	struct kfs_attr a;
	struct kfs *fs;
	int sv[2];
	size_t len;

	fresh_store();
	fs = mount_counting(KFS_MOUNT_CREATE);
	CHECK(fs && socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	if (!fs)
		return;
	for (size_t i = 0; i < sizeof(file); i++)
		file[i] = (uint8_t)(i * 5 + (i >> 15));
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "f", S_IFREG | 0644, 0, 0, &a) == 0);
	CHECK(kfs_write(fs, a.ino, 0, file, sizeof(file)) == (ssize_t)sizeof(file));
	CHECK(kfs_unmount(fs) == 0);
	fs = mount_counting(0); /* cold */
	CHECK(fs && kfs_getattr(fs, a.ino, &a) == 0);
	if (!fs)
		return;
	for (int i = 0; i < 8; i++) {
		wi.offset = (uint64_t)(15 - 2 * i) * KFS_BLOCK + 4096;
		memset(page, 'a' + i, sizeof(page));
		memcpy(file + wi.offset, page, sizeof(page));
		len = fuse_req(req, FUSE_WRITE, a.ino, &wi, sizeof(wi), page, sizeof(page));
		CHECK(write(sv[1], req, len) == (ssize_t)len);
	}
	len = fuse_req(req, FUSE_DESTROY, KFS_ROOT_INO, NULL, 0, NULL, 0);
	CHECK(write(sv[1], req, len) == (ssize_t)len);
	counts_reset();
	CHECK(kiln_fuse_serve(sv[0], fs) == 0);
	CHECK(cs.getv_calls == 1 && cs.getv_objs == 8 && cs.gets == 0);
	for (int i = 0; i < 9; i++) /* every request answered, in order, without an error */
		CHECK(read(sv[1], &oh, sizeof(oh)) >= (ssize_t)sizeof(oh) && oh.error == 0 &&
		      oh.unique == (i < 8 ? a.ino + FUSE_WRITE : KFS_ROOT_INO + FUSE_DESTROY));
	CHECK(kfs_unmount(fs) == 0);
	fs = mount_counting(0);
	CHECK(fs && kfs_read(fs, a.ino, 0, back, sizeof(back)) == (ssize_t)sizeof(back));
	CHECK(!memcmp(back, file, sizeof(file)));
	if (fs)
		CHECK(kfs_unmount(fs) == 0);
	close(sv[0]);
	close(sv[1]);
	fresh_store();
}

int main(void)
{
	RUN(queued_writes_one_batch);
	RUN(plain_open_drops_cache);
	RUN(open_keeps_cache);
	RUN(setattr_huge_time_clamped);
	RUN(malformed_and_unknown);
	RUN(requests_counted);
	return t_done();
}
