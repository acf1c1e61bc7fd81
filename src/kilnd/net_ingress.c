/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd ingress: host TCP listeners -> one channel connection to the enclave's 7100 per client. */
#include "kilnd/net.h"
#include "kilnd/shed.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "net/egress_hdr.h"

/*
 * How this works: a listener per mapping, bound when the enclave
 * registers (so a busy port fails the registration with a clear message).
 * Each client costs one channel connection to the enclave: the ingress
 * header {enclave port, client address} goes first, then the relay runs.
 * kiln-init closes the channel when nothing listens on the port inside,
 * which reaches the client as a prompt close. A client the enclave cannot
 * be reached for is reset at once.
 */

#define CONNECT_MS 5000
#define IDLE_MS (3600u * 1000)

struct iflow {
	struct kiln_evh h;
	int client, ch;
	uint8_t hdr[KILN_INGRESS_HDR_MAX];
	size_t hdr_len;
	struct kd_net_quota *quota;	/* this flow's share, until the relay ends */
	char label[160];
};

static void relay_done(void *quota)
{
	kd_net_quota_give(quota, KD_NET_INGRESS);
}

static void iflow_destroy(struct kiln_evh *h)
{
	struct iflow *f = (struct iflow *)h;

	kiln_ev_close_reset(f->client);
	if (f->ch >= 0)
		close(f->ch);
	if (f->quota)
		kd_net_quota_give(f->quota, KD_NET_INGRESS);
	free(f);
}

static void fail(struct kiln_evloop *l, struct iflow *f, const char *why)
{
	KD_LOG_RL("net: %s: enclave not reachable: %s; client reset", f->label, why);
	kiln_evloop_release(l, &f->h);
}

static void iflow_fn(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events)
{
	struct iflow *f = (struct iflow *)h;
	int rc = events == KILN_EV_TIMEOUT ? -ETIMEDOUT : kiln_ev_connect_result(f->ch);
	int client, ch;

	if (rc < 0) {
		fail(l, f, strerror(-rc));
		return;
	}
	if (send(f->ch, f->hdr, f->hdr_len, MSG_NOSIGNAL) != (ssize_t)f->hdr_len) {
		fail(l, f, "cannot send the ingress header");
		return;
	}
	struct kd_net_quota *q = f->quota;

	client = f->client;
	ch = f->ch;
	f->client = f->ch = -1;
	f->quota = NULL; /* the relay gives it back when it ends */
	(void)epoll_ctl(l->ep, EPOLL_CTL_DEL, ch, NULL);
	kiln_evloop_release(l, &f->h);
	if (kiln_evloop_relay_done(l, client, ch, IDLE_MS, f->label, relay_done, q) < 0)
		KD_LOG_RL("net: %s: %s", f->label, kiln_errmsg());
}

static void client_addr(const struct sockaddr_storage *ss, struct kiln_ingress_hdr *h)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;

		kiln_ip_from_bytes(&h->client, 4, (const uint8_t *)&s->sin_addr);
		h->client_port = ntohs(s->sin_port);
		h->has_client = true;
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		const uint8_t *a = (const uint8_t *)&s->sin6_addr;

		if (!memcmp(a, mapped, 12))
			kiln_ip_from_bytes(&h->client, 4, a + 12);
		else
			kiln_ip_from_bytes(&h->client, 6, a);
		h->client_port = ntohs(s->sin6_port);
		h->has_client = true;
	}
}

static void on_accept(struct kd_net *net, struct kd_net_listener *ls, int fd,
		      const struct sockaddr_storage *peer, socklen_t plen)
{
	struct kd_net_encl *ne = ls->encl;
	struct kiln_ingress_hdr hdr = { .port = ls->port };
	struct kiln_chan_addr a = { .family = KILN_CHAN_VSOCK, .cid = ne->cid,
				    .port = KILN_PORT_INGRESS };
	struct iflow *f;
	int rc;

	if (kd_net_quota_take(ne->quota, KD_NET_INGRESS) < 0) {
		kiln_ev_close_reset(fd);
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		kd_net_quota_give(ne->quota, KD_NET_INGRESS);
		kiln_ev_close_reset(fd);
		return;
	}
	f->quota = ne->quota;
	f->client = fd;
	f->ch = -1;
	/* Say what was dialled: a failure on Nitro names the CID. */
	if (ne->nitro)
		snprintf(f->label, sizeof(f->label), "enclave %s: ingress to port %u (vsock %u:%u)",
			 ne->name, ls->port, (unsigned)ne->cid, (unsigned)KILN_PORT_INGRESS);
	else
		snprintf(f->label, sizeof(f->label), "enclave %s: ingress to port %u", ne->name,
			 ls->port);
	f->h.fn = iflow_fn;
	f->h.destroy = iflow_destroy;
	f->h.deadline = net->loop.now + CONNECT_MS;
	kiln_evloop_link(&net->loop, &f->h);
	client_addr(peer, &hdr);
	rc = kiln_ingress_hdr_encode(&hdr, f->hdr, sizeof(f->hdr), &f->hdr_len);
	if (rc == 0 && !ne->nitro)
		rc = kiln_chan_addr_in_dir(ne->chan_dir, KILN_PORT_INGRESS, &a);
	if (rc == 0)
		rc = f->ch = kiln_ev_connect_chan(&a);
	if (rc >= 0)
		rc = kiln_evloop_add(&net->loop, f->ch, EPOLLOUT | EPOLLET, &f->h);
	if (rc < 0)
		fail(&net->loop, f, kiln_errmsg());
}

void kd_net_ingress_accept(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events)
{
	kd_net_accept_all((struct kd_net_listener *)h, on_accept);
}

static int host_listen(const struct kiln_portmap *m)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int one = 1, zero = 0, fam = m->host.family == 4 ? AF_INET : AF_INET6;
	int fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), e;
	char what[80];

	kiln_portmap_format(m, what, sizeof(what));
	if (fd < 0 && m->host.family == 0) {
		/* No IPv6 here: every IPv4 address then. */
		struct kiln_portmap v4 = *m;

		v4.host.family = 4;
		return host_listen(&v4);
	}
	if (fd < 0)
		return kiln_err(errno, "port %s: socket: %s", what, strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fam == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(m->host_port);
		memcpy(&s->sin_addr, m->host.a, 4);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(m->host_port);
		memcpy(&s->sin6_addr, m->host.a, 16); /* all zero for "every address" */
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, m->host.family ? &one : &zero,
				 sizeof(int));
		len = sizeof(*s);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0) {
		e = errno;
		close(fd);
		if (e == EADDRINUSE)
			return kiln_err(e, "port %u already in use (%s)", m->host_port, what);
		return kiln_err(e, "port %s: %s", what, strerror(e));
	}
	return fd;
}

/* Caller holds net->lock. */
int kd_net_ingress_listen(struct kd_net *net, struct kd_net_encl *ne)
{
	for (size_t i = 0; i < ne->n_ports; i++) {
		int fd;

		if (ne->ingress[i])
			continue;
		fd = host_listen(&ne->ports[i]);
		if (fd < 0)
			return fd;
		ne->ingress[i] = kd_net_listener_new(net, ne, fd, kd_net_ingress_accept);
		if (!ne->ingress[i])
			return -ENOMEM;
		ne->ingress[i]->port = ne->ports[i].port;
	}
	return 0;
}
