/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-webhook's HTTPS server: TLS from mounted files (reloaded), one thread per connection. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/io.h"
#include "webhook/server.h"

/*
 * How this works: the main thread accepts; each connection gets a detached
 * thread (at most max_conns at once) that does the TLS handshake and serves
 * keep-alive HTTP/1.1 requests, each bounded in size (16 KiB head,
 * max_body body) and time (10 s per request, socket timeouts for reads and
 * writes), so a slow or hostile client holds one thread, briefly. A reload
 * thread stats the certificate and key every reload_ms; when either
 * changed (a Secret update swaps the mounted files) it builds a new SSL_CTX
 * and swaps it in; connections keep the context they started with. A
 * certificate that fails to load is logged and the old one kept.
 */

#define REQUEST_MS 10000

struct file_id {
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	off_t size;
};

struct kw_server {
	const struct kw_server_opts *o;
	int fd;
	int port;
	pthread_mutex_t lock;
	SSL_CTX *ctx; /* under lock */
	struct file_id cert_id, key_id;
	atomic_uint conns;
	volatile sig_atomic_t *stop;
	atomic_bool draining; /* SIGTERM seen: /readyz fails, requests are still served */
	atomic_bool done;     /* the drain is over: connections close */
};

/* ---- TLS context and its reload ---- */

static int load_ctx(const struct kw_server_opts *o, SSL_CTX **out)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	unsigned long e;

	if (!ctx)
		return kiln_err(ENOMEM, "SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	/* a review's record in one read(), not its 5-byte header and then the rest */
	SSL_CTX_set_read_ahead(ctx, 1);
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		e = ERR_get_error();
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return kiln_err(EINVAL, "TLS certificate %s / key %s: %s", o->cert, o->key,
				ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unusable");
	}
	*out = ctx;
	return 0;
}

static void file_id(const char *path, struct file_id *id)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (stat(path, &st) == 0)
		*id = (struct file_id){ st.st_dev, st.st_ino, st.st_mtim, st.st_size };
}

static bool same_id(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void maybe_reload(struct kw_server *s)
{
	struct file_id c, k;
	SSL_CTX *ctx, *old;

	file_id(s->o->cert, &c);
	file_id(s->o->key, &k);
	if (same_id(&c, &s->cert_id) && same_id(&k, &s->key_id))
		return;
	s->cert_id = c;
	s->key_id = k;
	if (load_ctx(s->o, &ctx) < 0) {
		fprintf(stderr, "kiln-webhook: reload: %s (keeping the old certificate)\n",
			kiln_errmsg());
		return;
	}
	pthread_mutex_lock(&s->lock);
	old = s->ctx;
	s->ctx = ctx;
	pthread_mutex_unlock(&s->lock);
	SSL_CTX_free(old);
	fprintf(stderr, "kiln-webhook: reloaded the TLS certificate from %s\n", s->o->cert);
}

static void *reload_main(void *arg)
{
	struct kw_server *s = arg;
	struct timespec ts = { s->o->reload_ms / 1000, (s->o->reload_ms % 1000) * 1000000L };

	while (!atomic_load(&s->done)) {
		nanosleep(&ts, NULL);
		maybe_reload(s);
	}
	return NULL;
}

static SSL *new_ssl(struct kw_server *s)
{
	SSL *ssl;

	pthread_mutex_lock(&s->lock);
	ssl = SSL_new(s->ctx); /* holds its own reference to the context */
	pthread_mutex_unlock(&s->lock);
	return ssl;
}

/* ---- one connection ---- */

struct conn {
	struct kw_server *s;
	int fd;
	SSL *ssl;
	char head[KW_MAX_HEAD];
	size_t hlen;
};

static int send_all(struct conn *c, const char *p, size_t n)
{
	while (n) {
		int w = SSL_write(c->ssl, p, n > 1 << 30 ? 1 << 30 : (int)n);

		if (w <= 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/* Head and body in one TLS record: two writes would meet Nagle and delayed ACKs (40 ms). */
static int respond(struct conn *c, int status, const char *type, const char *body, bool close)
{
	size_t n = strlen(body), cap = n + 256;
	char *out = malloc(cap);
	int h, rc;

	if (!out)
		return -ENOMEM;
	h = snprintf(out, cap,
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n%s%s",
		     status, reason_phrase(status), type, n + (status == 200 ? 0 : 1),
		     close ? "Connection: close\r\n" : "", body, status == 200 ? "" : "\n");
	rc = h > 0 && (size_t)h < cap ? send_all(c, out, (size_t)h) : -EOVERFLOW;
	free(out);
	return rc;
}

/* An error status with the reason as text; the connection is closed after. */
static int fail(struct conn *c, int status, const char *why)
{
	fprintf(stderr, "kiln-webhook: %d: %s\n", status, why);
	respond(c, status, "text/plain", why, true);
	return -EPROTO;
}

static int read_some(struct conn *c, void *buf, size_t n, int64_t deadline)
{
	int r;

	if (kiln_now_ms() > deadline)
		return -ETIMEDOUT;
	r = SSL_read(c->ssl, buf, n > 1 << 30 ? 1 << 30 : (int)n);
	return r > 0 ? r : -EIO;
}

static int read_body(struct conn *c, const struct kw_http_req *r, char *body, int64_t deadline)
{
	size_t have = c->hlen - r->head_len, want = (size_t)r->content_length;
	size_t take = have < want ? have : want;

	memcpy(body, c->head + r->head_len, take);
	memmove(c->head, c->head + r->head_len + take, have - take); /* a pipelined next request */
	c->hlen = have - take;
	while (take < want) {
		int n = read_some(c, body + take, want - take, deadline);

		if (n < 0)
			return n;
		take += (size_t)n;
	}
	return 0;
}

static int mutate(struct conn *c, const struct kw_http_req *r, int64_t deadline)
{
	struct kw_reply rep;
	char *body;
	int st = kw_http_check_review(r, c->s->o->cfg->max_body), rc;

	if (st)
		return fail(c, st, kiln_errmsg());
	body = malloc(r->content_length + 1);
	if (!body)
		return fail(c, 500, "out of memory");
	rc = read_body(c, r, body, deadline);
	if (rc == 0)
		rc = kw_review(c->s->o->cfg, body, (size_t)r->content_length,
			       !strcmp(r->path, "/validate"), &rep);
	free(body);
	if (rc < 0)
		return rc == -EIO || rc == -ETIMEDOUT ? rc : fail(c, 500, kiln_errmsg());
	if (rep.status != 200) {
		rc = fail(c, rep.status, rep.body);
	} else {
		if (c->s->o->verbose || !strncmp(rep.log, "denied", 6))
			fprintf(stderr, "kiln-webhook: %s\n", rep.log);
		rc = respond(c, 200, "application/json", rep.body, r->close);
	}
	free(rep.body);
	return rc;
}

/* One request: 0 to serve the next on this connection, else close. */
static int one_request(struct conn *c)
{
	int64_t deadline = kiln_now_ms() + REQUEST_MS;
	struct kw_http_req r;
	int st, rc;

	size_t scanned = 0;

	/* each byte is searched once: a client trickling bytes costs no rescans */
	while (!memmem(c->head + (scanned > 3 ? scanned - 3 : 0),
		       c->hlen - (scanned > 3 ? scanned - 3 : 0), "\r\n\r\n", 4) &&
	       c->hlen < sizeof(c->head)) {
		int n = read_some(c, c->head + c->hlen, sizeof(c->head) - c->hlen, deadline);

		if (n < 0)
			return n;
		scanned = c->hlen;
		c->hlen += (size_t)n;
	}
	rc = kw_http_parse(c->head, c->hlen, &r, &st);
	if (rc == -EAGAIN) { /* cannot happen: a whole head or a full buffer */
		st = 400;
		rc = kiln_err(EPROTO, "incomplete request head");
	}
	if (rc < 0)
		return fail(c, st, kiln_errmsg());
	if (!strcmp(r.path, "/healthz") || !strcmp(r.path, "/readyz")) {
		memmove(c->head, c->head + r.head_len, c->hlen - r.head_len);
		c->hlen -= r.head_len;
		if (r.has_length && r.content_length)
			return fail(c, 400, "health checks carry no body");
		/* draining: the endpoints controller takes this replica out, meanwhile it serves */
		if (!strcmp(r.path, "/readyz") && atomic_load(&c->s->draining))
			return respond(c, 503, "text/plain", "draining", true) ?: -1;
		return respond(c, 200, "text/plain", "ok", r.close) ?: (r.close ? -1 : 0);
	}
	/* /validate: the workloads' configuration; the same answers (no patch for those) */
	if (strcmp(r.path, "/mutate") && strcmp(r.path, "/validate"))
		return fail(c, 404, "no such path (POST /mutate or /validate, GET /healthz)");
	if (strcmp(r.method, "POST"))
		return fail(c, 405, "/mutate and /validate take POST");
	rc = mutate(c, &r, deadline);
	return rc < 0 ? rc : r.close ? -1 : 0;
}

/*
 * Close after a response sent before the body was read (415, 413, ...):
 * unread bytes in the socket would make close() send a reset, which can
 * destroy the response on its way. Stop writing, then drain briefly.
 */
static void linger_close(int fd)
{
	struct timeval tv = { 0, 200 * 1000 };
	int64_t until = kiln_now_ms() + 1000;
	char buf[16384];
	size_t total = 0;

	shutdown(fd, SHUT_WR);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (total < (4u << 20) && kiln_now_ms() < until) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n <= 0)
			break;
		total += (size_t)n;
	}
	close(fd);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct timeval tv = { REQUEST_MS / 1000, 0 };
	int one = 1;

	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->ssl = new_ssl(c->s);
	if (c->ssl && SSL_set_fd(c->ssl, c->fd) == 1 && SSL_accept(c->ssl) == 1) {
		while (!atomic_load(&c->s->done) && one_request(c) == 0)
			;
		SSL_shutdown(c->ssl);
	}
	ERR_clear_error();
	SSL_free(c->ssl);
	linger_close(c->fd);
	atomic_fetch_sub(&c->s->conns, 1);
	free(c);
	return NULL;
}

static void spawn(struct kw_server *s, int fd)
{
	struct conn *c;
	pthread_attr_t a;
	pthread_t t;

	if (atomic_fetch_add(&s->conns, 1) >= s->o->max_conns || !(c = calloc(1, sizeof(*c)))) {
		atomic_fetch_sub(&s->conns, 1);
		close(fd);
		return;
	}
	c->s = s;
	c->fd = fd;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 256 * 1024);
	if (pthread_create(&t, &a, conn_main, c) != 0) {
		atomic_fetch_sub(&s->conns, 1);
		close(fd);
		free(c);
	}
	pthread_attr_destroy(&a);
}

/* ---- listening ---- */

static int listen_on(const char *spec, int *port_out)
{
	const char *colon = strrchr(spec, ':');
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	char host[64];
	int fd, one = 1, zero = 0;
	long port;
	char *end;
	socklen_t len = sizeof(a6);

	if (!colon)
		return kiln_err(EINVAL, "--listen %s: want [HOST]:PORT", spec);
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 0 || port > 65535)
		return kiln_err(EINVAL, "--listen %s: bad port", spec);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if (!host[0])
		a6.sin6_addr = in6addr_any;
	else if (inet_pton(AF_INET6, host, &a6.sin6_addr) != 1) {
		struct in_addr v4;

		if (inet_pton(AF_INET, host, &v4) != 1)
			return kiln_err(EINVAL, "--listen %s: \"%s\" is not an IP address", spec, host);
		a6.sin6_addr.s6_addr[10] = a6.sin6_addr.s6_addr[11] = 0xff; /* v4-mapped */
		memcpy(&a6.sin6_addr.s6_addr[12], &v4, 4);
	}
	a6.sin6_port = htons((uint16_t)port);
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kiln_err(errno, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&a6, sizeof(a6)) < 0 || listen(fd, 512) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a6, &len) < 0) {
		int e = errno;

		close(fd);
		return kiln_err(e, "--listen %s: %s", spec, strerror(e));
	}
	*port_out = ntohs(a6.sin6_port);
	return fd;
}

int kw_server_open(const struct kw_server_opts *o, struct kw_server **out)
{
	struct kw_server *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return kiln_err(ENOMEM, "out of memory");
	s->o = o;
	s->fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	file_id(o->cert, &s->cert_id);
	file_id(o->key, &s->key_id);
	rc = load_ctx(o, &s->ctx);
	if (rc == 0) {
		s->fd = listen_on(o->listen, &s->port);
		rc = s->fd < 0 ? s->fd : 0;
	}
	if (rc < 0) {
		kw_server_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int kw_server_port(const struct kw_server *s)
{
	return s->port;
}

/*
 * After SIGTERM the Service still sends requests until the endpoints
 * controller removes this Pod (seconds): keep serving for shutdown_ms with
 * /readyz failing, so no API server call meets a closed port.
 */
int kw_server_run(struct kw_server *s, volatile sig_atomic_t *stop)
{
	pthread_t reloader;
	struct pollfd p = { .fd = s->fd, .events = POLLIN };
	int64_t until = -1;

	s->stop = stop;
	if (pthread_create(&reloader, NULL, reload_main, s) != 0)
		return kiln_err(EAGAIN, "cannot start the reload thread");
	while (until < 0 || kiln_now_ms() < until) {
		int fd;

		if (*stop && until < 0) {
			atomic_store(&s->draining, true);
			until = kiln_now_ms() + s->o->shutdown_ms;
			fprintf(stderr, "kiln-webhook: draining for %d ms\n", s->o->shutdown_ms);
		}
		if (poll(&p, 1, 100) <= 0)
			continue;
		fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			spawn(s, fd);
	}
	atomic_store(&s->done, true);
	pthread_join(reloader, NULL);
	/* let requests in flight finish (they are bounded by REQUEST_MS) */
	for (int i = 0; i < REQUEST_MS / 50 && atomic_load(&s->conns); i++)
		usleep(50 * 1000);
	return 0;
}

void kw_server_free(struct kw_server *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	SSL_CTX_free(s->ctx);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
