/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init ingress: the parent's 7100 connections -> the enclave's address:PORT, PROXY v2 optional. */
#include "init/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "net/egress_hdr.h"
#include "net/hdr_read.h"
#include "net/proxyv2.h"

/*
 * How this works: kilnd opens one channel connection per client and sends
 * the ingress header {enclave port, client address}. The header is read
 * with MSG_PEEK first and then consumed exactly, so the client's first
 * bytes stay in the socket for the relay. The parent picks the port, so
 * only ports the measured config admits are dialled (init/admit.h:
 * network.ingress, else the image's ExposedPorts, never kiln-init's own);
 * any other is closed with a log line. The app is dialled on the enclave's
 * own address, KILN_ENCLAVE_IP4 then KILN_ENCLAVE_IP6, as Docker's -p
 * reaches a container's interface: listeners on 0.0.0.0, [::] or that
 * address are reached, listeners on 127.0.0.1 or ::1 never are, and the
 * connection's source is that same non-loopback address, which the
 * attestation API refuses. When nothing listens the parent's connection is
 * closed at once with a log line, so the client sees the connection end
 * instead of hanging.
 */

#define HEADER_MS 10000
#define NO_LISTENER "nothing listens on it in the enclave (ingress reaches listeners on " \
	"0.0.0.0, [::] or " KILN_ENCLAVE_IP4_TEXT ", never on 127.0.0.1 or ::1)"

struct iflow {
	struct kiln_evh h;
	struct kiln_init_net *n;
	int parent, app;
	bool have_hdr;
	int family;			/* of the app connection being tried */
	struct kiln_ingress_hdr hdr;
	bool proxy;
};

static void iflow_destroy(struct kiln_evh *h)
{
	struct iflow *f = (struct iflow *)h;

	if (f->parent >= 0)
		close(f->parent);
	if (f->app >= 0)
		close(f->app);
	free(f);
}

static const struct kiln_ip enclave_ip[2] = { KILN_ENCLAVE_IP4, KILN_ENCLAVE_IP6 };

static int dial(struct iflow *f, int family)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(f->hdr.port) };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(f->hdr.port) };
	int fd;

	/* A family whose address or REDIRECT exemption is missing is never dialled. */
	if (!f->n->ingress_fam[family == 6])
		return -ECONNREFUSED;
	memcpy(&s4.sin_addr, enclave_ip[0].a, 4);
	memcpy(&s6.sin6_addr, enclave_ip[1].a, 16);
	fd = family == 6 ? kiln_ev_connect((struct sockaddr *)&s6, sizeof(s6)) :
			   kiln_ev_connect((struct sockaddr *)&s4, sizeof(s4));
	if (fd < 0)
		return fd;
	f->family = family;
	if (kiln_evloop_add(&f->n->loop, fd, EPOLLOUT | EPOLLET, &f->h) < 0) {
		close(fd);
		return -EIO;
	}
	f->app = fd;
	return 0;
}

static void fail(struct kiln_evloop *l, struct iflow *f, const char *why)
{
	kiln_evloop_logf(l, "ingress to port %u: %s; closed", f->hdr.port, why);
	kiln_evloop_release(l, &f->h);
}

static int send_proxy(struct iflow *f)
{
	const struct kiln_ip *dst = &enclave_ip[f->family == 6];
	uint8_t buf[KILN_PROXYV2_MAX];
	size_t len;
	int rc = kiln_proxyv2_build(f->hdr.has_client ? &f->hdr.client : NULL, f->hdr.client_port,
				    dst, f->hdr.port, buf, sizeof(buf), &len);

	if (rc == 0 && send(f->app, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		rc = kiln_err(EIO, "cannot send the PROXY header");
	return rc;
}

static void app_connected(struct kiln_evloop *l, struct iflow *f)
{
	int parent = f->parent, app = f->app;
	char label[64];

	if (f->proxy && send_proxy(f) < 0) {
		fail(l, f, kiln_errmsg());
		return;
	}
	(void)epoll_ctl(l->ep, EPOLL_CTL_DEL, app, NULL);
	f->parent = f->app = -1;
	kiln_evloop_release(l, &f->h);
	snprintf(label, sizeof(label), "ingress to port %u", f->hdr.port);
	if (kiln_evloop_relay(l, parent, app, f->n->idle_ms, label) < 0)
		kiln_evloop_logf(l, "%s: %s", label, kiln_errmsg());
}

static void on_app(struct kiln_evloop *l, struct iflow *f)
{
	int rc = kiln_ev_connect_result(f->app);

	if (rc == 0) {
		app_connected(l, f);
		return;
	}
	(void)epoll_ctl(l->ep, EPOLL_CTL_DEL, f->app, NULL);
	close(f->app);
	f->app = -1;
	if (f->family == 4 && rc == -ECONNREFUSED && dial(f, 6) == 0)
		return;
	fail(l, f, rc == -ECONNREFUSED ? NO_LISTENER : strerror(-rc));
}

static int decode_hdr(const uint8_t *buf, size_t len, void *out, size_t *used)
{
	return kiln_ingress_hdr_decode(buf, len, out, used);
}

static void on_header(struct kiln_evloop *l, struct iflow *f)
{
	uint8_t buf[KILN_INGRESS_HDR_MAX];
	const struct kiln_admit_port *rule;
	int rc = kiln_hdr_read(f->parent, buf, sizeof(buf), decode_hdr, &f->hdr);

	if (rc == 0)
		return;
	if (rc < 0) {
		if (rc != -EPIPE)
			kiln_evloop_logf(l, "ingress: malformed header from the parent: %s; closed",
					 kiln_errmsg());
		kiln_evloop_release(l, &f->h);
		return;
	}
	f->have_hdr = true;
	/* From here on only the app connection reports to this flow; the relay re-adds the parent. */
	(void)epoll_ctl(l->ep, EPOLL_CTL_DEL, f->parent, NULL);
	rule = kiln_admit_find(&f->n->admit, f->hdr.port);
	if (!rule) {
		char ports[160], why[200];

		kiln_admit_format(&f->n->admit, ports, sizeof(ports));
		snprintf(why, sizeof(why), "not admitted (admitted: %s)", ports);
		fail(l, f, why);
		return;
	}
	f->proxy = rule->proxy_protocol;
	rc = dial(f, 4);
	if (rc == -ECONNREFUSED)
		rc = dial(f, 6);
	if (rc < 0)
		fail(l, f, rc == -ECONNREFUSED ? NO_LISTENER :
						 strerror(-rc));
}

static void iflow_fn(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events)
{
	struct iflow *f = (struct iflow *)h;

	if (events == KILN_EV_TIMEOUT) {
		if (f->have_hdr)
			fail(l, f, "connecting to the app timed out");
		else
			kiln_evloop_release(l, h);
		return;
	}
	if (!f->have_hdr)
		on_header(l, f);
	else if (f->app >= 0 && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		on_app(l, f);
}

static void on_accept(struct kiln_init_net *n, int fd)
{
	struct iflow *f = calloc(1, sizeof(*f));

	if (!f) {
		close(fd);
		return;
	}
	f->n = n;
	f->parent = fd;
	f->app = -1;
	f->h.fn = iflow_fn;
	f->h.destroy = iflow_destroy;
	f->h.deadline = n->loop.now + HEADER_MS;
	kiln_evloop_link(&n->loop, &f->h);
	/* Only the header is read from the parent until the relay takes over. */
	if (kiln_evloop_add(&n->loop, fd, EPOLLIN | EPOLLRDHUP | EPOLLET, &f->h) < 0) {
		kiln_evloop_release(&n->loop, &f->h);
		return;
	}
	on_header(&n->loop, f);
}

int kiln_init_ingress_listen(struct kiln_init_net *n)
{
	struct kiln_chan_addr a = { .family = KILN_CHAN_VSOCK, .cid = KILN_CID_ANY,
				    .port = KILN_PORT_INGRESS };
	int rc = n->chan_dir ? kiln_chan_addr_in_dir(n->chan_dir, KILN_PORT_INGRESS, &a) : 0;
	int fd;

	if (rc < 0)
		return rc;
	fd = kiln_chan_listen(&a, 1024);
	if (fd < 0)
		return fd;
	return kiln_init_listener_add(n, fd, "ingress", on_accept);
}
