/* SPDX-License-Identifier: Apache-2.0 */
/* AWS KMS over HTTPS: signed JSON 1.1 calls, retries with jittered backoff, recipient operations. */
#include "aws/kms.h"

#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/buf.h"
#include "aws/cms.h"
#include "aws/sigv4.h"
#include "util/secure.h"

#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 5000
#define ATTEMPT_MAX_MS 10000 /* one slow attempt leaves time for the next */

struct aws_kms {
	struct aws_url url;
	char region[64];
	char host[300]; /* the Host header */
	SSL_CTX *ssl;
	struct aws_creds_src *creds;
	int timeout_ms;
};

static __thread int last_attempts;

int aws_kms_last_attempts(void)
{
	return last_attempts;
}

/* ---- base64 ---- */

int aws_b64_encode(const uint8_t *p, size_t n, char **out)
{
	if (n > (1u << 26))
		return kiln_err(EFBIG, "base64: input too large");
	char *s = malloc(4 * ((n + 2) / 3) + 1);
	if (!s)
		return kiln_err(ENOMEM, "out of memory");
	EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	*out = s;
	return 0;
}

static bool b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int aws_b64_decode(const char *s, uint8_t **out, size_t *n)
{
	size_t len = strlen(s), pad = 0;
	if (len == 0 || len % 4 || len > (1u << 26))
		return kiln_err(EINVAL, "base64: length %zu is not a positive multiple of 4", len);
	if (s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < len - pad; i++)
		if (!b64_char(s[i]))
			return kiln_err(EINVAL, "base64: bad character at %zu", i);
	uint8_t *b = malloc(len / 4 * 3 + 1);
	if (!b)
		return kiln_err(ENOMEM, "out of memory");
	int got = EVP_DecodeBlock(b, (const unsigned char *)s, (int)len);
	if (got < 0 || (size_t)got < pad) {
		free(b);
		return kiln_err(EINVAL, "base64: malformed");
	}
	*out = b;
	*n = (size_t)got - pad;
	return 0;
}

/* ---- the client ---- */

int aws_kms_new(const struct aws_kms_opts *o, struct aws_creds_src *creds, struct aws_kms **out)
{
	char url[400];
	if (!o->region || !*o->region || strlen(o->region) >= 64 ||
	    strspn(o->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(o->region))
		return kiln_err(EINVAL, "KMS: bad or missing region '%.64s'",
				o->region ? o->region : "");
	struct aws_kms *k = calloc(1, sizeof(*k));
	if (!k)
		return kiln_err(ENOMEM, "out of memory");
	snprintf(k->region, sizeof(k->region), "%s", o->region);
	if (o->endpoint && *o->endpoint)
		snprintf(url, sizeof(url), "%s", o->endpoint);
	else
		snprintf(url, sizeof(url), "https://kms.%s.amazonaws.com/", o->region);
	int rc = aws_url_parse(url, &k->url);
	if (rc == 0 && !k->url.tls)
		rc = kiln_err(EINVAL, "KMS endpoint %s: must be https://", url);
	if (rc == 0)
		rc = aws_tls_ctx(o->ca_bundle, &k->ssl);
	if (rc < 0) {
		free(k);
		return rc;
	}
	bool v6 = strchr(k->url.host, ':') != NULL;
	if (k->url.port == 443)
		snprintf(k->host, sizeof(k->host), v6 ? "[%s]" : "%s", k->url.host);
	else
		snprintf(k->host, sizeof(k->host), v6 ? "[%s]:%u" : "%s:%u", k->url.host,
			 k->url.port);
	k->creds = creds;
	k->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
	*out = k;
	return 0;
}

void aws_kms_free(struct aws_kms *k)
{
	if (!k)
		return;
	SSL_CTX_free(k->ssl);
	free(k);
}

int aws_kms_conn(struct aws_kms *k, struct aws_http_client **out)
{
	return aws_http_client_new(&k->url, k->ssl, out);
}

int aws_kms_conn_open(struct aws_kms *k, struct aws_http_client *conn, int max_ms)
{
	return aws_http_client_connect(conn, aws_now_ms() + (max_ms < k->timeout_ms ? max_ms : k->timeout_ms));
}

/* KMS's words, bounded and without control characters (they end up in one log line). */
static void clean(char *dst, size_t size, const char *src)
{
	size_t i = 0;
	for (; src && src[i] && i + 1 < size; i++)
		dst[i] = (src[i] < ' ' || src[i] == 0x7f) ? '?' : src[i];
	dst[i] = '\0';
}

static int errno_for(const char *type)
{
	static const struct {
		const char *type;
		int err;
	} map[] = {
		{ "AccessDeniedException", EACCES },
		{ "UnrecognizedClientException", EACCES },
		{ "InvalidSignatureException", EACCES },
		{ "IncompleteSignature", EACCES },
		{ "ExpiredTokenException", EACCES },
		{ "DisabledException", EACCES },
		{ "NotFoundException", ENOENT },
		{ "InvalidCiphertextException", EBADMSG },
		{ "ValidationException", EINVAL },
		{ "InvalidKeyUsageException", EINVAL },
		{ "IncorrectKeyException", EINVAL },
		{ "KMSInvalidStateException", EINVAL },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(type, map[i].type) == 0)
			return map[i].err;
	return EIO;
}

static bool retryable_type(const char *type)
{
	return strcmp(type, "ThrottlingException") == 0 ||
	       strcmp(type, "KMSInternalException") == 0 ||
	       strcmp(type, "DependencyTimeoutException") == 0 ||
	       strcmp(type, "ServiceUnavailableException") == 0;
}

int aws_kms_answer(const char *op, int status, const char *body, size_t len, json_t **resp,
		   bool *retry)
{
	json_error_t e;
	char type[128] = "", msg[320] = "";

	*retry = false;
	*resp = NULL;
	json_t *j = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &e) : NULL;
	if (status == 200) {
		if (!json_is_object(j)) {
			json_decref(j);
			return kiln_err(EBADMSG, "KMS %s: malformed answer (not a JSON object)", op);
		}
		*resp = j;
		return 0;
	}
	*retry = status >= 500 || status == 429;
	const char *t = json_string_value(json_object_get(j, "__type"));
	const char *m = json_string_value(json_object_get(j, "message"));
	if (!m)
		m = json_string_value(json_object_get(j, "Message"));
	if (t) {
		const char *hash = strrchr(t, '#'); /* "com.amazonaws.kms#AccessDeniedException" */
		clean(type, sizeof(type), hash ? hash + 1 : t);
	}
	clean(msg, sizeof(msg), m);
	json_decref(j);
	if (!type[0])
		return kiln_err(*retry ? EAGAIN : EIO, "KMS %s: HTTP %d", op, status);
	*retry = *retry || retryable_type(type);
	return kiln_err(*retry ? EAGAIN : errno_for(type), "KMS %s: %s%s%s", op, type,
			msg[0] ? ": " : "", msg);
}

static bool conn_error(int rc)
{
	return rc == -ETIMEDOUT || rc == -ECONNREFUSED || rc == -ECONNRESET ||
	       rc == -EHOSTUNREACH || rc == -ENETUNREACH || rc == -EPIPE || rc == -ECONNABORTED ||
	       rc == -EAGAIN;
}

/* The request head, signed. */
static int build_head(struct aws_kms *k, const char *op, const char *body,
		      const struct aws_creds *c, struct aws_buf *head)
{
	char date[17], target[96], authz[AWS_SIGV4_AUTHZ_MAX];
	aws_sigv4_amz_date(time(NULL), date);
	snprintf(target, sizeof(target), "TrentService.%s", op);
	struct aws_sigv4_header h[5] = {
		{ "Host", k->host },
		{ "X-Amz-Date", date },
		{ "X-Amz-Target", target },
		{ "Content-Type", "application/x-amz-json-1.1" },
		{ "X-Amz-Security-Token", c->session_token },
	};
	size_t nh = c->session_token ? 5 : 4;
	struct aws_sigv4_req r = { "POST", k->url.path, "", h, nh, (const uint8_t *)body,
				   strlen(body), NULL };
	int rc = aws_sigv4_sign(&r, c, k->region, "kms", date, authz, sizeof(authz));
	if (rc < 0)
		return rc;
	aws_buf_fmt(head, "POST %s HTTP/1.1\r\n", k->url.path);
	for (size_t i = 0; i < nh; i++)
		aws_buf_fmt(head, "%s: %s\r\n", h[i].name, h[i].value);
	aws_buf_fmt(head, "Authorization: %s\r\nContent-Length: %zu\r\nUser-Agent: kiln/%s\r\n\r\n",
		    authz, strlen(body), KILN_VERSION);
	return aws_buf_check(head);
}

/* One try; *transport set when the failure is ours or the network's, not KMS's answer. */
static int attempt(struct aws_kms *k, struct aws_http_client *conn, const char *op,
		   const char *body, int64_t deadline, json_t **resp, bool *retry, bool *transport)
{
	struct aws_creds c = { 0 };
	struct aws_buf head = { 0 };
	struct aws_http_resp r = { 0 };
	int64_t until = aws_now_ms() + ATTEMPT_MAX_MS;

	*retry = false;
	*transport = true;
	int rc = aws_creds_get(k->creds, deadline, &c);
	if (rc == 0)
		rc = build_head(k, op, body, &c, &head);
	aws_creds_clear(&c);
	if (rc == 0)
		rc = aws_http_roundtrip(conn, head.p, body, strlen(body),
					until < deadline ? until : deadline, &r);
	aws_buf_free(&head); /* it held the session token */
	if (rc < 0) {
		*retry = conn_error(rc);
		return rc;
	}
	*transport = false;
	rc = aws_kms_answer(op, r.status, r.body, r.body_len, resp, retry);
	aws_http_resp_free(&r);
	return rc;
}

static int64_t jitter_ms(int n)
{
	uint32_t rnd = 0;
	int64_t cap = BACKOFF_BASE_MS << (n < 16 ? n : 16);
	if (cap > BACKOFF_CAP_MS)
		cap = BACKOFF_CAP_MS;
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (uint32_t)aws_now_ms();
	return (int64_t)(rnd % (uint32_t)cap);
}

int aws_kms_call(struct aws_kms *k, struct aws_http_client *conn, const char *op,
		 const char *body, json_t **resp)
{
	int64_t start = aws_now_ms(), deadline = start + k->timeout_ms;
	bool retry = false, transport = false;
	int rc = 0;

	last_attempts = 0;
	for (int n = 0;; n++) {
		last_attempts++;
		rc = attempt(k, conn, op, body, deadline, resp, &retry, &transport);
		if (rc == 0)
			return 0;
		if (!retry)
			return transport ? kiln_err_wrap(rc, "KMS %s", op) : rc;
		int64_t sleep = jitter_ms(n);
		if (aws_now_ms() + sleep >= deadline)
			break;
		struct timespec ts = { sleep / 1000, (sleep % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
	double secs = (double)(aws_now_ms() - start) / 1000.0;
	if (transport)
		return kiln_err_wrap(rc, "KMS %s: gave up after %d attempts in %.1f s", op,
				     last_attempts, secs);
	return kiln_err_wrap(rc, "gave up after %d attempts in %.1f s", last_attempts, secs);
}

/* ---- operations ---- */

static char *json_quote(const char *s)
{
	json_t *j = json_string(s);
	char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	return q;
}

int aws_kms_encrypt(struct aws_kms *k, struct aws_http_client *conn, const char *key_id,
		    const uint8_t *pt, size_t n, char **b64)
{
	char *p64 = NULL, *kq = json_quote(key_id);
	struct aws_buf body = { 0 };
	json_t *resp = NULL;

	if (n == 0 || n > 4096) {
		free(kq);
		return kiln_err(EINVAL, "KMS Encrypt: plaintext of %zu bytes (1 to 4096)", n);
	}
	/* Built by hand, not by jansson: every copy of the plaintext is wiped here. */
	int rc = kq ? aws_b64_encode(pt, n, &p64) : kiln_err(EINVAL, "KMS: bad key id");
	if (rc == 0) {
		aws_buf_fmt(&body, "{\"KeyId\":%s,\"Plaintext\":\"%s\"}", kq, p64);
		rc = aws_buf_check(&body);
	}
	if (p64)
		kiln_free_secret(p64, strlen(p64));
	free(kq);
	if (rc == 0)
		rc = aws_kms_call(k, conn, "Encrypt", body.p, &resp);
	aws_buf_free(&body);
	if (rc < 0)
		return rc;
	const char *ct = json_string_value(json_object_get(resp, "CiphertextBlob"));
	uint8_t *raw = NULL;
	size_t rawn = 0;
	if (!ct || aws_b64_decode(ct, &raw, &rawn) < 0)
		rc = kiln_err(EBADMSG, "KMS Encrypt: answer without a valid CiphertextBlob");
	free(raw);
	if (rc == 0 && !(*b64 = strdup(ct)))
		rc = kiln_err(ENOMEM, "out of memory");
	json_decref(resp);
	return rc;
}

/*
 * A 2048-bit modulus from three primes: KMS sees only the public key (n, e),
 * the same as any RSA-2048 key's, and key generation, the largest part of a
 * boot with secrets, takes about a third of the two-prime time. The key lives
 * for one boot and decrypts a few content keys.
 */
static EVP_PKEY *gen_rsa2048(void)
{
	EVP_PKEY *k = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
	if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_keygen_primes(ctx, 3) <= 0 || EVP_PKEY_keygen(ctx, &k) <= 0)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	return k;
}

int aws_kms_recipient_key(struct aws_kms_recipient *r)
{
	memset(r, 0, sizeof(*r));
	r->key = gen_rsa2048();
	if (!r->key)
		return kiln_err(EIO, "RSA-2048 key generation failed");
	int n = i2d_PUBKEY(r->key, &r->spki);
	if (n <= 0) {
		aws_kms_recipient_free(r);
		return kiln_err(EIO, "SubjectPublicKeyInfo encoding failed");
	}
	r->spki_len = (size_t)n;
	return 0;
}

void aws_kms_recipient_free(struct aws_kms_recipient *r)
{
	EVP_PKEY_free(r->key); /* OpenSSL clears RSA private components on free */
	OPENSSL_free(r->spki);
	memset(r, 0, sizeof(*r));
}

static int add_recipient(json_t *req, const struct aws_kms_recipient *r)
{
	char *doc = NULL;
	if (!r->doc || !r->doc_len)
		return kiln_err(EINVAL, "KMS: recipient without an attestation document");
	int rc = aws_b64_encode(r->doc, r->doc_len, &doc);
	if (rc < 0)
		return rc;
	json_t *rec = json_pack("{s:s, s:s}", "KeyEncryptionAlgorithm", "RSAES_OAEP_SHA_256",
				"AttestationDocument", doc);
	free(doc);
	if (!rec || json_object_set_new(req, "Recipient", rec) < 0)
		return kiln_err(ENOMEM, "out of memory");
	return 0;
}

int aws_kms_open_recipient(const char *op, json_t *resp, EVP_PKEY *key, uint8_t **pt, size_t *n)
{
	const char *c = json_string_value(json_object_get(resp, "CiphertextForRecipient"));
	uint8_t *blob = NULL;
	size_t len = 0;

	if (!c) {
		json_t *p = json_object_get(resp, "Plaintext");
		return kiln_err(EBADMSG, "KMS %s: %s", op,
				p && !json_is_null(p) ? "answer carries a Plaintext, not for the recipient"
						      : "answer without CiphertextForRecipient");
	}
	int rc = aws_b64_decode(c, &blob, &len);
	if (rc == 0 && key) {
		rc = aws_cms_open(blob, len, key, pt, n);
	} else if (rc == 0) { /* the fuzzer: parse only */
		struct aws_cms_env env;
		rc = aws_cms_parse(blob, len, &env);
		if (rc == 0)
			aws_cms_env_free(&env);
	}
	free(blob);
	return rc < 0 ? kiln_err_wrap(rc, "KMS %s: CiphertextForRecipient", op) : 0;
}

static int recipient_call(struct aws_kms *k, struct aws_http_client *conn, const char *op,
			  json_t *req, const struct aws_kms_recipient *r, uint8_t **pt,
			  size_t *n, json_t **resp_out)
{
	json_t *resp = NULL;
	char *body = NULL;
	int rc = req ? add_recipient(req, r) : kiln_err(ENOMEM, "out of memory");
	if (rc == 0 && !(body = json_dumps(req, JSON_COMPACT)))
		rc = kiln_err(ENOMEM, "out of memory");
	json_decref(req);
	if (rc == 0)
		rc = aws_kms_call(k, conn, op, body, &resp);
	free(body);
	if (rc == 0)
		rc = aws_kms_open_recipient(op, resp, r->key, pt, n);
	if (rc == 0 && resp_out)
		*resp_out = json_incref(resp);
	json_decref(resp);
	return rc;
}

int aws_kms_decrypt_recipient(struct aws_kms *k, struct aws_http_client *conn,
			      const char *ciphertext_b64, const char *key_id,
			      const struct aws_kms_recipient *r, uint8_t **pt, size_t *n)
{
	json_t *req = json_pack("{s:s}", "CiphertextBlob", ciphertext_b64);
	if (req && key_id && json_object_set_new(req, "KeyId", json_string(key_id)) < 0) {
		json_decref(req);
		req = NULL;
	}
	return recipient_call(k, conn, "Decrypt", req, r, pt, n, NULL);
}

int aws_kms_generate_data_key_recipient(struct aws_kms *k, struct aws_http_client *conn,
					const char *key_id, const struct aws_kms_recipient *r,
					uint8_t **pt, size_t *n, char **ciphertext_b64)
{
	json_t *resp = NULL;
	json_t *req = json_pack("{s:s, s:s}", "KeyId", key_id, "KeySpec", "AES_256");
	int rc = recipient_call(k, conn, "GenerateDataKey", req, r, pt, n, &resp);
	if (rc < 0)
		return rc;
	const char *c = json_string_value(json_object_get(resp, "CiphertextBlob"));
	if (!c || !(*ciphertext_b64 = strdup(c))) {
		kiln_free_secret(*pt, *n);
		rc = kiln_err(EBADMSG, "KMS GenerateDataKey: answer without CiphertextBlob");
	}
	json_decref(resp);
	return rc;
}

int aws_kms_generate_random_recipient(struct aws_kms *k, struct aws_http_client *conn,
				      size_t bytes, const struct aws_kms_recipient *r,
				      uint8_t **pt, size_t *n)
{
	if (bytes < 1 || bytes > 1024)
		return kiln_err(EINVAL, "KMS GenerateRandom: %zu bytes (1 to 1024)", bytes);
	json_t *req = json_pack("{s:I}", "NumberOfBytes", (json_int_t)bytes);
	return recipient_call(k, conn, "GenerateRandom", req, r, pt, n, NULL);
}
