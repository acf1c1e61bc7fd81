/* SPDX-License-Identifier: Apache-2.0 */
/* Random AES-GCM nonces drawn from OpenSSL in bulk: one draw per 340 seals instead of one per seal. */
#ifndef KILN_FS_NONCES_H
#define KILN_FS_NONCES_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/*
 * One page of random bytes, mlock'ed (never swapped) and MADV_WIPEONFORK: a
 * child process finds it zeroed, so it draws its own nonces instead of
 * reusing the parent's. Without either (a kernel or rlimit that refuses),
 * page is NULL and every nonce is drawn on its own. One thread at a time.
 */
struct kfs_nonces {
	struct kfs_nonce_page *page;
};

int kfs_nonces_init(struct kfs_nonces *n) KILN_MUST;
/* Twelve fresh random bytes into out; a used nonce is wiped from the page. */
int kfs_nonce_take(struct kfs_nonces *n, uint8_t out[12]) KILN_MUST;
/* Wipe the nonces not yet used (the next take draws afresh). */
void kfs_nonces_wipe(struct kfs_nonces *n);
/* Wipe, unlock and unmap the page. */
void kfs_nonces_free(struct kfs_nonces *n);

/* For tests: the page's nonce bytes, used (wiped) and unused, and their length; NULL without a page. */
const uint8_t *kfs_nonces_bytes(const struct kfs_nonces *n, size_t *len);

#endif
