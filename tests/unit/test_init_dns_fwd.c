/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's DNS forwarder against a TCP client that stops reading: each query has one owner. */
#include "t.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init/net.h"
#include "util/bytebuf.h"

/*
 * The forwarder binds 127.0.0.1:53, so the test runs in a network
 * namespace of its own (a user namespace too when not root; skipped where
 * neither is allowed). This process plays the app's TCP client and the
 * parent's DNS channel, and turns kiln-init's loop by hand.
 *
 * Issue 10 finding 5: a TCP client that stops reading makes answering it
 * fail once its output queue is full; that closes the client, which freed
 * its pending queries, and then the answer path freed the one it was
 * answering a second time: the pending count wrapped below zero (and the
 * expiry timer stayed armed for ever). Here every query is answered with
 * ~60 KB, more than the kernel buffers plus the forwarder's queue can hold.
 */
#define ANSWER_RDATA 60000
#define TURNS_MAX 20000

static int lo_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	rc = fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ? -1 : 0;
	ifr.ifr_flags |= IFF_UP;
	if (rc == 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		rc = -1;
	if (fd >= 0)
		close(fd);
	return rc;
}

static size_t build_query(uint8_t *b, uint16_t id)
{
	static const uint8_t q[] = { 3, 'b', 'i', 'g', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0,
				     0, 16, 0, 1 };
	size_t n = 0;

	b[n++] = (uint8_t)(id >> 8);
	b[n++] = (uint8_t)id;
	b[n++] = 0x01; /* RD */
	b[n++] = 0x00;
	memcpy(b + n, "\0\1\0\0\0\0\0\0", 8);
	n += 8;
	memcpy(b + n, q, sizeof(q));
	return n + sizeof(q);
}

/* A NOERROR answer to query (id and question kept) with one large TXT record. */
static size_t build_answer(const uint8_t *query, size_t qlen, uint8_t *out)
{
	size_t n = qlen, rd = 0;

	memcpy(out, query, qlen);
	out[2] = 0x81;
	out[3] = 0x80;
	out[7] = 1; /* ANCOUNT */
	memcpy(out + n, "\xC0\x0C\0\x10\0\x01\0\0\0\0", 10);
	n += 10;
	out[n++] = (uint8_t)(ANSWER_RDATA >> 8);
	out[n++] = (uint8_t)(ANSWER_RDATA & 0xFF);
	while (rd < ANSWER_RDATA) {
		size_t l = ANSWER_RDATA - rd - 1 < 255 ? ANSWER_RDATA - rd - 1 : 255;

		out[n++] = (uint8_t)l;
		memset(out + n, 't', l);
		n += l;
		rd += l + 1;
	}
	return n;
}

static unsigned long wmem_max(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "re");
	unsigned long a, b, c = 4ul << 20;

	if (f && fscanf(f, "%lu %lu %lu", &a, &b, &c) != 3)
		c = 4ul << 20;
	if (f)
		fclose(f);
	return c;
}

struct parent {
	int lfd, fd;
	struct kiln_bytebuf in, out;
	unsigned answered;
};

/* Answer every framed query the forwarder sent; flush what the channel takes. */
static void parent_step(struct parent *p)
{
	static uint8_t ans[2 + 65535];
	uint8_t chunk[8192];
	ssize_t r;

	if (p->fd < 0) {
		p->fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (p->fd < 0)
			return;
	}
	while ((r = recv(p->fd, chunk, sizeof(chunk), MSG_DONTWAIT)) > 0)
		if (kiln_bytebuf_add(&p->in, chunk, (size_t)r, SIZE_MAX) < 0)
			abort();
	while (p->in.len >= 2 && p->in.len >= 2u + (p->in.p[0] << 8 | p->in.p[1])) {
		size_t qlen = (size_t)(p->in.p[0] << 8 | p->in.p[1]);
		size_t alen = build_answer(p->in.p + 2, qlen, ans + 2);

		ans[0] = (uint8_t)(alen >> 8);
		ans[1] = (uint8_t)alen;
		if (kiln_bytebuf_add(&p->out, ans, alen + 2, SIZE_MAX) < 0)
			abort();
		kiln_bytebuf_drop(&p->in, qlen + 2);
		p->answered++;
	}
	if (kiln_bytebuf_flush(&p->out, p->fd) < 0)
		abort();
}

static int tcp_client(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(53),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), small = 4096;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	return fd;
}

static int init_net(struct kiln_init_net *n, const char *dir)
{
	memset(n, 0, sizeof(*n));
	if (kiln_evloop_init(&n->loop) < 0)
		return -1;
	n->chan_dir = dir;
	n->dns = true;
	n->map = kiln_dnsmap_new(64, 0, 3600);
	n->cache = kiln_dns_cache_new(64, 1 << 20, 3600);
	n->msg = malloc(sizeof(*n->msg));
	return n->map && n->cache && n->msg ? 0 : -1;
}

TEST(tcp_client_that_stops_reading)
{
	static struct kiln_init_net n;
	struct parent p = { .fd = -1 };
	struct kiln_chan_addr a;
	char dir[] = "/tmp/init-dns-fwd.XXXXXX";
	unsigned queries = (unsigned)((wmem_max() + (2u << 20)) / ANSWER_RDATA) + 8;
	uint8_t q[64 + 2];
	size_t pend = 0;
	int cl, turns;

	if (queries > 400)
		queries = 400; /* the forwarder holds 512 */
	CHECK(mkdtemp(dir) != NULL);
	CHECK(init_net(&n, dir) == 0);
	CHECK(kiln_chan_parent_addr(dir, KILN_PORT_DNS, &a) == 0);
	p.lfd = kiln_chan_listen(&a, 16);
	CHECK(p.lfd >= 0);
	CHECK(kiln_init_dns_listen(&n) == 0);
	cl = tcp_client();
	CHECK(cl >= 0);
	if (cl < 0 || p.lfd < 0)
		return;
	for (unsigned i = 0; i < queries; i++) {
		size_t len = build_query(q + 2, (uint16_t)(i + 1));

		q[0] = 0;
		q[1] = (uint8_t)len;
		CHECK(send(cl, q, len + 2, MSG_NOSIGNAL) == (ssize_t)(len + 2));
	}
	/* The client never reads; the forwarder must give up on it, once per query. */
	for (turns = 0; turns < TURNS_MAX; turns++) {
		kiln_evloop_turn(&n.loop, 5);
		parent_step(&p);
		pend = kiln_init_dns_pending(&n);
		if (p.answered == queries && !p.out.len && (pend == 0 || pend > 512))
			break;
	}
	fprintf(stderr, "    %u queries, %u answered by the parent, %zu pending after %d turns\n",
		queries, p.answered, pend, turns);
	CHECK(p.answered == queries);
	CHECK(pend == 0); /* before the fix: SIZE_MAX (freed twice) */
	close(cl);
	kiln_evloop_free(&n.loop);
	close(p.lfd);
	if (p.fd >= 0)
		close(p.fd);
	unlink(a.path);
	rmdir(dir);
}

int main(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0 && unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0) {
			fprintf(stderr, "skip: no network namespace: %s\n", strerror(errno));
			_exit(77);
		}
		if (lo_up() < 0) {
			fprintf(stderr, "skip: cannot bring lo up: %s\n", strerror(errno));
			_exit(77);
		}
		RUN(tcp_client_that_stops_reading);
		_exit(t_done());
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return 1;
	return WEXITSTATUS(st);
}
