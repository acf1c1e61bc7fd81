/* SPDX-License-Identifier: Apache-2.0 */
/* Test tool: a request ended by shutdown(SHUT_WR), answered only after the server saw EOF. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * usage: tcp_halfclose serve IP PORT
 *          per client: read to EOF, then reply "got N bytes: TEXT" and close
 *        tcp_halfclose ask IP PORT TEXT
 *          send TEXT, shutdown(SHUT_WR), print the whole reply (read to EOF)
 * Exits 1 with a line on error.
 */

static void die(const char *what)
{
	fprintf(stderr, "tcp_halfclose: %s: %s\n", what, strerror(errno));
	exit(1);
}

static struct sockaddr_in addr_of(const char *ip, const char *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };

	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		fprintf(stderr, "tcp_halfclose: bad IPv4 address %s\n", ip);
		exit(2);
	}
	return a;
}

/* Read to EOF into buf (NUL-terminated, truncated to cap - 1); returns the byte count. */
static size_t read_all(int fd, char *buf, size_t cap)
{
	size_t got = 0;

	for (;;) {
		char tmp[4096];
		ssize_t n = read(fd, tmp, sizeof(tmp));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read");
		if (n == 0)
			break;
		if (got < cap - 1)
			memcpy(buf + got, tmp, (size_t)n < cap - 1 - got ? (size_t)n : cap - 1 - got);
		got += (size_t)n;
	}
	buf[got < cap - 1 ? got : cap - 1] = '\0';
	return got;
}

static void __attribute__((noreturn)) serve(struct sockaddr_in a)
{
	int one = 1, l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (l < 0)
		die("socket");
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 64) < 0)
		die("bind/listen");
	for (;;) {
		char req[256], reply[320];
		int c = accept4(l, NULL, NULL, SOCK_CLOEXEC), len;
		size_t n;

		if (c < 0)
			continue;
		n = read_all(c, req, sizeof(req));
		len = snprintf(reply, sizeof(reply), "got %zu bytes: %s", n, req);
		if (write(c, reply, (size_t)len) != len)
			fprintf(stderr, "tcp_halfclose: reply: %s\n", strerror(errno));
		close(c);
	}
}

static int ask(struct sockaddr_in a, const char *text)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char reply[512];

	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	if (write(s, text, strlen(text)) != (ssize_t)strlen(text))
		die("write");
	if (shutdown(s, SHUT_WR) < 0)
		die("shutdown");
	read_all(s, reply, sizeof(reply));
	printf("reply: %s\n", reply);
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "serve"))
		serve(addr_of(argv[2], argv[3]));
	if (argc == 5 && !strcmp(argv[1], "ask"))
		return ask(addr_of(argv[2], argv[3]), argv[4]);
	fprintf(stderr, "usage: tcp_halfclose serve IP PORT | ask IP PORT TEXT\n");
	return 2;
}
