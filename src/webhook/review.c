/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-webhook: an admission.k8s.io/v1 AdmissionReview body in, the reply out. */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhook/webhook.h"

/*
 * The body is untrusted: parsed by jansson within its length (no NUL
 * needed), duplicate keys refused, and every field read with a type check.
 * A body that is not an AdmissionReview is a 400 with the reason; a Pod
 * the policy refuses is a 200 with allowed=false and the reason, which the
 * API server shows to the user.
 */

static int bad_request(struct kw_reply *r, const char *fmt, ...) KILN_PRINTF(2, 3);
static int bad_request(struct kw_reply *r, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->status = 400;
	r->body = strdup(msg);
	snprintf(r->log, sizeof(r->log), "400: %s", msg);
	return r->body ? 0 : kiln_err(ENOMEM, "out of memory");
}

static char *b64(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(4 * ((n + 2) / 3) + 1);

	if (out)
		EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	return out;
}

/* {"apiVersion":...,"kind":"AdmissionReview","response":resp} as the body. */
static int reply(struct kw_reply *r, json_t *resp)
{
	json_t *doc = json_pack("{s:s,s:s,s:o}", "apiVersion", "admission.k8s.io/v1", "kind",
				"AdmissionReview", "response", resp);

	r->status = 200;
	r->body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return r->body ? 0 : kiln_err(ENOMEM, "out of memory");
}

/* The hot path's answer, without building JSON objects: uid is checked to be plain. */
static int reply_patch(struct kw_reply *r, const char *uid, const char *b64patch)
{
	static const char fmt[] = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
				  "\"response\":{\"uid\":\"%s\",\"allowed\":true,\"patchType\":"
				  "\"JSONPatch\",\"patch\":\"%s\"}}";
	size_t n = sizeof(fmt) + strlen(uid) + strlen(b64patch);

	r->status = 200;
	r->body = malloc(n);
	if (!r->body)
		return kiln_err(ENOMEM, "out of memory");
	snprintf(r->body, n, fmt, uid, b64patch);
	return 0;
}

static int decide(const struct kw_config *c, const json_t *req, const char *uid, bool validate,
		  struct kw_reply *r)
{
	const json_t *pod = json_object_get(req, "object");
	const char *ns = json_string_value(json_object_get(req, "namespace"));
	const json_t *meta = json_object_get(pod, "metadata");
	const char *name = json_string_value(json_object_get(meta, "name"));
	char why[512] = "", *patch = NULL, *enc;
	int rc;

	if (!name)
		name = json_string_value(json_object_get(meta, "generateName"));
	rc = kw_mutate(c, pod, &patch, why, sizeof(why));
	if (rc < 0)
		return rc;
	if (rc == 1) {
		snprintf(r->log, sizeof(r->log), "denied %.64s/%.64s: %s", ns ? ns : "-",
			 name ? name : "-", why);
		return reply(r, json_pack("{s:s,s:b,s:{s:i,s:s,s:s}}", "uid", uid, "allowed", 0,
					  "status", "code", 403, "reason", "Forbidden", "message",
					  why));
	}
	if (validate) { /* a validating call: what would be patched is allowed as is */
		free(patch);
		patch = NULL;
	}
	if (!patch) {
		snprintf(r->log, sizeof(r->log), "untouched %.64s/%.64s", ns ? ns : "-",
			 name ? name : "-");
		return reply(r, json_pack("{s:s,s:b}", "uid", uid, "allowed", 1));
	}
	enc = b64(patch);
	free(patch);
	if (!enc)
		return kiln_err(ENOMEM, "out of memory");
	snprintf(r->log, sizeof(r->log), "mutated %.64s/%.64s: %s", ns ? ns : "-",
		 name ? name : "-", why);
	rc = reply_patch(r, uid, enc);
	free(enc);
	return rc;
}

/* A uid as the API server sends (a UUID): copied into answers unescaped. */
static bool plain_uid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:", s[i]))
			return false;
	return true;
}

/*
 * Workloads (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob):
 * their Pods are admitted one by one later, and a denial then shows only in
 * the controller's events. So the pod template is checked when the workload
 * is written, and refused with the same reason kubectl shows at once; it is
 * never patched (the Pods are).
 */
static const json_t *pod_template(const char *kind, const json_t *obj)
{
	static const char *const kinds[] = { "Deployment", "StatefulSet", "DaemonSet",
					     "ReplicaSet", "Job" };
	const json_t *spec = json_object_get(obj, "spec");

	if (!strcmp(kind, "CronJob"))
		return json_object_get(json_object_get(json_object_get(spec, "jobTemplate"), "spec"),
				       "template");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kind, kinds[i]))
			return json_object_get(spec, "template");
	return NULL;
}

static int check_template(const struct kw_config *c, const char *kind, const json_t *tmpl,
			  const char *uid, struct kw_reply *r)
{
	char why[512] = "", msg[600], *patch = NULL;
	int rc = json_is_object(tmpl) ? kw_mutate(c, tmpl, &patch, why, sizeof(why)) : 0;

	free(patch);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		snprintf(r->log, sizeof(r->log), "template of a %.32s: ok", kind);
		return reply(r, json_pack("{s:s,s:b}", "uid", uid, "allowed", 1));
	}
	snprintf(msg, sizeof(msg), "pod template: %s", why);
	snprintf(r->log, sizeof(r->log), "denied a %.32s: %.400s", kind, msg);
	return reply(r, json_pack("{s:s,s:b,s:{s:i,s:s,s:s}}", "uid", uid, "allowed", 0, "status",
				  "code", 403, "reason", "Forbidden", "message", msg));
}

static int review_doc(const struct kw_config *c, const json_t *doc, bool validate,
		      struct kw_reply *r)
{
	const json_t *req = json_object_get(doc, "request");
	const char *api = json_string_value(json_object_get(doc, "apiVersion"));
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	const char *uid = json_string_value(json_object_get(req, "uid"));
	const char *op = json_string_value(json_object_get(req, "operation"));
	const json_t *k = json_object_get(req, "kind");
	const char *rk = json_string_value(json_object_get(k, "kind"));

	if (!json_is_object(doc))
		return bad_request(r, "%s", "body is not a JSON object");
	if (!api || strcmp(api, "admission.k8s.io/v1"))
		return bad_request(r, "apiVersion \"%.64s\" is not admission.k8s.io/v1", api ? api : "");
	if (!kind || strcmp(kind, "AdmissionReview"))
		return bad_request(r, "kind \"%.64s\" is not AdmissionReview", kind ? kind : "");
	if (!json_is_object(req))
		return bad_request(r, "%s", "AdmissionReview has no request");
	if (!plain_uid(uid))
		return bad_request(r, "%s", "request.uid is missing, or not a UUID-like string");
	if (rk && op && (!strcmp(op, "CREATE") || !strcmp(op, "UPDATE")) &&
	    !json_string_value(json_object_get(req, "subResource")) &&
	    pod_template(rk, json_object_get(req, "object")))
		return check_template(c, rk, pod_template(rk, json_object_get(req, "object")), uid, r);
	/* only Pod CREATE is ours; anything else routed here is let through */
	if (!rk || strcmp(rk, "Pod") || !op || strcmp(op, "CREATE") ||
	    json_string_value(json_object_get(req, "subResource"))) {
		snprintf(r->log, sizeof(r->log), "untouched %.32s %.16s", rk ? rk : "-", op ? op : "-");
		return reply(r, json_pack("{s:s,s:b}", "uid", uid, "allowed", 1));
	}
	if (!json_is_object(json_object_get(req, "object")))
		return bad_request(r, "%s", "request.object (the Pod) is missing");
	return decide(c, req, uid, validate, r);
}

/*
 * Parsing a review is most of the webhook's CPU, and most of that was
 * jansson's many small mallocs and frees (perf: malloc/free about a sixth
 * of the samples; bench/README.md).
 * So the parse takes its memory from a buffer on the request's stack:
 * jansson's allocator hands out pieces of it while the parse runs, its free
 * ignores pointers into it, and it is dropped with the document when the
 * review is answered. A parse needing more (a large Pod) falls back to
 * malloc; everything allocated after the parse (the answer) is malloc'd.
 */
#define ARENA_SIZE (64 * 1024) /* a Pod with managedFields, as the API server sends it */

struct arena {
	_Alignas(16) unsigned char buf[ARENA_SIZE];
	size_t used;
};

static __thread struct arena *parsing; /* this thread's parse in progress */

static bool in_arena(const struct arena *a, const void *p)
{
	return a && (uintptr_t)p >= (uintptr_t)a->buf && (uintptr_t)p < (uintptr_t)(a->buf + ARENA_SIZE);
}

static void *arena_malloc(size_t n)
{
	struct arena *a = parsing;
	size_t need = (n + 15) & ~(size_t)15;

	if (!a || need < n || need > ARENA_SIZE - a->used)
		return malloc(n);
	a->used += need;
	return a->buf + a->used - need;
}

static __thread struct arena *live; /* the document's arena until it is dropped */

static void arena_free(void *p)
{
	if (!in_arena(live, p))
		free(p);
}

static void use_arena(void)
{
	json_set_alloc_funcs(arena_malloc, arena_free);
}

int kw_review(const struct kw_config *c, const char *body, size_t len, bool validate,
	      struct kw_reply *r)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct arena a;
	json_error_t e;
	json_t *doc;
	int rc;

	memset(r, 0, sizeof(*r));
	if (len > c->max_body)
		return bad_request(r, "%s", "body too large");
	pthread_once(&once, use_arena);
	a.used = 0;
	parsing = live = &a;
	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
	parsing = NULL;
	if (!doc) {
		live = NULL;
		char msg[220];

		snprintf(msg, sizeof(msg), "malformed JSON at line %d column %d: %.160s", e.line,
			 e.column, e.text);
		return bad_request(r, "%s", msg);
	}
	rc = review_doc(c, doc, validate, r);
	json_decref(doc);
	live = NULL;
	return rc;
}
