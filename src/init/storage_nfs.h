/* SPDX-License-Identifier: Apache-2.0 */
/* The NFSv4 frontend of encrypted storage: the core served on loopback, mounted with the kernel's client. */
#ifndef KILN_INIT_STORAGE_NFS_H
#define KILN_INIT_STORAGE_NFS_H

#include <stdbool.h>

#include "fs/fs.h"

/*
 * For kernels without FUSE (the stock AWS enclave kernels): the server of
 * src/nfs answers on 127.0.0.1 (a free port, one client) from its own
 * thread, and mount(2) attaches the kernel's NFSv4.0 client to it (there is
 * no mount.nfs in an image). While mounted only that thread touches fs.
 */
struct kiln_nfs;

int kiln_nfs_mount(struct kfs *fs, const char *path, struct kiln_nfs **out) KILN_MUST;
/*
 * kiln_nfs_mount grants write delegations (docs/storage.md); kiln_nfs_mount_opts
 * grants them only with KILN_NFS_DELEGATIONS in opts.
 */
#define KILN_NFS_DELEGATIONS 0x1
int kiln_nfs_mount_opts(struct kfs *fs, const char *path, unsigned opts, struct kiln_nfs **out) KILN_MUST;
/*
 * syncfs, then unmount (the client writes back and COMMITs what it holds
 * first), then stop the server. fs stays the caller's: kfs_unmount() is the
 * final commit.
 */
int kiln_nfs_unmount(struct kiln_nfs *n);

/* The automatic frontend choice: FUSE when /dev/fuse opens, NFS otherwise. */
bool kiln_fuse_works(void);

#endif
