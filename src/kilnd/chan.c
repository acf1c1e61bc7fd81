/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's side of the enclave channels: control frames (7000) and the heartbeat (9000). */
#include "kilnd/internal.h"
#include "kilnd/shed.h"
#include "kilnd/store.h"

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

/*
 * How this works: every byte on these connections comes from the enclave
 * side, which kilnd does not trust either. On Nitro kilnd knows an enclave
 * by its CID alone, so any process in it that can open AF_VSOCK could dial
 * these ports; kiln-init denies the app AF_VSOCK (and in sim hides the
 * channel directory), and kilnd does not rely on that alone: an enclave has
 * ONE control connection, the first to say HELLO. A later HELLO is refused
 * while that one is alive, so a forged one cannot take over the logs and
 * status; once it is gone (kiln-init reconnecting after a kilnd restart or
 * a dropped connection) the next HELLO is accepted, and an old connection
 * that has hung up but whose end of file kilnd has not read yet counts as
 * gone. Before HELLO a connection has KD_HELLO_MS to say it, and an enclave
 * at most KD_PREHELLO_MAX such connections, so it cannot hold kilnd's
 * descriptors with silent connections. The control stream goes through the
 * bounded frame decoder; any error closes that one connection with a
 * logged line, and other enclaves carry on.
 */

#define CTL_READ 16384
#define NOTE_BURST 10	     /* refusal lines per NOTE_WINDOW_MS, the rest counted */
#define NOTE_WINDOW_MS 10000
#define ACCEPT_PAUSE_MS 200  /* a listener out of descriptors waits this long */

/* kilnd's log line for a refused or expired connection: one budget for all
 * of them (a hostile enclave may cause them at will), NOTE_BURST lines per
 * NOTE_WINDOW_MS, the rest counted. */
static struct kiln_ratelimit note_rl = KILN_RATELIMIT_INIT(NOTE_BURST, NOTE_WINDOW_MS);
#define note(...) kd_log_rl(&note_rl, __VA_ARGS__)

struct kd_enclave *kd_chan_by_cid(struct kd *d, uint32_t cid)
{
	for (struct kd_enclave *e = d->enclaves; e; e = e->next)
		if (!e->dead && e->vsock && e->cid == cid && !kd_state_final(e->state))
			return e;
	return NULL;
}

/* Which enclave a new connection belongs to: by listener (unix) or peer CID (vsock). */
static struct kd_enclave *owner(struct kd *d, struct kd_watch *w, size_t off,
				const struct sockaddr_vm *peer)
{
	if (w == &d->vsock_ctl || w == &d->vsock_hb)
		return kd_chan_by_cid(d, peer->svm_cid);
	return (struct kd_enclave *)((char *)w - off);
}

static void ctl_fail(struct kd *d, struct kd_conn *c, const char *why)
{
	if (c->e) {
		kd_log("enclave %s: control channel: %s; closing it", c->e->name, why);
		kd_logs_event(d, c->e, "control-error", NULL,
			      "control channel closed: %s", why);
	} else {
		kd_log("control channel: %s; closing it", why);
	}
	kd_conn_close(d, c);
}

static void ctl_flush(struct kd *d, struct kd_conn *c)
{
	while (c->out.len) {
		ssize_t n = send(c->w.fd, c->out.p, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			ctl_fail(d, c, strerror(errno));
			return;
		}
		kiln_bytebuf_drop(&c->out, (size_t)n);
	}
	kd_watch_mod(d, &c->w, c->out.len ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static int ctl_send(struct kd *d, struct kd_conn *c, const struct kiln_frame *f)
{
	uint8_t buf[64];
	size_t len;
	int rc = kiln_frame_encode(f, buf, sizeof(buf), &len);

	if (rc == 0)
		rc = kiln_bytebuf_add(&c->out, buf, len, SIZE_MAX);
	if (rc == 0)
		ctl_flush(d, c);
	return rc;
}

int kd_chan_send_stop(struct kd *d, struct kd_enclave *e, int sig, unsigned timeout_ms)
{
	struct kiln_frame f = { .type = KILN_FRAME_STOP };

	if (!e->ctl)
		return kiln_err(ENOTCONN, "enclave %s: no control channel", e->name);
	f.u.stop.signal = (uint8_t)sig;
	f.u.stop.timeout_ms = timeout_ms;
	return ctl_send(d, e->ctl, &f);
}

static int ctl_input(struct kd *d, struct kd_conn *c, const uint8_t *p, size_t n);

/*
 * A new connection says HELLO: has the enclave's control connection c hung
 * up, kilnd not having read its end of file yet? Then whatever it sent
 * before is handled first (its last log lines) and it is closed: 1. 0 when
 * it is alive.
 */
static int ctl_gone(struct kd *d, struct kd_conn *c)
{
	struct pollfd p = { .fd = c->w.fd, .events = POLLIN | POLLRDHUP };
	uint8_t buf[CTL_READ];

	if (c->dead || c->w.fd < 0)
		return 1;
	if (poll(&p, 1, 0) < 0 || !(p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
		return 0;
	for (;;) {
		ssize_t n = recv(c->w.fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || ctl_input(d, c, buf, (size_t)n) < 0 || c->dead)
			break;
	}
	if (!c->dead && c->e)
		kd_logs_event(d, c->e, "reconnect", NULL, "new control connection replaces the old "
			      "one, which the enclave closed");
	if (!c->dead)
		kd_conn_close(d, c);
	return 1;
}

static int on_hello(struct kd *d, struct kd_conn *c, const struct kiln_hello *h)
{
	struct kd_enclave *e = c->e;
	struct kiln_frame ack = { .type = KILN_FRAME_ACK };

	if (c->hello)
		return kiln_err(EPROTO, "second HELLO");
	if (strcmp(h->name, e->name))
		return kiln_err(EPROTO, "HELLO names enclave \"%s\"", h->name);
	if (e->ctl && e->ctl != c && !ctl_gone(d, e->ctl))
		return kiln_err(EEXIST, "enclave %s: HELLO on a second control connection while "
				"the first is alive", e->name);
	c->hello = 1;
	c->deadline = 0;
	e->ctl = c;
	e->init_pid = h->init_pid;
	if (h->pcr0[0])
		memcpy(e->pcr0, h->pcr0, sizeof(e->pcr0));
	kd_logs_event(d, e, "hello", NULL, "kiln-init connected (pid %u, protocol %u)",
		      h->init_pid, (unsigned)h->max_version);
	if (kd_enclave_persist(d, e) < 0)
		kd_log("%s", kiln_errmsg());
	ack.u.ack.type = KILN_FRAME_HELLO;
	ack.u.ack.value = e->last_seq + 1;
	return ctl_send(d, c, &ack);
}

static void on_log(struct kd *d, struct kd_enclave *e, const struct kiln_frame *f)
{
	const struct kiln_log *l = &f->u.log;

	if (l->seq <= e->last_seq)
		return; /* a resend after reconnecting: already stored */
	if (l->seq > e->last_seq + 1) {
		json_t *x = json_pack("{s:I}", "count", (json_int_t)(l->seq - e->last_seq - 1));

		e->missing += l->seq - e->last_seq - 1;
		kd_logs_event(d, e, "missing", x, "%llu log lines missing (seq %llu..%llu)",
			      (unsigned long long)(l->seq - e->last_seq - 1),
			      (unsigned long long)e->last_seq + 1, (unsigned long long)l->seq - 1);
	}
	e->last_seq = l->seq;
	kd_logs_append(d, e, kd_logs_record(l, f->flags));
}

static void on_status(struct kd *d, struct kd_enclave *e, const struct kiln_status *s)
{
	if (kd_state_final(e->state))
		return;
	switch (s->state) {
	case KILN_STATE_STARTING:
		kd_enclave_set_state(d, e, KD_STARTING);
		break;
	case KILN_STATE_RUNNING:
		kd_enclave_set_state(d, e, KD_RUNNING);
		break;
	case KILN_STATE_EXITED:
		e->exit_code = s->signal ? -1 : s->exit_code;
		e->signal = s->signal ? s->signal : -1;
		kd_enclave_set_state(d, e, KD_EXITED);
		break;
	default:
		break;
	}
}

static int on_frame(struct kd *d, struct kd_conn *c, const struct kiln_frame *f)
{
	struct kd_enclave *e = c->e;

	if (f->type != KILN_FRAME_HELLO && !c->hello)
		return kiln_err(EPROTO, "%s before HELLO", kiln_frame_type_name(f->type));
	switch (f->type) {
	case KILN_FRAME_HELLO:
		return on_hello(d, c, &f->u.hello);
	case KILN_FRAME_LOG:
		on_log(d, e, f);
		return 0;
	case KILN_FRAME_STATUS:
		on_status(d, e, &f->u.status);
		return 0;
	case KILN_FRAME_DROPPED:
		e->dropped += f->u.dropped.count;
		kd_logs_event(d, e, "dropped", json_pack("{s:I}", "count",
							 (json_int_t)f->u.dropped.count),
			      "kiln-init dropped %llu log lines while disconnected",
			      (unsigned long long)f->u.dropped.count);
		return 0;
	case KILN_FRAME_ACK:
		if (f->u.ack.type == KILN_FRAME_STOP)
			kd_logs_event(d, e, "stop-ack", NULL, "kiln-init acknowledged STOP");
		return 0;
	default:
		return kiln_err(EPROTO, "unexpected %s frame from the enclave",
				kiln_frame_type_name(f->type));
	}
}

struct frame_ctx {
	struct kd *d;
	struct kd_conn *c;
};

/* 1 once the connection is dead or detached from its enclave: stop feeding it. */
static int frame_cb(void *ctx, const struct kiln_frame *f)
{
	struct frame_ctx *x = ctx;
	int rc = on_frame(x->d, x->c, f);

	return rc < 0 ? rc : (x->c->dead || !x->c->e) ? 1 : 0;
}

/* Feed what was read; handle every complete frame. */
static int ctl_input(struct kd *d, struct kd_conn *c, const uint8_t *p, size_t n)
{
	struct frame_ctx x = { d, c };
	int rc = kiln_frame_dec_input(c->dec, p, n, frame_cb, &x);

	return rc < 0 ? rc : 0;
}

static void on_ctl(struct kd *d, struct kd_watch *w, uint32_t events)
{
	struct kd_conn *c = (struct kd_conn *)w;
	uint8_t buf[CTL_READ];
	ssize_t n;
	int rc;

	if (events & EPOLLOUT)
		ctl_flush(d, c);
	if (c->dead || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	n = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (c->e && c->e->ctl == c)
			kd_logs_event(d, c->e, "disconnect", NULL, "control channel closed by %s",
				      n == 0 ? "the enclave" : strerror(errno));
		kd_conn_close(d, c);
		return;
	}
	if (!c->e) {
		kd_conn_close(d, c);
		return;
	}
	rc = ctl_input(d, c, buf, (size_t)n);
	if (rc == -EEXIST) { /* a hostile enclave can repeat this at will: no event */
		note("%s; refused", kiln_errmsg());
		kd_conn_close(d, c);
	} else if (rc < 0) {
		ctl_fail(d, c, kiln_errmsg());
	}
}

/*
 * The next connection on a channel listener, or -1. Out of descriptors,
 * kd_accept sheds pending connections (closed unserved); when not even that
 * works the listener is paused for ACCEPT_PAUSE_MS (kd_chan_tick resumes
 * it), since a level-triggered listener would otherwise wake at once, forever.
 */
static int accept_one(struct kd *d, struct kd_watch *w, struct sockaddr_vm *peer)
{
	socklen_t len = sizeof(*peer);
	int fd;

	for (;;) {
		memset(peer, 0, sizeof(*peer));
		len = sizeof(*peer);
		fd = kd_accept(w->fd, (struct sockaddr *)peer, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0 || fd == -EAGAIN)
			return fd < 0 ? -1 : fd;
		if (fd == -EMFILE) {
			note("out of descriptors: a channel connection was closed unserved");
			continue;
		}
		note("accept on a channel listener: %s; paused", strerror(-fd));
		kd_watch_mod(d, w, 0);
		d->chan_resume_at = kd_mono_ms() + ACCEPT_PAUSE_MS;
		return -1;
	}
}

static int hello_ms(const struct kd *d)
{
	return d->hello_ms > 0 ? d->hello_ms : KD_HELLO_MS;
}

static int prehello_count(const struct kd *d, const struct kd_enclave *e)
{
	int n = 0;

	for (const struct kd_conn *c = d->conns; c; c = c->next)
		n += c->kind == KD_CONN_CTL && c->e == e && !c->dead && !c->hello;
	return n;
}

void kd_chan_accept_ctl(struct kd *d, struct kd_watch *w, uint32_t events)
{
	struct sockaddr_vm peer;
	int fd;

	while ((fd = accept_one(d, w, &peer)) >= 0) {
		struct kd_enclave *e = owner(d, w, offsetof(struct kd_enclave, ctl_listen), &peer);
		struct kd_conn *c;

		if (!e) {
			note("control connection from unknown cid %u refused", peer.svm_cid);
			close(fd);
			continue;
		}
		if (prehello_count(d, e) >= KD_PREHELLO_MAX) {
			note("enclave %s: %d control connections without HELLO already; "
			     "refused another", e->name, KD_PREHELLO_MAX);
			close(fd);
			continue;
		}
		c = kd_conn_new(d, fd, KD_CONN_CTL, on_ctl);
		if (!c)
			continue;
		c->e = e;
		c->deadline = kd_mono_ms() + hello_ms(d);
		c->dec = malloc(sizeof(*c->dec));
		if (!c->dec) {
			ctl_fail(d, c, "out of memory");
			continue;
		}
		kiln_frame_dec_init(c->dec);
	}
}

static void on_hb(struct kd *d, struct kd_watch *w, uint32_t events)
{
	struct kd_conn *c = (struct kd_conn *)w;
	uint8_t b = 0;
	ssize_t n = recv(w->fd, &b, 1, MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 1 && b == 0xB7 && c->e) {
		if (send(w->fd, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1)
			kd_log("enclave %s: heartbeat echo: %s", c->e->name, strerror(errno));
		c->e->heartbeat = 1;
		kd_logs_event(d, c->e, "heartbeat", NULL, "boot heartbeat");
	} else if (n == 1 && c->e) {
		kd_log("enclave %s: heartbeat byte 0x%02x, expected 0xb7; closing", c->e->name, b);
	}
	kd_conn_close(d, c);
}

void kd_chan_accept_hb(struct kd *d, struct kd_watch *w, uint32_t events)
{
	struct sockaddr_vm peer;
	int fd;

	while ((fd = accept_one(d, w, &peer)) >= 0) {
		struct kd_enclave *e = owner(d, w, offsetof(struct kd_enclave, hb_listen), &peer);
		struct kd_conn *c;

		if (!e) {
			note("heartbeat from unknown cid %u refused", peer.svm_cid);
			close(fd);
			continue;
		}
		c = kd_conn_new(d, fd, KD_CONN_HB, on_hb);
		if (!c)
			continue;
		c->e = e;
		c->deadline = kd_mono_ms() + hello_ms(d);
	}
}

/*
 * Storage (7003) over vsock: one listener for all enclaves, the peer's CID
 * names the enclave and so its volumes (kilnd/store.h); the connection is
 * served in the store's own thread, blocking, like a sim one.
 */
void kd_chan_accept_store(struct kd *d, struct kd_watch *w, uint32_t events)
{
	struct sockaddr_vm peer;
	int fd;

	while ((fd = accept_one(d, w, &peer)) >= 0) {
		struct kd_enclave *e = kd_chan_by_cid(d, peer.svm_cid);
		int fl = fcntl(fd, F_GETFL);

		if (!e || !e->store || fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
			note("storage connection from %s cid %u refused",
			     e ? "a storage-less" : "unknown", peer.svm_cid);
			close(fd);
			continue;
		}
		kd_store_adopt(e->store, fd);
	}
}

/* Listeners paused by accept_one listen again. */
static void resume_listeners(struct kd *d, int64_t now)
{
	if (!d->chan_resume_at || now < d->chan_resume_at)
		return;
	d->chan_resume_at = 0;
	if (d->vsock_ctl.fd >= 0)
		kd_watch_mod(d, &d->vsock_ctl, EPOLLIN);
	if (d->vsock_hb.fd >= 0)
		kd_watch_mod(d, &d->vsock_hb, EPOLLIN);
	if (d->vsock_store.fd >= 0)
		kd_watch_mod(d, &d->vsock_store, EPOLLIN);
	for (struct kd_enclave *e = d->enclaves; e; e = e->next) {
		if (e->ctl_listen.fd >= 0)
			kd_watch_mod(d, &e->ctl_listen, EPOLLIN);
		if (e->hb_listen.fd >= 0)
			kd_watch_mod(d, &e->hb_listen, EPOLLIN);
	}
}

void kd_chan_tick(struct kd *d, int64_t now)
{
	resume_listeners(d, now);
	for (struct kd_conn *c = d->conns; c; c = c->next) {
		if (c->dead || !c->deadline || now < c->deadline)
			continue;
		if (c->kind == KD_CONN_CTL && !c->hello)
			note("enclave %s: control connection sent no HELLO within %d ms; closing it",
			     c->e ? c->e->name : "?", hello_ms(d));
		else if (c->kind != KD_CONN_HB)
			continue;
		kd_conn_close(d, c);
	}
}
