/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: egress request/reply and ingress header decoders, with exact re-encoding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/egress_hdr.h"
#include "net/proxyv2.h"

/*
 * The first byte picks the decoder. The encodings are canonical, so a
 * header the decoder accepts must re-encode to exactly the bytes consumed.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[KILN_EGRESS_REQ_MAX + KILN_PROXYV2_MAX];
	struct kiln_egress_req req;
	struct kiln_ingress_hdr ih;
	size_t used, len;
	uint8_t st;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		if (kiln_egress_req_decode(data + 1, size - 1, &req, &used) == 1 &&
		    (kiln_egress_req_encode(&req, out, sizeof(out), &len) < 0 || len != used ||
		     memcmp(out, data + 1, len)))
			abort();
		break;
	case 1:
		if (kiln_egress_reply_decode(data + 1, size - 1, &st, &used) == 1 &&
		    (kiln_egress_reply_encode(st, out, sizeof(out), &len) < 0 || len != used ||
		     memcmp(out, data + 1, len)))
			abort();
		break;
	default:
		if (kiln_ingress_hdr_decode(data + 1, size - 1, &ih, &used) == 1) {
			if (kiln_ingress_hdr_encode(&ih, out, sizeof(out), &len) < 0 || len != used ||
			    memcmp(out, data + 1, len))
				abort();
			if (ih.has_client &&
			    kiln_proxyv2_build(&ih.client, ih.client_port, &ih.client, ih.port, out,
					       sizeof(out), &len) < 0)
				abort();
		}
		break;
	}
	return 0;
}
