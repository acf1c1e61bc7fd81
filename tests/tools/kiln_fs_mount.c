/* SPDX-License-Identifier: Apache-2.0 */
/* Test tool: mount a storage-core volume kept in a local directory through the FUSE frontend. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "chan/addr.h"
#include "fs/fs.h"
#include "fs/plain.h"
#include "fs/wire.h"
#include "init/storage.h"
#include "init/storage_fuse.h"
#include "kilnd/store.h"

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
static struct kd_store *chan_store;
static int chan_fd;

static void *chan_main(void *arg)
{
	kd_store_serve(chan_store, chan_fd);
	close(chan_fd);
	return NULL;
}

/*
 * --vsock: kiln-init's dial of port 7003 over the loopback transport
 * (vsock_loopback), accepted here: both ends as kiln-init and kilnd make
 * them. sv[0] is ours, sv[1] the store's; -1 without vsock.
 */
static int vsock_pair(int sv[2])
{
	struct kiln_chan_addr a = { .family = KILN_CHAN_VSOCK, .cid = KILN_CID_ANY,
				    .port = KILN_PORT_STORAGE };
	int l = kiln_chan_listen(&a, 1);

	if (l < 0)
		return -1;
	kiln_chan_set_parent_cid(VMADDR_CID_LOCAL);
	sv[0] = kiln_init_storage_dial(NULL);
	sv[1] = sv[0] < 0 ? -1 : accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	return sv[1] < 0 ? -1 : 0;
}

/* A connection to kilnd's store code serving volume "vol" in dir; returns our end. */
static int serve_dir(const char *dir, bool plain, bool vsock)
{
	struct kd_store_cfg cfg = { .n = 1 };
	pthread_t t;
	int sv[2];

	snprintf(cfg.vol[0].name, sizeof(cfg.vol[0].name), "vol");
	snprintf(cfg.vol[0].root, sizeof(cfg.vol[0].root), "%s", dir);
	cfg.vol[0].plain = plain;
	if (kd_store_new("tool", &cfg, &chan_store) < 0 ||
	    (vsock ? vsock_pair(sv) : socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) < 0)
		return -1;
	chan_fd = sv[1];
	if (pthread_create(&t, NULL, chan_main, NULL))
		return -1;
	return sv[0];
}

static int open_channel(const char *dir, bool vsock, struct kfs_store **st)
{
	int fd = serve_dir(dir, false, vsock);

	return fd < 0 ? fd : kfs_store_remote(fd, "vol", st);
}

/* A plain volume, its files owned (as the mount shows them) by our own uid. */
static int open_plain(const char *dir, struct kfs **fs)
{
	int fd = serve_dir(dir, true, false);

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
	    ((channel ? open_channel(argv[i], channel == 2, &st) : kfs_store_dir_open(argv[i], NULL, &st)) < 0 ||
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
