/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: channel addresses (vsock:CID:PORT, unix:PATH) and kiln-init's parent (KILN_CHAN). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chan/addr.h"

/*
 * The input as a C string. An address the parser accepts must format back
 * to a string that parses to the same address; a parent it accepts must be
 * a unix directory inside the input or a vsock CID other than "any".
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), buf[KILN_CHAN_PATH_MAX + 32];
	struct kiln_chan_addr a, b;
	const char *dir;
	uint32_t cid;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (kiln_chan_addr_parse(s, &a) == 0 &&
	    (kiln_chan_addr_format(&a, buf, sizeof(buf)) < 0 || kiln_chan_addr_parse(buf, &b) < 0 ||
	     a.family != b.family || a.cid != b.cid || a.port != b.port || strcmp(a.path, b.path)))
		abort();
	if (kiln_chan_parent_parse(s, &cid, &dir) == 0 &&
	    (dir ? (dir < s || dir > s + size || dir[0] != '/') : cid == KILN_CID_ANY))
		abort();
	free(s);
	return 0;
}
