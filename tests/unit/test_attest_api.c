/* SPDX-License-Identifier: Apache-2.0 */
/* Attestation API tests: the head parser's negative cases, responses, a real loopback round trip. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attest/http_api.h"
#include "attest/attest.h"
#include "nsm/nsm.h"
#include "nsm/sim.h"
#include "t.h"

static int parse(const char *head, struct kiln_attest_api_req *req)
{
	return kiln_attest_api_parse((const uint8_t *)head, strlen(head), req);
}

/* Parse "GET <target> HTTP/1.1" with a Host header. */
static int parse_target(const char *target, struct kiln_attest_api_req *req)
{
	char head[4096];

	snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", target);
	return parse(head, req);
}

static struct kiln_attest_api_req req; /* large: keep it off the stack */

TEST(parse_good)
{
	CHECK(parse_target("/v1/attestation", &req) == 0 && req.status == 200);
	CHECK(!req.nonce.present && !req.user_data.present && !req.public_key.present);
	CHECK(parse_target("/v1/attestation?", &req) == 0);
	/* "hello" = aGVsbG8, "hi" = aGk, 0xfb 0xff = -_8 */
	CHECK(parse_target("/v1/attestation?nonce=aGVsbG8&user_data=aGk&public_key=-_8", &req) == 0);
	CHECK(req.nonce.present && req.nonce.len == 5 && !memcmp(req.nonce.data, "hello", 5));
	CHECK(req.user_data.present && req.user_data.len == 2 && !memcmp(req.user_data.data, "hi", 2));
	CHECK(req.public_key.len == 2 && req.public_key.data[0] == 0xfb && req.public_key.data[1] == 0xff);
	/* Padding tolerated, plain or percent-encoded. */
	CHECK(parse_target("/v1/attestation?nonce=aGVsbG8=", &req) == 0 && req.nonce.len == 5);
	CHECK(parse_target("/v1/attestation?nonce=aGk%3D", &req) == 0 && req.nonce.len == 2);
	CHECK(parse_target("/v1/attestation?nonce=aA%3d%3D", &req) == 0 && req.nonce.len == 1);
	CHECK(parse_target("/v1/attestation?nonce=aGVs", &req) == 0 && req.nonce.len == 3);
	/* HTTP/1.0, headers with odd spacing, Content-Length: 0. */
	CHECK(parse("GET /v1/attestation?nonce=AA HTTP/1.0\r\nX-A:b\r\nContent-Length:  0 \r\n\r\n",
		    &req) == 0);
	CHECK(req.nonce.len == 1 && req.nonce.data[0] == 0);

	/* Exactly 1024 bytes decoded is fine; 1025 is not. */
	static char target[2000];
	int n = snprintf(target, sizeof(target), "/v1/attestation?user_data=");
	for (int i = 0; i < 1364; i++)
		target[n++] = 'A';
	memcpy(target + n, "AA", 3); /* 1366 chars: 1024 bytes */
	CHECK(parse_target(target, &req) == 0 && req.user_data.len == 1024);
	memcpy(target + n, "AAAA", 5); /* 1368 chars: 1026 bytes */
	CHECK(parse_target(target, &req) < 0 && req.status == 400);
	CHECK(strstr(kiln_errmsg(), "more than 1024") != NULL);
}

static void bad_target(const char *target, int status, const char *reason)
{
	CHECK_ERR(parse_target(target, &req), reason);
	CHECK(req.status == status);
	if (req.status != status)
		fprintf(stderr, "    target %s: status %d, want %d\n", target, req.status, status);
}

static void bad_head(const char *head, int status, const char *reason)
{
	CHECK_ERR(parse(head, &req), reason);
	CHECK(req.status == status);
	if (req.status != status)
		fprintf(stderr, "    head %s: status %d, want %d\n", head, req.status, status);
}

TEST(parse_bad)
{
	bad_target("/v1/attestation?foo=AA", 400, "unknown parameter \"foo\"");
	bad_target("/v1/attestation?nonce=AA&nonce=AA", 400, "nonce given twice");
	bad_target("/v1/attestation?nonce", 400, "has no value");
	bad_target("/v1/attestation?nonce=", 400, "not base64url");
	bad_target("/v1/attestation?nonce=a+b/", 400, "not base64url");
	bad_target("/v1/attestation?nonce=aGk.", 400, "not base64url");
	bad_target("/v1/attestation?nonce=A", 400, "not base64url");	      /* 6 bits */
	bad_target("/v1/attestation?nonce=AB", 400, "not base64url");	      /* trailing bits set */
	bad_target("/v1/attestation?nonce=aGk==", 400, "not base64url");    /* too much padding */
	bad_target("/v1/attestation?nonce=aG=k", 400, "not base64url");     /* padding inside */
	bad_target("/v1/attestation?nonce=aGVsbG8==", 400, "not base64url");
	bad_target("/v1/attestation?nonce=====", 400, "not base64url");
	bad_target("/v1/attestation?nonce=%41A", 400, "not base64url");
	bad_target("/v1/attestation?nonce=AA&", 400, "empty query parameter");
	bad_target("/v1/attestation?&nonce=AA", 400, "empty query parameter");
	bad_target("/v1/attestation?nonce=AA&&user_data=AA", 400, "empty query parameter");
	bad_target("/v1/attestation?NONCE=AA", 400, "unknown parameter");
	bad_target("/v1/attestation#x", 400, "fragment");
	bad_target("http://127.0.0.1/v1/attestation", 400, "not a path");
	bad_target("*", 400, "not a path");
	bad_target("/v1/attestation/", 404, "not found");
	bad_target("/v1/attestationx", 404, "not found");
	bad_target("/v1/Attestation", 404, "not found");
	bad_target("/", 404, "not found");
	bad_target("/v1/attestation%3Fnonce=AA", 404, "not found");

	bad_head("POST /v1/attestation HTTP/1.1\r\n\r\n", 405, "method not allowed");
	bad_head("HEAD /v1/attestation HTTP/1.1\r\n\r\n", 405, "method not allowed");
	bad_head("get /v1/attestation HTTP/1.1\r\n\r\n", 405, "method not allowed");
	bad_head("GET /v1/attestation HTTP/2.0\r\n\r\n", 400, "HTTP version");
	bad_head("GET /v1/attestation http/1.1\r\n\r\n", 400, "HTTP version");
	bad_head("GET  /v1/attestation HTTP/1.1\r\n\r\n", 400, "request line");
	bad_head("GET /v1/attestation  HTTP/1.1\r\n\r\n", 400, "HTTP version");
	bad_head("GET /v1/attestation\r\n\r\n", 400, "request line");
	bad_head("G(T /v1/attestation HTTP/1.1\r\n\r\n", 400, "malformed method");
	bad_head("GET /v1/att\x01station HTTP/1.1\r\n\r\n", 400, "request target");
	bad_head("GET /v1/att\xc3\xa9 HTTP/1.1\r\n\r\n", 400, "request target");
	bad_head("GET /v1/attestation HTTP/1.1\n\n", 400, "incomplete request line");
	bad_head("GET /v1/attestation HTTP/1.1\r\nHost: x\n\r\n", 400, "control byte");
	bad_head("GET /v1/attestation HTTP/1.1\r\nHost: x\r\n", 400, "blank line");
	bad_head("GET /v1/attestation HTTP/1.1\r\n", 400, "blank line");
	bad_head("", 400, "incomplete request line");
	bad_head("\r\n\r\n", 400, "request line");
	bad_head("GET /v1/attestation HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, "folded");
	bad_head("GET /v1/attestation HTTP/1.1\r\nHost x\r\n\r\n", 400, "malformed header line");
	bad_head("GET /v1/attestation HTTP/1.1\r\n: x\r\n\r\n", 400, "malformed header line");
	bad_head("GET /v1/attestation HTTP/1.1\r\nHo st: x\r\n\r\n", 400, "header name");
	bad_head("GET /v1/attestation HTTP/1.1\r\nHost: a\x01z\r\n\r\n", 400, "control byte");
	bad_head("GET /v1/attestation HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "bodies");
	bad_head("GET /v1/attestation HTTP/1.1\r\ncontent-length: 5\r\n\r\n", 400, "bodies");
	bad_head("GET /v1/attestation HTTP/1.1\r\n\r\nGET /v1/attestation HTTP/1.1\r\n\r\n", 400,
		 "bytes after");
	/* Malformed heads are 400 even on a wrong path or method. */
	bad_head("POST /nope HTTP/1.1\r\nbad\r\n\r\n", 400, "malformed header line");

	/* NUL inside the head. */
	static const char nul[] = "GET /v1/attestation HTTP/1.1\r\nA: \0\r\n\r\n";
	CHECK_ERR(kiln_attest_api_parse((const uint8_t *)nul, sizeof(nul) - 1, &req), "control byte");

	static uint8_t big[KILN_ATTEST_API_HEAD_MAX + 1];
	memset(big, 'a', sizeof(big));
	CHECK_ERR(kiln_attest_api_parse(big, sizeof(big), &req), "too large");
}

TEST(responses)
{
	uint8_t *out = NULL;
	size_t len = 0;

	CHECK(kiln_attest_api_response(200, NULL, (const uint8_t *)"\xa0", 1, &out, &len) == 0);
	CHECK(out && strstr((char *)out, "HTTP/1.1 200 OK\r\n") == (char *)out);
	CHECK(out && memmem(out, len, "Content-Type: application/cbor\r\n", 32) &&
	      memmem(out, len, "Content-Length: 1\r\n", 19) && out[len - 1] == 0xa0 &&
	      !memcmp(out + len - 5, "\r\n\r\n\xa0", 5));
	free(out);
	CHECK(kiln_attest_api_response(405, "method not allowed", NULL, 0, &out, &len) == 0);
	CHECK(out && memmem(out, len, "Allow: GET\r\n", 12) &&
	      memmem(out, len, "Content-Length: 19\r\n", 20) &&
	      !memcmp(out + len - 19, "method not allowed\n", 19));
	free(out);
	CHECK_ERR(kiln_attest_api_response(302, NULL, NULL, 0, &out, &len), "no status 302");
}

/* ---- sockets ---- */

static int fake_doc(void *ctx, const struct kiln_attest_api_req *r, uint8_t **doc, size_t *len)
{
	if (r->nonce.present && r->nonce.len == 1 && r->nonce.data[0] == 0xff)
		return kiln_err(EMSGSIZE, "nsm Attestation: InputTooLarge");
	if (r->nonce.present && r->nonce.len == 1 && r->nonce.data[0] == 0xfe)
		return kiln_err(EIO, "nsm Attestation: InternalError");
	*len = 4 + (r->nonce.present ? r->nonce.len : 0);
	*doc = malloc(*len);
	memcpy(*doc, "doc:", 4);
	if (r->nonce.present)
		memcpy(*doc + 4, r->nonce.data, r->nonce.len);
	return 0;
}

static int listen_fd = -1;
static int port;

struct conn_result {
	int rc;
	int status;
};

struct client_job {
	const char *send;
	size_t len;
	bool close_early;
	struct sockaddr_in from; /* sin_family 0: connect from loopback */
	char reply[16384];
	size_t reply_len;
};

static void *client(void *p)
{
	struct client_job *j = p;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ssize_t n;

	to.sin_addr.s_addr = j->from.sin_family ? j->from.sin_addr.s_addr : htonl(INADDR_LOOPBACK);
	if (j->from.sin_family && bind(fd, (struct sockaddr *)&j->from, sizeof(j->from)) != 0)
		perror("bind");
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0) {
		perror("connect");
		close(fd);
		return NULL;
	}
	if (j->len && send(fd, j->send, j->len, MSG_NOSIGNAL) != (ssize_t)j->len)
		perror("send");
	if (!j->close_early)
		while ((n = read(fd, j->reply + j->reply_len,
				 sizeof(j->reply) - 1 - j->reply_len)) > 0)
			j->reply_len += (size_t)n;
	j->reply[j->reply_len] = '\0';
	close(fd);
	return NULL;
}

static struct conn_result exchange(struct client_job *j, int timeout_ms)
{
	struct conn_result r = { -1, 0 };
	pthread_t th;
	int fd;

	CHECK(pthread_create(&th, NULL, client, j) == 0);
	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	CHECK(fd >= 0);
	r.rc = kiln_attest_api_handle(fd, fake_doc, NULL, timeout_ms, &r.status);
	close(fd);
	pthread_join(th, NULL);
	return r;
}

static struct client_job job;

static struct conn_result send_head(const char *head)
{
	memset(&job, 0, sizeof(job));
	job.send = head;
	job.len = strlen(head);
	return exchange(&job, 2000);
}

TEST(socket_round_trip)
{
	struct conn_result r;

	r = send_head("GET /v1/attestation?nonce=aGVsbG8 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	CHECK(r.rc == 0 && r.status == 200);
	CHECK(strstr(job.reply, "HTTP/1.1 200 OK\r\n") == job.reply);
	CHECK(strstr(job.reply, "Content-Type: application/cbor\r\n") != NULL);
	CHECK(strstr(job.reply, "\r\n\r\ndoc:hello") != NULL);

	r = send_head("GET /v1/attestation?nonce=aGVsbG8&bogus=1 HTTP/1.1\r\n\r\n");
	CHECK(r.rc == 0 && r.status == 400);
	CHECK(strstr(job.reply, "HTTP/1.1 400 Bad Request\r\n") == job.reply);
	CHECK(strstr(job.reply, "\r\n\r\nunknown parameter \"bogus\"\n") != NULL);

	r = send_head("GET /metrics HTTP/1.1\r\n\r\n");
	CHECK(r.rc == 0 && r.status == 404 && strstr(job.reply, "HTTP/1.1 404 Not Found\r\n"));
	r = send_head("DELETE /v1/attestation HTTP/1.1\r\n\r\n");
	CHECK(r.rc == 0 && r.status == 405 && strstr(job.reply, "Allow: GET\r\n"));

	/* The document callback's errors: argument problems 400, others 500. */
	r = send_head("GET /v1/attestation?nonce=_w HTTP/1.1\r\n\r\n");
	CHECK(r.rc == 0 && r.status == 400 && strstr(job.reply, "InputTooLarge"));
	r = send_head("GET /v1/attestation?nonce=_g HTTP/1.1\r\n\r\n");
	CHECK(r.rc == 0 && r.status == 500 && strstr(job.reply, "attestation failed: "));

	/* A head in several pieces, ending exactly at the limit or beyond it. */
	static char big[KILN_ATTEST_API_HEAD_MAX + 100];
	int n = snprintf(big, sizeof(big), "GET /v1/attestation HTTP/1.1\r\nX: ");
	memset(big + n, 'a', sizeof(big) - (size_t)n - 1);
	memcpy(big + KILN_ATTEST_API_HEAD_MAX - 4, "\r\n\r\n", 5);
	r = send_head(big);
	CHECK(r.rc == 0 && r.status == 200);
	memset(big + n, 'a', sizeof(big) - (size_t)n - 1);
	memcpy(big + sizeof(big) - 5, "\r\n\r\n", 5);
	r = send_head(big);
	CHECK(r.rc == 0 && r.status == 431 && strstr(job.reply, "exceeds 8192 bytes"));

	/* Nothing sent: timeout, dropped without an answer. */
	memset(&job, 0, sizeof(job));
	r = exchange(&job, 200);
	CHECK(r.rc == -ETIMEDOUT && job.reply_len == 0);
	/* EOF mid-head. */
	memset(&job, 0, sizeof(job));
	job.send = "GET /v1/att";
	job.len = strlen(job.send);
	job.close_early = true;
	r = exchange(&job, 2000);
	CHECK(r.rc < 0);
}

TEST(non_loopback_peer_dropped)
{
	struct ifaddrs *ifs = NULL, *i;
	struct in_addr addr = { 0 };

	if (getifaddrs(&ifs) == 0)
		for (i = ifs; i; i = i->ifa_next)
			if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET) {
				struct in_addr a = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;

				if ((ntohl(a.s_addr) >> 24) != 127) {
					addr = a;
					break;
				}
			}
	freeifaddrs(ifs);
	if (!addr.s_addr) {
		fprintf(stderr, "  (no non-loopback IPv4 address: skipped)\n");
		return;
	}
	/* The listener is on 127.0.0.1; use a second one on the wildcard address. */
	int saved = listen_fd, saved_port = port;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	listen_fd = kiln_attest_api_listen("0.0.0.0:0");
	CHECK(listen_fd >= 0);
	if (listen_fd < 0)
		goto out;
	CHECK(getsockname(listen_fd, (struct sockaddr *)&sa, &sl) == 0);
	port = ntohs(sa.sin_port);
	memset(&job, 0, sizeof(job));
	job.send = "GET /v1/attestation HTTP/1.1\r\n\r\n";
	job.len = strlen(job.send);
	job.from = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr = addr };
	struct conn_result r = exchange(&job, 2000);
	CHECK(r.rc == -EPERM && job.reply_len == 0);
	close(listen_fd);
out:
	listen_fd = saved;
	port = saved_port;
}

TEST(listen_addresses)
{
	int fd;

	CHECK_ERR(kiln_attest_api_listen("127.0.0.1"), "is not IPv4:PORT");
	CHECK_ERR(kiln_attest_api_listen(":80"), "is not IPv4:PORT");
	CHECK_ERR(kiln_attest_api_listen("localhost:80"), "is not IPv4:PORT");
	CHECK_ERR(kiln_attest_api_listen("127.0.0.1:65536"), "is not IPv4:PORT");
	CHECK_ERR(kiln_attest_api_listen("127.0.0.1:-1"), "is not IPv4:PORT");
	CHECK_ERR(kiln_attest_api_listen("::1:80"), "is not IPv4:PORT");
	fd = kiln_attest_api_listen("[::1]:0");
	if (fd >= 0)
		close(fd);
	else
		fprintf(stderr, "  (no IPv6 loopback: %s)\n", kiln_errmsg());
}

/* ---- the server loop: concurrent clients, deadlines, the cap ---- */

#define SAFETY_S 30 /* a broken server fails a test after this instead of hanging it */

struct loop_srv {
	int listen_fd, port, stop[2], rc;
	pthread_t th;
	struct kiln_attest_api_opts o;
	struct kiln_attest_api_stats st;
	pthread_mutex_t mu;
	char served[64]; /* the nonce (one byte) of each document made, in order */
	size_t n_served;
};

static int record_doc(void *ctx, const struct kiln_attest_api_req *r, uint8_t **doc, size_t *len)
{
	struct loop_srv *s = ctx;

	pthread_mutex_lock(&s->mu);
	if (s->n_served < sizeof(s->served) - 1 && r->nonce.present)
		s->served[s->n_served++] = (char)r->nonce.data[0];
	pthread_mutex_unlock(&s->mu);
	return fake_doc(NULL, r, doc, len);
}

static void *loop_thread(void *p)
{
	struct loop_srv *s = p;

	s->rc = kiln_attest_api_serve(s->listen_fd, record_doc, s, &s->o);
	return NULL;
}

static bool srv_start(struct loop_srv *s, int timeout_ms, unsigned cap)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	s->listen_fd = kiln_attest_api_listen("127.0.0.1:0");
	if (s->listen_fd < 0 || getsockname(s->listen_fd, (struct sockaddr *)&sa, &sl) != 0 ||
	    pipe2(s->stop, O_CLOEXEC) != 0)
		return false;
	s->port = ntohs(sa.sin_port);
	s->o = (struct kiln_attest_api_opts){ .timeout_ms = timeout_ms, .max_conns = cap,
					      .stop_fd = s->stop[0], .stats = &s->st };
	return pthread_create(&s->th, NULL, loop_thread, s) == 0;
}

static void srv_stop(struct loop_srv *s)
{
	CHECK(write(s->stop[1], "x", 1) == 1);
	pthread_join(s->th, NULL);
	CHECK(s->rc == 0);
	close(s->stop[0]);
	close(s->stop[1]);
	close(s->listen_fd);
	pthread_mutex_destroy(&s->mu);
}

/* Connect to the server and send text (may be part of a request). */
static int dial(const struct loop_srv *s, const char *text)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = SAFETY_S };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
	CHECK(connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0);
	CHECK(send(fd, text, strlen(text), MSG_NOSIGNAL) == (ssize_t)strlen(text));
	return fd;
}

/* Everything the server sends until it closes; "" when it closed without a word. */
static const char *reply(int fd)
{
	static char buf[4096];
	size_t len = 0;
	ssize_t n;

	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	CHECK(n == 0); /* EOF, not the safety timeout */
	buf[len] = '\0';
	close(fd);
	return buf;
}

/* Neither answered nor dropped yet. */
static bool still_open(int fd)
{
	char b;

	return recv(fd, &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

/* Wait for the server to reach a state (the loop ends early; the bound is only a safety net). */
static void wait_for(atomic_uint *v, unsigned want)
{
	for (int i = 0; i < SAFETY_S * 1000 && atomic_load(v) < want; i++)
		usleep(1000);
	CHECK(atomic_load(v) >= want);
}

/* A request for a one-byte nonce: "QQ" is base64url for "A". */
static const char *request(char nonce)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	static char buf[128];
	uint8_t b = (uint8_t)nonce;

	snprintf(buf, sizeof(buf), "GET /v1/attestation?nonce=%c%c HTTP/1.1\r\n\r\n",
		 b64[b >> 2], b64[(b & 3) << 4]);
	return buf;
}

TEST(slow_client_does_not_stall_others)
{
	struct loop_srv s;
	char half[64];
	int a, b;

	/* A deadline far beyond the test: only the loop's concurrency can get B its answer. */
	CHECK(srv_start(&s, 600 * 1000, 4));
	snprintf(half, sizeof(half), "%.30s", request('A'));
	a = dial(&s, half);
	wait_for(&s.st.accepted, 1);
	b = dial(&s, request('B'));
	const char *rb = reply(b);
	CHECK(strstr(rb, "HTTP/1.1 200 OK\r\n") == rb && strstr(rb, "\r\n\r\ndoc:B"));
	CHECK(still_open(a)); /* B was answered while A's request was still incomplete */
	CHECK(send(a, request('A') + 30, strlen(request('A')) - 30, MSG_NOSIGNAL) > 0);
	CHECK(strstr(reply(a), "\r\n\r\ndoc:A") != NULL);
	CHECK(!strcmp(s.served, "BA"));
	CHECK(atomic_load(&s.st.dropped) == 0);
	srv_stop(&s);
}

TEST(silent_client_dropped_at_deadline)
{
	struct loop_srv s;
	int a, b;

	CHECK(srv_start(&s, 200, 4));
	a = dial(&s, "GET /v1/att");
	b = dial(&s, "");
	CHECK(!strcmp(reply(a), "")); /* closed without an answer at its deadline */
	CHECK(!strcmp(reply(b), ""));
	CHECK(atomic_load(&s.st.dropped) == 2);
	CHECK(strstr(reply(dial(&s, request('C'))), "\r\n\r\ndoc:C") != NULL);
	srv_stop(&s);
}

TEST(cap_queues_excess_clients)
{
	enum { EXTRA = 10 };
	struct loop_srv s;
	char half[64];
	int a, b, c[EXTRA];

	CHECK(srv_start(&s, 600 * 1000, 2));
	snprintf(half, sizeof(half), "%.30s", request('A'));
	a = dial(&s, half);
	b = dial(&s, "GET /v1/attestation?nonce=Qg");
	wait_for(&s.st.accepted, 2);
	/* Complete requests beyond the cap wait in the backlog, however many. */
	for (int i = 0; i < EXTRA; i++)
		c[i] = dial(&s, request((char)('a' + i)));
	CHECK(send(a, request('A') + 30, strlen(request('A')) - 30, MSG_NOSIGNAL) > 0);
	CHECK(strstr(reply(a), "\r\n\r\ndoc:A") != NULL);
	for (int i = 0; i < EXTRA; i++)
		CHECK(strstr(reply(c[i]), "\r\n\r\ndoc:") != NULL);
	CHECK(still_open(b));
	CHECK(s.served[0] == 'A'); /* the queued ones only once A left a slot */
	CHECK(s.n_served == 1 + EXTRA);
	CHECK(atomic_load(&s.st.peak) == 2);
	CHECK(send(b, " HTTP/1.1\r\n\r\n", 13, MSG_NOSIGNAL) == 13);
	CHECK(strstr(reply(b), "\r\n\r\ndoc:B") != NULL);
	srv_stop(&s);
}

/* End to end: a sim NSM behind the API, fetched with curl, verified with the sim root. */
struct serve_arg {
	int fd;
	struct kiln_nsm *nsm;
};

static const struct kiln_attest_api_opts serve_opts = {
	.timeout_ms = 2000, .max_conns = 4, .stop_fd = -1
};

static void *serve_thread(void *p)
{
	struct serve_arg *a = p;

	if (kiln_attest_api_serve(a->fd, kiln_attest_api_nsm_doc, a->nsm, &serve_opts) < 0)
		fprintf(stderr, "serve: %s\n", kiln_errmsg());
	return NULL;
}

TEST(curl_end_to_end)
{
	char dir[] = "/tmp/kiln-test-api-XXXXXX", cmd[1024], path[600];
	struct kiln_nsm_sim_opts o = { .instance_id = "i-00000000000000001" };
	struct kiln_nsm_sim *s = NULL;
	struct serve_arg a = { .fd = -1 };
	struct kiln_attest_verifier *v = NULL;
	struct kiln_attest_expect exp;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	pthread_t th;
	FILE *f;
	static uint8_t doc[KILN_NSM_RESPONSE_MAX];
	static char pem[8192];
	size_t doc_len, pem_len;

	if (system("command -v curl >/dev/null 2>&1") != 0) {
		fprintf(stderr, "  (curl not installed: skipped)\n");
		return;
	}
	CHECK(mkdtemp(dir) != NULL);
	o.state_dir = dir;
	CHECK(kiln_nsm_sim_new(&o, &s) == 0);
	CHECK(s && kiln_nsm_sim_client(s, &a.nsm) == 0);
	a.fd = kiln_attest_api_listen("127.0.0.1:0");
	CHECK(a.fd >= 0 && getsockname(a.fd, (struct sockaddr *)&sa, &sl) == 0);
	if (!s || a.fd < 0)
		return;
	CHECK(pthread_create(&th, NULL, serve_thread, &a) == 0);
	pthread_detach(th); /* serves until the process exits */

	snprintf(cmd, sizeof(cmd),
		 "curl -sS -o %s/doc.cbor -w '%%{http_code} %%{content_type}' "
		 "'http://127.0.0.1:%d/v1/attestation?nonce=bm9uY2UtZnJvbS1jdXJs&user_data=dQ==' > %s/out",
		 dir, ntohs(sa.sin_port), dir);
	CHECK(system(cmd) == 0);
	snprintf(path, sizeof(path), "%s/out", dir);
	f = fopen(path, "r");
	CHECK(f && fgets(cmd, sizeof(cmd), f));
	if (f)
		fclose(f);
	CHECK(!strcmp(cmd, "200 application/cbor"));

	snprintf(path, sizeof(path), "%s/doc.cbor", dir);
	f = fopen(path, "rb");
	doc_len = f ? fread(doc, 1, sizeof(doc), f) : 0;
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "%s/sim-ca/root.pem", dir);
	f = fopen(path, "r");
	pem_len = f ? fread(pem, 1, sizeof(pem), f) : 0;
	if (f)
		fclose(f);
	CHECK(kiln_attest_verifier_new(pem, pem_len, &v) == 0);
	memset(&exp, 0, sizeof(exp));
	exp.nonce = (struct kiln_attest_blob){ (const uint8_t *)"nonce-from-curl", 15 };
	exp.user_data = (struct kiln_attest_blob){ (const uint8_t *)"u", 1 };
	CHECK(v && kiln_attest_verify_bytes(v, doc, doc_len, KILN_ATTEST_AT_DOC, &exp, NULL) == 0);
	kiln_attest_verifier_free(v);

	/* curl sees the 400 and its reason. */
	snprintf(cmd, sizeof(cmd),
		 "test \"$(curl -s -w ' %%{http_code}' 'http://127.0.0.1:%d/v1/attestation?nonce=a+b')\" = "
		 "\"parameter nonce is not base64url\n 400\"", ntohs(sa.sin_port));
	CHECK(system(cmd) == 0);
	snprintf(cmd, sizeof(cmd),
		 "test \"$(curl -s -o /dev/null -w '%%{http_code}' -X POST 'http://127.0.0.1:%d/v1/attestation')\" = 405",
		 ntohs(sa.sin_port));
	CHECK(system(cmd) == 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	/* The server thread keeps s and a.nsm until exit. */
}

int main(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	RUN(parse_good);
	RUN(parse_bad);
	RUN(responses);
	listen_fd = kiln_attest_api_listen("127.0.0.1:0");
	if (listen_fd < 0 || getsockname(listen_fd, (struct sockaddr *)&sa, &sl) != 0) {
		fprintf(stderr, "listen: %s\n", kiln_errmsg());
		return 1;
	}
	port = ntohs(sa.sin_port);
	RUN(socket_round_trip);
	RUN(non_loopback_peer_dropped);
	RUN(listen_addresses);
	RUN(slow_client_does_not_stall_others);
	RUN(silent_client_dropped_at_deadline);
	RUN(cap_queues_excess_clients);
	RUN(curl_end_to_end);
	close(listen_fd);
	return t_done();
}
