/* SPDX-License-Identifier: Apache-2.0 */
/* Random AES-GCM nonces drawn in bulk into a locked, wipe-on-fork page. */
#include <openssl/rand.h>
#include <string.h>
#include <sys/mman.h>

#include "fs/nonces.h"
#include "fs/seal.h"
#include "util/secure.h"

/*
 * How this works. RAND_bytes costs about as much for 12 bytes as for a few
 * KiB (its locking and DRBG bookkeeping dominate: a third of a 1-byte
 * file's create and commit on the host went to it and to HKDF). So one call
 * fills a page and each seal takes the next 12 bytes: still a fresh random
 * nonce per seal, no counter. A child of fork() must not take the same
 * bytes as its parent (the same nonce under the same key breaks GCM): the
 * page is MADV_WIPEONFORK, so the child's `left` reads 0 and it draws anew
 * (OpenSSL reseeds after a fork). Nonces are not secret once used, but the
 * ones not yet used are kept out of swap and core dumps and wiped on free.
 */

#define PAGE 4096
#define NONCE_BYTES ((PAGE - sizeof(size_t)) / KFS_NONCE_LEN * KFS_NONCE_LEN)

struct kfs_nonce_page {
	size_t left; /* unused bytes at the end of b; 0 in a fresh or forked page */
	uint8_t b[NONCE_BYTES];
};
_Static_assert(sizeof(struct kfs_nonce_page) <= PAGE, "one page");

int kfs_nonces_init(struct kfs_nonces *n)
{
	void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	n->page = NULL;
	if (p == MAP_FAILED)
		return kiln_err(errno, "nonces: mmap");
	/* without wipe-on-fork or the lock, no pool: each nonce is drawn alone */
	if (madvise(p, PAGE, MADV_WIPEONFORK) < 0 || mlock(p, PAGE) < 0) {
		munmap(p, PAGE);
		return 0;
	}
	(void)madvise(p, PAGE, MADV_DONTDUMP); /* best effort: the lock is what matters */
	n->page = p;
	return 0;
}

int kfs_nonce_take(struct kfs_nonces *n, uint8_t out[KFS_NONCE_LEN])
{
	struct kfs_nonce_page *p = n->page;
	uint8_t *at;

	if (!p)
		return RAND_bytes(out, KFS_NONCE_LEN) == 1 ? 0 : kiln_err(EIO, "nonce: no randomness");
	if (p->left < KFS_NONCE_LEN) {
		if (RAND_bytes(p->b, sizeof(p->b)) != 1)
			return kiln_err(EIO, "nonce: no randomness");
		p->left = sizeof(p->b);
	}
	at = p->b + sizeof(p->b) - p->left;
	memcpy(out, at, KFS_NONCE_LEN);
	kiln_wipe(at, KFS_NONCE_LEN);
	p->left -= KFS_NONCE_LEN;
	return 0;
}

void kfs_nonces_wipe(struct kfs_nonces *n)
{
	if (n->page)
		kiln_wipe(n->page, sizeof(*n->page));
}

void kfs_nonces_free(struct kfs_nonces *n)
{
	if (!n->page)
		return;
	kfs_nonces_wipe(n);
	munlock(n->page, PAGE);
	munmap(n->page, PAGE);
	n->page = NULL;
}

const uint8_t *kfs_nonces_bytes(const struct kfs_nonces *n, size_t *len)
{
	*len = n->page ? sizeof(n->page->b) : 0;
	return n->page ? n->page->b : NULL;
}
