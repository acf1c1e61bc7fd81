/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: attestation document parser, then verification at a fixed time. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "attest/attest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kiln_attest_verifier *v;
	static const uint8_t zeros[48];
	struct kiln_attest_expect exp = { .pcr[0] = { zeros, sizeof(zeros) } };
	struct kiln_attest_doc *doc;

	if (!v && kiln_attest_verifier_new(NULL, 0, &v) < 0)
		abort();
	if (kiln_attest_parse(data, size, &doc) < 0)
		return 0;
	/* 2022-10-12T13:50:06.081Z, the time of the debug-mode fixture. */
	(void)kiln_attest_verify(v, doc, 1665582606081LL, &exp);
	(void)kiln_attest_verify(v, doc, KILN_ATTEST_AT_DOC, NULL);
	kiln_attest_doc_free(doc);
	return 0;
}
