/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: NSM response decoder (in sim the responses come from the untrusted parent). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "nsm/nsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_nsm_response resp;
	struct kiln_cbor_doc *doc = NULL;
	uint8_t *again = NULL;
	size_t len;

	if (kiln_nsm_response_decode(data, size, &resp, &doc) < 0)
		return 0;
	/* A decoded response re-encodes and decodes to the same variant. */
	if (kiln_nsm_response_encode(&resp, &again, &len) == 0) {
		struct kiln_nsm_response back;
		struct kiln_cbor_doc *doc2 = NULL;

		if (kiln_nsm_response_decode(again, len, &back, &doc2) < 0 || back.op != resp.op)
			abort();
		kiln_nsm_doc_free(doc2);
		free(again);
	}
	kiln_nsm_doc_free(doc);
	return 0;
}
