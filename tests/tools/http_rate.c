/* SPDX-License-Identifier: Apache-2.0 */
/* Bench tool: HTTP/1.0 connection rate and per-request latency with N concurrent clients. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * usage: http_rate IP PORT CONCURRENCY SECONDS
 * Each of CONCURRENCY clients loops: connect, send "GET / HTTP/1.0", read
 * the response to EOF (the server closes), close. A request's latency runs
 * from connect() to that EOF, so it covers the whole connection. New
 * requests start for SECONDS; the ones in flight then are finished (and in
 * the latencies) but the rate counts only those completed within SECONDS.
 * Prints
 *   rate R/s p50 P us p99 Q us ok N err E
 * on stdout. A failed connection (refused, reset, no bytes) counts as err
 * and is not in the latencies. Exits 1 only on a setup error.
 */

#define REQ "GET / HTTP/1.0\r\nHost: bench\r\n\r\n"

struct client {
	int fd;
	bool sent, got;
	uint64_t t0;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void die(const char *what)
{
	fprintf(stderr, "http_rate: %s: %s\n", what, strerror(errno));
	exit(1);
}

static struct {
	uint32_t *v;
	size_t n, cap;
	uint64_t err, in_window;	/* in_window: completed before the deadline */
	uint64_t deadline;
} lat;

static void record(uint64_t t0)
{
	uint64_t t = now_us(), us = t - t0;

	lat.in_window += t < lat.deadline;
	if (lat.n == lat.cap) {
		lat.cap = lat.cap ? lat.cap * 2 : 65536;
		lat.v = realloc(lat.v, lat.cap * sizeof(*lat.v));
		if (!lat.v)
			die("realloc");
	}
	lat.v[lat.n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void start(int ep, struct client *c, const struct sockaddr_in *sa)
{
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.ptr = c };

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket");
	c->sent = c->got = false;
	c->t0 = now_us();
	if (connect(c->fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 && errno != EINPROGRESS)
		die("connect");
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		die("epoll_ctl");
}

/* true when this request is over (fd closed). */
static bool step(int ep, struct client *c, uint32_t events)
{
	char buf[16384];
	ssize_t n;

	if (!c->sent && (events & EPOLLOUT) && !(events & EPOLLERR)) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };

		if (send(c->fd, REQ, sizeof(REQ) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(REQ) - 1)
			goto fail;
		c->sent = true;
		(void)epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		return false;
	}
	if (events & EPOLLERR)
		goto fail;
	while ((n = recv(c->fd, buf, sizeof(buf), 0)) > 0)
		c->got = true;
	if (n < 0 && errno == EAGAIN)
		return false;
	if (n < 0 || !c->got)
		goto fail;
	record(c->t0);
	close(c->fd);
	return true;
fail:
	lat.err++;
	close(c->fd);
	return true;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint32_t pct(double p)
{
	size_t i = (size_t)(p * (double)(lat.n - 1) + 0.5);

	return lat.n ? lat.v[i] : 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct epoll_event evs[256];
	struct client *cl;
	int ep, conc, secs, live = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: http_rate IP PORT CONCURRENCY SECONDS\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	conc = atoi(argv[3]);
	secs = atoi(argv[4]);
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1 || conc < 1 || secs < 1) {
		fprintf(stderr, "http_rate: bad arguments\n");
		return 2;
	}
	cl = calloc((size_t)conc, sizeof(*cl));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!cl || ep < 0)
		die("setup");
	lat.deadline = now_us() + (uint64_t)secs * 1000000;
	for (int i = 0; i < conc; i++, live++)
		start(ep, &cl[i], &sa);
	while (live > 0) {
		int n = epoll_wait(ep, evs, 256, 1000);

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct client *c = evs[i].data.ptr;

			if (!step(ep, c, evs[i].events))
				continue;
			if (now_us() < lat.deadline)
				start(ep, c, &sa);
			else
				live--;
		}
	}
	qsort(lat.v, lat.n, sizeof(*lat.v), cmp_u32);
	printf("rate %.0f/s p50 %u us p99 %u us ok %zu err %llu\n",
	       (double)lat.in_window / secs, pct(0.50), pct(0.99), lat.n,
	       (unsigned long long)lat.err);
	return 0;
}
