/* SPDX-License-Identifier: Apache-2.0 */
/* Test tool: the same random file operations on two directories, compared after each step. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * fs_model_dirs A B STEPS [SEED]: A is the system under test (the mount),
 * B a plain directory. Each step applies one random operation to both and
 * compares results (success or errno) and then both trees (types, sizes,
 * link counts, content). Prints the seed; exit 1 at the first difference.
 */
static const char *names[] = { "a", "b", "c", "d1", "d2" };
static const char *dirs[] = { "", "d1/", "d2/", "d1/d2/" };
static unsigned seed;
static int step;

static int op_one(const char *root, int op, const char *p, const char *q, const char *buf,
		  size_t len, off_t off)
{
	char a[4096], b[4096];
	int fd, rc = 0;

	snprintf(a, sizeof(a), "%s/%s", root, p);
	snprintf(b, sizeof(b), "%s/%s", root, q);
	switch (op) {
	case 0:
		fd = open(a, O_CREAT | O_EXCL | O_WRONLY, 0644);
		rc = fd < 0 ? -errno : close(fd);
		return rc;
	case 1:
	case 2:
		fd = open(a, O_WRONLY);
		if (fd < 0)
			return -errno;
		rc = pwrite(fd, buf, len, off) == (ssize_t)len ? 0 : -errno;
		close(fd);
		return rc;
	case 3:
		return truncate(a, off) ? -errno : 0;
	case 4:
		return unlink(a) ? -errno : 0;
	case 5:
		return mkdir(a, 0755) ? -errno : 0;
	case 6:
		return rmdir(a) ? -errno : 0;
	case 7:
		return rename(a, b) ? -errno : 0;
	case 8:
		return link(a, b) ? -errno : 0;
	default:
		fd = open(a, O_WRONLY | O_APPEND);
		if (fd < 0)
			return -errno;
		rc = write(fd, buf, len % 5000) == (ssize_t)(len % 5000) ? 0 : -errno;
		if (rc == 0 && fsync(fd) < 0)
			rc = -errno;
		close(fd);
		return rc;
	}
}

static int cmp_file(const char *a, const char *b, off_t size)
{
	char *x = malloc((size_t)size + 1), *y = malloc((size_t)size + 1);
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY), bad;

	bad = !x || !y || fa < 0 || fb < 0 || read(fa, x, (size_t)size + 1) != size ||
	      read(fb, y, (size_t)size + 1) != size || memcmp(x, y, (size_t)size);
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	free(x);
	free(y);
	return bad;
}

static int count(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *e;
	int n = 0;

	while (dp && (e = readdir(dp)))
		n += e->d_name[0] != '.';
	if (dp)
		closedir(dp);
	return dp ? n : -1;
}

static int compare(const char *ra, const char *rb, const char *rel)
{
	char da[1024], db[1024], pa[1400], pb[1400];
	struct stat sa, sb;
	struct dirent *e;
	DIR *dp;
	int bad = 0;

	snprintf(da, sizeof(da), "%s/%s", ra, rel);
	snprintf(db, sizeof(db), "%s/%s", rb, rel);
	if (count(da) != count(db)) {
		printf("seed %u step %d: %s: entry counts differ\n", seed, step, rel);
		return 1;
	}
	dp = opendir(db);
	while (dp && !bad && (e = readdir(dp))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(pa, sizeof(pa), "%s/%s", da, e->d_name);
		snprintf(pb, sizeof(pb), "%s/%s", db, e->d_name);
		if (lstat(pa, &sa) < 0 || lstat(pb, &sb) < 0 ||
		    (sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT) ||
		    (S_ISREG(sb.st_mode) && (sa.st_size != sb.st_size || sa.st_nlink != sb.st_nlink)) ||
		    (S_ISREG(sb.st_mode) && cmp_file(pa, pb, sb.st_size))) {
			printf("seed %u step %d: %s%s differs\n", seed, step, rel, e->d_name);
			bad = 1;
		} else if (S_ISDIR(sb.st_mode)) {
			char sub[1024];
			snprintf(sub, sizeof(sub), "%s%s/", rel, e->d_name);
			bad = compare(ra, rb, sub);
		}
	}
	if (dp)
		closedir(dp);
	return bad;
}

int main(int argc, char **argv)
{
	static char buf[200000];

	if (argc < 4) {
		fprintf(stderr, "usage: fs_model_dirs MOUNT PLAIN STEPS [SEED]\n");
		return 2;
	}
	seed = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
	printf("fs_model_dirs: seed %u\n", seed);
	srand(seed);
	for (step = 0; step < atoi(argv[3]); step++) {
		char p[64], q[64];
		int op = rand() % 10, ra, rb;
		size_t len = (size_t)(rand() % (int)sizeof(buf));
		off_t off = (off_t)(rand() % 3) * 32768 + rand() % 100;
		snprintf(p, sizeof(p), "%s%s", dirs[rand() % 4], names[rand() % 5]);
		snprintf(q, sizeof(q), "%s%s", dirs[rand() % 4], names[rand() % 5]);
		for (size_t i = 0; i < len; i += 64)
			buf[i] = (char)rand();
		ra = op_one(argv[1], op, p, q, buf, len, off);
		rb = op_one(argv[2], op, p, q, buf, len, off);
		if (ra != rb) {
			printf("seed %u step %d: op %d %s %s: mount %d, plain %d\n", seed, step, op, p, q, ra, rb);
			return 1;
		}
		if (compare(argv[1], argv[2], ""))
			return 1;
	}
	printf("fs_model_dirs: %d steps identical\n", step);
	return 0;
}
