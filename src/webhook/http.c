/* SPDX-License-Identifier: Apache-2.0 */
/* A bounded HTTP/1.1 request-head parser for kiln-webhook (untrusted bytes). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "webhook/webhook.h"

/*
 * The head is read whole (at most KW_MAX_HEAD bytes, KW_MAX_HEADERS lines)
 * before anything is interpreted; every line is taken by length, never by
 * searching past len. Only what the webhook needs is kept: method, path,
 * Content-Type, Content-Length, Transfer-Encoding and Connection.
 */

/* The end of the head ("\r\n\r\n") within buf[0..len), or 0. */
static size_t head_end(const char *buf, size_t len)
{
	for (size_t i = 3; i < len; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
			return i + 1;
	return 0;
}

static int bad(int *status, int code, const char *why)
{
	*status = code;
	return kiln_err(code == 431 ? E2BIG : EINVAL, "%s", why);
}

/* A line [p, p+n) without its CRLF. */
static int request_line(const char *p, size_t n, struct kw_http_req *r, int *status)
{
	const char *sp1 = memchr(p, ' ', n), *sp2, *q;
	size_t ml, pl;

	if (!sp1)
		return bad(status, 400, "malformed request line");
	sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p));
	if (!sp2)
		return bad(status, 400, "malformed request line");
	ml = (size_t)(sp1 - p);
	pl = (size_t)(sp2 - sp1 - 1);
	q = memchr(sp1 + 1, '?', pl);
	if (q)
		pl = (size_t)(q - sp1 - 1); /* the API server adds ?timeout=10s */
	if (!ml || ml >= sizeof(r->method) || !pl || pl >= sizeof(r->path) || sp1[1] != '/')
		return bad(status, 400, "malformed request line");
	memcpy(r->method, p, ml);
	memcpy(r->path, sp1 + 1, pl);
	n -= (size_t)(sp2 + 1 - p);
	if (n == 8 && !memcmp(sp2 + 1, "HTTP/1.1", 8))
		return 0;
	if (n == 8 && !memcmp(sp2 + 1, "HTTP/1.0", 8)) {
		r->close = true;
		return 0;
	}
	return bad(status, 400, "unsupported HTTP version (want HTTP/1.1)");
}

static bool name_is(const char *p, size_t n, const char *name)
{
	return n == strlen(name) && !strncasecmp(p, name, n);
}

static int length_value(const char *v, size_t n, struct kw_http_req *r, int *status)
{
	uint64_t x = 0;

	if (!n || n > 19 || r->has_length)
		return bad(status, 400, "bad or repeated Content-Length");
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return bad(status, 400, "bad Content-Length");
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	r->content_length = x;
	r->has_length = true;
	return 0;
}

static int header_line(const char *p, size_t n, struct kw_http_req *r, int *status)
{
	const char *colon = memchr(p, ':', n), *v;
	size_t nl, vl;

	if (!colon || colon == p)
		return bad(status, 400, "malformed header line");
	nl = (size_t)(colon - p);
	for (v = colon + 1; v < p + n && (*v == ' ' || *v == '\t'); v++)
		;
	vl = (size_t)(p + n - v);
	while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	if (name_is(p, nl, "Content-Length"))
		return length_value(v, vl, r, status);
	if (name_is(p, nl, "Content-Type")) {
		snprintf(r->content_type, sizeof(r->content_type), "%.*s",
			 (int)(vl < sizeof(r->content_type) ? vl : sizeof(r->content_type) - 1), v);
	} else if (name_is(p, nl, "Transfer-Encoding")) {
		r->chunked = true; /* any coding: the body length is then not Content-Length */
	} else if (name_is(p, nl, "Connection")) {
		r->close = r->close || (vl == 5 && !strncasecmp(v, "close", 5));
	}
	return 0;
}

int kw_http_parse(const char *buf, size_t len, struct kw_http_req *r, int *status)
{
	size_t end = head_end(buf, len < KW_MAX_HEAD ? len : KW_MAX_HEAD), pos = 0;
	int lines = 0, rc = 0;

	memset(r, 0, sizeof(*r));
	*status = 0;
	if (!end)
		return len >= KW_MAX_HEAD ? bad(status, 431, "request head larger than 16 KiB")
					  : -EAGAIN;
	while (rc == 0 && pos < end - 2) {
		const char *lf = memchr(buf + pos, '\n', end - pos);
		size_t n = (size_t)(lf - (buf + pos));

		if (n == 0 || buf[pos + n - 1] != '\r')
			return bad(status, 400, "header line not ended by CRLF");
		if (++lines > KW_MAX_HEADERS + 1)
			return bad(status, 431, "more than 64 header lines");
		rc = lines == 1 ? request_line(buf + pos, n - 1, r, status)
				: header_line(buf + pos, n - 1, r, status);
		pos += n + 1;
	}
	r->head_len = end;
	return rc;
}

int kw_http_check_review(const struct kw_http_req *r, size_t max_body)
{
	const char *ct = r->content_type;
	size_t n = strcspn(ct, "; ");

	if (r->chunked)
		return kiln_err(EINVAL, "Transfer-Encoding is not supported: send Content-Length"),
		       411;
	if (!r->has_length)
		return kiln_err(EINVAL, "Content-Length is required"), 411;
	if (r->content_length > max_body)
		return kiln_err(E2BIG, "body of %llu bytes is over the limit of %zu",
				(unsigned long long)r->content_length, max_body),
		       413;
	if (n != 16 || strncasecmp(ct, "application/json", 16))
		return kiln_err(EINVAL, "Content-Type \"%s\" is not application/json", ct), 415;
	return 0;
}
