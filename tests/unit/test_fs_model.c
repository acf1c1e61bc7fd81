/* SPDX-License-Identifier: Apache-2.0 */
/* Model-based randomized test: the same operations on the storage core and a plain directory. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "fs/fs.h"
#include "fs/internal.h"
#include "t.h"

#define STEPS 1500

static char store[] = "/tmp/kiln-fs-model-s-XXXXXX";
static char plain[] = "/tmp/kiln-fs-model-p-XXXXXX";
static const char *names[] = { "a", "b", "c", "d1", "d2" };
static const char *dirs[] = { "", "d1/", "d2/", "d1/d2/" };
static struct kfs *fs;
static unsigned seed;
static int step;

static struct kfs *mnt(unsigned flags)
{
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	struct kfs *f = NULL;

	if (kfs_store_dir_open(store, NULL, &st) < 0 || kfs_keywrap_sim(NULL, &kw) < 0)
		return NULL;
	return kfs_mount(st, kw, flags, NULL, NULL, &f) < 0 ? NULL : f;
}

/* Resolve "x/y/z" to the inode of its parent and the last name. */
static int resolve(const char *p, uint64_t *parent, const char **last)
{
	char comp[64];
	uint64_t cur = KFS_ROOT_INO;
	struct kfs_attr a;
	const char *s;

	while ((s = strchr(p, '/'))) {
		snprintf(comp, sizeof(comp), "%.*s", (int)(s - p), p);
		if (kfs_lookup(fs, cur, comp, &a) < 0)
			return -ENOENT;
		cur = a.ino;
		p = s + 1;
	}
	*parent = cur;
	*last = p;
	return 0;
}

static int k_ino(const char *p, uint64_t *ino)
{
	uint64_t d;
	const char *l;
	struct kfs_attr a;
	int rc = resolve(p, &d, &l);

	if (rc == 0)
		rc = kfs_lookup(fs, d, l, &a);
	if (rc == 0)
		*ino = a.ino;
	return rc;
}

static void rnd_path(char *out, size_t len)
{
	snprintf(out, len, "%s%s", dirs[rand() % 4], names[rand() % 5]);
}

static void pp(const char *p, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", plain, p);
}

/* One random operation on both; both must succeed or both fail. */
static void one_op(void)
{
	char p[64], q[64], pa[512], pb[512], buf[3 * KFS_BLOCK];
	uint64_t d, d2, ino;
	const char *l, *l2;
	struct kfs_attr a;
	int op = rand() % 10, rk = -1, rp, fd;
	uint64_t off = (uint64_t)(rand() % 3) * KFS_BLOCK + (uint64_t)(rand() % 100);
	size_t len = (size_t)(rand() % (int)sizeof(buf));

	rnd_path(p, sizeof(p));
	rnd_path(q, sizeof(q));
	pp(p, pa, sizeof(pa));
	pp(q, pb, sizeof(pb));
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(rand() & 0xff);
	switch (op) {
	case 0: /* create exclusive */
		fd = open(pa, O_CREAT | O_EXCL | O_WRONLY, 0644);
		rp = fd < 0 ? -1 : 0;
		if (fd >= 0)
			close(fd);
		rk = resolve(p, &d, &l) == 0 ? kfs_mknod(fs, d, l, S_IFREG | 0644, 0, 0, &a) : -1;
		break;
	case 1:
	case 2: /* pwrite */
		fd = open(pa, O_WRONLY);
		rp = fd >= 0 && pwrite(fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -1;
		if (fd >= 0)
			close(fd);
		rk = k_ino(p, &ino) == 0 && kfs_write(fs, ino, off, buf, len) == (ssize_t)len ? 0 : -1;
		break;
	case 3: /* truncate */
		rp = truncate(pa, (off_t)off) == 0 ? 0 : -1;
		a.size = off;
		rk = k_ino(p, &ino) == 0 ? kfs_setattr(fs, ino, KFS_SET_SIZE, &a, NULL) : -1;
		break;
	case 4:
		rp = unlink(pa);
		rk = resolve(p, &d, &l) == 0 ? kfs_unlink(fs, d, l) : -1;
		break;
	case 5:
		rp = mkdir(pa, 0755);
		rk = resolve(p, &d, &l) == 0 ? kfs_mkdir(fs, d, l, 0755, 0, 0, &a) : -1;
		break;
	case 6:
		rp = rmdir(pa);
		rk = resolve(p, &d, &l) == 0 ? kfs_rmdir(fs, d, l) : -1;
		break;
	case 7:
		rp = rename(pa, pb);
		rk = resolve(p, &d, &l) == 0 && resolve(q, &d2, &l2) == 0 ? kfs_rename(fs, d, l, d2, l2, 0) : -1;
		break;
	case 8:
		rp = link(pa, pb);
		rk = k_ino(p, &ino) == 0 && resolve(q, &d2, &l2) == 0 ? kfs_link(fs, ino, d2, l2, &a) : -1;
		break;
	default: /* commit, sometimes a full remount */
		rp = 0;
		if (rand() % 4 == 0) {
			rk = kfs_unmount(fs);
			fs = mnt(0);
			rk = fs ? rk : -1;
		} else {
			rk = kfs_sync(fs);
		}
		break;
	}
	if ((rp < 0) != (rk < 0)) {
		fprintf(stderr, "seed %u step %d: op %d on %s %s: plain %s, kiln %d (%s)\n", seed, step,
			op, p, q, rp < 0 ? "failed" : "ok", rk, kiln_errmsg());
		t_failures++;
	}
}

/* Compare one directory of the plain tree with the kiln one, recursively. */
static int compare(const char *rel, uint64_t kdir, int *entries)
{
	char pa[512], sub[256], *pbuf = NULL, *kbuf = NULL;
	struct kfs_attr a;
	struct stat st;
	struct dirent *e;
	DIR *dp;
	int bad = 0;

	pp(rel, pa, sizeof(pa));
	if (!(dp = opendir(pa)))
		return 1;
	while ((e = readdir(dp)) && !bad) {
		if (e->d_name[0] == '.')
			continue;
		(*entries)++;
		snprintf(sub, sizeof(sub), "%s%s", rel, e->d_name);
		pp(sub, pa, sizeof(pa));
		if (lstat(pa, &st) < 0 || kfs_lookup(fs, kdir, e->d_name, &a) < 0 ||
		    (st.st_mode & S_IFMT) != (a.mode & S_IFMT) || (S_ISREG(st.st_mode) && (uint64_t)st.st_size != a.size) ||
		    (S_ISREG(st.st_mode) && st.st_nlink != a.nlink)) {
			fprintf(stderr, "seed %u step %d: %s differs\n", seed, step, sub);
			bad = 1;
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			snprintf(sub + strlen(sub), sizeof(sub) - strlen(sub), "/");
			bad = compare(sub, a.ino, entries);
		} else if (st.st_size) {
			int fd = open(pa, O_RDONLY);
			pbuf = malloc((size_t)st.st_size);
			kbuf = malloc((size_t)st.st_size);
			bad = fd < 0 || !pbuf || !kbuf ||
			      read(fd, pbuf, (size_t)st.st_size) != st.st_size ||
			      kfs_read(fs, a.ino, 0, kbuf, (size_t)st.st_size) != st.st_size ||
			      memcmp(pbuf, kbuf, (size_t)st.st_size);
			if (bad)
				fprintf(stderr, "seed %u step %d: %s content differs\n", seed, step, sub);
			if (fd >= 0)
				close(fd);
			free(pbuf);
			free(kbuf);
		}
	}
	closedir(dp);
	return bad;
}

static int count_fill(void *ctx, const char *name, uint64_t ino, uint32_t mode, uint64_t cookie)
{
	(*(int *)ctx)++;
	return 0;
}

static int count_kiln(uint64_t dir)
{
	int n = 0;
	struct kfs_attr a;

	(void)a;
	if (kfs_readdir(fs, dir, 0, count_fill, &n) < 0)
		return -1;
	return n;
}

static void run_model(void)
{
	int entries;

	fs = mnt(KFS_MOUNT_CREATE);
	CHECK(fs);
	for (step = 0; fs && step < STEPS && t_failures == 0; step++) {
		one_op();
		entries = 0;
		if (!fs || compare("", KFS_ROOT_INO, &entries)) {
			t_failures++;
			break;
		}
		int top = 0;
		DIR *dp = opendir(plain);
		struct dirent *e;
		while (dp && (e = readdir(dp)))
			top += e->d_name[0] != '.';
		if (dp)
			closedir(dp);
		if (count_kiln(KFS_ROOT_INO) != top) {
			fprintf(stderr, "seed %u step %d: root entry count differs\n", seed, step);
			t_failures++;
		}
	}
	if (fs)
		CHECK(kfs_unmount(fs) == 0);
	if (t_failures)
		fprintf(stderr, "reproduce with KILN_FS_SEED=%u\n", seed);
}

TEST(model)
{
	run_model();
}

/*
 * Again on a fresh volume, with directories in pages from 2 entries on
 * and 2 cookies a page (the default: from 64 entries, 64 cookies and up): every create, unlink
 * and rename moves entries between pages, across commits and remounts.
 */
TEST(model_small_pages)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/* %s/*", store, plain);
	CHECK(system(cmd) == 0);
	kfs_dpage_tuning = (struct kfs_dpage_tuning){ 2, 2 };
	run_model();
	kfs_dpage_tuning = (struct kfs_dpage_tuning){ 0, 0 };
}

int main(void)
{
	const char *s = getenv("KILN_FS_SEED");
	char cmd[128];

	seed = s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL);
	fprintf(stderr, "seed %u\n", seed);
	srand(seed);
	if (!mkdtemp(store) || !mkdtemp(plain))
		return 1;
	RUN(model);
	RUN(model_small_pages);
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", store, plain);
	if (system(cmd) != 0)
		return 1;
	return t_done();
}
