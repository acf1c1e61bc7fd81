/* SPDX-License-Identifier: Apache-2.0 */
/* The NFS fuzz targets' one server over a memory volume, with fixed ids inputs can name. */
#ifndef KILN_FUZZ_NFS_FUZZ_H
#define KILN_FUZZ_NFS_FUZZ_H

#include <stdlib.h>

#include "fs/fs.h"
#include "nfs/internal.h"

/* One server for the whole run, so state built by earlier inputs is there to hit. */
static inline struct nfs_srv *nfs_fuzz_server(struct xdr_out *call, struct xdr_out *reply)
{
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	struct kfs *fs;
	struct nfs_srv *srv;
	uint8_t key[NFS_FH_KEY_LEN] = { 1 }, volid[NFS_VOLID_LEN] = { 2 };

	if (kfs_store_mem(&st) < 0 || kfs_keywrap_sim(NULL, &kw) < 0 ||
	    kfs_mount(st, kw, KFS_MOUNT_CREATE, NULL, NULL, &fs) < 0 ||
	    nfs_srv_new(fs, key, volid, &srv) < 0 || xdr_out_init(call, NFS_MAX_RECORD) < 0 ||
	    xdr_out_init(reply, NFS_MAX_RECORD) < 0)
		abort();
	srv->boot = 0x11111111; /* fixed: inputs can name client ids and stateids */
	nfs_srv_set_delegations(srv, true); /* 4.1 OPENs with a back channel get some */
	return srv;
}

#endif
