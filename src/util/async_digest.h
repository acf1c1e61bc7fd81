/* SPDX-License-Identifier: Apache-2.0 */
/* Digest updates run on a worker thread, in order, so hashing uses a 2nd core. */
#ifndef KILN_UTIL_ASYNC_DIGEST_H
#define KILN_UTIL_ASYNC_DIGEST_H

#include <openssl/evp.h>
#include <stddef.h>
#include <zlib.h>

#include "util/err.h"

/*
 * kiln hashes the same bytes into two SHA-384 contexts (PCR0 and PCR2 both
 * cover the app ramdisk). One runs inline; the other is queued here: bytes
 * are copied into one of two 1 MiB buffers and the worker feeds them to
 * their context while the caller fills the other. Updates to any context
 * are applied in call order. Call kiln_async_digest_sync() before reading
 * a context (EVP_DigestFinal, EVP_MD_CTX_copy) or a CRC.
 */
struct kiln_async_digest;

int kiln_async_digest_new(struct kiln_async_digest **out) KILN_MUST;
/* Queue buf for ctx and/or the running CRC-32 *crc (either may be NULL). */
int kiln_async_digest_update(struct kiln_async_digest *ad, EVP_MD_CTX *ctx, uLong *crc,
			     const void *buf, size_t len) KILN_MUST;
/* Wait until every queued update is applied; reports a failed update. */
int kiln_async_digest_sync(struct kiln_async_digest *ad) KILN_MUST;
void kiln_async_digest_free(struct kiln_async_digest *ad);

#endif
