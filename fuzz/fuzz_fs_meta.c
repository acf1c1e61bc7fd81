/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the storage core's header, root, journal record and inode decoders (what a key holder could forge). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/internal.h"

/*
 * Sealed objects authenticate before they are decoded, so only a holder of
 * the volume key can reach these decoders with chosen bytes; they are still
 * bounds-checked, and a decoded inode, root or record must re-encode to the input.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kfs_inode n;
	struct kfs_root r;
	struct kfs_hdr h;
	uint8_t *out = NULL;
	size_t len;

	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		memset(&n, 0, sizeof(n));
		if (kfs_inode_decode(data + 1, size - 1, &n) == 0) {
			if (kfs_inode_encode(&n, &out, &len) < 0 || len != size - 1 ||
			    memcmp(out, data + 1, len))
				abort();
			kfs_inode_free_fields(&n);
		}
		break;
	case 1:
		if (kfs_root_decode(data + 1, size - 1, &r) == 0) {
			if (kfs_root_encode(&r, &out, &len) < 0 || len != size - 1 ||
			    memcmp(out, data + 1, len))
				abort();
		}
		free(r.map);
		break;
	case 2:
		if (kfs_journal_decode(data + 1, size - 1, &r) == 0) {
			if (kfs_journal_encode(&r, &out, &len) < 0 || len != size - 1 ||
			    memcmp(out, data + 1, len))
				abort();
		}
		free(r.map);
		break;
	default:
		if (kfs_hdr_decode(data + 1, size - 1, &h) == 0 &&
		    (kfs_hdr_encode(&h, &out, &len) < 0 || len != size - 1 || memcmp(out, data + 1, len)))
			abort();
		break;
	}
	free(out);
	return 0;
}
