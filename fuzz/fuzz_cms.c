/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the BER CMS EnvelopedData parser (KMS answers pass through the parent). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "aws/cms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aws_cms_env env;

	if (aws_cms_parse(data, size, &env) < 0)
		return 0;
	/* What a successful parse promises the decryptor. */
	if (!env.encrypted_key || env.encrypted_key_len == 0 || !env.content ||
	    env.content_len == 0 || env.content_len % 16 || env.content_len > AWS_CMS_MAX)
		abort();
	aws_cms_env_free(&env);
	return 0;
}
