/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for dev-kms: key store, ciphertext blobs, operations, SigV4 checks, CMS for recipients. */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "aws/cms.h"
#include "aws/sigv4.h"
#include "devkms/devkms.h"
#include "t.h"

static char dir[] = "/tmp/test_devkms.XXXXXX";
static struct kiln_devkms d;

/* Run op with a JSON body; returns the parsed answer (status in *status). */
static json_t *call(const char *op, const char *body, int *status)
{
	char target[64];
	struct kiln_devkms_resp r;
	json_error_t e;

	snprintf(target, sizeof(target), "TrentService.%s", op);
	kiln_devkms_handle(&d, target, "eu-west-1", (const uint8_t *)body, strlen(body), &r);
	*status = r.status;
	json_t *j = json_loadb(r.body, r.len, 0, &e);
	kiln_devkms_resp_free(&r);
	return j;
}

static const char *type_of(json_t *j)
{
	return json_string_value(json_object_get(j, "__type"));
}

static char key_id[64];

TEST(create_and_files)
{
	int st;
	json_t *j = call("CreateKey", "{\"Description\":\"d\"}", &st);
	const char *id = json_string_value(json_object_get(json_object_get(j, "KeyMetadata"), "KeyId"));
	CHECK(st == 200 && id && kiln_devkms_is_key_id(id));
	snprintf(key_id, sizeof(key_id), "%s", id ? id : "");
	char arn[128];
	snprintf(arn, sizeof(arn), "arn:aws:kms:eu-west-1:111122223333:key/%s", key_id);
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(j, "KeyMetadata"), "Arn")) ?: "", arn));
	json_decref(j);
	char path[512];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/keys/%s.key", dir, key_id);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	/* Unsupported key kinds are refused, not silently made symmetric. */
	j = call("CreateKey", "{\"KeySpec\":\"RSA_2048\"}", &st);
	CHECK(st == 400 && !strcmp(type_of(j), "UnsupportedOperationException"));
	json_decref(j);
	j = call("CreateKey", "{\"Policy\":\"{}\"}", &st);
	CHECK(st == 400 && !strcmp(type_of(j), "MalformedPolicyDocumentException"));
	json_decref(j);
}

TEST(encrypt_decrypt)
{
	char body[512];
	int st;
	snprintf(body, sizeof(body), "{\"KeyId\":\"%s\",\"Plaintext\":\"c2VjcmV0\",\"EncryptionContext\":{\"a\":\"1\"}}", key_id);
	json_t *j = call("Encrypt", body, &st);
	const char *ct = json_string_value(json_object_get(j, "CiphertextBlob"));
	CHECK(st == 200 && ct);
	char dec[1024];
	snprintf(dec, sizeof(dec), "{\"CiphertextBlob\":\"%s\",\"EncryptionContext\":{\"a\":\"1\"}}", ct ?: "");
	json_t *k = call("Decrypt", dec, &st);
	CHECK(st == 200 && !strcmp(json_string_value(json_object_get(k, "Plaintext")) ?: "", "c2VjcmV0"));
	json_decref(k);
	/* Another context, or a flipped byte: InvalidCiphertextException. */
	snprintf(dec, sizeof(dec), "{\"CiphertextBlob\":\"%s\"}", ct ?: "");
	k = call("Decrypt", dec, &st);
	CHECK(st == 400 && !strcmp(type_of(k) ?: "", "InvalidCiphertextException"));
	json_decref(k);
	uint8_t *raw = NULL;
	size_t n = 0;
	CHECK(ct && kiln_devkms_b64_decode(ct, &raw, &n) == 0 && n > 0);
	if (!raw || !n) {
		free(raw);
		json_decref(j);
		return;
	}
	raw[n - 1] ^= 1;
	char *b = kiln_devkms_b64_encode(raw, n);
	snprintf(dec, sizeof(dec), "{\"CiphertextBlob\":\"%s\",\"EncryptionContext\":{\"a\":\"1\"}}", b);
	k = call("Decrypt", dec, &st);
	CHECK(st == 400 && !strcmp(type_of(k) ?: "", "InvalidCiphertextException"));
	json_decref(k);
	free(b);
	free(raw);
	json_decref(j);
}

TEST(validation)
{
	int st;
	json_t *j = call("Encrypt", "{\"Plaintext\":\"eA==\"}", &st);
	CHECK(st == 400 && !strcmp(type_of(j) ?: "", "ValidationException"));
	json_decref(j);
	j = call("Encrypt", "[1]", &st);
	CHECK(st == 400 && !strcmp(type_of(j) ?: "", "ValidationException"));
	json_decref(j);
	j = call("Nope", "{}", &st);
	CHECK(st == 400 && !strcmp(type_of(j) ?: "", "UnknownOperationException"));
	json_decref(j);
	j = call("DescribeKey", "{\"KeyId\":\"00000000-0000-4000-8000-000000000000\"}", &st);
	CHECK(st == 400 && !strcmp(type_of(j) ?: "", "NotFoundException"));
	json_decref(j);
	j = call("GenerateRandom", "{\"NumberOfBytes\":1025}", &st);
	CHECK(st == 400 && !strcmp(type_of(j) ?: "", "ValidationException"));
	json_decref(j);
	uint8_t *out;
	size_t n;
	CHECK(kiln_devkms_b64_decode("abc", &out, &n) < 0);
	CHECK(kiln_devkms_b64_decode("ab=c", &out, &n) < 0);
	CHECK(kiln_devkms_b64_decode("a*==", &out, &n) < 0);
	CHECK(kiln_devkms_b64_decode("YQ==", &out, &n) == 0 && n == 1 && out[0] == 'a');
	free(out);
}

/* Requests with several bad fields: the answer is the first in each operation's field order. */
TEST(first_error_wins)
{
	static const struct {
		const char *op, *body, *type, *msg;
	} cases[] = {
		{ "Encrypt", "{\"KeyId\":5,\"Plaintext\":\"!!\"}", "ValidationException",
		  "Start of structure or map found where not expected at 'KeyId'" },
		{ "Encrypt", "{\"KeyId\":\"x\",\"Plaintext\":\"!!\",\"EncryptionContext\":5}",
		  "ValidationException", "Value at 'Plaintext' is not valid base64" },
		{ "Decrypt", "{\"CiphertextBlob\":\"QUJD\",\"EncryptionAlgorithm\":\"X\",\"EncryptionContext\":5}",
		  "UnsupportedOperationException",
		  "dev-kms supports only EncryptionAlgorithm SYMMETRIC_DEFAULT" },
		{ "Decrypt", "{\"CiphertextBlob\":\"QUJD\",\"EncryptionContext\":5,\"Recipient\":5}",
		  "ValidationException", "EncryptionContext must be a map of strings" },
		{ "GenerateDataKey", "{\"KeyId\":\"x\",\"KeySpec\":\"AES_256\",\"NumberOfBytes\":16,\"EncryptionContext\":5}",
		  "ValidationException", "Please specify either number of bytes or key spec." },
		{ "GenerateDataKeyWithoutPlaintext", "{\"KeyId\":\"x\",\"KeySpec\":\"AES_9\",\"EncryptionContext\":5}",
		  "ValidationException",
		  "1 validation error detected: Value 'AES_9' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]" },
		{ "CreateKey", "{\"Policy\":\"bad\",\"KeyUsage\":\"X\",\"Origin\":\"X\"}",
		  "UnsupportedOperationException", "dev-kms supports only KeyUsage ENCRYPT_DECRYPT" },
		{ "CreateKey", "{\"Policy\":\"bad\",\"Origin\":\"X\"}", "UnsupportedOperationException",
		  "dev-kms supports only Origin AWS_KMS" },
		{ "PutKeyPolicy", "{\"KeyId\":\"x\",\"Policy\":\"bad\",\"PolicyName\":\"other\"}",
		  "NotFoundException", "Policy other does not exist; a key has one policy, named default" },
		{ "PutKeyPolicy", "{\"KeyId\":\"x\",\"PolicyName\":\"other\"}", "ValidationException",
		  "1 validation error detected: Value null at 'Policy' failed to satisfy constraint: Member must not be null" },
		{ "GetKeyPolicy", "{\"PolicyName\":5}", "ValidationException",
		  "1 validation error detected: Value null at 'KeyId' failed to satisfy constraint: Member must not be null" },
		{ "ListKeys", "{\"Limit\":0,\"Marker\":5}", "ValidationException",
		  "1 validation error detected: Value at 'Limit' failed to satisfy constraint: Member must have value between 1 and 1000" },
		{ "GenerateRandom", "{\"Recipient\":5}", "ValidationException",
		  "1 validation error detected: Value null at 'numberOfBytes' failed to satisfy constraint: Member must not be null" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st;
		json_t *j = call(cases[i].op, cases[i].body, &st);
		const char *msg = json_string_value(json_object_get(j, "message"));

		CHECK(st == 400 && !strcmp(type_of(j) ?: "", cases[i].type));
		CHECK(msg && !strcmp(msg, cases[i].msg));
		if (!msg || strcmp(msg, cases[i].msg))
			fprintf(stderr, "  %s %s: %s\n", cases[i].op, cases[i].body, msg ?: "(none)");
		json_decref(j);
	}
}

TEST(ciphertext_format)
{
	struct kiln_devkms_key k = { .id = "11111111-2222-4333-8444-555555555555" }, k2 = k;
	uint8_t *blob, *pt;
	size_t bl, pl;
	char id[KILN_DEVKMS_KEY_ID_LEN + 1];

	memset(k.material, 7, sizeof(k.material));
	CHECK(kiln_devkms_ct_seal(&k, (const uint8_t *)"ctx", 3, (const uint8_t *)"hi", 2, &blob, &bl) == 0);
	CHECK(bl == KILN_DEVKMS_CT_OVERHEAD + 2 && !memcmp(blob, "KDK\x01", 4));
	CHECK(kiln_devkms_ct_key_id(blob, bl, id) == 0 && !strcmp(id, k.id));
	CHECK(kiln_devkms_ct_open(&k, (const uint8_t *)"ctx", 3, blob, bl, &pt, &pl) == 0 && pl == 2 && !memcmp(pt, "hi", 2));
	free(pt);
	CHECK(kiln_devkms_ct_open(&k, (const uint8_t *)"ctY", 3, blob, bl, &pt, &pl) == -EBADMSG);
	memset(k2.material, 8, sizeof(k2.material));
	CHECK(kiln_devkms_ct_open(&k2, (const uint8_t *)"ctx", 3, blob, bl, &pt, &pl) == -EBADMSG);
	/* Rewriting the key id in the header breaks the tag (the id is bound in). */
	blob[5] = blob[5] == '1' ? '2' : '1';
	memcpy(k.id, blob + 5, KILN_DEVKMS_KEY_ID_LEN);
	CHECK(kiln_devkms_ct_open(&k, (const uint8_t *)"ctx", 3, blob, bl, &pt, &pl) == -EBADMSG);
	CHECK(kiln_devkms_ct_key_id(blob, 10, id) == -EBADMSG);
	free(blob);
}

TEST(cms_parses_like_kms)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	uint8_t *spki = NULL, *cms = NULL, *pt = NULL;
	int sl = i2d_PUBKEY(key, &spki);
	size_t cl = 0, pl = 0;
	struct aws_cms_env env = { 0 };

	CHECK(kiln_devkms_cms_for_recipient(spki, (size_t)sl, (const uint8_t *)"plain", 5, &cms, &cl) == 0);
	/* The layout of the real fixtures: indefinite-length BER, 32-byte SKI, 256-byte key. */
	CHECK(cl > 2 && cms[0] == 0x30 && cms[1] == 0x80);
	CHECK(aws_cms_parse(cms, cl, &env) == 0);
	CHECK(env.ski_len == 32 && env.encrypted_key_len == 256 && env.content_len == 16);
	CHECK(aws_cms_open(cms, cl, key, &pt, &pl) == 0 && pl == 5 && !memcmp(pt, "plain", 5));
	/* Byte for byte KMS's layout (a real CiphertextForRecipient): everything but
	 * the SKI, the encrypted key, the IV and the content. */
	uint8_t real[2048];
	FILE *f = fopen(t_fixture("kms/ciphertext-for-recipient-constructed.ber"), "rb");
	size_t rl = f ? fread(real, 1, sizeof(real), f) : 0;
	if (f)
		fclose(f);
	const size_t ski = 33, alg = 65, after_key = alg + 62 + 4 + 256;
	CHECK(rl > after_key + 32 && cl > after_key + 32);
	if (rl > after_key + 32 && cl > after_key + 32) {
		CHECK(!memcmp(cms, real, ski));                         /* to the SKI */
		CHECK(!memcmp(cms + alg, real + alg, 62 + 4));          /* OAEP params, key header */
		CHECK(!memcmp(cms + after_key, real + after_key, 28));  /* data, AES-256-CBC, IV header */
	}
	aws_cms_env_free(&env);
	free(pt);
	free(cms);
	/* Not RSA, or too small: refused. */
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	uint8_t *espki = NULL;
	int el = i2d_PUBKEY(ec, &espki);
	CHECK_ERR(kiln_devkms_cms_for_recipient(espki, (size_t)el, (const uint8_t *)"x", 1, &cms, &cl), "RSA");
	OPENSSL_free(espki);
	EVP_PKEY_free(ec);
	OPENSSL_free(spki);
	EVP_PKEY_free(key);
}

/* A request signed with creds at time t, parsed; returns 0 and fills out. */
static int signed_req(const char *secret, time_t t, char *buf, size_t size, struct kiln_devkms_req *r)
{
	char date[17], authz[AWS_SIGV4_AUTHZ_MAX];
	const char *body = "{}";
	aws_sigv4_amz_date(t, date);
	struct aws_sigv4_header h[] = { { "Host", "127.0.0.1" }, { "X-Amz-Date", date },
					{ "X-Amz-Target", "TrentService.ListKeys" },
					{ "Content-Type", "application/x-amz-json-1.1" } };
	struct aws_sigv4_req q = { "POST", "/", "", h, 4, (const uint8_t *)body, 2, NULL };
	struct aws_creds c = { .access_key_id = KILN_DEVKMS_TEST_ACCESS_KEY };
	snprintf(c.secret_access_key, sizeof(c.secret_access_key), "%s", secret);
	if (aws_sigv4_sign(&q, &c, "us-east-2", "kms", date, authz, sizeof(authz)) < 0)
		return -1;
	int n = snprintf(buf, size, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Date: %s\r\n"
			 "X-Amz-Target: TrentService.ListKeys\r\nContent-Type: application/x-amz-json-1.1\r\n"
			 "Authorization: %s\r\nContent-Length: 2\r\n\r\n%s", date, authz, body);
	return kiln_devkms_req_parse((const uint8_t *)buf, (size_t)n, r);
}

TEST(sigv4_checks)
{
	char buf[4096], region[64];
	struct kiln_devkms_req r;
	struct kiln_devkms_resp resp = { 0 };
	time_t now = time(NULL);

	CHECK(signed_req(KILN_DEVKMS_TEST_SECRET_KEY, now, buf, sizeof(buf), &r) == 0);
	CHECK(kiln_devkms_auth(&d, &r, region, sizeof(region), &resp) == 0 && !strcmp(region, "us-east-2"));
	CHECK(signed_req("wrong", now, buf, sizeof(buf), &r) == 0);
	CHECK_ERR(kiln_devkms_auth(&d, &r, region, sizeof(region), &resp), "InvalidSignatureException");
	kiln_devkms_resp_free(&resp);
	/* 15 minutes of skew are fine, 16 are not (as AWS). */
	CHECK(signed_req(KILN_DEVKMS_TEST_SECRET_KEY, now - 14 * 60, buf, sizeof(buf), &r) == 0);
	d.now_override_s = now;
	CHECK(kiln_devkms_auth(&d, &r, region, sizeof(region), &resp) == 0);
	CHECK(signed_req(KILN_DEVKMS_TEST_SECRET_KEY, now - 16 * 60, buf, sizeof(buf), &r) == 0);
	CHECK_ERR(kiln_devkms_auth(&d, &r, region, sizeof(region), &resp), "Signature expired");
	kiln_devkms_resp_free(&resp);
	CHECK(signed_req(KILN_DEVKMS_TEST_SECRET_KEY, now + 16 * 60, buf, sizeof(buf), &r) == 0);
	CHECK_ERR(kiln_devkms_auth(&d, &r, region, sizeof(region), &resp), "not yet current");
	kiln_devkms_resp_free(&resp);
	d.now_override_s = 0;
	/* No Authorization at all. */
	const char *plain = "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
	CHECK(kiln_devkms_req_parse((const uint8_t *)plain, strlen(plain), &r) == 0);
	CHECK_ERR(kiln_devkms_auth(&d, &r, region, sizeof(region), &resp), "MissingAuthenticationToken");
	kiln_devkms_resp_free(&resp);
}

int main(void)
{
	if (!mkdtemp(dir) || kiln_devkms_init(&d, dir, NULL, NULL, NULL, 0) < 0) {
		fprintf(stderr, "setup: %s\n", kiln_errmsg());
		return 1;
	}
	RUN(create_and_files);
	RUN(encrypt_decrypt);
	RUN(validation);
	RUN(first_error_wins);
	RUN(ciphertext_format);
	RUN(cms_parses_like_kms);
	RUN(sigv4_checks);
	kiln_devkms_free(&d);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return t_done();
}
