/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's secrets against the fake KMS (kiln dev-kms lands on another branch): env, files, failures. */
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "fake_kms.h"
#include "init/config.h"
#include "init/secrets.h"
#include "t.h"

static struct aws_creds_src creds; /* unused here; fake_kms.h's tests use it */
static int attest_calls;

/* The fake KMS takes the recipient's SPKI as its "attestation document". */
static int fake_attest(void *ctx, const uint8_t *spki, size_t n, uint8_t **doc, size_t *len)
{
	attest_calls++;
	*doc = malloc(n);
	memcpy(*doc, spki, n);
	*len = n;
	return 0;
}

/* Waits (bounded) for wait_accepts connections to the fake KMS, then attests. */
static int wait_accepts;
static bool saw_accepts;

static int attest_after_connects(void *ctx, const uint8_t *spki, size_t n, uint8_t **doc,
				 size_t *len)
{
	for (int i = 0; i < 10000 && !saw_accepts; i++) {
		pthread_mutex_lock(&srv.mu);
		saw_accepts = srv.accepts >= wait_accepts;
		pthread_mutex_unlock(&srv.mu);
		if (!saw_accepts)
			usleep(1000);
	}
	return fake_attest(ctx, spki, n, doc, len);
}

static char *fake_ct(const char *value, size_t n)
{
	uint8_t buf[256];
	char *out = NULL;
	memcpy(buf, "KILNFAKE", 8);
	memcpy(buf + 8, value, n);
	CHECK(aws_b64_encode(buf, n + 8, &out) == 0);
	return out;
}

static char shm[] = "/dev/shm/kiln-test-secrets-XXXXXX";

static json_t *base_config(const char *ep, int timeout_s)
{
	return json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i}, s:[]}", "kms", "region",
			 "us-east-1", "endpoint", ep, "ca_bundle", ca_good, "credentials", "static",
			 "access_key_id", AKID, "secret_access_key", SECRET, "connections", 3,
			 "timeout_s", timeout_s, "secrets");
}

static void add(json_t *c, const char *name, const char *ct, const char *to, const char *mode,
		bool optional)
{
	json_t *e = json_pack("{s:s, s:s}", "name", name, "kms_ciphertext", ct);
	if (to)
		json_object_set_new(e, "to", json_string(to));
	if (mode)
		json_object_set_new(e, "mode", json_string(mode));
	if (optional)
		json_object_set_new(e, "optional", json_true());
	json_array_append_new(json_object_get(c, "secrets"), e);
}

static struct kiln_init_config app_config(void)
{
	static const char text[] = "{\"entrypoint\": [\"/bin/app\"], "
				   "\"env\": [\"DB_PASSWORD=placeholder\", \"PATH=/bin\"]}";
	struct kiln_init_config cfg;
	CHECK(kiln_init_config_parse(text, sizeof(text) - 1, &cfg) == 0);
	return cfg;
}

static struct kiln_user me(void)
{
	struct kiln_user u = { .uid = getuid(), .gid = getgid() };
	return u;
}

static char *slurp(const char *path, size_t *n)
{
	static char buf[4096];
	int fd = open(path, O_RDONLY);
	ssize_t r = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	*n = r > 0 ? (size_t)r : 0;
	buf[*n] = '\0';
	return r >= 0 ? buf : NULL;
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_mode & 07777 : 0;
}

/* The connections open while the key and the document are made, not after. */
TEST(test_connects_before_attestation)
{
	json_t *c = base_config(endpoint, 10);
	char name[32];
	char *cts[3];
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "P%d", i);
		cts[i] = fake_ct("v", 1);
		add(c, name, cts[i], "env", NULL, false);
	}
	struct kiln_init_config cfg = app_config();
	struct kiln_user u = me();
	struct kiln_init_secrets *h = NULL;
	pthread_mutex_lock(&srv.mu);
	wait_accepts = srv.accepts + 3; /* kms.connections */
	pthread_mutex_unlock(&srv.mu);
	saw_accepts = false;
	CHECK(kiln_init_secrets_run(c, attest_after_connects, NULL, &u, &cfg, &h) == 0 && h);
	CHECK(saw_accepts);
	kiln_init_secrets_forked(h); /* the handle lives as long as kiln-init: not freed */
	kiln_init_config_free(&cfg);
	json_decref(c);
	for (int i = 0; i < 3; i++)
		free(cts[i]);
}

TEST(test_ten_secrets)
{
	json_t *c = base_config(endpoint, 10);
	char name[32], value[64], to[128];
	char *cts[10];
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), i == 0 ? "DB_PASSWORD" : "S%d", i);
		snprintf(value, sizeof(value), "value-%d\n", i);
		cts[i] = fake_ct(value, strlen(value));
		if (i < 6) {
			add(c, name, cts[i], i % 2 ? "env" : NULL, NULL, false);
		} else {
			snprintf(to, sizeof(to), "file:%s/sub/%s", shm, name);
			add(c, name, cts[i], to, i == 6 ? "0440" : NULL, false);
		}
	}
	add(c, "BROKEN", "QUFBQUFBQUFBQUFB", "env", NULL, true); /* optional: skipped */
	struct kiln_init_config cfg = app_config();
	struct kiln_user u = me();
	struct kiln_init_secrets *h = NULL;
	int acc = srv.accepts;
	attest_calls = 0;

	/* The CA inline in kiln.yaml (measured with it) rather than a file in the image. */
	size_t pn = 0;
	json_object_set_new(json_object_get(c, "kms"), "ca_bundle", json_string(slurp(ca_good, &pn)));
	CHECK(pn > 100);
	kiln_init_secrets_prepare(c); /* the key made in the background, as kiln-init does */
	int rc = kiln_init_secrets_run(c, fake_attest, NULL, &u, &cfg, &h);
	CHECK(rc == 0 && h);
	/* One attestation document; at most kms.connections connections. */
	CHECK(attest_calls == 1);
	CHECK(srv.accepts - acc >= 1 && srv.accepts - acc <= 3);
	CHECK(strcmp(kiln_init_config_getenv(&cfg, "DB_PASSWORD"), "value-0\n") == 0);
	CHECK(strcmp(kiln_init_config_getenv(&cfg, "S5"), "value-5\n") == 0);
	CHECK(kiln_init_config_getenv(&cfg, "BROKEN") == NULL);
	CHECK(cfg.nenv == 2 + 5); /* PATH, DB_PASSWORD replaced in place, S1..S5 */
	for (int i = 6; i < 10; i++) {
		char path[160];
		size_t n;
		snprintf(path, sizeof(path), "%s/sub/S%d", shm, i);
		snprintf(value, sizeof(value), "value-%d\n", i);
		char *got = slurp(path, &n);
		CHECK(got && n == strlen(value) && memcmp(got, value, n) == 0);
		CHECK(mode_of(path) == (i == 6 ? 0440 : 0400));
		unlink(path);
	}
	/* Once the app is forked kiln-init's copies are gone. */
	const char *v = kiln_init_config_getenv(&cfg, "S3");
	kiln_init_secrets_forked(h);
	CHECK(v && v[0] == '\0');
	char sub[160];
	snprintf(sub, sizeof(sub), "%s/sub", shm);
	rmdir(sub);
	for (int i = 0; i < 10; i++)
		free(cts[i]);
	kiln_init_config_free(&cfg);
	json_decref(c);
	/* the handle lives as long as kiln-init: not freed by design */
}

/*
 * key: kms volumes (mounted first) and secrets share the boot's one RSA key
 * and attestation document; secrets wipe it when done.
 */
TEST(test_recipient_shared_with_storage)
{
	json_t *c = base_config(endpoint, 10);
	char *ct = fake_ct("shared\n", 7);
	const struct aws_kms_recipient *r1 = NULL, *r2 = NULL;
	struct kiln_init_config cfg = app_config();
	struct kiln_user u = me();
	struct kiln_init_secrets *h = NULL;

	add(c, "DB_PASSWORD", ct, "env", NULL, false);
	attest_calls = 0;
	CHECK(kiln_init_kms_recipient(fake_attest, NULL, &r1) == 0 && r1 && r1->doc);
	CHECK(kiln_init_kms_recipient(fake_attest, NULL, &r2) == 0 && r2 == r1);
	CHECK(attest_calls == 1);
	CHECK(kiln_init_secrets_run(c, fake_attest, NULL, &u, &cfg, &h) == 0 && h);
	CHECK(attest_calls == 1); /* the storage's document served the secrets too */
	CHECK(strcmp(kiln_init_config_getenv(&cfg, "DB_PASSWORD") ?: "", "shared\n") == 0);
	kiln_init_secrets_forked(h);
	CHECK(kiln_init_kms_recipient(fake_attest, NULL, &r2) == 0);
	CHECK(attest_calls == 2); /* wiped after the secrets: a new boot's would be new */
	kiln_init_kms_recipient_done();
	free(ct);
	json_decref(c);
	kiln_init_config_free(&cfg);
}

TEST(test_required_failure_stops)
{
	json_t *c = base_config(endpoint, 10);
	char *ok = fake_ct("fine", 4);
	char to[128];
	snprintf(to, sizeof(to), "file:%s/never", shm);
	add(c, "GOOD", ok, to, NULL, false);
	add(c, "API_KEY", ok, "env", NULL, false);
	static const struct step denied[] = {
		{ 400, "{\"__type\":\"AccessDeniedException\",\"message\":\"The PCR0 in the attestation "
		       "document does not match the key policy\"}" } };
	struct kiln_init_config cfg = app_config();
	struct kiln_user u = me();
	struct kiln_init_secrets *h = NULL;
	/* One worker would take them in order: make either one fail. */
	json_object_set_new(json_object_get(c, "kms"), "connections", json_integer(1));
	script(denied, 1);
	int rc = kiln_init_secrets_run(c, fake_attest, NULL, &u, &cfg, &h);
	CHECK_ERR(rc, "secret GOOD: denied: KMS Decrypt: AccessDeniedException: The PCR0 in the "
		      "attestation document does not match the key policy");
	CHECK(rc == -EACCES && h == NULL);
	/* Nothing applied: no file, no env. */
	CHECK(access(to + 5, F_OK) < 0);
	CHECK(kiln_init_config_getenv(&cfg, "API_KEY") == NULL);
	script(NULL, 0);
	kiln_init_config_free(&cfg);
	json_decref(c);

	/* KMS unreachable: retried until kms.timeout_s, then named. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	char ep[64];
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	getsockname(fd, (struct sockaddr *)&a, &al);
	snprintf(ep, sizeof(ep), "https://127.0.0.1:%u", ntohs(a.sin_port));
	c = base_config(ep, 1);
	add(c, "API_KEY", ok, "env", NULL, false);
	cfg = app_config();
	CHECK_ERR(kiln_init_secrets_run(c, fake_attest, NULL, &u, &cfg, &h),
		  "secret API_KEY: KMS unreachable or unavailable: KMS Decrypt: gave up after");
	close(fd);
	kiln_init_config_free(&cfg);
	json_decref(c);
	free(ok);
}

/* Bad entries: one clear line naming the entry, before any KMS call. */
TEST(test_config_errors)
{
	static const struct {
		const char *name, *ct, *to, *mode, *err;
	} bad[] = {
		{ "A-B", "S0lMTkZBS0V4", "env", NULL, "environment variable name" },
		{ "A", "S0lMTkZBS0V4", "file:relative", NULL, "plain absolute file path" },
		{ "A", "S0lMTkZBS0V4", "file:/run/../etc/x", NULL, "plain absolute file path" },
		{ "A", "S0lMTkZBS0V4", "disk", NULL, "not env, file or file:/PATH" },
		{ "A", "S0lMTkZBS0V4", "file", "0999", "octal mode" },
		{ "A", "not base64!", "env", NULL, "kms_ciphertext" },
		{ "../x", "S0lMTkZBS0V4", "file", NULL, "name must be" },
	};
	struct kiln_user u = me();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *c = base_config(endpoint, 5);
		add(c, bad[i].name, bad[i].ct, bad[i].to, bad[i].mode, false);
		struct kiln_init_config cfg = app_config();
		struct kiln_init_secrets *h = NULL;
		attest_calls = 0;
		int rc = kiln_init_secrets_run(c, fake_attest, NULL, &u, &cfg, &h);
		CHECK_ERR(rc, bad[i].err);
		CHECK_ERR(rc, "secrets[0]");
		CHECK(attest_calls == 0);
		kiln_init_config_free(&cfg);
		json_decref(c);
	}
	/* Twice the same name; no region. */
	json_t *c = base_config(endpoint, 5);
	add(c, "A", "S0lMTkZBS0V4", "env", NULL, false);
	add(c, "A", "S0lMTkZBS0V4", "file", NULL, false);
	struct kiln_init_config cfg = app_config();
	struct kiln_init_secrets *h = NULL;
	CHECK_ERR(kiln_init_secrets_run(c, fake_attest, NULL, &u, &cfg, &h), "name used twice");
	json_object_del(json_object_get(c, "kms"), "region");
	json_array_remove(json_object_get(c, "secrets"), 1);
	CHECK_ERR(kiln_init_secrets_run(c, fake_attest, NULL, &u, &cfg, &h), "kms.region");
	json_decref(c);
	/* No secrets: nothing at all happens (no attestation, no KMS). */
	c = json_pack("{s:[]}", "secrets");
	attest_calls = 0;
	CHECK(kiln_init_secrets_run(c, fake_attest, NULL, &u, &cfg, &h) == 0 && !h);
	CHECK(attest_calls == 0);
	json_decref(c);
	kiln_init_config_free(&cfg);
}

TEST(test_value_rules)
{
	json_t *c = base_config(endpoint, 10);
	char *nul = fake_ct("a\0b", 3);
	add(c, "WITH_NUL", nul, "env", NULL, false);
	struct kiln_init_config cfg = app_config();
	struct kiln_user u = me();
	struct kiln_init_secrets *h = NULL;
	CHECK_ERR(kiln_init_secrets_run(c, fake_attest, NULL, &u, &cfg, &h),
		  "secret WITH_NUL: the value has a NUL byte: use to: file");
	json_decref(c);
	/* The same value to a file is fine. */
	c = base_config(endpoint, 10);
	char to[PATH_MAX + 64], path[128];
	snprintf(path, sizeof(path), "%s/nul", shm);
	snprintf(to, sizeof(to), "file:%s", path);
	add(c, "WITH_NUL", nul, to, "0600", false);
	CHECK(kiln_init_secrets_run(c, fake_attest, NULL, &u, &cfg, &h) == 0);
	size_t n;
	char *got = slurp(path, &n);
	CHECK(got && n == 3 && memcmp(got, "a\0b", 3) == 0 && mode_of(path) == 0600);
	unlink(path);
	json_decref(c);
	/* A file that is not on a tmpfs (the build directory, when it is not one). */
	struct statfs st;
	char here[PATH_MAX];
	if (getcwd(here, sizeof(here)) && statfs(here, &st) == 0 && st.f_type != TMPFS_MAGIC &&
	    st.f_type != RAMFS_MAGIC) {
		c = base_config(endpoint, 10);
		snprintf(to, sizeof(to), "file:%s/kiln-secret-test", here);
		add(c, "DISK", nul, to, NULL, false);
		CHECK_ERR(kiln_init_secrets_run(c, fake_attest, NULL, &u, &cfg, &h),
			  "is not on a tmpfs");
		json_decref(c);
	}
	/* owner: a name from /etc/passwd (the host's here; the image's in an enclave). */
	if (getuid() == 0) {
		c = base_config(endpoint, 10);
		snprintf(path, sizeof(path), "%s/owned", shm);
		snprintf(to, sizeof(to), "file:%s", path);
		add(c, "OWNED", nul, to, "0640", false);
		json_object_set_new(json_array_get(json_object_get(c, "secrets"), 0), "owner",
				    json_string("65534:65533"));
		CHECK(kiln_init_secrets_run(c, fake_attest, NULL, &u, &cfg, &h) == 0);
		struct stat o;
		CHECK(stat(path, &o) == 0 && o.st_uid == 65534 && o.st_gid == 65533 &&
		      (o.st_mode & 0777) == 0640);
		unlink(path);
		json_object_set_new(json_array_get(json_object_get(c, "secrets"), 0), "owner",
				    json_string("no-such-user-kiln"));
		CHECK_ERR(kiln_init_secrets_run(c, fake_attest, NULL, &u, &cfg, &h),
			  "owner \"no-such-user-kiln\"");
		json_decref(c);
	}
	free(nul);
	kiln_init_config_free(&cfg);
}

int main(void)
{
	(void)creds;
	/* as kiln-init does (init/loop.c): a KMS connection the server closed is an error, not a death */
	signal(SIGPIPE, SIG_IGN);
	CHECK(mkdtemp(shm) != NULL);
	start_server();
	RUN(test_ten_secrets);
	RUN(test_recipient_shared_with_storage);
	RUN(test_connects_before_attestation);
	RUN(test_required_failure_stops);
	RUN(test_config_errors);
	RUN(test_value_rules);
	rmdir(shm);
	unlink(ca_good);
	unlink(ca_other);
	rmdir(dir);
	return t_done();
}
