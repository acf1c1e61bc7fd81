/* SPDX-License-Identifier: Apache-2.0 */
/* The NFS server's TCP side: a loopback listener and one client connection at a time. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
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

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return kiln_err(EPIPE, "nfs: client write: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Replies that wait for an owed commit (nfs_srv_group): the stable WRITEs
 * and COMMITs of one burst of pipelined calls share one commit. Bounded:
 * past HELD_MAX bytes of them the commit is done at once.
 */
#define HELD_MAX (256u << 10)

static bool readable(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 0) > 0;
}

/*
 * Commit, then send the held replies. A failed commit must not send them
 * (they say "durable"): the connection is dropped, the client reconnects
 * and resends, and those calls, committing at once now, answer the error.
 */
static int release(struct nfs_srv *s, int cfd, struct kiln_bytebuf *h)
{
	int rc = nfs_srv_commit(s);

	if (rc < 0)
		fprintf(stderr, "kiln-init: storage: nfs: commit: %s (the client will resend)\n",
			kiln_errmsg());
	if (rc == 0)
		rc = write_all(cfd, h->p, h->len);
	h->len = 0;
	return rc;
}

/* Bytes from the client: whole records are answered in order. 1: connection done. */
static int on_data(struct nfs_srv *s, int cfd, struct rpc_rec *rec, struct xdr_out *out,
		   uint8_t *buf, size_t bufsz, struct kiln_bytebuf *h)
{
	ssize_t n = read(cfd, buf, bufsz);

	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0)
		return 1;
	for (size_t off = 0; off < (size_t)n;) {
		size_t used;
		int rc = rpc_rec_feed(rec, buf + off, (size_t)n - off, &used);
		if (rc < 0)
			return 1; /* an oversized record: no way to resynchronise */
		off += used;
		if (rc == 0)
			continue;
		rc = nfs_srv_rpc(s, rec->buf, rec->len, out);
		rpc_rec_reset(rec);
		bool owed = nfs_srv_owed(s);
		if (rc == 0 && out->len)
			rc = owed ? kiln_bytebuf_add(h, out->buf, out->len, SIZE_MAX)
				  : write_all(cfd, out->buf, out->len);
		if (rc == 0 && h->len > HELD_MAX)
			rc = release(s, cfd, h);
		if (rc < 0)
			return 1;
	}
	/* more calls already queued may join this commit */
	if (h->len && !readable(cfd) && release(s, cfd, h) < 0)
		return 1;
	return 0;
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

int nfs_serve(struct nfs_srv *s, int lfd, int stopfd)
{
	struct rpc_rec rec;
	struct xdr_out out;
	struct kiln_bytebuf held = { 0 };
	size_t bufsz = 256 << 10;
	uint8_t *buf = malloc(bufsz);
	int cfd = -1, rc = 0;

	if (!buf || xdr_out_init(&out, NFS_MAX_RECORD) < 0) {
		free(buf);
		return kiln_err(ENOMEM, "nfs: out of memory");
	}
	rpc_rec_init(&rec, NFS_MAX_RECORD);
	nfs_srv_group(s, true);
	int64_t due = kiln_now_ms() + NFS_COMMIT_MS;
	for (;;) {
		struct pollfd p[3] = { { stopfd, POLLIN, 0 }, { lfd, POLLIN, 0 }, { cfd, POLLIN, 0 } };
		int64_t wait = due - kiln_now_ms();
		int n = wait <= 0 ? 0 : poll(p, cfd >= 0 ? 3 : 2, (int)wait);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = kiln_err(errno, "nfs: poll: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			background_commit(s);
			due = kiln_now_ms() + NFS_COMMIT_MS;
			continue;
		}
		if (p[0].revents)
			break;
		if (p[1].revents & POLLIN) {
			int nfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (nfd >= 0 && !peer_ok(nfd)) {
				close(nfd);
				nfd = -1;
			}
			if (nfd >= 0) {
				/* the kernel client reconnects on a new socket: it replaces the old */
				if (cfd >= 0)
					close(cfd);
				cfd = nfd;
				held.len = 0; /* the client resends what had no reply */
				int one = 1;
				(void)setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				rpc_rec_reset(&rec);
				continue;
			}
		}
		if (cfd >= 0 && p[2].revents && on_data(s, cfd, &rec, &out, buf, bufsz, &held)) {
			close(cfd);
			cfd = -1;
			held.len = 0;
			rpc_rec_reset(&rec);
		}
	}
	if (cfd >= 0)
		close(cfd);
	nfs_srv_group(s, false);
	rpc_rec_free(&rec);
	xdr_out_free(&out);
	free(held.p);
	free(buf);
	return rc;
}
