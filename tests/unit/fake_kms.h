/* SPDX-License-Identifier: Apache-2.0 */
/* A fake AWS KMS for unit tests: real TLS (a throwaway CA for 127.0.0.1), SigV4 verified, scripted answers. */
#ifndef KILN_TEST_FAKE_KMS_H
#define KILN_TEST_FAKE_KMS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aws/cms.h"
#include "aws/kms.h"
#include "aws/sigv4.h"
#include "t.h"

/*
 * start_server() listens on 127.0.0.1 (srv.port, endpoint[]), writes its CA
 * to ca_good (and an unrelated one to ca_other). Answers: script() steps
 * first, else "normal" ones: Encrypt returns "KILNFAKE" + plaintext as the
 * blob; Decrypt, GenerateRandom and GenerateDataKey need a Recipient whose
 * AttestationDocument is (in this fake) the recipient's SPKI DER, and answer
 * a real CMS CiphertextForRecipient. A bad signature gets
 * InvalidSignatureException. A step with status -1 drops the connection
 * after the request, without TLS close_notify.
 */
#define AKID "AKIDKILNTEST"
#define SECRET "kilnTestSecretKey/0123456789abcdefghijklm"

/* ---- a certificate for 127.0.0.1 ---- */

static EVP_PKEY *make_cert(X509 **out)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)getpid());
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"kiln test kms",
				   -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, k);
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
						"IP:127.0.0.1, DNS:kms.test");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	X509_sign(x, k, EVP_sha256());
	*out = x;
	return k;
}

static void write_pem(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");
	PEM_write_X509(f, x);
	fclose(f);
}

/* ---- the fake KMS ---- */

struct step {
	int status;
	const char *body;
};

static struct {
	pthread_mutex_t mu;
	SSL_CTX *ctx;
	int lfd;
	uint16_t port;
	struct step script[16];
	int nscript, next;
	int accepts, requests, bad_sigs;
	int split_requests; /* requests that took more than one SSL_read (record) */
	char last_target[64], last_ctype[64];
	bool had_token;
} srv = { .mu = PTHREAD_MUTEX_INITIALIZER };

static const char *hdr(char *head, const char *name, char *out, size_t size)
{
	char pat[80];
	snprintf(pat, sizeof(pat), "\r\n%s:", name);
	char *p = strcasestr(head, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	p += strspn(p, " ");
	snprintf(out, size, "%.*s", (int)strcspn(p, "\r"), p);
	return out;
}

/* Verify the request as KMS would: every header it names is signed. */
static bool verify(char *head, const char *body, size_t blen)
{
	struct aws_sigv4_header h[16];
	size_t n = 0;
	char *copy = strdup(head), *save = NULL;
	char *line = strtok_r(copy, "\r\n", &save); /* request line */
	char authz[1024] = "";
	while ((line = strtok_r(NULL, "\r\n", &save)) && n < 16) {
		char *c = strchr(line, ':');
		if (!c)
			continue;
		*c = '\0';
		char *v = c + 1 + strspn(c + 1, " ");
		if (strcasecmp(line, "Authorization") == 0)
			snprintf(authz, sizeof(authz), "%s", v);
		else
			h[n++] = (struct aws_sigv4_header){ line, v };
	}
	struct aws_sigv4_req r = { "POST", "/", "", h, n, (const uint8_t *)body, blen, NULL };
	struct aws_sigv4_authz a;
	bool ok = aws_sigv4_parse_authz(authz, &a) == 0 && strcmp(a.access_key_id, AKID) == 0 &&
		  strcmp(a.service, "kms") == 0 && strstr(a.signed_headers, "x-amz-target") &&
		  aws_sigv4_verify(&r, &a, SECRET, time(NULL), 300) == 0;
	free(copy);
	return ok;
}

static void b64(const uint8_t *p, size_t n, char **out)
{
	CHECK(aws_b64_encode(p, n, out) == 0);
}

/* The normal answers: fake ciphertext = "KILNFAKE" + plaintext; recipients get CMS. */
static char *normal_answer(const char *target, const char *body, int *status)
{
	json_error_t e;
	json_t *req = json_loads(body, 0, &e), *out = json_object();
	char *ret = NULL, *s = NULL;
	*status = 200;
	uint8_t *raw = NULL, *pt = NULL;
	size_t rawn = 0, ptn = 0;
	const char *doc = json_string_value(
		json_object_get(json_object_get(req, "Recipient"), "AttestationDocument"));
	if (strcmp(target, "TrentService.Encrypt") == 0) {
		CHECK(aws_b64_decode(json_string_value(json_object_get(req, "Plaintext")), &raw,
				     &rawn) == 0);
		uint8_t *ct = malloc(rawn + 8);
		memcpy(ct, "KILNFAKE", 8);
		memcpy(ct + 8, raw, rawn);
		b64(ct, rawn + 8, &s);
		json_object_set_new(out, "CiphertextBlob", json_string(s));
		json_object_set_new(out, "KeyId", json_object_get(req, "KeyId") ? json_incref(json_object_get(req, "KeyId")) : json_null());
		free(ct);
	} else if (strcmp(target, "TrentService.Decrypt") == 0) {
		CHECK(aws_b64_decode(json_string_value(json_object_get(req, "CiphertextBlob")), &raw,
				     &rawn) == 0);
		if (rawn < 8 || memcmp(raw, "KILNFAKE", 8) != 0) {
			*status = 400;
			json_object_set_new(out, "__type", json_string("InvalidCiphertextException"));
		} else {
			pt = malloc(rawn - 8 + 1);
			memcpy(pt, raw + 8, rawn - 8);
			ptn = rawn - 8;
		}
	} else if (strcmp(target, "TrentService.GenerateRandom") == 0) {
		ptn = (size_t)json_integer_value(json_object_get(req, "NumberOfBytes"));
		pt = calloc(1, ptn + 1);
		memset(pt, 0x5a, ptn);
	} else if (strcmp(target, "TrentService.GenerateDataKey") == 0) {
		ptn = 32;
		pt = calloc(1, 33);
		memset(pt, 0x33, 32);
		json_object_set_new(out, "CiphertextBlob", json_string("S0lMTkZBS0UzMzMz"));
	}
	if (pt && doc) {
		uint8_t *d = NULL, *blob = NULL;
		size_t dn = 0, bn = 0;
		CHECK(aws_b64_decode(doc, &d, &dn) == 0);
		const uint8_t *dp = d;
		EVP_PKEY *pub = d2i_PUBKEY(NULL, &dp, (long)dn); /* the test's "document" is the SPKI */
		CHECK(pub && aws_cms_seal(pub, pt, ptn, &blob, &bn) == 0);
		char *c = NULL;
		b64(blob, bn, &c);
		json_object_set_new(out, "CiphertextForRecipient", json_string(c));
		json_object_set_new(out, "Plaintext", json_null());
		free(c);
		free(blob);
		free(d);
		EVP_PKEY_free(pub);
	} else if (pt) {
		*status = 400;
		json_object_set_new(out, "__type", json_string("ValidationException"));
		json_object_set_new(out, "message", json_string("test KMS wants a Recipient"));
	}
	ret = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	json_decref(req);
	free(raw);
	free(pt);
	free(s);
	return ret;
}

/* Returns true when the connection is to be dropped without close_notify (step status -1). */
static bool serve_conn(SSL *ssl)
{
	char buf[65536];
	size_t len = 0;
	for (;;) {
		char *end = NULL;
		size_t need = 0;
		int reads = 0;
		while (!(end = strstr(buf, "\r\n\r\n")) || len < need) {
			int r = SSL_read(ssl, buf + len, (int)(sizeof(buf) - 1 - len));
			if (r <= 0)
				return false;
			reads++;
			len += (size_t)r;
			buf[len] = '\0';
			char cl[32];
			if ((end = strstr(buf, "\r\n\r\n"))) {
				*end = '\0';
				need = (size_t)(end + 4 - buf) +
				       (hdr(buf, "Content-Length", cl, sizeof(cl)) ? (size_t)atol(cl) : 0);
				*end = '\r';
			}
		}
		*end = '\0';
		char *body = end + 4;
		size_t blen = need - (size_t)(body - buf);
		char target[64] = "", ctype[64] = "", tok[8];
		hdr(buf, "X-Amz-Target", target, sizeof(target));
		hdr(buf, "Content-Type", ctype, sizeof(ctype));
		char save = body[blen];
		body[blen] = '\0';
		bool ok = verify(buf, body, blen);
		pthread_mutex_lock(&srv.mu);
		srv.requests++;
		srv.split_requests += reads > 1;
		srv.bad_sigs += !ok;
		snprintf(srv.last_target, sizeof(srv.last_target), "%s", target);
		snprintf(srv.last_ctype, sizeof(srv.last_ctype), "%s", ctype);
		srv.had_token |= hdr(buf, "X-Amz-Security-Token", tok, sizeof(tok)) != NULL;
		struct step st = { 0 };
		if (srv.next < srv.nscript)
			st = srv.script[srv.next++];
		pthread_mutex_unlock(&srv.mu);
		int status = st.status;
		char *answer = NULL;
		if (status == -1)
			return true;
		if (!ok) {
			status = 400;
			answer = strdup("{\"__type\":\"InvalidSignatureException\",\"message\":\"bad\"}");
		} else if (status) {
			answer = strdup(st.body);
		} else {
			answer = normal_answer(target, body, &status);
		}
		body[blen] = save;
		char head[256];
		int hn = snprintf(head, sizeof(head),
				  "HTTP/1.1 %d X\r\nContent-Type: application/x-amz-json-1.1\r\n"
				  "Content-Length: %zu\r\n\r\n", status, strlen(answer));
		SSL_write(ssl, head, hn);
		SSL_write(ssl, answer, (int)strlen(answer));
		free(answer);
		memmove(buf, buf + need, len - need);
		len -= need;
		buf[len] = '\0';
	}
}

static void *conn_thread(void *arg)
{
	SSL *ssl = arg;
	bool abrupt = SSL_accept(ssl) == 1 && serve_conn(ssl);
	if (!abrupt)
		SSL_shutdown(ssl);
	close(SSL_get_fd(ssl));
	SSL_free(ssl);
	return NULL;
}

static void *accept_thread(void *arg)
{
	for (;;) {
		int fd = accept(srv.lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		pthread_mutex_lock(&srv.mu);
		srv.accepts++;
		pthread_mutex_unlock(&srv.mu);
		SSL *ssl = SSL_new(srv.ctx);
		SSL_set_fd(ssl, fd);
		pthread_t t;
		pthread_create(&t, NULL, conn_thread, ssl);
		pthread_detach(t);
	}
}

static void script(const struct step *s, int n)
{
	pthread_mutex_lock(&srv.mu);
	for (int i = 0; i < n; i++)
		srv.script[i] = s[i];
	srv.nscript = n;
	srv.next = 0;
	pthread_mutex_unlock(&srv.mu);
}

static char dir[] = "/tmp/kiln-test-kms-XXXXXX";
static char ca_good[128], ca_other[128], endpoint[64];

static void start_server(void)
{
	X509 *x, *y;
	EVP_PKEY *k = make_cert(&x), *k2 = make_cert(&y);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(ca_good, sizeof(ca_good), "%s/ca.pem", dir);
	snprintf(ca_other, sizeof(ca_other), "%s/other.pem", dir);
	write_pem(ca_good, x);
	write_pem(ca_other, y);
	srv.ctx = SSL_CTX_new(TLS_server_method());
	CHECK(SSL_CTX_use_certificate(srv.ctx, x) == 1 && SSL_CTX_use_PrivateKey(srv.ctx, k) == 1);
	srv.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	CHECK(bind(srv.lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(srv.lfd, 64) == 0);
	getsockname(srv.lfd, (struct sockaddr *)&a, &al);
	srv.port = ntohs(a.sin_port);
	snprintf(endpoint, sizeof(endpoint), "https://127.0.0.1:%u", srv.port);
	pthread_t t;
	pthread_create(&t, NULL, accept_thread, NULL);
	pthread_detach(t);
	X509_free(x);
	X509_free(y);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
}

#endif
