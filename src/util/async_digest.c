/* SPDX-License-Identifier: Apache-2.0 */
/* A one-worker, double-buffered queue of EVP digest updates. */
#include "util/async_digest.h"

#include "util/crc32.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (1u << 20)

struct chunk {
	EVP_MD_CTX *ctx;
	uLong *crc;
	size_t len;
	unsigned char *buf;
};

struct kiln_async_digest {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct chunk fill;     /* being filled by the caller */
	struct chunk job;      /* being hashed by the worker when busy */
	bool busy, stop, failed;
};

static void *worker(void *arg)
{
	struct kiln_async_digest *ad = arg;

	pthread_mutex_lock(&ad->lock);
	for (;;) {
		while (!ad->busy && !ad->stop)
			pthread_cond_wait(&ad->cond, &ad->lock);
		if (!ad->busy)
			break;
		pthread_mutex_unlock(&ad->lock);
		bool ok = !ad->job.ctx ||
			  EVP_DigestUpdate(ad->job.ctx, ad->job.buf, ad->job.len) == 1;

		if (ad->job.crc)
			*ad->job.crc = kiln_crc32((uint32_t)*ad->job.crc, ad->job.buf, ad->job.len);
		pthread_mutex_lock(&ad->lock);
		ad->failed |= !ok;
		ad->busy = false;
		pthread_cond_broadcast(&ad->cond);
	}
	pthread_mutex_unlock(&ad->lock);
	return NULL;
}

static void wait_idle(struct kiln_async_digest *ad)
{
	while (ad->busy)
		pthread_cond_wait(&ad->cond, &ad->lock);
}

/* Hand the fill buffer to the worker and take its old buffer to fill. */
static void submit(struct kiln_async_digest *ad)
{
	unsigned char *spare;

	if (!ad->fill.len)
		return;
	pthread_mutex_lock(&ad->lock);
	wait_idle(ad);
	spare = ad->job.buf;
	ad->job = ad->fill;
	ad->busy = true;
	pthread_cond_broadcast(&ad->cond);
	pthread_mutex_unlock(&ad->lock);
	ad->fill = (struct chunk){ .buf = spare };
}

int kiln_async_digest_new(struct kiln_async_digest **out)
{
	struct kiln_async_digest *ad = calloc(1, sizeof(*ad));

	if (!ad)
		return kiln_err(ENOMEM, "out of memory");
	ad->fill.buf = malloc(CHUNK);
	ad->job.buf = malloc(CHUNK);
	pthread_mutex_init(&ad->lock, NULL);
	pthread_cond_init(&ad->cond, NULL);
	if (!ad->fill.buf || !ad->job.buf || pthread_create(&ad->thread, NULL, worker, ad)) {
		free(ad->fill.buf);
		free(ad->job.buf);
		free(ad);
		return kiln_err(ENOMEM, "cannot start the hashing thread");
	}
	*out = ad;
	return 0;
}

int kiln_async_digest_update(struct kiln_async_digest *ad, EVP_MD_CTX *ctx, uLong *crc,
			     const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (!ctx && !crc)
		return 0;
	if (ad->fill.len && (ad->fill.ctx != ctx || ad->fill.crc != crc))
		submit(ad);
	ad->fill.ctx = ctx;
	ad->fill.crc = crc;
	while (len) {
		size_t n = CHUNK - ad->fill.len < len ? CHUNK - ad->fill.len : len;

		memcpy(ad->fill.buf + ad->fill.len, p, n);
		ad->fill.len += n;
		p += n;
		len -= n;
		if (ad->fill.len == CHUNK) {
			submit(ad);
			ad->fill.ctx = ctx;
			ad->fill.crc = crc;
		}
	}
	return 0;
}

int kiln_async_digest_sync(struct kiln_async_digest *ad)
{
	bool failed;

	submit(ad);
	pthread_mutex_lock(&ad->lock);
	wait_idle(ad);
	failed = ad->failed;
	pthread_mutex_unlock(&ad->lock);
	return failed ? kiln_err(EIO, "digest update failed") : 0;
}

void kiln_async_digest_free(struct kiln_async_digest *ad)
{
	if (!ad)
		return;
	pthread_mutex_lock(&ad->lock);
	wait_idle(ad);
	ad->stop = true;
	pthread_cond_broadcast(&ad->cond);
	pthread_mutex_unlock(&ad->lock);
	pthread_join(ad->thread, NULL);
	pthread_mutex_destroy(&ad->lock);
	pthread_cond_destroy(&ad->cond);
	free(ad->fill.buf);
	free(ad->job.buf);
	free(ad);
}
