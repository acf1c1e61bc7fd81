/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the attestation API's request head parser and response builder. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "attest/http_api.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kiln_attest_api_req req;
	uint8_t *out = NULL;
	size_t len;
	int rc = kiln_attest_api_parse(data, size, &req);

	if ((rc == 0) != (req.status == 200))
		abort();
	if (req.status != 200 && req.status != 400 && req.status != 404 && req.status != 405)
		abort();
	if (req.nonce.len > KILN_ATTEST_API_PARAM_MAX || req.user_data.len > KILN_ATTEST_API_PARAM_MAX ||
	    req.public_key.len > KILN_ATTEST_API_PARAM_MAX)
		abort();
	if (kiln_attest_api_response(req.status, rc < 0 ? kiln_errmsg() : NULL, req.nonce.data,
				     req.nonce.len, &out, &len) < 0)
		abort();
	free(out);
	return 0;
}
