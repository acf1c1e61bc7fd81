/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd egress: one 7001 connection per enclave flow -> header -> local policy -> dial -> relay. */
#include "kilnd/net.h"
#include "kilnd/shed.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "net/egress_hdr.h"
#include "net/hdr_read.h"

/*
 * How this works: the enclave's request header is peeked and consumed
 * exactly (a malformed one closes that flow only, with a log line). The
 * parent's own deny rules (--egress-deny) are checked on the address; a
 * request by name is resolved by getaddrinfo on a short-lived thread, so
 * a slow resolver never stalls the loop, and each address is checked too.
 * The dial is non-blocking with a deadline; its outcome becomes the status
 * byte (refused, unreachable, timeout), so the app's connection is reset
 * promptly instead of hanging. After OK the two sockets are relayed.
 */

#define HEADER_MS 10000
#define CONNECT_MS 10000
#define IDLE_MS (3600u * 1000)	/* the enclave enforces its own, shorter, idle timeout */
#define ADDRS_MAX 8

enum kstate { K_HEADER, K_RESOLVING, K_CONNECTING };

struct kflow {
	struct kiln_evh h;
	struct kd_net *net;
	enum kstate st;
	int ch, dst;
	struct kiln_egress_req req;
	struct sockaddr_storage addrs[ADDRS_MAX];
	socklen_t addr_len[ADDRS_MAX];
	size_t n_addrs, next_addr;
	int last_err;
	struct kd_net_quota *quota;	/* this flow's share, until the relay ends */
	char encl[64];
	char label[400];
};

static void kflow_destroy(struct kiln_evh *h)
{
	struct kflow *f = (struct kflow *)h;

	if (f->ch >= 0)
		close(f->ch);
	if (f->dst >= 0)
		close(f->dst);
	if (f->quota)
		kd_net_quota_give(f->quota, KD_NET_EGRESS);
	free(f);
}

static void relay_done(void *quota)
{
	kd_net_quota_give(quota, KD_NET_EGRESS);
}

static void reply(struct kflow *f, uint8_t status)
{
	uint8_t b[KILN_EGRESS_REPLY_LEN];
	size_t len;

	if (kiln_egress_reply_encode(status, b, sizeof(b), &len) == 0 &&
	    send(f->ch, b, len, MSG_NOSIGNAL) != (ssize_t)len)
		KD_LOG_RL("net: %s: cannot send the status", f->label);
}

static void finish(struct kiln_evloop *l, struct kflow *f, uint8_t status, const char *why)
{
	KD_LOG_RL("net: %s: %s", f->label, why ? why : kiln_egress_status_str(status));
	reply(f, status);
	kiln_evloop_release(l, &f->h);
}

static uint8_t status_of(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return KILN_EGRESS_REFUSED;
	case ETIMEDOUT:
		return KILN_EGRESS_TIMEOUT;
	default:
		return KILN_EGRESS_UNREACHABLE;
	}
}

static void addr_to_ip(const struct sockaddr_storage *ss, struct kiln_ip *ip)
{
	if (ss->ss_family == AF_INET)
		kiln_ip_from_bytes(ip, 4, (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr);
	else
		kiln_ip_from_bytes(ip, 6,
				   (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* The parent's own rules; names only for requests by name (this side resolved them). */
static bool locally_denied(struct kflow *f, const struct sockaddr_storage *ss, char *why,
			   size_t len)
{
	const char *names[1] = { f->req.name };
	struct kiln_dest d = { .port = f->req.port, .names = names,
			       .n_names = f->req.family == KILN_EGRESS_BY_NAME };
	struct kiln_verdict v;

	if (!f->net->have_deny)
		return false;
	addr_to_ip(ss, &d.ip);
	v = kiln_policy_decide(&f->net->deny, &d);
	if (v.allow)
		return false;
	kiln_verdict_describe(&v, why, len);
	return true;
}

static void dial_next(struct kiln_evloop *l, struct kflow *f);

static void established(struct kiln_evloop *l, struct kflow *f)
{
	struct kd_net_quota *q = f->quota;
	int ch = f->ch, dst = f->dst;

	reply(f, KILN_EGRESS_OK);
	(void)epoll_ctl(l->ep, EPOLL_CTL_DEL, dst, NULL);
	f->ch = f->dst = -1;
	f->quota = NULL; /* the relay gives it back when it ends */
	kiln_evloop_release(l, &f->h);
	if (kiln_evloop_relay_done(l, ch, dst, IDLE_MS, f->label, relay_done, q) < 0)
		KD_LOG_RL("net: %s: %s", f->label, kiln_errmsg());
}

static void dial_next(struct kiln_evloop *l, struct kflow *f)
{
	char why[300];

	while (f->next_addr < f->n_addrs) {
		size_t i = f->next_addr++;
		int fd;

		if (locally_denied(f, &f->addrs[i], why, sizeof(why))) {
			char msg[360];

			snprintf(msg, sizeof(msg), "refused by kilnd's --egress-deny: %s", why);
			finish(l, f, KILN_EGRESS_DENIED, msg);
			return;
		}
		fd = kiln_ev_connect((struct sockaddr *)&f->addrs[i], f->addr_len[i]);
		if (fd < 0) {
			f->last_err = -fd;
			continue;
		}
		if (kiln_evloop_add(l, fd, EPOLLOUT | EPOLLET, &f->h) < 0) {
			close(fd);
			f->last_err = EIO;
			continue;
		}
		f->dst = fd;
		f->st = K_CONNECTING;
		f->h.deadline = l->now + CONNECT_MS;
		return;
	}
	finish(l, f, status_of(f->last_err), f->last_err ? strerror(f->last_err) : NULL);
}

/* ---- name lookups, off the loop ---- */

struct lookup {
	struct kflow *f;
	int gai;
	struct addrinfo *res;
};

static void *lookup_main(void *arg)
{
	struct lookup *lk = arg;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	char port[8];

	snprintf(port, sizeof(port), "%u", lk->f->req.port);
	lk->gai = getaddrinfo(lk->f->req.name, port, &hints, &lk->res);
	/* The flow waits for this pointer (it has no deadline meanwhile). */
	if (write(lk->f->net->resolved[1], &lk, sizeof(lk)) != (ssize_t)sizeof(lk)) {
		if (lk->res)
			freeaddrinfo(lk->res);
		free(lk);
	}
	return NULL;
}

static void resolve(struct kiln_evloop *l, struct kflow *f)
{
	struct lookup *lk = calloc(1, sizeof(*lk));
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (!lk) {
		finish(l, f, KILN_EGRESS_UNREACHABLE, "out of memory");
		return;
	}
	/* A thread each: an enclave gets a few at a time, not one per flow it opens. */
	if (kd_net_quota_take(f->quota, KD_NET_LOOKUP) < 0) {
		free(lk);
		finish(l, f, KILN_EGRESS_UNREACHABLE, "too many name lookups in flight");
		return;
	}
	lk->f = f;
	f->st = K_RESOLVING;
	f->h.deadline = 0;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, lookup_main, lk);
	pthread_attr_destroy(&attr);
	if (rc) {
		free(lk);
		kd_net_quota_give(f->quota, KD_NET_LOOKUP);
		finish(l, f, KILN_EGRESS_UNREACHABLE, "cannot start a name lookup");
	}
}

void kd_net_egress_resolved(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events)
{
	struct kd_net_listener *ls = (struct kd_net_listener *)h;
	struct lookup *lk;

	while (read(ls->fd, &lk, sizeof(lk)) == (ssize_t)sizeof(lk)) {
		struct kflow *f = lk->f;

		for (struct addrinfo *a = lk->res; a && f->n_addrs < ADDRS_MAX; a = a->ai_next) {
			if (a->ai_addrlen > sizeof(f->addrs[0]))
				continue;
			memcpy(&f->addrs[f->n_addrs], a->ai_addr, a->ai_addrlen);
			f->addr_len[f->n_addrs++] = a->ai_addrlen;
		}
		if (lk->res)
			freeaddrinfo(lk->res);
		kd_net_quota_give(f->quota, KD_NET_LOOKUP);
		if (lk->gai) {
			f->last_err = EHOSTUNREACH;
			KD_LOG_RL("net: %s: %s", f->label, gai_strerror(lk->gai));
		}
		free(lk);
		dial_next(l, f);
	}
}

/* ---- the request ---- */

static void set_target(struct kflow *f)
{
	char ip[KILN_IP_STRLEN];

	if (f->req.family == KILN_EGRESS_BY_NAME) {
		snprintf(f->label, sizeof(f->label), "enclave %s: egress to %s:%u", f->encl,
			 f->req.name, f->req.port);
		return;
	}
	/* ::ffff:a.b.c.d is dialled, logged and checked as the IPv4 flow it is. */
	if (kiln_ip_unmap(&f->req.ip))
		f->req.family = 4;
	kiln_ip_format(&f->req.ip, ip);
	snprintf(f->label, sizeof(f->label),
		 f->req.family == 6 ? "enclave %s: egress to [%s]:%u%s%s%s" :
				      "enclave %s: egress to %s:%u%s%s%s",
		 f->encl, ip, f->req.port, f->req.hint[0] ? " (" : "", f->req.hint,
		 f->req.hint[0] ? ")" : "");
	if (f->req.family == 4) {
		struct sockaddr_in *s = (struct sockaddr_in *)&f->addrs[0];

		s->sin_family = AF_INET;
		s->sin_port = htons(f->req.port);
		memcpy(&s->sin_addr, f->req.ip.a, 4);
		f->addr_len[0] = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&f->addrs[0];

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(f->req.port);
		memcpy(&s->sin6_addr, f->req.ip.a, 16);
		f->addr_len[0] = sizeof(*s);
	}
	f->n_addrs = 1;
}

static int decode_req(const uint8_t *buf, size_t len, void *out, size_t *used)
{
	return kiln_egress_req_decode(buf, len, out, used);
}

static void on_header(struct kiln_evloop *l, struct kflow *f)
{
	uint8_t buf[KILN_EGRESS_REQ_MAX];
	int rc = kiln_hdr_read(f->ch, buf, sizeof(buf), decode_req, &f->req);

	if (rc == 0)
		return;
	if (rc == -EPIPE) {
		kiln_evloop_release(l, &f->h);
		return;
	}
	if (rc < 0) {
		KD_LOG_RL("net: enclave %s: malformed egress request: %s; flow closed", f->encl,
			   kiln_errmsg());
		reply(f, KILN_EGRESS_BAD_REQUEST);
		kiln_evloop_release(l, &f->h);
		return;
	}
	/* Nothing more is read from the enclave until the relay runs. */
	(void)epoll_ctl(l->ep, EPOLL_CTL_DEL, f->ch, NULL);
	set_target(f);
	if (f->req.family == KILN_EGRESS_BY_NAME)
		resolve(l, f);
	else
		dial_next(l, f);
}

static void kflow_fn(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events)
{
	struct kflow *f = (struct kflow *)h;
	int rc;

	switch (f->st) {
	case K_HEADER:
		if (events == KILN_EV_TIMEOUT)
			kiln_evloop_release(l, h);
		else
			on_header(l, f);
		return;
	case K_CONNECTING:
		rc = events == KILN_EV_TIMEOUT ? -ETIMEDOUT : kiln_ev_connect_result(f->dst);
		if (rc == 0) {
			established(l, f);
			return;
		}
		(void)epoll_ctl(l->ep, EPOLL_CTL_DEL, f->dst, NULL);
		close(f->dst);
		f->dst = -1;
		f->last_err = -rc;
		dial_next(l, f);
		return;
	case K_RESOLVING:
	default:
		return;
	}
}

static void on_accept(struct kd_net *net, struct kd_net_listener *ls, int fd,
		      const struct sockaddr_storage *peer, socklen_t plen)
{
	struct kd_net_encl *ne = kd_net_peer_encl(net, ls, peer);
	struct kflow *f;

	if (!ne) {
		KD_LOG_RL("net: egress: connection from an unknown enclave refused");
		close(fd);
		return;
	}
	if (kd_net_quota_take(ne->quota, KD_NET_EGRESS) < 0) {
		close(fd);
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		kd_net_quota_give(ne->quota, KD_NET_EGRESS);
		close(fd);
		return;
	}
	f->quota = ne->quota;
	f->net = net;
	f->ch = fd;
	f->dst = -1;
	snprintf(f->encl, sizeof(f->encl), "%s", ne->name);
	f->h.fn = kflow_fn;
	f->h.destroy = kflow_destroy;
	f->h.deadline = net->loop.now + HEADER_MS;
	kiln_evloop_link(&net->loop, &f->h);
	if (kiln_evloop_add(&net->loop, fd, EPOLLIN | EPOLLRDHUP | EPOLLET, &f->h) < 0) {
		kiln_evloop_release(&net->loop, &f->h);
		return;
	}
	on_header(&net->loop, f);
}

void kd_net_egress_accept(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events)
{
	kd_net_accept_all((struct kd_net_listener *)h, on_accept);
}
