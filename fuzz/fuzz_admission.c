/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: kiln-webhook's HTTP head parser, then the AdmissionReview policy on the body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webhook/webhook.h"

/*
 * The input is what a client sends: a request head, then the body. When the
 * head parses and admits a review, the bytes after it (Content-Length of
 * them, as the server reads) go through kw_review and, if it answered 200,
 * the answer must be JSON again.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kw_http_req r;
	struct kw_config c;
	struct kw_reply rep;
	int st;

	kw_config_default(&c);
	c.default_mib = 128; /* reach the patch builder without an annotation too */
	if (kw_http_parse((const char *)data, size, &r, &st) < 0)
		return 0;
	if (r.head_len > size)
		abort();
	if (kw_http_check_review(&r, c.max_body) != 0 || r.content_length > size - r.head_len)
		return 0;
	if (kw_review(&c, (const char *)data + r.head_len, (size_t)r.content_length, size & 1, &rep) < 0)
		return 0;
	if (rep.status == 200) {
		json_t *j = json_loads(rep.body, 0, NULL);

		if (!j)
			abort();
		json_decref(j);
	}
	free(rep.body);
	return 0;
}
