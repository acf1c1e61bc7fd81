/* SPDX-License-Identifier: Apache-2.0 */
/* NSM tests: protocol bytes and strict decoding, stream framing, the sim NSM's semantics and documents. */
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/attest.h"
#include "cbor/cbor.h"
#include "eif/eif.h"
#include "nsm/nsm.h"
#include "nsm/sim.h"
#include "t.h"

#define HOUR_MS (3600LL * 1000)

static char state_dir[] = "/tmp/kiln-test-nsm-XXXXXX";
static int64_t fake_now = 1700000000000LL;

static int64_t fake_clock(void)
{
	return fake_now;
}

static const char *instance = "i-0123456789abcdef0";
static const char *role = "arn:aws:iam::000000000000:role/kiln-sim@test";

static void fill_pcrs(struct eif_pcrs *p)
{
	memset(p, 0, sizeof(*p));
	for (int i = 0; i < KILN_SHA384_LEN; i++) {
		p->pcr0[i] = (uint8_t)(0x10 + i);
		p->pcr1[i] = (uint8_t)(0x20 + i);
		p->pcr2[i] = (uint8_t)(0x30 + i);
		p->pcr8[i] = (uint8_t)(0x80 + i);
	}
	p->has_pcr8 = true;
}

static struct kiln_nsm_sim *new_sim(const struct eif_pcrs *pcrs)
{
	struct kiln_nsm_sim_opts o = {
		.pcrs = pcrs, .state_dir = state_dir, .instance_id = instance, .role_arn = role,
		.enclave_id = "00112233aabbccdd", .clock_ms = fake_clock,
	};
	struct kiln_nsm_sim *s = NULL;

	CHECK(kiln_nsm_sim_new(&o, &s) == 0);
	return s;
}

static void sha384_text(const char *text, uint8_t out[48])
{
	uint8_t buf[48 + 256] = { 0 };
	size_t n = strlen(text);

	memcpy(buf + 48, text, n);
	EVP_Digest(buf, 48 + n, out, NULL, EVP_sha384(), NULL);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static struct kiln_attest_verifier *sim_verifier(void)
{
	char path[512];
	size_t len;
	char *pem;
	struct kiln_attest_verifier *v = NULL;

	CHECK(kiln_sim_ca_root_path(state_dir, path, sizeof(path)) == 0);
	pem = read_file(path, &len);
	CHECK(pem != NULL);
	CHECK(pem && kiln_attest_verifier_new(pem, len, &v) == 0);
	free(pem);
	return v;
}

/* ---- protocol ---- */

static void check_bytes(const struct kiln_nsm_request *r, const uint8_t *want, size_t want_len)
{
	uint8_t *out = NULL;
	size_t len = 0;

	CHECK(kiln_nsm_request_encode(r, &out, &len) == 0);
	CHECK(len == want_len && out && !memcmp(out, want, want_len));
	free(out);
}

TEST(request_encodings)
{
	/* The kernel driver's own GetRandom request bytes. */
	static const uint8_t get_random[] = { 0x69, 'G', 'e', 't', 'R', 'a', 'n', 'd', 'o', 'm' };
	static const uint8_t describe_pcr[] = { 0xa1, 0x6b, 'D', 'e', 's', 'c', 'r', 'i', 'b', 'e',
						'P', 'C', 'R', 0xa1, 0x65, 'i', 'n', 'd', 'e', 'x',
						0x10 };
	static const uint8_t attestation[] = {
		0xa1, 0x6b, 'A', 't', 't', 'e', 's', 't', 'a', 't', 'i', 'o', 'n', 0xa3,
		0x69, 'u', 's', 'e', 'r', '_', 'd', 'a', 't', 'a', 0xf6,
		0x65, 'n', 'o', 'n', 'c', 'e', 0x42, 0x01, 0x02,
		0x6a, 'p', 'u', 'b', 'l', 'i', 'c', '_', 'k', 'e', 'y', 0xf6,
	};
	struct kiln_nsm_request r = { .op = KILN_NSM_GET_RANDOM };

	check_bytes(&r, get_random, sizeof(get_random));
	r = (struct kiln_nsm_request){ .op = KILN_NSM_DESCRIBE_PCR, .index = 16 };
	check_bytes(&r, describe_pcr, sizeof(describe_pcr));
	r = (struct kiln_nsm_request){ .op = KILN_NSM_ATTESTATION,
				       .nonce = { (const uint8_t *)"\x01\x02", 2 } };
	check_bytes(&r, attestation, sizeof(attestation));
}

TEST(request_round_trips)
{
	static const uint8_t data[] = "measure me";
	struct kiln_nsm_request in[] = {
		{ .op = KILN_NSM_DESCRIBE_PCR, .index = 3 },
		{ .op = KILN_NSM_EXTEND_PCR, .index = 17, .data = { data, sizeof(data) } },
		{ .op = KILN_NSM_LOCK_PCR, .index = 65535 },
		{ .op = KILN_NSM_LOCK_PCRS, .range = 20 },
		{ .op = KILN_NSM_DESCRIBE_NSM },
		{ .op = KILN_NSM_GET_RANDOM },
		{ .op = KILN_NSM_ATTESTATION, .user_data = { data, 3 }, .nonce = { data, 0 },
		  .public_key = { data, 5 } },
	};

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct kiln_nsm_request out;
		struct kiln_cbor_doc *doc = NULL;
		uint8_t *wire = NULL;
		size_t len;

		CHECK(kiln_nsm_request_encode(&in[i], &wire, &len) == 0);
		CHECK(kiln_nsm_request_decode(wire, len, &out, &doc) == 0);
		CHECK(out.op == in[i].op && out.index == in[i].index && out.range == in[i].range);
		CHECK(out.data.len == in[i].data.len);
		CHECK(out.user_data.len == in[i].user_data.len);
		CHECK((out.nonce.data != NULL) == (in[i].nonce.data != NULL));
		CHECK(out.public_key.len == in[i].public_key.len);
		kiln_nsm_doc_free(doc);
		free(wire);
	}
}

TEST(response_round_trips)
{
	static const uint8_t pcr[48] = { 1, 2, 3 };
	struct kiln_nsm_response in = { .op = KILN_NSM_DESCRIBE_NSM };
	struct kiln_nsm_response out;
	struct kiln_cbor_doc *doc = NULL;
	uint8_t *wire = NULL;
	size_t len;

	in.nsm = (struct kiln_nsm_description){ .version_major = 1, .version_minor = 2,
						.version_patch = 3, .max_pcrs = 32,
						.locked_pcrs = { 0, 1, 2, 16 }, .n_locked = 4,
						.digest = KILN_NSM_SHA384 };
	snprintf(in.nsm.module_id, sizeof(in.nsm.module_id), "i-abc-enc01");
	CHECK(kiln_nsm_response_encode(&in, &wire, &len) == 0);
	CHECK(kiln_nsm_response_decode(wire, len, &out, &doc) == 0);
	CHECK(out.op == KILN_NSM_DESCRIBE_NSM && out.nsm.version_patch == 3 &&
	      out.nsm.n_locked == 4 && out.nsm.locked_pcrs[3] == 16 &&
	      !strcmp(out.nsm.module_id, "i-abc-enc01") && out.nsm.digest == KILN_NSM_SHA384);
	kiln_nsm_doc_free(doc);
	free(wire);

	in = (struct kiln_nsm_response){ .op = KILN_NSM_DESCRIBE_PCR, .lock = true,
					 .data = { pcr, sizeof(pcr) } };
	CHECK(kiln_nsm_response_encode(&in, &wire, &len) == 0);
	CHECK(kiln_nsm_response_decode(wire, len, &out, &doc) == 0);
	CHECK(out.op == KILN_NSM_DESCRIBE_PCR && out.lock && out.data.len == 48 &&
	      !memcmp(out.data.data, pcr, 48));
	kiln_nsm_doc_free(doc);
	free(wire);

	in = (struct kiln_nsm_response){ .op = KILN_NSM_ERROR, .error = KILN_NSM_READ_ONLY_INDEX };
	CHECK(kiln_nsm_response_encode(&in, &wire, &len) == 0);
	CHECK(len == 1 + 6 + 14 && wire[0] == 0xa1);
	CHECK(kiln_nsm_response_decode(wire, len, &out, &doc) == 0);
	CHECK(out.op == KILN_NSM_ERROR && out.error == KILN_NSM_READ_ONLY_INDEX);
	kiln_nsm_doc_free(doc);
	free(wire);

	in = (struct kiln_nsm_response){ .op = KILN_NSM_LOCK_PCRS };
	CHECK(kiln_nsm_response_encode(&in, &wire, &len) == 0);
	CHECK(len == 9 && wire[0] == 0x68);
	free(wire);
}

/* Decode hex-free diagnostic-ish inputs built with the encoder. */
static int decode_req(const uint8_t *b, size_t n)
{
	struct kiln_nsm_request r;
	struct kiln_cbor_doc *doc = NULL;
	int rc = kiln_nsm_request_decode(b, n, &r, &doc);

	kiln_nsm_doc_free(doc);
	return rc;
}

static int decode_resp(const uint8_t *b, size_t n)
{
	struct kiln_nsm_response r;
	struct kiln_cbor_doc *doc = NULL;
	int rc = kiln_nsm_response_decode(b, n, &r, &doc);

	kiln_nsm_doc_free(doc);
	return rc;
}

#define B(...) ((const uint8_t[]){ __VA_ARGS__ }), sizeof((const uint8_t[]){ __VA_ARGS__ })
/* {"LockPCR": {...}} prefix: a1 67 "LockPCR" */
#define LOCKPCR 0xa1, 0x67, 'L', 'o', 'c', 'k', 'P', 'C', 'R'
#define INDEX 0x65, 'i', 'n', 'd', 'e', 'x'

TEST(request_decode_rejects)
{
	CHECK(decode_req(B(LOCKPCR, 0xa1, INDEX, 0x05)) == 0);
	CHECK_ERR(decode_req(B(LOCKPCR, 0xa1, INDEX, 0x1a, 0x00, 0x01, 0x00, 0x00)), "does not fit u16");
	CHECK_ERR(decode_req(B(LOCKPCR, 0xa1, INDEX, 0x25)), "want a unsigned integer");
	CHECK_ERR(decode_req(B(LOCKPCR, 0xa1, INDEX, 0x41, 0x05)), "want a unsigned integer");
	CHECK_ERR(decode_req(B(LOCKPCR, 0xa0)), "lacks field index");
	CHECK_ERR(decode_req(B(LOCKPCR, 0xa2, INDEX, 0x01, INDEX, 0x02)), "twice");
	CHECK_ERR(decode_req(B(LOCKPCR, 0xa2, INDEX, 0x01, 0x61, 'x', 0x02)), "unknown field");
	CHECK_ERR(decode_req(B(LOCKPCR, 0xa2, INDEX, 0x01, 0x01, 0x02)), "unknown field");
	CHECK_ERR(decode_req(B(LOCKPCR, 0x80)), "want a map");
	CHECK_ERR(decode_req(B(0x67, 'L', 'o', 'c', 'k', 'P', 'C', 'R')), "lacks its fields");
	CHECK_ERR(decode_req(B(0xa1, 0x69, 'G', 'e', 't', 'R', 'a', 'n', 'd', 'o', 'm', 0xf6)),
		  "takes no fields");
	CHECK_ERR(decode_req(B(0x63, 'F', 'o', 'o')), "unknown message type");
	CHECK_ERR(decode_req(B(0xa2, 0x61, 'a', 0x01, 0x61, 'b', 0x02)), "want 1");
	CHECK_ERR(decode_req(B(0x01)), "want a variant name");
	CHECK_ERR(decode_req(B(0xa1, 0x01, 0x02)), "want a variant name");
	CHECK_ERR(decode_req(B(0x69, 'G', 'e', 't', 'R', 'a', 'n', 'd', 'o', 'm', 0x00)), "trailing");
	CHECK_ERR(decode_req(B(0x69, 'G', 'e', 't')), "nsm: request");
	CHECK_ERR(decode_req(NULL, 0), "want 1..4096");
	/* The response-only "Error" variant is not a request. */
	CHECK_ERR(decode_req(B(0xa1, 0x65, 'E', 'r', 'r', 'o', 'r', 0x60)), "unknown message type");

	uint8_t big[KILN_NSM_REQUEST_MAX + 1] = { 0x69, 'G', 'e', 't', 'R', 'a', 'n', 'd', 'o', 'm' };
	CHECK_ERR(decode_req(big, sizeof(big)), "want 1..4096");

	/* Attestation: optional fields may be missing; present ones must be bytes or null. */
	struct kiln_nsm_request r;
	struct kiln_cbor_doc *doc = NULL;
	static const uint8_t att_empty[] = { 0xa1, 0x6b, 'A', 't', 't', 'e', 's', 't', 'a', 't',
					     'i', 'o', 'n', 0xa0 };
	CHECK(kiln_nsm_request_decode(att_empty, sizeof(att_empty), &r, &doc) == 0);
	CHECK(r.op == KILN_NSM_ATTESTATION && !r.nonce.data && !r.user_data.data &&
	      !r.public_key.data);
	kiln_nsm_doc_free(doc);
	CHECK_ERR(decode_req(B(0xa1, 0x6b, 'A', 't', 't', 'e', 's', 't', 'a', 't', 'i', 'o', 'n',
			       0xa1, 0x65, 'n', 'o', 'n', 'c', 'e', 0x61, 'x')),
		  "nonce is a text");
	/* Byte strings as arrays of integers (serde without serde_bytes) are refused. */
	CHECK_ERR(decode_req(B(0xa1, 0x6b, 'A', 't', 't', 'e', 's', 't', 'a', 't', 'i', 'o', 'n',
			       0xa1, 0x65, 'n', 'o', 'n', 'c', 'e', 0x81, 0x01)),
		  "nonce is a array");
}

TEST(response_decode_rejects)
{
	/* {"Error": "Nope"} */
	CHECK_ERR(decode_resp(B(0xa1, 0x65, 'E', 'r', 'r', 'o', 'r', 0x64, 'N', 'o', 'p', 'e')),
		  "unknown error code");
	CHECK_ERR(decode_resp(B(0xa1, 0x65, 'E', 'r', 'r', 'o', 'r', 0x01)), "want a text");
	/* {"ExtendPCR": {"data": 65 bytes}} is longer than any PCR. */
	uint8_t ext[64 + 80] = { 0xa1, 0x69, 'E', 'x', 't', 'e', 'n', 'd', 'P', 'C', 'R', 0xa1,
				 0x64, 'd', 'a', 't', 'a', 0x58, 65 };
	CHECK_ERR(decode_resp(ext, 19 + 65), "at most 64");
	CHECK(decode_resp(B(0x67, 'L', 'o', 'c', 'k', 'P', 'C', 'R')) == 0);
	/* DescribePCR lock must be a bool. */
	CHECK_ERR(decode_resp(B(0xa1, 0x6b, 'D', 'e', 's', 'c', 'r', 'i', 'b', 'e', 'P', 'C', 'R',
				0xa2, 0x64, 'l', 'o', 'c', 'k', 0x01, 0x64, 'd', 'a', 't', 'a',
				0x41, 0x00)),
		  "want a bool");

	/* DescribeNSM with locked_pcrs out of order. */
	struct kiln_nsm_response in = { .op = KILN_NSM_DESCRIBE_NSM };
	uint8_t *wire = NULL;
	size_t len;

	in.nsm = (struct kiln_nsm_description){ .max_pcrs = 32, .locked_pcrs = { 3, 2 },
						.n_locked = 2, .digest = KILN_NSM_SHA384 };
	snprintf(in.nsm.module_id, sizeof(in.nsm.module_id), "m");
	CHECK(kiln_nsm_response_encode(&in, &wire, &len) == 0);
	CHECK_ERR(decode_resp(wire, len), "not an increasing set");
	free(wire);
	in.nsm.n_locked = 0;
	in.nsm.module_id[0] = '\0';
	CHECK(kiln_nsm_response_encode(&in, &wire, &len) == 0);
	CHECK_ERR(decode_resp(wire, len), "module_id is empty");
	free(wire);
}

/* ---- stream framing ---- */

TEST(stream_framing)
{
	int sv[2];
	uint8_t buf[64];
	size_t len = 0;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(kiln_nsm_stream_write(sv[0], (const uint8_t *)"hello", 5, 16, 1000) == 0);
	CHECK(kiln_nsm_stream_read(sv[1], buf, sizeof(buf), &len, 1000) == 1);
	CHECK(len == 5 && !memcmp(buf, "hello", 5));
	CHECK_ERR(kiln_nsm_stream_write(sv[0], (const uint8_t *)"hello", 5, 4, 1000), "want 1..4");
	CHECK_ERR(kiln_nsm_stream_write(sv[0], (const uint8_t *)"", 0, 4, 1000), "want 1..4");
	/* A length beyond the reader's maximum. */
	CHECK(write(sv[0], "\x00\x00\x01\x00", 4) == 4);
	CHECK_ERR(kiln_nsm_stream_read(sv[1], buf, sizeof(buf), &len, 1000), "want 1..64");
	/* A zero length. */
	CHECK(write(sv[0], "\x00\x00\x00\x00", 4) == 4);
	CHECK_ERR(kiln_nsm_stream_read(sv[1], buf, sizeof(buf), &len, 1000), "want 1..64");
	/* Nothing arrives: timeout. */
	CHECK_ERR(kiln_nsm_stream_read(sv[1], buf, sizeof(buf), &len, 50), "timed out");
	/* Truncated body, then EOF. */
	CHECK(write(sv[0], "\x00\x00\x00\x08" "abc", 7) == 7);
	close(sv[0]);
	CHECK_ERR(kiln_nsm_stream_read(sv[1], buf, sizeof(buf), &len, 1000), "EOF after 3 of 8");
	close(sv[1]);

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	close(sv[0]);
	CHECK(kiln_nsm_stream_read(sv[1], buf, sizeof(buf), &len, 1000) == 0); /* clean EOF */
	close(sv[1]);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(write(sv[0], "\x00\x00", 2) == 2);
	close(sv[0]);
	CHECK_ERR(kiln_nsm_stream_read(sv[1], buf, sizeof(buf), &len, 1000), "inside a message header");
	close(sv[1]);
}

TEST(dev_errors)
{
	struct kiln_nsm *n = NULL;
	uint8_t v[64];
	size_t len;

	CHECK_ERR(kiln_nsm_open_dev("/nonexistent/nsm", &n), "open /nonexistent/nsm");
	/* Any other device answers the ioctl with ENOTTY. */
	CHECK(kiln_nsm_open_dev("/dev/null", &n) == 0);
	CHECK_ERR(kiln_nsm_describe_pcr(n, 0, NULL, v, &len), "NSM_IOCTL_RAW");
	kiln_nsm_close(n);
}

/* ---- the sim NSM ---- */

TEST(sim_pcrs)
{
	struct eif_pcrs p;
	struct kiln_nsm_sim *s;
	struct kiln_nsm *n = NULL;
	struct kiln_nsm_description d;
	uint8_t v[64], want[48], zero[48] = { 0 };
	size_t len = 0;
	bool locked = false;

	fill_pcrs(&p);
	s = new_sim(&p);
	if (!s)
		return;
	CHECK(kiln_nsm_sim_client(s, &n) == 0);
	CHECK(!strcmp(kiln_nsm_sim_module_id(s), "i-0123456789abcdef0-enc00112233aabbccdd"));

	CHECK(kiln_nsm_describe_nsm(n, &d) == 0);
	CHECK(d.version_major == 1 && d.max_pcrs == 32 && d.digest == KILN_NSM_SHA384);
	CHECK(d.n_locked == 16 && d.locked_pcrs[15] == 15);
	CHECK(!strcmp(d.module_id, kiln_nsm_sim_module_id(s)));

	CHECK(kiln_nsm_describe_pcr(n, 0, &locked, v, &len) == 0);
	CHECK(locked && len == 48 && !memcmp(v, p.pcr0, 48));
	CHECK(kiln_nsm_describe_pcr(n, 8, &locked, v, &len) == 0);
	CHECK(!memcmp(v, p.pcr8, 48));
	CHECK(kiln_nsm_describe_pcr(n, 4, &locked, v, &len) == 0);
	sha384_text(instance, want);
	CHECK(!memcmp(v, want, 48));
	CHECK(kiln_nsm_describe_pcr(n, 3, &locked, v, &len) == 0);
	sha384_text(role, want);
	CHECK(!memcmp(v, want, 48));
	CHECK(kiln_nsm_describe_pcr(n, 16, &locked, v, &len) == 0);
	CHECK(!locked && !memcmp(v, zero, 48));
	CHECK_ERR(kiln_nsm_describe_pcr(n, 32, &locked, v, &len), "InvalidIndex");

	/* Extend: SHA-384(old || data) on PCR16..31 only. */
	CHECK(kiln_nsm_extend_pcr(n, 16, "abc", 3, v, &len) == 0);
	{
		uint8_t buf[51] = { 0 };

		memcpy(buf + 48, "abc", 3);
		EVP_Digest(buf, sizeof(buf), want, NULL, EVP_sha384(), NULL);
	}
	CHECK(len == 48 && !memcmp(v, want, 48));
	CHECK(kiln_nsm_describe_pcr(n, 16, &locked, v, &len) == 0 && !memcmp(v, want, 48));
	CHECK(kiln_nsm_extend_pcr(n, 0, "x", 1, v, &len) == -EROFS);
	CHECK(strstr(kiln_errmsg(), "ReadOnlyIndex") != NULL);
	CHECK_ERR(kiln_nsm_extend_pcr(n, 15, "x", 1, v, &len), "ReadOnlyIndex");
	CHECK(kiln_nsm_extend_pcr(n, 32, "x", 1, v, &len) == -ERANGE);
	CHECK(kiln_nsm_extend_pcr(n, 65535, "x", 1, v, &len) == -ERANGE);

	/* Locks. */
	CHECK(kiln_nsm_lock_pcr(n, 16) == 0);
	CHECK_ERR(kiln_nsm_extend_pcr(n, 16, "x", 1, v, &len), "ReadOnlyIndex");
	CHECK(kiln_nsm_describe_pcr(n, 16, &locked, v, &len) == 0 && locked);
	CHECK(kiln_nsm_lock_pcr(n, 16) == 0);
	CHECK_ERR(kiln_nsm_lock_pcr(n, 32), "InvalidIndex");
	CHECK(kiln_nsm_extend_pcr(n, 19, "x", 1, v, &len) == 0);
	CHECK(kiln_nsm_lock_pcrs(n, 20) == 0);
	CHECK_ERR(kiln_nsm_extend_pcr(n, 19, "x", 1, v, &len), "ReadOnlyIndex");
	CHECK(kiln_nsm_extend_pcr(n, 20, "x", 1, v, &len) == 0);
	CHECK_ERR(kiln_nsm_lock_pcrs(n, 33), "InvalidIndex");
	CHECK(kiln_nsm_lock_pcrs(n, 32) == 0);
	CHECK_ERR(kiln_nsm_extend_pcr(n, 31, "x", 1, v, &len), "ReadOnlyIndex");
	CHECK(kiln_nsm_describe_nsm(n, &d) == 0 && d.n_locked == 32);

	/* GetRandom. */
	uint8_t rnd[300];
	CHECK(kiln_nsm_get_random(n, rnd, sizeof(rnd), &len) == 0);
	CHECK(len == 256 && memcmp(rnd, zero, 48));
	CHECK(kiln_nsm_get_random(n, rnd, 10, &len) == 0 && len == 10);

	kiln_nsm_close(n);
	kiln_nsm_sim_free(s);
}

static int count_map(const struct kiln_cbor_item *m)
{
	return m && m->type == KILN_CBOR_MAP ? (int)m->count : -1;
}

TEST(sim_document)
{
	static const uint8_t nonce[] = "nonce-123", user[] = "user data", pk[] = "pubkey-der";
	struct kiln_nsm_blob bn = { nonce, sizeof(nonce) }, bu = { user, sizeof(user) },
			     bp = { pk, sizeof(pk) };
	struct eif_pcrs p;
	struct kiln_nsm_sim *s;
	struct kiln_nsm *n = NULL;
	struct kiln_attest_verifier *v, *aws = NULL;
	struct kiln_attest_doc *doc = NULL;
	struct kiln_attest_expect exp;
	uint8_t *raw = NULL;
	size_t len = 0;

	fill_pcrs(&p);
	s = new_sim(&p);
	if (!s)
		return;
	CHECK(kiln_nsm_sim_client(s, &n) == 0);
	CHECK(kiln_nsm_attestation(n, &bu, &bn, &bp, &raw, &len) == 0);
	CHECK(kiln_attest_parse(raw, len, &doc) == 0);
	if (!doc)
		goto out;
	CHECK(!doc->tagged && !doc->noncanonical && doc->alg == -35 && doc->signature.len == 96);
	CHECK(doc->protected_hdr.len == 4 && !memcmp(doc->protected_hdr.data, "\xa1\x01\x38\x22", 4));
	CHECK(doc->timestamp_ms == (uint64_t)fake_now);
	CHECK(!strcmp(doc->module_id, kiln_nsm_sim_module_id(s)));
	CHECK(doc->cabundle_len == KILN_SIM_CA_LEVELS);
	CHECK(doc->nonce.len == sizeof(nonce) && !memcmp(doc->nonce.data, nonce, sizeof(nonce)));
	CHECK(doc->user_data.len == sizeof(user) && !memcmp(doc->user_data.data, user, sizeof(user)));
	CHECK(doc->public_key.len == sizeof(pk) && !memcmp(doc->public_key.data, pk, sizeof(pk)));
	CHECK(!memcmp(doc->pcr[0].data, p.pcr0, 48) && !memcmp(doc->pcr[1].data, p.pcr1, 48) &&
	      !memcmp(doc->pcr[2].data, p.pcr2, 48) && !memcmp(doc->pcr[8].data, p.pcr8, 48));
	CHECK(doc->pcr[15].data && !doc->pcr[16].data);

	/* Payload: the real documents' key order, 16 PCRs. */
	{
		static const char *const keys[] = { "module_id", "digest", "timestamp", "pcrs",
						    "certificate", "cabundle", "public_key",
						    "user_data", "nonce" };
		const struct kiln_cbor_item *m = kiln_cbor_root(doc->payload_cbor), *k;
		size_t i = 0;

		CHECK(count_map(m) == 9);
		for (k = m ? m->child : NULL; k; k = k->next->next, i++)
			CHECK(i < 9 && kiln_cbor_text_eq(k, keys[i]));
		CHECK(count_map(kiln_cbor_map_get_text(m, "pcrs")) == 16);
	}

	/* Verifies with the sim root, with the EIF's PCRs and the nonce expected. */
	v = sim_verifier();
	memset(&exp, 0, sizeof(exp));
	exp.pcr[0] = (struct kiln_attest_blob){ p.pcr0, 48 };
	exp.pcr[2] = (struct kiln_attest_blob){ p.pcr2, 48 };
	exp.nonce = (struct kiln_attest_blob){ nonce, sizeof(nonce) };
	CHECK(v && kiln_attest_verify(v, doc, KILN_ATTEST_AT_DOC, &exp) == 0);
	exp.pcr[1] = (struct kiln_attest_blob){ p.pcr0, 48 };
	CHECK_ERR(kiln_attest_verify(v, doc, KILN_ATTEST_AT_DOC, &exp), "PCR1");
	/* The leaf lives 3 hours. */
	CHECK(kiln_attest_verify(v, doc, fake_now + 3 * HOUR_MS - 1000, NULL) == 0);
	CHECK(kiln_attest_verify(v, doc, fake_now + 3 * HOUR_MS + 1000, NULL) < 0);
	/* Never with the AWS root. */
	CHECK(kiln_attest_verifier_new(NULL, 0, &aws) == 0);
	CHECK_ERR(kiln_attest_verify(aws, doc, KILN_ATTEST_AT_DOC, NULL), "pinned root");
	kiln_attest_verifier_free(aws);

	/* A tampered payload byte fails. */
	{
		struct kiln_attest_doc *bad = NULL;
		size_t off = (size_t)(doc->payload.data - doc->raw) + 20;

		raw[off] ^= 1;
		CHECK(kiln_attest_parse(raw, len, &bad) == 0);
		CHECK(bad && kiln_attest_verify(v, bad, KILN_ATTEST_AT_DOC, NULL) < 0);
		kiln_attest_doc_free(bad);
		raw[off] ^= 1;
	}
	free(raw);
	raw = NULL;

	/* No optional fields: nulls. Locking PCR16 adds it to the document. */
	CHECK(kiln_nsm_lock_pcr(n, 16) == 0);
	CHECK(kiln_nsm_attestation(n, NULL, NULL, NULL, &raw, &len) == 0);
	kiln_attest_doc_free(doc);
	doc = NULL;
	CHECK(kiln_attest_parse(raw, len, &doc) == 0);
	CHECK(doc && !doc->nonce.data && !doc->user_data.data && !doc->public_key.data);
	CHECK(doc && doc->pcr[16].data && count_map(kiln_cbor_map_get_text(
					      kiln_cbor_root(doc->payload_cbor), "pcrs")) == 17);
	CHECK(doc && kiln_attest_verify(v, doc, KILN_ATTEST_AT_DOC, NULL) == 0);
	free(raw);
	raw = NULL;

	/* Limits of the optional fields. */
	{
		uint8_t big[1025] = { 0 };
		struct kiln_nsm_blob b512 = { big, 512 }, b513 = { big, 513 }, b1025 = { big, 1025 },
				     empty = { big, 0 };

		CHECK(kiln_nsm_attestation(n, &b512, &b512, NULL, &raw, &len) == 0);
		free(raw);
		raw = NULL;
		CHECK(kiln_nsm_attestation(n, NULL, &b513, NULL, &raw, &len) == -EMSGSIZE);
		CHECK_ERR(kiln_nsm_attestation(n, &b513, NULL, NULL, &raw, &len), "InputTooLarge");
		CHECK(kiln_nsm_attestation(n, NULL, NULL, &b1025, &raw, &len) == -EMSGSIZE);
		CHECK_ERR(kiln_nsm_attestation(n, NULL, NULL, &empty, &raw, &len), "InvalidArgument");
		CHECK(kiln_nsm_attestation(n, &empty, &empty, NULL, &raw, &len) == 0);
		free(raw);
		raw = NULL;
		/* The request itself is bounded by the driver's 4 KiB. */
		uint8_t huge[KILN_NSM_REQUEST_MAX] = { 0 };
		struct kiln_nsm_blob bh = { huge, sizeof(huge) };
		CHECK_ERR(kiln_nsm_attestation(n, &bh, NULL, NULL, &raw, &len), "limit is 4096");
	}
	kiln_attest_verifier_free(v);
out:
	free(raw);
	kiln_attest_doc_free(doc);
	kiln_nsm_close(n);
	kiln_nsm_sim_free(s);
}

static X509 *der_cert(const uint8_t *der, size_t len)
{
	return d2i_X509(NULL, &der, (long)len);
}

static char last_log[512];

static void remember_log(void *ctx, const char *msg)
{
	(void)ctx;
	snprintf(last_log, sizeof(last_log), "%s", msg);
}

TEST(sim_ca_files_and_renewal)
{
	char path[600], root_before[600];
	struct stat st;
	struct kiln_nsm_sim *s;
	struct kiln_nsm *n = NULL;
	struct kiln_attest_verifier *v;
	struct kiln_attest_doc *d1 = NULL, *d2 = NULL;
	uint8_t *r1 = NULL, *r2 = NULL;
	size_t l1, l2, rlen1, rlen2;
	char *pem1, *pem2;

	s = new_sim(NULL);
	if (!s)
		return;
	snprintf(root_before, sizeof(root_before), "%s/sim-ca/root.pem", state_dir);
	pem1 = read_file(root_before, &rlen1);
	for (int i = 0; i < 3; i++) {
		static const char *const names[] = { "root", "int1", "int2" };

		snprintf(path, sizeof(path), "%s/sim-ca/%s.key", state_dir, names[i]);
		CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
		snprintf(path, sizeof(path), "%s/sim-ca/%s.pem", state_dir, names[i]);
		CHECK(stat(path, &st) == 0);
	}
	CHECK(kiln_nsm_sim_client(s, &n) == 0);
	CHECK(kiln_nsm_attestation(n, NULL, NULL, NULL, &r1, &l1) == 0);
	CHECK(kiln_attest_parse(r1, l1, &d1) == 0);

	/* The chain's extensions. */
	if (d1) {
		X509 *leaf = der_cert(d1->certificate.data, d1->certificate.len);
		X509 *root = der_cert(d1->cabundle[0].data, d1->cabundle[0].len);
		X509 *i1 = der_cert(d1->cabundle[1].data, d1->cabundle[1].len);
		X509 *i2 = der_cert(d1->cabundle[2].data, d1->cabundle[2].len);

		CHECK(leaf && root && i1 && i2);
		CHECK(X509_check_ca(leaf) == 0 && X509_check_ca(root) > 0 && X509_check_ca(i1) > 0 &&
		      X509_check_ca(i2) > 0);
		CHECK(X509_get_pathlen(i1) == 1 && X509_get_pathlen(i2) == 0 &&
		      X509_get_pathlen(root) == -1);
		CHECK((X509_get_key_usage(leaf) & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)) ==
		      (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION));
		CHECK(X509_get_key_usage(i2) == KU_KEY_CERT_SIGN);
		CHECK(X509_check_issued(root, root) == X509_V_OK);
		CHECK(X509_check_issued(i2, leaf) == X509_V_OK);
		CHECK(X509_cmp_time(X509_get0_notAfter(leaf), &(time_t){ (time_t)(fake_now / 1000 + 3 * 3600 + 1) }) < 0);
		X509_free(leaf);
		X509_free(root);
		X509_free(i1);
		X509_free(i2);
	}

	/* Within 2.5 hours the leaf is reused; after, a new one. */
	fake_now += 2 * HOUR_MS;
	CHECK(kiln_nsm_attestation(n, NULL, NULL, NULL, &r2, &l2) == 0);
	CHECK(kiln_attest_parse(r2, l2, &d2) == 0);
	CHECK(d1 && d2 && d1->certificate.len == d2->certificate.len &&
	      !memcmp(d1->certificate.data, d2->certificate.data, d1->certificate.len));
	kiln_attest_doc_free(d2);
	free(r2);
	fake_now += HOUR_MS;
	CHECK(kiln_nsm_attestation(n, NULL, NULL, NULL, &r2, &l2) == 0);
	CHECK(kiln_attest_parse(r2, l2, &d2) == 0);
	CHECK(d1 && d2 && (d1->certificate.len != d2->certificate.len ||
			   memcmp(d1->certificate.data, d2->certificate.data, d1->certificate.len)));
	v = sim_verifier();
	CHECK(v && d2 && kiln_attest_verify(v, d2, KILN_ATTEST_AT_DOC, NULL) == 0);
	kiln_attest_doc_free(d2);
	free(r2);

	/* Eight days on, int2 (7 days) has been re-issued; the root stays. */
	fake_now += 8 * 24 * HOUR_MS;
	CHECK(kiln_nsm_attestation(n, NULL, NULL, NULL, &r2, &l2) == 0);
	CHECK(kiln_attest_parse(r2, l2, &d2) == 0);
	CHECK(d1 && d2 && d1->cabundle[0].len == d2->cabundle[0].len &&
	      !memcmp(d1->cabundle[0].data, d2->cabundle[0].data, d1->cabundle[0].len));
	CHECK(d1 && d2 && (d1->cabundle[2].len != d2->cabundle[2].len ||
			   memcmp(d1->cabundle[2].data, d2->cabundle[2].data, d1->cabundle[2].len)));
	CHECK(v && d2 && kiln_attest_verify(v, d2, KILN_ATTEST_AT_DOC, NULL) == 0);
	pem2 = read_file(root_before, &rlen2);
	CHECK(pem1 && pem2 && rlen1 == rlen2 && !memcmp(pem1, pem2, rlen1));
	free(pem1);
	free(pem2);

	/* A second sim on the same machine shares the CA files. */
	{
		struct kiln_nsm_sim *s2 = new_sim(NULL);
		struct kiln_nsm *n2 = NULL;
		uint8_t *r3 = NULL;
		size_t l3;

		CHECK(s2 && kiln_nsm_sim_client(s2, &n2) == 0);
		CHECK(n2 && kiln_nsm_attestation(n2, NULL, NULL, NULL, &r3, &l3) == 0);
		CHECK(r3 && kiln_attest_verify_bytes(v, r3, l3, KILN_ATTEST_AT_DOC, NULL, NULL) == 0);
		free(r3);
		kiln_nsm_close(n2);
		kiln_nsm_sim_free(s2);
	}
	/* A mismatching root key is an error, never a silent new root. */
	{
		char key[600];
		struct kiln_nsm_sim *s3 = NULL;
		struct kiln_nsm_sim_opts o = { .state_dir = state_dir, .instance_id = instance,
					       .role_arn = role, .clock_ms = fake_clock };

		snprintf(path, sizeof(path), "%s/sim-ca/int1.key", state_dir);
		snprintf(key, sizeof(key), "%s/sim-ca/root.key", state_dir);
		CHECK(rename(key, "/tmp/kiln-test-nsm-root.key") == 0);
		CHECK(link(path, key) == 0);
		struct kiln_nsm *n3 = NULL;
		uint8_t *r4 = NULL;
		size_t l4;

		/* The CA is loaded by the first document (an enclave's start does not
		 * wait): the enclave gets InternalError, the log the reason. */
		o.log = remember_log;
		CHECK(kiln_nsm_sim_new(&o, &s3) == 0);
		CHECK(s3 && kiln_nsm_sim_client(s3, &n3) == 0);
		CHECK_ERR(kiln_nsm_attestation(n3, NULL, NULL, NULL, &r4, &l4), "InternalError");
		CHECK(strstr(last_log, "do not match") != NULL);
		free(r4);
		kiln_nsm_close(n3);
		kiln_nsm_sim_free(s3);
		CHECK(unlink(key) == 0 && rename("/tmp/kiln-test-nsm-root.key", key) == 0);
	}
	kiln_attest_verifier_free(v);
	kiln_attest_doc_free(d1);
	kiln_attest_doc_free(d2);
	free(r1);
	free(r2);
	kiln_nsm_close(n);
	kiln_nsm_sim_free(s);
}

TEST(sim_bad_requests)
{
	static const uint8_t junk[][12] = {
		{ 0xff }, { 0x63, 'F', 'o', 'o' }, { 0xa1, 0x61, 'x', 0x01 }, { 0x9f, 0x01 },
	};
	struct kiln_nsm_sim *s = new_sim(NULL);

	for (size_t i = 0; s && i < sizeof(junk) / sizeof(junk[0]); i++) {
		uint8_t *resp = NULL;
		size_t len = 0;
		struct kiln_nsm_response r;
		struct kiln_cbor_doc *doc = NULL;

		CHECK(kiln_nsm_sim_handle(s, junk[i], i == 0 ? 1 : 4, &resp, &len) == 0);
		CHECK(kiln_nsm_response_decode(resp, len, &r, &doc) == 0);
		CHECK(r.op == KILN_NSM_ERROR && r.error == KILN_NSM_INVALID_ARGUMENT);
		kiln_nsm_doc_free(doc);
		free(resp);
	}
	kiln_nsm_sim_free(s);
}

/* A transport that answers with canned bytes: the client must refuse bad responses. */
struct canned {
	const uint8_t *resp;
	size_t len;
};

static int canned_roundtrip(void *ctx, const uint8_t *req, size_t req_len, uint8_t *resp,
			    size_t *resp_len)
{
	struct canned *c = ctx;

	memcpy(resp, c->resp, c->len);
	*resp_len = c->len;
	return 0;
}

TEST(client_rejects_bad_responses)
{
	static const struct kiln_nsm_transport t = { .roundtrip = canned_roundtrip };
	static const uint8_t lock[] = { 0x67, 'L', 'o', 'c', 'k', 'P', 'C', 'R' };
	struct canned c = { lock, sizeof(lock) };
	struct kiln_nsm *n = NULL;
	uint8_t v[64];
	size_t len;

	CHECK(kiln_nsm_open(&t, &c, &n) == 0);
	CHECK(kiln_nsm_lock_pcr(n, 1) == 0);
	CHECK(kiln_nsm_describe_pcr(n, 1, NULL, v, &len) == -EPROTO);
	CHECK(strstr(kiln_errmsg(), "answered with LockPCR") != NULL);
	c.resp = (const uint8_t *)"\xa1\x65" "Error" "\x6d" "InternalError";
	c.len = 1 + 6 + 14;
	CHECK(kiln_nsm_lock_pcr(n, 1) == -EIO);
	c.resp = (const uint8_t *)"\x82\x01";
	c.len = 2;
	CHECK(kiln_nsm_lock_pcr(n, 1) < 0);
	kiln_nsm_close(n);
}

struct server_arg {
	struct kiln_nsm_sim *s;
	int fd;
	int rc;
};

static void *serve_thread(void *p)
{
	struct server_arg *a = p;

	a->rc = kiln_nsm_sim_serve(a->s, a->fd, 300);
	return NULL;
}

TEST(sim_over_stream)
{
	struct eif_pcrs p;
	struct server_arg a = { .fd = -1 };
	struct kiln_nsm *n = NULL;
	struct kiln_nsm_description d;
	pthread_t th;
	int sv[2];
	uint8_t *raw = NULL;
	size_t len;

	fill_pcrs(&p);
	a.s = new_sim(&p);
	if (!a.s)
		return;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	a.fd = sv[1];
	CHECK(pthread_create(&th, NULL, serve_thread, &a) == 0);
	CHECK(kiln_nsm_open_stream(sv[0], 5000, &n) == 0);
	CHECK(kiln_nsm_describe_nsm(n, &d) == 0 && d.n_locked == 16);
	usleep(600 * 1000); /* idle longer than the server's per-message timeout */
	CHECK(kiln_nsm_attestation(n, NULL, NULL, NULL, &raw, &len) == 0);
	CHECK(raw && len > 1000 && len < KILN_NSM_RESPONSE_MAX);
	free(raw);
	kiln_nsm_close(n); /* closes sv[0]: the server sees EOF */
	pthread_join(th, NULL);
	CHECK(a.rc == 0);
	close(sv[1]);
	kiln_nsm_sim_free(a.s);
}

TEST(seed_rng)
{
	struct kiln_nsm_sim *s = new_sim(NULL);
	struct kiln_nsm *n = NULL;
	int fd = open("/dev/random", O_WRONLY | O_CLOEXEC);
	int rc;

	CHECK(s && kiln_nsm_sim_client(s, &n) == 0);
	rc = n ? kiln_nsm_seed_rng(n, fd, 512) : -1;
	if (rc == -EPERM)
		fprintf(stderr, "  (seed_rng: not root, RNDADDENTROPY refused as expected)\n");
	else
		CHECK(rc == 0);
	/* Not a random device: the ioctl fails with a message. */
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	CHECK_ERR(kiln_nsm_seed_rng(n, null, 1), "RNDADDENTROPY");
	close(null);
	if (fd >= 0)
		close(fd);
	kiln_nsm_close(n);
	kiln_nsm_sim_free(s);
}

int main(void)
{
	char cmd[128];

	if (!mkdtemp(state_dir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(request_encodings);
	RUN(request_round_trips);
	RUN(response_round_trips);
	RUN(request_decode_rejects);
	RUN(response_decode_rejects);
	RUN(stream_framing);
	RUN(dev_errors);
	RUN(sim_pcrs);
	RUN(sim_document);
	RUN(sim_ca_files_and_renewal);
	RUN(sim_bad_requests);
	RUN(client_rejects_bad_responses);
	RUN(sim_over_stream);
	RUN(seed_rng);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", state_dir);
	return t_done();
}
