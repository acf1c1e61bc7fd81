/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's secrets: validate secrets[], one attestation, parallel KMS Decrypt, env and tmpfs files. */
#include "init/secrets.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "aws/creds.h"
#include "aws/kms.h"
#include "chan/addr.h"
#include "nsm/nsm.h"
#include "util/secure.h"

#define SECRETS_MAX 256
#define CIPHERTEXT_MAX 8192 /* base64 characters; KMS ciphertexts are ~ 200-6200 */
#define NSM_TIMEOUT_MS 5000
#define PRECONNECT_MS 2000 /* connecting ahead is an optimisation: never wait long on it */
#define DEFAULT_DIR "/run/secrets"

struct secret {
	char name[128];
	const char *ciphertext; /* borrowed from the config */
	const char *key_id;
	bool optional, to_env;
	char path[PATH_MAX];
	mode_t mode;
	uid_t uid;
	gid_t gid;
	/* results (one worker each) */
	int rc;
	char err[600];
	uint8_t *pt;
	size_t pt_len;
};

struct kiln_init_secrets {
	struct secret *s;
	size_t n;
	char **env; /* kiln-init's copies of "NAME=value", wiped after the fork */
	size_t nenv;
};

/* ---- secrets[] from the config ---- */

static bool env_name_ok(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") ==
	       strlen(s);
}

static int parse_mode(const char *s, mode_t *mode)
{
	char *end;
	long v = strtol(s, &end, 8);
	if (!*s || *end || v < 0 || v > 0777)
		return kiln_err(EINVAL, "mode \"%.16s\" is not an octal mode up to 0777", s);
	*mode = (mode_t)v;
	return 0;
}

/* "file" (DEFAULT_DIR/NAME) or "file:/absolute/path" without . or .. parts. */
static int parse_target(struct secret *s, const char *to)
{
	if (strcmp(to, "env") == 0) {
		s->to_env = true;
		return env_name_ok(s->name) ? 0 : kiln_err(EINVAL, "to: env needs a name that is "
								 "an environment variable name");
	}
	if (strcmp(to, "file") == 0) {
		snprintf(s->path, sizeof(s->path), "%s/%s", DEFAULT_DIR, s->name);
		return 0;
	}
	if (strncmp(to, "file:", 5) != 0)
		return kiln_err(EINVAL, "to \"%.64s\" is not env, file or file:/PATH", to);
	const char *p = to + 5;
	if (p[0] != '/' || strlen(p) >= sizeof(s->path) || p[strlen(p) - 1] == '/' ||
	    strstr(p, "/./") || strstr(p, "/../") || strstr(p, "//") ||
	    (strlen(p) >= 2 && strcmp(p + strlen(p) - 2, "/.") == 0) ||
	    (strlen(p) >= 3 && strcmp(p + strlen(p) - 3, "/..") == 0))
		return kiln_err(EINVAL, "to: file:%.64s is not a plain absolute file path", p);
	snprintf(s->path, sizeof(s->path), "%s", p);
	return 0;
}

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int parse_one(const json_t *e, const struct kiln_user *app_user, struct secret *s)
{
	const char *name = str(e, "name"), *ct = str(e, "kms_ciphertext");
	const char *to = str(e, "to"), *mode = str(e, "mode"), *owner = str(e, "owner");
	uint8_t *raw = NULL;
	size_t rawn = 0;

	if (!json_is_object(e))
		return kiln_err(EINVAL, "not a mapping");
	if (!name || !*name || strlen(name) >= sizeof(s->name) ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
		    strlen(name) || name[0] == '.')
		return kiln_err(EINVAL, "name must be 1-127 of A-Z a-z 0-9 _ . - (not starting "
					"with .)");
	snprintf(s->name, sizeof(s->name), "%s", name);
	if (!ct || strlen(ct) > CIPHERTEXT_MAX || aws_b64_decode(ct, &raw, &rawn) < 0)
		return kiln_err(EINVAL, "kms_ciphertext is missing or not base64 (kiln secret "
					"encrypt prints it)");
	free(raw);
	s->ciphertext = ct;
	s->key_id = str(e, "key_id");
	s->optional = json_is_true(json_object_get(e, "optional"));
	int rc = parse_target(s, to ? to : "env");
	if (rc == 0)
		rc = parse_mode(mode ? mode : "0400", &s->mode);
	s->uid = app_user->uid;
	s->gid = app_user->gid;
	if (rc == 0 && owner && !s->to_env) {
		struct kiln_user u;
		rc = kiln_user_lookup("/", owner, &u);
		if (rc < 0)
			return kiln_err_wrap(rc, "owner \"%.64s\"", owner);
		s->uid = u.uid;
		s->gid = u.gid;
	}
	return rc;
}

static int parse_all(const json_t *list, const struct kiln_user *app_user, struct secret **out,
		     size_t *n)
{
	size_t count = json_array_size(list);
	*out = NULL;
	*n = 0;
	if (count == 0)
		return 0;
	if (count > SECRETS_MAX)
		return kiln_err(EINVAL, "more than %d secrets", SECRETS_MAX);
	struct secret *s = calloc(count, sizeof(*s));
	if (!s)
		return kiln_err(ENOMEM, "out of memory");
	for (size_t i = 0; i < count; i++) {
		int rc = parse_one(json_array_get(list, i), app_user, &s[i]);
		for (size_t j = 0; rc == 0 && j < i; j++) {
			if (strcmp(s[i].name, s[j].name) == 0)
				rc = kiln_err(EINVAL, "name used twice");
			else if (!s[i].to_env && !s[j].to_env && strcmp(s[i].path, s[j].path) == 0)
				rc = kiln_err(EINVAL, "file %s used twice", s[i].path);
		}
		if (rc < 0) {
			rc = kiln_err_wrap(rc, "secrets[%zu]%s%s", i, s[i].name[0] ? " " : "",
					   s[i].name);
			free(s);
			return rc;
		}
	}
	*out = s;
	*n = count;
	return 0;
}

/* ---- KMS and credentials from the config's kms: block ---- */

int kiln_init_kms_new(const json_t *kms, struct aws_creds_src *creds, struct aws_kms **k,
		      int *conns)
{
	const char *region = str(kms, "region"), *cred = str(kms, "credentials");
	json_t *t = json_object_get(kms, "timeout_s"), *c = json_object_get(kms, "connections");
	int rc;

	if (!region)
		return kiln_err(EINVAL, "kms.region is required for secrets and key: kms volumes");
	if (cred && strcmp(cred, "static") == 0) {
		const char *ak = str(kms, "access_key_id"), *sk = str(kms, "secret_access_key");
		if (ak || sk) {
			rc = aws_creds_src_static(creds, ak, sk, NULL);
		} else {
			rc = aws_creds_src_env(creds);
		}
		if (rc == 0 && (ak || sk))
			fprintf(stderr, "kiln-init: warning: kms: static credentials from kiln.yaml "
					"(they are in the EIF: for kiln dev-kms and tests only)\n");
	} else if (!cred || strcmp(cred, "imds") == 0) {
		rc = aws_creds_src_imds(creds, str(kms, "imds_endpoint"));
	} else {
		rc = kiln_err(EINVAL, "kms.credentials \"%.32s\" is not imds or static", cred);
	}
	if (rc < 0)
		return kiln_err_wrap(rc, "kms");
	struct aws_kms_opts o = { region, str(kms, "endpoint"), str(kms, "ca_bundle"),
				  json_is_integer(t) ? (int)json_integer_value(t) * 1000 : 30000 };
	*conns = json_is_integer(c) ? (int)json_integer_value(c) : 4;
	if (*conns < 1 || *conns > 16)
		*conns = 4;
	rc = aws_kms_new(&o, creds, k);
	if (rc < 0) {
		aws_creds_src_free(creds);
		return kiln_err_wrap(rc, "kms");
	}
	return 0;
}

/* ---- the parallel decryption ---- */

struct pool {
	struct aws_kms *kms;
	const struct aws_kms_recipient *rcpt; /* set before go */
	struct secret *s;
	size_t n;
	atomic_size_t next;
	atomic_bool stop; /* a required secret failed: start no more */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool go;          /* rcpt is ready (or stop is set) */
	pthread_t t[16];
	int started;
};

static const char *reason(int rc)
{
	switch (-rc) {
	case EACCES: return "denied";
	case EBADMSG: return "bad ciphertext or KMS answer";
	case ENOENT: return "not found";
	case EINVAL: return "rejected by KMS";
	case EPROTO: return "TLS failure";
	case ETIMEDOUT:
	case ECONNREFUSED:
	case ECONNRESET:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EAGAIN: return "KMS unreachable or unavailable";
	default: return "failed";
	}
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	struct aws_http_client *conn = NULL;
	int crc = aws_kms_conn(p->kms, &conn);

	/* TCP and TLS while the key and the attestation document are made. */
	if (crc == 0 && aws_kms_conn_open(p->kms, conn, PRECONNECT_MS) < 0)
		kiln_err_clear(); /* the first call connects again and reports */
	pthread_mutex_lock(&p->mu);
	while (!p->go)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	for (;;) {
		if (atomic_load(&p->stop))
			break;
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->n)
			break;
		struct secret *s = &p->s[i];
		s->rc = crc < 0 ? crc
				: aws_kms_decrypt_recipient(p->kms, conn, s->ciphertext, s->key_id,
							    p->rcpt, &s->pt, &s->pt_len);
		if (s->rc < 0) {
			snprintf(s->err, sizeof(s->err), "%s: %s", reason(s->rc), kiln_errmsg());
			if (!s->optional)
				atomic_store(&p->stop, true);
		}
	}
	aws_http_client_free(conn);
	return NULL;
}

/* Start the workers: they connect, then wait for pool_finish(). */
static void pool_start(struct pool *p, struct aws_kms *kms, struct secret *s, size_t n, int conns)
{
	sigset_t all, old;

	*p = (struct pool){ .kms = kms, .s = s, .n = n };
	atomic_init(&p->next, 0);
	atomic_init(&p->stop, false);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old); /* signals stay the main thread's */
	for (int i = 0; i < conns && (size_t)i < n; i++)
		if (pthread_create(&p->t[p->started], NULL, worker, p) == 0)
			p->started++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Decrypt everything for rcpt (NULL: nothing, the workers just quit) and wait. */
static void pool_finish(struct pool *p, const struct aws_kms_recipient *rcpt)
{
	pthread_mutex_lock(&p->mu);
	p->rcpt = rcpt;
	if (!rcpt)
		atomic_store(&p->stop, true);
	p->go = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->started == 0 && rcpt)
		worker(p);
	for (int i = 0; i < p->started; i++)
		pthread_join(p->t[i], NULL);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	/* Secrets never started because a required one failed first. */
	for (size_t i = 0; rcpt && i < p->n; i++)
		if (!p->s[i].rc && !p->s[i].pt) {
			p->s[i].rc = -ECANCELED;
			snprintf(p->s[i].err, sizeof(p->s[i].err), "not fetched: another secret failed");
		}
}

/* ---- applying: env and tmpfs files ---- */

static int mkdirs(const char *path)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return kiln_err(errno, "mkdir %s: %s", p, strerror(errno));
		*s = '/';
	}
	return 0;
}

static int on_tmpfs(const char *path)
{
	char dir[PATH_MAX];
	struct statfs st;
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (statfs(dir, &st) < 0)
		return kiln_err(errno, "statfs %s: %s", dir, strerror(errno));
	if (st.f_type != TMPFS_MAGIC && st.f_type != RAMFS_MAGIC)
		return kiln_err(EXDEV, "%s is not on a tmpfs (use /run/secrets/...)", dir);
	return 0;
}

static int write_file(const struct secret *s)
{
	char tmp[PATH_MAX + 16];
	int rc = mkdirs(s->path);
	if (rc == 0)
		rc = on_tmpfs(s->path);
	if (rc < 0)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s.kiln-tmp", s->path);
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return kiln_err(errno, "create %s: %s", tmp, strerror(errno));
	size_t off = 0;
	while (rc == 0 && off < s->pt_len) {
		ssize_t w = write(fd, s->pt + off, s->pt_len - off);
		if (w < 0 && errno != EINTR)
			rc = kiln_err(errno, "write %s: %s", tmp, strerror(errno));
		else if (w > 0)
			off += (size_t)w;
	}
	if (rc == 0 && fchown(fd, s->uid, s->gid) < 0)
		rc = kiln_err(errno, "chown %s to %u:%u: %s", s->path, (unsigned)s->uid,
			      (unsigned)s->gid, strerror(errno));
	if (rc == 0 && fchmod(fd, s->mode) < 0)
		rc = kiln_err(errno, "chmod %s: %s", s->path, strerror(errno));
	close(fd);
	if (rc == 0 && rename(tmp, s->path) < 0)
		rc = kiln_err(errno, "rename to %s: %s", s->path, strerror(errno));
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* Set NAME=value in cfg->env (replacing an image default); keep our copy to wipe. */
static int set_env(struct kiln_init_secrets *h, struct kiln_init_config *cfg,
		   const struct secret *s)
{
	if (memchr(s->pt, 0, s->pt_len))
		return kiln_err(EINVAL, "the value has a NUL byte: use to: file");
	size_t nl = strlen(s->name), len = nl + 1 + s->pt_len + 1;
	char *e = malloc(len);
	char **v = realloc(cfg->env, (cfg->nenv + 2) * sizeof(*v));
	char **w = realloc(h->env, (h->nenv + 1) * sizeof(*w));
	if (v)
		cfg->env = v;
	if (w)
		h->env = w;
	if (!e || !v || !w) {
		free(e);
		return kiln_err(ENOMEM, "out of memory");
	}
	memcpy(e, s->name, nl);
	e[nl] = '=';
	memcpy(e + nl + 1, s->pt, s->pt_len);
	e[len - 1] = '\0';
	h->env[h->nenv++] = e;
	for (size_t i = 0; i < cfg->nenv; i++) {
		if (strncmp(cfg->env[i], e, nl + 1) == 0) {
			free(cfg->env[i]);
			cfg->env[i] = e;
			return 0;
		}
	}
	cfg->env[cfg->nenv++] = e;
	cfg->env[cfg->nenv] = NULL;
	return 0;
}

/* The first required secret that could not be fetched, as the boot's error. */
static int first_failure(const struct kiln_init_secrets *h)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->s[i].rc < 0 && !h->s[i].optional && h->s[i].rc != -ECANCELED)
			return kiln_err(-h->s[i].rc, "secret %s: %s", h->s[i].name, h->s[i].err);
	return 0;
}

/* One log line per failure; < 0 when a required secret failed. */
static int apply_all(struct kiln_init_secrets *h, struct kiln_init_config *cfg)
{
	size_t envs = 0, files = 0, skipped = 0;
	int fatal = first_failure(h);
	if (fatal)
		return fatal; /* nothing applied: the boot stops */
	for (size_t i = 0; i < h->n; i++) {
		struct secret *s = &h->s[i];
		if (s->rc == 0) {
			s->rc = s->to_env ? set_env(h, cfg, s) : write_file(s);
			if (s->rc < 0)
				snprintf(s->err, sizeof(s->err), "%s", kiln_errmsg());
		}
		if (s->pt)
			kiln_free_secret(s->pt, s->pt_len);
		s->pt = NULL;
		if (s->rc == 0) {
			envs += s->to_env;
			files += !s->to_env;
		} else if (s->optional) {
			skipped++;
			fprintf(stderr, "kiln-init: warning: secret %s (optional) skipped: %s\n",
				s->name, s->err);
		} else if (!fatal && s->rc != -ECANCELED) {
			fatal = kiln_err(-s->rc, "secret %s: %s", s->name, s->err);
		}
	}
	if (fatal)
		return fatal;
	fprintf(stderr, "kiln-init: secrets: %zu to the environment, %zu to files, %zu optional "
			"skipped\n", envs, files, skipped);
	return 0;
}

static void free_handle(struct kiln_init_secrets *h)
{
	for (size_t i = 0; h && i < h->n; i++)
		if (h->s[i].pt)
			kiln_free_secret(h->s[i].pt, h->s[i].pt_len);
	if (h) {
		free(h->s);
		free(h->env);
		free(h);
	}
}

void kiln_init_secrets_forked(void *secrets)
{
	struct kiln_init_secrets *h = secrets;
	for (size_t i = 0; h && i < h->nenv; i++)
		kiln_wipe(h->env[i], strlen(h->env[i])); /* cfg->env still owns the buffer */
}

/* ---- the recipient key, made in the background from kiln-init's start ---- */

static struct {
	pthread_t t;
	bool started;
	int rc;
	char err[256];
	struct aws_kms_recipient r;
} early;

static void *keygen(void *arg)
{
	early.rc = aws_kms_recipient_key(&early.r);
	if (early.rc < 0)
		snprintf(early.err, sizeof(early.err), "%s", kiln_errmsg());
	return arg;
}

/* A storage entry whose key KMS wraps (key: kms, the default) needs the recipient too. */
static bool storage_uses_kms(const json_t *config)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(config, "storage"), i, e) {
		const char *key = json_string_value(json_object_get(e, "key"));
		if (!key || !strcmp(key, "kms"))
			return true;
	}
	return false;
}

void kiln_init_secrets_prepare(const json_t *config)
{
	sigset_t all, old;
	if (early.started || (json_array_size(json_object_get(config, "secrets")) == 0 &&
			      !storage_uses_kms(config)))
		return;
	/* The thread takes no signals: they stay the supervisor's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	early.started = pthread_create(&early.t, NULL, keygen, NULL) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* The key from kiln_init_secrets_prepare(), or a new one. */
static int recipient_key(struct aws_kms_recipient *r)
{
	if (!early.started)
		return aws_kms_recipient_key(r);
	pthread_join(early.t, NULL);
	early.started = false;
	if (early.rc < 0)
		return kiln_err(-early.rc, "%s", early.err);
	*r = early.r;
	memset(&early.r, 0, sizeof(early.r));
	return 0;
}

/*
 * One RSA key and one attestation document naming it per boot, shared by
 * key: kms volumes (mounted first) and secrets; wiped once secrets are done.
 */
static struct {
	bool made;
	struct aws_kms_recipient r;
	uint8_t *doc;
} shared;

int kiln_init_kms_recipient(kiln_secrets_attest_fn attest, void *ctx,
			    const struct aws_kms_recipient **out)
{
	size_t len = 0;
	int rc;

	if (shared.made) {
		*out = &shared.r;
		return 0;
	}
	rc = recipient_key(&shared.r);
	if (rc < 0)
		return rc;
	rc = attest(ctx, shared.r.spki, shared.r.spki_len, &shared.doc, &len);
	if (rc < 0) {
		aws_kms_recipient_free(&shared.r);
		free(shared.doc);
		shared.doc = NULL;
		return kiln_err_wrap(rc, "attestation document for KMS");
	}
	shared.r.doc = shared.doc;
	shared.r.doc_len = len;
	shared.made = true;
	*out = &shared.r;
	return 0;
}

void kiln_init_kms_recipient_done(void)
{
	struct aws_kms_recipient unused;

	/* A key made early that no one took (a mount failed first) is wiped too. */
	if (early.started && recipient_key(&unused) == 0)
		aws_kms_recipient_free(&unused);
	if (!shared.made)
		return;
	aws_kms_recipient_free(&shared.r);
	free(shared.doc);
	memset(&shared, 0, sizeof(shared));
}

static int fetch(const json_t *config, struct kiln_init_secrets *h, kiln_secrets_attest_fn attest,
		 void *ctx)
{
	struct aws_creds_src creds;
	struct aws_kms *kms = NULL;
	const struct aws_kms_recipient *rcpt;
	int conns = 4;

	int rc = kiln_init_kms_new(json_object_get(config, "kms"), &creds, &kms, &conns);
	if (rc < 0)
		return rc;
	/* The connections open while the key and the document are made. */
	struct pool p;

	pool_start(&p, kms, h->s, h->n, conns);
	rc = kiln_init_kms_recipient(attest, ctx, &rcpt);
	pool_finish(&p, rc == 0 ? rcpt : NULL);
	aws_kms_free(kms);
	aws_creds_src_free(&creds);
	return rc;
}

int kiln_init_secrets_run(const json_t *config, kiln_secrets_attest_fn attest, void *ctx,
			  const struct kiln_user *app_user, struct kiln_init_config *cfg,
			  struct kiln_init_secrets **out)
{
	struct kiln_init_secrets *h = calloc(1, sizeof(*h));
	*out = NULL;
	if (!h) {
		kiln_init_kms_recipient_done();
		return kiln_err(ENOMEM, "out of memory");
	}
	int rc = parse_all(json_object_get(config, "secrets"), app_user, &h->s, &h->n);
	if (rc == 0 && h->n == 0) {
		free_handle(h);
		kiln_init_kms_recipient_done();
		return 0;
	}
	if (rc == 0)
		rc = fetch(config, h, attest, ctx);
	kiln_init_kms_recipient_done();
	if (rc == 0)
		rc = apply_all(h, cfg);
	if (rc < 0) {
		kiln_init_secrets_forked(h); /* nothing will start: wipe now */
		free_handle(h);
		return rc;
	}
	*out = h;
	return 0;
}

/* ---- the NSM as attestation source ---- */

int kiln_init_secrets_nsm_attest(void *ctx, const uint8_t *spki, size_t spki_len,
				 uint8_t **doc, size_t *doc_len)
{
	const char *chan_dir = ctx; /* sim: the channel directory, "" over vsock; NULL: /dev/nsm */
	struct kiln_nsm *nsm = NULL;
	struct kiln_chan_addr addr;
	int rc;

	if (access("/dev/nsm", F_OK) == 0 || !chan_dir) {
		rc = kiln_nsm_open_dev("/dev/nsm", &nsm);
	} else {
		rc = kiln_chan_parent_addr(chan_dir[0] ? chan_dir : NULL, KILN_PORT_NSM, &addr);
		int fd = rc < 0 ? rc : kiln_chan_connect(&addr, NSM_TIMEOUT_MS, 0);
		rc = fd < 0 ? kiln_err_wrap(fd, "sim NSM") : kiln_nsm_open_stream(fd, NSM_TIMEOUT_MS, &nsm);
	}
	if (rc < 0)
		return rc;
	struct kiln_nsm_blob pk = { spki, spki_len };
	rc = kiln_nsm_attestation(nsm, NULL, NULL, &pk, doc, doc_len);
	kiln_nsm_close(nsm);
	return rc;
}
