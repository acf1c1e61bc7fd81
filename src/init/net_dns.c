/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's resolver on 127.0.0.1:53 (UDP and TCP): TTL cache, forwarding over the parent's 7002. */
#include "init/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#include "util/bytebuf.h"

/*
 * How this works: every query from the app is parsed (one question, the
 * same strict parser as for answers). A live cached answer is returned at
 * once. Otherwise the query gets a fresh random ID that no other pending
 * query holds and goes, u16-length framed, onto the single connection to
 * the parent's DNS channel; concurrent queries from any number of clients
 * share it without colliding. An answer from the parent is untrusted: it
 * must parse, be a response, carry a pending ID and the same question, or
 * the channel is closed (pending queries are sent again on the next
 * connection). Accepted answers teach the IP -> name map (for the egress
 * policy), go into the cache, and reach the client with its own ID. Answers
 * too large for a UDP client become an empty TC answer, so it retries over
 * TCP. The channel reconnects with backoff when it fails.
 */

#define PENDING_MAX 512
#define QUERY_EXPIRE_MS 10000
#define OUT_MAX (256u << 10)		/* bytes queued to the parent or a TCP client */
#define TCP_IDLE_MS 30000
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000
#define UDP_PLAIN_MAX 512
#define UDP_EDNS_MAX 1232
#define FRAME_MAX (2 + KILN_DNS_MSG_MAX)

struct tconn;

struct pending {
	bool used;
	uint16_t id, orig_id;
	uint64_t at;
	uint16_t qtype;
	char qname[KILN_NAME_LEN + 2];
	int udp_fd;			/* UDP client: reply with sendto */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	size_t udp_max;
	struct tconn *tc;		/* TCP client (NULL once it closed) */
	uint8_t *query;			/* with the rewritten ID, to resend */
	size_t qlen;
};

struct udpsock {
	struct kiln_evh h;
	struct kiln_dnsfwd *f;
	int fd;
};

struct tconn {
	struct kiln_evh h;
	struct kiln_dnsfwd *f;
	int fd;
	struct kiln_bytebuf in, out;
};

struct kiln_dnsfwd {
	struct kiln_evh h;		/* the parent connection */
	struct kiln_init_net *n;
	int fd;				/* -1: not connected */
	bool connecting;
	struct kiln_bytebuf out, in;
	uint64_t retry_at;
	uint32_t backoff;
	struct pending pend[PENDING_MAX];
	size_t n_pend;
	uint8_t reply[FRAME_MAX];	/* scratch for answers to clients */
};

static int frame_add(struct kiln_bytebuf *b, const uint8_t *msg, size_t len, size_t max)
{
	uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };

	if (b->len + 2 + len > max)
		return -ENOBUFS;
	if (kiln_bytebuf_add(b, hdr, 2, max) < 0)
		return -ENOMEM;
	return kiln_bytebuf_add(b, msg, len, max);
}

/* ---- answering clients ---- */

static void tconn_close(struct kiln_evloop *l, struct tconn *t);

static void tconn_send(struct kiln_evloop *l, struct tconn *t, const uint8_t *msg, size_t len)
{
	if (frame_add(&t->out, msg, len, OUT_MAX) < 0 || kiln_bytebuf_flush(&t->out, t->fd) < 0)
		tconn_close(l, t);
}

/* An empty answer with TC set: header and question of the query. */
static size_t truncated(const uint8_t *query, const struct kiln_dns_msg *q, uint16_t flags,
			uint8_t *out)
{
	size_t len = KILN_DNS_HDR + q->qname_wire + 4;

	memcpy(out, query, len);
	flags |= KILN_DNS_F_QR | KILN_DNS_F_TC;
	out[2] = (uint8_t)(flags >> 8);
	out[3] = (uint8_t)flags;
	memset(out + 6, 0, 6);
	return len;
}

static void udp_reply(int fd, const struct sockaddr_storage *peer, socklen_t plen,
		      const uint8_t *msg, size_t len)
{
	/* Best effort, as UDP is: a client that went away just misses it. */
	if (sendto(fd, msg, len, MSG_DONTWAIT, (const struct sockaddr *)peer, plen) < 0)
		return;
}

/* Answer the client of p (or of a cache hit) with msg; its ID is set by the caller. */
static void deliver(struct kiln_dnsfwd *f, struct pending *p, uint8_t *msg, size_t len)
{
	if (p->tc) {
		tconn_send(&f->n->loop, p->tc, msg, len);
		return;
	}
	if (len > p->udp_max && kiln_dns_parse(p->query, p->qlen, f->n->msg) == 0) {
		uint16_t flags = (uint16_t)(msg[2] << 8 | msg[3]);

		len = truncated(p->query, f->n->msg, flags, msg);
		kiln_dns_set_id(msg, len, p->orig_id);
	}
	udp_reply(p->udp_fd, &p->peer, p->peer_len, msg, len);
}

static void pending_free(struct kiln_dnsfwd *f, struct pending *p)
{
	free(p->query);
	memset(p, 0, sizeof(*p));
	f->n_pend--;
}

/*
 * Take p out of the table before answering its client: answering can fail
 * and close a TCP client, which frees every pending query of that client.
 * Out of the table, p is no longer one of them, so it has one owner (the
 * caller, who frees *out's query) and is never freed twice.
 */
static void pending_take(struct kiln_dnsfwd *f, struct pending *p, struct pending *out)
{
	*out = *p;
	memset(p, 0, sizeof(*p));
	f->n_pend--;
}

size_t kiln_init_dns_pending(const struct kiln_init_net *n)
{
	return n->fwd ? n->fwd->n_pend : 0;
}

/* ---- the parent connection ---- */

static void up_arm(struct kiln_dnsfwd *f)
{
	uint64_t tick = f->n->loop.now + 500;

	/* A coarse tick while queries are pending: expiry, and reconnecting for
	 * them as soon as the backoff allows (not up to a tick later). */
	if (f->n_pend && f->fd < 0 && f->retry_at > f->n->loop.now && f->retry_at < tick)
		tick = f->retry_at;
	f->h.deadline = f->n_pend ? tick : 0;
}

static void up_close(struct kiln_dnsfwd *f, const char *why)
{
	if (why)
		kiln_evloop_logf(&f->n->loop, "DNS channel to the parent: %s", why);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	f->connecting = false;
	f->out.len = f->in.len = 0;
	f->backoff = f->backoff ? f->backoff * 2 : RETRY_MIN_MS;
	if (f->backoff > RETRY_MAX_MS)
		f->backoff = RETRY_MAX_MS;
	f->retry_at = f->n->loop.now + f->backoff;
	up_arm(f);
}

/* After (re)connecting: every pending query goes out again. */
static void up_requeue(struct kiln_dnsfwd *f)
{
	for (size_t i = 0; i < PENDING_MAX; i++) {
		struct pending *p = &f->pend[i];

		if (p->used && frame_add(&f->out, p->query, p->qlen, OUT_MAX) < 0)
			pending_free(f, p);
	}
}

static void up_connect(struct kiln_dnsfwd *f)
{
	struct kiln_chan_addr a;
	int fd;

	if (f->fd >= 0 || f->n->loop.now < f->retry_at)
		return;
	if (kiln_chan_parent_addr(f->n->chan_dir, KILN_PORT_DNS, &a) < 0 ||
	    (fd = kiln_ev_connect_chan(&a)) < 0) {
		up_close(f, NULL);
		return;
	}
	if (kiln_evloop_add(&f->n->loop, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &f->h) < 0) {
		close(fd);
		up_close(f, NULL);
		return;
	}
	f->fd = fd;
	f->connecting = true;
	f->out.len = 0;
	up_requeue(f);
}

static struct pending *pending_find(struct kiln_dnsfwd *f, uint16_t id)
{
	for (size_t i = 0; i < PENDING_MAX; i++)
		if (f->pend[i].used && f->pend[i].id == id)
			return &f->pend[i];
	return NULL;
}

/* One answer from the parent; < 0 closes the channel. */
static int up_answer(struct kiln_dnsfwd *f, const uint8_t *msg, size_t len)
{
	struct kiln_dns_msg *m = f->n->msg;
	struct pending *p, mine;
	int rc = kiln_dns_parse(msg, len, m);

	if (rc < 0)
		return kiln_err_wrap(rc, "malformed answer");
	if (!(m->flags & KILN_DNS_F_QR))
		return kiln_err(EPROTO, "a query where an answer was expected");
	p = pending_find(f, m->id);
	if (!p)
		return 0; /* expired here, or answered twice: ignore */
	if (m->qtype != p->qtype || strcmp(m->qname, p->qname))
		return kiln_err(EPROTO, "answer for another question than asked");
	if (kiln_dns_learn(m, f->n->map, f->n->loop.now) < 0 ||
	    kiln_dns_cache_put(f->n->cache, msg, len, m, f->n->loop.now) < 0)
		kiln_evloop_logf(&f->n->loop, "DNS: %s", kiln_errmsg());
	memcpy(f->reply, msg, len);
	kiln_dns_set_id(f->reply, len, p->orig_id);
	pending_take(f, p, &mine);
	deliver(f, &mine, f->reply, len);
	free(mine.query);
	return 0;
}

static int up_read(struct kiln_dnsfwd *f)
{
	for (;;) {
		const uint8_t *msg;
		size_t mlen, used;
		ssize_t r;
		int rc;

		if (f->in.cap < FRAME_MAX) {
			uint8_t *np = realloc(f->in.p, FRAME_MAX);

			if (!np)
				return kiln_err(ENOMEM, "out of memory");
			f->in.p = np;
			f->in.cap = FRAME_MAX;
		}
		r = recv(f->fd, f->in.p + f->in.len, f->in.cap - f->in.len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return 0;
		if (r <= 0)
			return kiln_err(r ? errno : ECONNRESET, "%s",
					r ? strerror(errno) : "closed by the parent");
		f->in.len += (size_t)r;
		while ((rc = kiln_dns_frame_next(f->in.p, f->in.len, &msg, &mlen, &used)) == 1) {
			rc = up_answer(f, msg, mlen);
			if (rc < 0)
				return rc;
			kiln_bytebuf_drop(&f->in, used);
		}
		if (rc < 0)
			return kiln_err_wrap(rc, "malformed stream");
	}
}

static void expire(struct kiln_dnsfwd *f)
{
	for (size_t i = 0; i < PENDING_MAX; i++)
		if (f->pend[i].used && f->pend[i].at + QUERY_EXPIRE_MS <= f->n->loop.now)
			pending_free(f, &f->pend[i]);
}

static void up_fn(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events)
{
	struct kiln_dnsfwd *f = (struct kiln_dnsfwd *)h;
	int rc;

	if (events == KILN_EV_TIMEOUT) {
		expire(f);
		up_connect(f);
		up_arm(f);
		return;
	}
	if (f->connecting) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		rc = kiln_ev_connect_result(f->fd);
		if (rc < 0) {
			up_close(f, NULL);
			return;
		}
		f->connecting = false;
		f->backoff = 0;
	}
	rc = up_read(f);
	if (rc == 0)
		rc = kiln_bytebuf_flush(&f->out, f->fd) < 0 ? kiln_err(EPIPE, "send failed") : 0;
	if (rc < 0)
		up_close(f, kiln_errmsg());
}

static void up_send(struct kiln_dnsfwd *f, struct pending *p)
{
	if (f->fd < 0) {
		up_connect(f); /* queues every pending query, p included */
		up_arm(f);
		return;
	}
	if (frame_add(&f->out, p->query, p->qlen, OUT_MAX) < 0) {
		pending_free(f, p);
		return;
	}
	if (!f->connecting && kiln_bytebuf_flush(&f->out, f->fd) < 0)
		up_close(f, "send failed");
	up_arm(f);
}

/* ---- queries ---- */

static int new_id(struct kiln_dnsfwd *f, uint16_t *id)
{
	for (int tries = 0; tries < 64; tries++) {
		if (getrandom(id, sizeof(*id), 0) != (ssize_t)sizeof(*id))
			return -EIO;
		if (!pending_find(f, *id))
			return 0;
	}
	return -EAGAIN;
}

static struct pending *pending_new(struct kiln_dnsfwd *f, const uint8_t *q, size_t len)
{
	struct kiln_dns_msg *m = f->n->msg;
	struct pending *p = NULL;
	uint16_t id;

	for (size_t i = 0; i < PENDING_MAX && !p; i++)
		if (!f->pend[i].used)
			p = &f->pend[i];
	if (!p || new_id(f, &id) < 0)
		return NULL;
	p->query = malloc(len);
	if (!p->query)
		return NULL;
	memcpy(p->query, q, len);
	p->qlen = len;
	p->used = true;
	p->id = id;
	p->orig_id = m->id;
	p->qtype = m->qtype;
	memcpy(p->qname, m->qname, sizeof(p->qname));
	p->at = f->n->loop.now;
	p->udp_fd = -1;
	kiln_dns_set_id(p->query, len, id);
	f->n_pend++;
	return p;
}

/* A SERVFAIL answer: header and question of the query. */
static size_t servfail(const uint8_t *query, const struct kiln_dns_msg *q, uint8_t *out)
{
	size_t len = KILN_DNS_HDR + q->qname_wire + 4;

	memcpy(out, query, len);
	out[2] = (uint8_t)(0x80 | (query[2] & 0x01));	/* QR, RD kept */
	out[3] = 0x82;					/* RA, rcode 2 */
	memset(out + 6, 0, 6);
	return len;
}

/*
 * One query from a client: from the cache, or forwarded. A UDP client is
 * (fd, peer); a TCP client is tc.
 */
static void query(struct kiln_dnsfwd *f, const uint8_t *q, size_t len, int fd,
		  const struct sockaddr_storage *peer, socklen_t plen, struct tconn *tc)
{
	struct kiln_init_net *n = f->n;
	struct kiln_dns_msg *m = n->msg;
	struct pending *p;
	size_t out_len;
	int rc;

	if (kiln_dns_parse(q, len, m) < 0 || (m->flags & KILN_DNS_F_QR))
		return; /* not a query: dropped, as servers do */
	rc = kiln_dns_cache_get(n->cache, q, len, m, n->loop.now, f->reply, sizeof(f->reply),
				&out_len);
	if (rc != 1) {
		p = pending_new(f, q, len);
		if (p) {
			p->tc = tc;
			p->udp_fd = fd;
			if (peer)
				memcpy(&p->peer, peer, plen);
			p->peer_len = plen;
			p->udp_max = m->arcount ? UDP_EDNS_MAX : UDP_PLAIN_MAX;
			up_send(f, p);
			return;
		}
		out_len = servfail(q, m, f->reply);
	} else if (kiln_dns_parse(f->reply, out_len, m) == 0 &&
		   kiln_dns_learn(m, n->map, n->loop.now) < 0) {
		kiln_evloop_logf(&n->loop, "DNS: %s", kiln_errmsg()); /* keeps the map fresh */
	}
	if (tc) {
		tconn_send(&n->loop, tc, f->reply, out_len);
		return;
	}
	if (out_len > UDP_PLAIN_MAX && kiln_dns_parse(q, len, m) == 0 && !m->arcount)
		out_len = truncated(q, m, (uint16_t)(f->reply[2] << 8 | f->reply[3]), f->reply);
	udp_reply(fd, peer, plen, f->reply, out_len);
}

static void udp_fn(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events)
{
	struct udpsock *u = (struct udpsock *)h;
	static uint8_t pkt[KILN_DNS_MSG_MAX];

	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		ssize_t r = recvfrom(u->fd, pkt, sizeof(pkt), MSG_DONTWAIT, (struct sockaddr *)&peer,
				     &plen);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return;
		query(u->f, pkt, (size_t)r, u->fd, &peer, plen, NULL);
	}
}

/* ---- TCP clients ---- */

static void tconn_destroy(struct kiln_evh *h)
{
	struct tconn *t = (struct tconn *)h;

	close(t->fd);
	free(t->in.p);
	free(t->out.p);
	free(t);
}

static void tconn_close(struct kiln_evloop *l, struct tconn *t)
{
	if (t->h.dead)
		return;
	for (size_t i = 0; i < PENDING_MAX; i++)
		if (t->f->pend[i].tc == t)
			pending_free(t->f, &t->f->pend[i]);
	kiln_evloop_release(l, &t->h);
}

static void tconn_fn(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events)
{
	struct tconn *t = (struct tconn *)h;
	uint8_t chunk[4096];

	if (events == KILN_EV_TIMEOUT || kiln_bytebuf_flush(&t->out, t->fd) < 0) {
		tconn_close(l, t);
		return;
	}
	t->h.deadline = l->now + TCP_IDLE_MS;
	for (;;) {
		const uint8_t *msg;
		size_t mlen, used;
		ssize_t r = recv(t->fd, chunk, sizeof(chunk), 0);
		int rc;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0 || kiln_bytebuf_add(&t->in, chunk, (size_t)r, FRAME_MAX) < 0) {
			tconn_close(l, t);
			return;
		}
		while ((rc = kiln_dns_frame_next(t->in.p, t->in.len, &msg, &mlen, &used)) == 1) {
			query(t->f, msg, mlen, -1, NULL, 0, t);
			if (t->h.dead)
				return;
			kiln_bytebuf_drop(&t->in, used);
		}
		if (rc < 0) {
			tconn_close(l, t);
			return;
		}
	}
}

struct tlisten {
	struct kiln_evh h;
	struct kiln_dnsfwd *f;
	int fd;
};

static void tlisten_fn(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events)
{
	struct tlisten *ls = (struct tlisten *)h;

	for (;;) {
		int fd = accept4(ls->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct tconn *t;

		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0)
			return;
		t = calloc(1, sizeof(*t));
		if (!t) {
			close(fd);
			continue;
		}
		t->f = ls->f;
		t->fd = fd;
		t->h.fn = tconn_fn;
		t->h.destroy = tconn_destroy;
		t->h.deadline = l->now + TCP_IDLE_MS;
		kiln_evloop_link(l, &t->h);
		if (kiln_evloop_add(l, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &t->h) < 0)
			tconn_close(l, t);
	}
}

static void fd_destroy(struct kiln_evh *h)
{
	close(((struct udpsock *)h)->fd);
	free(h);
}

static int udp_listen(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(KILN_DNS_PORT),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return kiln_err(errno, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return kiln_err(e, "bind 127.0.0.1:53/udp: %s", strerror(e));
	}
	return fd;
}

static void fwd_destroy(struct kiln_evh *h)
{
	struct kiln_dnsfwd *f = (struct kiln_dnsfwd *)h;

	for (size_t i = 0; i < PENDING_MAX; i++)
		free(f->pend[i].query);
	if (f->fd >= 0)
		close(f->fd);
	free(f->in.p);
	free(f->out.p);
	free(f);
}

int kiln_init_dns_listen(struct kiln_init_net *n)
{
	struct kiln_dnsfwd *f = calloc(1, sizeof(*f));
	struct udpsock *u = calloc(1, sizeof(*u));
	struct tlisten *t = calloc(1, sizeof(*t));
	int rc = 0;

	if (!f || !u || !t) {
		free(f);
		free(u);
		free(t);
		return kiln_err(ENOMEM, "out of memory");
	}
	f->n = n;
	f->fd = u->fd = t->fd = -1;
	f->h.fn = up_fn;
	f->h.destroy = fwd_destroy;
	n->fwd = f;
	kiln_evloop_link(&n->loop, &f->h);
	u->f = t->f = f;
	u->h.fn = udp_fn;
	t->h.fn = tlisten_fn;
	u->h.destroy = t->h.destroy = fd_destroy;
	kiln_evloop_link(&n->loop, &u->h);
	kiln_evloop_link(&n->loop, &t->h);
	u->fd = udp_listen();
	if (u->fd < 0)
		return u->fd;
	t->fd = kiln_init_tcp_listen(4, KILN_DNS_PORT);
	if (t->fd < 0)
		return t->fd;
	rc = kiln_evloop_add(&n->loop, u->fd, EPOLLIN | EPOLLET, &u->h);
	if (rc == 0)
		rc = kiln_evloop_add(&n->loop, t->fd, EPOLLIN | EPOLLET, &t->h);
	up_connect(f); /* early: the first query need not wait for the connection */
	up_arm(f);
	return rc;
}
