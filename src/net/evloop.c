/* SPDX-License-Identifier: Apache-2.0 */
/* Edge-triggered epoll loop with deferred frees, deadlines and relay flows. */
#include "net/evloop.h"

#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "util/io.h"

#define BATCH 128
#define SCAN_MS 250	/* deadlines are checked this often: they are coarse by design */
/* Splice pipes of 1 MiB: fewer wake-ups per byte on bulk flows. A flow holds one only while
 * bytes wait in it (relay.c), so idle flows cost no pipe at all. */
#define PIPE_SIZE (1u << 20)
/*
 * Small requests and responses (HTTP, RPC) go through a stack buffer of this
 * size instead of a splice pipe: measured with bench/http (keep-alive GETs
 * through both ingress relays), two calls per burst instead of five.
 */
#define COPY_SMALL (16u * 1024)
/* The channel side's send buffer (relay.c says why); the kernel doubles it. */
#define CHAN_BUF (1u << 20)

/*
 * A flow registers fd a with h and fd b with hb, so a step knows whose event
 * it is and skips the idle direction (kiln_relay_step_fd). Only h is linked
 * (deadlines, release); hb only dispatches, and checks h.dead itself.
 */
struct flow {
	struct kiln_evh h;
	struct kiln_evh hb;
	struct kiln_relay *r;
	uint32_t events[2];	/* what epoll watches on each fd now */
	char label[128];
	void (*done)(void *ctx);	/* once, when the flow is freed */
	void *done_ctx;
};

uint64_t kiln_ev_now_ms(void)
{
	return (uint64_t)kiln_now_ms();
}

static void list_init(struct kiln_evh *head)
{
	head->prev = head->next = head;
}

static void list_del(struct kiln_evh *h)
{
	h->prev->next = h->next;
	h->next->prev = h->prev;
	h->prev = h->next = h;
}

static void list_add(struct kiln_evh *head, struct kiln_evh *h)
{
	h->next = head->next;
	h->prev = head;
	head->next->prev = h;
	head->next = h;
}

int kiln_evloop_init(struct kiln_evloop *l)
{
	memset(l, 0, sizeof(*l));
	list_init(&l->live);
	list_init(&l->zombies);
	l->pipes.pipe[0] = l->pipes.pipe[1] = -1;
	l->now = kiln_ev_now_ms();
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	if (l->ep < 0)
		return kiln_err(errno, "epoll_create1: %s", strerror(errno));
	return 0;
}

static void free_zombies(struct kiln_evloop *l)
{
	while (l->zombies.next != &l->zombies) {
		struct kiln_evh *h = l->zombies.next;

		list_del(h);
		h->destroy(h);
	}
}

void kiln_evloop_free(struct kiln_evloop *l)
{
	while (l->live.next != &l->live)
		kiln_evloop_release(l, l->live.next);
	free_zombies(l);
	kiln_relay_pool_free(&l->pipes);
	if (l->ep >= 0)
		close(l->ep);
	l->ep = -1;
}

void kiln_evloop_link(struct kiln_evloop *l, struct kiln_evh *h)
{
	h->dead = false;
	list_add(&l->live, h);
}

int kiln_evloop_add(struct kiln_evloop *l, int fd, uint32_t events, struct kiln_evh *h)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		return kiln_err(errno, "epoll_ctl: %s", strerror(errno));
	return 0;
}

int kiln_evloop_mod(struct kiln_evloop *l, int fd, uint32_t events, struct kiln_evh *h)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	if (epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &ev) < 0)
		return kiln_err(errno, "epoll_ctl: %s", strerror(errno));
	return 0;
}

void kiln_evloop_release(struct kiln_evloop *l, struct kiln_evh *h)
{
	if (h->dead)
		return;
	h->dead = true;
	list_del(h);
	list_add(&l->zombies, h);
}

void kiln_evloop_logf(struct kiln_evloop *l, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (l->log)
		l->log(l->log_ctx, line);
}

static void scan_deadlines(struct kiln_evloop *l)
{
	struct kiln_evh *h = l->live.next;

	while (h != &l->live) {
		struct kiln_evh *next = h->next; /* h may be released by its fn */

		if (h->deadline && h->deadline <= l->now)
			h->fn(l, h, KILN_EV_TIMEOUT);
		h = next;
	}
	l->next_scan = l->now + SCAN_MS;
}

void kiln_evloop_turn(struct kiln_evloop *l, int max_ms)
{
	struct epoll_event evs[BATCH];
	int64_t wait = (int64_t)l->next_scan - (int64_t)kiln_ev_now_ms();
	int n;

	if (wait < 0)
		wait = 0;
	if (max_ms >= 0 && wait > max_ms)
		wait = max_ms;
	n = epoll_wait(l->ep, evs, BATCH, (int)wait);
	if (l->lock)
		pthread_mutex_lock(l->lock);
	l->now = kiln_ev_now_ms();
	for (int i = 0; i < n; i++) {
		struct kiln_evh *h = evs[i].data.ptr;

		if (!h->dead)
			h->fn(l, h, evs[i].events);
	}
	if (l->now >= l->next_scan)
		scan_deadlines(l);
	free_zombies(l);
	if (l->lock)
		pthread_mutex_unlock(l->lock);
}

/* ---- relay flows ---- */

static void flow_destroy(struct kiln_evh *h)
{
	struct flow *f = (struct flow *)h;

	if (f->done)
		f->done(f->done_ctx);
	free(h);
}

static void flow_end(struct kiln_evloop *l, struct flow *f, bool reset)
{
	kiln_relay_close(f->r, reset);
	f->r = NULL;
	l->n_flows--;
	kiln_evloop_release(l, &f->h);
}

/*
 * Watch only what the relay waits for: AF_UNIX and vsock wake a writer
 * watching EPOLLOUT for every skb its peer consumes, so a flow that watched
 * EPOLLOUT with nothing queued would wake once per skb on bulk transfers.
 * MOD re-checks readiness, so no edge is lost when a watch is added.
 */
static int flow_watch(struct kiln_evloop *l, struct flow *f)
{
	for (int i = 0; i < 2; i++) {
		uint32_t ev = kiln_relay_events(f->r, i);
		int rc;

		if (ev == f->events[i])
			continue;
		rc = kiln_evloop_mod(l, kiln_relay_fd(f->r, i), ev | EPOLLET, i ? &f->hb : &f->h);
		if (rc < 0)
			return rc;
		f->events[i] = ev;
	}
	return 0;
}

static void flow_step(struct kiln_evloop *l, struct flow *f, int which, uint32_t events)
{
	struct kiln_evh *h = &f->h;
	uint64_t dl;
	int rc;

	rc = kiln_relay_step_fd(f->r, l->now, which, events);
	if (rc < 0) {
		/* Resets from a peer are ordinary ends of TCP flows: not worth a line. */
		if (rc != -ECONNRESET && rc != -EPIPE)
			kiln_evloop_logf(l, "%s: %s", f->label, kiln_errmsg());
		flow_end(l, f, true);
		return;
	}
	if (rc == 0) {
		flow_end(l, f, false);
		return;
	}
	dl = kiln_relay_deadline(f->r);
	h->deadline = dl == UINT64_MAX ? 0 : dl;
	if (flow_watch(l, f) < 0) {
		kiln_evloop_logf(l, "%s: %s", f->label, kiln_errmsg());
		flow_end(l, f, true);
	}
}

static void flow_fn(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events)
{
	struct flow *f = (struct flow *)h;

	if (events == KILN_EV_TIMEOUT) {
		kiln_evloop_logf(l, "%s: idle timeout, closed with reset", f->label);
		flow_end(l, f, true);
		return;
	}
	flow_step(l, f, 0, events);
}

static void flow_fn_b(struct kiln_evloop *l, struct kiln_evh *hb, uint32_t events)
{
	struct flow *f = (struct flow *)((char *)hb - offsetof(struct flow, hb));

	if (!f->h.dead) /* freed only after the batch, so f is still valid */
		flow_step(l, f, 1, events);
}

int kiln_evloop_relay(struct kiln_evloop *l, int a, int b, uint32_t idle_ms, const char *label)
{
	return kiln_evloop_relay_done(l, a, b, idle_ms, label, NULL, NULL);
}

int kiln_evloop_relay_done(struct kiln_evloop *l, int a, int b, uint32_t idle_ms,
			   const char *label, void (*done)(void *ctx), void *ctx)
{
	struct kiln_relay_opts o = { .idle_ms = idle_ms, .pipe_size = PIPE_SIZE,
				       .chan_buf = CHAN_BUF, .host_tcp_buf = l->host_tcp_buf,
				       .pool = &l->pipes, .copy_small = COPY_SMALL };
	struct flow *f = calloc(1, sizeof(*f));
	int rc;

	if (!f) {
		close(a);
		close(b);
		if (done)
			done(ctx);
		return kiln_err(ENOMEM, "out of memory");
	}
	rc = kiln_relay_new(a, b, &o, l->now, &f->r);
	if (rc < 0) {
		free(f);
		if (done)
			done(ctx);
		return rc;
	}
	f->done = done;
	f->done_ctx = ctx;
	snprintf(f->label, sizeof(f->label), "%s", label);
	f->h.fn = flow_fn;
	f->h.destroy = flow_destroy;
	f->hb.fn = flow_fn_b;
	kiln_evloop_link(l, &f->h);
	l->n_flows++;
	for (int i = 0; i < 2; i++) {
		f->events[i] = kiln_relay_events(f->r, i);
		rc = kiln_evloop_add(l, kiln_relay_fd(f->r, i), f->events[i] | EPOLLET,
				     i ? &f->hb : &f->h);
		if (rc < 0) {
			flow_end(l, f, true);
			return rc;
		}
	}
	/* bytes may already be waiting on either side (RDHUP: read each to EAGAIN or EOF) */
	flow_step(l, f, -1, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
	return 0;
}

/* ---- connecting ---- */

int kiln_ev_connect(const struct sockaddr *sa, socklen_t len)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int e;

	if (fd < 0)
		return kiln_err(errno, "socket: %s", strerror(errno));
	if (connect(fd, sa, len) == 0 || errno == EINPROGRESS)
		return fd;
	e = errno == EAGAIN ? ECONNREFUSED : errno;
	close(fd);
	return kiln_err(e, "connect: %s", strerror(e));
}

int kiln_ev_connect_chan(const struct kiln_chan_addr *a)
{
	struct sockaddr_vm vm = { .svm_family = AF_VSOCK };
	struct sockaddr_un un = { .sun_family = AF_UNIX };

	switch (a->family) {
	case KILN_CHAN_VSOCK:
		vm.svm_cid = a->cid;
		vm.svm_port = a->port;
		return kiln_ev_connect((struct sockaddr *)&vm, sizeof(vm));
	case KILN_CHAN_UNIX:
		if (strlen(a->path) >= sizeof(un.sun_path))
			return kiln_err(ENAMETOOLONG, "socket path too long");
		memcpy(un.sun_path, a->path, strlen(a->path) + 1);
		return kiln_ev_connect((struct sockaddr *)&un, sizeof(un));
	default:
		return kiln_err(EINVAL, "unknown channel address family");
	}
}

int kiln_ev_connect_result(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return err ? -err : 0;
}

void kiln_ev_close_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (fd < 0)
		return;
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}
