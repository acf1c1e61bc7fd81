/* SPDX-License-Identifier: Apache-2.0 */
/* The attestation API: request head parser, response builder, loopback-only connection handler. */
#include "attest/http_api.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "nsm/nsm.h"
#include "util/cleanup.h"
#include "util/cursor.h"
#include "util/io.h"

/*
 * How this works: the handler reads at most 8 KiB until the blank line,
 * then the pure parser walks the head with a bounds-checked cursor: request
 * line (method SP target SP HTTP/1.x), header lines (token ":" value, no
 * obs-fold, no control bytes, no body framing other than Content-Length: 0),
 * then method, path and query. Query values are decoded strictly (alphabet,
 * length, zero trailing bits) into fixed buffers, so nothing in a request
 * can make the parser allocate or read outside the head.
 */

#define METHOD_MAX 16
#define REASON_MAX 400 /* bytes of a reason sent as an error body */
#define NAME_SHOWN 32 /* bytes of an unknown parameter name quoted in a reason */

struct span {
	const uint8_t *p;
	size_t n;
};

static bool span_eq(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && !memcmp(s.p, lit, n);
}

static bool span_eq_nocase(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && !strncasecmp((const char *)s.p, lit, n);
}

static bool is_tchar(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int fail(struct kiln_attest_api_req *req, int status, const char *reason)
{
	req->status = status;
	return kiln_err(status == 404 ? ENOENT : status == 405 ? EOPNOTSUPP : EINVAL, "%s", reason);
}

/* The next CRLF-terminated line (without the CRLF). */
static int next_line(struct kiln_cursor *c, struct span *line)
{
	size_t left = kiln_cursor_left(c);
	const uint8_t *p;

	for (size_t i = 0; i + 1 < left; i++) {
		if (c->buf[c->pos + i] == '\r' && c->buf[c->pos + i + 1] == '\n') {
			if (kiln_cursor_bytes(c, i, &p) < 0 || kiln_cursor_skip(c, 2) < 0)
				return -EBADMSG;
			*line = (struct span){ p, i };
			return 0;
		}
	}
	return -EBADMSG;
}

/* Split s at the first byte sep: head before, tail after; false when absent. */
static bool split(struct span s, uint8_t sep, struct span *head, struct span *tail)
{
	const uint8_t *at = s.n ? memchr(s.p, sep, s.n) : NULL;
	size_t i;

	if (!at)
		return false;
	i = (size_t)(at - s.p);
	*head = (struct span){ s.p, i };
	*tail = (struct span){ s.p + i + 1, s.n - i - 1 };
	return true;
}

static int parse_request_line(struct kiln_attest_api_req *req, struct span line,
			      struct span *method, struct span *target)
{
	struct span rest, version;

	if (!split(line, ' ', method, &rest) || !split(rest, ' ', target, &version))
		return fail(req, 400, "malformed request line");
	if (method->n == 0 || method->n > METHOD_MAX || target->n == 0)
		return fail(req, 400, "malformed request line");
	for (size_t i = 0; i < method->n; i++)
		if (!is_tchar(method->p[i]))
			return fail(req, 400, "malformed method");
	for (size_t i = 0; i < target->n; i++)
		if (target->p[i] <= 0x20 || target->p[i] >= 0x7f)
			return fail(req, 400, "malformed request target");
	if (!span_eq(version, "HTTP/1.1") && !span_eq(version, "HTTP/1.0"))
		return fail(req, 400, "unsupported HTTP version");
	return 0;
}

static int parse_header(struct kiln_attest_api_req *req, struct span line)
{
	struct span name, value;

	if (line.p[0] == ' ' || line.p[0] == '\t')
		return fail(req, 400, "folded header line");
	if (!split(line, ':', &name, &value) || name.n == 0)
		return fail(req, 400, "malformed header line");
	for (size_t i = 0; i < name.n; i++)
		if (!is_tchar(name.p[i]))
			return fail(req, 400, "malformed header name");
	for (size_t i = 0; i < value.n; i++)
		if ((value.p[i] < 0x20 && value.p[i] != '\t') || value.p[i] == 0x7f)
			return fail(req, 400, "control byte in a header value");
	while (value.n && (value.p[0] == ' ' || value.p[0] == '\t'))
		value = (struct span){ value.p + 1, value.n - 1 };
	while (value.n && (value.p[value.n - 1] == ' ' || value.p[value.n - 1] == '\t'))
		value.n--;
	if (span_eq_nocase(name, "transfer-encoding"))
		return fail(req, 400, "request bodies are not accepted");
	if (span_eq_nocase(name, "content-length") && !span_eq(value, "0"))
		return fail(req, 400, "request bodies are not accepted");
	return 0;
}

/* ---- base64url ---- */

static int b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Count trailing padding ("=" or "%3D"), shrinking v to the data characters. */
static int strip_padding(struct span *v, size_t *pads)
{
	*pads = 0;
	for (;;) {
		if (v->n >= 1 && v->p[v->n - 1] == '=') {
			v->n -= 1;
		} else if (v->n >= 3 && v->p[v->n - 3] == '%' && v->p[v->n - 2] == '3' &&
			   (v->p[v->n - 1] == 'D' || v->p[v->n - 1] == 'd')) {
			v->n -= 3;
		} else {
			break;
		}
		if (++*pads > 2)
			return -EINVAL;
	}
	return 0;
}

static int b64url_decode(struct span v, struct kiln_attest_api_param *out)
{
	size_t pads, full, rem, len;
	uint32_t acc = 0;
	unsigned bits = 0;

	if (strip_padding(&v, &pads) < 0)
		return -EINVAL;
	rem = v.n % 4;
	full = v.n / 4;
	if (v.n == 0 || rem == 1 || (pads && (rem + pads) % 4 != 0))
		return -EINVAL;
	len = full * 3 + (rem ? rem - 1 : 0);
	if (len > KILN_ATTEST_API_PARAM_MAX)
		return -EMSGSIZE;
	out->len = 0;
	for (size_t i = 0; i < v.n; i++) {
		int x = b64_value(v.p[i]);

		if (x < 0)
			return -EINVAL;
		acc = (acc << 6 | (uint32_t)x) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out->data[out->len++] = (uint8_t)(acc >> bits);
		}
	}
	if (acc & ((1u << bits) - 1)) /* non-zero trailing bits: not canonical */
		return -EINVAL;
	out->present = true;
	return 0;
}

static int parse_param(struct kiln_attest_api_req *req, struct span seg)
{
	static const char *const names[] = { "nonce", "user_data", "public_key" };
	struct kiln_attest_api_param *params[] = { &req->nonce, &req->user_data, &req->public_key };
	struct span name, value;
	char msg[128];
	size_t i;
	int rc;

	if (!split(seg, '=', &name, &value)) {
		snprintf(msg, sizeof(msg), "parameter \"%.*s\" has no value",
			 (int)(seg.n > NAME_SHOWN ? NAME_SHOWN : seg.n), (const char *)seg.p);
		return fail(req, 400, msg);
	}
	for (i = 0; i < 3 && !span_eq(name, names[i]); i++)
		;
	if (i == 3) {
		snprintf(msg, sizeof(msg), "unknown parameter \"%.*s\"",
			 (int)(name.n > NAME_SHOWN ? NAME_SHOWN : name.n), (const char *)name.p);
		return fail(req, 400, msg);
	}
	if (params[i]->present) {
		snprintf(msg, sizeof(msg), "parameter %s given twice", names[i]);
		return fail(req, 400, msg);
	}
	rc = b64url_decode(value, params[i]);
	if (rc == -EMSGSIZE)
		snprintf(msg, sizeof(msg), "parameter %s decodes to more than %d bytes", names[i],
			 KILN_ATTEST_API_PARAM_MAX);
	else if (rc < 0)
		snprintf(msg, sizeof(msg), "parameter %s is not base64url", names[i]);
	return rc < 0 ? fail(req, 400, msg) : 0;
}

static int parse_target(struct kiln_attest_api_req *req, struct span target)
{
	struct span path = target, query = { NULL, 0 }, seg, rest;
	int rc;

	if (target.p[0] != '/')
		return fail(req, 400, "request target is not a path");
	if (memchr(target.p, '#', target.n))
		return fail(req, 400, "fragment in request target");
	split(target, '?', &path, &query);
	if (!span_eq(path, KILN_ATTEST_API_PATH))
		return fail(req, 404, "not found (the API is GET " KILN_ATTEST_API_PATH ")");
	while (query.n) {
		if (!split(query, '&', &seg, &rest)) {
			seg = query;
			rest = (struct span){ NULL, 0 };
		} else if (rest.n == 0) {
			return fail(req, 400, "empty query parameter");
		}
		if (seg.n == 0)
			return fail(req, 400, "empty query parameter");
		rc = parse_param(req, seg);
		if (rc < 0)
			return rc;
		query = rest;
	}
	return 0;
}

int kiln_attest_api_parse(const uint8_t *head, size_t len, struct kiln_attest_api_req *req)
{
	struct kiln_cursor c = kiln_cursor_make(head, len);
	struct span line, method = { NULL, 0 }, target = { NULL, 0 };
	int rc;

	memset(req, 0, sizeof(*req));
	if (len > KILN_ATTEST_API_HEAD_MAX)
		return fail(req, 400, "request head too large");
	if (next_line(&c, &line) < 0)
		return fail(req, 400, "incomplete request line");
	rc = parse_request_line(req, line, &method, &target);
	for (;;) {
		if (rc < 0)
			return rc;
		if (next_line(&c, &line) < 0)
			return fail(req, 400, "request head does not end with a blank line");
		if (line.n == 0)
			break;
		rc = parse_header(req, line);
	}
	if (kiln_cursor_left(&c))
		return fail(req, 400, "bytes after the request head");
	if (!span_eq(method, "GET"))
		return fail(req, 405, "method not allowed (only GET)");
	rc = parse_target(req, target);
	if (rc < 0)
		return rc;
	req->status = 200;
	return 0;
}

/* ---- responses ---- */

static const char *status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	default:
		return NULL;
	}
}

int kiln_attest_api_response(int status, const char *reason, const uint8_t *body, size_t body_len,
			     uint8_t **out, size_t *out_len)
{
	const char *text = status_text(status);
	char head[512];
	uint8_t *buf;
	int n;

	if (!text)
		return kiln_err(EINVAL, "attestation API: no status %d", status);
	if (status != 200) {
		reason = reason && *reason ? reason : text;
		body = (const uint8_t *)reason;
		body_len = strlen(reason);
		body_len = body_len > REASON_MAX ? REASON_MAX : body_len;
	}
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
		     status, text, status == 200 ? "application/cbor" : "text/plain; charset=utf-8",
		     body_len + (status != 200), status == 405 ? "Allow: GET\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return kiln_err(EOVERFLOW, "attestation API: response head too long");
	buf = malloc((size_t)n + body_len + 1);
	if (!buf)
		return kiln_err(ENOMEM, "out of memory");
	memcpy(buf, head, (size_t)n);
	if (body_len)
		memcpy(buf + n, body, body_len);
	*out_len = (size_t)n + body_len;
	if (status != 200)
		buf[(*out_len)++] = '\n';
	*out = buf;
	return 0;
}

int kiln_attest_api_nsm_doc(void *ctx, const struct kiln_attest_api_req *req, uint8_t **doc,
			    size_t *doc_len)
{
	struct kiln_nsm_blob nonce = { req->nonce.data, req->nonce.len };
	struct kiln_nsm_blob user_data = { req->user_data.data, req->user_data.len };
	struct kiln_nsm_blob public_key = { req->public_key.data, req->public_key.len };

	return kiln_nsm_attestation(ctx, req->user_data.present ? &user_data : NULL,
				    req->nonce.present ? &nonce : NULL,
				    req->public_key.present ? &public_key : NULL, doc, doc_len);
}

/* ---- connections ---- */

static bool peer_is_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return false;
	if (ss.ss_family == AF_INET)
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
		       (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127);
	return false;
}

/* Decide the answer for a head: status, reason and (for 200) the document. */
static void answer(const uint8_t *head, size_t len, kiln_attest_api_doc_fn fn, void *ctx,
		   int *status, char *reason, size_t reason_size, uint8_t **doc, size_t *doc_len)
{
	struct kiln_attest_api_req *req = calloc(1, sizeof(*req));
	int rc;

	*doc = NULL;
	if (!req) {
		*status = 500;
		snprintf(reason, reason_size, "out of memory");
		return;
	}
	if (len == 0) {
		*status = 431;
		snprintf(reason, reason_size, "request head exceeds %d bytes",
			 KILN_ATTEST_API_HEAD_MAX);
	} else if (kiln_attest_api_parse(head, len, req) < 0) {
		*status = req->status;
		snprintf(reason, reason_size, "%s", kiln_errmsg());
	} else {
		rc = fn(ctx, req, doc, doc_len);
		*status = rc == 0 ? 200 : (rc == -EINVAL || rc == -EMSGSIZE || rc == -ERANGE) ? 400 : 500;
		snprintf(reason, reason_size, "%s%s", rc == 0 || *status == 400 ? "" :
			 "attestation failed: ", rc == 0 ? "" : kiln_errmsg());
	}
	free(req);
}

/* One client: its head as it arrives, then its response as it leaves. */
struct conn {
	int fd;
	short want;		/* poll events the connection waits for */
	bool done;		/* finished or dropped: closed at the end of the round */
	int status;		/* the response's HTTP status, once decided */
	int64_t deadline;	/* from accept to the last byte sent */
	size_t have;		/* head bytes read */
	uint8_t *resp;		/* the whole response, once decided */
	size_t resp_len, sent;
	uint8_t head[KILN_ATTEST_API_HEAD_MAX];
};

static struct conn *conn_new(int fd, int64_t deadline)
{
	struct conn *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	c->want = POLLIN;
	c->done = false;
	c->status = 0;
	c->deadline = deadline;
	c->have = 0;
	c->resp = NULL;
	c->resp_len = c->sent = 0;
	return c;
}

static void conn_free(struct conn *c)
{
	if (c)
		free(c->resp);
	free(c);
}

/* Send what the socket takes; >0: the events to wait for, 0: all sent. */
static int conn_write(struct conn *c)
{
	while (c->sent < c->resp_len) {
		ssize_t n = send(c->fd, c->resp + c->sent, c->resp_len - c->sent,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return POLLOUT;
		if (n <= 0) {
			int err = n < 0 ? errno : EIO;

			return kiln_err(err, "attestation API: send: %s", strerror(err));
		}
		c->sent += (size_t)n;
	}
	shutdown(c->fd, SHUT_WR);
	return 0;
}

/* The head is complete (len bytes; 0: too large): decide the answer and start sending it. */
static int conn_respond(struct conn *c, size_t len, kiln_attest_api_doc_fn fn, void *ctx)
{
	_cleanup_free_ uint8_t *doc = NULL;
	size_t doc_len = 0;
	char reason[256];
	int rc;

	answer(c->head, len, fn, ctx, &c->status, reason, sizeof(reason), &doc, &doc_len);
	rc = kiln_attest_api_response(c->status, reason, doc, doc_len, &c->resp, &c->resp_len);
	return rc < 0 ? rc : conn_write(c);
}

/* Offset just past the first CRLFCRLF in buf[0..have) at or after from; 0 if none. */
static size_t head_end(const uint8_t *buf, size_t from, size_t have)
{
	for (size_t i = from; i + 4 <= have; i++)
		if (!memcmp(buf + i, "\r\n\r\n", 4))
			return i + 4;
	return 0;
}

/* Read what has arrived; a whole head (or 8 KiB without one) gets its answer. */
static int conn_read(struct conn *c, kiln_attest_api_doc_fn fn, void *ctx)
{
	for (;;) {
		size_t from = c->have > 3 ? c->have - 3 : 0, len;
		ssize_t n = recv(c->fd, c->head + c->have, sizeof(c->head) - c->have, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return POLLIN;
		if (n < 0)
			return kiln_err(errno, "attestation API: recv: %s", strerror(errno));
		if (n == 0)
			return kiln_err(ECONNRESET, "attestation API: EOF inside the request head");
		c->have += (size_t)n;
		len = head_end(c->head, from, c->have);
		if (len || c->have == sizeof(c->head))
			return conn_respond(c, len, fn, ctx);
	}
}

/* Make progress without blocking: >0 the poll events to wait for, 0 answered, <0 dropped. */
static int conn_step(struct conn *c, kiln_attest_api_doc_fn fn, void *ctx)
{
	return c->resp ? conn_write(c) : conn_read(c, fn, ctx);
}

int kiln_attest_api_handle(int fd, kiln_attest_api_doc_fn fn, void *ctx, int timeout_ms,
			   int *status)
{
	int64_t deadline = kiln_now_ms() + (timeout_ms < 0 ? KILN_ATTEST_API_TIMEOUT_MS : timeout_ms);
	struct conn *c;
	int rc;

	if (!peer_is_loopback(fd))
		return kiln_err(EPERM, "attestation API: refused a connection not from loopback");
	c = conn_new(fd, deadline);
	if (!c)
		return kiln_err(ENOMEM, "out of memory");
	while ((rc = conn_step(c, fn, ctx)) > 0) {
		rc = kiln_wait_fd(fd, (short)rc, deadline, "attestation API client");
		if (rc < 0)
			break;
	}
	if (rc == 0 && status)
		*status = c->status;
	conn_free(c);
	return rc;
}

/* Numeric "IPv4:PORT" or "[IPv6]:PORT" (no resolver: kiln-init is static). */
static int parse_listen(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	const char *colon = strrchr(addr, ':');
	char host[64], *end;
	unsigned long port;
	size_t hlen;

	if (!colon || colon == addr || !colon[1])
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port > 65535 || colon[1] < '0' || colon[1] > '9')
		return -EINVAL;
	hlen = (size_t)(colon - addr);
	if (hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {
		host[hlen - 1] = '\0';
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return inet_pton(AF_INET6, host + 1, &in6->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	*len = sizeof(*in);
	return inet_pton(AF_INET, host, &in->sin_addr) == 1 ? 0 : -EINVAL;
}

int kiln_attest_api_listen(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	_cleanup_close_ int fd = -1;
	int one = 1;

	if (parse_listen(addr, &ss, &len) < 0)
		return kiln_err(EINVAL, "attestation API: listen address \"%s\" is not IPv4:PORT or [IPv6]:PORT",
				addr);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 64) != 0)
		return kiln_err(errno, "attestation API: listen on %s: %s", addr, strerror(errno));
	return KILN_STEAL_FD(fd);
}

/* ---- the server loop ---- */

#define ACCEPT_PAUSE_MS 100 /* after EMFILE and the like: the next accept waits this long */

struct server {
	const struct kiln_attest_api_opts *o;
	kiln_attest_api_doc_fn fn;
	void *ctx;
	int listen_fd;
	int64_t accept_after;	/* accept nothing before this time */
	unsigned n;		/* connections in c[] */
	struct conn **c;	/* o->max_conns slots */
};

/* Only this loop writes the counters: plain stores are enough. */
static void note_active(struct server *s)
{
	struct kiln_attest_api_stats *st = s->o->stats;

	if (!st)
		return;
	atomic_store(&st->active, s->n);
	if (s->n > atomic_load(&st->peak))
		atomic_store(&st->peak, s->n);
}

static void drop(struct server *s, struct conn *c, const char *why)
{
	fprintf(stderr, "kiln-init: %s\n", why);
	if (s->o->stats)
		atomic_fetch_add(&s->o->stats->dropped, 1);
	c->done = true;
}

/* Take one queued connection; false when there is none to take now. */
static bool accept_one(struct server *s, int64_t now)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct conn *c;

	if (fd < 0) {
		if (errno == EINTR || errno == ECONNABORTED)
			return true;
		if (errno != EAGAIN && errno != EWOULDBLOCK) /* EMFILE, ENOBUFS...: later */
			s->accept_after = now + ACCEPT_PAUSE_MS;
		return false;
	}
	if (s->o->stats)
		atomic_fetch_add(&s->o->stats->accepted, 1);
	if (!peer_is_loopback(fd)) {
		fprintf(stderr, "kiln-init: attestation API: refused a connection not from loopback\n");
		close(fd);
		return true;
	}
	c = conn_new(fd, now + s->o->timeout_ms);
	if (!c) {
		close(fd);
		s->accept_after = now + ACCEPT_PAUSE_MS;
		return false;
	}
	s->c[s->n++] = c;
	note_active(s);
	return true;
}

/* Run one connection as far as it goes now. */
static void step(struct server *s, struct conn *c)
{
	int rc = conn_step(c, s->fn, s->ctx);

	if (rc > 0)
		c->want = (short)rc;
	else if (rc == 0)
		c->done = true;
	else
		drop(s, c, kiln_errmsg());
}

/* Close what is finished, dropped or past its deadline, keeping c[] dense. */
static void sweep(struct server *s, int64_t now)
{
	unsigned k = 0;
	char msg[128];

	for (unsigned i = 0; i < s->n; i++) {
		struct conn *c = s->c[i];

		if (!c->done && now >= c->deadline) {
			snprintf(msg, sizeof(msg), "attestation API: client %s within %d ms: dropped",
				 c->resp ? "took no whole response" : "sent no whole request",
				 s->o->timeout_ms);
			drop(s, c, msg);
		}
		if (!c->done) {
			s->c[k++] = c;
			continue;
		}
		close(c->fd);
		conn_free(c);
	}
	s->n = k;
	note_active(s);
}

static int poll_timeout(const struct server *s, int64_t now)
{
	int64_t t = -1;

	for (unsigned i = 0; i < s->n; i++)
		if (t < 0 || s->c[i]->deadline < t)
			t = s->c[i]->deadline;
	if (s->accept_after > now && (t < 0 || s->accept_after < t))
		t = s->accept_after;
	if (t < 0)
		return -1;
	return t <= now ? 0 : (int)(t - now);
}

/* One round: wait for any client, the listener (below the cap) or the stop fd; 1: stop. */
static int round_once(struct server *s, struct pollfd *p)
{
	int64_t now = kiln_now_ms();
	bool can_accept = s->n < s->o->max_conns && now >= s->accept_after;
	unsigned n = s->n;

	p[0] = (struct pollfd){ .fd = can_accept ? s->listen_fd : -1, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = s->o->stop_fd, .events = POLLIN };
	for (unsigned i = 0; i < n; i++)
		p[2 + i] = (struct pollfd){ .fd = s->c[i]->fd, .events = s->c[i]->want };
	if (poll(p, 2 + n, poll_timeout(s, now)) < 0 && errno != EINTR)
		return kiln_err(errno, "attestation API: poll: %s", strerror(errno));
	if (p[1].revents)
		return 1;
	for (unsigned i = 0; i < n; i++)
		if (p[2 + i].revents)
			step(s, s->c[i]);
	now = kiln_now_ms();
	sweep(s, now);
	while (p[0].revents && s->n < s->o->max_conns && accept_one(s, now))
		;
	return 0;
}

int kiln_attest_api_serve(int listen_fd, kiln_attest_api_doc_fn fn, void *ctx,
			  const struct kiln_attest_api_opts *o)
{
	struct server s = { .o = o, .fn = fn, .ctx = ctx, .listen_fd = listen_fd };
	_cleanup_free_ struct pollfd *p = NULL;
	int rc = 0;

	if (o->max_conns == 0 || o->timeout_ms <= 0)
		return kiln_err(EINVAL, "attestation API: need a connection cap and a timeout");
	s.c = calloc(o->max_conns, sizeof(*s.c));
	p = calloc(o->max_conns + 2, sizeof(*p));
	if (!s.c || !p) {
		free(s.c);
		return kiln_err(ENOMEM, "out of memory");
	}
	if (fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK) < 0)
		rc = kiln_err(errno, "attestation API: listener: %s", strerror(errno));
	while (rc == 0)
		rc = round_once(&s, p);
	for (unsigned i = 0; i < s.n; i++) {
		close(s.c[i]->fd);
		conn_free(s.c[i]);
	}
	free(s.c);
	return rc < 0 ? rc : 0;
}
