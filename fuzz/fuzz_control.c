/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the control-channel frame decoder, fed in random-sized pieces. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chan/frame.h"

/*
 * The first input byte picks the chunk size, so the fuzzer explores frames
 * split at every boundary. Every yielded frame is re-encoded: a frame the
 * decoder accepts must pass the encoder's own checks.
 */
static void reencode(const struct kiln_frame *f)
{
	static uint8_t out[KILN_FRAME_MAX];
	size_t len;

	if (kiln_frame_encode(f, out, sizeof(out), &len) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kiln_frame_dec d;
	struct kiln_frame f;
	size_t chunk, off = 1, used;
	int rc = 0;

	if (size < 1)
		return 0;
	chunk = (size_t)data[0] * 61 + 1;
	kiln_frame_dec_init(&d);
	while (off < size && rc >= 0) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (kiln_frame_dec_feed(&d, data + off, n, &used) < 0)
			break;
		off += used;
		while ((rc = kiln_frame_dec_next(&d, &f)) == 1)
			reencode(&f);
	}
	return 0;
}
