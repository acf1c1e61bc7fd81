/* SPDX-License-Identifier: Apache-2.0 */
/* The file handle key and volume id: derived from a volume's key, or random per boot for a plain volume. */
#include <openssl/rand.h>

#include "nfs/server.h"

/*
 * Derived from the volume key, so handles survive restarts and only this
 * volume's server accepts them. A plain volume has no volume key: a random
 * key and volume id for this server's life. Its handles die with the
 * enclave, which is harmless: the only client (the enclave's own kernel)
 * restarts with the server.
 */
int nfs_fh_key(struct kfs *fs, uint8_t key[NFS_FH_KEY_LEN], uint8_t volid[NFS_VOLID_LEN])
{
	_Static_assert(NFS_FH_KEY_LEN == 32 && NFS_VOLID_LEN == 16, "kfs_derive_key's sizes");
	int rc = kfs_derive_key(fs, "kiln nfs file handles", key, volid);

	if (rc == -ENOKEY) {
		if (RAND_bytes(key, NFS_FH_KEY_LEN) != 1 || RAND_bytes(volid, NFS_VOLID_LEN) != 1)
			return kiln_err(EIO, "nfs: handle key: no random bytes");
		return 0;
	}
	return rc < 0 ? kiln_err_wrap(rc, "nfs: handle key") : 0;
}
