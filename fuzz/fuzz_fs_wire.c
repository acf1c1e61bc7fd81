/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the storage channel's request and reply decoders, with exact re-encoding, and the frame walk. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/wire.h"

static uint8_t out[KFS_WIRE_MAX];

/* Every request the frame walk hands over must re-encode within its limits. */
static void frame(void *ctx, const struct kfs_wire_req *r)
{
	size_t len;

	if (kfs_wire_req_encode(r, out, sizeof(out), &len) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kfs_wire_req r;
	const uint8_t *d;
	size_t len, dlen;
	uint8_t st;

	if (size < 1)
		return 0;
	if (data[0] & 2) {
		if (kfs_wire_frames(data + 1, size - 1, frame, NULL) > (size - 1) / 5)
			abort(); /* a frame is at least a length and one byte */
		return 0;
	}
	if (data[0] & 1) {
		if (kfs_wire_req_decode(data + 1, size - 1, &r) == 0 &&
		    (kfs_wire_req_encode(&r, out, sizeof(out), &len) < 0 || len != size - 1 ||
		     memcmp(out, data + 1, len)))
			abort();
	} else if (kfs_wire_rep_decode(data + 1, size - 1, &st, &d, &dlen) == 0 &&
		   (dlen != size - 2 || (st && dlen))) {
		abort();
	}
	return 0;
}
