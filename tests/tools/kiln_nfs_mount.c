/* SPDX-License-Identifier: Apache-2.0 */
/* Test tool: mount a storage-core volume kept in a local directory through the NFSv4 frontend. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "init/storage_nfs.h"
#include "tool_store.h"

/*
 * kiln_nfs_mount [--create] [--secret S] [--no-delegations] [--channel | --vsock] STOREDIR MOUNTPOINT
 * Serves the volume on 127.0.0.1 and mounts it with the kernel's NFSv4.0
 * client, prints "mounted", waits for SIGTERM or SIGINT, then unmounts
 * (the client's last COMMITs), commits and exits 0. Write delegations are
 * granted as kiln-init grants them, unless --no-delegations.
 * --channel / --vsock: the objects go through the storage channel to
 * kilnd's store code, as kiln_fs_mount's (tool_store.h).
 */
static void on_log(void *ctx, const char *line)
{
	fprintf(stderr, "kiln_nfs_mount: %s\n", line);
}

int main(int argc, char **argv)
{
	unsigned flags = 0, opts = KILN_NFS_DELEGATIONS; /* as kiln-init mounts */
	const char *secret = NULL;
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	struct kfs *fs;
	struct kiln_nfs *n;
	sigset_t set;
	int i = 1, sig, rc = 0, channel = 0;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--create"))
			flags |= KFS_MOUNT_CREATE;
		else if (!strcmp(argv[i], "--delegations"))
			opts |= KILN_NFS_DELEGATIONS;
		else if (!strcmp(argv[i], "--no-delegations"))
			opts &= ~KILN_NFS_DELEGATIONS;
		else if (!strcmp(argv[i], "--channel"))
			channel = 1;
		else if (!strcmp(argv[i], "--vsock"))
			channel = 2;
		else if (!strcmp(argv[i], "--secret") && i + 1 < argc)
			secret = argv[++i];
		else
			break;
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: kiln_nfs_mount [--create] [--secret S] [--no-delegations] [--channel | --vsock] STOREDIR MOUNTPOINT\n");
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((channel ? tool_store_channel(argv[i], channel == 2, &st) :
		       kfs_store_dir_open(argv[i], NULL, &st)) < 0 || kfs_keywrap_sim(secret, &kw) < 0 ||
	    kfs_mount(st, kw, flags, on_log, NULL, &fs) < 0) {
		fprintf(stderr, "kiln_nfs_mount: %s\n", kiln_errmsg());
		return 1;
	}
	if (kiln_nfs_mount_opts(fs, argv[i + 1], opts, &n) < 0) {
		fprintf(stderr, "kiln_nfs_mount: %s\n", kiln_errmsg());
		(void)kfs_unmount(fs);
		return 1;
	}
	printf("mounted\n");
	fflush(stdout);
	sigwait(&set, &sig);
	if (kiln_nfs_unmount(n) < 0) {
		fprintf(stderr, "kiln_nfs_mount: %s\n", kiln_errmsg());
		rc = -1;
	}
	if (kfs_unmount(fs) < 0) {
		fprintf(stderr, "kiln_nfs_mount: final commit: %s\n", kiln_errmsg());
		rc = -1;
	}
	if (rc == 0)
		fprintf(stderr, "kiln_nfs_mount: unmounted and committed\n");
	return rc < 0 ? 1 : 0;
}
