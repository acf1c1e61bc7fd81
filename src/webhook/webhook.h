/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-webhook: Kubernetes mutating admission for enclave Pods (parsing, policy, server). */
#ifndef KILN_WEBHOOK_WEBHOOK_H
#define KILN_WEBHOOK_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/err.h"

#define KW_LABEL "enclave.kiln/managed"       /* "true": make this Pod an enclave */
#define KW_ANN_MUTATED "enclave.kiln/mutated" /* set by the patch: never twice */
#define KW_ANN_MEMORY "enclave.kiln/memory"   /* enclave memory (quantity) */
#define KW_ANN_MIN_MEMORY "enclave.kiln/min-memory" /* the image label: 4 x EIF size */
#define KW_ANN_CONTAINER "enclave.kiln/container"   /* which container; default first */
#define KW_ANN_STORAGE "enclave.kiln/storage" /* the image label: storage paths, comma-separated */
#define KW_MAX_STORAGE 16                     /* kiln run's -v limit */
#define KW_NITRO_RESOURCE "aws.ec2.nitro/nitro_enclaves"
#define KW_STATE_VOLUME "kiln-state"
#define KW_STATE_PATH "/run/kiln"
#define KW_MAX_BODY_DEFAULT (1u << 20)

struct kw_config {
	bool hugepages_1g;       /* hugepages-1Gi, else hugepages-2Mi */
	const char *node_key;    /* nodeSelector key=value for enclave nodes */
	const char *node_value;
	const char *tol_key;     /* toleration key=value:effect; NULL key: none */
	const char *tol_value;
	const char *tol_effect;
	unsigned default_cpus;   /* when the container sets no cpu limit */
	uint64_t default_mib;    /* when no enclave.kiln/memory; 0: required */
	bool cpu_pairs;          /* vCPUs come in pairs (x86 with SMT): reject odd */
	size_t max_body;
};

void kw_config_default(struct kw_config *c);

/*
 * Kubernetes quantities ("2", "500m", "1.5", "512Mi", "2Gi", "1e3") as
 * thousandths of the unit; -EINVAL (with the reason) for anything else.
 */
int kw_quantity_milli(const char *s, uint64_t *milli) KILN_MUST;

/*
 * The policy for one Pod object: 0 and *patch (a JSONPatch array as JSON
 * text, malloc'd, or NULL: leave the Pod untouched; why then says what it
 * does); 1 when the Pod is denied, the reason in why; negative on
 * allocation failure.
 */
int kw_mutate(const struct kw_config *c, const json_t *pod, char **patch, char *why,
	      size_t why_len) KILN_MUST;

/*
 * One AdmissionReview body -> the HTTP status and the body to send: 200
 * with an AdmissionReview response, or 400 with a one-line reason.
 * *out is malloc'd; *log (static or in buf) says what was decided.
 */
struct kw_reply {
	int status;
	char *body;
	char log[512];
};
/* validate: a ValidatingWebhookConfiguration's call (/validate): deny or allow, never patch */
int kw_review(const struct kw_config *c, const char *body, size_t len, bool validate,
	      struct kw_reply *r) KILN_MUST;

/* ---- HTTP/1.1 request head (bounded) ---- */
#define KW_MAX_HEAD 16384
#define KW_MAX_HEADERS 64

struct kw_http_req {
	char method[8];
	char path[256];
	char content_type[128];
	uint64_t content_length;
	bool has_length;
	bool chunked;
	bool close;      /* Connection: close, or HTTP/1.0 */
	size_t head_len; /* bytes up to and including the blank line */
};

/*
 * Parse the head in buf[0..len): 0 and *r when complete; -EAGAIN when more
 * bytes are needed (and len < KW_MAX_HEAD); else -EINVAL/-E2BIG with the
 * reason, status 400 or 431 in *status.
 */
int kw_http_parse(const char *buf, size_t len, struct kw_http_req *r, int *status) KILN_MUST;

/* Whether a request with this head may carry an AdmissionReview: 0, or the
 * status (411, 413, 415) with the reason recorded. */
int kw_http_check_review(const struct kw_http_req *r, size_t max_body);

#endif
