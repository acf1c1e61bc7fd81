/* SPDX-License-Identifier: Apache-2.0 */
/* The NFS server's TCP side: a loopback listener and one client connection at a time. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nfs/rpc.h"
#include "nfs/server.h"
#include "util/bytebuf.h"
#include "util/io.h"

int nfs_listen(uint16_t port, int *fd, uint16_t *port_out)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int one = 1;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return kiln_err(errno, "nfs: socket: %s", strerror(errno));
	(void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 4) < 0 ||
	    getsockname(s, (struct sockaddr *)&sa, &sl) < 0) {
		int e = errno;
		close(s);
		return kiln_err(e, "nfs: listen on 127.0.0.1:%u: %s", port, strerror(e));
	}
	*fd = s;
	if (port_out)
		*port_out = ntohs(sa.sin_port);
	return 0;
}

/*
 * One client connection. The socket is non-blocking: a reply it does not
 * take at once waits in outq, so a client that stops reading never blocks
 * the server (the stop request and a replacing connection are still
 * served). Past OUTQ_HIGH bytes waiting, no further call is read or run
 * until the client takes some; no reply is ever dropped while the
 * connection lives.
 */
#define OUTQ_HIGH (2u << 20)
/*
 * Replies that wait for an owed commit (nfs_srv_group): the stable WRITEs
 * and COMMITs of one burst of pipelined calls share one commit. Bounded:
 * past HELD_MAX bytes of them the commit is done at once.
 */
#define HELD_MAX (256u << 10)

struct conn {
	int fd;
	struct rpc_rx rx;
	struct kiln_bytebuf outq, held;
};

static bool readable(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 0) > 0;
}

/* Send what the socket takes now, queue the rest behind what already waits. */
static int conn_send(struct conn *c, const uint8_t *p, size_t n)
{
	ssize_t w = 0;

	if (!c->outq.len) {
		do
			w = send(c->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN)
			return kiln_err(EPIPE, "nfs: client write: %s", strerror(errno));
		if (w < 0)
			w = 0;
	}
	return kiln_bytebuf_add(&c->outq, p + w, n - (size_t)w, SIZE_MAX);
}

/* The commit the held replies wait for. */
static int commit_held(struct nfs_srv *s)
{
	int rc = nfs_srv_commit(s);

	if (rc < 0)
		fprintf(stderr, "kiln-init: storage: nfs: commit: %s (the client will resend)\n",
			kiln_errmsg());
	return rc;
}

/*
 * Commit, then send the held replies. A failed commit must not send them
 * (they say "durable"): the connection is dropped, the client reconnects
 * and resends, and those calls, committing at once now, answer the error.
 */
static int release(struct nfs_srv *s, struct conn *c)
{
	int rc = commit_held(s);

	if (rc == 0)
		rc = conn_send(c, c->held.p, c->held.len);
	c->held.len = 0;
	return rc;
}

/* One call record: its reply is sent, or held for the owed commit. */
static int on_record(struct nfs_srv *s, struct conn *c, const uint8_t *rec, size_t len,
		     struct xdr_out *out)
{
	int rc = nfs_srv_rpc(s, rec, len, out);
	bool owed = nfs_srv_owed(s);

	if (rc == 0 && out->len)
		rc = owed ? kiln_bytebuf_add(&c->held, out->buf, out->len, SIZE_MAX)
			  : conn_send(c, out->buf, out->len);
	if (rc == 0 && c->held.len > HELD_MAX)
		rc = release(s, c);
	return rc;
}

/* Answer, in order, the calls already received, while the client takes the replies. 1: drop it. */
static int conn_calls(struct nfs_srv *s, struct conn *c, struct xdr_out *out)
{
	const uint8_t *rec;
	size_t len;

	while (c->outq.len <= OUTQ_HIGH) {
		int rc = rpc_rx_next(&c->rx, &rec, &len);
		if (rc < 0)
			return 1; /* an oversized record: no way to resynchronise */
		if (rc == 0)
			break;
		if (on_record(s, c, rec, len, out) < 0)
			return 1;
	}
	/* more calls already queued may join this commit (not while the client is not reading) */
	bool blocked = c->outq.len > OUTQ_HIGH;
	if (c->held.len && (blocked || !readable(c->fd)) && release(s, c) < 0)
		return 1;
	return 0;
}

/* Receive what the client has sent (as much as fits in one call) and answer it. 1: done. */
static int conn_recv(struct nfs_srv *s, struct conn *c, struct xdr_out *out)
{
	uint8_t *p;
	size_t room;

	if (rpc_rx_space(&c->rx, &p, &room) < 0)
		return 1;
	ssize_t n = recv(c->fd, p, room, MSG_DONTWAIT);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return 1;
	rpc_rx_got(&c->rx, (size_t)n);
	return conn_calls(s, c, out);
}

/* What the connection waits for: calls while the client takes its replies, room for queued replies. */
static short conn_events(const struct conn *c)
{
	return (short)((c->outq.len <= OUTQ_HIGH ? POLLIN : 0) | (c->outq.len ? POLLOUT : 0));
}

/* The connection's poll result. 1: it is done (closed, broken, or hostile). */
static int conn_ready(struct nfs_srv *s, struct conn *c, struct xdr_out *out, short revents)
{
	if (c->outq.len && kiln_bytebuf_flush(&c->outq, c->fd) < 0)
		return 1;
	if (c->outq.len > OUTQ_HIGH)
		return 0; /* still waiting for the client to read */
	if (conn_calls(s, c, out)) /* calls that waited for the client to read */
		return 1;
	if (c->outq.len > OUTQ_HIGH || !(revents & (POLLIN | POLLHUP | POLLERR)))
		return 0;
	return conn_recv(s, c, out);
}

/*
 * The held replies are not sent, but the commit they wait for is done: a
 * 4.1 client resends them on its next connection and gets them back from
 * their slots, saying "durable". A failed commit forgets those slots
 * (nfs_srv_commit), so the resends are answered RETRY_UNCACHED_REP.
 */
static void conn_close(struct nfs_srv *s, struct conn *c)
{
	if (c->held.len)
		(void)commit_held(s);
	c->held.len = 0;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	rpc_rx_reset(&c->rx);
	c->outq.len = 0;
}

/*
 * Only the kernel's client: it connects from 127.0.0.1 and a reserved port
 * (its default, resvport), which an app running as another user cannot
 * bind. An app could otherwise speak NFS itself with any AUTH_SYS uid (the
 * server trusts the credential, as NFS does), and replace the kernel's
 * connection.
 */
static bool peer_ok(int fd)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	if (getpeername(fd, (struct sockaddr *)&sa, &sl) < 0 || sa.sin_family != AF_INET)
		return false;
	return sa.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(sa.sin_port) < 1024;
}

/* Like the FUSE frontend: what reached the server is committed within NFS_COMMIT_MS. */
static void background_commit(struct nfs_srv *s)
{
	struct kfs *fs = nfs_srv_fs(s);
	uint64_t t0 = nfs_srv_now(s);

	if (kfs_dirty(fs) && kfs_sync_background(fs) < 0)
		fprintf(stderr, "kiln-init: storage: background commit: %s\n", kiln_errmsg());
	nfs_srv_worked(s, t0); /* a slow store's time is not the client's silence */
}

/* A new connection from the kernel's client replaces the current one. */
static void conn_accept(struct nfs_srv *s, struct conn *c, int lfd)
{
	int one = 1, nfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (nfd >= 0 && !peer_ok(nfd)) {
		close(nfd);
		return;
	}
	if (nfd < 0)
		return;
	conn_close(s, c);
	c->fd = nfd;
	(void)setsockopt(nfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int nfs_serve(struct nfs_srv *s, int lfd, int stopfd)
{
	struct conn c = { .fd = -1 };
	struct xdr_out out;
	int rc = 0;

	if (xdr_out_init(&out, NFS_MAX_RECORD) < 0)
		return kiln_err(ENOMEM, "nfs: out of memory");
	rpc_rx_init(&c.rx, NFS_MAX_RECORD);
	nfs_srv_group(s, true);
	int64_t due = kiln_now_coarse_ms() + NFS_COMMIT_MS;
	for (;;) {
		struct pollfd p[3] = { { stopfd, POLLIN, 0 }, { lfd, POLLIN, 0 },
				       { c.fd, conn_events(&c), 0 } };
		int64_t wait = due - kiln_now_coarse_ms();
		int n = wait <= 0 ? 0 : poll(p, c.fd >= 0 ? 3 : 2, (int)wait);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = kiln_err(errno, "nfs: poll: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			background_commit(s);
			due = kiln_now_coarse_ms() + NFS_COMMIT_MS;
			continue;
		}
		if (p[0].revents)
			break;
		if (p[1].revents & POLLIN)
			conn_accept(s, &c, lfd);
		else if (c.fd >= 0 && p[2].revents && conn_ready(s, &c, &out, p[2].revents))
			conn_close(s, &c);
	}
	conn_close(s, &c);
	nfs_srv_group(s, false);
	rpc_rx_free(&c.rx);
	xdr_out_free(&out);
	free(c.outq.p);
	free(c.held.p);
	return rc;
}
