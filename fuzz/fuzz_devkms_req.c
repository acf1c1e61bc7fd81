/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: dev-kms's HTTP request parser, and its ciphertext header reader. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devkms/devkms.h"

/*
 * Every span of a parsed request must lie inside the input, the request
 * must not claim more bytes than given, and a complete request must still
 * parse the same when followed by more bytes (pipelining).
 */
static void inside(const struct kiln_devkms_span *s, const uint8_t *data, size_t size)
{
	if (s->len && ((const uint8_t *)s->p < data || (const uint8_t *)s->p + s->len > data + size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_devkms_req r, r2;
	char id[KILN_DEVKMS_KEY_ID_LEN + 1];

	(void)kiln_devkms_ct_key_id(data, size, id);
	if (kiln_devkms_req_parse(data, size, &r) != 0)
		return 0;
	if (r.total > size || r.nhdr > KILN_DEVKMS_MAX_HDRS || r.body_len > KILN_DEVKMS_MAX_BODY)
		abort();
	inside(&r.method, data, size);
	inside(&r.path, data, size);
	inside(&r.query, data, size);
	for (size_t i = 0; i < r.nhdr; i++) {
		inside(&r.hdr[i].name, data, size);
		inside(&r.hdr[i].value, data, size);
	}
	(void)kiln_devkms_req_header(&r, "authorization");
	uint8_t *more = malloc(size + 8);
	if (!more)
		return 0;
	memcpy(more, data, size);
	memcpy(more + size, "POST / H", 8);
	if (kiln_devkms_req_parse(more, size + 8, &r2) != 0 || r2.total != r.total ||
	    r2.body_len != r.body_len)
		abort();
	free(more);
	return 0;
}
