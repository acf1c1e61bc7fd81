/* SPDX-License-Identifier: Apache-2.0 */
/* The EIF writer's output path: buffers filled in place, hashed on two threads, written in order. */
#include "eif/pipe.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/crc32.h"

/*
 * 8 x 256 KiB: small enough that a buffer is still in cache when the
 * second worker and write() read it, large enough that the hand-offs
 * (a lock and a wake-up each) cost nothing next to hashing 256 KiB.
 */
#define SLOT_SIZE (256u << 10)
#define SLOTS 8u
/* Start writeback every this many bytes, so commit's fsync finds little left to do. */
#define KICK (8u << 20)

struct slot {
	uint8_t *buf;
	size_t len;
	EVP_MD_CTX *ctx[2];
};

struct eif_pipe {
	int fd;
	struct slot slot[SLOTS];
	uint64_t sealed;      /* buffers handed to the workers; slot[sealed % N] is open */
	uint64_t done[2];     /* buffers each worker has finished */
	EVP_MD_CTX *route[2]; /* what bytes added now feed */
	uLong *crc;
	uint64_t written;
	uint64_t kicked;      /* writeback started for [0, kicked) */
	pthread_t thread[2];
	int nthreads;
	pthread_mutex_t lock;
	pthread_cond_t work;  /* sealed moved, or stop */
	pthread_cond_t freed; /* done moved */
	bool stop, hash_failed, failed;
};

struct worker_arg {
	struct eif_pipe *p;
	int i;
};

static void *worker(void *arg)
{
	struct eif_pipe *p = ((struct worker_arg *)arg)->p;
	int i = ((struct worker_arg *)arg)->i;

	free(arg);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->done[i] == p->sealed && !p->stop)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->done[i] == p->sealed)
			break;
		struct slot *s = &p->slot[p->done[i] % SLOTS];

		pthread_mutex_unlock(&p->lock);
		bool ok = !s->ctx[i] || EVP_DigestUpdate(s->ctx[i], s->buf, s->len) == 1;

		pthread_mutex_lock(&p->lock);
		p->hash_failed |= !ok;
		p->done[i]++;
		pthread_cond_broadcast(&p->freed);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static int start_worker(struct eif_pipe *p, int i)
{
	struct worker_arg *a = malloc(sizeof(*a));

	if (!a)
		return kiln_err(ENOMEM, "out of memory");
	*a = (struct worker_arg){ p, i };
	if (pthread_create(&p->thread[i], NULL, worker, a) != 0) {
		free(a);
		return kiln_err(EAGAIN, "cannot start a hashing thread");
	}
	p->nthreads++;
	return 0;
}

int eif_pipe_new(int fd, struct eif_pipe **out)
{
	struct eif_pipe *p = calloc(1, sizeof(*p));
	int rc = 0;

	if (!p)
		return kiln_err(ENOMEM, "out of memory");
	p->fd = fd;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->freed, NULL);
	for (unsigned i = 0; i < SLOTS && rc == 0; i++)
		if (!(p->slot[i].buf = malloc(SLOT_SIZE)))
			rc = kiln_err(ENOMEM, "out of memory");
	for (int i = 0; i < 2 && rc == 0; i++)
		rc = start_worker(p, i);
	if (rc < 0) {
		eif_pipe_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_err(errno, "EIF write failed: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Hand the open buffer to the workers, CRC and write it, wait for a free one. */
static int seal(struct eif_pipe *p)
{
	struct slot *s = &p->slot[p->sealed % SLOTS];
	int rc;

	if (p->failed)
		return kiln_err(EIO, "EIF write failed earlier");
	if (!s->len)
		return 0;
	s->ctx[0] = p->route[0];
	s->ctx[1] = p->route[1];
	pthread_mutex_lock(&p->lock);
	p->sealed++;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	if (p->crc)
		*p->crc = kiln_crc32((uint32_t)*p->crc, s->buf, s->len);
	rc = write_all(p->fd, s->buf, s->len);
	if (rc < 0) {
		p->failed = true;
		return rc;
	}
	p->written += s->len;
	if (p->written - p->kicked >= KICK) {
		/* Only a hint: a failure here shows up at fsync. */
		(void)sync_file_range(p->fd, (off_t)p->kicked, (off_t)(p->written - p->kicked),
				      SYNC_FILE_RANGE_WRITE);
		p->kicked = p->written;
	}
	pthread_mutex_lock(&p->lock);
	while (p->sealed - p->done[0] >= SLOTS || p->sealed - p->done[1] >= SLOTS)
		pthread_cond_wait(&p->freed, &p->lock);
	pthread_mutex_unlock(&p->lock);
	p->slot[p->sealed % SLOTS].len = 0;
	return 0;
}

int eif_pipe_route(struct eif_pipe *p, EVP_MD_CTX *a, EVP_MD_CTX *b, uLong *crc)
{
	int rc = 0;

	if (a != p->route[0] || b != p->route[1] || crc != p->crc)
		rc = seal(p);
	if (rc < 0)
		return rc;
	p->route[0] = a;
	p->route[1] = b;
	p->crc = crc;
	return 0;
}

int eif_pipe_space(struct eif_pipe *p, uint8_t **dst, size_t *avail)
{
	struct slot *s = &p->slot[p->sealed % SLOTS];
	int rc;

	if (s->len == SLOT_SIZE) {
		rc = seal(p);
		if (rc < 0)
			return rc;
		s = &p->slot[p->sealed % SLOTS];
	}
	*dst = s->buf + s->len;
	*avail = SLOT_SIZE - s->len;
	return 0;
}

void eif_pipe_advance(struct eif_pipe *p, size_t n)
{
	p->slot[p->sealed % SLOTS].len += n;
}

int eif_pipe_write(struct eif_pipe *p, const void *buf, size_t len)
{
	const uint8_t *src = buf;

	while (len) {
		uint8_t *dst;
		size_t n;
		int rc = eif_pipe_space(p, &dst, &n);

		if (rc < 0)
			return rc;
		n = n < len ? n : len;
		memcpy(dst, src, n);
		eif_pipe_advance(p, n);
		src += n;
		len -= n;
	}
	return 0;
}

uint64_t eif_pipe_written(const struct eif_pipe *p)
{
	return p->written;
}

uint8_t *eif_pipe_open_buf(struct eif_pipe *p, size_t *len)
{
	struct slot *s = &p->slot[p->sealed % SLOTS];

	*len = s->len;
	return s->buf;
}

int eif_pipe_flush(struct eif_pipe *p)
{
	return seal(p);
}

int eif_pipe_sync(struct eif_pipe *p)
{
	int rc = seal(p);
	bool failed;

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&p->lock);
	while (p->done[0] != p->sealed || p->done[1] != p->sealed)
		pthread_cond_wait(&p->freed, &p->lock);
	failed = p->hash_failed;
	pthread_mutex_unlock(&p->lock);
	return failed ? kiln_err(EIO, "SHA-384 update failed") : 0;
}

void eif_pipe_free(struct eif_pipe *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->thread[i], NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->freed);
	for (unsigned i = 0; i < SLOTS; i++)
		free(p->slot[i].buf);
	free(p);
}
