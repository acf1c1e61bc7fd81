/* SPDX-License-Identifier: Apache-2.0 */
/* The relay over real sockets: 100 MB each way with sha256, half-close, RST, idle timeout, many flows. */
#include "t.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/relay.h"

#define BIG (100u * 1024 * 1024)

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A connected TCP pair over loopback: *c (client), *s (accepted). */
static int tcp_pair(int *c, int *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*c = socket(AF_INET, SOCK_STREAM, 0);
	if (*c < 0 || connect(*c, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	*s = accept(l, NULL, NULL);
	close(l);
	return *s < 0 ? -1 : 0;
}

struct relay_job {
	int a, b, rc;
	char msg[256];	/* the relay thread's error message (kiln_err is per thread) */
	struct kiln_relay_opts o;
	pthread_t t;
};

static void *relay_thread(void *p)
{
	struct relay_job *j = p;

	j->rc = kiln_relay_run(j->a, j->b, &j->o);
	snprintf(j->msg, sizeof(j->msg), "%s", kiln_errmsg());
	return NULL;
}

static void relay_start(struct relay_job *j, int a, int b, const struct kiln_relay_opts *o)
{
	j->a = a;
	j->b = b;
	j->o = o ? *o : (struct kiln_relay_opts){ 0 };
	pthread_create(&j->t, NULL, relay_thread, j);
}

static int relay_join(struct relay_job *j)
{
	pthread_join(j->t, NULL);
	if (j->rc < 0)
		kiln_err(-j->rc, "%s", j->msg);
	return j->rc;
}

/* Deterministic pseudo-random stream. */
static void fill_pattern(uint8_t *buf, size_t n, uint64_t *state)
{
	for (size_t i = 0; i < n; i++) {
		*state = *state * 6364136223846793005ull + 1442695040888963407ull;
		buf[i] = (uint8_t)(*state >> 56);
	}
}

struct sender {
	int fd;
	uint8_t md[32];
	pthread_t t;
};

static void *send_big(void *p)
{
	struct sender *s = p;
	static uint8_t buf[1 << 16];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t st = 42;
	size_t left = BIG;

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while (left) {
		size_t n = left < sizeof(buf) ? left : sizeof(buf), off = 0;

		fill_pattern(buf, n, &st);
		EVP_DigestUpdate(ctx, buf, n);
		while (off < n) {
			ssize_t w = write(s->fd, buf + off, n - off);

			if (w <= 0)
				goto out;
			off += (size_t)w;
		}
		left -= n;
	}
	shutdown(s->fd, SHUT_WR);
out:
	EVP_DigestFinal_ex(ctx, s->md, NULL);
	EVP_MD_CTX_free(ctx);
	return NULL;
}

/* Echo everything until EOF, then half-close: the far end of the relay. */
static void *echo(void *p)
{
	int fd = *(int *)p;
	static uint8_t buf[1 << 16];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));

			if (w <= 0)
				return NULL;
			off += w;
		}
	shutdown(fd, SHUT_WR);
	return NULL;
}

static void big_transfer(bool no_splice)
{
	struct kiln_relay_opts o = { .no_splice = no_splice };
	struct relay_job j;
	struct sender snd;
	pthread_t et;
	int c, a, u[2];
	uint8_t buf[1 << 16], md[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t total = 0, t0 = mono_ms();
	ssize_t n;

	CHECK(tcp_pair(&c, &a) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, u) == 0);
	relay_start(&j, a, u[0], &o);
	pthread_create(&et, NULL, echo, &u[1]);
	snd.fd = c;
	pthread_create(&snd.t, NULL, send_big, &snd);
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((n = read(c, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		total += (uint64_t)n;
	}
	EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
	pthread_join(snd.t, NULL);
	pthread_join(et, NULL);
	CHECK(n == 0);
	CHECK(relay_join(&j) == 0);
	CHECK(total == BIG);
	CHECK(!memcmp(md, snd.md, 32));
	fprintf(stderr, "  %s: 100 MB each way through TCP<->unix relay in %llu ms\n",
		no_splice ? "read/write" : "splice", (unsigned long long)(mono_ms() - t0));
	close(c);
	close(u[1]);
}

/* The fixed send buffer applies to TCP between two of this host's addresses only. */
TEST(host_tcp_buf_within_host_only)
{
	struct kiln_relay_opts o = { .host_tcp_buf = 64 * 1024 };
	struct sockaddr_in from = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1) };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(to);
	int c, s, u[2], v = 0, l;
	char cc[16] = "";
	struct kiln_relay *r;

	/* 127.0.0.1 to 127.0.0.1: the kernel's source is the destination. */
	CHECK(tcp_pair(&c, &s) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, u) == 0);
	CHECK(kiln_relay_new(c, u[0], &o, mono_ms(), &r) == 0);
	len = sizeof(v);
	CHECK(getsockopt(c, SOL_SOCKET, SO_SNDBUF, &v, &len) == 0 && v == 2 * 64 * 1024);
	len = sizeof(cc);
	CHECK(getsockopt(c, IPPROTO_TCP, TCP_CONGESTION, cc, &len) == 0 && !strcmp(cc, "reno"));
	kiln_relay_close(r, false);
	close(s);
	close(u[1]);

	/* From 127.0.0.2: a source other than the destination keeps autotuning. */
	l = socket(AF_INET, SOCK_STREAM, 0);
	len = sizeof(to);
	CHECK(l >= 0 && bind(l, (struct sockaddr *)&to, sizeof(to)) == 0 && listen(l, 1) == 0 &&
	      getsockname(l, (struct sockaddr *)&to, &len) == 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(bind(c, (struct sockaddr *)&from, sizeof(from)) == 0 &&
	      connect(c, (struct sockaddr *)&to, sizeof(to)) == 0);
	s = accept(l, NULL, NULL);
	close(l);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, u) == 0);
	CHECK(kiln_relay_new(c, u[0], &o, mono_ms(), &r) == 0);
	len = sizeof(v);
	CHECK(getsockopt(c, SOL_SOCKET, SO_SNDBUF, &v, &len) == 0 && v != 2 * 64 * 1024);
	kiln_relay_close(r, false);
	close(s);
	close(u[1]);
}

/* A relay adds no Nagle delay: the tail of a message crossing it waited ~40 ms for an ACK. */
TEST(tcp_nodelay)
{
	struct kiln_relay_opts o = { 0 };
	int c, s, u[2], v = 0;
	socklen_t len = sizeof(v);
	struct kiln_relay *r;

	CHECK(tcp_pair(&c, &s) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, u) == 0);
	CHECK(kiln_relay_new(c, u[0], &o, mono_ms(), &r) == 0);
	CHECK(getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 && v == 1);
	kiln_relay_close(r, false);
	close(s);
	close(u[1]);
}

TEST(transfer_100mb_splice)
{
	big_transfer(false);
}

TEST(transfer_100mb_copy)
{
	big_transfer(true);
}

/* Client half-closes after its request; the server still answers. */
TEST(half_close)
{
	struct relay_job j;
	int c, a, s, b;
	char buf[64];
	ssize_t n;

	CHECK(tcp_pair(&c, &a) == 0);
	CHECK(tcp_pair(&b, &s) == 0);
	relay_start(&j, a, b, NULL);
	CHECK(write(c, "request", 7) == 7);
	CHECK(shutdown(c, SHUT_WR) == 0);
	n = read(s, buf, sizeof(buf));
	CHECK(n == 7 && !memcmp(buf, "request", 7));
	CHECK(read(s, buf, sizeof(buf)) == 0); /* the FIN arrived */
	usleep(50 * 1000);
	CHECK(write(s, "reply", 5) == 5); /* the other direction is still open */
	n = read(c, buf, sizeof(buf));
	CHECK(n == 5 && !memcmp(buf, "reply", 5));
	CHECK(shutdown(s, SHUT_WR) == 0);
	CHECK(read(c, buf, sizeof(buf)) == 0);
	CHECK(relay_join(&j) == 0);
	close(c);
	close(s);
}

/* The server resets; the client sees a reset too, promptly. */
TEST(rst_propagation)
{
	struct linger lg = { 1, 0 };
	struct relay_job j;
	int c, a, s, b;
	char buf[16];
	uint64_t t0;

	CHECK(tcp_pair(&c, &a) == 0);
	CHECK(tcp_pair(&b, &s) == 0);
	relay_start(&j, a, b, NULL);
	CHECK(write(c, "x", 1) == 1);
	CHECK(read(s, buf, 1) == 1);
	t0 = mono_ms();
	CHECK(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
	close(s);
	CHECK_ERR(relay_join(&j), "Connection reset");
	errno = 0;
	CHECK(read(c, buf, sizeof(buf)) < 0 && errno == ECONNRESET);
	CHECK(mono_ms() - t0 < 1000);
	close(c);
}

TEST(idle_timeout)
{
	struct kiln_relay_opts o = { .idle_ms = 200 };
	struct relay_job j;
	int c, a, s, b;
	char buf[4];
	uint64_t t0 = mono_ms(), dt;

	CHECK(tcp_pair(&c, &a) == 0);
	CHECK(tcp_pair(&b, &s) == 0);
	relay_start(&j, a, b, &o);
	CHECK_ERR(relay_join(&j), "idle for 200 ms");
	dt = mono_ms() - t0;
	CHECK(dt >= 200 && dt < 1000);
	errno = 0;
	CHECK(read(c, buf, sizeof(buf)) < 0 && errno == ECONNRESET);
	close(c);
	close(s);
}

static int count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/*
 * A direction holds a pipe only while bytes wait in it: bytes the writer
 * takes at once pass through the pool's pipe, so idle flows hold only their
 * sockets, and a pipe that bytes got stuck in goes back once drained.
 */
TEST(pipes_only_while_bytes_wait)
{
	struct kiln_relay_pool pool = { .pipe = { -1, -1 } };
	struct kiln_relay_opts o = { .pool = &pool };
	static uint8_t chunk[256 * 1024];
	struct kiln_relay *r, *r2;
	struct kiln_relay_stats st;
	int c, a, s, b, c2, a2, s2, b2, before, tries;
	size_t sent = 0, got = 0;
	char buf[4];

	CHECK(tcp_pair(&c, &a) == 0);
	CHECK(tcp_pair(&b, &s) == 0);
	CHECK(tcp_pair(&c2, &a2) == 0);
	CHECK(tcp_pair(&b2, &s2) == 0);
	before = count_fds();
	CHECK(kiln_relay_new(a, b, &o, mono_ms(), &r) == 0);
	CHECK(kiln_relay_new(a2, b2, &o, mono_ms(), &r2) == 0);
	CHECK(kiln_relay_step(r, mono_ms()) == 1);
	CHECK(kiln_relay_step(r2, mono_ms()) == 1);
	CHECK(count_fds() == before && pool.pipe[0] < 0); /* idle: no pipe made */
	CHECK(write(s, "pong", 4) == 4);
	usleep(20000);
	CHECK(kiln_relay_step(r, mono_ms()) == 1);
	CHECK(read(c, buf, 4) == 4 && !memcmp(buf, "pong", 4));
	CHECK(count_fds() == before + 2 && pool.pipe[0] >= 0); /* passed through, now pooled */
	kiln_relay_stats(r, &st);
	CHECK(st.spliced[1] && !st.spliced[0] && st.bytes[1] == 4);

	/* c reads nothing: bytes back up into the pipe, which r then holds. */
	CHECK(fcntl(s, F_SETFL, O_NONBLOCK) == 0);
	for (tries = 0; tries < 200 && pool.pipe[0] >= 0; tries++) {
		ssize_t n = write(s, chunk, sizeof(chunk));

		sent += n > 0 ? (size_t)n : 0;
		CHECK(kiln_relay_step(r, mono_ms()) == 1);
	}
	CHECK(pool.pipe[0] < 0 && count_fds() == before + 2);
	/* r2 needs a pipe of its own meanwhile */
	CHECK(write(s2, "ping", 4) == 4);
	usleep(20000);
	CHECK(kiln_relay_step(r2, mono_ms()) == 1);
	CHECK(read(c2, buf, 4) == 4 && !memcmp(buf, "ping", 4));
	CHECK(count_fds() == before + 4 && pool.pipe[0] >= 0);
	/* c drains everything: r gives its pipe back; the pool has one, so it is closed */
	CHECK(fcntl(c, F_SETFL, O_NONBLOCK) == 0);
	for (tries = 0; tries < 100000 && got < sent; tries++) {
		ssize_t n = read(c, chunk, sizeof(chunk));

		got += n > 0 ? (size_t)n : 0;
		CHECK(kiln_relay_step(r, mono_ms()) == 1);
	}
	CHECK(got == sent);
	CHECK(count_fds() == before + 2 && pool.pipe[0] >= 0);

	shutdown(c, SHUT_WR); /* EOF with nothing queued: no pipe held */
	usleep(20000);
	CHECK(kiln_relay_step(r, mono_ms()) == 1);
	CHECK(count_fds() == before + 2);
	kiln_relay_stats(r, &st);
	CHECK(st.closed[0] && !st.closed[1]);
	CHECK(read(s, buf, 4) == 0);
	kiln_relay_close(r, false);
	kiln_relay_close(r2, false);
	CHECK(count_fds() == before - 4 + 2); /* a, b, a2, b2 closed; the pool's pipe stays */
	kiln_relay_pool_free(&pool);
	CHECK(count_fds() == before - 4);
	close(c);
	close(s);
	close(c2);
	close(s2);
}

/* No fd left for a pipe: the direction copies through its buffer instead of failing. */
TEST(no_fd_for_a_pipe)
{
	struct kiln_relay *r;
	struct kiln_relay_stats st;
	struct rlimit old, low;
	static int spare[1024];
	int c, a, s, b, top = 0, n_spare = 0;
	char buf[4];

	CHECK(tcp_pair(&c, &a) == 0);
	CHECK(tcp_pair(&b, &s) == 0);
	CHECK(kiln_relay_new(a, b, NULL, mono_ms(), &r) == 0);
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			top = fd;
	CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
	low = old;
	low.rlim_cur = (rlim_t)top + 1;
	CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
	while (n_spare < 1024 && (spare[n_spare] = dup(c)) >= 0) /* fill the holes below */
		n_spare++;
	CHECK(write(s, "pong", 4) == 4);
	usleep(20000);
	CHECK(kiln_relay_step(r, mono_ms()) == 1);
	CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
	while (n_spare)
		close(spare[--n_spare]);
	CHECK(read(c, buf, 4) == 4 && !memcmp(buf, "pong", 4));
	kiln_relay_stats(r, &st);
	CHECK(st.bytes[1] == 4 && !st.spliced[1]);
	kiln_relay_close(r, false);
	close(c);
	close(s);
}

/* Many flows on one edge-triggered epoll, one state machine each. */
TEST(many_flows_one_loop)
{
	enum { N = 300, MSG = 3000 };
	static int far[N], near[N];
	static struct kiln_relay *r[N];
	int ep = epoll_create1(0), live = 0, finished = 0;
	uint8_t msg[MSG], got[MSG + 1];

	memset(msg, 'k', sizeof(msg));
	for (int i = 0; i < N; i++) {
		int p[2], q[2];

		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, p) == 0);
		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, q) == 0);
		near[i] = p[0];
		far[i] = q[1];
		CHECK(kiln_relay_new(p[1], q[0], NULL, mono_ms(), &r[i]) == 0);
		for (int k = 0; k < 2; k++) {
			struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
						  .data.u32 = (uint32_t)i };

			CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, kiln_relay_fd(r[i], k), &ev) == 0);
		}
		CHECK(write(near[i], msg, MSG) == MSG);
		CHECK(shutdown(near[i], SHUT_WR) == 0);
		CHECK(shutdown(far[i], SHUT_WR) == 0);
		live++;
	}
	while (live) {
		struct epoll_event ev[64];
		int n = epoll_wait(ep, ev, 64, 2000);

		CHECK(n > 0);
		if (n <= 0)
			break;
		for (int e = 0; e < n; e++) {
			int i = (int)ev[e].data.u32, rc;

			if (!r[i])
				continue;
			rc = kiln_relay_step(r[i], mono_ms());
			CHECK(rc >= 0);
			if (rc <= 0) {
				struct kiln_relay_stats st;

				kiln_relay_stats(r[i], &st);
				CHECK(st.bytes[0] == MSG && st.bytes[1] == 0 && st.spliced[0]);
				CHECK(st.closed[0] && st.closed[1]);
				kiln_relay_close(r[i], rc < 0);
				r[i] = NULL;
				live--;
				finished += rc == 0;
			}
		}
	}
	CHECK(finished == N);
	for (int i = 0; i < N; i++) {
		size_t have = 0;
		ssize_t n;

		while ((n = read(far[i], got + have, sizeof(got) - have)) > 0)
			have += (size_t)n;
		CHECK(have == MSG && !memcmp(got, msg, MSG));
		CHECK(read(near[i], got, 1) == 0);
		close(far[i]);
		close(near[i]);
	}
	close(ep);
}

/*
 * copy_small: small bursts pass through the stack buffer (no pipe made), a
 * bulk burst still arrives whole and in order, and bytes the writer refuses
 * wait in a pipe without reordering.
 */
TEST(copy_small_bursts)
{
	struct kiln_relay_pool pool = { .pipe = { -1, -1 } };
	struct kiln_relay_opts o = { .pool = &pool, .copy_small = 16 * 1024 };
	static uint8_t out[1 << 20], in[1 << 20];
	struct kiln_relay *r;
	int c, a, s, b, before;
	size_t sent = 0, got = 0;
	char buf[4];

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7 + i / 251);
	CHECK(tcp_pair(&c, &a) == 0);
	CHECK(tcp_pair(&b, &s) == 0);
	before = count_fds();
	CHECK(kiln_relay_new(a, b, &o, mono_ms(), &r) == 0);
	CHECK(write(s, "pong", 4) == 4);
	usleep(20000);
	CHECK(kiln_relay_step_ev(r, mono_ms(), EPOLLIN) == 1);
	CHECK(read(c, buf, 4) == 4 && !memcmp(buf, "pong", 4));
	CHECK(count_fds() == before && pool.pipe[0] < 0); /* copied: no pipe made */

	/* c reads nothing while s sends 1 MiB: what b's writer refuses waits, in order */
	CHECK(fcntl(s, F_SETFL, O_NONBLOCK) == 0);
	CHECK(fcntl(c, F_SETFL, O_NONBLOCK) == 0);
	for (int tries = 0; tries < 100000 && got < sizeof(in); tries++) {
		ssize_t n = sent < sizeof(out) ? write(s, out + sent, sizeof(out) - sent) : 0;

		sent += n > 0 ? (size_t)n : 0;
		CHECK(kiln_relay_step(r, mono_ms()) == 1);
		if (tries > 50) { /* let the queues fill first, then drain */
			n = read(c, in + got, sizeof(in) - got);
			got += n > 0 ? (size_t)n : 0;
		}
	}
	CHECK(got == sizeof(in) && !memcmp(in, out, sizeof(in)));
	kiln_relay_close(r, false);
	kiln_relay_pool_free(&pool);
	close(c);
	close(s);
}

/*
 * kiln_relay_step_fd: an event for fd a steps only a->b (and any direction
 * with bytes queued); b's bytes wait for b's own event, and none are lost.
 */
TEST(step_fd_skips_idle_direction)
{
	struct kiln_relay_opts o = { .copy_small = 16 * 1024 };
	struct kiln_relay_stats st;
	struct kiln_relay *r;
	int c, a, s, b;
	char buf[4];

	CHECK(tcp_pair(&c, &a) == 0);
	CHECK(tcp_pair(&b, &s) == 0);
	CHECK(kiln_relay_new(a, b, &o, mono_ms(), &r) == 0);
	CHECK(write(c, "ping", 4) == 4);
	CHECK(write(s, "pong", 4) == 4);
	usleep(20000);
	CHECK(kiln_relay_step_fd(r, mono_ms(), 0, EPOLLIN) == 1);
	kiln_relay_stats(r, &st);
	CHECK(st.bytes[0] == 4 && st.bytes[1] == 0); /* b's bytes not read yet */
	CHECK(kiln_relay_step_fd(r, mono_ms(), 1, EPOLLIN) == 1);
	kiln_relay_stats(r, &st);
	CHECK(st.bytes[0] == 4 && st.bytes[1] == 4);
	CHECK(read(s, buf, 4) == 4 && !memcmp(buf, "ping", 4));
	CHECK(read(c, buf, 4) == 4 && !memcmp(buf, "pong", 4));
	kiln_relay_close(r, false);
	close(c);
	close(s);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(host_tcp_buf_within_host_only);
	RUN(tcp_nodelay);
	RUN(half_close);
	RUN(rst_propagation);
	RUN(idle_timeout);
	RUN(pipes_only_while_bytes_wait);
	RUN(no_fd_for_a_pipe);
	RUN(copy_small_bursts);
	RUN(step_fd_skips_idle_direction);
	RUN(many_flows_one_loop);
	RUN(transfer_100mb_splice);
	RUN(transfer_100mb_copy);
	return t_done();
}

