/* SPDX-License-Identifier: Apache-2.0 */
/* CBOR codec tests: RFC 8949 Appendix A both ways, malformed input, limits. */
#include <math.h>
#include <stdint.h>

#include "cbor/cbor.h"
#include "t.h"

static size_t unhex(const char *h, uint8_t *out, size_t max)
{
	size_t n = 0;

	for (; h[0] && h[1] && n < max; h += 2)
		sscanf(h, "%2hhx", &out[n++]);
	return n;
}

/* Re-encode a decoded item with the encoder (canonical form). */
static void reencode(struct kiln_cbor_enc *e, const struct kiln_cbor_item *it)
{
	const struct kiln_cbor_item *c;

	switch (it->type) {
	case KILN_CBOR_UINT:
		kiln_cbor_enc_uint(e, it->u);
		break;
	case KILN_CBOR_NINT:
		kiln_cbor_enc_nint(e, it->u);
		break;
	case KILN_CBOR_BYTES:
		kiln_cbor_enc_bytes(e, it->bytes, it->len);
		break;
	case KILN_CBOR_TEXT:
		kiln_cbor_enc_text(e, (const char *)it->bytes, it->len);
		break;
	case KILN_CBOR_ARRAY:
	case KILN_CBOR_MAP:
		if (it->type == KILN_CBOR_ARRAY)
			kiln_cbor_enc_array(e, it->count);
		else
			kiln_cbor_enc_map(e, it->count);
		for (c = it->child; c; c = c->next)
			reencode(e, c);
		break;
	case KILN_CBOR_TAG:
		kiln_cbor_enc_tag(e, it->u);
		reencode(e, it->child);
		break;
	case KILN_CBOR_BOOL:
		kiln_cbor_enc_bool(e, it->u);
		break;
	case KILN_CBOR_NULL:
		kiln_cbor_enc_null(e);
		break;
	case KILN_CBOR_UNDEFINED:
		kiln_cbor_enc_undefined(e);
		break;
	case KILN_CBOR_SIMPLE:
		kiln_cbor_enc_simple(e, (uint8_t)it->u);
		break;
	case KILN_CBOR_FLOAT:
		kiln_cbor_enc_float(e, it->f);
		break;
	default:
		break;
	}
}

struct example {
	const char *hex;
	const char *diag;    /* NULL: a float, checked by value */
	const char *canon;   /* canonical re-encoding when it differs from hex */
};

static const struct example examples[] = {
	{ "00", "0", NULL },
	{ "01", "1", NULL },
	{ "0a", "10", NULL },
	{ "17", "23", NULL },
	{ "1818", "24", NULL },
	{ "1819", "25", NULL },
	{ "1864", "100", NULL },
	{ "1903e8", "1000", NULL },
	{ "1a000f4240", "1000000", NULL },
	{ "1b000000e8d4a51000", "1000000000000", NULL },
	{ "1bffffffffffffffff", "18446744073709551615", NULL },
	{ "c249010000000000000000", "2(h'010000000000000000')", NULL },
	{ "3bffffffffffffffff", "-18446744073709551616", NULL },
	{ "c349010000000000000000", "3(h'010000000000000000')", NULL },
	{ "20", "-1", NULL },
	{ "29", "-10", NULL },
	{ "3863", "-100", NULL },
	{ "3903e7", "-1000", NULL },
	{ "f4", "false", NULL },
	{ "f5", "true", NULL },
	{ "f6", "null", NULL },
	{ "f7", "undefined", NULL },
	{ "f0", "simple(16)", NULL },
	{ "f8ff", "simple(255)", NULL },
	{ "c074323031332d30332d32315432303a30343a30305a", "0(\"2013-03-21T20:04:00Z\")", NULL },
	{ "c11a514b67b0", "1(1363896240)", NULL },
	{ "c1fb41d452d9ec200000", "1(1363896240.5)", NULL },
	{ "d74401020304", "23(h'01020304')", NULL },
	{ "d818456449455446", "24(h'6449455446')", NULL },
	{ "d82076687474703a2f2f7777772e6578616d706c652e636f6d",
	  "32(\"http://www.example.com\")", NULL },
	{ "40", "h''", NULL },
	{ "4401020304", "h'01020304'", NULL },
	{ "60", "\"\"", NULL },
	{ "6161", "\"a\"", NULL },
	{ "6449455446", "\"IETF\"", NULL },
	{ "62225c", "\"\\\"\\\\\"", NULL },
	{ "62c3bc", "\"\xc3\xbc\"", NULL },
	{ "63e6b0b4", "\"\xe6\xb0\xb4\"", NULL },
	{ "64f0908591", "\"\xf0\x90\x85\x91\"", NULL },
	{ "80", "[]", NULL },
	{ "83010203", "[1, 2, 3]", NULL },
	{ "8301820203820405", "[1, [2, 3], [4, 5]]", NULL },
	{ "98190102030405060708090a0b0c0d0e0f101112131415161718181819",
	  "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, "
	  "24, 25]", NULL },
	{ "a0", "{}", NULL },
	{ "a201020304", "{1: 2, 3: 4}", NULL },
	{ "a26161016162820203", "{\"a\": 1, \"b\": [2, 3]}", NULL },
	{ "826161a161626163", "[\"a\", {\"b\": \"c\"}]", NULL },
	{ "a56161614161626142616361436164614461656145",
	  "{\"a\": \"A\", \"b\": \"B\", \"c\": \"C\", \"d\": \"D\", \"e\": \"E\"}", NULL },
	{ "5f42010243030405ff", "h'0102030405'", "450102030405" },
	{ "7f657374726561646d696e67ff", "\"streaming\"", "6973747265616d696e67" },
	{ "9fff", "[_ ]", "80" },
	{ "9f018202039f0405ffff", "[_ 1, [2, 3], [_ 4, 5]]", "8301820203820405" },
	{ "9f01820203820405ff", "[_ 1, [2, 3], [4, 5]]", "8301820203820405" },
	{ "83018202039f0405ff", "[1, [2, 3], [_ 4, 5]]", "8301820203820405" },
	{ "83019f0203ff820405", "[1, [_ 2, 3], [4, 5]]", "8301820203820405" },
	{ "9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff",
	  "[_ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, "
	  "24, 25]", "98190102030405060708090a0b0c0d0e0f101112131415161718181819" },
	{ "bf61610161629f0203ffff", "{_ \"a\": 1, \"b\": [_ 2, 3]}", "a26161016162820203" },
	{ "826161bf61626163ff", "[\"a\", {_ \"b\": \"c\"}]", "826161a161626163" },
	{ "bf6346756ef563416d7421ff", "{_ \"Fun\": true, \"Amt\": -2}",
	  "a26346756ef563416d7421" },
};

struct float_example {
	const char *hex;
	double value;
	const char *canon;
};

static const struct float_example floats[] = {
	{ "f90000", 0.0, NULL },
	{ "f98000", -0.0, NULL },
	{ "f93c00", 1.0, NULL },
	{ "fb3ff199999999999a", 1.1, NULL },
	{ "f93e00", 1.5, NULL },
	{ "f97bff", 65504.0, NULL },
	{ "fa47c35000", 100000.0, NULL },
	{ "fa7f7fffff", 3.4028234663852886e+38, NULL },
	{ "fb7e37e43c8800759c", 1.0e+300, NULL },
	{ "f90001", 5.960464477539063e-8, NULL },
	{ "f90400", 0.00006103515625, NULL },
	{ "f9c400", -4.0, NULL },
	{ "fbc010666666666666", -4.1, NULL },
	{ "f97c00", INFINITY, NULL },
	{ "f97e00", NAN, NULL },
	{ "f9fc00", -INFINITY, NULL },
	{ "fa7f800000", INFINITY, "f97c00" },
	{ "fa7fc00000", NAN, "f97e00" },
	{ "faff800000", -INFINITY, "f9fc00" },
	{ "fb7ff0000000000000", INFINITY, "f97c00" },
	{ "fb7ff8000000000000", NAN, "f97e00" },
	{ "fbfff0000000000000", -INFINITY, "f9fc00" },
};

/* Every strict prefix of a valid item must be refused. */
static void check_truncations(const uint8_t *b, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		struct kiln_cbor_doc *doc = NULL;
		int rc = kiln_cbor_parse(b, k, NULL, &doc);

		CHECK(rc < 0);
		if (rc == 0)
			kiln_cbor_doc_free(doc);
	}
}

static void check_reencode(const struct kiln_cbor_item *it, const char *want_hex)
{
	uint8_t want[256], *got;
	size_t want_len = unhex(want_hex, want, sizeof(want)), got_len;
	struct kiln_cbor_enc e;

	kiln_cbor_enc_init(&e);
	reencode(&e, it);
	CHECK(kiln_cbor_enc_finish(&e, &got, &got_len) == 0);
	CHECK(got_len == want_len && !memcmp(got, want, want_len));
	if (got_len != want_len || memcmp(got, want, want_len))
		fprintf(stderr, "    re-encoding of %s differs\n", want_hex);
	free(got);
}

TEST(test_appendix_a)
{
	for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		const struct example *x = &examples[i];
		struct kiln_cbor_doc *doc;
		uint8_t b[256];
		char diag[512];
		size_t n = unhex(x->hex, b, sizeof(b));

		if (kiln_cbor_parse(b, n, NULL, &doc) < 0) {
			CHECK(!"parse failed");
			fprintf(stderr, "    %s: %s\n", x->hex, kiln_errmsg());
			continue;
		}
		kiln_cbor_diag(kiln_cbor_root(doc), diag, sizeof(diag));
		CHECK(!strcmp(diag, x->diag));
		if (strcmp(diag, x->diag))
			fprintf(stderr, "    %s: got %s want %s\n", x->hex, diag, x->diag);
		CHECK(kiln_cbor_noncanonical(doc) == (x->canon != NULL));
		check_reencode(kiln_cbor_root(doc), x->canon ? x->canon : x->hex);
		kiln_cbor_doc_free(doc);
		check_truncations(b, n);
	}
}

TEST(test_appendix_a_floats)
{
	for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++) {
		const struct float_example *x = &floats[i];
		const struct kiln_cbor_item *it;
		struct kiln_cbor_doc *doc;
		uint8_t b[16];
		size_t n = unhex(x->hex, b, sizeof(b));

		if (kiln_cbor_parse(b, n, NULL, &doc) < 0) {
			CHECK(!"parse failed");
			continue;
		}
		it = kiln_cbor_root(doc);
		CHECK(it->type == KILN_CBOR_FLOAT);
		if (isnan(x->value))
			CHECK(isnan(it->f));
		else
			CHECK(it->f == x->value && signbit(it->f) == signbit(x->value));
		check_reencode(it, x->canon ? x->canon : x->hex);
		kiln_cbor_doc_free(doc);
		check_truncations(b, n);
	}
}

static int parse_hex(const char *h, const struct kiln_cbor_limits *lim)
{
	static uint8_t b[4096];
	struct kiln_cbor_doc *doc;
	size_t n = unhex(h, b, sizeof(b));
	int rc = kiln_cbor_parse(b, n, lim, &doc);

	if (rc == 0)
		kiln_cbor_doc_free(doc);
	return rc;
}

TEST(test_malformed)
{
	char h[8];

	for (int major = 0; major < 8; major++)
		for (int ai = 28; ai <= 30; ai++) {
			snprintf(h, sizeof(h), "%02x", major << 5 | ai);
			CHECK_ERR(parse_hex(h, NULL), "reserved additional information");
		}
	CHECK_ERR(parse_hex("ff", NULL), "break outside");
	CHECK_ERR(parse_hex("8201ff", NULL), "break outside");
	CHECK_ERR(parse_hex("a1ff01", NULL), "break outside");
	CHECK_ERR(parse_hex("5f6161ff", NULL), "not a definite byte string");
	CHECK_ERR(parse_hex("7f4100ff", NULL), "not a definite text string");
	CHECK_ERR(parse_hex("5f5f4100ffff", NULL), "not a definite byte string");
	CHECK_ERR(parse_hex("5f01ff", NULL), "not a definite byte string");
	CHECK_ERR(parse_hex("5f4100", NULL), "truncated");
	CHECK_ERR(parse_hex("9f01", NULL), "truncated");
	CHECK_ERR(parse_hex("bf01ff", NULL), "key without a value");
	CHECK_ERR(parse_hex("1f", NULL), "indefinite length not allowed");
	CHECK_ERR(parse_hex("3f", NULL), "indefinite length not allowed");
	CHECK_ERR(parse_hex("df00", NULL), "indefinite length not allowed");
	CHECK_ERR(parse_hex("f800", NULL), "two-byte simple value");
	CHECK_ERR(parse_hex("f81f", NULL), "two-byte simple value");
	CHECK_ERR(parse_hex("62c328", NULL), "invalid UTF-8");
	CHECK_ERR(parse_hex("62c0af", NULL), "invalid UTF-8");
	CHECK_ERR(parse_hex("63eda080", NULL), "invalid UTF-8");
	CHECK_ERR(parse_hex("64f4908080", NULL), "invalid UTF-8");
	CHECK_ERR(parse_hex("0000", NULL), "trailing");
	CHECK_ERR(parse_hex("", NULL), "truncated");
}

TEST(test_noncanonical_flag)
{
	static const char *const cases[] = {
		"1800", "190017", "1a0000ffff", "1b00000000ffffffff", "3800", "5800", "7800",
		"9800", "b800", "d800f6",
	};
	struct kiln_cbor_doc *doc;
	uint8_t b[16];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = unhex(cases[i], b, sizeof(b));

		CHECK(kiln_cbor_parse(b, n, NULL, &doc) == 0);
		CHECK(kiln_cbor_noncanonical(doc));
		CHECK(kiln_cbor_root(doc)->flags & KILN_CBOR_F_NONCANONICAL);
		kiln_cbor_doc_free(doc);
	}
}

TEST(test_limits)
{
	struct kiln_cbor_limits lim = { .max_depth = 32, .max_items = 50 };
	static uint8_t bomb[200001];
	struct kiln_cbor_doc *doc;
	char h[512];
	size_t used;

	/* Depth bombs: arrays, indefinite arrays, maps, tags. */
	const uint8_t heads[] = { 0x81, 0x9f, 0xa1, 0xc1 };
	for (size_t k = 0; k < sizeof(heads); k++) {
		memset(bomb, heads[k], sizeof(bomb) - 1);
		bomb[sizeof(bomb) - 1] = 0;
		CHECK_ERR(kiln_cbor_parse(bomb, sizeof(bomb), NULL, &doc), "nesting deeper than 32");
	}
	/* 32 levels is fine, 33 is not. */
	memset(bomb, 0x81, 32);
	bomb[32] = 0;
	CHECK(kiln_cbor_parse(bomb, 33, NULL, &doc) == 0);
	kiln_cbor_doc_free(doc);
	memset(bomb, 0x81, 33);
	bomb[33] = 0;
	CHECK_ERR(kiln_cbor_parse(bomb, 34, NULL, &doc), "nesting");

	/* Item budget. */
	strcpy(h, "9864");
	for (int i = 0; i < 100; i++)
		strcat(h, "00");
	CHECK_ERR(parse_hex(h, &lim), "too many items");
	CHECK(parse_hex(h, NULL) == 0);
	memset(bomb, 0, sizeof(bomb));
	bomb[0] = 0x9f;
	bomb[sizeof(bomb) - 1] = 0xff;
	CHECK_ERR(kiln_cbor_parse(bomb, sizeof(bomb), NULL, &doc), "too many items");

	/* Huge claims fail on the count, before any allocation. */
	CHECK_ERR(parse_hex("5bffffffffffffffff00", NULL), "claims");
	CHECK_ERR(parse_hex("7bffffffffffffffff00", NULL), "claims");
	CHECK_ERR(parse_hex("9bffffffffffffffff00", NULL), "claims");
	CHECK_ERR(parse_hex("bb7fffffffffffffff0000", NULL), "claims");
	CHECK_ERR(parse_hex("bbffffffffffffffff0000", NULL), "claims");
	CHECK_ERR(parse_hex("5a7fffffff01020304", NULL), "claims");
	CHECK_ERR(parse_hex("5f5bffffffffffffffff00ff", NULL), "claims");

	/* Prefix parsing of a CBOR sequence. */
	uint8_t seq[] = { 0x01, 0x82, 0x02, 0x03 };
	CHECK(kiln_cbor_parse_prefix(seq, sizeof(seq), NULL, &doc, &used) == 0 && used == 1);
	kiln_cbor_doc_free(doc);
}

TEST(test_lookup)
{
	/* {"a": 1, 2: h'ff', -3: [10, 20, 30], "big": 18446744073709551615} */
	const char *h = "a46161010241ff2283" "0a14181e" "63626967" "1bffffffffffffffff";
	const struct kiln_cbor_item *root, *v;
	struct kiln_cbor_doc *doc;
	uint8_t b[64];
	size_t n = unhex(h, b, sizeof(b));
	int64_t x;

	CHECK(kiln_cbor_parse(b, n, NULL, &doc) == 0);
	root = kiln_cbor_root(doc);
	v = kiln_cbor_map_get_text(root, "a");
	CHECK(v && kiln_cbor_get_int(v, &x) == 0 && x == 1);
	v = kiln_cbor_map_get_int(root, 2);
	CHECK(v && v->type == KILN_CBOR_BYTES && v->len == 1 && v->bytes[0] == 0xff);
	v = kiln_cbor_map_get_int(root, -3);
	CHECK(v && v->type == KILN_CBOR_ARRAY && v->count == 3);
	CHECK(kiln_cbor_get_int(kiln_cbor_array_get(v, 2), &x) == 0 && x == 30);
	CHECK(kiln_cbor_array_get(v, 3) == NULL);
	CHECK(kiln_cbor_map_get_text(root, "b") == NULL);
	CHECK(kiln_cbor_map_get_int(root, 3) == NULL);
	CHECK(kiln_cbor_get_int(kiln_cbor_map_get_text(root, "big"), &x) == -ERANGE);
	CHECK(kiln_cbor_map_get_text(v, "a") == NULL);
	kiln_cbor_doc_free(doc);
}

TEST(test_encoder)
{
	struct kiln_cbor_enc e;
	uint8_t *out, want[64];
	size_t len, n;

	kiln_cbor_enc_init(&e);
	kiln_cbor_enc_map(&e, 3);
	kiln_cbor_enc_int(&e, 1);
	kiln_cbor_enc_int(&e, -35);
	kiln_cbor_enc_text_z(&e, "k");
	kiln_cbor_enc_array(&e, 4);
	kiln_cbor_enc_int(&e, INT64_MIN);
	kiln_cbor_enc_int(&e, INT64_MAX);
	kiln_cbor_enc_null(&e);
	kiln_cbor_enc_bool(&e, true);
	kiln_cbor_enc_tag(&e, 18);
	kiln_cbor_enc_bytes(&e, "\x01\x02", 2);
	kiln_cbor_enc_uint(&e, 500);
	CHECK(kiln_cbor_enc_finish(&e, &out, &len) == 0);
	n = unhex("a3013822616b84" "3b7fffffffffffffff" "1b7fffffffffffffff" "f6f5" "d2420102"
		  "1901f4", want, sizeof(want));
	CHECK(len == n && !memcmp(out, want, n));
	free(out);
	kiln_cbor_enc_init(&e);
	CHECK(kiln_cbor_enc_finish(&e, &out, &len) == 0 && len == 0);
	free(out);
}

TEST(test_random_bytes)
{
	uint8_t b[64];
	uint32_t s = 12345;

	for (int i = 0; i < 200000; i++) {
		struct kiln_cbor_doc *doc;
		size_t n = (size_t)(i % 64);

		for (size_t k = 0; k < n; k++) {
			s = s * 1103515245 + 12345;
			b[k] = (uint8_t)(s >> 16);
		}
		if (kiln_cbor_parse(b, n, NULL, &doc) == 0) {
			char d[64];

			kiln_cbor_diag(kiln_cbor_root(doc), d, sizeof(d));
			kiln_cbor_doc_free(doc);
		}
	}
	CHECK(1);
}

int main(void)
{
	RUN(test_appendix_a);
	RUN(test_appendix_a_floats);
	RUN(test_malformed);
	RUN(test_noncanonical_flag);
	RUN(test_limits);
	RUN(test_lookup);
	RUN(test_encoder);
	RUN(test_random_bytes);
	return t_done();
}
