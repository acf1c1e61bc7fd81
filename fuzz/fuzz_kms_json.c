/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: KMS answers (HTTP framing, JSON, error shapes, CiphertextForRecipient). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "aws/https.h"
#include "aws/kms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int statuses[] = { 200, 400, 429, 500, 503 };
	struct aws_http_resp r;
	size_t used = 0;
	json_t *resp = NULL;
	bool retry;

	if (size < 1)
		return 0;
	/* The same bytes as a whole HTTP answer ... */
	if (aws_http_parse_response(data, size, data[0] & 1, &r, &used) == 0) {
		if (used > size || r.body_len > AWS_HTTP_BODY_MAX)
			abort();
		aws_http_resp_free(&r);
	}
	/* ... and as a body with a status chosen by the first byte. */
	int status = statuses[data[0] % 5];
	if (aws_kms_answer("Decrypt", status, (const char *)data + 1, size - 1, &resp, &retry) == 0) {
		uint8_t *pt = NULL;
		size_t n = 0;
		if (aws_kms_open_recipient("Decrypt", resp, NULL, &pt, &n) == 0 && pt)
			abort(); /* no key: parse only, never a plaintext */
		json_decref(resp);
	}
	return 0;
}
