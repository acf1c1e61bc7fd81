/* SPDX-License-Identifier: Apache-2.0 */
/* Test tool for the guest lab: open AF_VSOCK, or echo/dial over it (no socat needed in a guest). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

/*
 * Usage:
 *   vsock_probe socket            prints "vsock: ok" or "vsock: denied: ERR"; exit 0 / 1
 *   vsock_probe echo PORT         serve one connection on vsock ANY:PORT, echo it back
 *   vsock_probe dial CID PORT MSG send MSG, print what comes back; exit 0 when equal
 *   vsock_probe splice PORT       over a loopback pair on PORT: can this kernel splice from
 *                                 and to a vsock socket? prints "splice from vsock: ok" or
 *                                 the errno, the same for "to", and the vsock buffer
 *                                 size kept of 1 MiB asked; exit 0 when both splices worked
 * Exit 2 on bad usage.
 */

static int num(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *v > max) {
		fprintf(stderr, "vsock_probe: bad number \"%s\"\n", s);
		return -1;
	}
	return 0;
}

static int probe_socket(void)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd < 0) {
		printf("vsock: denied: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	printf("vsock: ok\n");
	return 0;
}

static int echo(unsigned long port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
				 .svm_port = (unsigned)port };
	char buf[4096];
	ssize_t n;
	int s = socket(AF_VSOCK, SOCK_STREAM, 0), c;

	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 1) < 0) {
		fprintf(stderr, "vsock_probe: listen on port %lu: %s\n", port, strerror(errno));
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	c = accept(s, NULL, NULL);
	if (c < 0) {
		fprintf(stderr, "vsock_probe: accept: %s\n", strerror(errno));
		return 1;
	}
	while ((n = read(c, buf, sizeof(buf))) > 0)
		if (write(c, buf, (size_t)n) != n)
			return 1;
	return 0;
}

static int dial(unsigned long cid, unsigned long port, const char *msg)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = (unsigned)cid,
				 .svm_port = (unsigned)port };
	size_t len = strlen(msg), got = 0;
	char buf[4096];
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (len >= sizeof(buf)) {
		fprintf(stderr, "vsock_probe: message too long\n");
		return 2;
	}
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "vsock_probe: connect vsock:%lu:%lu: %s\n", cid, port,
			strerror(errno));
		return 1;
	}
	if (write(s, msg, len) != (ssize_t)len)
		return 1;
	shutdown(s, SHUT_WR);
	while (got < sizeof(buf) - 1) {
		ssize_t n = read(s, buf + got, sizeof(buf) - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	printf("%s\n", buf);
	return got == len && !memcmp(buf, msg, len) ? 0 : 1;
}

/* A connected pair over vsock:1:PORT (VMADDR_CID_LOCAL); 0 or -1. */
static int pair(unsigned long port, int *c, int *s)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
				 .svm_port = (unsigned)port };
	int l = socket(AF_VSOCK, SOCK_STREAM, 0);

	*c = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (l < 0 || *c < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0)
		return -1;
	a.svm_cid = VMADDR_CID_LOCAL;
	if (connect(*c, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	*s = accept(l, NULL, NULL);
	close(l);
	return *s < 0 ? -1 : 0;
}

/* What the kernel keeps of the 1 MiB vsock buffer the relays ask for (CHAN_BUF, src/net/evloop.c). */
static void buffer(int fd)
{
	unsigned long long want = 1u << 20, got = 0;
	socklen_t len = sizeof(got);

	if (setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_MAX_SIZE, &want, sizeof(want)) < 0 ||
	    setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &want, sizeof(want)) < 0 ||
	    getsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &got, &len) < 0)
		printf("vsock buffer 1 MiB: %s\n", strerror(errno));
	else
		printf("vsock buffer 1 MiB: got %llu\n", got);
}

static int try_splice(unsigned long port)
{
	int c, s, p[2], bad = 0;
	ssize_t n;

	if (pair(port, &c, &s) < 0 || pipe(p) < 0) {
		fprintf(stderr, "vsock_probe: vsock pair on port %lu: %s\n", port, strerror(errno));
		return 1;
	}
	if (write(c, "0123456789", 10) != 10)
		return 1;
	buffer(s);
	n = splice(s, NULL, p[1], NULL, 10, 0);
	printf("splice from vsock: %s\n", n == 10 ? "ok" : n < 0 ? strerror(errno) : "short");
	bad |= n != 10;
	if (n != 10 && write(p[1], "0123456789", 10) != 10)
		return 1;
	n = splice(p[0], NULL, s, NULL, 10, 0);
	printf("splice to vsock: %s\n", n == 10 ? "ok" : n < 0 ? strerror(errno) : "short");
	bad |= n != 10;
	return bad;
}

int main(int argc, char **argv)
{
	unsigned long cid, port;

	if (argc == 2 && !strcmp(argv[1], "socket"))
		return probe_socket();
	if (argc == 3 && !strcmp(argv[1], "echo"))
		return num(argv[2], UINT32_MAX, &port) < 0 ? 2 : echo(port);
	if (argc == 5 && !strcmp(argv[1], "dial"))
		return num(argv[2], UINT32_MAX, &cid) < 0 || num(argv[3], UINT32_MAX, &port) < 0 ?
			2 : dial(cid, port, argv[4]);
	if (argc == 3 && !strcmp(argv[1], "splice"))
		return num(argv[2], UINT32_MAX, &port) < 0 ? 2 : try_splice(port);
	fprintf(stderr, "usage: vsock_probe socket | echo PORT | dial CID PORT MSG | splice PORT\n");
	return 2;
}
