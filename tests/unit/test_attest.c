/* SPDX-License-Identifier: Apache-2.0 */
/* Attestation tests: real Nitro documents verify; every tampering, wrong root, time or claim fails. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/sha.h>
#include <openssl/ec.h>
#include <stdint.h>
#include <time.h>

#include "attest/attest.h"
#include "cbor/cbor.h"
#include "t.h"

/* From tests/fixtures/attestation/README.md. */
struct fixture {
	const char *file;
	uint64_t timestamp_ms;
	const char *module_id;
	const char *pcr[9]; /* PCR0-4 and PCR8; NULL for the others */
	const char *public_key, *user_data, *nonce;
};

#define Z48 "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"

static const struct fixture fixtures[] = {
	{
		"attestation/debug-mode-2022-10-12.cbor", 1665582606081,
		"i-03ad7cdb817437eeb-enc0183cc7569b3f6e1",
		{ Z48, Z48, Z48,
		  "4a9329d69c836267b18abbf9f4a38889124490453419e426818626348d21f989dc930b1562682a9082887454e53425aa",
		  "615fa5b1a8838d392d8e54aacc3d9ac0db87d63cb826516c4cc94307c986fe465b29f3f54a55a2f121265528ae0aa6a7",
		  NULL, NULL, NULL, Z48 },
		"6d7920737570657220736563726574206b6579", "68656c6c6f2c20776f726c6421", NULL,
	},
	{
		"attestation/pubkey-2024-11-30.cbor", 1732983768387,
		"i-0de38b2b6853cc9e8-enc0193685e7fee7d85",
		{ "ec74bfbe7f7445a6c7610e152935e028276f638042b74797b119648e13f7a3675796b721034c320f140ea001b41aeae2",
		  "fa2593b59f3e4fc7daba5cbdddfd3449d67cd02d43bb1128885e8f38b914d081dccdb68fff6d5b7a76bcb866a18a74a3",
		  "56ba201a72e36cd051e95e5c4724c899039b711770f4d9d4fe7a1de007119a10b364badcd35e90f728a5bdc910905723",
		  "3c9cadd84f0d027d6a5370c3de4af9179824fd6f3f02ebab723ee4439c75d8f5183e1c55f523415d44e9e6580b066552",
		  "98bdf1bde262272618ccd73279e8ee00dd2c36974bd253de55413a25ceb2cd7221421207c2c09dde609f87481b6f6c94",
		  NULL, NULL, NULL, Z48 },
		"0433a4701fa871b188983d570e2c2d8cf98fd66eb19ba8ca7617bc8e20e152a5d7f0205eae76e608ce855077e4565be69db4471ef72857253742f9602c11ff04e5",
		NULL, NULL,
	},
	{
		"attestation/signed-eif-2022-10-13.cbor", 1665651482136,
		"i-020b6af9246d90e92-enc0183d09086c24190",
		{ "f4d48b81a460c9916d1e685119074bf24660afd3e34fae9fca0a0d28d9d5599936332687e6f66fc890ac8cf150142d8b",
		  "bcdf05fefccaa8e55bf2c8d6dee9e79bbff31e34bf28a99aa19e6b29c37ee80b214a414b7607236edf26fcb78654e63f",
		  "d8f114da658de5481f8d9ec73907feb553560787522f705c92d7d96beed8e15e2aa611984e098c576832c292e8dc469a",
		  "4a9329d69c836267b18abbf9f4a38889124490453419e426818626348d21f989dc930b1562682a9082887454e53425aa",
		  "1f442c86d494a88185642086d904ed89f62fb66ee9997d7b1a4f040faab3bba4244c768a584e5778195b3afc715637c6",
		  NULL, NULL, NULL,
		  "8790eb3cce6c83d07e84b126dc61ca923333d6f66615c4a79157de48c5ab2418bdc60746ea7b7afbff03a1c6210201cb" },
		NULL, NULL,
		"cb3dc2eb76c0c1344adf10cc4868591e5bb7fa4b4a8069e144762f71ea1d0017e23f89ba9db04eb26b20fca1a954447d5fb466067b06a6a22eed8100c73b398a4f85a099f8ffcf84c654485590158c7d966e8b09af224654f97f63ec07096c78925f961eff653fd4f3aff684f07f7505722be06316cf8c48d643a33aba4af214991708ab2ee1ee85d42d0ad218915a369d62a483e60538ed8d0fb3d7f34712d895b24bd971a425cbfa9efd2c5e9d511656064260f8faf9cf69c5306137e748d9bcddb4d0d3e01fba1acb9ca35ff11694ab32bd135effe00124ee939b0c21db78cf8e50e37ce0eed59e5e6322197addaed909dcc2bfe5195ed32567a64eb59db3",
	},
};

#define NFIX (sizeof(fixtures) / sizeof(fixtures[0]))

struct loaded {
	uint8_t *buf;
	size_t len;
	struct kiln_attest_expect exp; /* everything the README lists */
	uint8_t store[4096];           /* backing bytes for exp */
};

static struct loaded docs[NFIX];
static struct kiln_attest_verifier *aws;

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;

	for (; h[0] && h[1]; h += 2)
		sscanf(h, "%2hhx", &out[n++]);
	return n;
}

static void set_blob(struct loaded *l, size_t *used, struct kiln_attest_blob *b, const char *h)
{
	if (!h)
		return;
	b->data = l->store + *used;
	b->len = unhex(h, l->store + *used);
	*used += b->len;
}

static int load(size_t i)
{
	const struct fixture *f = &fixtures[i];
	struct loaded *l = &docs[i];
	size_t used = 0;
	FILE *fp = fopen(t_fixture(f->file), "rb");

	if (!fp)
		return -1;
	l->buf = malloc(65536);
	l->len = fread(l->buf, 1, 65536, fp);
	fclose(fp);
	for (int p = 0; p < 9; p++)
		set_blob(l, &used, &l->exp.pcr[p], f->pcr[p]);
	set_blob(l, &used, &l->exp.public_key, f->public_key);
	set_blob(l, &used, &l->exp.user_data, f->user_data);
	set_blob(l, &used, &l->exp.nonce, f->nonce);
	return 0;
}

static int verify_copy(struct kiln_attest_verifier *v, const uint8_t *b, size_t n, int64_t at,
		       const struct kiln_attest_expect *exp)
{
	return kiln_attest_verify_bytes(v, b, n, at, exp, NULL);
}

TEST(test_real_documents_verify)
{
	for (size_t i = 0; i < NFIX; i++) {
		const struct fixture *f = &fixtures[i];
		struct kiln_attest_doc *doc = NULL;
		int rc = kiln_attest_verify_bytes(aws, docs[i].buf, docs[i].len, KILN_ATTEST_AT_DOC,
						  &docs[i].exp, &doc);

		CHECK(rc == 0);
		if (rc < 0)
			continue;
		CHECK(doc->timestamp_ms == f->timestamp_ms);
		CHECK(!strcmp(doc->module_id, f->module_id));
		CHECK(!strcmp(doc->digest, "SHA384"));
		CHECK(doc->cabundle_len == 4);
		CHECK(doc->alg == -35 && !doc->tagged);
		CHECK(!f->public_key == !doc->public_key.data);
		CHECK(!f->user_data == !doc->user_data.data);
		CHECK(!f->nonce == !doc->nonce.data);
		/* The explicit time equals the document time. */
		CHECK(kiln_attest_verify(aws, doc, (int64_t)f->timestamp_ms, &docs[i].exp) == 0);
		kiln_attest_doc_free(doc);
	}
}

/* Tagged COSE_Sign1 (tag 18) is accepted; another tag is not. */
TEST(test_tagged)
{
	uint8_t *b = malloc(docs[0].len + 1);

	b[0] = 0xd2;
	memcpy(b + 1, docs[0].buf, docs[0].len);
	CHECK(verify_copy(aws, b, docs[0].len + 1, KILN_ATTEST_AT_DOC, &docs[0].exp) == 0);
	b[0] = 0xd1;
	CHECK_ERR(verify_copy(aws, b, docs[0].len + 1, KILN_ATTEST_AT_DOC, NULL), "tag 17");
	free(b);
}

static size_t offset_in(const struct kiln_attest_doc *doc, const struct kiln_attest_blob *b)
{
	return (size_t)(b->data - doc->raw);
}

/* Flip bytes of the raw document: signature and payload; every flip must fail. */
TEST(test_flip_signature_and_payload)
{
	for (size_t i = 0; i < NFIX; i++) {
		struct loaded *l = &docs[i];
		struct kiln_attest_doc *doc;
		uint8_t *b = malloc(l->len);
		size_t sig, pay, fails = 0, tries = 0;
		int64_t at = (int64_t)fixtures[i].timestamp_ms;

		if (kiln_attest_parse(l->buf, l->len, &doc) < 0) {
			CHECK(!"parse");
			continue;
		}
		sig = offset_in(doc, &doc->signature);
		pay = offset_in(doc, &doc->payload);
		for (size_t k = 0; k < doc->signature.len; k++) {
			memcpy(b, l->buf, l->len);
			b[sig + k] ^= (uint8_t)(1u << (k % 8));
			CHECK_ERR(verify_copy(aws, b, l->len, at, NULL), "signature invalid");
		}
		/* Every payload byte outside the certificates, every 3rd inside. */
		for (size_t k = 0; k < doc->payload.len; k++) {
			size_t pos = pay + k;
			bool in_cert = pos >= offset_in(doc, &doc->certificate) + 8 &&
				       pos < offset_in(doc, &doc->cabundle[3]) + doc->cabundle[3].len - 8;

			if (in_cert && k % 3)
				continue;
			memcpy(b, l->buf, l->len);
			b[pos] ^= 0x01;
			tries++;
			fails += verify_copy(aws, b, l->len, at, NULL) < 0;
			memcpy(b, l->buf, l->len);
			b[pos] ^= 0x80;
			tries++;
			fails += verify_copy(aws, b, l->len, at, NULL) < 0;
		}
		CHECK(fails == tries);
		kiln_attest_doc_free(doc);
		free(b);
	}
}

/*
 * Flip bytes inside the leaf and bundle certificates of a parsed document,
 * so that the chain check itself (not the payload signature) must catch it.
 */
TEST(test_flip_certificates)
{
	for (size_t i = 0; i < NFIX; i++) {
		struct loaded *l = &docs[i];
		struct kiln_attest_doc *doc;
		int64_t at = (int64_t)fixtures[i].timestamp_ms;
		size_t stride = i == 0 ? 1 : 7;

		if (kiln_attest_parse(l->buf, l->len, &doc) < 0) {
			CHECK(!"parse");
			continue;
		}
		for (size_t c = 0; c <= doc->cabundle_len; c++) {
			struct kiln_attest_blob *cert =
				c == 0 ? &doc->certificate : &doc->cabundle[c - 1];
			uint8_t *p = doc->raw + offset_in(doc, cert);
			size_t bad = 0;

			for (size_t k = 0; k < cert->len; k += stride) {
				p[k] ^= 0x04;
				if (kiln_attest_verify(aws, doc, at, NULL) == 0 ||
				    !strstr(kiln_errmsg(), "certificate chain"))
					bad++;
				p[k] ^= 0x04;
			}
			CHECK(bad == 0);
			if (bad)
				fprintf(stderr, "    %s: cert %zu: %zu flips passed the chain check\n",
					fixtures[i].file, c, bad);
		}
		CHECK(kiln_attest_verify(aws, doc, at, NULL) == 0);
		kiln_attest_doc_free(doc);
	}
}

static char *fresh_root_pem(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-384");
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *pem;
	long n;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"aws.nitro-enclaves",
				   -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, name);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400L * 365 * 10);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365 * 10);
	X509_set_pubkey(x, key);
	X509_sign(x, key, EVP_sha384());
	PEM_write_bio_X509(bio, x);
	n = BIO_get_mem_data(bio, &data);
	pem = strndup(data, (size_t)n);
	BIO_free(bio);
	X509_NAME_free(name);
	X509_free(x);
	EVP_PKEY_free(key);
	return pem;
}

TEST(test_other_root)
{
	struct kiln_attest_verifier *v;
	char *pem = fresh_root_pem();

	CHECK(kiln_attest_verifier_new(pem, strlen(pem), &v) == 0);
	for (size_t i = 0; i < NFIX; i++)
		CHECK_ERR(verify_copy(v, docs[i].buf, docs[i].len, KILN_ATTEST_AT_DOC, NULL),
			  "cabundle[0] is not the pinned root");
	kiln_attest_verifier_free(v);
	free(pem);
	CHECK_ERR(kiln_attest_verifier_new("junk", 4, &v), "not a PEM certificate");
}

static int64_t cert_time_ms(const struct kiln_attest_blob *der, bool not_after)
{
	const unsigned char *p = der->data;
	X509 *x = d2i_X509(NULL, &p, (long)der->len);
	struct tm tm;

	ASN1_TIME_to_tm(not_after ? X509_get0_notAfter(x) : X509_get0_notBefore(x), &tm);
	X509_free(x);
	return (int64_t)timegm(&tm) * 1000;
}

TEST(test_time_window)
{
	for (size_t i = 0; i < NFIX; i++) {
		struct kiln_attest_doc *doc;
		int64_t nb, na;

		if (kiln_attest_parse(docs[i].buf, docs[i].len, &doc) < 0) {
			CHECK(!"parse");
			continue;
		}
		nb = cert_time_ms(&doc->certificate, false);
		na = cert_time_ms(&doc->certificate, true);
		/* Warm the cache, then step outside the window. */
		CHECK(kiln_attest_verify(aws, doc, KILN_ATTEST_AT_DOC, NULL) == 0);
		CHECK(kiln_attest_verify(aws, doc, nb, NULL) == 0);
		CHECK(kiln_attest_verify(aws, doc, na - 1000, NULL) == 0);
		CHECK_ERR(kiln_attest_verify(aws, doc, nb - 1000, NULL),
			  "certificate chain: certificate is not yet valid at certificate (leaf)");
		CHECK_ERR(kiln_attest_verify(aws, doc, nb - 1, NULL), "not yet valid");
		CHECK_ERR(kiln_attest_verify(aws, doc, na + 1000, NULL),
			  "certificate chain: certificate has expired");
		CHECK_ERR(kiln_attest_verify(aws, doc, na, NULL), "expired");
		CHECK_ERR(kiln_attest_verify(aws, doc, KILN_ATTEST_AT_NOW, NULL), "expired");
		CHECK_ERR(kiln_attest_verify(aws, doc, 0, NULL), "not yet valid");
		CHECK_ERR(kiln_attest_verify(aws, doc, 32503680000000LL, NULL), "expired"); /* 3000 */
		CHECK_ERR(kiln_attest_verify(aws, doc, INT64_MAX / 2, NULL), "certificate chain");
		CHECK_ERR(kiln_attest_verify(aws, doc, -5, NULL), "negative");
		CHECK(kiln_attest_verify(aws, doc, KILN_ATTEST_AT_DOC, NULL) == 0);
		kiln_attest_doc_free(doc);
	}
}

TEST(test_expectations)
{
	struct kiln_attest_expect exp;
	uint8_t other[512];

	for (size_t i = 0; i < NFIX; i++) {
		const struct kiln_attest_expect *good = &docs[i].exp;
		const uint8_t *b = docs[i].buf;
		size_t n = docs[i].len;

		for (int p = 0; p < 9; p++) {
			if (!good->pcr[p].data)
				continue;
			exp = *good;
			memcpy(other, good->pcr[p].data, good->pcr[p].len);
			other[good->pcr[p].len - 1] ^= 1;
			exp.pcr[p].data = other;
			char want[32];

			snprintf(want, sizeof(want), "PCR%d mismatch: expected ", p);
			CHECK_ERR(verify_copy(aws, b, n, KILN_ATTEST_AT_DOC, &exp), want);
			exp.pcr[p].len--;
			CHECK_ERR(verify_copy(aws, b, n, KILN_ATTEST_AT_DOC, &exp), want);
		}
		exp = *good;
		exp.pcr[9].data = other;
		exp.pcr[9].len = 48;
		memset(other, 0, 48);
		CHECK(verify_copy(aws, b, n, KILN_ATTEST_AT_DOC, &exp) == 0); /* PCR9 is zero too */
		exp.pcr[31].data = other;
		CHECK_ERR(verify_copy(aws, b, n, KILN_ATTEST_AT_DOC, &exp), "PCR31 mismatch");

		exp = *good;
		exp.nonce.data = (const uint8_t *)"nonce";
		exp.nonce.len = 5;
		CHECK_ERR(verify_copy(aws, b, n, KILN_ATTEST_AT_DOC, &exp), "nonce mismatch");
		exp = *good;
		exp.user_data.data = (const uint8_t *)"x";
		exp.user_data.len = 1;
		CHECK_ERR(verify_copy(aws, b, n, KILN_ATTEST_AT_DOC, &exp), "user_data mismatch");
		exp = *good;
		exp.public_key.data = (const uint8_t *)"x";
		exp.public_key.len = 1;
		CHECK_ERR(verify_copy(aws, b, n, KILN_ATTEST_AT_DOC, &exp), "public_key mismatch");
	}
	/* Documents without a nonce say so. */
	exp = docs[0].exp;
	exp.nonce.data = (const uint8_t *)"n";
	exp.nonce.len = 1;
	CHECK_ERR(verify_copy(aws, docs[0].buf, docs[0].len, KILN_ATTEST_AT_DOC, &exp),
		  "nonce mismatch: expected 6e, document has none");
}

TEST(test_truncation)
{
	for (size_t i = 0; i < NFIX; i++) {
		size_t ok = 0;

		for (size_t k = 0; k < docs[i].len; k++)
			ok += verify_copy(aws, docs[i].buf, k, KILN_ATTEST_AT_DOC, NULL) == 0;
		CHECK(ok == 0);
		/* Trailing bytes are refused too. */
		docs[i].buf[docs[i].len] = 0;
		CHECK_ERR(verify_copy(aws, docs[i].buf, docs[i].len + 1, KILN_ATTEST_AT_DOC, NULL),
			  "trailing");
	}
}

/* A warm cache must not let a tampered document through. */
TEST(test_cache_never_admits_tampered)
{
	struct kiln_attest_verifier *v;
	struct kiln_attest_doc *doc;
	uint64_t hits, misses;
	int64_t at = (int64_t)fixtures[1].timestamp_ms;

	CHECK(kiln_attest_verifier_new(NULL, 0, &v) == 0);
	CHECK(kiln_attest_parse(docs[1].buf, docs[1].len, &doc) == 0);
	CHECK(kiln_attest_verify(v, doc, at, NULL) == 0);
	CHECK(kiln_attest_verify(v, doc, at, NULL) == 0);
	kiln_attest_verifier_stats(v, &hits, &misses);
	CHECK(hits == 1 && misses == 1);

	/* Same chain, bad signature: a cache hit, and still a failure. */
	doc->raw[offset_in(doc, &doc->signature) + 10] ^= 1;
	CHECK_ERR(kiln_attest_verify(v, doc, at, NULL), "signature invalid");
	doc->raw[offset_in(doc, &doc->signature) + 10] ^= 1;
	/* Same chain, tampered payload claim. */
	doc->raw[offset_in(doc, &doc->pcr[0])] ^= 1;
	CHECK_ERR(kiln_attest_verify(v, doc, at, NULL), "signature invalid");
	doc->raw[offset_in(doc, &doc->pcr[0])] ^= 1;
	/* One byte of an intermediate: a miss, and the chain check fails. */
	doc->raw[offset_in(doc, &doc->cabundle[2]) + 200] ^= 1;
	CHECK_ERR(kiln_attest_verify(v, doc, at, NULL), "certificate chain");
	doc->raw[offset_in(doc, &doc->cabundle[2]) + 200] ^= 1;
	/* Outside the cached window. */
	CHECK_ERR(kiln_attest_verify(v, doc, cert_time_ms(&doc->certificate, true) + 1000, NULL),
		  "expired");
	/* Another document's chain shares the intermediates but not the leaf. */
	doc->certificate = (struct kiln_attest_blob){ 0 };
	{
		struct kiln_attest_doc *other;

		CHECK(kiln_attest_parse(docs[0].buf, docs[0].len, &other) == 0);
		doc->certificate = other->certificate;
		CHECK_ERR(kiln_attest_verify(v, doc, at, NULL), "certificate chain");
		kiln_attest_doc_free(other);
	}
	kiln_attest_doc_free(doc);
	CHECK(kiln_attest_parse(docs[1].buf, docs[1].len, &doc) == 0);
	CHECK(kiln_attest_verify(v, doc, at, NULL) == 0);
	kiln_attest_verifier_stats(v, &hits, &misses);
	CHECK(hits >= 3);
	kiln_attest_doc_free(doc);
	kiln_attest_verifier_free(v);
}

TEST(test_parse_errors)
{
	struct kiln_attest_doc *doc;

	CHECK_ERR(kiln_attest_parse("\x80", 1, &doc), "COSE_Sign1 has 0 elements");
	CHECK_ERR(kiln_attest_parse("\xa0", 1, &doc), "COSE_Sign1 is a map");
	CHECK_ERR(kiln_attest_parse("\x84\x40\xa0\x41\xa0\x40", 6, &doc), "protected header is empty");
	/* protected {1: -7} (ES256), payload {} */
	CHECK_ERR(kiln_attest_parse("\x84\x43\xa1\x01\x26\xa0\x41\xa0\x40", 9, &doc),
		  "field module_id missing");
	CHECK_ERR(kiln_attest_parse("\x84\x43\xa1\x01\x26\xa0\x41\x80\x40", 9, &doc),
		  "payload is a array");
	CHECK_ERR(kiln_attest_parse("\x84\x43\xa1\x02\x26\xa0\x41\xa0\x40", 9, &doc),
		  "critical");
}

/* ---- Synthetic documents signed by a throwaway CA, for checks real documents cannot reach. */

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
		       long nb_s, long na_s, bool ca)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	static long serial = 100;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_gmtime_adj(X509_getm_notBefore(x), nb_s);
	X509_gmtime_adj(X509_getm_notAfter(x), na_s);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
				  ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
				  ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	X509_sign(x, issuer_key ? issuer_key : key, EVP_sha384());
	X509_NAME_free(name);
	return x;
}

static void enc_cert(struct kiln_cbor_enc *e, X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);

	kiln_cbor_enc_bytes(e, der, (size_t)n);
	OPENSSL_free(der);
}

/* A COSE_Sign1 attestation document with the given alg, signer and chain (root first). */
static uint8_t *make_doc(int64_t alg, EVP_PKEY *signer, X509 *leaf, X509 **bundle, size_t nb,
			 uint64_t ts_ms, size_t *len)
{
	struct kiln_cbor_enc e;
	uint8_t *prot, *payload, *tbs, *out, md[48], sig[96], zero[48] = { 0 };
	size_t prot_len, payload_len, tbs_len;
	unsigned char *der = NULL;
	size_t der_len = 0;
	ECDSA_SIG *es;
	EVP_PKEY_CTX *ctx;
	const unsigned char *p;

	kiln_cbor_enc_init(&e);
	kiln_cbor_enc_map(&e, 1);
	kiln_cbor_enc_int(&e, 1);
	kiln_cbor_enc_int(&e, alg);
	if (kiln_cbor_enc_finish(&e, &prot, &prot_len) < 0)
		return NULL;
	kiln_cbor_enc_map(&e, 9);
	kiln_cbor_enc_text_z(&e, "module_id");
	kiln_cbor_enc_text_z(&e, "i-synthetic-enc0");
	kiln_cbor_enc_text_z(&e, "digest");
	kiln_cbor_enc_text_z(&e, "SHA384");
	kiln_cbor_enc_text_z(&e, "timestamp");
	kiln_cbor_enc_uint(&e, ts_ms);
	kiln_cbor_enc_text_z(&e, "pcrs");
	kiln_cbor_enc_map(&e, 1);
	kiln_cbor_enc_uint(&e, 0);
	kiln_cbor_enc_bytes(&e, zero, sizeof(zero));
	kiln_cbor_enc_text_z(&e, "certificate");
	enc_cert(&e, leaf);
	kiln_cbor_enc_text_z(&e, "cabundle");
	kiln_cbor_enc_array(&e, nb);
	for (size_t i = 0; i < nb; i++)
		enc_cert(&e, bundle[i]);
	kiln_cbor_enc_text_z(&e, "public_key");
	kiln_cbor_enc_null(&e);
	kiln_cbor_enc_text_z(&e, "user_data");
	kiln_cbor_enc_null(&e);
	kiln_cbor_enc_text_z(&e, "nonce");
	kiln_cbor_enc_bytes(&e, "abc", 3);
	if (kiln_cbor_enc_finish(&e, &payload, &payload_len) < 0)
		return NULL;
	kiln_cbor_enc_array(&e, 4);
	kiln_cbor_enc_text_z(&e, "Signature1");
	kiln_cbor_enc_bytes(&e, prot, prot_len);
	kiln_cbor_enc_bytes(&e, NULL, 0);
	kiln_cbor_enc_bytes(&e, payload, payload_len);
	if (kiln_cbor_enc_finish(&e, &tbs, &tbs_len) < 0)
		return NULL;
	SHA384(tbs, tbs_len, md);
	ctx = EVP_PKEY_CTX_new(signer, NULL);
	EVP_PKEY_sign_init(ctx);
	EVP_PKEY_sign(ctx, NULL, &der_len, md, sizeof(md));
	der = OPENSSL_malloc(der_len);
	EVP_PKEY_sign(ctx, der, &der_len, md, sizeof(md));
	EVP_PKEY_CTX_free(ctx);
	p = der;
	es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 48);
	BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 48, 48);
	ECDSA_SIG_free(es);
	OPENSSL_free(der);
	kiln_cbor_enc_array(&e, 4);
	kiln_cbor_enc_bytes(&e, prot, prot_len);
	kiln_cbor_enc_map(&e, 0);
	kiln_cbor_enc_bytes(&e, payload, payload_len);
	kiln_cbor_enc_bytes(&e, sig, sizeof(sig));
	free(prot);
	free(payload);
	free(tbs);
	return kiln_cbor_enc_finish(&e, &out, len) < 0 ? NULL : out;
}

static char *cert_pem(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *pem;
	long n;

	PEM_write_bio_X509(bio, x);
	n = BIO_get_mem_data(bio, &data);
	pem = strndup(data, (size_t)n);
	BIO_free(bio);
	return pem;
}

TEST(test_synthetic_chain)
{
	const long H = 3600, D = 86400;
	EVP_PKEY *kr = EVP_EC_gen("P-384"), *k1 = EVP_EC_gen("P-384"), *k2 = EVP_EC_gen("P-384");
	EVP_PKEY *kl = EVP_EC_gen("P-384"), *k256 = EVP_EC_gen("P-256");
	X509 *root = make_cert("root", kr, NULL, NULL, -100 * D, 100 * D, true);
	X509 *i1 = make_cert("i1", k1, root, kr, -10 * D, 2 * H, true); /* expires soon */
	X509 *i2 = make_cert("i2", k2, i1, k1, -5 * D, 5 * D, true);
	X509 *leaf = make_cert("leaf", kl, i2, k2, -1 * H, 3 * H, false);
	X509 *leaf256 = make_cert("leaf256", k256, i2, k2, -1 * H, 3 * H, false);
	X509 *stray = make_cert("stray", k1, root, kr, -10 * D, 10 * D, true);
	X509 *good[] = { root, i1, i2 }, *swapped[] = { root, i2, i1 },
	     *extra[] = { root, stray, i1, i2 };
	char *pem = cert_pem(root);
	struct kiln_attest_verifier *v;
	int64_t now = (int64_t)time(NULL) * 1000;
	uint64_t hits, misses;
	uint8_t *b;
	size_t n;

	CHECK(kiln_attest_verifier_new(pem, strlen(pem), &v) == 0);

	b = make_doc(-35, kl, leaf, good, 3, (uint64_t)now, &n);
	CHECK(verify_copy(v, b, n, KILN_ATTEST_AT_DOC, NULL) == 0);
	CHECK(verify_copy(v, b, n, now + 1 * H * 1000, NULL) == 0); /* cache hit */
	kiln_attest_verifier_stats(v, &hits, &misses);
	CHECK(hits == 1 && misses == 1);
	/* Inside the leaf's window but after i1 expired: the cached window is the intersection. */
	CHECK_ERR(verify_copy(v, b, n, now + 2 * H * 1000 + 60000, NULL),
		  "certificate chain: certificate has expired at cabundle[1]");
	/* The AWS root does not accept it. */
	CHECK_ERR(verify_copy(aws, b, n, KILN_ATTEST_AT_DOC, NULL), "not the pinned root");
	free(b);

	b = make_doc(-7, kl, leaf, good, 3, (uint64_t)now, &n);
	CHECK_ERR(verify_copy(v, b, n, KILN_ATTEST_AT_DOC, NULL),
		  "protected header: alg -7, want ES384 (-35)");
	free(b);
	b = make_doc(-35, k1, leaf, good, 3, (uint64_t)now, &n); /* signed by the wrong key */
	CHECK_ERR(verify_copy(v, b, n, KILN_ATTEST_AT_DOC, NULL), "signature invalid");
	free(b);
	b = make_doc(-35, kl, leaf, swapped, 3, (uint64_t)now, &n);
	CHECK_ERR(verify_copy(v, b, n, KILN_ATTEST_AT_DOC, NULL), "not in chain order");
	free(b);
	b = make_doc(-35, kl, leaf, extra, 4, (uint64_t)now, &n);
	CHECK_ERR(verify_copy(v, b, n, KILN_ATTEST_AT_DOC, NULL), "does not use every cabundle");
	free(b);
	b = make_doc(-35, kl, leaf, good, 2, (uint64_t)now, &n); /* i2 missing */
	CHECK_ERR(verify_copy(v, b, n, KILN_ATTEST_AT_DOC, NULL),
		  "unable to get local issuer certificate at certificate (leaf)");
	free(b);
	b = make_doc(-35, k256, leaf256, good, 3, (uint64_t)now, &n);
	CHECK_ERR(verify_copy(v, b, n, KILN_ATTEST_AT_DOC, NULL), "leaf key is not EC P-384");
	free(b);
	b = make_doc(-35, kl, i2, good, 3, (uint64_t)now, &n); /* a CA as leaf, wrong key */
	CHECK(verify_copy(v, b, n, KILN_ATTEST_AT_DOC, NULL) < 0);
	free(b);

	kiln_attest_verifier_free(v);
	free(pem);
	X509 *all[] = { root, i1, i2, leaf, leaf256, stray };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		X509_free(all[i]);
	EVP_PKEY *keys[] = { kr, k1, k2, kl, k256 };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		EVP_PKEY_free(keys[i]);
}

int main(void)
{
	for (size_t i = 0; i < NFIX; i++)
		if (load(i) < 0) {
			fprintf(stderr, "cannot read fixture %s\n", t_fixture(fixtures[i].file));
			return 1;
		}
	if (kiln_attest_verifier_new(NULL, 0, &aws) < 0) {
		fprintf(stderr, "%s\n", kiln_errmsg());
		return 1;
	}
	RUN(test_real_documents_verify);
	RUN(test_tagged);
	RUN(test_flip_signature_and_payload);
	RUN(test_flip_certificates);
	RUN(test_other_root);
	RUN(test_time_window);
	RUN(test_expectations);
	RUN(test_truncation);
	RUN(test_cache_never_admits_tampered);
	RUN(test_parse_errors);
	RUN(test_synthetic_chain);
	kiln_attest_verifier_free(aws);
	for (size_t i = 0; i < NFIX; i++)
		free(docs[i].buf);
	return t_done();
}
