/* SPDX-License-Identifier: Apache-2.0 */
/* REDIRECT for real: install the nat rule in a fresh netns, connect anywhere, read SO_ORIGINAL_DST. */
#include "t.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "net/redirect.h"
#include "util/cleanup.h"

/*
 * Without arguments the test enters a new network namespace itself (root
 * only; otherwise it skips with 77), so it never touches the host's
 * tables. tests/integration/net_redirect.sh runs it with --in-netns inside
 * `unshare -n` and then compares with iptables-legacy's own view, and uses
 * --install / --present FAMILY PORT to check byte equality with the CLI.
 */

#define PORT 15001

static int listener(int family, uint16_t port)
{
	int s = socket(family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	int one = 1;

	if (s < 0)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a6.sin6_addr = in6addr_loopback;
	if ((family == 4 ? bind(s, (struct sockaddr *)&a4, sizeof(a4))
			 : bind(s, (struct sockaddr *)&a6, sizeof(a6))) < 0 ||
	    listen(s, 16) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static int dial(const char *ip, uint16_t port)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	bool v6 = strchr(ip, ':') != NULL;
	int s = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc;

	if (s < 0)
		return -errno;
	if (v6) {
		inet_pton(AF_INET6, ip, &a6.sin6_addr);
		rc = connect(s, (struct sockaddr *)&a6, sizeof(a6));
	} else {
		inet_pton(AF_INET, ip, &a4.sin_addr);
		rc = connect(s, (struct sockaddr *)&a4, sizeof(a4));
	}
	if (rc < 0) {
		rc = -errno;
		close(s);
		return rc;
	}
	return s;
}

/*
 * The reply direction: the listener's bytes and its RST must reach the
 * client. Both leave from the listener's loopback address to the client's
 * source address; without a non-loopback address on lo (192.0.0.8 in an
 * enclave) that source is 127.0.0.1 and the kernel drops them, so the
 * handshake and client->server bytes work and every reply is lost. Closes a.
 */
static void replies(int c, int a)
{
	struct timeval tv = { .tv_sec = 2 };
	struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	char buf[8] = { 0 };
	ssize_t n;

	CHECK(setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
	CHECK(write(a, "pong", 4) == 4);
	n = read(c, buf, sizeof(buf));
	if (n != 4)
		fprintf(stderr, "  reply: read %zd (%s)\n", n, n < 0 ? strerror(errno) : "short");
	CHECK(n == 4 && !memcmp(buf, "pong", 4));
	CHECK(setsockopt(a, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst)) == 0);
	close(a);
	n = read(c, buf, sizeof(buf));
	if (n >= 0 || errno != ECONNRESET)
		fprintf(stderr, "  RST: read %zd (%s)\n", n, n < 0 ? strerror(errno) : "no error");
	CHECK(n < 0 && errno == ECONNRESET);
}

static void through(int family, const char *dst, uint16_t dport, const char *want)
{
	_cleanup_close_ int l = listener(family, PORT);
	_cleanup_close_ int c = -1, a = -1;
	struct kiln_ip ip;
	char txt[KILN_IP_STRLEN], buf[8] = { 0 };
	uint16_t port = 0;

	CHECK(l >= 0);
	c = dial(dst, dport);
	CHECK(c >= 0);
	if (c < 0) {
		fprintf(stderr, "connect %s: %s\n", dst, strerror(-c));
		return;
	}
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	CHECK(a >= 0);
	CHECK(kiln_original_dst(a, &ip, &port) == 0);
	kiln_ip_format(&ip, txt);
	fprintf(stderr, "  %s:%u arrived at the listener, original destination %s:%u\n", dst,
		dport, txt, port);
	CHECK(!strcmp(txt, want));
	CHECK(port == dport);
	CHECK(write(c, "ping", 4) == 4);
	CHECK(read(a, buf, sizeof(buf)) == 4 && !memcmp(buf, "ping", 4));
	replies(c, a);
	a = -1; /* replies() closed it with a RST */
}

TEST(redirect_v4)
{
	const struct kiln_ip dummy = { .family = 4, .a = { 192, 0, 0, 8 } };
	_cleanup_close_ int c = -1;

	CHECK(kiln_route_default_lo(4) == 0);
	CHECK(kiln_route_default_lo(4) == 0); /* idempotent */
	/* as kiln-init does: without it every reply below is dropped (replies()) */
	CHECK(kiln_lo_addr_add(&dummy) == 0);
	CHECK(kiln_lo_addr_add(&dummy) == 0); /* idempotent */
	CHECK(kiln_redirect_present(4, PORT) == 0);
	CHECK(kiln_redirect_install(4, PORT) == 1);
	CHECK(kiln_redirect_install(4, PORT) == 0);
	CHECK(kiln_redirect_present(4, PORT) == 1);
	CHECK(kiln_redirect_present(4, PORT + 1) == 0);
	through(4, "10.1.2.3", 80, "10.1.2.3");
	through(4, "192.0.2.200", 443, "192.0.2.200");
	/* loopback is not redirected: nothing listens on 127.0.0.2:80 */
	c = dial("127.0.0.2", 80);
	CHECK(c == -ECONNREFUSED);
}

TEST(redirect_v6)
{
	int rc = kiln_route_default_lo(6);

	if (rc < 0) {
		fprintf(stderr, "  no IPv6 here (%s): skipped\n", kiln_errmsg());
		return;
	}
	CHECK(kiln_redirect_install(6, PORT) == 1);
	CHECK(kiln_redirect_install(6, PORT) == 0);
	CHECK(kiln_redirect_present(6, PORT) == 1);
	through(6, "2001:db8::1", 443, "2001:db8::1");
	through(6, "64:ff9b::a01:203", 8080, "64:ff9b::a01:203");
}

/* Accept on l at once or report nothing there (non-blocking). */
static int accept_now(int l)
{
	struct timeval tv = { .tv_usec = 0 };
	fd_set r;

	FD_ZERO(&r);
	FD_SET(l, &r);
	/* The handshake is complete before connect() returns on lo: no waiting. */
	if (select(l + 1, &r, NULL, NULL, &tv) != 1)
		return -1;
	return accept4(l, NULL, NULL, SOCK_CLOEXEC);
}

static int listener_any(int family, uint16_t port)
{
	int s = socket(family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	int one = 1;

	if (s < 0)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == 6)
		setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if ((family == 4 ? bind(s, (struct sockaddr *)&a4, sizeof(a4))
			 : bind(s, (struct sockaddr *)&a6, sizeof(a6))) < 0 ||
	    listen(s, 16) < 0) {
		close(s);
		return -1;
	}
	return s;
}

/*
 * The enclave's own address (kiln-init's ingress target): without the
 * exemption a connection to it is REDIRECTed to the egress listener; with
 * it, it reaches the listener on the wildcard address, and other
 * destinations are still redirected.
 */
static void exempt(const struct kiln_ip *ip, const char *txt, const char *other)
{
	_cleanup_close_ int egress = listener(ip->family, PORT);
	_cleanup_close_ int app = listener_any(ip->family, 8080);
	_cleanup_close_ int c = -1, a = -1;

	CHECK(egress >= 0 && app >= 0);
	CHECK(kiln_lo_addr_add(ip) == 0);
	c = dial(txt, 8080);
	CHECK(c >= 0);
	a = accept_now(egress);
	CHECK(a >= 0); /* captured: this is what the exemption prevents */
	close(a);
	close(c);
	CHECK(kiln_redirect_exempt_present(ip) == 0);
	CHECK(kiln_redirect_exempt(ip) == 1);
	CHECK(kiln_redirect_exempt(ip) == 0);
	CHECK(kiln_redirect_exempt_present(ip) == 1);
	CHECK(kiln_redirect_present(ip->family, PORT) == 1); /* still there, after it */
	c = dial(txt, 8080);
	CHECK(c >= 0);
	a = accept_now(app);
	CHECK(a >= 0);
	CHECK(accept_now(egress) < 0);
	close(a);
	close(c);
	a = -1;
	c = -1;
	close(egress);
	egress = -1;
	through(ip->family, other, 443, other);
}

TEST(exempt_v4)
{
	exempt(&(struct kiln_ip){ .family = 4, .a = { 192, 0, 0, 8 } }, "192.0.0.8", "10.9.8.7");
}

TEST(exempt_v6)
{
	const struct kiln_ip ip = { .family = 6, .a = { 0xfd, 0x6b, 0x69, 0x6c, 0x6e, 0, 0, 0, 0,
							0, 0, 0, 0, 0, 0, 8 } };

	if (kiln_redirect_present(6, PORT) != 1) {
		fprintf(stderr, "  no IPv6 here: skipped\n");
		return;
	}
	exempt(&ip, "fd6b:696c:6e00::8", "2001:db8::9");
}

TEST(bad_args)
{
	struct kiln_ip ip;
	uint16_t port;
	int fds[2];

	CHECK_ERR(kiln_redirect_install(5, PORT), "bad family");
	CHECK_ERR(kiln_redirect_install(4, 0), "bad family 4 or port 0");
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
	CHECK_ERR(kiln_original_dst(fds[0], &ip, &port), "SO_ORIGINAL_DST");
	close(fds[0]);
	close(fds[1]);
}

int main(int argc, char **argv)
{
	if (argc == 4 && (!strcmp(argv[1], "--present") || !strcmp(argv[1], "--install"))) {
		int fam = atoi(argv[2]), port = atoi(argv[3]);
		int rc = !strcmp(argv[1], "--present") ? kiln_redirect_present(fam, (uint16_t)port)
						      : kiln_redirect_install(fam, (uint16_t)port);

		if (rc < 0)
			fprintf(stderr, "%s\n", kiln_errmsg());
		printf("%d\n", rc);
		return rc < 0 ? 2 : 0;
	}
	if (argc == 3 && (!strcmp(argv[1], "--exempt-present") || !strcmp(argv[1], "--exempt"))) {
		struct kiln_ip ip;
		int rc = kiln_ip_parse(argv[2], &ip);

		if (rc == 0)
			rc = !strcmp(argv[1], "--exempt") ? kiln_redirect_exempt(&ip)
							 : kiln_redirect_exempt_present(&ip);
		if (rc < 0)
			fprintf(stderr, "%s\n", kiln_errmsg());
		printf("%d\n", rc);
		return rc < 0 ? 2 : 0;
	}
	if (argc < 2 || strcmp(argv[1], "--in-netns")) {
		if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
			printf("SKIP: needs root to create a network namespace\n");
			return 77;
		}
	}
	if (kiln_lo_up() < 0 || kiln_redirect_present(4, PORT) < 0) {
		printf("SKIP: no iptables-legacy nat table here: %s\n", kiln_errmsg());
		return 77;
	}
	RUN(redirect_v4);
	RUN(redirect_v6);
	RUN(exempt_v4);
	RUN(exempt_v6);
	RUN(bad_args);
	return t_done();
}
