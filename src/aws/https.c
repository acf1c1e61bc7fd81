/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/1.1 over TCP or TLS with deadlines: connect, verify, send, parse the answer. */
#include "aws/https.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/secure.h"
#include "util/hex.h"

struct aws_http_client {
	struct aws_url url;
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	bool reused; /* the connection already carried a response */
	uint8_t *buf;
	size_t len, cap;
};

int64_t aws_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- URLs ---- */

int aws_url_parse(const char *url, struct aws_url *u)
{
	memset(u, 0, sizeof(*u));
	const char *p;
	if (strncmp(url, "https://", 8) == 0) {
		u->tls = true;
		u->port = 443;
		p = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		u->port = 80;
		p = url + 7;
	} else {
		return kiln_err(EINVAL, "URL '%.80s': not http:// or https://", url);
	}
	const char *hend;
	if (*p == '[') {
		hend = strchr(p, ']');
		if (!hend)
			return kiln_err(EINVAL, "URL '%.80s': unterminated [IPv6]", url);
		snprintf(u->host, sizeof(u->host), "%.*s", (int)(hend - p - 1), p + 1);
		hend++;
	} else {
		hend = p + strcspn(p, ":/?#");
		if ((size_t)(hend - p) >= sizeof(u->host))
			return kiln_err(EINVAL, "URL '%.80s': host too long", url);
		snprintf(u->host, sizeof(u->host), "%.*s", (int)(hend - p), p);
	}
	if (!u->host[0])
		return kiln_err(EINVAL, "URL '%.80s': no host", url);
	if (*hend == ':') {
		char *end;
		long port = strtol(hend + 1, &end, 10);
		if (end == hend + 1 || port < 1 || port > 65535 || (*end && *end != '/'))
			return kiln_err(EINVAL, "URL '%.80s': bad port", url);
		u->port = (uint16_t)port;
		hend = end;
	}
	if (*hend && *hend != '/')
		return kiln_err(EINVAL, "URL '%.80s': unexpected '%c' after the host", url, *hend);
	snprintf(u->path, sizeof(u->path), "%s", *hend ? hend : "/");
	unsigned char tmp[16];
	u->host_is_ip = inet_pton(AF_INET, u->host, tmp) == 1 || inet_pton(AF_INET6, u->host, tmp) == 1;
	for (const char *h = u->host; *h; h++)
		if (*h <= ' ' || *h == '@' || *h == '\\' || (unsigned char)*h >= 0x7f)
			return kiln_err(EINVAL, "URL '%.80s': bad character in the host", url);
	return 0;
}

/* ---- response parsing (the bytes come from the network: bounded, strict) ---- */

void aws_http_resp_free(struct aws_http_resp *r)
{
	if (r->body)
		kiln_free_secret(r->body, r->body_len + 1);
	memset(r, 0, sizeof(*r));
}

static const uint8_t *find_crlf(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '\r' && p[i + 1] == '\n')
			return p + i;
	return NULL;
}

/* "Name: value" with name matched case-insensitively; value trimmed into out. */
static bool header_is(const uint8_t *line, size_t n, const char *name, char *out, size_t size)
{
	size_t nl = strlen(name);
	if (n <= nl || line[nl] != ':' || strncasecmp((const char *)line, name, nl) != 0)
		return false;
	const uint8_t *v = line + nl + 1, *e = line + n;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	size_t l = (size_t)(e - v) < size - 1 ? (size_t)(e - v) : size - 1;
	memcpy(out, v, l);
	out[l] = '\0';
	return true;
}

struct head {
	int status;
	bool close, chunked, has_len;
	size_t content_len;
	size_t size; /* bytes including the empty line */
};

static int parse_status(const uint8_t *p, size_t n, struct head *h)
{
	if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
		return kiln_err(EBADMSG, "HTTP: malformed status line");
	for (int i = 9; i < 12; i++)
		if (p[i] < '0' || p[i] > '9')
			return kiln_err(EBADMSG, "HTTP: malformed status code");
	if (n > 12 && p[12] != ' ')
		return kiln_err(EBADMSG, "HTTP: malformed status line");
	h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (h->status < 200)
		return kiln_err(EBADMSG, "HTTP: unexpected status %d", h->status);
	h->close = p[7] == '0';
	return 0;
}

static int parse_head(const uint8_t *buf, size_t len, struct head *h)
{
	char v[64];
	memset(h, 0, sizeof(*h));
	size_t lim = len < AWS_HTTP_HEAD_MAX ? len : AWS_HTTP_HEAD_MAX;
	const uint8_t *eol = find_crlf(buf, lim);
	if (!eol)
		return len >= AWS_HTTP_HEAD_MAX ? kiln_err(EBADMSG, "HTTP: header too large")
						 : -EAGAIN;
	int rc = parse_status(buf, (size_t)(eol - buf), h);
	if (rc < 0)
		return rc;
	for (const uint8_t *line = eol + 2;;) {
		const uint8_t *e = find_crlf(line, (size_t)(buf + lim - line));
		if (!e)
			return len >= AWS_HTTP_HEAD_MAX ? kiln_err(EBADMSG, "HTTP: header too large")
							 : -EAGAIN;
		size_t n = (size_t)(e - line);
		if (n == 0) {
			h->size = (size_t)(e + 2 - buf);
			return 0;
		}
		if (header_is(line, n, "Content-Length", v, sizeof(v))) {
			char *end;
			unsigned long long cl = strtoull(v, &end, 10);
			if (!v[0] || *end || v[0] == '-' || cl > AWS_HTTP_BODY_MAX ||
			    (h->has_len && cl != h->content_len))
				return kiln_err(EBADMSG, "HTTP: bad or too large Content-Length");
			h->content_len = (size_t)cl;
			h->has_len = true;
		} else if (header_is(line, n, "Transfer-Encoding", v, sizeof(v))) {
			if (strcasecmp(v, "chunked") != 0)
				return kiln_err(EBADMSG, "HTTP: unsupported Transfer-Encoding");
			h->chunked = true;
		} else if (header_is(line, n, "Connection", v, sizeof(v))) {
			if (strcasecmp(v, "close") == 0)
				h->close = true;
			else if (strcasecmp(v, "keep-alive") == 0)
				h->close = false;
		}
		line = e + 2;
	}
}

static int set_body(struct aws_http_resp *r, const uint8_t *p, size_t n)
{
	r->body = malloc(n + 1);
	if (!r->body)
		return kiln_err(ENOMEM, "out of memory");
	if (n)
		memcpy(r->body, p, n);
	r->body[n] = '\0';
	r->body_len = n;
	return 0;
}

/* Decode a chunked body starting at buf[*pos]; the chunks are copied out once complete. */
static int chunked(const uint8_t *buf, size_t len, size_t pos, struct aws_http_resp *r,
		   size_t *used)
{
	size_t total = 0, scan = pos;
	/* First pass: find the end and the size; second: copy. */
	for (int pass = 0; pass < 2; pass++) {
		size_t at = pos, out = 0;
		for (;;) {
			const uint8_t *e = find_crlf(buf + at, len - at);
			if (!e)
				return len - at > 64 ? kiln_err(EBADMSG, "HTTP: bad chunk size") : -EAGAIN;
			size_t sz = 0, digits = 0;
			const uint8_t *q = buf + at;
			for (; q < e && *q != ';'; q++, digits++) {
				int d = kiln_hex_digit(*q);
				if (d < 0 || digits >= 8)
					return kiln_err(EBADMSG, "HTTP: bad chunk size");
				sz = sz * 16 + (size_t)d;
			}
			if (digits == 0)
				return kiln_err(EBADMSG, "HTTP: bad chunk size");
			at = (size_t)(e + 2 - buf);
			if (sz == 0) {
				/* Trailers (ignored) up to the empty line. */
				for (;;) {
					const uint8_t *t = find_crlf(buf + at, len - at);
					if (!t)
						return len - at > AWS_HTTP_HEAD_MAX
							       ? kiln_err(EBADMSG, "HTTP: trailers too large")
							       : -EAGAIN;
					size_t tl = (size_t)(t - (buf + at));
					at += tl + 2;
					if (tl == 0)
						break;
				}
				break;
			}
			if (sz > AWS_HTTP_BODY_MAX - out)
				return kiln_err(EBADMSG, "HTTP: chunked body too large");
			if (len - at < sz + 2)
				return -EAGAIN;
			if (buf[at + sz] != '\r' || buf[at + sz + 1] != '\n')
				return kiln_err(EBADMSG, "HTTP: chunk not followed by CRLF");
			if (pass == 1)
				memcpy(r->body + out, buf + at, sz);
			out += sz;
			at += sz + 2;
		}
		if (pass == 0) {
			total = out;
			scan = at;
			r->body = malloc(total + 1);
			if (!r->body)
				return kiln_err(ENOMEM, "out of memory");
		}
	}
	r->body[total] = '\0';
	r->body_len = total;
	*used = scan;
	return 0;
}

int aws_http_parse_response(const uint8_t *buf, size_t len, bool eof, struct aws_http_resp *r,
			    size_t *used)
{
	struct head h;
	memset(r, 0, sizeof(*r));
	int rc = parse_head(buf, len, &h);
	if (rc == -EAGAIN && eof)
		return kiln_err(ECONNRESET, "HTTP: connection closed before a complete answer");
	if (rc < 0)
		return rc;
	r->status = h.status;
	r->close = h.close;
	if (h.chunked) {
		rc = chunked(buf, len, h.size, r, used);
	} else if (h.has_len) {
		if (len - h.size < h.content_len)
			rc = -EAGAIN;
		else if ((rc = set_body(r, buf + h.size, h.content_len)) == 0)
			*used = h.size + h.content_len;
	} else if (!eof) {
		rc = len - h.size > AWS_HTTP_BODY_MAX ? kiln_err(EBADMSG, "HTTP: body too large")
						       : -EAGAIN;
	} else if ((rc = set_body(r, buf + h.size, len - h.size)) == 0) {
		r->close = true;
		*used = len;
	}
	if (rc == -EAGAIN && eof)
		rc = kiln_err(ECONNRESET, "HTTP: connection closed before a complete answer");
	if (rc < 0) {
		free(r->body);
		r->body = NULL;
		r->body_len = 0;
	}
	return rc;
}

/* ---- TLS ---- */

static int tls_err(const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return kiln_err(EPROTO, "%s: %s", what, e ? buf : "failed");
}

/* Certificates from PEM text (kiln.yaml's inline bundle, measured with the config). */
static int load_pem_text(SSL_CTX *ctx, const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	X509 *x;
	int n = 0;
	while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		n += X509_STORE_add_cert(st, x) == 1;
		X509_free(x);
	}
	ERR_clear_error();
	BIO_free(b);
	return n;
}

int aws_tls_ctx(const char *ca_file, SSL_CTX **out)
{
	static const char *const system[] = { "/etc/ssl/certs/ca-certificates.crt",
					      "/etc/pki/tls/certs/ca-bundle.crt",
					      "/etc/ssl/ca-bundle.pem", "/etc/ssl/cert.pem", NULL };
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return tls_err("TLS context");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	int ok = 0;
	if (ca_file && strncmp(ca_file, "-----BEGIN", 10) == 0) {
		if (load_pem_text(ctx, ca_file) == 0) {
			SSL_CTX_free(ctx);
			return kiln_err(EINVAL, "inline CA bundle: no PEM certificate in it");
		}
		ok = 1;
	} else if (ca_file) {
		ok = SSL_CTX_load_verify_locations(ctx, ca_file, NULL) == 1;
		if (!ok) {
			SSL_CTX_free(ctx);
			ERR_clear_error();
			return kiln_err(ENOENT, "CA bundle %s: not a readable PEM certificate file",
					ca_file);
		}
	}
	for (int i = 0; !ok && system[i]; i++)
		ok = access(system[i], R_OK) == 0 &&
		     SSL_CTX_load_verify_locations(ctx, system[i], NULL) == 1;
	ERR_clear_error();
	if (!ok) {
		SSL_CTX_free(ctx);
		return kiln_err(ENOENT, "no CA bundle at the system's usual paths (name one: "
					"kms.ca_bundle or --ca-bundle)");
	}
	*out = ctx;
	return 0;
}

/* ---- connections ---- */

int aws_http_client_new(const struct aws_url *u, SSL_CTX *ctx, struct aws_http_client **out)
{
	if (u->tls && !ctx)
		return kiln_err(EINVAL, "https:// needs a TLS context");
	struct aws_http_client *c = calloc(1, sizeof(*c));
	if (!c)
		return kiln_err(ENOMEM, "out of memory");
	c->url = *u;
	c->ctx = ctx;
	c->fd = -1;
	*out = c;
	return 0;
}

static void disconnect(struct aws_http_client *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->reused = false;
	if (c->buf)
		kiln_wipe(c->buf, c->cap);
	c->len = 0;
}

void aws_http_client_free(struct aws_http_client *c)
{
	if (!c)
		return;
	disconnect(c);
	free(c->buf);
	free(c);
}

static int wait_fd(int fd, short ev, int64_t deadline, const char *what)
{
	for (;;) {
		int64_t left = deadline - aws_now_ms();
		if (left <= 0)
			return kiln_err(ETIMEDOUT, "%s: timed out", what);
		struct pollfd p = { .fd = fd, .events = ev };
		int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return kiln_err(errno, "%s: poll: %s", what, strerror(errno));
	}
}

static int connect_one(const struct addrinfo *ai, int64_t deadline, const char *what)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kiln_err(errno, "%s: socket: %s", what, strerror(errno));
	int rc = 0;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS)
			rc = kiln_err(errno, "%s: %s", what, strerror(errno));
		if (rc == 0)
			rc = wait_fd(fd, POLLOUT, deadline, what);
		int err = 0;
		socklen_t l = sizeof(err);
		if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) == 0 && err)
			rc = kiln_err(err, "%s: %s", what, strerror(err));
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	/* Requests are written whole; Nagle would only hold back a last small segment. */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int tcp_connect(struct aws_http_client *c, int64_t deadline)
{
	char what[300], port[8];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *res;
	snprintf(what, sizeof(what), "connecting to %s:%u", c->url.host, c->url.port);
	snprintf(port, sizeof(port), "%u", c->url.port);
	int g = getaddrinfo(c->url.host, port, &hints, &res);
	if (g)
		return kiln_err(EHOSTUNREACH, "resolving %s: %s",
				c->url.host, gai_strerror(g));
	int fd = -EHOSTUNREACH;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = connect_one(ai, deadline, what);
	freeaddrinfo(res);
	if (fd < 0)
		return fd;
	c->fd = fd;
	return 0;
}

/* Drive one SSL call that may want to read or write until it completes. */
static int ssl_wait(struct aws_http_client *c, int ret, int64_t deadline, const char *what)
{
	int e = SSL_get_error(c->ssl, ret);
	if (e == SSL_ERROR_WANT_READ)
		return wait_fd(c->fd, POLLIN, deadline, what);
	if (e == SSL_ERROR_WANT_WRITE)
		return wait_fd(c->fd, POLLOUT, deadline, what);
	if (e == SSL_ERROR_ZERO_RETURN)
		return 1;
	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		return kiln_err(ECONNRESET, "%s: connection reset", what);
	/* A peer gone without close_notify: a connection failure (retried), not a TLS one. */
	if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ERR_clear_error();
		return kiln_err(ECONNRESET, "%s: connection closed", what);
	}
	return tls_err(what);
}

static int tls_handshake(struct aws_http_client *c, int64_t deadline)
{
	char what[300];
	snprintf(what, sizeof(what), "TLS with %s:%u", c->url.host, c->url.port);
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
		return tls_err(what);
	/* Name (or IP) checked against the certificate; SNI for names only. */
	if (c->url.host_is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->url.host) != 1)
			return tls_err(what);
	} else if (SSL_set1_host(c->ssl, c->url.host) != 1 ||
		   SSL_set_tlsext_host_name(c->ssl, c->url.host) != 1) {
		return tls_err(what);
	}
	for (;;) {
		int r = SSL_connect(c->ssl);
		if (r == 1)
			return 0;
		long v = SSL_get_verify_result(c->ssl);
		if (v != X509_V_OK) {
			ERR_clear_error();
			return kiln_err(EPROTO, "%s: certificate not trusted: %s", what,
					X509_verify_cert_error_string(v));
		}
		int rc = ssl_wait(c, r, deadline, what);
		if (rc)
			return rc > 0 ? kiln_err(ECONNRESET, "%s: closed during handshake", what) : rc;
	}
}

static int conn_open(struct aws_http_client *c, int64_t deadline)
{
	int rc = tcp_connect(c, deadline);
	if (rc == 0 && c->url.tls)
		rc = tls_handshake(c, deadline);
	if (rc < 0)
		disconnect(c);
	return rc;
}

static int conn_write(struct aws_http_client *c, const void *p, size_t n, int64_t deadline)
{
	const char *what = "sending the request";
	while (n) {
		ssize_t w;
		if (c->ssl) {
			ERR_clear_error();
			int r = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
			if (r <= 0) {
				int rc = ssl_wait(c, r, deadline, what);
				if (rc)
					return rc > 0 ? kiln_err(ECONNRESET, "%s: closed", what) : rc;
				continue;
			}
			w = r;
		} else {
			w = send(c->fd, p, n, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno != EAGAIN && errno != EINTR)
					return kiln_err(errno, "%s: %s", what, strerror(errno));
				int rc = wait_fd(c->fd, POLLOUT, deadline, what);
				if (rc < 0)
					return rc;
				continue;
			}
		}
		p = (const uint8_t *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read what is there into c->buf: 1 bytes added, 0 end of file, < 0 error. */
static int conn_read(struct aws_http_client *c, int64_t deadline)
{
	const char *what = "reading the answer";
	if (c->cap - c->len < 4096) {
		size_t cap = c->cap ? c->cap * 2 : 16384;
		if (cap > AWS_HTTP_HEAD_MAX + AWS_HTTP_BODY_MAX + 65536)
			return kiln_err(EMSGSIZE, "HTTP: answer too large");
		uint8_t *nb = malloc(cap);
		if (!nb)
			return kiln_err(ENOMEM, "out of memory");
		if (c->buf) {
			memcpy(nb, c->buf, c->len);
			kiln_free_secret(c->buf, c->cap);
		}
		c->buf = nb;
		c->cap = cap;
	}
	for (;;) {
		if (c->ssl) {
			ERR_clear_error();
			int r = SSL_read(c->ssl, c->buf + c->len, (int)(c->cap - c->len));
			if (r > 0) {
				c->len += (size_t)r;
				return 1;
			}
			int rc = ssl_wait(c, r, deadline, what);
			if (rc)
				return rc > 0 ? 0 : rc;
		} else {
			ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
			if (r > 0) {
				c->len += (size_t)r;
				return 1;
			}
			if (r == 0)
				return 0;
			if (errno != EAGAIN && errno != EINTR)
				return kiln_err(errno, "%s: %s", what, strerror(errno));
			int rc = wait_fd(c->fd, POLLIN, deadline, what);
			if (rc < 0)
				return rc;
		}
	}
}

static int exchange(struct aws_http_client *c, const char *head, const void *body,
		    size_t body_len, int64_t deadline, struct aws_http_resp *r, bool *got_any)
{
	size_t used = 0, hl = strlen(head);
	*got_any = false;
	/*
	 * Head and body in one write, one TLS record: a body sent separately
	 * waited for the server's delayed ACK of the head (Nagle), ~40 ms for
	 * every request after a connection's first (bench/secrets).
	 */
	uint8_t *msg = malloc(hl + body_len);
	if (!msg)
		return kiln_err(ENOMEM, "out of memory");
	memcpy(msg, head, hl);
	if (body_len)
		memcpy(msg + hl, body, body_len);
	int rc = conn_write(c, msg, hl + body_len, deadline);
	kiln_free_secret(msg, hl + body_len); /* the body may carry a plaintext */
	while (rc == 0) {
		int n = conn_read(c, deadline);
		if (n < 0)
			return n;
		*got_any |= c->len > 0;
		rc = aws_http_parse_response(c->buf, c->len, n == 0, r, &used);
		if (rc == -EAGAIN)
			rc = 0;
		else if (rc == 0)
			break;
	}
	if (rc < 0)
		return rc;
	/* Keep any bytes past the answer out: nothing is pipelined, so they are junk. */
	kiln_wipe(c->buf, c->len);
	c->len = 0;
	c->reused = true;
	if (r->close || used == 0)
		disconnect(c);
	return 0;
}

int aws_http_client_connect(struct aws_http_client *c, int64_t deadline)
{
	return c->fd >= 0 ? 0 : conn_open(c, deadline);
}

int aws_http_roundtrip(struct aws_http_client *c, const char *head, const void *body,
		       size_t body_len, int64_t deadline, struct aws_http_resp *r)
{
	memset(r, 0, sizeof(*r));
	for (int attempt = 0; attempt < 2; attempt++) {
		bool fresh = c->fd < 0, got_any = false;
		int rc = fresh ? conn_open(c, deadline) : 0;
		if (rc < 0)
			return rc;
		rc = exchange(c, head, body, body_len, deadline, r, &got_any);
		if (rc == 0)
			return 0;
		disconnect(c);
		/* A kept-alive connection the server closed meanwhile: once more on a new one. */
		if (fresh || got_any || rc == -ETIMEDOUT)
			return rc;
	}
	return kiln_err(ECONNRESET, "connection closed");
}
