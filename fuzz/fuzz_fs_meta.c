/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the storage core's header, root, root part, journal record, inode, directory page and object-part head decoders (what a key holder could forge). */
#include <stdbool.h>
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
 * A root or a journal record: what decodes must encode to the same bytes
 * (older roots, "KROT" and "KRTJ", are written back as "KRT2": only
 * decoded).
 */
static void map_round_trip(int (*dec)(const uint8_t *, size_t, struct kfs_root *),
			   int (*enc)(const struct kfs_root *, uint8_t **, size_t *),
			   const uint8_t *data, size_t size)
{
	struct kfs_root r;
	uint8_t *out = NULL;
	size_t len;

	bool older = size >= 4 && (!memcmp(data, "KROT", 4) || !memcmp(data, "KRTJ", 4));

	if (dec(data, size, &r) == 0 && !older &&
	    (enc(&r, &out, &len) < 0 || len != size || memcmp(out, data, len)))
		abort();
	free(r.map);
	free(out);
}

/* A root part: decoded into room for as many pairs as the input could hold, then encoded back. */
static void part_round_trip(const uint8_t *data, size_t size)
{
	uint64_t *pairs = malloc(size / 16 * 16 + 16);
	uint8_t *out = NULL;
	uint32_t count;
	size_t len;

	if (pairs && kfs_root_part_decode(data, size, pairs, (uint32_t)(size / 16), &count) == 0 &&
	    (kfs_root_part_encode(pairs, count, &out, &len) < 0 || len != size ||
	     memcmp(out, data, len)))
		abort();
	free(pairs);
	free(out);
}

/*
 * A large directory's page: key, count and the directory's next cookie
 * from the first three bytes; what decodes must encode to the same bytes.
 */
static void page_round_trip(const uint8_t *data, size_t size)
{
	struct kfs_inode n;
	uint8_t *out = NULL;
	size_t len;

	if (size < 3)
		return;
	memset(&n, 0, sizeof(n));
	n.next_cookie = (uint64_t)(data[0] % 8 + 1) * KFS_DPAGE_COOKIES + data[2];
	n.entcap = data[1];
	n.ents = calloc(n.entcap ? n.entcap : 1, sizeof(*n.ents));
	if (n.ents && kfs_dpage_decode(data + 3, size - 3, data[0] % 8, data[1], &n) == 0 &&
	    (kfs_dpage_encode(n.ents, n.nent, &out, &len) < 0 || len != size - 3 ||
	     memcmp(out, data + 3, len)))
		abort();
	free(out);
	kfs_inode_free_fields(&n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kfs_inode n;
	struct kfs_hdr h;
	uint8_t *out = NULL;
	size_t len;

	if (size < 1)
		return 0;
	switch (data[0] % 7) {
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
	case 3:
		part_round_trip(data + 1, size - 1);
		break;
	case 4: {
		uint64_t total, pid;
		uint32_t parts;
		if (kfs_meta_head_parse(data + 1, size - 1, &total, &parts, &pid) == 1 &&
		    (total <= KFS_OBJ_MAX || total > KFS_INODE_MAX || parts < 2))
			abort();
		break;
	}
	case 5:
		page_round_trip(data + 1, size - 1);
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
