/* SPDX-License-Identifier: Apache-2.0 */
/* The sim NSM: PCR bank, request handler, attestation documents (COSE_Sign1 ES384), server loop. */
#include "nsm/sim.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "cbor/cbor.h"
#include "eif/eif.h"
#include "util/cleanup.h"
#include "util/secure.h"

/*
 * How a document is made (mirroring the real ones in fixtures/attestation):
 * payload = {"module_id": text, "digest": "SHA384", "timestamp": uint ms,
 * "pcrs": {index: bstr 48, ...} of the locked PCRs in index order,
 * "certificate": leaf DER, "cabundle": [root, int1, int2],
 * "public_key"/"user_data"/"nonce": bstr or null}, in that key order;
 * protected header h'a1013822' ({1: -35}, ES384), unprotected {}; the
 * signature is r || s over Sig_structure ["Signature1", protected, h'',
 * payload]; the COSE_Sign1 array is untagged.
 */

#define MODULE_ID_MAX 96
#define SIG_LEN 96 /* ES384: r || s */

static const uint8_t protected_hdr[] = { 0xa1, 0x01, 0x38, 0x22 };

struct kiln_nsm_sim {
	pthread_mutex_t lock;
	struct kiln_sim_ca *ca;		/* opened by the first document: loading it costs
					 * milliseconds of CPU that an enclave's start
					 * (GetRandom, DescribePCR) need not wait for */
	char state_dir[PATH_MAX];
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;
	int64_t (*clock_ms)(void);
	char module_id[MODULE_ID_MAX];
	uint8_t pcr[KILN_SIM_NSM_PCRS][KILN_SIM_NSM_PCR_LEN];
	bool locked[KILN_SIM_NSM_PCRS];
};

static int64_t wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int sha(const EVP_MD *md, const void *a, size_t alen, const void *b, size_t blen,
	       uint8_t *out)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, md, NULL) == 1 && EVP_DigestUpdate(c, a, alen) == 1 &&
		 EVP_DigestUpdate(c, b, blen) == 1 && EVP_DigestFinal_ex(c, out, NULL) == 1;

	EVP_MD_CTX_free(c);
	return ok ? 0 : kiln_err(EIO, "sim NSM: digest failed");
}

/* First line of a small file, trimmed; "" when absent. */
static void read_line(const char *path, char *buf, size_t size)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");

	buf[0] = '\0';
	if (f && fgets(buf, (int)size, f))
		buf[strcspn(buf, "\r\n")] = '\0';
}

static int derive_instance_id(char *out, size_t size)
{
	static const char prefix[] = "kiln-sim-instance:";
	char id[256];
	uint8_t d[32];
	char hex[65];
	int rc;

	read_line("/etc/machine-id", id, sizeof(id));
	if (!id[0])
		read_line("/var/lib/dbus/machine-id", id, sizeof(id));
	if (!id[0] && gethostname(id, sizeof(id) - 1) != 0)
		snprintf(id, sizeof(id), "unknown");
	id[sizeof(id) - 1] = '\0';
	rc = sha(EVP_sha256(), prefix, sizeof(prefix) - 1, id, strlen(id), d);
	if (rc < 0)
		return rc;
	kiln_hex(d, sizeof(d), hex);
	snprintf(out, size, "i-%.17s", hex);
	return 0;
}

static void derive_role(char *out, size_t size)
{
	char host[256] = "";

	if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(out, size, "arn:aws:iam::000000000000:role/kiln-sim@%s", host);
}

static bool is_hex16(const char *s)
{
	return strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16;
}

/* PCRn = SHA-384(48 zero bytes || s), Nitro's formula for PCR3/PCR4. */
static int measure_text(struct kiln_nsm_sim *s, unsigned i, const char *text)
{
	static const uint8_t zero[KILN_SIM_NSM_PCR_LEN];

	return sha(EVP_sha384(), zero, sizeof(zero), text, strlen(text), s->pcr[i]);
}

static int set_identity(struct kiln_nsm_sim *s, const struct kiln_nsm_sim_opts *o)
{
	char instance[64], role[512], enclave[17];
	int rc = 0;

	if (o->instance_id)
		snprintf(instance, sizeof(instance), "%s", o->instance_id);
	else
		rc = derive_instance_id(instance, sizeof(instance));
	if (rc < 0)
		return rc;
	if (o->role_arn)
		snprintf(role, sizeof(role), "%s", o->role_arn);
	else
		derive_role(role, sizeof(role));
	if (o->enclave_id && !is_hex16(o->enclave_id))
		return kiln_err(EINVAL, "sim NSM: enclave id must be 16 lowercase hex digits");
	if (o->enclave_id) {
		memcpy(enclave, o->enclave_id, sizeof(enclave));
	} else {
		uint8_t b[8];

		if (RAND_bytes(b, sizeof(b)) != 1)
			return kiln_err(EIO, "sim NSM: RAND_bytes failed");
		kiln_hex(b, sizeof(b), enclave);
	}
	snprintf(s->module_id, sizeof(s->module_id), "%s-enc%s", instance, enclave);
	rc = measure_text(s, 3, role);
	return rc < 0 ? rc : measure_text(s, 4, instance);
}

int kiln_nsm_sim_new(const struct kiln_nsm_sim_opts *o, struct kiln_nsm_sim **out)
{
	struct kiln_nsm_sim *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return kiln_err(ENOMEM, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	s->clock_ms = o->clock_ms ? o->clock_ms : wall_ms;
	if (o->pcrs) {
		memcpy(s->pcr[0], o->pcrs->pcr0, KILN_SIM_NSM_PCR_LEN);
		memcpy(s->pcr[1], o->pcrs->pcr1, KILN_SIM_NSM_PCR_LEN);
		memcpy(s->pcr[2], o->pcrs->pcr2, KILN_SIM_NSM_PCR_LEN);
		if (o->pcrs->has_pcr8)
			memcpy(s->pcr[8], o->pcrs->pcr8, KILN_SIM_NSM_PCR_LEN);
	}
	for (unsigned i = 0; i < 16; i++)
		s->locked[i] = true;
	rc = set_identity(s, o);
	if (rc == 0 && (!o->state_dir || strlen(o->state_dir) >= sizeof(s->state_dir)))
		rc = kiln_err(EINVAL, "a state directory (shorter than %zu bytes) is required",
			      sizeof(s->state_dir));
	if (rc == 0)
		snprintf(s->state_dir, sizeof(s->state_dir), "%s", o->state_dir);
	s->log = o->log;
	s->log_ctx = o->log_ctx;
	if (rc < 0) {
		kiln_nsm_sim_free(s);
		return kiln_err_wrap(rc, "sim NSM");
	}
	*out = s;
	return 0;
}

void kiln_nsm_sim_free(struct kiln_nsm_sim *s)
{
	if (!s)
		return;
	kiln_sim_ca_free(s->ca);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const char *kiln_nsm_sim_module_id(const struct kiln_nsm_sim *s)
{
	return s->module_id;
}

/* ---- documents ---- */

static void enc_opt(struct kiln_cbor_enc *e, const char *key, const struct kiln_nsm_blob *b)
{
	kiln_cbor_enc_text_z(e, key);
	if (b->data)
		kiln_cbor_enc_bytes(e, b->data, b->len);
	else
		kiln_cbor_enc_null(e);
}

static int build_payload(struct kiln_nsm_sim *s, const struct kiln_nsm_request *r, int64_t now,
			 uint8_t **out, size_t *len)
{
	struct kiln_cbor_enc e;
	const uint8_t *der;
	size_t der_len, n_locked = 0;

	for (unsigned i = 0; i < KILN_SIM_NSM_PCRS; i++)
		n_locked += s->locked[i];
	kiln_cbor_enc_init(&e);
	kiln_cbor_enc_map(&e, 9);
	kiln_cbor_enc_text_z(&e, "module_id");
	kiln_cbor_enc_text_z(&e, s->module_id);
	kiln_cbor_enc_text_z(&e, "digest");
	kiln_cbor_enc_text_z(&e, "SHA384");
	kiln_cbor_enc_text_z(&e, "timestamp");
	kiln_cbor_enc_uint(&e, (uint64_t)now);
	kiln_cbor_enc_text_z(&e, "pcrs");
	kiln_cbor_enc_map(&e, n_locked);
	for (unsigned i = 0; i < KILN_SIM_NSM_PCRS; i++) {
		if (!s->locked[i])
			continue;
		kiln_cbor_enc_uint(&e, i);
		kiln_cbor_enc_bytes(&e, s->pcr[i], KILN_SIM_NSM_PCR_LEN);
	}
	kiln_cbor_enc_text_z(&e, "certificate");
	kiln_sim_ca_leaf_der(s->ca, &der, &der_len);
	kiln_cbor_enc_bytes(&e, der, der_len);
	kiln_cbor_enc_text_z(&e, "cabundle");
	kiln_cbor_enc_array(&e, KILN_SIM_CA_LEVELS);
	for (unsigned i = 0; i < KILN_SIM_CA_LEVELS; i++) {
		kiln_sim_ca_der(s->ca, i, &der, &der_len);
		kiln_cbor_enc_bytes(&e, der, der_len);
	}
	enc_opt(&e, "public_key", &r->public_key);
	enc_opt(&e, "user_data", &r->user_data);
	enc_opt(&e, "nonce", &r->nonce);
	return kiln_cbor_enc_finish(&e, out, len);
}

static int sign_payload(struct kiln_nsm_sim *s, const uint8_t *payload, size_t len,
			uint8_t sig[SIG_LEN])
{
	_cleanup_free_ uint8_t *tbs = NULL;
	size_t tbs_len;
	struct kiln_cbor_enc e;
	int rc;

	kiln_cbor_enc_init(&e);
	kiln_cbor_enc_array(&e, 4);
	kiln_cbor_enc_text_z(&e, "Signature1");
	kiln_cbor_enc_bytes(&e, protected_hdr, sizeof(protected_hdr));
	kiln_cbor_enc_bytes(&e, "", 0);
	kiln_cbor_enc_bytes(&e, payload, len);
	rc = kiln_cbor_enc_finish(&e, &tbs, &tbs_len);
	return rc < 0 ? rc : kiln_sim_ca_sign(s->ca, tbs, tbs_len, sig);
}

static int make_document(struct kiln_nsm_sim *s, const struct kiln_nsm_request *r,
			 uint8_t **doc, size_t *doc_len)
{
	_cleanup_free_ uint8_t *payload = NULL;
	uint8_t sig[SIG_LEN];
	size_t payload_len;
	struct kiln_cbor_enc e;
	int64_t now = s->clock_ms();
	int rc;

	rc = s->ca ? 0 : kiln_sim_ca_open(s->state_dir, now, &s->ca);
	if (rc == 0)
		rc = kiln_sim_ca_refresh(s->ca, s->module_id, now);
	if (rc == 0)
		rc = build_payload(s, r, now, &payload, &payload_len);
	if (rc == 0)
		rc = sign_payload(s, payload, payload_len, sig);
	if (rc < 0)
		return rc;
	kiln_cbor_enc_init(&e);
	kiln_cbor_enc_array(&e, 4);
	kiln_cbor_enc_bytes(&e, protected_hdr, sizeof(protected_hdr));
	kiln_cbor_enc_map(&e, 0);
	kiln_cbor_enc_bytes(&e, payload, payload_len);
	kiln_cbor_enc_bytes(&e, sig, sizeof(sig));
	return kiln_cbor_enc_finish(&e, doc, doc_len);
}

/* ---- requests ---- */

static enum kiln_nsm_status check_attestation(const struct kiln_nsm_request *r)
{
	if ((r->user_data.data && r->user_data.len > KILN_NSM_USER_DATA_MAX) ||
	    (r->nonce.data && r->nonce.len > KILN_NSM_USER_DATA_MAX) ||
	    (r->public_key.data && r->public_key.len > KILN_NSM_PUBLIC_KEY_MAX))
		return KILN_NSM_INPUT_TOO_LARGE;
	if (r->public_key.data && r->public_key.len == 0)
		return KILN_NSM_INVALID_ARGUMENT;
	return KILN_NSM_SUCCESS;
}

static enum kiln_nsm_status extend(struct kiln_nsm_sim *s, const struct kiln_nsm_request *r)
{
	uint8_t next[KILN_SIM_NSM_PCR_LEN];

	if (r->index >= KILN_SIM_NSM_PCRS)
		return KILN_NSM_INVALID_INDEX;
	if (s->locked[r->index])
		return KILN_NSM_READ_ONLY_INDEX;
	if (sha(EVP_sha384(), s->pcr[r->index], KILN_SIM_NSM_PCR_LEN, r->data.data, r->data.len,
		next) < 0)
		return KILN_NSM_INTERNAL_ERROR;
	memcpy(s->pcr[r->index], next, sizeof(next));
	return KILN_NSM_SUCCESS;
}

/*
 * Apply r to the state and fill the response (its blobs may point into the
 * state or *doc). Returns the status to answer with when it is not success.
 */
static enum kiln_nsm_status apply(struct kiln_nsm_sim *s, const struct kiln_nsm_request *r,
				  struct kiln_nsm_response *out, uint8_t **doc, uint8_t *random)
{
	enum kiln_nsm_status st = KILN_NSM_SUCCESS;
	size_t doc_len;

	out->op = r->op;
	switch (r->op) {
	case KILN_NSM_DESCRIBE_PCR:
		if (r->index >= KILN_SIM_NSM_PCRS)
			return KILN_NSM_INVALID_INDEX;
		break;
	case KILN_NSM_EXTEND_PCR:
		st = extend(s, r);
		break;
	case KILN_NSM_LOCK_PCR:
		if (r->index >= KILN_SIM_NSM_PCRS)
			return KILN_NSM_INVALID_INDEX;
		s->locked[r->index] = true;
		return KILN_NSM_SUCCESS;
	case KILN_NSM_LOCK_PCRS:
		if (r->range > KILN_SIM_NSM_PCRS)
			return KILN_NSM_INVALID_INDEX;
		for (unsigned i = 0; i < r->range; i++)
			s->locked[i] = true;
		return KILN_NSM_SUCCESS;
	case KILN_NSM_DESCRIBE_NSM:
		out->nsm = (struct kiln_nsm_description){ .version_major = 1, .max_pcrs = 32,
							  .digest = KILN_NSM_SHA384 };
		snprintf(out->nsm.module_id, sizeof(out->nsm.module_id), "%s", s->module_id);
		for (unsigned i = 0; i < KILN_SIM_NSM_PCRS; i++)
			if (s->locked[i])
				out->nsm.locked_pcrs[out->nsm.n_locked++] = (uint16_t)i;
		return KILN_NSM_SUCCESS;
	case KILN_NSM_ATTESTATION:
		st = check_attestation(r);
		if (st == KILN_NSM_SUCCESS && make_document(s, r, doc, &doc_len) < 0) {
			st = KILN_NSM_INTERNAL_ERROR;
			if (s->log)
				s->log(s->log_ctx, kiln_errmsg());
		}
		if (st == KILN_NSM_SUCCESS)
			out->data = (struct kiln_nsm_blob){ *doc, doc_len };
		return st;
	case KILN_NSM_GET_RANDOM:
		if (RAND_bytes(random, KILN_SIM_NSM_RANDOM_LEN) != 1)
			return KILN_NSM_INTERNAL_ERROR;
		out->data = (struct kiln_nsm_blob){ random, KILN_SIM_NSM_RANDOM_LEN };
		return KILN_NSM_SUCCESS;
	default:
		return KILN_NSM_INVALID_OPERATION;
	}
	if (st == KILN_NSM_SUCCESS) {
		out->lock = s->locked[r->index];
		out->data = (struct kiln_nsm_blob){ s->pcr[r->index], KILN_SIM_NSM_PCR_LEN };
	}
	return st;
}

int kiln_nsm_sim_handle(struct kiln_nsm_sim *s, const uint8_t *req, size_t len, uint8_t **resp,
			size_t *resp_len)
{
	struct kiln_nsm_request r;
	struct kiln_nsm_response out = { .op = KILN_NSM_OP_NONE };
	struct kiln_cbor_doc *doc = NULL;
	_cleanup_free_ uint8_t *document = NULL;
	uint8_t random[KILN_SIM_NSM_RANDOM_LEN];
	enum kiln_nsm_status st = KILN_NSM_INVALID_ARGUMENT;
	int rc;

	pthread_mutex_lock(&s->lock);
	if (kiln_nsm_request_decode(req, len, &r, &doc) == 0)
		st = apply(s, &r, &out, &document, random);
	if (st != KILN_NSM_SUCCESS)
		out = (struct kiln_nsm_response){ .op = KILN_NSM_ERROR, .error = st };
	rc = kiln_nsm_response_encode(&out, resp, resp_len);
	pthread_mutex_unlock(&s->lock);
	kiln_nsm_doc_free(doc);
	kiln_wipe(random, sizeof(random));
	return rc;
}

int kiln_nsm_sim_serve(struct kiln_nsm_sim *s, int fd, int timeout_ms)
{
	uint8_t req[KILN_NSM_REQUEST_MAX];
	size_t len;

	for (;;) {
		_cleanup_free_ uint8_t *resp = NULL;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		size_t resp_len;
		int rc;

		/* Idle between requests is fine (kiln-init keeps one channel open). */
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return kiln_err(errno, "sim NSM: poll: %s", strerror(errno));
		rc = kiln_nsm_stream_read(fd, req, sizeof(req), &len, timeout_ms);
		if (rc <= 0)
			return rc;
		rc = kiln_nsm_sim_handle(s, req, len, &resp, &resp_len);
		if (rc == 0)
			rc = kiln_nsm_stream_write(fd, resp, resp_len, KILN_NSM_RESPONSE_MAX,
						   timeout_ms);
		if (rc < 0)
			return rc;
	}
}

/* ---- an in-process transport ---- */

static int direct_roundtrip(void *ctx, const uint8_t *req, size_t req_len, uint8_t *resp,
			    size_t *resp_len)
{
	_cleanup_free_ uint8_t *out = NULL;
	size_t out_len;
	int rc = kiln_nsm_sim_handle(ctx, req, req_len, &out, &out_len);

	if (rc < 0)
		return rc;
	if (out_len > *resp_len)
		return kiln_err(EMSGSIZE, "sim NSM: response larger than the buffer");
	memcpy(resp, out, out_len);
	*resp_len = out_len;
	return 0;
}

static const struct kiln_nsm_transport direct_transport = {
	.roundtrip = direct_roundtrip,
	.close = NULL,
};

int kiln_nsm_sim_client(struct kiln_nsm_sim *s, struct kiln_nsm **out)
{
	return kiln_nsm_open(&direct_transport, s, out);
}
