/* SPDX-License-Identifier: Apache-2.0 */
/* The FUSE frontend's request handling, driven directly (no mount): replies and edge values. */
#include <linux/fuse.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "init/storage_fuse.h"
#include "t.h"

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

int main(void)
{
	RUN(plain_open_drops_cache);
	RUN(open_keeps_cache);
	RUN(setattr_huge_time_clamped);
	RUN(malformed_and_unknown);
	return t_done();
}
