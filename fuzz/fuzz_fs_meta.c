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
/*
 * A root or a journal record: what decodes must encode to the same bytes,
 * past the magic (an old "KROT" root is written back as "KRTJ").
 */
static void map_round_trip(int (*dec)(const uint8_t *, size_t, struct kfs_root *),
			   int (*enc)(const struct kfs_root *, uint8_t **, size_t *),
			   const uint8_t *data, size_t size)
{
	struct kfs_root r;
	uint8_t *out = NULL;
	size_t len;

	if (dec(data, size, &r) == 0 &&
	    (enc(&r, &out, &len) < 0 || len != size || memcmp(out + 4, data + 4, len - 4)))
		abort();
	free(r.map);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kfs_inode n;
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
		map_round_trip(kfs_root_decode, kfs_root_encode, data + 1, size - 1);
		break;
	case 2:
		map_round_trip(kfs_journal_decode, kfs_journal_encode, data + 1, size - 1);
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
