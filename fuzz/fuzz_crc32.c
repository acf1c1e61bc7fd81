/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: kiln_crc32 (carry-less multiply) must equal zlib's crc32_z. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/crc32.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seed = 0;
	size_t split;

	/* The first 4 bytes seed the CRC, the next picks a split point for chaining. */
	if (size >= 4) {
		memcpy(&seed, data, 4);
		data += 4;
		size -= 4;
	}
	if (kiln_crc32(seed, data, size) != (uint32_t)crc32_z(seed, data, size))
		abort();
	split = size ? data[0] % (size + 1) : 0;
	if (kiln_crc32(kiln_crc32(seed, data, split), data + split, size - split) !=
	    (uint32_t)crc32_z(seed, data, size))
		abort();
	return 0;
}
