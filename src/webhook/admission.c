/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-webhook's policy: an AdmissionReview in, allowed/denied and a JSONPatch out. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhook/webhook.h"

/*
 * How this works: a Pod labelled enclave.kiln/managed=true gets, in its
 * enclave container (the one named by enclave.kiln/container, else the
 * first), the Nitro Enclaves device and hugepages for the enclave's memory
 * as resources, the CPU count, `kiln launch` arguments (--nitro, --cpus,
 * --memory), an emptyDir for kilnd's state, and the node selector and
 * toleration of enclave nodes; the Pod is annotated so it is never mutated
 * twice. The Pod's own volumes and mounts are left as they are: `kiln
 * launch` keeps each storage entry on the volume mounted at its path (a
 * PersistentVolumeClaim); when the Pod carries the image's storage paths
 * (enclave.kiln/storage) a missing or non-persistent mount is denied here
 * instead of failing at start. Every patch op is an RFC 6902 "add" of a member or an array
 * element whose parent is known to exist (or is added whole), so the patch
 * applies to exactly the object reviewed. A Pod that would not run as an
 * enclave is denied with the reason instead (kubectl shows it).
 */

void kw_config_default(struct kw_config *c)
{
	*c = (struct kw_config){ .node_key = "aws-nitro-enclaves-k8s-dp",
				 .node_value = "enabled",
				 .tol_key = "enclave.kiln/nitro",
				 .tol_value = "true",
				 .tol_effect = "NoSchedule",
				 .default_cpus = 2,
				 .cpu_pairs = true,
				 .max_body = KW_MAX_BODY_DEFAULT };
}

/* ---- JSON Pointer and patch ops ---- */

/* One reference token, '~' and '/' escaped (RFC 6901). */
static void escape(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in && o + 3 < len; in++) {
		if (*in == '~' || *in == '/') {
			out[o++] = '~';
			out[o++] = *in == '~' ? '0' : '1';
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

/*
 * The patch is written as JSON text directly: it is the hot path of every
 * admission (building jansson objects and dumping them cost more than the
 * policy). Only fixed keys, numbers and the operator's own settings go into
 * it, the latter escaped by jstr(); nothing of the Pod is copied.
 */
struct patch {
	char *buf;
	size_t len, cap;
	int bad;
	char ctr[64]; /* "/spec/containers/N" */
};

static void emit(struct patch *p, const char *fmt, ...) KILN_PRINTF(2, 3);
static int grow(struct patch *p, size_t need)
{
	size_t cap = (p->cap + need) * 2;
	char *nb = realloc(p->buf, cap);

	if (!nb)
		return -1;
	p->buf = nb;
	p->cap = cap;
	return 0;
}

static void emit(struct patch *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->buf && grow(p, 1024) < 0) {
		p->bad = 1;
		return;
	}
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
		va_end(ap);
		if (n < 0 || ((size_t)n >= p->cap - p->len && grow(p, (size_t)n + 1) < 0)) {
			p->bad = 1;
			return;
		}
		if ((size_t)n < p->cap - p->len) {
			p->len += (size_t)n;
			return;
		}
	}
}

/* s as a JSON string (quotes included); s is short (operator settings). */
static const char *jstr(const char *s, char out[600])
{
	size_t o = 0;

	out[o++] = '"';
	for (; *s && o < 590; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20) {
			o += (size_t)snprintf(out + o, 7, "\\u%04x", ch);
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

/* One op; value is JSON text. */
static void op_add(struct patch *p, const char *path, const char *value)
{
	char q[600];

	emit(p, "%s{\"op\":\"add\",\"path\":%s,\"value\":%s}", p->len > 1 ? "," : "",
	     jstr(path, q), value);
}

/* obj[key] = value (JSON text) in the object at path (which exists when obj does). */
static void add_member(struct patch *p, const char *path, const json_t *obj, const char *key,
		       const char *value)
{
	char k[256], full[512], q[600], v[1024];

	if (!json_is_object(obj)) {
		snprintf(v, sizeof(v), "{%s:%s}", jstr(key, q), value);
		op_add(p, path, v);
		return;
	}
	escape(key, k, sizeof(k));
	snprintf(full, sizeof(full), "%s/%s", path, k);
	op_add(p, full, value);
}

static void append(struct patch *p, const char *path, const json_t *arr, const char *value)
{
	char full[512], v[1024];

	if (!json_is_array(arr)) {
		snprintf(v, sizeof(v), "[%s]", value);
		op_add(p, path, v);
		return;
	}
	snprintf(full, sizeof(full), "%s/-", path);
	op_add(p, full, value);
}

/* ---- reading the Pod ---- */

static const char *str_at(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static const char *meta_str(const json_t *pod, const char *map, const char *key)
{
	return str_at(json_object_get(json_object_get(pod, "metadata"), map), key);
}

/* A quantity written as a string or (hand-made requests) a number. */
static int quantity(const json_t *v, uint64_t *milli)
{
	char num[32];

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		return kw_quantity_milli(num, milli);
	}
	return kw_quantity_milli(json_string_value(v), milli);
}

static int deny(char *why, size_t len, const char *fmt, ...) KILN_PRINTF(3, 4);
static int deny(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return 1;
}

struct plan {
	const json_t *spec, *ctr;
	size_t ctr_index;
	const char *ctr_name;
	uint64_t cpus, mib;
	bool cpu_missing;
	char pages[32]; /* "2048Mi" or "2Gi" */
	long grace;
};

static int pick_container(const json_t *pod, struct plan *pl, char *why, size_t len)
{
	const json_t *ctrs = json_object_get(pl->spec, "containers"), *c;
	const char *want = meta_str(pod, "annotations", KW_ANN_CONTAINER);
	size_t i;

	if (!json_is_array(ctrs) || !json_array_size(ctrs))
		return deny(why, len, "the Pod has no containers");
	json_array_foreach(ctrs, i, c) {
		if (!want || (str_at(c, "name") && !strcmp(str_at(c, "name"), want))) {
			pl->ctr = c;
			pl->ctr_index = i;
			pl->ctr_name = str_at(c, "name") ? str_at(c, "name") : "(unnamed)";
			return 0;
		}
	}
	return deny(why, len, "annotation %s names container \"%.64s\", which the Pod does not have",
		    KW_ANN_CONTAINER, want);
}

/* vCPUs: resources.limits.cpu, else requests.cpu (the limit is then added), else the default. */
static int plan_cpus(const struct kw_config *cfg, struct plan *pl, char *why, size_t len)
{
	const json_t *res = json_object_get(pl->ctr, "resources");
	const json_t *v = json_object_get(json_object_get(res, "limits"), "cpu");
	const char *which = "resources.limits.cpu";
	uint64_t milli;

	if (!v) {
		pl->cpu_missing = true;
		v = json_object_get(json_object_get(res, "requests"), "cpu");
		which = "resources.requests.cpu";
	}
	if (!v) {
		pl->cpus = cfg->default_cpus;
		return 0;
	}
	if (quantity(v, &milli) < 0)
		return deny(why, len, "container %s: %s: %s", pl->ctr_name, which, kiln_errmsg());
	if (milli % 1000 || milli == 0)
		return deny(why, len, "container %s: %s must be a whole number of vCPUs for an "
			    "enclave (got %.3f)", pl->ctr_name, which, (double)milli / 1000);
	pl->cpus = milli / 1000;
	if (cfg->cpu_pairs && pl->cpus % 2)
		return deny(why, len, "container %s: %s is %llu, an odd count: Nitro Enclaves take "
			    "whole cores and on these nodes vCPUs come in pairs (2 per core); use an "
			    "even count such as %llu",
			    pl->ctr_name, which, (unsigned long long)pl->cpus,
			    (unsigned long long)pl->cpus + 1);
	return 0;
}

static int mib_of(const char *what, const char *s, uint64_t *mib, char *why, size_t len)
{
	uint64_t milli;

	if (kw_quantity_milli(s, &milli) < 0)
		return deny(why, len, "annotation %s: %s", what, kiln_errmsg());
	*mib = (milli / 1000 + (1 << 20) - 1) >> 20; /* bytes, rounded up to MiB */
	return 0;
}

static int plan_memory(const struct kw_config *cfg, const json_t *pod, struct plan *pl,
		       char *why, size_t len)
{
	const char *mem = meta_str(pod, "annotations", KW_ANN_MEMORY);
	const char *min = meta_str(pod, "annotations", KW_ANN_MIN_MEMORY);
	uint64_t min_mib = 0;

	if (!mem && !cfg->default_mib)
		return deny(why, len, "annotation %s is missing: set it to the enclave's memory, e.g. "
			    "the image's label %s (skopeo inspect IMAGE)", KW_ANN_MEMORY,
			    KW_ANN_MEMORY);
	pl->mib = cfg->default_mib;
	if (mem && mib_of(KW_ANN_MEMORY, mem, &pl->mib, why, len))
		return 1;
	if (min && mib_of(KW_ANN_MIN_MEMORY, min, &min_mib, why, len))
		return 1;
	if (pl->mib < min_mib || pl->mib < 64)
		return deny(why, len, "enclave memory %llu MiB is below what kiln run needs (%llu MiB: "
			    "4 x the EIF's size, at least 64)", (unsigned long long)pl->mib,
			    (unsigned long long)(min_mib > 64 ? min_mib : 64));
	/* the enclave gets whole pages: round up */
	if (cfg->hugepages_1g) {
		pl->mib = (pl->mib + 1023) / 1024 * 1024;
		snprintf(pl->pages, sizeof(pl->pages), "%lluGi", (unsigned long long)pl->mib / 1024);
	} else {
		pl->mib += pl->mib & 1;
		snprintf(pl->pages, sizeof(pl->pages), "%lluMi", (unsigned long long)pl->mib);
	}
	return 0;
}

/* path is kilnd's state directory or inside it (or NULL: no). */
static bool under_state(const char *path)
{
	size_t n = strlen(KW_STATE_PATH);

	return path && !strncmp(path, KW_STATE_PATH, n) && (!path[n] || path[n] == '/');
}

/* What the patch must not silently override. */
static int check_conflicts(const struct kw_config *cfg, struct plan *pl, char *why, size_t len)
{
	const json_t *v, *vols = json_object_get(pl->spec, "volumes");
	const char *sel = str_at(json_object_get(pl->spec, "nodeSelector"), cfg->node_key);
	size_t i;

	if (json_object_get(pl->ctr, "command"))
		return deny(why, len, "container %s sets command: an enclave image's entrypoint "
			    "(kiln launch) must run; the app's command is in the EIF", pl->ctr_name);
	if (json_object_get(pl->ctr, "args"))
		return deny(why, len, "container %s sets args: the app's arguments are in the EIF "
			    "(kiln.yaml); remove args", pl->ctr_name);
	if (sel && strcmp(sel, cfg->node_value))
		return deny(why, len, "nodeSelector %s=%.64s conflicts with enclave nodes (%s=%s)",
			    cfg->node_key, sel, cfg->node_key, cfg->node_value);
	json_array_foreach(vols, i, v)
		if (str_at(v, "name") && !strcmp(str_at(v, "name"), KW_STATE_VOLUME))
			return deny(why, len, "the Pod already has a volume named %s (kiln's own)",
				    KW_STATE_VOLUME);
	json_array_foreach(json_object_get(pl->ctr, "volumeMounts"), i, v)
		if (under_state(str_at(v, "mountPath")))
			return deny(why, len, "container %s mounts a volume at %.128s, inside kilnd's "
				    "state (%s, kiln's own emptyDir); mount storage volumes at the "
				    "storage paths of kiln.yaml", pl->ctr_name, str_at(v, "mountPath"),
				    KW_STATE_PATH);
	return 0;
}

/* The container's volumeMount at path[0..n) (a trailing '/' ignored), or NULL. */
static const json_t *mount_at(const json_t *ctr, const char *path, size_t n)
{
	const json_t *m;
	size_t i;

	json_array_foreach(json_object_get(ctr, "volumeMounts"), i, m) {
		const char *mp = str_at(m, "mountPath");
		size_t ml = mp ? strlen(mp) : 0;

		while (ml > 1 && mp[ml - 1] == '/')
			ml--;
		if (mp && ml == n && !memcmp(mp, path, n))
			return m;
	}
	return NULL;
}

static const json_t *volume_named(const json_t *spec, const char *name)
{
	const json_t *v;
	size_t i;

	json_array_foreach(json_object_get(spec, "volumes"), i, v)
		if (name && str_at(v, "name") && !strcmp(str_at(v, "name"), name))
			return v;
	return NULL;
}

/* One storage path of the annotation: a writable PVC (or generic ephemeral claim) mounted there. */
static int check_storage_path(const struct plan *pl, const char *path, size_t n, char *why,
			      size_t len)
{
	const json_t *m, *vol;

	while (n > 1 && path[n - 1] == '/')
		n--;
	if (!n || path[0] != '/' || n > 255)
		return deny(why, len, "annotation %s: \"%.*s\" is not an absolute path",
			    KW_ANN_STORAGE, (int)(n > 64 ? 64 : n), path);
	m = mount_at(pl->ctr, path, n);
	if (!m)
		return deny(why, len, "annotation %s: container %s mounts no volume at %.*s: mount a "
			    "persistentVolumeClaim there (volumeMounts) to keep the enclave's "
			    "storage", KW_ANN_STORAGE, pl->ctr_name, (int)n, path);
	if (json_is_true(json_object_get(m, "readOnly")))
		return deny(why, len, "annotation %s: the volumeMount at %.*s is readOnly: kilnd "
			    "writes the encrypted volume there", KW_ANN_STORAGE, (int)n, path);
	vol = volume_named(pl->spec, str_at(m, "name"));
	if (!json_object_get(vol, "persistentVolumeClaim") && !json_object_get(vol, "ephemeral"))
		return deny(why, len, "annotation %s: volume %.64s at %.*s is not a "
			    "persistentVolumeClaim: the enclave's storage would not outlive the Pod",
			    KW_ANN_STORAGE, str_at(m, "name") ? str_at(m, "name") : "(unnamed)",
			    (int)n, path);
	return 0;
}

static int check_storage(const json_t *pod, const struct plan *pl, char *why, size_t len)
{
	const char *s = meta_str(pod, "annotations", KW_ANN_STORAGE);
	unsigned count = 1;

	for (const char *c = s; c && *c; c++)
		count += *c == ',';
	if (s && count > KW_MAX_STORAGE)
		return deny(why, len, "annotation %s: more than %d paths", KW_ANN_STORAGE,
			    KW_MAX_STORAGE);
	while (s && *s) {
		size_t n = strcspn(s, ",");
		const char *p = s;

		s += n + (s[n] == ',');
		while (n && *p == ' ')
			p++, n--;
		while (n && p[n - 1] == ' ')
			n--;
		if (n && check_storage_path(pl, p, n, why, len))
			return 1;
	}
	return 0;
}

static int plan_pod(const struct kw_config *cfg, const json_t *pod, struct plan *pl, char *why,
		    size_t len)
{
	const json_t *g;

	pl->spec = json_object_get(pod, "spec");
	if (!json_is_object(pl->spec))
		return deny(why, len, "the Pod has no spec");
	g = json_object_get(pl->spec, "terminationGracePeriodSeconds");
	pl->grace = json_is_integer(g) ? (long)json_integer_value(g) : 30;
	/* kiln launch must finish before the kubelet's SIGKILL */
	pl->grace = pl->grace > 10 ? pl->grace - 5 : pl->grace * 2 / 3;
	if (pl->grace < 1)
		pl->grace = 1;
	if (pick_container(pod, pl, why, len) || plan_cpus(cfg, pl, why, len) ||
	    plan_memory(cfg, pod, pl, why, len) || check_conflicts(cfg, pl, why, len) ||
	    check_storage(pod, pl, why, len))
		return 1;
	return 0;
}

/* ---- the patch ---- */

static const char *pages_resource(const struct kw_config *cfg)
{
	return cfg->hugepages_1g ? "hugepages-1Gi" : "hugepages-2Mi";
}

static void patch_resources(struct patch *p, const struct kw_config *cfg, const struct plan *pl)
{
	const json_t *res = json_object_get(pl->ctr, "resources");
	const char *hp = pages_resource(cfg);
	const char *sets[] = { "limits", "requests" };
	char path[128], v[512];

	if (!json_is_object(res)) {
		snprintf(path, sizeof(path), "%s/resources", p->ctr);
		snprintf(v, sizeof(v),
			 "{\"limits\":{\"" KW_NITRO_RESOURCE "\":\"1\",\"%s\":\"%s\",\"cpu\":\"%llu\"},"
			 "\"requests\":{\"" KW_NITRO_RESOURCE "\":\"1\",\"%s\":\"%s\",\"cpu\":\"%llu\"}}",
			 hp, pl->pages, (unsigned long long)pl->cpus, hp, pl->pages,
			 (unsigned long long)pl->cpus);
		op_add(p, path, v);
		return;
	}
	for (int i = 0; i < 2; i++) {
		const json_t *set = json_object_get(res, sets[i]);

		snprintf(path, sizeof(path), "%s/resources/%s", p->ctr, sets[i]);
		if (!json_is_object(set)) {
			snprintf(v, sizeof(v), "{\"" KW_NITRO_RESOURCE "\":\"1\",\"%s\":\"%s\"}", hp,
				 pl->pages);
			op_add(p, path, v);
		} else {
			snprintf(v, sizeof(v), "\"%s\"", pl->pages);
			add_member(p, path, set, KW_NITRO_RESOURCE, "\"1\"");
			add_member(p, path, set, hp, v);
		}
		if (pl->cpu_missing && !json_object_get(set, "cpu")) {
			char cp[160];

			/* the set exists now (it was there, or was just added) */
			snprintf(cp, sizeof(cp), "%s/cpu", path);
			snprintf(v, sizeof(v), "\"%llu\"", (unsigned long long)pl->cpus);
			op_add(p, cp, v);
		}
	}
}

static void patch_container(struct patch *p, const struct kw_config *cfg, const struct plan *pl)
{
	const char *hp = pages_resource(cfg);
	char path[128], v[256];

	snprintf(path, sizeof(path), "%s/args", p->ctr);
	snprintf(v, sizeof(v), "[\"--nitro\",\"--cpus\",\"%llu\",\"--memory\",\"%llu\"]",
		 (unsigned long long)pl->cpus, (unsigned long long)pl->mib);
	op_add(p, path, v);
	snprintf(path, sizeof(path), "%s/env", p->ctr);
	snprintf(v, sizeof(v), "{\"name\":\"KILN_GRACE_SECONDS\",\"value\":\"%ld\"}", pl->grace);
	append(p, path, json_object_get(pl->ctr, "env"), v);
	/* the Pod's hugepages as the kubelet grants them: kiln launch checks the EIF fits */
	snprintf(v, sizeof(v), "{\"name\":\"KILN_HUGEPAGES_MIB\",\"valueFrom\":{\"resourceFieldRef\":"
		 "{\"resource\":\"limits.%s\",\"divisor\":\"1Mi\"}}}", hp);
	snprintf(path, sizeof(path), "%s/env/-", p->ctr); /* env exists now */
	op_add(p, path, v);
	snprintf(path, sizeof(path), "%s/volumeMounts", p->ctr);
	append(p, path, json_object_get(pl->ctr, "volumeMounts"),
	       "{\"name\":\"" KW_STATE_VOLUME "\",\"mountPath\":\"" KW_STATE_PATH "\"}");
}

static void patch_pod(struct patch *p, const struct kw_config *cfg, const json_t *pod,
		      const struct plan *pl)
{
	const json_t *meta = json_object_get(pod, "metadata");
	char v[2048], q[4][600];

	append(p, "/spec/volumes", json_object_get(pl->spec, "volumes"),
	       "{\"name\":\"" KW_STATE_VOLUME "\",\"emptyDir\":{\"sizeLimit\":\"1Gi\"}}");
	if (!str_at(json_object_get(pl->spec, "nodeSelector"), cfg->node_key))
		add_member(p, "/spec/nodeSelector", json_object_get(pl->spec, "nodeSelector"),
			   cfg->node_key, jstr(cfg->node_value, q[0]));
	if (cfg->tol_key) {
		snprintf(v, sizeof(v),
			 "{\"key\":%s,\"operator\":\"Equal\",\"value\":%s,\"effect\":%s}",
			 jstr(cfg->tol_key, q[1]), jstr(cfg->tol_value, q[2]),
			 jstr(cfg->tol_effect, q[3]));
		append(p, "/spec/tolerations", json_object_get(pl->spec, "tolerations"), v);
	}
	if (!json_is_object(meta))
		op_add(p, "/metadata", "{\"annotations\":{\"" KW_ANN_MUTATED "\":\"v1\"}}");
	else
		add_member(p, "/metadata/annotations", json_object_get(meta, "annotations"),
			   KW_ANN_MUTATED, "\"v1\"");
}

int kw_mutate(const struct kw_config *cfg, const json_t *pod, char **patch, char *why,
	      size_t len)
{
	struct plan pl = { 0 };
	struct patch p = { 0 };
	const char *label = meta_str(pod, "labels", KW_LABEL);

	*patch = NULL;
	if (!label || strcmp(label, "true") || meta_str(pod, "annotations", KW_ANN_MUTATED))
		return 0;
	if (plan_pod(cfg, pod, &pl, why, len))
		return 1;
	emit(&p, "[");
	snprintf(p.ctr, sizeof(p.ctr), "/spec/containers/%zu", pl.ctr_index);
	patch_resources(&p, cfg, &pl);
	patch_container(&p, cfg, &pl);
	patch_pod(&p, cfg, pod, &pl);
	emit(&p, "]");
	if (p.bad) {
		free(p.buf);
		return kiln_err(ENOMEM, "out of memory");
	}
	*patch = p.buf;
	snprintf(why, len, "container %s: %llu vCPUs, %llu MiB (%s %s)", pl.ctr_name,
		 (unsigned long long)pl.cpus, (unsigned long long)pl.mib,
		 pages_resource(cfg), pl.pages);
	return 0;
}
