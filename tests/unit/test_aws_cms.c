/* SPDX-License-Identifier: Apache-2.0 */
/* CMS EnvelopedData (KMS CiphertextForRecipient): real fixtures, mutations, seal/open. */
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/cms.h"
#include "t.h"
#include "util/secure.h"

struct blob {
	uint8_t *p;
	size_t n;
};

static struct blob load(const char *rel)
{
	struct blob b = { malloc(AWS_CMS_MAX), 0 };
	FILE *f = fopen(t_fixture(rel), "rb");
	CHECK(f != NULL);
	if (f) {
		b.n = fread(b.p, 1, AWS_CMS_MAX, f);
		fclose(f);
	}
	return b;
}

/* "key=hex" from a .expected file, decoded. */
static size_t expected(const char *rel, const char *key, uint8_t *out, size_t max)
{
	char line[4096];
	size_t n = 0;
	FILE *f = fopen(t_fixture(rel), "r");
	CHECK(f != NULL);
	while (f && fgets(line, sizeof(line), f)) {
		size_t kl = strlen(key);
		if (strncmp(line, key, kl) || line[kl] != '=')
			continue;
		for (const char *h = line + kl + 1; h[0] && h[1] && h[0] != '\n' && n < max; h += 2) {
			unsigned v;
			sscanf(h, "%2x", &v);
			out[n++] = (uint8_t)v;
		}
	}
	if (f)
		fclose(f);
	return n;
}

static void check_fixture(const char *name)
{
	char ber[128], exp[128];
	uint8_t want[1024];
	snprintf(ber, sizeof(ber), "kms/ciphertext-for-recipient-%s.ber", name);
	snprintf(exp, sizeof(exp), "kms/ciphertext-for-recipient-%s.expected", name);
	struct blob b = load(ber);
	struct aws_cms_env env;

	CHECK(aws_cms_parse(b.p, b.n, &env) == 0);
	size_t n = expected(exp, "encrypted_key", want, sizeof(want));
	CHECK(n == 256 && env.encrypted_key_len == n && memcmp(env.encrypted_key, want, n) == 0);
	n = expected(exp, "iv", want, sizeof(want));
	CHECK(n == 16 && memcmp(env.iv, want, 16) == 0);
	n = expected(exp, "ciphertext", want, sizeof(want));
	CHECK(n > 0 && env.content_len == n && memcmp(env.content, want, n) == 0);
	CHECK(env.ski && env.ski_len == 32);
	aws_cms_env_free(&env);

	/* Every truncation is refused, and so is one byte too many. */
	int refused = 0;
	for (size_t cut = 0; cut < b.n; cut++)
		refused += aws_cms_parse(b.p, cut, &env) < 0;
	CHECK(refused == (int)b.n);
	b.p[b.n] = 0;
	CHECK_ERR(aws_cms_parse(b.p, b.n + 1, &env), "after the ContentInfo");
	free(b.p);
}

TEST(test_fixtures)
{
	check_fixture("constructed");
	check_fixture("primitive");
}

/* One byte changed in the constructed fixture, and the error it must give. */
static const struct mutation {
	size_t off;
	uint8_t val;
	const char *err;
} mutations[] = {
	{ 0, 0x31, "ContentInfo" },
	{ 2, 0x04, "tag 0x04" },
	{ 12, 0x02, "envelopedData" },
	{ 13, 0xa1, "ContentInfo content" },
	{ 18, 0x02, "EnvelopedData version" }, /* a 2-byte version */
	{ 18, 0x80, "indefinite length on a primitive" },
	{ 19, 0x09, "EnvelopedData version" },
	{ 20, 0x30, "recipientInfos" },
	{ 21, 0x85, "more than 4 bytes" },
	{ 23, 0xff, "past the end" },
	{ 24, 0xa1, "KeyTransRecipientInfo" },
	{ 30, 0x05, "KeyTransRecipientInfo version" },
	{ 77, 0x01, "RSAES-OAEP" },
	{ 80, 0xa2, "OAEP hash" },
	{ 94, 0x02, "OAEP hash" },
	{ 110, 0x09, "OAEP mask generation" },
	{ 124, 0x02, "MGF1 hash" },
	{ 127, 0x03, "not an OCTET STRING" },
	{ 399, 0x02, "id-data" },
	{ 412, 0x02, "AES-256-CBC" },
	{ 414, 0x0f, "IV of 15 bytes" },
	{ 431, 0xa1, "encryptedContent" },
	{ 433, 0x05, "not an OCTET STRING" },
	{ 434, 0x2f, "" },
	{ 490, 0x01, "end-of-contents" },
	{ 492, 0x01, "end-of-contents" },
};

TEST(test_mutations)
{
	struct blob b = load("kms/ciphertext-for-recipient-constructed.ber");
	struct aws_cms_env env;
	CHECK(b.n == 493);
	for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
		const struct mutation *m = &mutations[i];
		uint8_t saved = b.p[m->off];
		b.p[m->off] = m->val;
		int rc = aws_cms_parse(b.p, b.n, &env);
		if (rc == 0 || !strstr(kiln_errmsg(), m->err))
			fprintf(stderr, "mutation at %zu: rc %d, \"%s\"\n", m->off, rc,
				kiln_errmsg());
		CHECK_ERR(rc, m->err);
		b.p[m->off] = saved;
	}
	CHECK(aws_cms_parse(b.p, b.n, &env) == 0);
	aws_cms_env_free(&env);
	free(b.p);
}

/* The fixture's content re-chunked: [0] { OCTET STRING { 16 }, cons OCTET STRING { 32 } }. */
TEST(test_rechunked_and_nested)
{
	struct blob b = load("kms/ciphertext-for-recipient-constructed.ber");
	uint8_t *m = malloc(AWS_CMS_MAX);
	const uint8_t *ct = b.p + 435; /* 48 bytes of content */
	size_t n = 0;
	struct aws_cms_env env;

	memcpy(m, b.p, 431);
	n = 431;
	memcpy(m + n, "\xa0\x80\x04\x10", 4);
	n += 4;
	memcpy(m + n, ct, 16);
	n += 16;
	memcpy(m + n, "\x24\x80\x04\x20", 4);
	n += 4;
	memcpy(m + n, ct + 16, 32);
	n += 32;
	memset(m + n, 0, 4 + 8); /* two EOCs for the strings, four for the rest */
	n += 12;
	CHECK(aws_cms_parse(m, n, &env) == 0);
	CHECK(env.content_len == 48 && memcmp(env.content, ct, 48) == 0);
	aws_cms_env_free(&env);

	/* Constructed strings nested 20 deep: refused, not a stack overflow. */
	n = 431;
	memcpy(m + n, "\xa0\x80", 2);
	n += 2;
	for (int i = 0; i < 20; i++, n += 2)
		memcpy(m + n, "\x24\x80", 2);
	memcpy(m + n, "\x04\x10", 2);
	n += 2;
	memcpy(m + n, ct, 16);
	n += 16;
	memset(m + n, 0, 2 * 21 + 8);
	n += 2 * 21 + 8;
	CHECK_ERR(aws_cms_parse(m, n, &env), "nested too deep");
	/* A content that is not a whole number of AES blocks. */
	n = 431;
	memcpy(m + n, "\x80\x0f", 2);
	memcpy(m + n + 2, ct, 15);
	n += 17;
	memset(m + n, 0, 8);
	n += 8;
	CHECK_ERR(aws_cms_parse(m, n, &env), "encrypted content of 15 bytes");
	free(m);
	free(b.p);
}

TEST(test_seal_open)
{
	EVP_PKEY *key = EVP_RSA_gen(2048), *other = EVP_RSA_gen(2048);
	struct blob fx = load("kms/ciphertext-for-recipient-constructed.ber");
	static const size_t lens[] = { 1, 15, 16, 17, 4096 };
	uint8_t pt[4096];
	CHECK(key && other);
	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint8_t *blob = NULL, *out = NULL;
		size_t bn = 0, on = 0;
		CHECK(aws_cms_seal(key, pt, lens[i], &blob, &bn) == 0);
		/* KMS's layout: the same header and algorithm bytes as the real blob. */
		CHECK(bn > 431 && memcmp(blob, fx.p, 31) == 0);
		CHECK(memcmp(blob + 65, fx.p + 65, 127 - 65) == 0);
		CHECK(memcmp(blob + 387, fx.p + 387, 413 - 387) == 0);
		CHECK(aws_cms_open(blob, bn, key, &out, &on) == 0);
		CHECK(on == lens[i] && out && memcmp(out, pt, on) == 0);
		kiln_free_secret(out, on);
		CHECK_ERR(aws_cms_open(blob, bn, other, &out, &on), "does not decrypt");
		/* A flipped last ciphertext byte breaks the padding (or the value). */
		blob[bn - 11] ^= 1;
		int rc = aws_cms_open(blob, bn, key, &out, &on);
		CHECK(rc < 0 || on != lens[i] || memcmp(out, pt, on) != 0);
		if (rc == 0)
			kiln_free_secret(out, on);
		free(blob);
	}
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	free(fx.p);
}

int main(void)
{
	RUN(test_fixtures);
	RUN(test_mutations);
	RUN(test_rechunked_and_nested);
	RUN(test_seal_open);
	return t_done();
}
