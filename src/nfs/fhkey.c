/* SPDX-License-Identifier: Apache-2.0 */
/* The file handle key and volume id, derived from a mounted volume's keys. */
#include "nfs/server.h"

/* Derived from the volume key, so handles survive restarts and only this volume's server accepts them. */
int nfs_fh_key(struct kfs *fs, uint8_t key[NFS_FH_KEY_LEN], uint8_t volid[NFS_VOLID_LEN])
{
	_Static_assert(NFS_FH_KEY_LEN == 32 && NFS_VOLID_LEN == 16, "kfs_derive_key's sizes");
	int rc = kfs_derive_key(fs, "kiln nfs file handles", key, volid);

	return rc < 0 ? kiln_err_wrap(rc, "nfs: handle key") : 0;
}
