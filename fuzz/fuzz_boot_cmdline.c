/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: kiln-bootstrap's kernel cmdline parsers (kiln.heartbeat, kiln.parent_cid). */
#include <stdint.h>
#include <stdlib.h>

#include "boot/parse.h"

/*
 * The input is a cmdline of size bytes (no NUL added: the parsers are
 * bounded by len). An accepted kiln.parent_cid lies in the bounds asked for.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	uint32_t cid = 0;
	bool on;

	(void)boot_cmdline_bool(s, size, "kiln.heartbeat", true, &on);
	if (boot_cmdline_u32(s, size, "kiln.parent_cid", 3, 1, UINT32_MAX - 1, &cid) == 0 &&
	    (cid < 1 || cid == UINT32_MAX))
		abort();
	return 0;
}
