/* SPDX-License-Identifier: Apache-2.0 */
/* Test tool: mount a storage-core volume kept in a local directory through the FUSE frontend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "init/storage_fuse.h"

/*
 * kiln_fs_mount [--create] [--secret S] STOREDIR MOUNTPOINT
 * Prints "mounted" once the mount is up, serves until it is unmounted,
 * then commits and exits 0. Integrity failures are logged on stderr.
 */
static void on_log(void *ctx, const char *line)
{
	fprintf(stderr, "kiln_fs_mount: %s\n", line);
}

int main(int argc, char **argv)
{
	unsigned flags = 0;
	const char *secret = NULL;
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	struct kfs *fs;
	int i = 1, fd, rc;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--create"))
			flags |= KFS_MOUNT_CREATE;
		else if (!strcmp(argv[i], "--secret") && i + 1 < argc)
			secret = argv[++i];
		else
			break;
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: kiln_fs_mount [--create] [--secret S] STOREDIR MOUNTPOINT\n");
		return 2;
	}
	if (kfs_store_dir_open(argv[i], NULL, &st) < 0 || kfs_keywrap_sim(secret, &kw) < 0 ||
	    kfs_mount(st, kw, flags, on_log, NULL, &fs) < 0) {
		fprintf(stderr, "kiln_fs_mount: %s\n", kiln_errmsg());
		return 1;
	}
	fd = kiln_fuse_mount(argv[i + 1]);
	if (fd < 0) {
		fprintf(stderr, "kiln_fs_mount: %s\n", kiln_errmsg());
		kfs_unmount(fs);
		return 1;
	}
	printf("mounted\n");
	fflush(stdout);
	rc = kiln_fuse_serve(fd, fs);
	if (rc < 0)
		fprintf(stderr, "kiln_fs_mount: %s\n", kiln_errmsg());
	if (kfs_unmount(fs) < 0) {
		fprintf(stderr, "kiln_fs_mount: final commit: %s\n", kiln_errmsg());
		rc = -1;
	}
	return rc < 0 ? 1 : 0;
}
