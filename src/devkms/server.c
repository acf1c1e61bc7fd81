/* SPDX-License-Identifier: Apache-2.0 */
/* dev-kms server: state, the TLS listener, one thread per keep-alive connection. */
#include <arpa/inet.h>
#include <jansson.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attest/attest.h"
#include "devkms/devkms.h"
#include "util/io.h"
#include "util/secure.h"

/*
 * How this works: the main thread accepts; each connection gets a
 * detached thread that does the TLS handshake and then serves requests in
 * order (HTTP/1.1 keep-alive, pipelined requests answered in turn) until
 * the client closes, sends "Connection: close", idles for IDLE_S, or sends
 * something the parser refuses. Request buffers are wiped after use: they
 * may hold plaintexts. SIGINT/SIGTERM stop the accept loop; the process
 * then exits (connection threads die with it).
 */

#define MAX_CONNS 128
#define IDLE_S 60
#define BUF_SIZE (KILN_DEVKMS_MAX_HEAD + KILN_DEVKMS_MAX_BODY)

static atomic_int n_conns;

/* jansson's allocator: every JSON string (requests, responses) is wiped when freed. */
static void *wipe_malloc(size_t n)
{
	return malloc(n);
}

static void wipe_free(void *p)
{
	if (p)
		kiln_wipe(p, malloc_usable_size(p));
	free(p);
}

static int read_pem(const char *path, char **out, size_t *len)
{
	if (kiln_read_file(path, 65534, out, len) == 0 && *len > 0)
		return 0;
	free(*out);
	*out = NULL;
	return kiln_err(EINVAL, "--root %s: cannot read a PEM file", path);
}

int kiln_devkms_init(struct kiln_devkms *d, const char *state_dir, const char *access_key_id,
		     const char *secret_key, const char *const *root_paths, size_t nroot)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->store_lock, NULL);
	pthread_mutex_init(&d->doc_lock, NULL);
	pthread_cond_init(&d->doc_done, NULL);
	json_set_alloc_funcs(wipe_malloc, wipe_free);
	if (!access_key_id != !secret_key)
		return kiln_err(EINVAL, "--access-key-id and --secret-access-key go together");
	if (!access_key_id) {
		access_key_id = KILN_DEVKMS_TEST_ACCESS_KEY;
		secret_key = KILN_DEVKMS_TEST_SECRET_KEY;
	}
	if (strlen(state_dir) >= sizeof(d->state_dir) - 64 || !*access_key_id || !*secret_key ||
	    strlen(access_key_id) >= sizeof(d->access_key_id) ||
	    strlen(secret_key) >= sizeof(d->secret_key))
		return kiln_err(EINVAL, "state dir or credentials empty or too long");
	if (nroot > KILN_DEVKMS_MAX_ROOTS)
		return kiln_err(EINVAL, "at most %d --root certificates", KILN_DEVKMS_MAX_ROOTS);
	strcpy(d->state_dir, state_dir);
	strcpy(d->access_key_id, access_key_id);
	strcpy(d->secret_key, secret_key);
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
		return kiln_err(errno, "mkdir %s: %m", state_dir);
	for (size_t i = 0; i < nroot; i++) {
		char *pem = NULL;
		size_t len;
		int rc = read_pem(root_paths[i], &pem, &len);
		if (rc == 0)
			rc = kiln_attest_verifier_new(pem, len, &d->roots[d->nroots]);
		free(pem);
		if (rc < 0)
			return kiln_err_wrap(rc, "--root %s", root_paths[i]);
		d->nroots++;
	}
	return kiln_attest_verifier_new(NULL, 0, &d->roots[d->nroots++]);
}

void kiln_devkms_free(struct kiln_devkms *d)
{
	for (size_t i = 0; i < d->nroots; i++)
		kiln_attest_verifier_free(d->roots[i]);
	kiln_wipe(d->secret_key, sizeof(d->secret_key));
	pthread_mutex_destroy(&d->store_lock);
	pthread_mutex_destroy(&d->doc_lock);
	pthread_cond_destroy(&d->doc_done);
}

int64_t kiln_devkms_now(const struct kiln_devkms *d)
{
	return d->now_override_s ? d->now_override_s : (int64_t)time(NULL);
}

/* ---- one connection ---- */

struct conn {
	struct kiln_devkms *d;
	SSL_CTX *ctx;
	int fd;
	char peer[64];
};

static int send_all(SSL *ssl, const void *p, size_t n)
{
	size_t done = 0;
	while (done < n) {
		size_t w = 0;
		if (SSL_write_ex(ssl, (const char *)p + done, n - done, &w) != 1)
			return -EIO;
		done += w;
	}
	return 0;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 413: return "Payload Too Large";
	default: return "Internal Server Error";
	}
}

static int send_resp(SSL *ssl, const struct kiln_devkms_resp *resp, bool keep_alive)
{
	char head[512];
	uint8_t rid[16];
	char rid_hex[33];

	RAND_bytes(rid, sizeof(rid));
	for (int i = 0; i < 16; i++)
		snprintf(rid_hex + 2 * i, 3, "%02x", rid[i]);
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nx-amzn-RequestId: %s\r\n"
			 "Content-Type: application/x-amz-json-1.1\r\nContent-Length: %zu\r\n"
			 "Connection: %s\r\n\r\n",
			 resp->status, reason(resp->status), rid_hex, resp->len,
			 keep_alive ? "keep-alive" : "close");
	/* One write, one TLS record: a separate body record would wait on the
	 * peer's delayed ACK (Nagle), ~40 ms per request. */
	size_t total = (size_t)n + resp->len;
	char *out = malloc(total);
	if (!out)
		return -ENOMEM;
	memcpy(out, head, (size_t)n);
	if (resp->len)
		memcpy(out + n, resp->body, resp->len);
	int rc = send_all(ssl, out, total);
	kiln_free_secret(out, total);
	return rc;
}

/* Authenticate and run one parsed request. */
static void serve_one(struct conn *c, const struct kiln_devkms_req *r, struct kiln_devkms_resp *resp)
{
	static const char post[] = "POST";
	char region[64] = "", target[128] = "";
	const struct kiln_devkms_span *t = kiln_devkms_req_header(r, "x-amz-target");

	if (r->method.len != 4 || memcmp(r->method.p, post, 4) || r->path.len != 1) {
		kiln_devkms_resp_error(resp, 400, "UnknownOperationException",
				       "dev-kms serves POST / only (the KMS JSON API)");
		return;
	}
	if (kiln_devkms_auth(c->d, r, region, sizeof(region), resp) < 0)
		return;
	if (!t || t->len >= sizeof(target)) {
		kiln_devkms_resp_error(resp, 400, "UnknownOperationException", "X-Amz-Target is missing");
		return;
	}
	memcpy(target, t->p, t->len);
	kiln_devkms_handle(c->d, target, region, r->body, r->body_len, resp);
}

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

/* One line per answer; ms is the time dev-kms spent on it (auth, operation). */
static void log_resp(const struct conn *c, const struct kiln_devkms_req *r,
		     const struct kiln_devkms_resp *resp, double ms)
{
	const struct kiln_devkms_span *t = r ? kiln_devkms_req_header(r, "x-amz-target") : NULL;
	json_error_t e;
	json_t *j = resp->status != 200 && resp->body ? json_loadb(resp->body, resp->len, 0, &e) : NULL;
	const char *type = json_string_value(json_object_get(j, "__type"));
	const char *msg = json_string_value(json_object_get(j, "message"));

	fprintf(stderr, "dev-kms: %s %.*s -> %d (%.1f ms)%s%s%s%s\n", c->peer,
		t ? (int)(t->len > 80 ? 80 : t->len) : 1, t ? t->p : "-", resp->status, ms,
		type ? " " : "", type ? type : "", msg ? ": " : "", msg ? msg : "");
	json_decref(j);
}

static void serve_conn(struct conn *c, SSL *ssl, uint8_t *buf)
{
	size_t have = 0;
	for (;;) {
		struct kiln_devkms_req r;
		struct kiln_devkms_resp resp = { 0 };
		int rc = kiln_devkms_req_parse(buf, have, &r);
		if (rc == -EAGAIN) {
			size_t got = 0;
			if (have == BUF_SIZE || SSL_read_ex(ssl, buf + have, BUF_SIZE - have, &got) != 1)
				return;
			have += got;
			continue;
		}
		if (rc < 0) {
			kiln_devkms_resp_error(&resp, rc == -EMSGSIZE ? 413 : 400, "SerializationException",
					       kiln_errmsg());
			log_resp(c, NULL, &resp, 0);
			(void)send_resp(ssl, &resp, false);
			kiln_devkms_resp_free(&resp);
			return;
		}
		double t0 = mono_ms();
		serve_one(c, &r, &resp);
		log_resp(c, &r, &resp, mono_ms() - t0);
		rc = send_resp(ssl, &resp, r.keep_alive);
		kiln_devkms_resp_free(&resp);
		kiln_wipe(buf, r.total);
		memmove(buf, buf + r.total, have - r.total);
		have -= r.total;
		if (rc < 0 || !r.keep_alive)
			return;
	}
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct timeval tv = { .tv_sec = IDLE_S };
	uint8_t *buf = malloc(BUF_SIZE);
	SSL *ssl = buf ? SSL_new(c->ctx) : NULL;

	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (ssl && SSL_set_fd(ssl, c->fd) == 1 && SSL_accept(ssl) == 1) {
		serve_conn(c, ssl, buf);
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	kiln_free_secret(buf, buf ? BUF_SIZE : 0);
	ERR_clear_error();
	close(c->fd);
	free(c);
	atomic_fetch_sub(&n_conns, 1);
	return NULL;
}

/* ---- listener ---- */

/* "ADDR:PORT" or "[V6]:PORT" -> a bound, listening socket; host receives ADDR. */
static int listen_on(const char *spec, char *host, size_t host_size, int *out)
{
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec || !colon[1])
		return kiln_err(EINVAL, "--listen %s: expected ADDR:PORT", spec);
	const char *h = spec;
	size_t hl = (size_t)(colon - spec);
	if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']')
		h++, hl -= 2;
	if (hl >= host_size)
		return kiln_err(EINVAL, "--listen %s: address too long", spec);
	memcpy(host, h, hl);
	host[hl] = '\0';
	/* getaddrinfo takes any number and keeps it modulo 65536. */
	const char *port = colon + 1;
	if (strlen(port) > 5 || strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535)
		return kiln_err(EINVAL, "--listen %s: port %s is not in 0-65535", spec, port);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai = NULL;
	int g = getaddrinfo(host, colon + 1, &hints, &ai);
	if (g)
		return kiln_err(EINVAL, "--listen %s: %s", spec, gai_strerror(g));
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, rc = 0;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0)
		rc = kiln_err(errno, "--listen %s: %m", spec);
	freeaddrinfo(ai);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -1;
	return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					       : ((struct sockaddr_in *)&ss)->sin_port);
}

static void spawn(struct kiln_devkms *d, SSL_CTX *ctx, int fd, const struct sockaddr_storage *ss)
{
	struct conn *c = calloc(1, sizeof(*c));
	pthread_t t;
	pthread_attr_t attr;

	if (!c || atomic_fetch_add(&n_conns, 1) >= MAX_CONNS) {
		if (c)
			atomic_fetch_sub(&n_conns, 1);
		free(c);
		close(fd);
		return;
	}
	*c = (struct conn){ .d = d, .ctx = ctx, .fd = fd };
	char a[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, a, sizeof(a));
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, a, sizeof(a));
	snprintf(c->peer, sizeof(c->peer), "%s", a);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, conn_main, c)) {
		close(fd);
		free(c);
		atomic_fetch_sub(&n_conns, 1);
	}
	pthread_attr_destroy(&attr);
}

int kiln_devkms_serve(struct kiln_devkms *d, const char *listen_spec)
{
	char host[256];
	SSL_CTX *ctx = NULL;
	int lfd = -1, rc = listen_on(listen_spec, host, sizeof(host), &lfd);
	if (rc == 0)
		rc = kiln_devkms_tls_ctx(d->state_dir, host, &ctx);
	if (rc < 0) {
		if (lfd >= 0)
			close(lfd);
		return rc;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit: only signalfd sees them */
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	fprintf(stderr, "dev-kms: listening on https://%s%s%s:%d (CA %s/ca.pem)\n",
		strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", bound_port(lfd),
		d->state_dir);
	struct pollfd p[2] = { { .fd = lfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
	while (sfd >= 0) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (fd >= 0)
			spawn(d, ctx, fd, &ss);
	}
	fprintf(stderr, "dev-kms: stopping\n");
	if (sfd >= 0)
		close(sfd);
	close(lfd);
	return 0;
}
