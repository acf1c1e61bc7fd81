/* SPDX-License-Identifier: Apache-2.0 */
/* Test tool: open and hold many TCP connections, each confirmed end to end by a greeting byte. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * usage: tcp_hold serve IP PORT
 *          accept forever; write one byte 'k' to every client and keep it open
 *          until the client sends EOF (or anything)
 *        tcp_hold open IP PORT N WINDOW HOLD_S
 *          one warm-up connection, "baseline" on stdout, 3 s pause, then N
 *          connections with at most WINDOW awaiting their greeting; a
 *          connection counts as held once its greeting arrived (so the
 *          whole path, down to the server's accept, exists). Prints
 *          "held N in MS ms", holds HOLD_S seconds, closes all, "released".
 * Both raise RLIMIT_NOFILE to the hard limit. Exits 1 with a line on error.
 */

static void die(const char *what)
{
	fprintf(stderr, "tcp_hold: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		fprintf(stderr, "tcp_hold: RLIMIT_NOFILE %llu\n", (unsigned long long)rl.rlim_cur);
	}
}

static struct sockaddr_in addr_of(const char *ip, const char *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };

	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		fprintf(stderr, "tcp_hold: bad IPv4 address %s\n", ip);
		exit(2);
	}
	return a;
}

static void __attribute__((noreturn)) serve(struct sockaddr_in a)
{
	int one = 1, l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = l }, evs[256];
	unsigned long n = 0;

	if (l < 0)
		die("socket");
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4096) < 0)
		die("bind/listen");
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) < 0)
		die("epoll");
	for (;;) {
		int k = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < k; i++) {
			int c = evs[i].data.fd;
			char b[64];

			if (c != l) { /* EOF or bytes: the client is done */
				if (read(c, b, sizeof(b)) <= 0)
					close(c);
				continue;
			}
			while ((c = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
				struct epoll_event cev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = c };

				if (write(c, "k", 1) != 1 || epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0)
					close(c);
				else if (++n % 1000 == 0)
					fprintf(stderr, "tcp_hold: %lu accepted\n", n);
			}
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				die("accept");
		}
	}
}

static int dial(int ep, const struct sockaddr_in *a)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };

	if (s < 0)
		die("socket");
	if (connect(s, (const struct sockaddr *)a, sizeof(*a)) < 0 && errno != EINPROGRESS)
		die("connect");
	ev.data.fd = s;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) < 0)
		die("epoll_ctl");
	return s;
}

/* Wait for greetings until at most `left` connections are still waiting. */
static void greetings(int ep, long *waiting, long left)
{
	struct epoll_event ev[256];

	while (*waiting > left) {
		int n = epoll_wait(ep, ev, 256, 30000);

		if (n == 0) {
			fprintf(stderr, "tcp_hold: no greeting for 30 s (%ld waiting)\n", *waiting);
			exit(1);
		}
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			char b;

			if (read(ev[i].data.fd, &b, 1) != 1 || b != 'k') {
				fprintf(stderr, "tcp_hold: connection %ld lost before its greeting: %s\n",
					*waiting, strerror(errno));
				exit(1);
			}
			epoll_ctl(ep, EPOLL_CTL_DEL, ev[i].data.fd, NULL);
			(*waiting)--;
		}
	}
}

static int hold(struct sockaddr_in a, long n, long window, unsigned hold_s)
{
	int ep = epoll_create1(EPOLL_CLOEXEC), *fds = calloc((size_t)n + 1, sizeof(int));
	long waiting = 0;
	uint64_t t0;

	if (ep < 0 || !fds)
		die("setup");
	fds[n] = dial(ep, &a);
	waiting = 1;
	greetings(ep, &waiting, 0);
	printf("baseline\n");
	fflush(stdout);
	sleep(3);
	t0 = now_ms();
	for (long i = 0; i < n; i++) {
		fds[i] = dial(ep, &a);
		waiting++;
		greetings(ep, &waiting, window - 1);
	}
	greetings(ep, &waiting, 0);
	printf("held %ld in %llu ms\n", n, (unsigned long long)(now_ms() - t0));
	fflush(stdout);
	sleep(hold_s);
	for (long i = 0; i <= n; i++)
		close(fds[i]);
	printf("released\n");
	return 0;
}

int main(int argc, char **argv)
{
	raise_nofile();
	if (argc == 4 && !strcmp(argv[1], "serve"))
		serve(addr_of(argv[2], argv[3]));
	if (argc == 7 && !strcmp(argv[1], "open") && atol(argv[4]) > 0 && atol(argv[5]) > 0)
		return hold(addr_of(argv[2], argv[3]), atol(argv[4]), atol(argv[5]),
			    (unsigned)atoi(argv[6]));
	fprintf(stderr, "usage: tcp_hold serve IP PORT | open IP PORT N WINDOW HOLD_S\n");
	return 2;
}
