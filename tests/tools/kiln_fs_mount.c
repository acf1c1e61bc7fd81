/* SPDX-License-Identifier: Apache-2.0 */
/* Test tool: mount a storage-core volume kept in a local directory through the FUSE frontend. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "fs/fs.h"
#include "fs/plain.h"
#include "init/storage_fuse.h"
#include "tool_store.h"

/*
 * kiln_fs_mount [--create] [--secret S] [--channel | --vsock | --plain] STOREDIR MOUNTPOINT
 * Prints "mounted" once the mount is up, serves until it is unmounted,
 * then commits and exits 0. Integrity failures are logged on stderr.
 * --channel: the objects go through the storage channel to kilnd's store
 * code (in a thread, over a socketpair), as from an enclave.
 * --vsock: the same over vsock (the loopback transport, port 7003), each
 * end made as kiln-init and kilnd make theirs.
 * --plain: a plain volume (ordinary files in STOREDIR) the same way.
 * With KILN_FUSE_COUNT=FILE in the environment, each SIGUSR1 writes the
 * requests served so far to FILE, one "OPNAME N" line per opcode seen
 * (written aside and renamed: FILE appears complete).
 */
/* A plain volume, its files owned (as the mount shows them) by our own uid. */
static int open_plain(const char *dir, struct kfs **fs)
{
	int fd = tool_store_serve(dir, true, false);

	return fd < 0 ? fd : kfs_plain_mount(fd, "vol", getuid(), getgid(), fs);
}
/* The opcodes of linux/fuse.h by number, for the counts' names. */
static const char *const op_names[] = {
	[1] = "LOOKUP", [2] = "FORGET", [3] = "GETATTR", [4] = "SETATTR", [5] = "READLINK",
	[6] = "SYMLINK", [8] = "MKNOD", [9] = "MKDIR", [10] = "UNLINK", [11] = "RMDIR",
	[12] = "RENAME", [13] = "LINK", [14] = "OPEN", [15] = "READ", [16] = "WRITE",
	[17] = "STATFS", [18] = "RELEASE", [20] = "FSYNC", [21] = "SETXATTR", [22] = "GETXATTR",
	[23] = "LISTXATTR", [24] = "REMOVEXATTR", [25] = "FLUSH", [26] = "INIT", [27] = "OPENDIR",
	[28] = "READDIR", [29] = "RELEASEDIR", [30] = "FSYNCDIR", [34] = "ACCESS", [35] = "CREATE",
	[36] = "INTERRUPT", [38] = "DESTROY", [42] = "BATCH_FORGET", [43] = "FALLOCATE",
	[44] = "READDIRPLUS", [45] = "RENAME2", [46] = "LSEEK",
};

static void write_counts(const char *path)
{
	uint64_t c[KILN_FUSE_OPS];
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	kiln_fuse_counts(c);
	for (size_t op = 0; op < KILN_FUSE_OPS; op++) {
		const char *name = op < sizeof(op_names) / sizeof(op_names[0]) ? op_names[op] : NULL;
		if (!c[op])
			continue;
		if (name)
			fprintf(f, "%s %llu\n", name, (unsigned long long)c[op]);
		else
			fprintf(f, "OP%zu %llu\n", op, (unsigned long long)c[op]);
	}
	if (fclose(f) == 0)
		rename(tmp, path);
}

/* KILN_FUSE_COUNT: a thread that writes the counts at each SIGUSR1 (blocked in every thread). */
static void *count_main(void *arg)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	while (sigwait(&set, &sig) == 0)
		write_counts(arg);
	return NULL;
}

static void start_counts(void)
{
	char *path = getenv("KILN_FUSE_COUNT");
	sigset_t set;
	pthread_t t;

	if (!path || !*path)
		return;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (pthread_create(&t, NULL, count_main, path) == 0)
		pthread_detach(t);
}

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
	int i = 1, fd, rc, channel = 0, plain = 0;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--create"))
			flags |= KFS_MOUNT_CREATE;
		else if (!strcmp(argv[i], "--channel"))
			channel = 1;
		else if (!strcmp(argv[i], "--vsock"))
			channel = 2;
		else if (!strcmp(argv[i], "--plain"))
			plain = 1;
		else if (!strcmp(argv[i], "--secret") && i + 1 < argc)
			secret = argv[++i];
		else
			break;
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: kiln_fs_mount [--create] [--secret S] [--channel | --vsock | --plain] STOREDIR MOUNTPOINT\n");
		return 2;
	}
	start_counts();
	if (plain ? open_plain(argv[i], &fs) < 0 :
	    ((channel ? tool_store_channel(argv[i], channel == 2, &st) : kfs_store_dir_open(argv[i], NULL, &st)) < 0 ||
	     kfs_keywrap_sim(secret, &kw) < 0 ||
	     kfs_mount(st, kw, flags, on_log, NULL, &fs) < 0)) {
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
