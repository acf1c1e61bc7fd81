/* SPDX-License-Identifier: Apache-2.0 */
/* bench/fs_commit's program: CPU of a small commit of the storage core, by volume size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fs/fs.h"

static double cpu(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int fail(const char *what)
{
	fprintf(stderr, "fs_commit: %s: %s\n", what, kiln_errmsg());
	return 1;
}

/*
 * fs_commit DIR N FILES [one]: a new volume in DIR holding N empty files
 * (in directories of 200, one commit; "one": all in the directory the
 * creates go to), then FILES files created in a new directory, each
 * written (1 byte) and committed. Prints "commit US create US": CPU
 * microseconds per commit and per create+write.
 */
int main(int argc, char **argv)
{
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	struct kfs *fs;
	struct kfs_attr a, d = { 0 };
	double tw = 0, tc = 0, t;
	char name[32];

	if (argc != 4 && (argc != 5 || strcmp(argv[4], "one")))
		return fprintf(stderr, "usage: fs_commit DIR N FILES [one]\n"), 2;
	int pre = atoi(argv[2]), n = atoi(argv[3]), per_dir = argc == 5 ? pre + 1 : 200;
	if (kfs_store_dir_open(argv[1], NULL, &st) < 0 || kfs_keywrap_sim(NULL, &kw) < 0 ||
	    kfs_mount(st, kw, KFS_MOUNT_CREATE, NULL, NULL, &fs) < 0)
		return fail("mount");
	for (int i = 0; i < pre; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		if (i % per_dir == 0 && kfs_mkdir(fs, KFS_ROOT_INO, argc == 5 ? "d" : name, 0755, 0, 0, &d) < 0)
			return fail("mkdir");
		if (kfs_mknod(fs, d.ino, name, S_IFREG | 0644, 0, 0, &a) < 0)
			return fail("mknod");
	}
	if ((!(argc == 5 && pre) && kfs_mkdir(fs, KFS_ROOT_INO, "d", 0755, 0, 0, &d) < 0) || kfs_sync(fs) < 0)
		return fail("filling the volume");
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		t = cpu();
		if (kfs_mknod(fs, d.ino, name, S_IFREG | 0644, 0, 0, &a) < 0 ||
		    kfs_write(fs, a.ino, 0, "x", 1) != 1)
			return fail("create");
		tw += cpu() - t;
		t = cpu();
		if (kfs_sync(fs) < 0)
			return fail("commit");
		tc += cpu() - t;
	}
	printf("commit %.1f create %.1f\n", tc / n * 1e6, tw / n * 1e6);
	return kfs_unmount(fs) < 0 ? fail("unmount") : 0;
}
