/* SPDX-License-Identifier: Apache-2.0 */
/* The file handle key and volume id, derived from a mounted volume's keys. */
#include <openssl/crypto.h>
#include <string.h>

#include "fs/internal.h"
#include "fs/seal.h"
#include "nfs/server.h"

/*
 * Derived from the volume key, so handles survive restarts and only this
 * volume's server accepts them. The core has no accessor for a derived key
 * yet, so this reads its volume key and uuid directly (one place to change).
 */
int nfs_fh_key(struct kfs *fs, uint8_t key[NFS_FH_KEY_LEN], uint8_t volid[NFS_VOLID_LEN])
{
	_Static_assert(NFS_FH_KEY_LEN == KFS_KEY_LEN, "one HKDF output is the handle key");
	int rc = kfs_hkdf(fs->vkey, fs->uuid, sizeof(fs->uuid), "kiln nfs file handles", 0, key);

	if (rc < 0)
		return kiln_err_wrap(rc, "nfs: handle key");
	memcpy(volid, fs->uuid, NFS_VOLID_LEN);
	return 0;
}
