/* SPDX-License-Identifier: Apache-2.0 */
/* The KMS client against an in-process fake KMS over real TLS: signing, retries, errors, recipient. */
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
#include "cli/cli.h"
#include <fcntl.h>
#include "fake_kms.h"
#include "t.h"
#include "util/secure.h"

static struct aws_creds_src creds;

static struct aws_kms *client(const char *ep, const char *ca, int timeout_ms)
{
	struct aws_kms_opts o = { "us-east-1", ep, ca, timeout_ms };
	struct aws_kms *k = NULL;
	CHECK(aws_kms_new(&o, &creds, &k) == 0);
	return k;
}

TEST(test_encrypt_decrypt_recipient)
{
	struct aws_kms *k = client(endpoint, ca_good, 10000);
	struct aws_http_client *c = NULL;
	struct aws_kms_recipient r;
	char *ct = NULL;
	uint8_t *pt = NULL;
	size_t n = 0;
	static const char value[] = "s3cret-value\n\x01\xff";

	CHECK(aws_kms_conn(k, &c) == 0);
	CHECK(aws_kms_recipient_key(&r) == 0);
	/* What KMS takes: an RSA SubjectPublicKeyInfo, 2048-bit modulus, e = 65537. */
	const uint8_t *sp = r.spki;
	EVP_PKEY *pub = d2i_PUBKEY(NULL, &sp, (long)r.spki_len);
	BIGNUM *e = NULL;
	CHECK(pub && EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA && EVP_PKEY_get_bits(pub) == 2048);
	CHECK(EVP_PKEY_get_bn_param(pub, "e", &e) == 1 && BN_get_word(e) == 65537);
	CHECK(sp == r.spki + r.spki_len);
	BN_free(e);
	EVP_PKEY_free(pub);
	r.doc = r.spki; /* the fake KMS reads the key from the "document" */
	r.doc_len = r.spki_len;
	int before = srv.accepts;
	CHECK(aws_kms_encrypt(k, c, "alias/test", (const uint8_t *)value, sizeof(value) - 1, &ct) == 0);
	CHECK(strcmp(srv.last_target, "TrentService.Encrypt") == 0);
	CHECK(strcmp(srv.last_ctype, "application/x-amz-json-1.1") == 0);
	CHECK(ct && aws_kms_decrypt_recipient(k, c, ct, NULL, &r, &pt, &n) == 0);
	CHECK(n == sizeof(value) - 1 && pt && memcmp(pt, value, n) == 0);
	kiln_free_secret(pt, n);
	CHECK(aws_kms_generate_random_recipient(k, c, 40, &r, &pt, &n) == 0 && n == 40 && pt[0] == 0x5a);
	kiln_free_secret(pt, n);
	char *dk = NULL;
	CHECK(aws_kms_generate_data_key_recipient(k, c, "alias/test", &r, &pt, &n, &dk) == 0 &&
	      n == 32 && dk);
	kiln_free_secret(pt, n);
	free(dk);
	/* Four calls, one keep-alive connection, every signature valid. */
	CHECK(srv.accepts == before + 1);
	CHECK(srv.bad_sigs == 0);
	/* Each request in one TLS record: a body record of its own waited on the
	 * server's delayed ACK (Nagle), ~40 ms for every request after the first. */
	CHECK(srv.split_requests == 0);
	/* Bad ciphertext: KMS's own error type, at once. */
	CHECK_ERR(aws_kms_decrypt_recipient(k, c, "AAAAAAAAAAAA", NULL, &r, &pt, &n),
		  "KMS Decrypt: InvalidCiphertextException");
	CHECK(aws_kms_last_attempts() == 1);
	free(ct);
	aws_kms_recipient_free(&r);
	aws_http_client_free(c);
	aws_kms_free(k);
}

TEST(test_errors_and_retries)
{
	struct aws_kms *k = client(endpoint, ca_good, 20000);
	struct aws_http_client *c = NULL;
	struct aws_kms_recipient r;
	uint8_t *pt = NULL;
	size_t n = 0;
	CHECK(aws_kms_conn(k, &c) == 0);
	CHECK(aws_kms_recipient_key(&r) == 0);
	r.doc = r.spki;
	r.doc_len = r.spki_len;

	/* AccessDenied: no retry, KMS's words. */
	static const struct step denied[] = {
		{ 400, "{\"__type\":\"AccessDeniedException\",\"message\":\"User: arn:x is not "
		       "authorized to perform: kms:Decrypt\"}" } };
	script(denied, 1);
	int rc = aws_kms_decrypt_recipient(k, c, "S0lMTkZBS0U=", NULL, &r, &pt, &n);
	CHECK_ERR(rc, "KMS Decrypt: AccessDeniedException: User: arn:x is not authorized");
	CHECK(rc == -EACCES && aws_kms_last_attempts() == 1);

	/* Throttled twice, a 503, then served. */
	static const struct step throttled[] = {
		{ 400, "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}" },
		{ 400, "{\"__type\":\"com.amazonaws.kms#ThrottlingException\"}" },
		{ 503, "" } };
	script(throttled, 3);
	CHECK(aws_kms_decrypt_recipient(k, c, "S0lMTkZBS0V4", NULL, &r, &pt, &n) == 0);
	CHECK(aws_kms_last_attempts() == 4 && n == 1 && pt[0] == 'x');
	kiln_free_secret(pt, n);

	/* KMS gone mid-request without close_notify: a connection failure, retried. */
	static const struct step dropped[] = { { -1, "" } };
	script(dropped, 1);
	struct aws_http_client *fresh = NULL;
	CHECK(aws_kms_conn(k, &fresh) == 0);
	pt = NULL;
	n = 0;
	CHECK(aws_kms_decrypt_recipient(k, fresh, "S0lMTkZBS0V4", NULL, &r, &pt, &n) == 0);
	CHECK(aws_kms_last_attempts() == 2);
	kiln_free_secret(pt, n);
	aws_http_client_free(fresh);

	/* A malformed 200 answer: refused, not retried. */
	static const struct step junk[] = { { 200, "{\"CiphertextForRecipient\":\"@@@\"}" } };
	script(junk, 1);
	CHECK_ERR(aws_kms_decrypt_recipient(k, c, "S0lMTkZBS0V4", NULL, &r, &pt, &n),
		  "base64");
	static const struct step notjson[] = { { 200, "<html>" } };
	script(notjson, 1);
	CHECK_ERR(aws_kms_decrypt_recipient(k, c, "S0lMTkZBS0V4", NULL, &r, &pt, &n),
		  "not a JSON object");
	static const struct step plain[] = { { 200, "{\"Plaintext\":\"eA==\"}" } };
	script(plain, 1);
	CHECK_ERR(aws_kms_decrypt_recipient(k, c, "S0lMTkZBS0V4", NULL, &r, &pt, &n),
		  "not for the recipient");
	aws_kms_free(k);

	/* Always 500 within a short overall timeout: several attempts, then a clear error. */
	k = client(endpoint, ca_good, 1200);
	struct step down[16];
	for (int i = 0; i < 16; i++)
		down[i] = (struct step){ 500, "" };
	script(down, 16);
	/* (How many attempts fit depends on the machine: the retry count is checked above.) */
	CHECK_ERR(aws_kms_decrypt_recipient(k, c, "S0lMTkZBS0V4", NULL, &r, &pt, &n), "gave up");
	script(NULL, 0);
	aws_http_client_free(c);
	aws_kms_free(k);
	aws_kms_recipient_free(&r);
}

TEST(test_tls_checks)
{
	struct aws_http_client *c = NULL;
	char *ct = NULL;
	char ep[80];

	/* A certificate from another CA: refused, not retried. */
	struct aws_kms *k = client(endpoint, ca_other, 5000);
	CHECK(aws_kms_conn(k, &c) == 0);
	int rc = aws_kms_encrypt(k, c, "alias/test", (const uint8_t *)"x", 1, &ct);
	CHECK_ERR(rc, "certificate not trusted");
	CHECK(aws_kms_last_attempts() == 1);
	aws_http_client_free(c);
	aws_kms_free(k);
	/* The right CA, the wrong name (the certificate is for 127.0.0.1 and kms.test). */
	snprintf(ep, sizeof(ep), "https://localhost:%u/", srv.port);
	k = client(ep, ca_good, 5000);
	CHECK(aws_kms_conn(k, &c) == 0);
	CHECK_ERR(aws_kms_encrypt(k, c, "alias/test", (const uint8_t *)"x", 1, &ct),
		  "certificate not trusted: hostname mismatch");
	aws_http_client_free(c);
	aws_kms_free(k);
	/* Nobody listening: connection errors are retried until the timeout. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	getsockname(fd, (struct sockaddr *)&a, &al);
	snprintf(ep, sizeof(ep), "https://127.0.0.1:%u", ntohs(a.sin_port));
	k = client(ep, ca_good, 800);
	CHECK(aws_kms_conn(k, &c) == 0);
	CHECK_ERR(aws_kms_encrypt(k, c, "alias/test", (const uint8_t *)"x", 1, &ct),
		  "Connection refused");
	CHECK(strstr(kiln_errmsg(), "gave up after") != NULL); /* retried, not failed at once */
	close(fd);
	aws_http_client_free(c);
	aws_kms_free(k);
	/* Bad options. */
	struct aws_kms_opts o = { "us-east-1", "http://127.0.0.1:1", ca_good, 1000 };
	CHECK_ERR(aws_kms_new(&o, &creds, &k), "must be https://");
	o = (struct aws_kms_opts){ "us east", NULL, ca_good, 1000 };
	CHECK_ERR(aws_kms_new(&o, &creds, &k), "region");
	o = (struct aws_kms_opts){ "us-east-1", NULL, "/nonexistent/ca.pem", 1000 };
	CHECK_ERR(aws_kms_new(&o, &creds, &k), "CA bundle /nonexistent/ca.pem");
	o = (struct aws_kms_opts){ "us-east-1", NULL, "-----BEGIN CERTIFICATE-----\nAAAA\n", 1000 };
	CHECK_ERR(aws_kms_new(&o, &creds, &k), "inline CA bundle: no PEM certificate");
}

TEST(test_session_token_is_signed)
{
	struct aws_creds_src tok;
	struct aws_http_client *c = NULL;
	char *ct = NULL;
	CHECK(aws_creds_src_static(&tok, AKID, SECRET, "FQoGZXIvYXdzEXAMPLE") == 0);
	struct aws_kms_opts o = { "us-east-1", endpoint, ca_good, 5000 };
	struct aws_kms *k = NULL;
	CHECK(aws_kms_new(&o, &tok, &k) == 0);
	CHECK(aws_kms_conn(k, &c) == 0);
	int bad = srv.bad_sigs;
	CHECK(aws_kms_encrypt(k, c, "alias/test", (const uint8_t *)"x", 1, &ct) == 0);
	CHECK(srv.had_token && srv.bad_sigs == bad);
	free(ct);
	aws_http_client_free(c);
	aws_kms_free(k);
	aws_creds_src_free(&tok);
}

/* The HTTP answer parser: framing and refusals. */
TEST(test_http_parse)
{
	static const struct {
		const char *in;
		int rc;
		const char *body;
	} cases[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 0, "{}" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{\"\r\n1;x=y\r\n}\r\n0\r\n\r\n",
		  0, "{\"}" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}", -EAGAIN, NULL },
		{ "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", -EBADMSG, NULL },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", -EBADMSG, NULL },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", -EBADMSG, NULL },
		{ "HTTP/1.1 2x0 OK\r\n\r\n", -EBADMSG, NULL },
		{ "HTTP/1.1 100 Continue\r\n\r\n", -EBADMSG, NULL },
		{ "HTTX/1.1 200 OK\r\n\r\n", -EBADMSG, NULL },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", -EBADMSG, NULL },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", -EBADMSG, NULL },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", -EBADMSG, NULL },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffff\r\n", -EBADMSG, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aws_http_resp r;
		size_t used = 0;
		int rc = aws_http_parse_response((const uint8_t *)cases[i].in, strlen(cases[i].in),
						 false, &r, &used);
		if (rc != cases[i].rc)
			fprintf(stderr, "case %zu: rc %d (%s)\n", i, rc, kiln_errmsg());
		CHECK(rc == cases[i].rc);
		if (rc == 0) {
			CHECK(strcmp(r.body, cases[i].body) == 0 && used == strlen(cases[i].in));
			aws_http_resp_free(&r);
		}
	}
	/* Truncated at end of file: an error, not a short body. */
	struct aws_http_resp r;
	size_t used;
	const char *t = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}";
	CHECK_ERR(aws_http_parse_response((const uint8_t *)t, strlen(t), true, &r, &used),
		  "closed before a complete answer");
}

TEST(test_answers_and_b64)
{
	json_t *j = NULL;
	bool retry;
	const char *nf = "{\"__type\":\"NotFoundException\",\"Message\":\"Key 'x' does not exist\\n\"}";
	CHECK_ERR(aws_kms_answer("Decrypt", 400, nf, strlen(nf), &j, &retry),
		  "NotFoundException: Key 'x' does not exist?");
	CHECK(!retry);
	CHECK(aws_kms_answer("Decrypt", 502, "<html>", 6, &j, &retry) == -EAGAIN && retry);
	CHECK(aws_kms_answer("Decrypt", 400, "{\"__type\":\"KMSInternalException\"}", 33, &j,
			     &retry) < 0 && retry);
	uint8_t *p;
	size_t n;
	CHECK(aws_b64_decode("aGk=", &p, &n) == 0 && n == 2 && memcmp(p, "hi", 2) == 0);
	free(p);
	CHECK(aws_b64_decode("aGk", &p, &n) < 0);
	CHECK(aws_b64_decode("a=Gk", &p, &n) < 0);
	CHECK(aws_b64_decode("aG k", &p, &n) < 0);
	CHECK(aws_b64_decode("", &p, &n) < 0);
}

/* Run kiln secret ARGS with in on stdin; stdout (first line) into out. */
static int run_secret_cli(const char *in, size_t in_len, char **argv, int argc, char *out,
			  size_t size)
{
	char inf[160], outf[160];
	snprintf(inf, sizeof(inf), "%s/in", dir);
	snprintf(outf, sizeof(outf), "%s/out", dir);
	FILE *f = fopen(inf, "wb");
	fwrite(in, 1, in_len, f);
	fclose(f);
	int save_in = dup(0), save_out = dup(1);
	int fi = open(inf, O_RDONLY), fo = open(outf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fi, 0);
	dup2(fo, 1);
	close(fi);
	close(fo);
	int rc = kiln_cmd_secret(argc, argv);
	fflush(stdout);
	dup2(save_in, 0);
	dup2(save_out, 1);
	close(save_in);
	close(save_out);
	out[0] = '\0';
	f = fopen(outf, "r");
	if (f && !fgets(out, (int)size, f))
		out[0] = '\0';
	if (f)
		fclose(f);
	unlink(inf);
	unlink(outf);
	return rc;
}

TEST(test_secret_cli)
{
	char out[512];
	char *argv[] = { "secret", "encrypt", "--key-id", "alias/app", "--region", "us-east-1",
			 "--endpoint", endpoint, "--ca-bundle", ca_good, NULL };
	setenv("AWS_ACCESS_KEY_ID", AKID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
	unsetenv("AWS_SESSION_TOKEN");
	CHECK(run_secret_cli("hunter2\n", 8, argv, 10, out, sizeof(out)) == 0);
	/* The fake KMS's ciphertext is "KILNFAKE" + the bytes, newline kept. */
	out[strcspn(out, "\n")] = '\0';
	uint8_t *raw = NULL;
	size_t n = 0;
	CHECK(aws_b64_decode(out, &raw, &n) == 0 && n == 16 && memcmp(raw, "KILNFAKEhunter2\n", 16) == 0);
	free(raw);
	CHECK(strcmp(srv.last_target, "TrentService.Encrypt") == 0);
	/* Empty and oversized values, a missing key id: refused with a reason. */
	CHECK(run_secret_cli("", 0, argv, 10, out, sizeof(out)) == 1);
	CHECK(strstr(kiln_errmsg(), "stdin is empty") != NULL);
	char *big = calloc(1, 5000);
	memset(big, 'a', 4097);
	CHECK(run_secret_cli(big, 4097, argv, 10, out, sizeof(out)) == 1);
	CHECK(strstr(kiln_errmsg(), "larger than 4096") != NULL);
	CHECK(run_secret_cli(big, 4096, argv, 10, out, sizeof(out)) == 0);
	free(big);
	char *noid[] = { "secret", "encrypt", "--region", "us-east-1", NULL };
	CHECK(run_secret_cli("x", 1, noid, 4, out, sizeof(out)) == 2);
	/* Wrong credentials: KMS's (here the fake's) signature error. */
	setenv("AWS_SECRET_ACCESS_KEY", "wrong", 1);
	CHECK(run_secret_cli("x", 1, argv, 10, out, sizeof(out)) == 1);
	CHECK(strstr(kiln_errmsg(), "InvalidSignatureException") != NULL);
	unsetenv("AWS_ACCESS_KEY_ID");
	CHECK(run_secret_cli("x", 1, argv, 10, out, sizeof(out)) == 1);
	CHECK(strstr(kiln_errmsg(), "no AWS credentials") != NULL);
}

int main(void)
{
	CHECK(aws_creds_src_static(&creds, AKID, SECRET, NULL) == 0);
	start_server();
	RUN(test_http_parse);
	RUN(test_answers_and_b64);
	RUN(test_encrypt_decrypt_recipient);
	RUN(test_errors_and_retries);
	RUN(test_tls_checks);
	RUN(test_session_token_is_signed);
	RUN(test_secret_cli);
	unlink(ca_good);
	unlink(ca_other);
	rmdir(dir);
	return t_done();
}
