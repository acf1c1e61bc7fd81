/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the encrypted storage core: POSIX semantics, persistence, keys. */
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "fs/fs.h"
#include "fs/internal.h"
#include "t.h"

static char tmpdir[] = "/tmp/kiln-fs-core-XXXXXX";

static struct kfs *mount_dir(const char *secret, unsigned flags)
{
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	struct kfs *fs = NULL;

	if (kfs_store_dir_open(tmpdir, NULL, &st) < 0 || kfs_keywrap_sim(secret, &kw) < 0)
		return NULL;
	if (kfs_mount(st, kw, flags, NULL, NULL, &fs) < 0)
		return NULL;
	return fs;
}

TEST(create_write_read)
{
	struct kfs *fs = mount_dir(NULL, KFS_MOUNT_CREATE);
	struct kfs_attr a, b;
	char buf[100000];
	uint8_t big[3 * KFS_BLOCK + 17];

	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "f", S_IFREG | 0644, 1, 2, &a) == 0);
	CHECK_ERR(kfs_mknod(fs, KFS_ROOT_INO, "f", S_IFREG | 0644, 1, 2, &b), "exists");
	CHECK(kfs_write(fs, a.ino, 0, "hello", 5) == 5);
	CHECK(kfs_write(fs, a.ino, 5, " world", 6) == 6);
	CHECK(kfs_read(fs, a.ino, 0, buf, sizeof(buf)) == 11 && !memcmp(buf, "hello world", 11));
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	CHECK(kfs_write(fs, a.ino, 100, big, sizeof(big)) == (ssize_t)sizeof(big));
	CHECK(kfs_read(fs, a.ino, 0, buf, sizeof(buf)) == (ssize_t)(100 + sizeof(big)));
	CHECK(!memcmp(buf + 100, big, sizeof(big)));
	CHECK(buf[11] == 0 && buf[99] == 0); /* the hole reads as zeros */
	/* shrink then grow: the old tail must not come back */
	struct kfs_attr sz = { .size = 50 };
	CHECK(kfs_setattr(fs, a.ino, KFS_SET_SIZE, &sz, &b) == 0 && b.size == 50);
	sz.size = 2 * KFS_BLOCK;
	CHECK(kfs_setattr(fs, a.ino, KFS_SET_SIZE, &sz, &b) == 0);
	memset(buf, 1, sizeof(buf));
	CHECK(kfs_read(fs, a.ino, 0, buf, sizeof(buf)) == 2 * KFS_BLOCK);
	CHECK(!memcmp(buf, "hello world", 11) && buf[101] == 0 && buf[KFS_BLOCK + 5] == 0);
	CHECK(kfs_unmount(fs) == 0);

	fs = mount_dir(NULL, 0);
	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "f", &b) == 0 && b.ino == a.ino && b.size == 2 * KFS_BLOCK);
	CHECK(b.uid == 1 && b.gid == 2 && b.mode == (S_IFREG | 0644));
	CHECK(kfs_read(fs, a.ino, 0, buf, 11) == 11 && !memcmp(buf, "hello world", 11));
	CHECK(kfs_unmount(fs) == 0);
}

TEST(wrong_key_refused)
{
	struct kfs *fs = mount_dir("other", 0);

	CHECK(!fs);
	CHECK(strstr(kiln_errmsg(), "wrong key"));
}

static int count_fill(void *ctx, const char *name, uint64_t ino, uint32_t mode, uint64_t cookie)
{
	(*(int *)ctx)++;
	return 0;
}

struct first {
	uint64_t cookie;
	char name[64];
};

static int first_fill(void *ctx, const char *name, uint64_t ino, uint32_t mode, uint64_t cookie)
{
	struct first *f = ctx;

	f->cookie = cookie;
	snprintf(f->name, sizeof(f->name), "%s", name);
	return 1;
}

TEST(namespace_ops)
{
	struct kfs *fs = mount_dir(NULL, 0);
	struct kfs_attr d, e, f, g;
	char buf[64];
	int n = 0;

	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_mkdir(fs, KFS_ROOT_INO, "d", 0755, 0, 0, &d) == 0);
	CHECK(kfs_mkdir(fs, d.ino, "e", 0700, 0, 0, &e) == 0);
	CHECK(kfs_mknod(fs, e.ino, "x", S_IFREG | 0600, 0, 0, &f) == 0);
	CHECK(kfs_link(fs, f.ino, KFS_ROOT_INO, "x2", &g) == 0 && g.nlink == 2);
	CHECK(kfs_symlink(fs, d.ino, "l", "../x2", 0, 0, &g) == 0);
	CHECK(kfs_readlink(fs, g.ino, buf, sizeof(buf)) == 0 && !strcmp(buf, "../x2"));
	CHECK_ERR(kfs_rmdir(fs, KFS_ROOT_INO, "d"), "not empty");
	CHECK_ERR(kfs_rename(fs, KFS_ROOT_INO, "d", e.ino, "dd", 0), "below itself");
	CHECK_ERR(kfs_unlink(fs, KFS_ROOT_INO, "d"), "is a directory");
	CHECK(kfs_rename(fs, d.ino, "e", KFS_ROOT_INO, "e2", 0) == 0);
	CHECK(kfs_getattr(fs, d.ino, &d) == 0 && d.nlink == 2);
	CHECK(kfs_getattr(fs, KFS_ROOT_INO, &g) == 0 && g.nlink == 4);
	/* rename replacing a file; the replaced one survives while open */
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "victim", S_IFREG | 0600, 0, 0, &g) == 0);
	CHECK(kfs_write(fs, g.ino, 0, "old", 3) == 3);
	CHECK(kfs_open(fs, g.ino) == 0);
	CHECK(kfs_rename(fs, KFS_ROOT_INO, "x2", KFS_ROOT_INO, "victim", 0) == 0);
	CHECK(kfs_read(fs, g.ino, 0, buf, 3) == 3 && !memcmp(buf, "old", 3));
	CHECK(kfs_sync(fs) == 0);
	CHECK(kfs_read(fs, g.ino, 0, buf, 3) == 3 && !memcmp(buf, "old", 3));
	CHECK(kfs_release(fs, g.ino) == 0);
	CHECK(kfs_getattr(fs, g.ino, &g) == -ENOENT);
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "victim", &g) == 0 && g.ino == f.ino && g.nlink == 2);
	CHECK_ERR(kfs_rename(fs, KFS_ROOT_INO, "victim", KFS_ROOT_INO, "e2", 0), "is a directory");
	CHECK_ERR(kfs_rename(fs, KFS_ROOT_INO, "d", KFS_ROOT_INO, "victim", RENAME_NOREPLACE), "exists");
	/* xattrs */
	CHECK(kfs_setxattr(fs, f.ino, "user.a", "1", 1, 0) == 0);
	CHECK_ERR(kfs_setxattr(fs, f.ino, "user.a", "2", 1, XATTR_CREATE), "exists");
	CHECK(kfs_setxattr(fs, f.ino, "user.b", "22", 2, 0) == 0);
	CHECK(kfs_listxattr(fs, f.ino, buf, sizeof(buf)) == 14 && !memcmp(buf, "user.a\0user.b", 14));
	CHECK(kfs_removexattr(fs, f.ino, "user.a") == 0);
	CHECK(kfs_getxattr(fs, f.ino, "user.a", buf, sizeof(buf)) == -ENODATA);
	/* readdir with an entry removed and one added mid-iteration */
	struct first fi = { 0 };
	CHECK(kfs_readdir(fs, KFS_ROOT_INO, 0, first_fill, &fi) == 0 && fi.cookie >= 3);
	CHECK(!strcmp(fi.name, "f") && kfs_unlink(fs, KFS_ROOT_INO, fi.name) == 0);
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "late", S_IFREG | 0600, 0, 0, &g) == 0);
	CHECK(kfs_readdir(fs, KFS_ROOT_INO, fi.cookie, count_fill, &n) == 0 && n >= 1);
	CHECK(kfs_unmount(fs) == 0);
	/* everything above is there after a remount */
	fs = mount_dir(NULL, 0);
	CHECK(fs && kfs_lookup(fs, KFS_ROOT_INO, "late", &g) == 0);
	CHECK(fs && kfs_getxattr(fs, f.ino, "user.b", buf, sizeof(buf)) == 2);
	if (fs)
		CHECK(kfs_unmount(fs) == 0);
}

TEST(crash_keeps_last_commit)
{
	struct kfs *fs = mount_dir(NULL, 0);
	struct kfs_attr a;
	char buf[8];

	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "durable", S_IFREG | 0600, 0, 0, &a) == 0);
	CHECK(kfs_write(fs, a.ino, 0, "v1", 2) == 2);
	CHECK(kfs_sync(fs) == 0);
	CHECK(kfs_write(fs, a.ino, 0, "v2", 2) == 2);
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "lost", S_IFREG | 0600, 0, 0, &a) == 0);
	/* simulate a crash: no final commit (leaks the in-memory state on purpose) */
	fs = mount_dir(NULL, 0);
	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "lost", &a) == -ENOENT);
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "durable", &a) == 0);
	CHECK(kfs_read(fs, a.ino, 0, buf, 2) == 2 && !memcmp(buf, "v1", 2));
	CHECK(kfs_unmount(fs) == 0);
}

/* A provider that makes the key itself (the KMS GenerateDataKey seam): key = 0x5a.., wrapped = "W" + key. */
static int gen_key(struct kfs_keywrap *w, const uint8_t *uuid, uint8_t *key, uint8_t **out,
		   size_t *len)
{
	memset(key, 0x5a, KFS_KEY_LEN);
	*out = malloc(1 + KFS_KEY_LEN);
	(*out)[0] = 'W';
	memcpy(*out + 1, key, KFS_KEY_LEN);
	*len = 1 + KFS_KEY_LEN;
	return 0;
}

static int gen_unwrap(struct kfs_keywrap *w, const uint8_t *uuid, const uint8_t *in, size_t len,
		      uint8_t *key)
{
	if (len != 1 + KFS_KEY_LEN || in[0] != 'W')
		return kiln_err(EKEYREJECTED, "fake kms: not ours");
	memcpy(key, in + 1, KFS_KEY_LEN);
	return 0;
}

TEST(generating_provider)
{
	static struct kfs_keywrap kw = { .name = "kms", .generate = gen_key, .unwrap = gen_unwrap };
	struct kfs_store *st;
	struct kfs *fs = NULL;
	struct kfs_attr a;
	char buf[8];

	CHECK(kfs_store_mem(&st) == 0);
	CHECK(kfs_mount(st, &kw, KFS_MOUNT_CREATE, NULL, NULL, &fs) == 0);
	CHECK(fs && kfs_mknod(fs, KFS_ROOT_INO, "k", S_IFREG | 0600, 0, 0, &a) == 0);
	CHECK(fs && kfs_write(fs, a.ino, 0, "kms", 3) == 3);
	CHECK(fs && kfs_sync(fs) == 0);
	/* the header holds what generate returned: a new mount unwraps it */
	uint8_t *hdr = NULL;
	size_t *hl = NULL;
	CHECK(kfs_store_mem_raw(st, "hdr", &hdr, &hl) == 0 && *hl > 1 + KFS_KEY_LEN);
	CHECK(hdr && !memcmp(hdr + *hl - 1 - KFS_KEY_LEN, "W\x5a\x5a", 3));
	CHECK(fs && kfs_read(fs, a.ino, 0, buf, 3) == 3 && !memcmp(buf, "kms", 3));
	if (fs)
		CHECK(kfs_unmount(fs) == 0);
}

TEST(object_ids)
{
	CHECK(kfs_id_check("b-1-2-3", 7) == 0);
	CHECK_ERR(kfs_id_check("../x", 4), "leading dot");
	CHECK_ERR(kfs_id_check("a/b", 3), "not allowed");
	CHECK_ERR(kfs_id_check("", 0), "bad length");
}

/* Files named PREFIX and a number. */
static void mknod_n(struct kfs *fs, const char *prefix, int i)
{
	char name[32];
	struct kfs_attr a;

	snprintf(name, sizeof(name), "%s%d", prefix, i);
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, name, S_IFREG | 0600, 0, 0, &a) == 0);
}

static int lookup_n(struct kfs *fs, const char *prefix, int i)
{
	char name[32];
	struct kfs_attr a;

	snprintf(name, sizeof(name), "%s%d", prefix, i);
	return kfs_lookup(fs, KFS_ROOT_INO, name, &a);
}

/*
 * A commit after the root is one journal record; a mount replays them and
 * its first commit writes a new root; KFS_JOURNAL_MAX records fold into one.
 */
TEST(journal_records_and_folds)
{
	char cmd[128];
	struct kfs *fs;

	snprintf(cmd, sizeof(cmd), "rm -rf %s/*", tmpdir);
	CHECK(system(cmd) == 0);
	fs = mount_dir(NULL, KFS_MOUNT_CREATE);
	CHECK(fs && fs->gen == 1 && fs->jseq == 0);
	if (!fs)
		return;
	for (int i = 0; i < 10; i++) {
		mknod_n(fs, "r", i);
		CHECK(kfs_sync(fs) == 0);
	}
	CHECK(fs->gen == 1 && fs->jseq == 10);
	CHECK(kfs_unmount(fs) == 0); /* record 11 */
	fs = mount_dir(NULL, 0);
	CHECK(fs && fs->gen == 1 && fs->jseq == 11);
	if (!fs)
		return;
	for (int i = 0; i < 10; i++)
		CHECK(lookup_n(fs, "r", i) == 0);
	mknod_n(fs, "after", 0);
	CHECK(kfs_sync(fs) == 0);
	CHECK(fs->gen == 2 && fs->jseq == 0); /* the mount's first commit: a root */
	for (int i = 0; i < KFS_JOURNAL_MAX + 1; i++) {
		mknod_n(fs, "m", i);
		CHECK(kfs_sync(fs) == 0);
	}
	CHECK(fs->gen == 3 && fs->jseq == 0); /* KFS_JOURNAL_MAX records, then a root */
	CHECK(kfs_unmount(fs) == 0);

	struct kfs_store *st;
	uint8_t *d = NULL;
	size_t l = 0;
	CHECK(kfs_store_dir_open(tmpdir, NULL, &st) == 0);
	CHECK(st->get(st, "j-1-1", &d, &l) == -ENOENT);
	CHECK(st->get(st, "j-2-1", &d, &l) == -ENOENT);
	CHECK(st->get(st, "j-3-1", &d, &l) == 0); /* the unmount's */
	free(d);
	st->close(st);
	fs = mount_dir(NULL, 0);
	CHECK(fs && fs->gen == 3 && fs->jseq == 1);
	if (!fs)
		return;
	CHECK(lookup_n(fs, "r", 9) == 0 && lookup_n(fs, "after", 0) == 0);
	for (int i = 0; i < KFS_JOURNAL_MAX + 1; i++)
		CHECK(lookup_n(fs, "m", i) == 0);
	CHECK(kfs_unmount(fs) == 0);
}

/* A crash after journal records keeps them, and loses what no commit covered. */
TEST(journal_crash_keeps_records)
{
	struct kfs *fs = mount_dir(NULL, 0);

	CHECK(fs);
	if (!fs)
		return;
	mknod_n(fs, "c", 1);
	CHECK(kfs_sync(fs) == 0); /* root */
	mknod_n(fs, "c", 2);
	CHECK(kfs_sync(fs) == 0); /* record 1 */
	CHECK(kfs_unlink(fs, KFS_ROOT_INO, "c1") == 0);
	CHECK(kfs_sync(fs) == 0); /* record 2: c1 gone */
	mknod_n(fs, "c", 3);
	/* the crash: no commit (leaks the in-memory state on purpose) */
	fs = mount_dir(NULL, 0);
	CHECK(fs && fs->jseq == 2);
	if (!fs)
		return;
	CHECK(lookup_n(fs, "c", 1) == -ENOENT);
	CHECK(lookup_n(fs, "c", 2) == 0);
	CHECK(lookup_n(fs, "c", 3) == -ENOENT);
	CHECK(kfs_unmount(fs) == 0);
}

/* New roots say "KRT2" (a kiln without parts or the journal refuses them); "KRTJ" and "KROT" roots still read. */
TEST(root_magic)
{
	uint64_t map[2] = { KFS_ROOT_INO, 3 };
	struct kfs_root r = { .gen = 5, .next_ino = 9, .next_ver = 4, .n = 1, .map = map }, back;
	uint8_t *buf = NULL, old[4 + 4 * 8 + 16];
	size_t len = 0;

	CHECK(kfs_root_encode(&r, &buf, &len) == 0);
	if (!buf)
		return;
	CHECK(len == 4 + 4 * 8 + 24 + 16 && !memcmp(buf, "KRT2", 4));
	CHECK(kfs_root_decode(buf, len, &back) == 0 && back.gen == 5 && back.n == 1 &&
	      back.map[1] == 3 && back.nparts == 0);
	free(back.map);
	/* the older layout: no predecessor or parts between the counters and the pairs */
	memcpy(old, buf, 4 + 4 * 8);
	memcpy(old + 4 + 4 * 8, buf + len - 16, 16);
	memcpy(old, "KRTJ", 4);
	CHECK(kfs_root_decode(old, sizeof(old), &back) == 0 && back.gen == 5 && back.n == 1 &&
	      back.map[1] == 3);
	free(back.map);
	memcpy(old, "KROT", 4);
	CHECK(kfs_root_decode(old, sizeof(old), &back) == 0 && back.next_ino == 9);
	free(back.map);
	memcpy(old, "KJRN", 4);
	CHECK_ERR(kfs_root_decode(old, sizeof(old), &back), "volume root: malformed");
	/* a root in parts carries no pairs, and names no more inodes than its parts can hold */
	r.nparts = 1;
	r.pid = 7;
	free(buf);
	CHECK(kfs_root_encode(&r, &buf, &len) == 0 && len == 4 + 4 * 8 + 24);
	CHECK(buf && kfs_root_decode(buf, len, &back) == 0 && back.nparts == 1 && !back.map &&
	      back.pid == 7);
	r.n = (uint64_t)KFS_ROOT_PART_PAIRS + 1;
	free(buf);
	CHECK(kfs_root_encode(&r, &buf, &len) == 0);
	CHECK_ERR(kfs_root_decode(buf, len, &back), "volume root: malformed");
	free(buf);
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	RUN(create_write_read);
	RUN(wrong_key_refused);
	RUN(namespace_ops);
	RUN(crash_keeps_last_commit);
	RUN(generating_provider);
	RUN(object_ids);
	RUN(journal_records_and_folds);
	RUN(journal_crash_keeps_records);
	RUN(root_magic);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return 1;
	return t_done();
}
