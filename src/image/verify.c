/* SPDX-License-Identifier: Apache-2.0 */
/* Digests of uncompressed layer blobs, computed on threads of their own and checked in order. */
/*
 * How this works. An uncompressed layer's tar reader only reads headers,
 * so the blob's SHA-256 (its diff_id, and its blob digest) is computed by a
 * thread that reads the whole blob sequentially. kiln_image_open() waits for
 * each layer's check before the next layer; with kiln_image_open_deferred()
 * the checks are queued on the image instead (at most two run at once) and
 * kiln_image_verify() waits for them, so hashing the layers overlaps with
 * whatever the caller does next (kiln build: writing the EIF, which is not
 * published unless every check passed).
 */
#include "image/internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

struct img_check {
	pthread_t thread;
	bool started;
	struct img_blob blob;
	unsigned char md[32];
	int err;              /* positive errno of a failed read; EBADMSG: blob too short */
	unsigned index;       /* layer, 1-based */
	img_digest blob_digest; /* "" when the layer has none */
	img_digest diff_id;
};

static void *hash_blob(void *arg)
{
	struct img_check *k = arg;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *buf = malloc(IMG_CHUNK);
	uint64_t done = 0;

	if (!md || !buf || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		k->err = ENOMEM;
	while (!k->err && done < k->blob.size) {
		uint64_t left = k->blob.size - done;
		size_t want = left < IMG_CHUNK ? (size_t)left : IMG_CHUNK;
		ssize_t n = pread(k->blob.fd, buf, want, (off_t)(k->blob.off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			k->err = n < 0 ? errno : EBADMSG;
		else if (!EVP_DigestUpdate(md, buf, (size_t)n))
			k->err = EIO;
		else
			done += (uint64_t)n;
	}
	if (!k->err && !EVP_DigestFinal_ex(md, k->md, NULL))
		k->err = EIO;
	EVP_MD_CTX_free(md);
	free(buf);
	return NULL;
}

int img_check_start(const struct img_layer *l, const struct img_blob *blob,
		    struct img_check **out)
{
	struct img_check *k = calloc(1, sizeof(*k));

	if (!k)
		return kiln_err(ENOMEM, "out of memory");
	k->blob = *blob;
	k->index = l->index;
	snprintf(k->blob_digest, sizeof(k->blob_digest), "%s", l->blob_digest ? l->blob_digest : "");
	snprintf(k->diff_id, sizeof(k->diff_id), "%s", l->diff_id);
	if (pthread_create(&k->thread, NULL, hash_blob, k) != 0) {
		free(k);
		return kiln_err(EAGAIN, "cannot start the hashing thread");
	}
	k->started = true;
	*out = k;
	return 0;
}

static int check_wait(struct img_check *k)
{
	if (k->started)
		pthread_join(k->thread, NULL);
	k->started = false;
	if (k->err == EBADMSG)
		return kiln_err(EBADMSG, "unexpected end of file");
	return k->err ? kiln_err(k->err, "read: %s", strerror(k->err)) : 0;
}

static int cmp(const struct img_check *k, const char *want, const char *what)
{
	img_digest got;

	img_digest_hex(k->md, got);
	if (strcmp(got, want) != 0)
		return kiln_err(EBADMSG, "%s digest mismatch: got %s, want %s", what, got, want);
	return 0;
}

int img_check_end(struct img_check *k)
{
	bool two = *k->blob_digest && strcmp(k->blob_digest, k->diff_id);
	int rc = check_wait(k);

	if (rc == 0 && *k->blob_digest)
		rc = cmp(k, k->blob_digest, "blob");
	if (rc == 0)
		rc = cmp(k, k->diff_id, two ? "uncompressed (diff_id)" : "layer");
	return rc;
}

int img_check_blame(struct img_check *k, int rc)
{
	if (check_wait(k) == 0 && *k->blob_digest && cmp(k, k->blob_digest, "blob") < 0)
		return -EBADMSG;
	return rc;
}

void img_check_free(struct img_check *k)
{
	if (!k)
		return;
	if (k->started)
		pthread_join(k->thread, NULL);
	free(k);
}

int img_check_defer(struct kiln_image *img, struct img_check *k)
{
	struct img_check **v = realloc(img->checks, (img->n_checks + 1) * sizeof(*v));

	if (!v) {
		img_check_free(k);
		return kiln_err(ENOMEM, "out of memory");
	}
	img->checks = v;
	img->checks[img->n_checks++] = k;
	return 0;
}

int img_checks_wait(struct kiln_image *img, size_t keep)
{
	char sd[20];
	int rc = 0;

	if (img->check_rc < 0) /* sticky: a failed image never verifies later */
		return kiln_err(-img->check_rc, "an image layer failed its digest check");
	while (rc == 0 && img->n_checks > keep) {
		struct img_check *k = img->checks[0];

		rc = img_check_end(k);
		if (rc < 0)
			rc = kiln_err_wrap(rc, "layer %u (%s)", k->index,
					   img_digest_short(*k->blob_digest ? k->blob_digest
									  : k->diff_id, sd));
		img_check_free(k);
		memmove(img->checks, img->checks + 1, --img->n_checks * sizeof(*img->checks));
	}
	img->check_rc = rc;
	return rc;
}

void img_checks_free(struct kiln_image *img)
{
	for (size_t i = 0; i < img->n_checks; i++)
		img_check_free(img->checks[i]);
	free(img->checks);
	img->checks = NULL;
	img->n_checks = 0;
}
