/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd DNS relay: framed queries on 7002 -> the parent's resolvers (UDP, TCP on TC) -> framed answers. */
#include "kilnd/net.h"
#include "kilnd/shed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util/bytebuf.h"

/*
 * How this works: each framed query from an enclave becomes one upstream
 * exchange on its own connected UDP socket (a fresh source port per query;
 * the connected socket drops datagrams from anyone but the resolver), with
 * a per-try timeout, trying each resolver in turn. An answer with TC set
 * is fetched again over TCP from the same resolver. Answers must match the
 * query's ID and be responses; they go back framed, in completion order
 * (kiln-init matches them by ID). When every try fails the enclave gets
 * SERVFAIL, so the app fails fast. The enclave's bytes are only framed and
 * ID-checked here; kiln-init parses answers strictly on its side.
 */

#define TRY_MS 2000
#define TRIES_PER_RESOLVER 2
#define INFLIGHT_MAX 256
#define OUT_MAX (256u << 10)
#define FRAME_MAX (2 + KILN_DNS_MSG_MAX)

struct dconn;

struct dquery {
	struct kiln_evh h;
	struct dconn *c;
	struct kd_net_quota *quota;	/* not via c: c may be destroyed first */
	struct dquery *next;		/* in c->queries */
	int fd;
	bool tcp;
	unsigned tries;
	uint8_t *q;
	size_t qlen;
	struct kiln_bytebuf tin;		/* TCP: the framed answer being read */
	size_t tsent;			/* TCP: bytes of the framed query sent */
};

struct dconn {
	struct kiln_evh h;
	struct kd_net *net;
	int fd;
	struct kiln_bytebuf in, out;
	struct dquery *queries;
	size_t inflight;
	struct kd_net_quota *quota;
	char encl[64];
};

static void dconn_close(struct kiln_evloop *l, struct dconn *c);

/* ---- one query ---- */

static void dquery_destroy(struct kiln_evh *h)
{
	struct dquery *q = (struct dquery *)h;

	if (q->fd >= 0)
		close(q->fd);
	free(q->q);
	free(q->tin.p);
	kd_net_quota_give(q->quota, KD_NET_DNS_QUERY);
	free(q);
}

static void dquery_end(struct kiln_evloop *l, struct dquery *q)
{
	struct dconn *c = q->c;

	for (struct dquery **p = &c->queries; *p; p = &(*p)->next)
		if (*p == q) {
			*p = q->next;
			break;
		}
	c->inflight--;
	kiln_evloop_release(l, &q->h);
}

/* Send msg to the enclave, framed; the query ends. */
static void answer(struct kiln_evloop *l, struct dquery *q, const uint8_t *msg, size_t len)
{
	struct dconn *c = q->c;
	uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };

	dquery_end(l, q);
	if (kiln_bytebuf_add(&c->out, hdr, 2, OUT_MAX) < 0 || kiln_bytebuf_add(&c->out, msg, len, OUT_MAX) < 0 ||
	    kiln_bytebuf_flush(&c->out, c->fd) < 0)
		dconn_close(l, c);
}

static void servfail(struct kiln_evloop *l, struct dquery *q)
{
	struct kiln_dns_msg *m = q->c->net->msg;
	uint8_t out[KILN_DNS_HDR + KILN_NAME_LEN + 8];
	size_t len;

	if (kiln_dns_parse(q->q, q->qlen, m) < 0 || KILN_DNS_HDR + m->qname_wire + 4 > sizeof(out)) {
		dquery_end(l, q);
		return;
	}
	len = KILN_DNS_HDR + m->qname_wire + 4;
	memcpy(out, q->q, len);
	out[2] = (uint8_t)(0x80 | (q->q[2] & 0x01));
	out[3] = 0x82;
	memset(out + 6, 0, 6);
	answer(l, q, out, len);
}

static bool answer_ok(const struct dquery *q, const uint8_t *a, size_t len)
{
	return len >= KILN_DNS_HDR && a[0] == q->q[0] && a[1] == q->q[1] && (a[2] & 0x80);
}

static void try_next(struct kiln_evloop *l, struct dquery *q);

static void tcp_step(struct kiln_evloop *l, struct dquery *q, uint32_t events)
{
	uint8_t hdr[2] = { (uint8_t)(q->qlen >> 8), (uint8_t)q->qlen }, chunk[4096];
	const uint8_t *msg;
	size_t mlen, used;

	if (kiln_ev_connect_result(q->fd) < 0) {
		try_next(l, q);
		return;
	}
	while (q->tsent < 2 + q->qlen) {
		const uint8_t *p = q->tsent < 2 ? hdr + q->tsent : q->q + (q->tsent - 2);
		size_t n = q->tsent < 2 ? 2 - q->tsent : q->qlen - (q->tsent - 2);
		ssize_t w = send(q->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EAGAIN)
			return;
		if (w <= 0) {
			try_next(l, q);
			return;
		}
		q->tsent += (size_t)w;
	}
	for (;;) {
		ssize_t r = recv(q->fd, chunk, sizeof(chunk), MSG_DONTWAIT);

		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0 || kiln_bytebuf_add(&q->tin, chunk, (size_t)r, FRAME_MAX) < 0) {
			try_next(l, q);
			return;
		}
		if (kiln_dns_frame_next(q->tin.p, q->tin.len, &msg, &mlen, &used) == 1) {
			if (answer_ok(q, msg, mlen))
				answer(l, q, msg, mlen);
			else
				try_next(l, q);
			return;
		}
	}
}

/* Re-ask the same resolver over TCP (the UDP answer was truncated). */
static void to_tcp(struct kiln_evloop *l, struct dquery *q)
{
	struct kd_net *net = q->c->net;
	size_t r = (q->tries - 1) / TRIES_PER_RESOLVER % net->n_resolvers;
	int fd;

	(void)epoll_ctl(l->ep, EPOLL_CTL_DEL, q->fd, NULL);
	close(q->fd);
	q->fd = -1;
	q->tcp = true;
	fd = kiln_ev_connect((struct sockaddr *)&net->resolvers[r], net->resolver_len[r]);
	if (fd < 0 || kiln_evloop_add(l, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &q->h) < 0) {
		if (fd >= 0)
			close(fd);
		try_next(l, q);
		return;
	}
	q->fd = fd;
	q->h.deadline = l->now + TRY_MS;
}

static void udp_step(struct kiln_evloop *l, struct dquery *q)
{
	static uint8_t pkt[KILN_DNS_MSG_MAX];

	for (;;) {
		ssize_t r = recv(q->fd, pkt, sizeof(pkt), MSG_DONTWAIT);

		if (r < 0 && errno == EAGAIN)
			return;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			try_next(l, q); /* ICMP unreachable from the resolver */
			return;
		}
		if (!answer_ok(q, pkt, (size_t)r))
			continue; /* not ours: keep waiting for the real answer */
		if (pkt[2] & (KILN_DNS_F_TC >> 8))
			to_tcp(l, q);
		else
			answer(l, q, pkt, (size_t)r);
		return;
	}
}

static void dquery_fn(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events)
{
	struct dquery *q = (struct dquery *)h;

	if (events == KILN_EV_TIMEOUT)
		try_next(l, q);
	else if (q->tcp)
		tcp_step(l, q, events);
	else
		udp_step(l, q);
}

static void try_next(struct kiln_evloop *l, struct dquery *q)
{
	struct kd_net *net = q->c->net;
	size_t r;
	int fd;

	if (q->fd >= 0) {
		(void)epoll_ctl(l->ep, EPOLL_CTL_DEL, q->fd, NULL);
		close(q->fd);
		q->fd = -1;
	}
	q->tcp = false;
	q->tsent = 0;
	q->tin.len = 0;
	if (q->tries >= TRIES_PER_RESOLVER * net->n_resolvers) {
		servfail(l, q);
		return;
	}
	r = q->tries++ / TRIES_PER_RESOLVER % net->n_resolvers;
	fd = socket(net->resolvers[r].ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&net->resolvers[r], net->resolver_len[r]) < 0 ||
	    send(fd, q->q, q->qlen, MSG_DONTWAIT) != (ssize_t)q->qlen ||
	    kiln_evloop_add(l, fd, EPOLLIN | EPOLLET, &q->h) < 0) {
		if (fd >= 0)
			close(fd);
		q->h.deadline = l->now + 1; /* next resolver on the next scan */
		return;
	}
	q->fd = fd;
	q->h.deadline = l->now + TRY_MS;
}

static void start_query(struct kiln_evloop *l, struct dconn *c, const uint8_t *msg, size_t len)
{
	struct dquery *q;

	if (c->inflight >= INFLIGHT_MAX || (msg[2] & 0x80))
		return; /* too many, or not a query: dropped (kiln-init times it out) */
	if (kd_net_quota_take(c->quota, KD_NET_DNS_QUERY) < 0)
		return; /* dropped: kiln-init times it out */
	q = calloc(1, sizeof(*q));
	if (!q || !(q->q = malloc(len))) {
		free(q);
		kd_net_quota_give(c->quota, KD_NET_DNS_QUERY);
		return;
	}
	q->quota = c->quota;
	memcpy(q->q, msg, len);
	q->qlen = len;
	q->c = c;
	q->fd = -1;
	q->h.fn = dquery_fn;
	q->h.destroy = dquery_destroy;
	q->next = c->queries;
	c->queries = q;
	c->inflight++;
	kiln_evloop_link(l, &q->h);
	try_next(l, q);
}

/* ---- the enclave's connection ---- */

static void dconn_destroy(struct kiln_evh *h)
{
	struct dconn *c = (struct dconn *)h;

	close(c->fd);
	free(c->in.p);
	free(c->out.p);
	kd_net_quota_give(c->quota, KD_NET_DNS);
	free(c);
}

static void dconn_close(struct kiln_evloop *l, struct dconn *c)
{
	if (c->h.dead)
		return;
	while (c->queries)
		dquery_end(l, c->queries);
	kiln_evloop_release(l, &c->h);
}

static void dconn_fn(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events)
{
	struct dconn *c = (struct dconn *)h;
	uint8_t chunk[8192];

	/* Idle with nothing in flight: kiln-init reconnects when it next asks. */
	if (events == KILN_EV_TIMEOUT && !c->inflight) {
		dconn_close(l, c);
		return;
	}
	c->h.deadline = l->now + KD_NET_DNS_IDLE_MS;
	if (kiln_bytebuf_flush(&c->out, c->fd) < 0) {
		dconn_close(l, c);
		return;
	}
	for (;;) {
		const uint8_t *msg;
		size_t mlen, used;
		ssize_t r = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
		int rc;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0 || kiln_bytebuf_add(&c->in, chunk, (size_t)r, FRAME_MAX) < 0) {
			dconn_close(l, c);
			return;
		}
		while ((rc = kiln_dns_frame_next(c->in.p, c->in.len, &msg, &mlen, &used)) == 1) {
			start_query(l, c, msg, mlen);
			if (c->h.dead)
				return;
			kiln_bytebuf_drop(&c->in, used);
		}
		if (rc < 0) {
			KD_LOG_RL("net: enclave %s: malformed DNS channel stream; closed", c->encl);
			dconn_close(l, c);
			return;
		}
	}
}

static void on_accept(struct kd_net *net, struct kd_net_listener *ls, int fd,
		      const struct sockaddr_storage *peer, socklen_t plen)
{
	struct kd_net_encl *ne = kd_net_peer_encl(net, ls, peer);
	struct dconn *c;

	if (!ne) {
		KD_LOG_RL("net: DNS: connection from an unknown enclave refused");
		close(fd);
		return;
	}
	if (kd_net_quota_take(ne->quota, KD_NET_DNS) < 0) {
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		kd_net_quota_give(ne->quota, KD_NET_DNS);
		close(fd);
		return;
	}
	c->quota = ne->quota;
	c->h.deadline = net->loop.now + KD_NET_DNS_IDLE_MS;
	c->net = net;
	c->fd = fd;
	snprintf(c->encl, sizeof(c->encl), "%s", ne->name);
	c->h.fn = dconn_fn;
	c->h.destroy = dconn_destroy;
	kiln_evloop_link(&net->loop, &c->h);
	if (kiln_evloop_add(&net->loop, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->h) < 0)
		dconn_close(&net->loop, c);
}

void kd_net_dns_accept(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events)
{
	kd_net_accept_all((struct kd_net_listener *)h, on_accept);
}
