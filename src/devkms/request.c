/* SPDX-License-Identifier: Apache-2.0 */
/* dev-kms: the bounded, strict HTTP/1.1 request parser (input from any client). */
#include <string.h>
#include <strings.h>

#include "devkms/devkms.h"

/*
 * How this works: the head (request line and headers) must end with
 * CRLF CRLF within KILN_DEVKMS_MAX_HEAD bytes; every line ends with CRLF
 * (a bare LF or CR is refused), header names are RFC 9110 tokens, values
 * carry no control bytes, folded lines and Transfer-Encoding are refused,
 * and a body needs exactly one Content-Length of at most
 * KILN_DEVKMS_MAX_BODY. All spans point into the caller's buffer.
 */

static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool span_is(const struct kiln_devkms_span *s, const char *lit)
{
	size_t n = strlen(lit);

	return s->len == n && !strncasecmp(s->p, lit, n);
}

/* Find CRLF CRLF; returns the head length including it, or 0. */
static size_t head_len(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
			return i + 4;
	return 0;
}

/* The next CRLF-terminated line of [*pos, end): bare CR or LF is an error. */
static int next_line(const char *buf, size_t *pos, size_t end, struct kiln_devkms_span *line)
{
	size_t i = *pos;

	while (i < end && buf[i] != '\r' && buf[i] != '\n')
		i++;
	if (i + 1 >= end || buf[i] != '\r' || buf[i + 1] != '\n')
		return kiln_err(EPROTO, "line not terminated by CRLF");
	line->p = buf + *pos;
	line->len = i - *pos;
	*pos = i + 2;
	return 0;
}

static int parse_request_line(const struct kiln_devkms_span *l, struct kiln_devkms_req *r,
			      bool *http11)
{
	const char *sp1 = memchr(l->p, ' ', l->len);
	if (!sp1 || sp1 == l->p)
		return kiln_err(EPROTO, "malformed request line");
	const char *rest = sp1 + 1;
	size_t rest_len = l->len - (size_t)(rest - l->p);
	const char *sp2 = memchr(rest, ' ', rest_len);
	if (!sp2 || sp2 == rest)
		return kiln_err(EPROTO, "malformed request line");
	r->method = (struct kiln_devkms_span){ l->p, (size_t)(sp1 - l->p) };
	for (size_t i = 0; i < r->method.len; i++)
		if (!is_tchar((unsigned char)r->method.p[i]))
			return kiln_err(EPROTO, "malformed method");
	struct kiln_devkms_span target = { rest, (size_t)(sp2 - rest) };
	struct kiln_devkms_span version = { sp2 + 1, rest_len - target.len - 1 };
	if (span_is(&version, "HTTP/1.1"))
		*http11 = true;
	else if (span_is(&version, "HTTP/1.0"))
		*http11 = false;
	else
		return kiln_err(EPROTO, "unsupported HTTP version");
	if (target.p[0] != '/')
		return kiln_err(EPROTO, "request target is not an absolute path");
	for (size_t i = 0; i < target.len; i++)
		if ((unsigned char)target.p[i] <= 0x20 || (unsigned char)target.p[i] >= 0x7f)
			return kiln_err(EPROTO, "bad byte in request target");
	const char *q = memchr(target.p, '?', target.len);
	r->path = (struct kiln_devkms_span){ target.p, q ? (size_t)(q - target.p) : target.len };
	r->query = q ? (struct kiln_devkms_span){ q + 1, target.len - r->path.len - 1 }
		     : (struct kiln_devkms_span){ target.p + target.len, 0 };
	return 0;
}

static int parse_header(const struct kiln_devkms_span *l, struct kiln_devkms_hdr *h)
{
	const char *colon = memchr(l->p, ':', l->len);
	if (!colon || colon == l->p)
		return kiln_err(EPROTO, "malformed header line");
	h->name = (struct kiln_devkms_span){ l->p, (size_t)(colon - l->p) };
	for (size_t i = 0; i < h->name.len; i++)
		if (!is_tchar((unsigned char)h->name.p[i]))
			return kiln_err(EPROTO, "malformed header name");
	const char *v = colon + 1, *end = l->p + l->len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const char *c = v; c < end; c++)
		if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
			return kiln_err(EPROTO, "control byte in header %.*s", (int)h->name.len,
					h->name.p);
	h->value = (struct kiln_devkms_span){ v, (size_t)(end - v) };
	return 0;
}

static int parse_content_length(const struct kiln_devkms_span *v, size_t *out)
{
	size_t n = 0;

	if (v->len == 0 || v->len > 9)
		return kiln_err(EPROTO, "bad Content-Length");
	for (size_t i = 0; i < v->len; i++) {
		if (v->p[i] < '0' || v->p[i] > '9')
			return kiln_err(EPROTO, "bad Content-Length");
		n = n * 10 + (size_t)(v->p[i] - '0');
	}
	if (n > KILN_DEVKMS_MAX_BODY)
		return kiln_err(EMSGSIZE, "body of %zu bytes exceeds the %d-byte limit", n,
				KILN_DEVKMS_MAX_BODY);
	*out = n;
	return 0;
}

/* Headers that shape framing: Content-Length (once), no Transfer-Encoding, Connection. */
static int framing(struct kiln_devkms_req *r, bool http11, size_t *body_len)
{
	bool have_len = false;

	r->keep_alive = http11;
	*body_len = 0;
	for (size_t i = 0; i < r->nhdr; i++) {
		const struct kiln_devkms_hdr *h = &r->hdr[i];
		if (span_is(&h->name, "transfer-encoding"))
			return kiln_err(EPROTO, "Transfer-Encoding is not supported");
		if (span_is(&h->name, "connection")) {
			if (span_is(&h->value, "close"))
				r->keep_alive = false;
			else if (span_is(&h->value, "keep-alive"))
				r->keep_alive = true;
		}
		if (!span_is(&h->name, "content-length"))
			continue;
		if (have_len)
			return kiln_err(EPROTO, "duplicate Content-Length");
		have_len = true;
		int rc = parse_content_length(&h->value, body_len);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int kiln_devkms_req_parse(const uint8_t *buf, size_t len, struct kiln_devkms_req *r)
{
	size_t hl = head_len(buf, len < KILN_DEVKMS_MAX_HEAD ? len : KILN_DEVKMS_MAX_HEAD);
	if (!hl)
		return len >= KILN_DEVKMS_MAX_HEAD
			       ? kiln_err(EMSGSIZE, "request head exceeds %d bytes", KILN_DEVKMS_MAX_HEAD)
			       : -EAGAIN;
	memset(r, 0, sizeof(*r));
	const char *s = (const char *)buf;
	size_t pos = 0, end = hl - 2; /* the final CRLF closes the empty line */
	struct kiln_devkms_span line;
	bool http11 = false;
	int rc = next_line(s, &pos, hl, &line);
	if (rc == 0)
		rc = parse_request_line(&line, r, &http11);
	while (rc == 0 && pos < end) {
		if (r->nhdr == KILN_DEVKMS_MAX_HDRS)
			return kiln_err(EMSGSIZE, "more than %d headers", KILN_DEVKMS_MAX_HDRS);
		rc = next_line(s, &pos, hl, &line);
		if (rc == 0 && (line.len == 0 || line.p[0] == ' ' || line.p[0] == '\t'))
			rc = kiln_err(EPROTO, "folded or empty header line");
		if (rc == 0)
			rc = parse_header(&line, &r->hdr[r->nhdr++]);
	}
	size_t body_len = 0;
	if (rc == 0)
		rc = framing(r, http11, &body_len);
	if (rc < 0)
		return rc;
	if (len - hl < body_len)
		return -EAGAIN;
	r->body = buf + hl;
	r->body_len = body_len;
	r->total = hl + body_len;
	return 0;
}

const struct kiln_devkms_span *kiln_devkms_req_header(const struct kiln_devkms_req *r,
						       const char *name)
{
	for (size_t i = 0; i < r->nhdr; i++)
		if (span_is(&r->hdr[i].name, name))
			return &r->hdr[i].value;
	return NULL;
}
