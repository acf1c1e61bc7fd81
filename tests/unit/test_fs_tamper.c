/* SPDX-License-Identifier: Apache-2.0 */
/* Tampering with a volume's objects on the parent: every case is EIO (never wrong data) and logged. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "t.h"

#define MARKER "KILN-PLAINTEXT-MARKER-7f3a"

static char dir[] = "/tmp/kiln-fs-tamper-XXXXXX";
static char logline[512];
static uint64_t ino_a, ino_b, ino_d;

static void on_log(void *ctx, const char *line)
{
	snprintf(logline, sizeof(logline), "%s", line);
}

static struct kfs *mnt(unsigned flags)
{
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	struct kfs *fs = NULL;

	logline[0] = '\0';
	if (kfs_store_dir_open(dir, NULL, &st) < 0 || kfs_keywrap_sim(NULL, &kw) < 0)
		return NULL;
	if (kfs_mount(st, kw, flags, on_log, NULL, &fs) < 0)
		return NULL;
	return fs;
}

static void path(const char *id, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", dir, id);
}

static int run(const char *cmd)
{
	return system(cmd);
}

/* A fresh volume: files a and b (a holds the marker) and directory d with one entry. */
static void fresh(void)
{
	char cmd[128], buf[4096];
	struct kfs_attr a;
	struct kfs *fs;

	snprintf(cmd, sizeof(cmd), "rm -rf %s/*", dir);
	CHECK(run(cmd) == 0);
	fs = mnt(KFS_MOUNT_CREATE);
	CHECK(fs);
	if (!fs)
		return;
	for (size_t i = 0; i + sizeof(MARKER) <= sizeof(buf); i += sizeof(MARKER))
		memcpy(buf + i, MARKER "\n", sizeof(MARKER));
	CHECK(kfs_mknod(fs, 1, MARKER, S_IFREG | 0600, 0, 0, &a) == 0);
	ino_a = a.ino;
	CHECK(kfs_write(fs, ino_a, 0, buf, sizeof(buf)) == sizeof(buf));
	CHECK(kfs_mknod(fs, 1, "b", S_IFREG | 0600, 0, 0, &a) == 0);
	ino_b = a.ino;
	CHECK(kfs_write(fs, ino_b, 0, "other file", 10) == 10);
	CHECK(kfs_mkdir(fs, 1, "d", 0755, 0, 0, &a) == 0);
	ino_d = a.ino;
	CHECK(kfs_mknod(fs, ino_d, "inside", S_IFREG | 0600, 0, 0, &a) == 0);
	CHECK(kfs_unmount(fs) == 0);
}

/* The id of the one object whose name starts with prefix. */
static int find_obj(const char *prefix, char *id, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix))) {
			snprintf(id, len, "%s", e->d_name);
			found++;
		}
	if (d)
		closedir(d);
	return found == 1 ? 0 : -1;
}

static void block_of(uint64_t ino, char *id, size_t len)
{
	char prefix[64];

	snprintf(prefix, sizeof(prefix), "b-%llx-0-", (unsigned long long)ino);
	CHECK(find_obj(prefix, id, len) == 0);
}

static void inode_of(uint64_t ino, char *id, size_t len)
{
	char prefix[64];

	snprintf(prefix, sizeof(prefix), "i-%llx-", (unsigned long long)ino);
	CHECK(find_obj(prefix, id, len) == 0);
}

/* Reading a's content must fail with EIO and log the object named. */
static void expect_read_eio(const char *id)
{
	struct kfs *fs = mnt(0);
	char buf[64];

	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_read(fs, ino_a, 0, buf, sizeof(buf)) == -EIO);
	CHECK(strstr(logline, id) && strstr(logline, "integrity failure"));
	kfs_unmount(fs);
}

TEST(flip_byte)
{
	char id[256], p[600];
	int fd;

	fresh();
	block_of(ino_a, id, sizeof(id));
	path(id, p, sizeof(p));
	fd = open(p, O_RDWR);
	uint8_t c;
	CHECK(pread(fd, &c, 1, 40) == 1);
	c ^= 1;
	CHECK(pwrite(fd, &c, 1, 40) == 1);
	close(fd);
	expect_read_eio(id);
}

TEST(truncate_object)
{
	char id[256], p[600];

	fresh();
	block_of(ino_a, id, sizeof(id));
	path(id, p, sizeof(p));
	CHECK(truncate(p, 100) == 0);
	expect_read_eio(id);
}

TEST(swap_files)
{
	char ida[256], idb[256], pa[600], pb[600], pt[700];

	fresh();
	block_of(ino_a, ida, sizeof(ida));
	block_of(ino_b, idb, sizeof(idb));
	path(ida, pa, sizeof(pa));
	path(idb, pb, sizeof(pb));
	snprintf(pt, sizeof(pt), "%s.swap", pa);
	CHECK(rename(pa, pt) == 0 && rename(pb, pa) == 0 && rename(pt, pb) == 0);
	expect_read_eio(ida);
}

TEST(delete_object)
{
	char id[256], p[600];

	fresh();
	block_of(ino_a, id, sizeof(id));
	path(id, p, sizeof(p));
	CHECK(unlink(p) == 0);
	expect_read_eio(id);
}

TEST(rename_object)
{
	char id[256], p[600], q[600];

	fresh();
	block_of(ino_a, id, sizeof(id));
	path(id, p, sizeof(p));
	snprintf(q, sizeof(q), "%s/b-%llx-1-1", dir, (unsigned long long)ino_a);
	CHECK(rename(p, q) == 0);
	expect_read_eio(id);
}

/* Keep a copy of an object as it is now, to put back later (a rollback). */
static void save(const char *id)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "cp %s/%s %s/saved.copy", dir, id, dir);
	CHECK(run(cmd) == 0);
}

TEST(rollback_file)
{
	char old[256], cur[256], cmd[2048];
	struct kfs *fs;

	fresh();
	block_of(ino_a, old, sizeof(old));
	save(old);
	fs = mnt(0);
	CHECK(fs && kfs_write(fs, ino_a, 0, "new!", 4) == 4);
	if (fs)
		CHECK(kfs_unmount(fs) == 0);
	block_of(ino_a, cur, sizeof(cur));
	CHECK(strcmp(old, cur) != 0);
	snprintf(cmd, sizeof(cmd), "cp %s/saved.copy %s/%s && cp %s/saved.copy %s/%s", dir, dir, cur,
		 dir, dir, old);
	CHECK(run(cmd) == 0);
	expect_read_eio(cur);
}

TEST(rollback_directory)
{
	char old[256], cur[256], cmd[2048];
	struct kfs_attr a;
	struct kfs *fs;

	fresh();
	inode_of(ino_d, old, sizeof(old));
	save(old);
	fs = mnt(0);
	CHECK(fs && kfs_unlink(fs, ino_d, "inside") == 0);
	if (fs)
		CHECK(kfs_unmount(fs) == 0);
	inode_of(ino_d, cur, sizeof(cur));
	snprintf(cmd, sizeof(cmd), "cp %s/saved.copy %s/%s", dir, dir, cur);
	CHECK(run(cmd) == 0);
	fs = mnt(0);
	CHECK(fs);
	if (!fs)
		return;
	CHECK(kfs_lookup(fs, ino_d, "inside", &a) == -EIO);
	CHECK(strstr(logline, cur) && strstr(logline, "inode"));
	kfs_unmount(fs);
}

TEST(root_tamper_refuses_mount)
{
	char p[600];
	int fd;

	fresh();
	path("root", p, sizeof(p));
	fd = open(p, O_RDWR);
	CHECK(fd >= 0 && pwrite(fd, "X", 1, 20) == 1);
	close(fd);
	CHECK(mnt(0) == NULL);
	CHECK(strstr(kiln_errmsg(), "volume root") && strstr(kiln_errmsg(), "authentication failed"));
}

TEST(no_plaintext_in_store)
{
	char cmd[256];

	fresh();
	snprintf(cmd, sizeof(cmd), "grep -rq %s %s", MARKER, dir);
	CHECK(run(cmd) != 0); /* grep exits non-zero: not found */
	snprintf(cmd, sizeof(cmd), "grep -rq inside %s", dir);
	CHECK(run(cmd) != 0); /* names are encrypted too */
}

int main(void)
{
	char cmd[128];

	if (!mkdtemp(dir))
		return 1;
	RUN(flip_byte);
	RUN(truncate_object);
	RUN(swap_files);
	RUN(delete_object);
	RUN(rename_object);
	RUN(rollback_file);
	RUN(rollback_directory);
	RUN(root_tamper_refuses_mount);
	RUN(no_plaintext_in_store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (run(cmd) != 0)
		return 1;
	return t_done();
}
