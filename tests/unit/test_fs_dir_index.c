/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of a large directory's name index: lookups, creates, unlinks and renames against a model. */
#include <stdint.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "fs/internal.h"
#include "t.h"

#define NAMES 3000

static char tmpdir[] = "/tmp/kiln-fs-dix-XXXXXX";

/* The volume in tmpdir (the unmount closes its store). */
static struct kfs *mount_dir(unsigned flags)
{
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	struct kfs *fs = NULL;

	if (kfs_store_dir_open(tmpdir, NULL, &st) < 0 || kfs_keywrap_sim(NULL, &kw) < 0 ||
	    kfs_mount(st, kw, flags, NULL, NULL, &fs) < 0)
		return NULL;
	return fs;
}

/* The model: the inode each name "n%d" has in directory d (0: none), and in the root. */
static uint64_t in_d[NAMES], in_root[NAMES];

static void name_of(int i, char *buf, size_t len)
{
	snprintf(buf, len, "n%d", i);
}

/* Every name of the model looked up in dir: there with its inode, or ENOENT. */
static bool matches(struct kfs *fs, uint64_t dir, const uint64_t *model)
{
	struct kfs_attr a;
	char name[16];

	for (int i = 0; i < NAMES; i++) {
		name_of(i, name, sizeof(name));
		int rc = kfs_lookup(fs, dir, name, &a);
		if (model[i] ? rc != 0 || a.ino != model[i] : rc != -ENOENT)
			return false;
	}
	return true;
}

static int count(void *ctx, const char *name, uint64_t ino, uint32_t mode, uint64_t cookie)
{
	uint64_t *c = ctx;

	c[0]++;
	if (cookie <= c[1])
		c[2]++; /* out of cookie order */
	c[1] = cookie;
	return 0;
}

/* readdir of dir from the start: how many entries, all in cookie order. */
static uint64_t listed(struct kfs *fs, uint64_t dir)
{
	uint64_t c[3] = { 0 };

	CHECK(kfs_readdir(fs, dir, 0, count, c) == 0 && c[2] == 0);
	return c[0];
}

static uint64_t live(const uint64_t *model)
{
	uint64_t n = 0;

	for (int i = 0; i < NAMES; i++)
		n += model[i] != 0;
	return n;
}

/*
 * Thousands of names in one directory, past the size the index starts at:
 * creates (a name taken is EEXIST), unlinks of every third, renames
 * within the directory and out of it, the freed names created again, a
 * commit and a remount (the index is rebuilt from the stored entries).
 * Every name looks up as the model says, and readdir lists them all in
 * cookie order.
 */
TEST(large_directory)
{
	struct kfs *fs = mount_dir(KFS_MOUNT_CREATE);
	struct kfs_attr a, d;
	char name[16], to[16];

	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_mkdir(fs, KFS_ROOT_INO, "d", 0755, 0, 0, &d) == 0);
	for (int i = 0; i < NAMES; i++) {
		name_of(i, name, sizeof(name));
		CHECK(kfs_mknod(fs, d.ino, name, S_IFREG | 0644, 0, 0, &a) == 0);
		in_d[i] = a.ino;
	}
	CHECK_ERR(kfs_mknod(fs, d.ino, "n1234", S_IFREG | 0644, 0, 0, &a), "exists");
	CHECK(matches(fs, d.ino, in_d) && listed(fs, d.ino) == NAMES);
	for (int i = 0; i < NAMES; i += 3) {
		name_of(i, name, sizeof(name));
		CHECK(kfs_unlink(fs, d.ino, name) == 0);
		in_d[i] = 0;
	}
	/* n(i) for i = 1 mod 3 takes the freed name n(i - 1); i = 2 mod 6 goes to the root */
	for (int i = 1; i < NAMES; i += 3) {
		name_of(i, name, sizeof(name));
		name_of(i - 1, to, sizeof(to));
		CHECK(kfs_rename(fs, d.ino, name, d.ino, to, 0) == 0);
		in_d[i - 1] = in_d[i];
		in_d[i] = 0;
	}
	for (int i = 2; i < NAMES; i += 6) {
		name_of(i, name, sizeof(name));
		CHECK(kfs_rename(fs, d.ino, name, KFS_ROOT_INO, name, 0) == 0);
		in_root[i] = in_d[i];
		in_d[i] = 0;
	}
	CHECK(matches(fs, d.ino, in_d) && matches(fs, KFS_ROOT_INO, in_root));
	for (int i = 1; i < NAMES; i += 3) { /* the names renamed away, again */
		name_of(i, name, sizeof(name));
		CHECK(kfs_mknod(fs, d.ino, name, S_IFREG | 0644, 0, 0, &a) == 0);
		in_d[i] = a.ino;
	}
	CHECK(matches(fs, d.ino, in_d) && listed(fs, d.ino) == live(in_d));
	CHECK(kfs_sync(fs) == 0 && kfs_unmount(fs) == 0);
	fs = mount_dir(0);
	CHECK(fs);
	if (!fs)
		return;
	CHECK(matches(fs, d.ino, in_d) && matches(fs, KFS_ROOT_INO, in_root));
	CHECK(listed(fs, d.ino) == live(in_d) && listed(fs, KFS_ROOT_INO) == live(in_root) + 1);
	for (int i = 0; i < NAMES; i++) /* all of it, one by one */
		if (in_d[i]) {
			name_of(i, name, sizeof(name));
			CHECK(kfs_unlink(fs, d.ino, name) == 0);
			in_d[i] = 0;
		}
	CHECK(matches(fs, d.ino, in_d) && listed(fs, d.ino) == 0);
	CHECK(kfs_rmdir(fs, KFS_ROOT_INO, "d") == 0);
	CHECK(kfs_unmount(fs) == 0);
}

int main(void)
{
	char cmd[64];

	if (!mkdtemp(tmpdir))
		return 1;
	RUN(large_directory);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return 1;
	return t_done();
}
