/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the CBOR decoder, lookups, diagnostic printer and re-encoding of strings. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cbor/cbor.h"

static void walk(const struct kiln_cbor_item *it, struct kiln_cbor_enc *e)
{
	int64_t v;

	for (; it; it = it->next) {
		if (it->type == KILN_CBOR_BYTES || it->type == KILN_CBOR_TEXT)
			kiln_cbor_enc_bytes(e, it->bytes, it->len);
		if (kiln_cbor_get_int(it, &v) == 0)
			kiln_cbor_enc_int(e, v);
		if (it->type == KILN_CBOR_FLOAT)
			kiln_cbor_enc_float(e, it->f);
		if (it->type == KILN_CBOR_MAP) {
			(void)kiln_cbor_map_get_text(it, "a");
			(void)kiln_cbor_map_get_int(it, -1);
		}
		if (it->type == KILN_CBOR_ARRAY)
			(void)kiln_cbor_array_get(it, it->count ? it->count - 1 : 0);
		walk(it->child, e);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_cbor_doc *doc;
	struct kiln_cbor_enc e;
	uint8_t *out;
	size_t used, len;
	char diag[256];

	if (kiln_cbor_parse_prefix(data, size, NULL, &doc, &used) == 0) {
		if (used > size)
			abort();
		kiln_cbor_diag(kiln_cbor_root(doc), diag, sizeof(diag));
		kiln_cbor_enc_init(&e);
		walk(kiln_cbor_root(doc), &e);
		if (kiln_cbor_enc_finish(&e, &out, &len) == 0)
			free(out);
		kiln_cbor_doc_free(doc);
	}
	if (kiln_cbor_parse(data, size, NULL, &doc) == 0)
		kiln_cbor_doc_free(doc);
	return 0;
}
