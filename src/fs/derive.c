/* SPDX-License-Identifier: Apache-2.0 */
/* Keys other frontends derive from a mounted volume's key, without seeing the key itself. */
#include <string.h>

#include "fs/internal.h"
#include "fs/seal.h"

int kfs_derive_key(struct kfs *fs, const char *label, uint8_t key[32], uint8_t uuid[16])
{
	_Static_assert(KFS_KEY_LEN == 32 && KFS_UUID_LEN == 16, "the sizes fs.h promises");
	/* a plain volume has no volume key: deriving from its zeroed fields would give a public key */
	if (fs->alt)
		return kiln_err(ENOKEY, "fs: %s: this volume has no volume key", label);
	/* a label of its own keeps these keys apart from the core's ("kiln-fs ...") */
	int rc = kfs_hkdf(fs->vkey, fs->uuid, KFS_UUID_LEN, label, 0, key);

	if (rc < 0)
		return kiln_err_wrap(rc, "fs: derive a key for %s", label);
	memcpy(uuid, fs->uuid, KFS_UUID_LEN);
	return 0;
}
