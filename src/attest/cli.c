/* SPDX-License-Identifier: Apache-2.0 */
/* `kiln attest verify|show`: check or print a Nitro attestation document from a file. */
#include "attest/attest.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/cleanup.h"

#define MAX_DOC_SIZE (1 << 20)

static const char usage[] =
	"usage: kiln attest verify DOC [--root PEM] [--pcr N=HEX ...] [--nonce HEX]\n"
	"                          [--user-data HEX] [--public-key HEX] [--at TIME]\n"
	"                          [--max-age DURATION] [--json]\n"
	"       kiln attest show DOC [--json]\n"
	"DOC is a COSE_Sign1 file (raw CBOR or base64; - for stdin). TIME is RFC 3339,\n"
	"Unix milliseconds, \"now\" (the default) or \"doc\" (the document's own timestamp).\n"
	"--max-age DURATION: the document's timestamp must be at most DURATION old and\n"
	"at most 60s in the future, measured against --at TIME when it is a time,\n"
	"otherwise against this machine's clock (also with --at doc, which only moves\n"
	"the certificate checks). DURATION is one or more NUMBER UNIT groups, units\n"
	"ms, s, m, h, d: 500ms, 30s, 5m, 1h, 1h30m, 7d.\n";

struct opts {
	const char *cmd;
	const char *doc_path;
	const char *root_path;
	const char *at;
	int64_t max_age_ms;	/* 0: no freshness check */
	bool json;
	struct kiln_attest_expect exp;
	uint8_t *owned[KILN_ATTEST_MAX_PCRS + 3];
	size_t n_owned;
};

static int fail(const char *cmd, int code)
{
	fprintf(stderr, "kiln: attest%s%s: %s\n", *cmd ? " " : "", cmd, kiln_errmsg());
	return code;
}

static int read_all(const char *path, uint8_t **out, size_t *len)
{
	_cleanup_fclose_ FILE *f = strcmp(path, "-") ? fopen(path, "rb") : NULL;
	FILE *in = strcmp(path, "-") ? f : stdin;
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0;

	if (!in)
		return kiln_err(errno, "%s: %m", path);
	for (;;) {
		size_t got;

		if (n == cap) {
			uint8_t *p;

			if (cap >= MAX_DOC_SIZE) {
				free(buf);
				return kiln_err(EFBIG, "%s: larger than %d bytes", path, MAX_DOC_SIZE);
			}
			cap = cap ? cap * 2 : 16384;
			p = realloc(buf, cap + 1);
			if (!p) {
				free(buf);
				return kiln_err(ENOMEM, "out of memory");
			}
			buf = p;
		}
		got = fread(buf + n, 1, cap - n, in);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(in)) {
		free(buf);
		return kiln_err(EIO, "%s: read error", path);
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* Documents are often passed around base64-encoded: accept that too. */
static int maybe_base64(uint8_t **buf, size_t *len)
{
	size_t k = 0, pad = 0;
	uint8_t *dec;
	int n;

	if (*len == 0 || (*buf)[0] == 0x84 || (*buf)[0] == 0xd2)
		return 0;
	for (size_t i = 0; i < *len; i++) {
		uint8_t ch = (*buf)[i];

		if (isspace(ch))
			continue;
		if (!isalnum(ch) && ch != '+' && ch != '/' && ch != '=')
			return 0;
		(*buf)[k++] = ch;
		pad += ch == '=';
	}
	if (k % 4)
		return 0;
	dec = malloc(k / 4 * 3 + 1);
	if (!dec)
		return kiln_err(ENOMEM, "out of memory");
	n = EVP_DecodeBlock(dec, *buf, (int)k);
	if (n < 0 || (size_t)n < pad) {
		free(dec);
		return kiln_err(EINVAL, "document is neither CBOR nor valid base64");
	}
	free(*buf);
	*buf = dec;
	*len = (size_t)n - pad;
	return 0;
}

static int parse_hex(struct opts *o, const char *what, const char *hex,
		     struct kiln_attest_blob *b)
{
	size_t n = strlen(hex);
	uint8_t *p;

	if (b->data)
		return kiln_err(EINVAL, "%s given twice", what);
	if (n % 2 || n > 4096)
		return kiln_err(EINVAL, "%s: not an even-length hex string", what);
	p = malloc(n / 2 + 1);
	if (!p)
		return kiln_err(ENOMEM, "out of memory");
	for (size_t i = 0; i < n / 2; i++) {
		char pair[3] = { hex[2 * i], hex[2 * i + 1], 0 };

		if (!isxdigit((unsigned char)pair[0]) || !isxdigit((unsigned char)pair[1])) {
			free(p);
			return kiln_err(EINVAL, "%s: not a hex string", what);
		}
		p[i] = (uint8_t)strtoul(pair, NULL, 16);
	}
	o->owned[o->n_owned++] = p;
	b->data = p;
	b->len = n / 2;
	return 0;
}

static int parse_pcr(struct opts *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(arg, &end, 10);
	if (!eq || end != eq || end == arg || errno || n >= KILN_ATTEST_MAX_PCRS)
		return kiln_err(EINVAL, "--pcr %s: want N=HEX with N in 0..%d", arg,
				KILN_ATTEST_MAX_PCRS - 1);
	return parse_hex(o, "--pcr", eq + 1, &o->exp.pcr[n]);
}

/* RFC 3339 (2022-10-12T13:50:06.081Z, offsets allowed) or Unix milliseconds. */
static int parse_time(const char *s, int64_t *ms)
{
	struct tm tm = { 0 };
	const char *p;
	char *end;
	int64_t frac = 0, scale = 100, off = 0;

	if (!strcmp(s, "now") || !strcmp(s, "doc")) {
		*ms = s[0] == 'n' ? KILN_ATTEST_AT_NOW : KILN_ATTEST_AT_DOC;
		return 0;
	}
	errno = 0;
	*ms = strtoll(s, &end, 10);
	if (*s && !*end && !errno && *ms >= 0 && isdigit((unsigned char)s[0]))
		return 0;
	p = strptime(s, "%Y-%m-%d", &tm);
	if (p && (*p == 'T' || *p == 't' || *p == ' '))
		p = strptime(p + 1, "%H:%M:%S", &tm);
	else
		p = NULL;
	if (p && *p == '.')
		for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
			frac += (*p - '0') * scale;
	if (p && (*p == 'Z' || *p == 'z') && !p[1]) {
		off = 0;
	} else if (p && (*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
		   isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
		   isdigit((unsigned char)p[5]) && !p[6]) {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		off = *p == '-' ? -off : off;
	} else {
		return kiln_err(EINVAL, "--at %s: want RFC 3339, Unix milliseconds, now or doc", s);
	}
	*ms = ((int64_t)timegm(&tm) - off) * 1000 + frac;
	if (*ms < 0)
		return kiln_err(EINVAL, "--at %s: before 1970", s);
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	int rc = 0;

	if (argc < 2)
		return kiln_err(EINVAL, "missing command (verify or show)");
	o->cmd = argv[1];
	if (strcmp(o->cmd, "verify") && strcmp(o->cmd, "show"))
		return kiln_err(EINVAL, "unknown command \"%s\"", o->cmd);
	for (int i = 2; rc == 0 && i < argc; i++) {
		const char *a = argv[i];
		bool verify = !strcmp(o->cmd, "verify");
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--json")) {
			o->json = true;
			continue;
		}
		if (a[0] != '-' || !strcmp(a, "-")) {
			if (o->doc_path)
				return kiln_err(EINVAL, "more than one document given");
			o->doc_path = a;
			continue;
		}
		if (!verify || !val)
			return kiln_err(EINVAL, "unknown option %s%s", a, val ? "" : " (or missing value)");
		i++;
		if (!strcmp(a, "--root"))
			o->root_path = val;
		else if (!strcmp(a, "--at"))
			o->at = val;
		else if (!strcmp(a, "--max-age"))
			rc = kiln_err_wrap(kiln_attest_parse_duration(val, &o->max_age_ms), "--max-age");
		else if (!strcmp(a, "--pcr"))
			rc = parse_pcr(o, val);
		else if (!strcmp(a, "--nonce"))
			rc = parse_hex(o, a, val, &o->exp.nonce);
		else if (!strcmp(a, "--user-data"))
			rc = parse_hex(o, a, val, &o->exp.user_data);
		else if (!strcmp(a, "--public-key"))
			rc = parse_hex(o, a, val, &o->exp.public_key);
		else
			return kiln_err(EINVAL, "unknown option %s", a);
	}
	if (rc == 0 && !o->doc_path)
		rc = kiln_err(EINVAL, "missing document path");
	return rc;
}

static char *hex_str(const struct kiln_attest_blob *b)
{
	char *s = malloc(b->len * 2 + 1);

	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < b->len; i++)
		snprintf(s + 2 * i, 3, "%02x", b->data[i]);
	return s;
}

static void iso_time(int64_t ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char base[32];

	if (!gmtime_r(&t, &tm) || !strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, size, "?");
		return;
	}
	snprintf(buf, size, "%s.%03dZ", base, (int)(ms % 1000));
}

static void asn1_iso(const ASN1_TIME *a, char *buf, size_t size)
{
	struct tm tm;

	if (!a || ASN1_TIME_to_tm(a, &tm) != 1 || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "?");
}

static bool is_zero(const struct kiln_attest_blob *b)
{
	for (size_t i = 0; i < b->len; i++)
		if (b->data[i])
			return false;
	return true;
}

static json_t *json_blob(const struct kiln_attest_blob *b)
{
	_cleanup_free_ char *h = b->data ? hex_str(b) : NULL;

	return h ? json_string(h) : json_null();
}

static json_t *cert_json(const struct kiln_attest_blob *der, const char *role)
{
	const unsigned char *p = der->data;
	X509 *x = d2i_X509(NULL, &p, (long)der->len);
	char subject[512] = "?", nb[32] = "?", na[32] = "?";
	json_t *j;

	if (x) {
		X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
		asn1_iso(X509_get0_notBefore(x), nb, sizeof(nb));
		asn1_iso(X509_get0_notAfter(x), na, sizeof(na));
		X509_free(x);
	}
	j = json_pack("{s:s, s:s, s:s, s:s}", "role", role, "subject", subject, "not_before", nb,
		      "not_after", na);
	return j;
}

static json_t *doc_json(const struct kiln_attest_doc *doc)
{
	json_t *pcrs = json_object(), *certs = json_array(), *j;
	char ts[48], role[32];

	for (int i = 0; i < KILN_ATTEST_MAX_PCRS; i++) {
		char key[4];

		if (!doc->pcr[i].data)
			continue;
		snprintf(key, sizeof(key), "%d", i);
		json_object_set_new(pcrs, key, json_blob(&doc->pcr[i]));
	}
	json_array_append_new(certs, cert_json(&doc->certificate, "leaf"));
	for (size_t i = doc->cabundle_len; i-- > 0;) {
		snprintf(role, sizeof(role), "cabundle[%zu]", i);
		json_array_append_new(certs, cert_json(&doc->cabundle[i], role));
	}
	iso_time((int64_t)doc->timestamp_ms, ts, sizeof(ts));
	j = json_pack("{s:s, s:s, s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:b}",
		      "module_id", doc->module_id, "digest", doc->digest,
		      "timestamp_ms", (json_int_t)doc->timestamp_ms, "timestamp", ts,
		      "pcrs", pcrs, "certificates", certs,
		      "public_key", json_blob(&doc->public_key), "user_data",
		      json_blob(&doc->user_data), "nonce", json_blob(&doc->nonce),
		      "canonical_cbor", !doc->noncanonical);
	return j;
}

static void print_blob(const char *name, const struct kiln_attest_blob *b)
{
	_cleanup_free_ char *h = b->data ? hex_str(b) : NULL;

	printf("%-11s %s\n", name, h ? (*h ? h : "(empty)") : "(none)");
}

static void print_doc(const struct kiln_attest_doc *doc, bool all_certs)
{
	json_t *j = doc_json(doc), *c;
	char ts[48];
	size_t i;
	bool any_zero = false;

	iso_time((int64_t)doc->timestamp_ms, ts, sizeof(ts));
	printf("module_id   %s\n", doc->module_id);
	printf("timestamp   %s (%llu ms)\n", ts, (unsigned long long)doc->timestamp_ms);
	printf("digest      %s\n", doc->digest);
	for (int p = 0; p < KILN_ATTEST_MAX_PCRS; p++) {
		_cleanup_free_ char *h = NULL;

		if (!doc->pcr[p].data || is_zero(&doc->pcr[p]))
			continue;
		h = hex_str(&doc->pcr[p]);
		printf("PCR%-2d       %s\n", p, h ? h : "?");
	}
	for (int p = 0; p < KILN_ATTEST_MAX_PCRS; p++) {
		if (!doc->pcr[p].data || !is_zero(&doc->pcr[p]))
			continue;
		printf("%s%d", any_zero ? " " : "zero PCRs   ", p);
		any_zero = true;
	}
	if (any_zero)
		printf("\n");
	json_array_foreach(json_object_get(j, "certificates"), i, c) {
		if (!all_certs && i > 0)
			break;
		printf("%-11s %s\n            valid %s .. %s\n",
		       json_string_value(json_object_get(c, "role")),
		       json_string_value(json_object_get(c, "subject")),
		       json_string_value(json_object_get(c, "not_before")),
		       json_string_value(json_object_get(c, "not_after")));
	}
	print_blob("public_key", &doc->public_key);
	print_blob("user_data", &doc->user_data);
	print_blob("nonce", &doc->nonce);
	if (doc->noncanonical)
		printf("note        the document's CBOR is not in canonical form\n");
	json_decref(j);
}

static int emit_json(json_t *j)
{
	if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0) {
		json_decref(j);
		return kiln_err(ENOMEM, "cannot write JSON");
	}
	printf("\n");
	json_decref(j);
	return 0;
}

static int load_doc(const struct opts *o, struct kiln_attest_doc **doc)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int rc;

	rc = read_all(o->doc_path, &buf, &len);
	if (rc == 0)
		rc = maybe_base64(&buf, &len);
	if (rc == 0)
		rc = kiln_attest_parse(buf, len, doc);
	return rc;
}

static int load_verifier(const struct opts *o, struct kiln_attest_verifier **v)
{
	_cleanup_free_ uint8_t *pem = NULL;
	size_t len = 0;
	int rc = 0;

	if (o->root_path)
		rc = read_all(o->root_path, &pem, &len);
	if (rc < 0)
		return kiln_err_wrap(rc, "--root");
	return kiln_attest_verifier_new((const char *)pem, len, v);
}

static int64_t clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --max-age against --at TIME, or the clock for --at now and --at doc. */
static int check_fresh(const struct opts *o, const struct kiln_attest_doc *doc, int64_t at,
		       int64_t *age)
{
	int64_t now = at >= 0 ? at : clock_ms();

	*age = now - (int64_t)doc->timestamp_ms;
	return o->max_age_ms ? kiln_attest_check_age(doc, now, o->max_age_ms) : 0;
}

static void print_ok(const struct opts *o, const struct kiln_attest_doc *doc, const char *when,
		     int64_t age)
{
	char a[32], m[32];

	printf("OK\nverified as of %s against %s\n", when,
	       o->root_path ? o->root_path : "the AWS Nitro Enclaves root G1");
	if (o->max_age_ms) {
		kiln_attest_format_duration(age < 0 ? 0 : age, a, sizeof(a));
		kiln_attest_format_duration(o->max_age_ms, m, sizeof(m));
		printf("fresh       %s old, within --max-age %s\n", a, m);
	}
	print_doc(doc, false);
}

static int cmd_verify(const struct opts *o)
{
	struct kiln_attest_verifier *v = NULL;
	struct kiln_attest_doc *doc = NULL;
	int64_t at = KILN_ATTEST_AT_NOW, age = 0;
	char when[48];
	int rc;

	rc = o->at ? parse_time(o->at, &at) : 0;
	if (rc == 0)
		rc = load_verifier(o, &v);
	if (rc == 0)
		rc = load_doc(o, &doc);
	if (rc == 0)
		rc = kiln_attest_verify(v, doc, at, &o->exp);
	if (rc == 0)
		rc = check_fresh(o, doc, at, &age);
	if (rc < 0) {
		if (o->json)
			emit_json(json_pack("{s:b, s:s}", "ok", 0, "error", kiln_errmsg()));
		goto out;
	}
	if (at == KILN_ATTEST_AT_DOC)
		at = (int64_t)doc->timestamp_ms;
	else if (at == KILN_ATTEST_AT_NOW)
		at = (int64_t)time(NULL) * 1000;
	iso_time(at, when, sizeof(when));
	if (o->json) {
		json_t *j = doc_json(doc);

		json_object_set_new(j, "ok", json_true());
		json_object_set_new(j, "verified_at", json_string(when));
		json_object_set_new(j, "root", json_string(o->root_path ? o->root_path :
							   "AWS Nitro Enclaves root G1"));
		json_object_set_new(j, "age_ms", json_integer((json_int_t)age));
		rc = emit_json(j);
	} else {
		print_ok(o, doc, when, age);
	}
out:
	kiln_attest_doc_free(doc);
	kiln_attest_verifier_free(v);
	return rc;
}

static int cmd_show(const struct opts *o)
{
	struct kiln_attest_doc *doc = NULL;
	int rc = load_doc(o, &doc);

	if (rc < 0)
		return rc;
	if (o->json)
		rc = emit_json(doc_json(doc));
	else
		print_doc(doc, true);
	kiln_attest_doc_free(doc);
	return rc;
}

int kiln_attest_cli(int argc, char **argv)
{
	struct opts o = { .cmd = NULL };
	int rc;

	/* `kiln attest --help` and `kiln attest verify --help` alike. */
	for (int i = 1; i < argc && i <= 2; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") ||
		    (i == 1 && !strcmp(argv[i], "help"))) {
			fputs(usage, stdout);
			return 0;
		}
	rc = parse_args(argc, argv, &o);
	if (rc < 0) {
		fail(o.cmd && (!strcmp(o.cmd, "verify") || !strcmp(o.cmd, "show")) ? o.cmd : "",
		     2);
		fputs(usage, stderr);
		rc = 2;
		goto out;
	}
	rc = !strcmp(o.cmd, "verify") ? cmd_verify(&o) : cmd_show(&o);
	rc = rc < 0 ? fail(o.cmd, 1) : 0;
out:
	for (size_t i = 0; i < o.n_owned; i++)
		free(o.owned[i]);
	return rc;
}
