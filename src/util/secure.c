/* SPDX-License-Identifier: Apache-2.0 */
/* Wiping and constant-time helpers (OpenSSL's cleanse is the primitive). */
#include "util/secure.h"

#include <openssl/crypto.h>
#include <stdlib.h>

void kiln_wipe(void *p, size_t len)
{
	if (p)
		OPENSSL_cleanse(p, len);
}

void kiln_free_secret(void *p, size_t len)
{
	kiln_wipe(p, len);
	free(p);
}

int kiln_ct_memcmp(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) != 0;
}
