/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: dev-kms key policies (checked, then evaluated) from arbitrary text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devkms/devkms.h"

/* A policy that passes the check must evaluate without crashing, with and without PCRs. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (kiln_devkms_policy_check(text) == 0) {
		struct kiln_devkms_ctx c = { .action = "kms:Decrypt",
					     .key_arn = "arn:aws:kms:us-east-1:111122223333:key/k" };
		int a = kiln_devkms_policy_eval(text, &c);
		c.has_document = true;
		c.pcr_hex[0] = "aa";
		c.pcr_hex[8] = "bb";
		int b = kiln_devkms_policy_eval(text, &c);
		if ((a != 0 && a != -EACCES) || (b != 0 && b != -EACCES))
			abort();
	}
	free(text);
	return 0;
}
