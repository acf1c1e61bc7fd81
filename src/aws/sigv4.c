/* SPDX-License-Identifier: Apache-2.0 */
/* AWS Signature Version 4: canonical request, string to sign, signing key, verify. */
#include "aws/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws/buf.h"
#include "util/secure.h"
#include "util/hex.h"

/* Enough for any real AWS request; bounds a hostile request's work. */
#define MAX_HEADERS 64
#define MAX_SEGMENTS 256

static const char HEX[] = "0123456789abcdef";

void aws_creds_clear(struct aws_creds *c)
{
	if (c->session_token)
		kiln_free_secret(c->session_token, strlen(c->session_token));
	kiln_wipe(c, sizeof(*c));
}

static void hex_lower(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = HEX[p[i] >> 4];
		out[2 * i + 1] = HEX[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	SHA256(p, n, md);
	hex_lower(md, sizeof(md), out);
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

/* Percent-encode everything but the unreserved set (uppercase hex, as AWS wants). */
static void uri_encode(struct aws_buf *b, const char *p, size_t n)
{
	static const char UHEX[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (unreserved(c)) {
			aws_buf_ch(b, (char)c);
		} else {
			char e[3] = { '%', UHEX[c >> 4], UHEX[c & 15] };
			aws_buf_add(b, e, 3);
		}
	}
}

/* Percent-decode p[0..n) into b; a malformed escape is kept literally. */
static void uri_decode(struct aws_buf *b, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '%' && i + 2 < n &&
		    kiln_hex_digit(p[i + 1]) >= 0 && kiln_hex_digit(p[i + 2]) >= 0) {
			aws_buf_ch(b, (char)(kiln_hex_digit(p[i + 1]) * 16 + kiln_hex_digit(p[i + 2])));
			i += 2;
		} else {
			aws_buf_ch(b, p[i]);
		}
	}
}

/* RFC 3986 dot-segment removal plus collapsing empty segments, then encoding. */
static int canonical_path(struct aws_buf *out, const char *path)
{
	const char *seg[MAX_SEGMENTS];
	size_t seglen[MAX_SEGMENTS];
	size_t n = 0;
	const char *p = path && *path ? path : "/";
	size_t total = strlen(p);

	for (const char *s = p; s < p + total;) {
		const char *e = memchr(s, '/', (size_t)(p + total - s));
		size_t l = e ? (size_t)(e - s) : (size_t)(p + total - s);
		if (l == 0 || (l == 1 && s[0] == '.')) {
			/* empty or "." segment: dropped */
		} else if (l == 2 && s[0] == '.' && s[1] == '.') {
			if (n)
				n--;
		} else {
			if (n == MAX_SEGMENTS)
				return kiln_err(EINVAL, "request path has more than %d segments",
						MAX_SEGMENTS);
			seg[n] = s;
			seglen[n++] = l;
		}
		s += l + 1;
	}
	for (size_t i = 0; i < n; i++) {
		aws_buf_ch(out, '/');
		uri_encode(out, seg[i], seglen[i]);
	}
	if (n == 0 || p[total - 1] == '/')
		aws_buf_ch(out, '/');
	return 0;
}

struct kv {
	char *k, *v;
};

static int kv_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	int c = strcmp(x->k, y->k);
	return c ? c : strcmp(x->v, y->v);
}

/* Decode then strictly re-encode one query key or value. */
static char *query_part(const char *p, size_t n)
{
	struct aws_buf dec = { 0 }, enc = { 0 };
	uri_decode(&dec, p, n);
	if (dec.err) {
		aws_buf_free(&dec);
		return NULL;
	}
	uri_encode(&enc, dec.p ? dec.p : "", dec.len);
	aws_buf_free(&dec);
	if (enc.err) {
		aws_buf_free(&enc);
		return NULL;
	}
	return aws_buf_take(&enc);
}

static int canonical_query(struct aws_buf *out, const char *q)
{
	if (!q || !*q)
		return 0;
	size_t cap = 1;
	for (const char *s = q; *s; s++)
		cap += *s == '&';
	struct kv *kv = calloc(cap, sizeof(*kv));
	if (!kv)
		return kiln_err(ENOMEM, "out of memory");
	size_t n = 0;
	int rc = 0;
	for (const char *s = q; *s && rc == 0;) {
		size_t l = strcspn(s, "&");
		if (l) {
			const char *eq = memchr(s, '=', l);
			size_t kl = eq ? (size_t)(eq - s) : l;
			kv[n].k = query_part(s, kl);
			kv[n].v = eq ? query_part(eq + 1, l - kl - 1) : strdup("");
			if (!kv[n].k || !kv[n].v)
				rc = kiln_err(ENOMEM, "out of memory");
			n++;
		}
		s += l + (s[l] == '&');
	}
	if (rc == 0) {
		qsort(kv, n, sizeof(*kv), kv_cmp);
		for (size_t i = 0; i < n; i++) {
			if (i)
				aws_buf_ch(out, '&');
			aws_buf_fmt(out, "%s=%s", kv[i].k, kv[i].v);
		}
	}
	for (size_t i = 0; i < n; i++) {
		free(kv[i].k);
		free(kv[i].v);
	}
	free(kv);
	return rc;
}

static int tolower_ascii(char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trim and collapse runs of whitespace (folded lines included) to one space. */
static void canonical_value(struct aws_buf *b, const char *v)
{
	bool pending = false, started = false;
	for (; *v; v++) {
		if (is_ws(*v)) {
			pending = started;
			continue;
		}
		if (pending)
			aws_buf_ch(b, ' ');
		aws_buf_ch(b, *v);
		pending = false;
		started = true;
	}
}

struct hdr {
	char name[128];
	const char *value;
	size_t order;
};

static int hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Is the lowercase name one of the ';'-separated list? */
static bool in_list(const char *list, const char *name)
{
	size_t nl = strlen(name);
	for (const char *s = list; *s;) {
		size_t l = strcspn(s, ";");
		if (l == nl && memcmp(s, name, l) == 0)
			return true;
		s += l + (s[l] == ';');
	}
	return false;
}

static int collect_headers(const struct aws_sigv4_req *r, const char *signed_list,
			   struct hdr *h, size_t *n)
{
	*n = 0;
	if (r->n_headers > MAX_HEADERS)
		return kiln_err(EINVAL, "request has more than %d headers", MAX_HEADERS);
	for (size_t i = 0; i < r->n_headers; i++) {
		size_t l = strlen(r->headers[i].name);
		if (l == 0 || l >= sizeof(h->name))
			return kiln_err(EINVAL, "request header name of %zu bytes", l);
		for (size_t j = 0; j <= l; j++)
			h[*n].name[j] = (char)tolower_ascii(r->headers[i].name[j]);
		if (signed_list && !in_list(signed_list, h[*n].name))
			continue;
		h[*n].value = r->headers[i].value ? r->headers[i].value : "";
		h[*n].order = i;
		(*n)++;
	}
	qsort(h, *n, sizeof(*h), hdr_cmp);
	return 0;
}

/* Every name in the signed list must be a header of the request. */
static int check_signed_present(const char *list, const struct hdr *h, size_t n)
{
	for (const char *s = list; *s;) {
		size_t l = strcspn(s, ";");
		bool found = false;
		for (size_t i = 0; i < n && !found; i++)
			found = strlen(h[i].name) == l && memcmp(h[i].name, s, l) == 0;
		if (!found || l == 0)
			return kiln_err(EINVAL, "signed header '%.*s' is not in the request",
					(int)(l > 64 ? 64 : l), s);
		s += l + (s[l] == ';');
	}
	return 0;
}

static void add_headers(struct aws_buf *b, const struct hdr *h, size_t n, struct aws_buf *names)
{
	for (size_t i = 0; i < n; i++) {
		bool same = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;
		if (same) {
			aws_buf_ch(b, ',');
		} else {
			if (i)
				aws_buf_ch(b, '\n');
			aws_buf_fmt(b, "%s:", h[i].name);
			if (names->len)
				aws_buf_ch(names, ';');
			aws_buf_str(names, h[i].name);
		}
		canonical_value(b, h[i].value);
	}
	aws_buf_ch(b, '\n');
}

int aws_sigv4_canonical_request(const struct aws_sigv4_req *r, const char *signed_headers,
				char **out)
{
	struct hdr h[MAX_HEADERS];
	struct aws_buf b = { 0 }, names = { 0 };
	size_t n;
	char body_hash[65];

	int rc = collect_headers(r, signed_headers, h, &n);
	if (rc == 0 && signed_headers)
		rc = check_signed_present(signed_headers, h, n);
	if (rc < 0)
		return rc;
	aws_buf_fmt(&b, "%s\n", r->method);
	rc = canonical_path(&b, r->path);
	aws_buf_ch(&b, '\n');
	if (rc == 0)
		rc = canonical_query(&b, r->query);
	aws_buf_ch(&b, '\n');
	add_headers(&b, h, n, &names);
	aws_buf_fmt(&b, "\n%s\n", names.p ? names.p : "");
	if (r->payload_hash) {
		aws_buf_str(&b, r->payload_hash);
	} else {
		sha256_hex(r->body ? (const void *)r->body : "", r->body_len, body_hash);
		aws_buf_str(&b, body_hash);
	}
	if (rc == 0)
		rc = aws_buf_check(&b);
	if (rc == 0)
		rc = aws_buf_check(&names);
	aws_buf_free(&names);
	if (rc < 0) {
		aws_buf_free(&b);
		return rc;
	}
	*out = aws_buf_take(&b);
	return 0;
}

int aws_sigv4_string_to_sign(const char *amz_date, const char *region, const char *service,
			     const char *creq, char **out)
{
	struct aws_buf b = { 0 };
	char h[65];

	if (strlen(amz_date) != 16)
		return kiln_err(EINVAL, "X-Amz-Date '%.20s' is not YYYYMMDDTHHMMSSZ", amz_date);
	sha256_hex(creq, strlen(creq), h);
	aws_buf_fmt(&b, "AWS4-HMAC-SHA256\n%s\n%.8s/%s/%s/aws4_request\n%s", amz_date, amz_date,
		    region, service, h);
	int rc = aws_buf_check(&b);
	if (rc < 0) {
		aws_buf_free(&b);
		return rc;
	}
	*out = aws_buf_take(&b);
	return 0;
}

static int hmac(const void *key, size_t klen, const char *msg, uint8_t out[32])
{
	unsigned int len = 32;
	if (!HMAC(EVP_sha256(), key, (int)klen, (const uint8_t *)msg, strlen(msg), out, &len))
		return kiln_err(EIO, "HMAC-SHA256 failed");
	return 0;
}

int aws_sigv4_signature(const char *secret, const char *date8, const char *region,
			const char *service, const char *sts, char hex[65])
{
	char k0[4 + 129];
	uint8_t k[32], sig[32];
	char d[9];

	if (strlen(secret) >= sizeof(k0) - 4)
		return kiln_err(EINVAL, "secret access key too long");
	snprintf(k0, sizeof(k0), "AWS4%s", secret);
	snprintf(d, sizeof(d), "%.8s", date8);
	int rc = hmac(k0, strlen(k0), d, k);
	if (rc == 0)
		rc = hmac(k, 32, region, k);
	if (rc == 0)
		rc = hmac(k, 32, service, k);
	if (rc == 0)
		rc = hmac(k, 32, "aws4_request", k);
	if (rc == 0)
		rc = hmac(k, 32, sts, sig);
	if (rc == 0)
		hex_lower(sig, 32, hex);
	kiln_wipe(k0, sizeof(k0));
	kiln_wipe(k, sizeof(k));
	return rc;
}

/* The lowercase, sorted, de-duplicated names of r's headers. */
static int all_names(const struct aws_sigv4_req *r, char *out, size_t size)
{
	struct hdr h[MAX_HEADERS];
	size_t n, len = 0;
	int rc = collect_headers(r, NULL, h, &n);
	if (rc < 0)
		return rc;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i && strcmp(h[i].name, h[i - 1].name) == 0)
			continue;
		int w = snprintf(out + len, size - len, "%s%s", len ? ";" : "", h[i].name);
		if (w < 0 || (size_t)w >= size - len)
			return kiln_err(EINVAL, "signed header list too long");
		len += (size_t)w;
	}
	return 0;
}

int aws_sigv4_sign(const struct aws_sigv4_req *r, const struct aws_creds *creds,
		   const char *region, const char *service, const char *amz_date, char *authz,
		   size_t size)
{
	char names[1024], sig[65];
	char *creq = NULL, *sts = NULL;

	int rc = all_names(r, names, sizeof(names));
	if (rc == 0)
		rc = aws_sigv4_canonical_request(r, NULL, &creq);
	if (rc == 0)
		rc = aws_sigv4_string_to_sign(amz_date, region, service, creq, &sts);
	if (rc == 0)
		rc = aws_sigv4_signature(creds->secret_access_key, amz_date, region, service, sts,
					 sig);
	free(creq);
	free(sts);
	if (rc < 0)
		return rc;
	int w = snprintf(authz, size,
			 "AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request, "
			 "SignedHeaders=%s, Signature=%s",
			 creds->access_key_id, amz_date, region, service, names, sig);
	if (w < 0 || (size_t)w >= size)
		return kiln_err(ENOBUFS, "Authorization header too long");
	return 0;
}

/* Copy the next token of s up to a stop character into dst (bounded). */
static int take(const char **s, const char *stops, char *dst, size_t size, const char *what)
{
	size_t l = strcspn(*s, stops);
	if (l == 0 || l >= size)
		return kiln_err(EINVAL, "Authorization: bad %s", what);
	memcpy(dst, *s, l);
	dst[l] = '\0';
	*s += l;
	return 0;
}

static int parse_credential(const char **s, struct aws_sigv4_authz *a)
{
	char term[16];
	int rc = take(s, "/, ", a->access_key_id, sizeof(a->access_key_id), "access key id");
	if (rc == 0 && *(*s)++ != '/')
		rc = kiln_err(EINVAL, "Authorization: bad credential scope");
	if (rc == 0)
		rc = take(s, "/, ", a->date, sizeof(a->date), "scope date");
	if (rc == 0 && *(*s)++ != '/')
		rc = kiln_err(EINVAL, "Authorization: bad credential scope");
	if (rc == 0)
		rc = take(s, "/, ", a->region, sizeof(a->region), "scope region");
	if (rc == 0 && *(*s)++ != '/')
		rc = kiln_err(EINVAL, "Authorization: bad credential scope");
	if (rc == 0)
		rc = take(s, "/, ", a->service, sizeof(a->service), "scope service");
	if (rc == 0 && *(*s)++ != '/')
		rc = kiln_err(EINVAL, "Authorization: bad credential scope");
	if (rc == 0)
		rc = take(s, ", ", term, sizeof(term), "scope terminator");
	if (rc == 0 && (strcmp(term, "aws4_request") != 0 || strlen(a->date) != 8))
		rc = kiln_err(EINVAL, "Authorization: bad credential scope");
	return rc;
}

int aws_sigv4_parse_authz(const char *value, struct aws_sigv4_authz *a)
{
	static const char ALG[] = "AWS4-HMAC-SHA256 ";
	unsigned seen = 0;
	int rc = 0;

	memset(a, 0, sizeof(*a));
	if (strncmp(value, ALG, sizeof(ALG) - 1) != 0)
		return kiln_err(EINVAL, "Authorization: not AWS4-HMAC-SHA256");
	const char *s = value + sizeof(ALG) - 1;
	while (rc == 0 && *s) {
		while (*s == ' ' || *s == ',')
			s++;
		if (!*s)
			break;
		if (strncmp(s, "Credential=", 11) == 0) {
			s += 11;
			rc = parse_credential(&s, a);
			seen |= 1;
		} else if (strncmp(s, "SignedHeaders=", 14) == 0) {
			s += 14;
			rc = take(&s, ", ", a->signed_headers, sizeof(a->signed_headers),
				  "SignedHeaders");
			seen |= 2;
		} else if (strncmp(s, "Signature=", 10) == 0) {
			s += 10;
			rc = take(&s, ", ", a->signature, sizeof(a->signature), "Signature");
			seen |= 4;
		} else {
			rc = kiln_err(EINVAL, "Authorization: unknown component");
		}
	}
	if (rc == 0 && seen != 7)
		rc = kiln_err(EINVAL, "Authorization: needs Credential, SignedHeaders, Signature");
	if (rc == 0 && strlen(a->signature) != 64)
		rc = kiln_err(EINVAL, "Authorization: Signature is not 64 hex digits");
	return rc;
}

static const char *find_header(const struct aws_sigv4_req *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

static int parse_amz_date(const char *s, time_t *t)
{
	struct tm tm = { 0 };
	const char *end = strlen(s) == 16 ? strptime(s, "%Y%m%dT%H%M%SZ", &tm) : NULL;
	if (!end || *end)
		return kiln_err(EINVAL, "X-Amz-Date '%.20s' is not YYYYMMDDTHHMMSSZ", s);
	*t = timegm(&tm);
	return 0;
}

int aws_sigv4_verify(const struct aws_sigv4_req *r, const struct aws_sigv4_authz *a,
		     const char *secret, time_t now, long max_skew)
{
	char *creq = NULL, *sts = NULL, sig[65];
	time_t t = 0;

	if (!in_list(a->signed_headers, "host") || !in_list(a->signed_headers, "x-amz-date"))
		return kiln_err(EACCES, "SignedHeaders must include host and x-amz-date");
	const char *date = find_header(r, "x-amz-date");
	if (!date || parse_amz_date(date, &t) < 0)
		return kiln_err(EACCES, "missing or malformed X-Amz-Date");
	if (strncmp(date, a->date, 8) != 0)
		return kiln_err(EACCES, "credential scope date is not X-Amz-Date's day");
	if (max_skew > 0 && (t > now + max_skew || t < now - max_skew))
		return kiln_err(EACCES, "X-Amz-Date is more than %ld s from the server's time",
				max_skew);
	int rc = aws_sigv4_canonical_request(r, a->signed_headers, &creq);
	if (rc == 0)
		rc = aws_sigv4_string_to_sign(date, a->region, a->service, creq, &sts);
	if (rc == 0)
		rc = aws_sigv4_signature(secret, a->date, a->region, a->service, sts, sig);
	free(creq);
	free(sts);
	if (rc < 0)
		return kiln_err_wrap(-EACCES, "signature not computable");
	if (CRYPTO_memcmp(sig, a->signature, 64) != 0)
		return kiln_err(EACCES, "signature does not match");
	return 0;
}

void aws_sigv4_amz_date(time_t t, char out[17])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}
