/* SPDX-License-Identifier: Apache-2.0 */
/* NSM client: typed calls over a transport, and seeding the kernel RNG from GetRandom. */
#include "nsm/nsm.h"

#include <fcntl.h>
#include <linux/random.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/secure.h"

/*
 * Responses are untrusted: in sim they come from the parent (kilnd). Each
 * call decodes strictly, requires the response variant to match the request
 * (or be an Error), and copies what it returns out of the shared response
 * buffer before releasing the lock.
 */

struct kiln_nsm {
	const struct kiln_nsm_transport *t;
	void *ctx;
	pthread_mutex_t lock;
	uint8_t resp[KILN_NSM_RESPONSE_MAX];
};

int kiln_nsm_open(const struct kiln_nsm_transport *t, void *ctx, struct kiln_nsm **out)
{
	struct kiln_nsm *n = calloc(1, sizeof(*n));

	if (!n)
		return kiln_err(ENOMEM, "out of memory");
	n->t = t;
	n->ctx = ctx;
	pthread_mutex_init(&n->lock, NULL);
	*out = n;
	return 0;
}

void kiln_nsm_close(struct kiln_nsm *n)
{
	if (!n)
		return;
	if (n->t->close)
		n->t->close(n->ctx);
	pthread_mutex_destroy(&n->lock);
	kiln_free_secret(n, sizeof(*n));
}

int kiln_nsm_errno(enum kiln_nsm_status s)
{
	switch (s) {
	case KILN_NSM_INVALID_ARGUMENT:
		return EINVAL;
	case KILN_NSM_INVALID_INDEX:
		return ERANGE;
	case KILN_NSM_INVALID_RESPONSE:
		return EPROTO;
	case KILN_NSM_READ_ONLY_INDEX:
		return EROFS;
	case KILN_NSM_INVALID_OPERATION:
		return EOPNOTSUPP;
	case KILN_NSM_BUFFER_TOO_SMALL:
		return ENOBUFS;
	case KILN_NSM_INPUT_TOO_LARGE:
		return EMSGSIZE;
	default:
		return EIO;
	}
}

/* One exchange with n->lock held; on success r's blobs point into n->resp or *doc. */
static int call(struct kiln_nsm *n, const struct kiln_nsm_request *req,
		struct kiln_nsm_response *r, struct kiln_cbor_doc **doc)
{
	_cleanup_free_ uint8_t *wire = NULL;
	size_t wire_len, resp_len = sizeof(n->resp);
	int rc;

	*doc = NULL;
	rc = kiln_nsm_request_encode(req, &wire, &wire_len);
	if (rc == 0)
		rc = n->t->roundtrip(n->ctx, wire, wire_len, n->resp, &resp_len);
	if (rc == 0)
		rc = kiln_nsm_response_decode(n->resp, resp_len, r, doc);
	if (rc < 0)
		return kiln_err_wrap(rc, "nsm %s", kiln_nsm_op_name(req->op));
	if (r->op == KILN_NSM_ERROR)
		rc = kiln_err(kiln_nsm_errno(r->error), "nsm %s: %s", kiln_nsm_op_name(req->op),
			      kiln_nsm_status_name(r->error));
	else if (r->op != req->op)
		rc = kiln_err(EPROTO, "nsm %s: answered with %s", kiln_nsm_op_name(req->op),
			      kiln_nsm_op_name(r->op));
	if (rc < 0) {
		kiln_nsm_doc_free(*doc);
		*doc = NULL;
	}
	return rc;
}

/* Run a request and let fn copy the answer out while the lock is held. */
typedef int (*take_fn)(const struct kiln_nsm_response *r, void *arg);

static int run(struct kiln_nsm *n, const struct kiln_nsm_request *req, take_fn fn, void *arg)
{
	struct kiln_nsm_response r;
	struct kiln_cbor_doc *doc;
	int rc;

	pthread_mutex_lock(&n->lock);
	rc = call(n, req, &r, &doc);
	if (rc == 0 && fn)
		rc = fn(&r, arg);
	kiln_nsm_doc_free(doc);
	kiln_wipe(n->resp, sizeof(n->resp));
	pthread_mutex_unlock(&n->lock);
	return rc;
}

struct pcr_out {
	bool *locked;
	uint8_t *value;
	size_t *value_len;
};

static int take_pcr(const struct kiln_nsm_response *r, void *arg)
{
	struct pcr_out *o = arg;

	if (r->data.len == 0)
		return kiln_err(EPROTO, "nsm: empty PCR value");
	memcpy(o->value, r->data.data, r->data.len); /* decoder bounds it by KILN_NSM_PCR_MAX */
	*o->value_len = r->data.len;
	if (o->locked)
		*o->locked = r->lock;
	return 0;
}

int kiln_nsm_describe_pcr(struct kiln_nsm *n, uint16_t index, bool *locked, uint8_t *value,
			  size_t *value_len)
{
	struct kiln_nsm_request req = { .op = KILN_NSM_DESCRIBE_PCR, .index = index };
	struct pcr_out o = { locked, value, value_len };

	return run(n, &req, take_pcr, &o);
}

int kiln_nsm_extend_pcr(struct kiln_nsm *n, uint16_t index, const void *data, size_t len,
			uint8_t *value, size_t *value_len)
{
	struct kiln_nsm_request req = { .op = KILN_NSM_EXTEND_PCR, .index = index,
					.data = { data, len } };
	struct pcr_out o = { NULL, value, value_len };

	return run(n, &req, take_pcr, &o);
}

int kiln_nsm_lock_pcr(struct kiln_nsm *n, uint16_t index)
{
	struct kiln_nsm_request req = { .op = KILN_NSM_LOCK_PCR, .index = index };

	return run(n, &req, NULL, NULL);
}

int kiln_nsm_lock_pcrs(struct kiln_nsm *n, uint16_t range)
{
	struct kiln_nsm_request req = { .op = KILN_NSM_LOCK_PCRS, .range = range };

	return run(n, &req, NULL, NULL);
}

static int take_description(const struct kiln_nsm_response *r, void *arg)
{
	memcpy(arg, &r->nsm, sizeof(r->nsm));
	return 0;
}

int kiln_nsm_describe_nsm(struct kiln_nsm *n, struct kiln_nsm_description *d)
{
	struct kiln_nsm_request req = { .op = KILN_NSM_DESCRIBE_NSM };

	return run(n, &req, take_description, d);
}

struct bytes_out {
	uint8_t **p;
	size_t *len;
};

static int take_document(const struct kiln_nsm_response *r, void *arg)
{
	struct bytes_out *o = arg;

	if (r->data.len == 0)
		return kiln_err(EPROTO, "nsm: empty attestation document");
	*o->p = malloc(r->data.len);
	if (!*o->p)
		return kiln_err(ENOMEM, "out of memory");
	memcpy(*o->p, r->data.data, r->data.len);
	*o->len = r->data.len;
	return 0;
}

static struct kiln_nsm_blob opt_blob(const struct kiln_nsm_blob *b)
{
	return b ? *b : (struct kiln_nsm_blob){ NULL, 0 };
}

int kiln_nsm_attestation(struct kiln_nsm *n, const struct kiln_nsm_blob *user_data,
			 const struct kiln_nsm_blob *nonce, const struct kiln_nsm_blob *public_key,
			 uint8_t **doc, size_t *doc_len)
{
	struct kiln_nsm_request req = {
		.op = KILN_NSM_ATTESTATION,
		.user_data = opt_blob(user_data),
		.nonce = opt_blob(nonce),
		.public_key = opt_blob(public_key),
	};
	struct bytes_out o = { doc, doc_len };

	*doc = NULL;
	return run(n, &req, take_document, &o);
}

struct random_out {
	uint8_t *buf;
	size_t cap;
	size_t *len;
};

static int take_random(const struct kiln_nsm_response *r, void *arg)
{
	struct random_out *o = arg;
	size_t n = r->data.len < o->cap ? r->data.len : o->cap;

	if (n == 0)
		return kiln_err(EPROTO, "nsm: GetRandom returned no bytes");
	memcpy(o->buf, r->data.data, n);
	*o->len = n;
	return 0;
}

int kiln_nsm_get_random(struct kiln_nsm *n, uint8_t *buf, size_t cap, size_t *len)
{
	struct kiln_nsm_request req = { .op = KILN_NSM_GET_RANDOM };
	struct random_out o = { buf, cap, len };

	return run(n, &req, take_random, &o);
}

#define SEED_CHUNK 256

int kiln_nsm_seed_rng(struct kiln_nsm *n, int random_fd, size_t bytes)
{
	_cleanup_close_ int own = -1;
	struct rand_pool_info *info;
	size_t done = 0, got = 0;
	int rc = 0;

	if (random_fd < 0) {
		own = open("/dev/random", O_WRONLY | O_CLOEXEC);
		if (own < 0)
			return kiln_err(errno, "open /dev/random: %s", strerror(errno));
		random_fd = own;
	}
	info = calloc(1, sizeof(*info) + SEED_CHUNK);
	if (!info)
		return kiln_err(ENOMEM, "out of memory");
	while (rc == 0 && done < bytes) {
		rc = kiln_nsm_get_random(n, (uint8_t *)info->buf, SEED_CHUNK, &got);
		if (rc < 0)
			break;
		info->entropy_count = (int)(got * 8);
		info->buf_size = (int)got;
		if (ioctl(random_fd, RNDADDENTROPY, info) < 0)
			rc = kiln_err(errno, "RNDADDENTROPY: %s", strerror(errno));
		done += got;
	}
	kiln_free_secret(info, sizeof(*info) + SEED_CHUNK);
	return rc;
}
