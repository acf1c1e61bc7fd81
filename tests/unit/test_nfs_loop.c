/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the NFS server's TCP side: record fragments over a socket, replacement, oversize, stop. */
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <stdbool.h>

#include "fs/fs.h"
#include "nfs/nfs4.h"
#include "nfs/rpc.h"
#include "nfs/server.h"
#include "t.h"

static struct nfs_srv *srv;
static int lfd, stop[2], serve_rc = 1;

static void *serve(void *arg)
{
	serve_rc = nfs_serve(srv, lfd, stop[0]);
	return NULL;
}

/* Connect from a reserved source port (as the kernel's client) or, reserved false, any port. */
static int dial(uint16_t port, bool reserved)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 60 }; /* only against a hang: a bug, not a timing check */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	static uint16_t next = 1023; /* a fresh port per connection: no 4-tuple reuse */

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (reserved && next > 600) {
		me.sin_port = htons(next--);
		if (bind(fd, (struct sockaddr *)&me, sizeof(me)) == 0)
			break;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A NULL call with xid, as two fragments, written in chunks of step bytes. */
static void send_null(int fd, uint32_t xid, size_t step, uint32_t msg_type)
{
	uint32_t body[10] = { htonl(xid), htonl(msg_type), htonl(2), htonl(NFS4_PROGRAM),
			      htonl(4), htonl(0), 0, 0, 0, 0 };
	uint8_t rec[4 + 16 + 4 + 24];
	uint32_t m1 = htonl(16), m2 = htonl(0x80000000u | 24);

	memcpy(rec, &m1, 4);
	memcpy(rec + 4, body, 16);
	memcpy(rec + 20, &m2, 4);
	memcpy(rec + 24, (uint8_t *)body + 16, 24);
	for (size_t off = 0; off < sizeof(rec); off += step) {
		size_t k = sizeof(rec) - off < step ? sizeof(rec) - off : step;
		CHECK(write(fd, rec + off, k) == (ssize_t)k);
	}
}

static bool read_full(int fd, void *buf, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

/* The reply's xid and accept_stat (a NULL reply is 24 bytes after the mark). */
static bool read_reply(int fd, uint32_t *xid, uint32_t *stat)
{
	uint32_t w[7];

	if (!read_full(fd, w, sizeof(w)))
		return false;
	*xid = ntohl(w[1]);
	*stat = ntohl(w[6]);
	return ntohl(w[0]) == (0x80000000u | 24) && ntohl(w[2]) == RPC_REPLY;
}

TEST(tcp_loop)
{
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	struct kfs *fs;
	uint8_t key[NFS_FH_KEY_LEN] = { 1 }, volid[NFS_VOLID_LEN] = { 2 };
	uint16_t port;
	pthread_t th;
	uint32_t xid, stat;
	char c;

	CHECK(kfs_store_mem(&st) == 0 && kfs_keywrap_sim(NULL, &kw) == 0);
	CHECK(kfs_mount(st, kw, KFS_MOUNT_CREATE, NULL, NULL, &fs) == 0);
	CHECK(nfs_srv_new(fs, key, volid, &srv) == 0);
	CHECK(nfs_listen(0, &lfd, &port) == 0 && port != 0);
	CHECK(pipe(stop) == 0);
	CHECK(pthread_create(&th, NULL, serve, NULL) == 0);

	/* an unreserved source port (an app, not the kernel): closed at once */
	int u = dial(port, false);
	CHECK(u >= 0);
	send_null(u, 1, 48, RPC_CALL);
	CHECK(read(u, &c, 1) <= 0);
	close(u);
	if (geteuid() != 0) {
		fprintf(stderr, "  (not root: no reserved source port, the rest is skipped)\n");
		CHECK(write(stop[1], "x", 1) == 1);
		pthread_join(th, NULL);
		close(lfd);
		nfs_srv_free(srv);
		CHECK(kfs_unmount(fs) == 0);
		return;
	}
	/* fragments split across writes of every size reassemble */
	int a = dial(port, true);
	CHECK(a >= 0);
	for (size_t step = 1; step <= 48; step += 7) {
		send_null(a, (uint32_t)(100 + step), step, RPC_CALL);
		CHECK(read_reply(a, &xid, &stat) && xid == 100 + step && stat == RPC_SUCCESS);
	}
	/* a reply message gets no answer; the next call on the connection does */
	send_null(a, 7, 48, RPC_REPLY);
	send_null(a, 8, 48, RPC_CALL);
	CHECK(read_reply(a, &xid, &stat) && xid == 8);
	/* a second connection replaces the first, which the server closes */
	int b = dial(port, true);
	CHECK(b >= 0);
	send_null(b, 9, 48, RPC_CALL);
	CHECK(read_reply(b, &xid, &stat) && xid == 9);
	CHECK(read(a, &c, 1) == 0);
	close(a);
	/* a record over the maximum: the connection is closed */
	uint32_t big = htonl(0x80000000u | (NFS_MAX_RECORD + 1));
	CHECK(write(b, &big, 4) == 4);
	CHECK(read(b, &c, 1) == 0);
	close(b);
	/* still serving new connections; then stopped */
	int d = dial(port, true);
	CHECK(d >= 0);
	send_null(d, 10, 48, RPC_CALL);
	CHECK(read_reply(d, &xid, &stat) && xid == 10);
	close(d);
	CHECK(write(stop[1], "x", 1) == 1);
	pthread_join(th, NULL);
	CHECK(serve_rc == 0);
	close(lfd);
	nfs_srv_free(srv);
	CHECK(kfs_unmount(fs) == 0);
}

TEST(listen_loopback_only)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	uint16_t port;
	int fd;

	CHECK(nfs_listen(0, &fd, &port) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	CHECK(sa.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(sa.sin_port) == port);
	/* the same port twice: a clear error */
	int fd2;
	CHECK_ERR(nfs_listen(port, &fd2, NULL), "listen on 127.0.0.1");
	close(fd);
}

int main(void)
{
	RUN(tcp_loop);
	RUN(listen_loopback_only);
	return t_done();
}
