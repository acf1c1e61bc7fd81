/* SPDX-License-Identifier: Apache-2.0 */
/* Splice-or-copy relay with half-close propagation, driven by edge-triggered epoll. */
#include "net/relay.h"

#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/io.h"

/*
 * How this works: each direction is a small state machine
 *   OPEN (reading and writing) -> EOF seen (draining what is queued)
 *   -> DONE (shutdown(SHUT_WR) sent to the writer side)
 * with its bytes queued either in a pipe (splice: socket -> pipe -> socket,
 * no copy through user memory) or in a user buffer. A direction holds a
 * pipe only while bytes wait in it: an empty pipe goes back to a pool of
 * one that the relays of a thread share (or is closed when the pool is
 * full), so bytes the writer takes at once pass through the pool's pipe
 * and idle flows hold only their two sockets. A step alternates
 * "drain queue to the writer" and "fill queue from the reader" until
 * neither makes progress, which with edge-triggered epoll is exactly the
 * condition under which a later event is guaranteed. If splice is refused
 * for a socket type (EINVAL, e.g. vsock on older kernels) while the pipe is
 * empty, that direction switches to the buffer for good.
 */

#define DEFAULT_BUF (256 * 1024)
#define SPLICE_CHUNK (1 << 20)
#define COPY_SMALL_MAX (16 * 1024)

struct dir {
	int from, to;
	int pipe[2];
	size_t queued;		/* bytes in the pipe or buffer */
	uint8_t *buf;
	size_t head;		/* buffer: first queued byte */
	bool splice, eof, done;
	bool bulk;		/* copy_small: splice until a step reads less than copy_small */
	bool drained;		/* copy_small: a short read this step, trusted as drained */
	uint64_t bytes;
};

struct kiln_relay {
	int fd[2];
	struct dir d[2];
	struct kiln_relay_pool *pool;
	struct kiln_relay_pool own;	/* the pool when the caller gave none */
	size_t buf_size, pipe_size, copy_small;
	bool trust_short;	/* this step's events had no hang-up or error */
	uint32_t idle_ms;
	uint64_t last_ms;
};

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return kiln_err(errno, "relay: fcntl: %s", strerror(errno));
	return 0;
}

/*
 * Channel sockets (AF_UNIX in sim, vsock on Nitro) get a larger buffer than
 * the kernel default (208 KiB sndbuf for AF_UNIX, 256 KiB for vsock): with
 * the default, the writer filled it after a few skbs and then woke for every
 * skb its peer consumed; measured with iperf3 through two relays, 2 MiB cut
 * relay CPU per byte by about a quarter. It is a bound, not an allocation:
 * idle flows cost nothing. SO_SNDBUFFORCE works with CAP_NET_ADMIN, else
 * SO_SNDBUF is capped by net.core.wmem_max. TCP keeps its autotuning.
 */
/*
 * True when fd is a TCP connection whose two ends are on this host: the
 * kernel gave it the destination itself as its source address, which it
 * does only for the host's own addresses (lo, or a local address).
 */
static bool same_host(int fd, int dom)
{
	struct sockaddr_storage l, p;
	socklen_t ll = sizeof(l), pl = sizeof(p);

	if (getsockname(fd, (struct sockaddr *)&l, &ll) < 0 ||
	    getpeername(fd, (struct sockaddr *)&p, &pl) < 0 || ll != pl)
		return false;
	if (dom == AF_INET)
		return ((struct sockaddr_in *)&l)->sin_addr.s_addr ==
		       ((struct sockaddr_in *)&p)->sin_addr.s_addr;
	return !memcmp(&((struct sockaddr_in6 *)&l)->sin6_addr,
		       &((struct sockaddr_in6 *)&p)->sin6_addr, sizeof(struct in6_addr));
}

static void tune_socket(int fd, const struct kiln_relay_opts *o)
{
	size_t size = o->chan_buf;
	unsigned long long vs = size * 2; /* vsock has no doubling: match AF_UNIX's */
	int dom = 0, v = (int)size;
	socklen_t len = sizeof(dom);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) < 0)
		return;
	switch (dom) {
	case AF_INET:
	case AF_INET6:
		/*
		 * A relay forwards what it has at once: with Nagle, the tail of
		 * a request that crossed it in pieces waited for the peer's
		 * delayed ACK, ~40 ms (bench/secrets: KMS requests of ~6 KB).
		 */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		/*
		 * A connection within this host has no bandwidth-delay product
		 * to cover and no congestion to control. The autotuned send
		 * queue (up to tcp_wmem's 4 MiB) only holds bytes until they
		 * are cold in the cache: a fixed one (the kernel doubles it)
		 * took bench/net's egress from 9.5 to 12-13 Gbit/s (1 MiB was
		 * worse than autotuning, 64 KiB too small). A pacing default
		 * (bbr here) times every send: reno, which any socket may
		 * choose, took it on to 22-24. Other destinations keep the
		 * host's autotuning and congestion control.
		 */
		v = (int)o->host_tcp_buf;
		if (v && same_host(fd, dom)) {
			(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
			(void)setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "reno", 4);
		}
		return;
	case AF_UNIX:
		if (!size)
			return;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
			(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
		return;
	case AF_VSOCK:
		if (!size)
			return;
		/* the peer's credit: bytes it may send before we read */
		(void)setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_MAX_SIZE, &vs, sizeof(vs));
		(void)setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &vs, sizeof(vs));
		return;
	default:
		return;
	}
}

int kiln_relay_new(int a, int b, const struct kiln_relay_opts *o, uint64_t now_ms,
		   struct kiln_relay **out)
{
	struct kiln_relay *r = calloc(1, sizeof(*r));
	int rc;

	if (!r) {
		close(a);
		close(b);
		return kiln_err(ENOMEM, "out of memory");
	}
	r->fd[0] = a;
	r->fd[1] = b;
	for (int i = 0; i < 2; i++) {
		r->d[i].from = r->fd[i];
		r->d[i].to = r->fd[1 - i];
		r->d[i].pipe[0] = r->d[i].pipe[1] = -1;
		r->d[i].splice = !(o && o->no_splice);
	}
	r->own.pipe[0] = r->own.pipe[1] = -1;
	r->pool = o && o->pool ? o->pool : &r->own;
	r->buf_size = o && o->buf_size ? o->buf_size : DEFAULT_BUF;
	r->pipe_size = o ? o->pipe_size : 0;
	r->idle_ms = o ? o->idle_ms : 0;
	r->copy_small = o ? o->copy_small : 0;
	if (r->copy_small > COPY_SMALL_MAX)
		r->copy_small = COPY_SMALL_MAX;
	r->last_ms = now_ms;
	for (int i = 0; o && i < 2; i++)
		tune_socket(r->fd[i], o);
	if ((rc = set_nonblock(a)) < 0 || (rc = set_nonblock(b)) < 0) {
		kiln_relay_close(r, false);
		return rc;
	}
	*out = r;
	return 0;
}

void kiln_relay_pool_free(struct kiln_relay_pool *p)
{
	for (int i = 0; i < 2; i++)
		if (p->pipe[i] >= 0) {
			close(p->pipe[i]);
			p->pipe[i] = -1;
		}
}

/* The direction's pipe: its own while bytes wait in it, else the pool's, else a new one. */
static int get_pipe(struct kiln_relay *r, struct dir *d)
{
	struct kiln_relay_pool *p = r->pool;

	if (d->pipe[0] >= 0)
		return 0;
	if (p->pipe[0] >= 0) {
		memcpy(d->pipe, p->pipe, sizeof(d->pipe));
		p->pipe[0] = p->pipe[1] = -1;
		return 0;
	}
	if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	if (r->pipe_size)
		(void)fcntl(d->pipe[0], F_SETPIPE_SZ, (int)r->pipe_size); /* best effort */
	return 0;
}

/* Give the pipe back once empty (to the pool if it has none); bytes in it are dropped. */
static void put_pipe(struct kiln_relay *r, struct dir *d)
{
	struct kiln_relay_pool *p = r->pool;

	if (d->pipe[0] < 0)
		return;
	if (!d->queued && p->pipe[0] < 0) {
		memcpy(p->pipe, d->pipe, sizeof(d->pipe));
	} else {
		close(d->pipe[0]);
		close(d->pipe[1]);
	}
	d->pipe[0] = d->pipe[1] = -1;
}

/* > 0 bytes moved, 0 would block, < 0 error. */
static ssize_t drain(struct dir *d)
{
	ssize_t n;

	if (d->splice)
		n = splice(d->pipe[0], NULL, d->to, NULL, d->queued,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	else
		n = send(d->to, d->buf + d->head, d->queued, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && errno == ENOTSOCK && !d->splice)
		n = write(d->to, d->buf + d->head, d->queued);
	if (n < 0)
		return errno == EAGAIN ? 0 : kiln_err(errno, "relay: write: %s", strerror(errno));
	d->queued -= (size_t)n;
	d->head = d->queued ? d->head + (size_t)n : 0;
	d->bytes += (uint64_t)n;
	return n;
}

/* Queue what the writer did not take of a copied read: in the pipe, or the buffer without fds. */
static int queue_rest(struct kiln_relay *r, struct dir *d, const uint8_t *p, size_t len)
{
	ssize_t n;
	int rc = get_pipe(r, d);

	if (rc == 0) {
		/* the pipe is empty and holds >= 64 KiB: all of it fits */
		n = write(d->pipe[1], p, len);
		if (n == (ssize_t)len) {
			d->queued = len;
			return 0;
		}
		return kiln_err(n < 0 ? errno : EIO, "relay: pipe write: %s",
				n < 0 ? strerror(errno) : "short");
	}
	if (rc != -EMFILE && rc != -ENFILE)
		return kiln_err(-rc, "relay: pipe: %s", strerror(-rc));
	d->splice = false; /* out of fds for a pipe: this direction copies from now on */
	if (!d->buf && !(d->buf = malloc(r->buf_size)))
		return kiln_err(ENOMEM, "out of memory");
	memcpy(d->buf, p, len);
	d->head = 0;
	d->queued = len;
	return 0;
}

/*
 * Small requests and responses: splice costs four calls per burst (in, out,
 * and two that find nothing) plus a pipe; a read into a stack buffer and a
 * send cost two. A read that fills the buffer means bulk: splice from then
 * on, until a step reads less than the buffer (step_dir). Only when nothing
 * is queued, so bytes keep their order.
 */
static ssize_t fill_copy(struct kiln_relay *r, struct dir *d)
{
	uint8_t b[COPY_SMALL_MAX];
	ssize_t n, w;
	int rc;

	n = read(d->from, b, r->copy_small);
	if (n < 0)
		return errno == EAGAIN ? 0 : kiln_err(errno, "relay: read: %s", strerror(errno));
	if (n == 0) {
		d->eof = true;
		return 0;
	}
	d->bulk = (size_t)n == r->copy_small;
	d->drained = !d->bulk && r->trust_short;
	w = send(d->to, b, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w < 0 && errno == ENOTSOCK)
		w = write(d->to, b, (size_t)n);
	if (w < 0 && errno != EAGAIN)
		return kiln_err(errno, "relay: write: %s", strerror(errno));
	w = w < 0 ? 0 : w;
	d->bytes += (uint64_t)w;
	if (w < n && (rc = queue_rest(r, d, b + w, (size_t)(n - w))) < 0)
		return rc;
	return n;
}

/* > 0 bytes read, 0 would block or EOF (d->eof set), < 0 error. */
static ssize_t fill(struct kiln_relay *r, struct dir *d)
{
	ssize_t n;
	int rc;

	if (d->splice && r->copy_small && !d->bulk && !d->queued)
		return fill_copy(r, d);
	if (d->splice && d->pipe[0] < 0 && r->pool->pipe[0] < 0) {
		/* No spare pipe: make one only once bytes wait (an idle direction makes none). */
		n = recv(d->from, &(char){ 0 }, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && errno != ENOTSOCK)
			return errno == EAGAIN ? 0 : kiln_err(errno, "relay: read: %s", strerror(errno));
		if (n == 0) {
			d->eof = true;
			return 0;
		}
	}
	if (d->splice && (rc = get_pipe(r, d)) < 0) {
		if ((rc != -EMFILE && rc != -ENFILE) || d->queued)
			return kiln_err(-rc, "relay: pipe: %s", strerror(-rc));
		/* out of fds for a pipe: this direction copies through a buffer instead */
		d->splice = false;
	}
	if (d->splice) {
		n = splice(d->from, NULL, d->pipe[1], NULL, SPLICE_CHUNK,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0 && errno == EINVAL && d->queued == 0) {
			/* this socket type cannot splice: use the buffer from now on */
			d->splice = false;
			put_pipe(r, d);
			return fill(r, d);
		}
	} else {
		if (!d->buf && !(d->buf = malloc(r->buf_size)))
			return kiln_err(ENOMEM, "out of memory");
		n = read(d->from, d->buf + d->head + d->queued, r->buf_size - d->head - d->queued);
	}
	if (n < 0)
		return errno == EAGAIN ? 0 : kiln_err(errno, "relay: read: %s", strerror(errno));
	if (n == 0)
		d->eof = true;
	d->queued += (size_t)n;
	return n;
}

static bool has_room(const struct kiln_relay *r, const struct dir *d)
{
	/* A pipe reports "full" itself with EAGAIN; the buffer refills once empty. */
	return d->splice || d->head + d->queued < r->buf_size;
}

static int step_dir(struct kiln_relay *r, struct dir *d, bool *moved)
{
	size_t got = 0;

	d->drained = false;
	for (bool progress = true; progress && !d->done;) {
		ssize_t n;

		progress = false;
		if (d->queued) {
			n = drain(d);
			if (n < 0)
				return (int)n;
			progress = n > 0;
		}
		if (!d->eof && !d->drained && has_room(r, d)) {
			n = fill(r, d);
			if (n < 0)
				return (int)n;
			got += (size_t)n;
			progress = progress || n > 0 || d->eof;
		}
		if (d->eof && !d->queued) {
			if (shutdown(d->to, SHUT_WR) < 0 && errno != ENOTCONN)
				return kiln_err(errno, "relay: shutdown: %s", strerror(errno));
			d->done = true;
			free(d->buf);
			d->buf = NULL;
		}
		*moved = *moved || progress;
	}
	/* Bulk stays bulk (pure splice, as without copy_small) until a step reads little. */
	if (got && got < r->copy_small)
		d->bulk = false;
	if (!d->queued)
		put_pipe(r, d);
	return 0;
}

int kiln_relay_step(struct kiln_relay *r, uint64_t now_ms)
{
	return kiln_relay_step_ev(r, now_ms, EPOLLHUP);
}

int kiln_relay_step_ev(struct kiln_relay *r, uint64_t now_ms, uint32_t events)
{
	return kiln_relay_step_fd(r, now_ms, -1, events);
}

int kiln_relay_step_fd(struct kiln_relay *r, uint64_t now_ms, int which, uint32_t events)
{
	const uint32_t readable = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
	bool moved = false;
	int rc;

	r->trust_short = !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));

	for (int i = 0; i < 2; i++) {
		/* idle, and no readable event for its reader: nothing to do */
		if (which >= 0 && !r->d[i].queued && (i != which || !(events & readable)))
			continue;
		rc = step_dir(r, &r->d[i], &moved);
		if (rc < 0)
			return kiln_err_wrap(rc, "%s", i == 0 ? "a->b" : "b->a");
	}
	if (moved)
		r->last_ms = now_ms;
	return r->d[0].done && r->d[1].done ? 0 : 1;
}

uint32_t kiln_relay_events(const struct kiln_relay *r, int which)
{
	const struct dir *rd = &r->d[which ? 1 : 0], *wr = &r->d[which ? 0 : 1];
	uint32_t ev = 0;

	if (!rd->eof)
		ev |= EPOLLIN | EPOLLRDHUP;
	if (wr->queued && !wr->done)
		ev |= EPOLLOUT;
	return ev;
}

int kiln_relay_fd(const struct kiln_relay *r, int which)
{
	return r->fd[which ? 1 : 0];
}

uint64_t kiln_relay_deadline(const struct kiln_relay *r)
{
	return r->idle_ms ? r->last_ms + r->idle_ms : UINT64_MAX;
}

void kiln_relay_stats(const struct kiln_relay *r, struct kiln_relay_stats *s)
{
	for (int i = 0; i < 2; i++) {
		s->bytes[i] = r->d[i].bytes;
		s->spliced[i] = r->d[i].splice && r->d[i].bytes > 0;
		s->closed[i] = r->d[i].done;
	}
}

void kiln_relay_close(struct kiln_relay *r, bool reset)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (!r)
		return;
	for (int i = 0; i < 2; i++) {
		if (reset)
			(void)setsockopt(r->fd[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(r->fd[i]);
		put_pipe(r, &r->d[i]);
		free(r->d[i].buf);
	}
	kiln_relay_pool_free(&r->own);
	free(r);
}

int kiln_relay_run(int a, int b, const struct kiln_relay_opts *o)
{
	_cleanup_close_ int ep = epoll_create1(EPOLL_CLOEXEC);
	struct kiln_relay *r;
	int rc;

	if (ep < 0) {
		close(a);
		close(b);
		return kiln_err(errno, "epoll_create1: %s", strerror(errno));
	}
	rc = kiln_relay_new(a, b, o, (uint64_t)kiln_now_ms(), &r);
	if (rc < 0)
		return rc;
	for (int i = 0; i < 2; i++) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
					  .data.ptr = r };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, kiln_relay_fd(r, i), &ev) < 0) {
			rc = kiln_err(errno, "epoll_ctl: %s", strerror(errno));
			kiln_relay_close(r, true);
			return rc;
		}
	}
	while ((rc = kiln_relay_step(r, (uint64_t)kiln_now_ms())) == 1) {
		struct epoll_event ev[2];
		uint64_t dl = kiln_relay_deadline(r), t = (uint64_t)kiln_now_ms();
		int timeout = dl == UINT64_MAX ? -1 : dl <= t ? 0 : (int)(dl - t);

		if (dl != UINT64_MAX && dl <= t) {
			rc = kiln_err(ETIMEDOUT, "relay: idle for %u ms", o->idle_ms);
			break;
		}
		if (epoll_wait(ep, ev, 2, timeout) < 0 && errno != EINTR) {
			rc = kiln_err(errno, "epoll_wait: %s", strerror(errno));
			break;
		}
	}
	kiln_relay_close(r, rc < 0);
	return rc;
}
