/* SPDX-License-Identifier: Apache-2.0 */
/*
 * For the mount tools (kiln_fs_mount, kiln_nfs_mount): a volume's store
 * reached as kiln-init reaches it, through the storage channel to kilnd's
 * store code (kd_store_serve, in a thread of the tool), over a socketpair
 * or over vsock. Header-only: each tool is one source file.
 */
#ifndef KILN_TOOL_STORE_H
#define KILN_TOOL_STORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "chan/addr.h"
#include "fs/fs.h"
#include "fs/wire.h"
#include "init/storage.h"
#include "kilnd/store.h"

static struct kd_store *tool_store;
static int tool_store_fd;

static void *tool_store_main(void *arg)
{
	(void)arg;
	kd_store_serve(tool_store, tool_store_fd);
	close(tool_store_fd);
	return NULL;
}

/*
 * vsock: kiln-init's dial of port 7003 over the loopback transport
 * (vsock_loopback), accepted here: both ends as kiln-init and kilnd make
 * them. sv[0] is ours, sv[1] the store's; -1 without vsock. The listener
 * lives only for this one accept: start tools that use it one at a time.
 */
static int tool_store_vsock_pair(int sv[2])
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
static int tool_store_serve(const char *dir, bool plain, bool vsock)
{
	struct kd_store_cfg cfg = { .n = 1 };
	pthread_t t;
	int sv[2];

	snprintf(cfg.vol[0].name, sizeof(cfg.vol[0].name), "vol");
	snprintf(cfg.vol[0].root, sizeof(cfg.vol[0].root), "%s", dir);
	cfg.vol[0].plain = plain;
	if (kd_store_new("tool", &cfg, &tool_store) < 0 ||
	    (vsock ? tool_store_vsock_pair(sv) : socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) < 0)
		return -1;
	tool_store_fd = sv[1];
	if (pthread_create(&t, NULL, tool_store_main, NULL))
		return -1;
	return sv[0];
}

/* The encrypted volume in dir through the channel (a socketpair, or vsock). */
static int tool_store_channel(const char *dir, bool vsock, struct kfs_store **st)
{
	int fd = tool_store_serve(dir, false, vsock);

	return fd < 0 ? fd : kfs_store_remote(fd, "vol", st);
}

#endif
