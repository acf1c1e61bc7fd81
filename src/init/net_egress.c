/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init egress: redirected app connections -> policy -> one parent 7001 connection per flow. */
#include "init/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "net/egress_hdr.h"
#include "net/redirect.h"

/*
 * How this works: the nat rule sends every outbound TCP connection to our
 * listener; the kernel keeps the address the app asked for, which
 * SO_ORIGINAL_DST returns. The decision uses that address, its port, and
 * the names kiln-init's own resolver mapped to the address (never a name
 * the parent claims). A denied flow is reset at once, so the app sees
 * ECONNRESET instead of a timeout. An allowed flow costs one connection to
 * the parent: request header, 4-byte status, then raw bytes. Nothing is
 * read from the app before the parent said OK, so no app bytes are ever
 * buffered here beyond the relay's own.
 */

#define HANDSHAKE_MS 30000	/* the parent's own connect timeout is shorter */
#define NAMES_MAX 8

struct eflow {
	struct kiln_evh h;
	struct kiln_init_net *n;
	int app, up;
	bool sent;
	uint8_t reply[KILN_EGRESS_REPLY_LEN];
	size_t got;
	uint8_t req[KILN_EGRESS_REQ_MAX];
	size_t req_len;
	char label[160];
};

static void eflow_destroy(struct kiln_evh *h)
{
	struct eflow *f = (struct eflow *)h;

	kiln_ev_close_reset(f->app);
	if (f->up >= 0)
		close(f->up);
	free(f);
}

static void eflow_fail(struct kiln_evloop *l, struct eflow *f, const char *why)
{
	kiln_evloop_logf(l, "%s: %s; connection reset", f->label, why);
	kiln_evloop_release(l, &f->h); /* destroy resets the app's connection */
}

static void eflow_established(struct kiln_evloop *l, struct eflow *f)
{
	int app = f->app, up = f->up;

	f->app = f->up = -1;
	(void)epoll_ctl(l->ep, EPOLL_CTL_DEL, up, NULL);
	kiln_evloop_release(l, &f->h);
	if (kiln_evloop_relay(l, app, up, f->n->idle_ms, f->label) < 0)
		kiln_evloop_logf(l, "%s: %s", f->label, kiln_errmsg());
}

static void eflow_read_reply(struct kiln_evloop *l, struct eflow *f)
{
	uint8_t status;
	size_t used;
	ssize_t r;

	while (f->got < sizeof(f->reply)) {
		/* Exactly the reply: the bytes after it belong to the relay. */
		r = recv(f->up, f->reply + f->got, sizeof(f->reply) - f->got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			eflow_fail(l, f, r == 0 ? "the parent closed the channel" : strerror(errno));
			return;
		}
		f->got += (size_t)r;
	}
	if (kiln_egress_reply_decode(f->reply, f->got, &status, &used) != 1) {
		eflow_fail(l, f, "malformed reply from the parent");
		return;
	}
	if (status != KILN_EGRESS_OK) {
		char why[96];

		snprintf(why, sizeof(why), "the parent reports: %s", kiln_egress_status_str(status));
		eflow_fail(l, f, why);
		return;
	}
	eflow_established(l, f);
}

static void eflow_fn(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events)
{
	struct eflow *f = (struct eflow *)h;
	int rc;

	if (events == KILN_EV_TIMEOUT) {
		eflow_fail(l, f, "no answer from the parent");
		return;
	}
	if (!f->sent) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		rc = kiln_ev_connect_result(f->up);
		if (rc < 0) {
			char why[128];

			snprintf(why, sizeof(why), "parent egress channel: %s", strerror(-rc));
			eflow_fail(l, f, why);
			return;
		}
		if (send(f->up, f->req, f->req_len, MSG_NOSIGNAL) != (ssize_t)f->req_len) {
			eflow_fail(l, f, "cannot send the request to the parent");
			return;
		}
		f->sent = true;
	}
	eflow_read_reply(l, f);
}

static void fmt_dest(char *buf, size_t len, const struct kiln_ip *ip, uint16_t port,
		     const char *name)
{
	char a[KILN_IP_STRLEN];

	kiln_ip_format(ip, a);
	snprintf(buf, len, ip->family == 6 ? "egress to [%s]:%u%s%s%s" : "egress to %s:%u%s%s%s", a,
		 port, name ? " (" : "", name ? name : "", name ? ")" : "");
}

static int start_flow(struct kiln_init_net *n, int app, const struct kiln_ip *ip, uint16_t port,
		      const char *hint, const char *label)
{
	struct kiln_egress_req req = { .family = ip->family, .port = port, .ip = *ip };
	struct kiln_chan_addr pa;
	struct eflow *f = calloc(1, sizeof(*f));
	int rc;

	if (!f)
		return kiln_err(ENOMEM, "out of memory");
	f->n = n;
	f->app = app;
	f->up = -1;
	snprintf(f->label, sizeof(f->label), "%s", label);
	snprintf(req.hint, sizeof(req.hint), "%s", hint ? hint : "");
	f->h.fn = eflow_fn;
	f->h.destroy = eflow_destroy;
	f->h.deadline = n->loop.now + HANDSHAKE_MS;
	kiln_evloop_link(&n->loop, &f->h);
	rc = kiln_egress_req_encode(&req, f->req, sizeof(f->req), &f->req_len);
	if (rc == 0)
		rc = kiln_chan_parent_addr(n->chan_dir, KILN_PORT_EGRESS, &pa);
	if (rc == 0)
		rc = f->up = kiln_ev_connect_chan(&pa);
	if (rc >= 0)
		rc = kiln_evloop_add(&n->loop, f->up, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &f->h);
	if (rc < 0) {
		char why[300];

		snprintf(why, sizeof(why), "parent egress channel: %s", kiln_errmsg());
		eflow_fail(&n->loop, f, why);
	}
	return 0;
}

static void on_accept(struct kiln_init_net *n, int app)
{
	const char *names[NAMES_MAX];
	struct kiln_verdict v;
	struct kiln_dest d = { .names = names };
	char label[160], why[400];
	size_t nn;

	if (kiln_original_dst(app, &d.ip, &d.port) < 0) {
		kiln_evloop_logf(&n->loop, "egress: no original destination: %s", kiln_errmsg());
		kiln_ev_close_reset(app);
		return;
	}
	/* An app's ::ffff:a.b.c.d is an IPv4 flow: names, policy and request see it so. */
	kiln_ip_unmap(&d.ip);
	nn = kiln_dnsmap_lookup(n->map, &d.ip, n->loop.now, names, NAMES_MAX);
	d.n_names = nn < NAMES_MAX ? nn : NAMES_MAX;
	v = kiln_policy_decide(&n->policy, &d);
	fmt_dest(label, sizeof(label), &d.ip, d.port,
		 v.name ? v.name : d.n_names ? names[0] : NULL);
	if (!v.allow) {
		kiln_verdict_describe(&v, why, sizeof(why));
		kiln_evloop_logf(&n->loop, "%s: %s; connection reset", label, why);
		kiln_ev_close_reset(app);
		return;
	}
	if (start_flow(n, app, &d.ip, d.port, v.name ? v.name : d.n_names ? names[0] : NULL,
		       label) < 0) {
		kiln_evloop_logf(&n->loop, "%s: %s", label, kiln_errmsg());
		kiln_ev_close_reset(app);
	}
}

static int listen_one(struct kiln_init_net *n, int family)
{
	int fd = kiln_init_tcp_listen(family, KILN_EGRESS_PORT);

	if (fd < 0)
		return fd;
	return kiln_init_listener_add(n, fd, "egress", on_accept);
}

int kiln_init_egress_listen(struct kiln_init_net *n)
{
	int rc = listen_one(n, 4);

	if (rc == 0 && listen_one(n, 6) < 0)
		kiln_evloop_logf(&n->loop, "warning: IPv6 egress listener: %s", kiln_errmsg());
	return rc;
}
