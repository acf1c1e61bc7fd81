/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's end of the control channel: connect, HELLO, stream logs, reconnect, STOP. */
#include "init/ctl.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

/*
 * How this works: the parent is untrusted. Its bytes go through the bounded
 * frame decoder only; it may send ACK (to HELLO, once per connection, with
 * a seq kiln-init can use) and STOP, anything else closes the connection.
 * What it can do at worst is lose logs and keep kiln-init reconnecting: the
 * app keeps running and kiln-init's memory stays bounded (the ring, a 1 KiB
 * output buffer, one decoder).
 */

#define SEQ_LIMIT ((uint64_t)1 << 62) /* an ACK beyond this is nonsense */

static void say(struct kiln_ctl *c, const char *fmt, ...) KILN_PRINTF(2, 3);
static void say(struct kiln_ctl *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (c->say)
		c->say(c->say_ctx, line);
}

int kiln_ctl_init(struct kiln_ctl *c, const struct kiln_chan_addr *addr, const char *name,
		  uint32_t pid, struct kiln_logring *ring, kiln_ctl_say_fn sayfn, void *say_ctx)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->ring = ring;
	c->say = sayfn;
	c->say_ctx = say_ctx;
	c->app_state = KILN_STATE_STARTING;
	c->backoff_ms = KILN_CTL_BACKOFF_MIN;
	if (!addr)
		return 0;
	if (kiln_name_check(name) < 0)
		return kiln_err_wrap(-EINVAL, "enclave name");
	if (kiln_chan_addr_format(addr, c->addr_text, sizeof(c->addr_text)) < 0)
		return kiln_err(ENAMETOOLONG, "control address too long");
	c->dec = malloc(sizeof(*c->dec));
	if (!c->dec)
		return kiln_err(ENOMEM, "out of memory");
	c->addr = *addr;
	c->hello = (struct kiln_hello){ .max_version = KILN_CTL_VERSION, .init_pid = pid };
	snprintf(c->hello.name, sizeof(c->hello.name), "%s", name);
	c->state = KILN_CTL_IDLE;
	return 0;
}

void kiln_ctl_free(struct kiln_ctl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->dec);
	c->fd = -1;
	c->dec = NULL;
}

int kiln_ctl_fd(const struct kiln_ctl *c)
{
	return c->fd;
}

static bool output_pending(const struct kiln_ctl *c)
{
	return c->out_len || (c->state == KILN_CTL_READY && c->ring->unsent);
}

short kiln_ctl_events(const struct kiln_ctl *c)
{
	switch (c->state) {
	case KILN_CTL_CONNECTING:
		return POLLOUT;
	case KILN_CTL_HELLO:
	case KILN_CTL_READY:
		return (short)(POLLIN | (output_pending(c) ? POLLOUT : 0));
	default:
		return 0;
	}
}

int64_t kiln_ctl_next_timer(const struct kiln_ctl *c)
{
	switch (c->state) {
	case KILN_CTL_IDLE:
		return c->retry_at;
	case KILN_CTL_HELLO:
		return c->hello_by;
	default:
		return -1;
	}
}

bool kiln_ctl_busy(const struct kiln_ctl *c)
{
	return c->state == KILN_CTL_CONNECTING || c->state == KILN_CTL_HELLO ||
	       c->state == KILN_CTL_READY;
}

static int queue(struct kiln_ctl *c, const struct kiln_frame *f)
{
	size_t len;
	int rc = kiln_frame_encode(f, c->out + c->out_len, sizeof(c->out) - c->out_len, &len);

	if (rc < 0)
		return kiln_err(ENOBUFS, "parent does not read its acknowledgements");
	c->out_len += len;
	return 0;
}

static void drop_connection(struct kiln_ctl *c, int64_t now)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->out_len = 0;
	c->exited_sent = c->shut = false;
	c->state = KILN_CTL_IDLE;
	c->retry_at = now + c->backoff_ms;
	c->backoff_ms = c->backoff_ms * 2 > KILN_CTL_BACKOFF_MAX ? KILN_CTL_BACKOFF_MAX
								 : c->backoff_ms * 2;
}

/* A connection that worked failed, or the parent misbehaved: one console line. */
static void fail(struct kiln_ctl *c, int64_t now, const char *why)
{
	if (c->state == KILN_CTL_READY) {
		say(c, "kiln-init: control channel %s: %s; reconnecting", c->addr_text, why);
		c->lost = true;
	} else if (c->state == KILN_CTL_HELLO) {
		say(c, "kiln-init: control channel %s: %s; closing it", c->addr_text, why);
		c->lost = true;
	}
	drop_connection(c, now);
}

static int sockaddr_of(const struct kiln_chan_addr *a, struct sockaddr_storage *ss,
		       socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == KILN_CHAN_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;

		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, a->path, sizeof(un->sun_path) - 1);
		*len = sizeof(*un);
		return AF_UNIX;
	}
	struct sockaddr_vm *vm = (struct sockaddr_vm *)ss;

	vm->svm_family = AF_VSOCK;
	vm->svm_cid = a->cid;
	vm->svm_port = a->port;
	*len = sizeof(*vm);
	return AF_VSOCK;
}

static void start_hello(struct kiln_ctl *c, int64_t now)
{
	struct kiln_frame f = { .type = KILN_FRAME_HELLO, .u.hello = c->hello };

	kiln_frame_dec_init(c->dec);
	c->out_len = 0;
	if (queue(c, &f) < 0) {
		fail(c, now, kiln_errmsg());
		return;
	}
	c->state = KILN_CTL_HELLO;
	c->hello_by = now + KILN_CTL_HELLO_TIMEOUT;
}

static void try_connect(struct kiln_ctl *c, int64_t now)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = sockaddr_of(&c->addr, &ss, &len);

	c->fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0) {
		drop_connection(c, now);
		return;
	}
	if (connect(c->fd, (struct sockaddr *)&ss, len) == 0) {
		start_hello(c, now);
		return;
	}
	if (errno == EINPROGRESS || errno == EINTR) {
		c->state = KILN_CTL_CONNECTING;
		return;
	}
	drop_connection(c, now); /* ENOENT, ECONNREFUSED, EAGAIN: try again later */
}

static void connected(struct kiln_ctl *c, int64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		drop_connection(c, now);
		return;
	}
	start_hello(c, now);
}

static int on_hello_ack(struct kiln_ctl *c, uint64_t seq)
{
	struct kiln_frame f = { .type = KILN_FRAME_STATUS };
	uint64_t lost, had = c->ring->next_seq;
	int rc = 0;

	if (c->state != KILN_CTL_HELLO)
		return kiln_err(EPROTO, "a second ACK to HELLO");
	if (seq == 0 || seq > SEQ_LIMIT)
		return kiln_err(EPROTO, "ACK to HELLO with seq %llu", (unsigned long long)seq);
	if (seq > had)
		say(c, "kiln-init: parent expects log seq %llu, beyond the %llu written; "
		       "continuing from there", (unsigned long long)seq, (unsigned long long)had);
	kiln_logring_rewind(c->ring, seq, &lost);
	if (lost) {
		struct kiln_frame d = { .type = KILN_FRAME_DROPPED, .u.dropped.count = lost };

		rc = queue(c, &d);
	}
	f.u.status.state = c->app_state == KILN_STATE_EXITED ? KILN_STATE_RUNNING : c->app_state;
	if (rc == 0)
		rc = queue(c, &f);
	if (rc < 0)
		return rc;
	if (c->lost)
		say(c, "kiln-init: control channel %s back; resending from log seq %llu%s",
		    c->addr_text, (unsigned long long)(seq > c->ring->first_seq ? seq
									: c->ring->first_seq),
		    lost ? " (older lines were dropped: buffer full)" : "");
	c->lost = false;
	c->state = KILN_CTL_READY;
	c->ever_ready = true;
	c->backoff_ms = KILN_CTL_BACKOFF_MIN;
	return 0;
}

static int on_stop(struct kiln_ctl *c, const struct kiln_stop *s)
{
	struct kiln_frame f = { .type = KILN_FRAME_ACK, .u.ack = { KILN_FRAME_STOP, 0 } };

	if (c->state != KILN_CTL_READY)
		return kiln_err(EPROTO, "STOP before the ACK to HELLO");
	c->stop = true;
	c->stop_signal = s->signal;
	c->stop_ms = s->timeout_ms;
	return queue(c, &f);
}

static int on_frame(struct kiln_ctl *c, const struct kiln_frame *f)
{
	switch (f->type) {
	case KILN_FRAME_ACK:
		if (f->u.ack.type == KILN_FRAME_HELLO)
			return on_hello_ack(c, f->u.ack.value);
		return kiln_err(EPROTO, "unexpected ACK of %s", kiln_frame_type_name(f->u.ack.type));
	case KILN_FRAME_STOP:
		return on_stop(c, &f->u.stop);
	default:
		return kiln_err(EPROTO, "unexpected %s frame from the parent",
				kiln_frame_type_name(f->type));
	}
}

static int frame_cb(void *ctx, const struct kiln_frame *f)
{
	return on_frame(ctx, f);
}

int kiln_ctl_input(struct kiln_ctl *c, const uint8_t *p, size_t n)
{
	return kiln_frame_dec_input(c->dec, p, n, frame_cb, c);
}

static void read_input(struct kiln_ctl *c, int64_t now)
{
	uint8_t buf[4096];

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n == 0 && c->shut) { /* the parent has read everything */
			close(c->fd);
			c->fd = -1;
			c->state = KILN_CTL_DONE;
			return;
		}
		if (n <= 0) {
			fail(c, now, n == 0 ? "closed by the parent" : strerror(errno));
			return;
		}
		if (kiln_ctl_input(c, buf, (size_t)n) < 0) {
			char why[256];

			snprintf(why, sizeof(why), "%s", kiln_errmsg());
			fail(c, now, why);
			return;
		}
	}
}

/* Send small frames at frame boundaries, log frames when READY, until EAGAIN. */
static void pump(struct kiln_ctl *c, int64_t now)
{
	for (;;) {
		size_t rest = c->state == KILN_CTL_READY ? kiln_logring_frame_rest(c->ring) : 0;
		bool small = c->out_len && rest == 0;
		const uint8_t *p = c->out;
		size_t n = c->out_len;
		ssize_t w;

		if (c->ring->broken && c->state == KILN_CTL_READY) {
			fail(c, now, "log buffer overran a frame being sent");
			return;
		}
		if (!small && c->state == KILN_CTL_READY) {
			p = kiln_logring_peek(c->ring, &n);
			if (c->out_len && n > rest)
				n = rest;
		} else if (!small) {
			n = 0;
		}
		if (n == 0)
			return;
		w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w <= 0) {
			fail(c, now, strerror(errno));
			return;
		}
		if (small) {
			memmove(c->out, c->out + w, c->out_len - (size_t)w);
			c->out_len -= (size_t)w;
		} else {
			kiln_logring_consume(c->ring, (size_t)w);
		}
	}
}

/* After the last line: STATUS exited, then half-close and wait for the parent's EOF. */
static void finish_up(struct kiln_ctl *c, int64_t now)
{
	struct kiln_frame f = { .type = KILN_FRAME_STATUS };

	if (c->state != KILN_CTL_READY || !c->finished || c->ring->unsent)
		return;
	if (!c->exited_sent) {
		f.u.status = (struct kiln_status){ KILN_STATE_EXITED, c->exit_code, c->exit_signal };
		if (queue(c, &f) < 0) {
			fail(c, now, kiln_errmsg());
			return;
		}
		c->exited_sent = true;
		pump(c, now);
	}
	if (c->state == KILN_CTL_READY && c->exited_sent && !c->out_len && !c->shut) {
		shutdown(c->fd, SHUT_WR);
		c->shut = true;
	}
}

void kiln_ctl_run(struct kiln_ctl *c, short revents, int64_t now)
{
	if (c->state == KILN_CTL_IDLE && now >= c->retry_at)
		try_connect(c, now);
	else if (c->state == KILN_CTL_CONNECTING && revents)
		connected(c, now);
	else if ((c->state == KILN_CTL_HELLO || c->state == KILN_CTL_READY) &&
		 (revents & (POLLIN | POLLHUP | POLLERR)))
		read_input(c, now);
	if (c->state == KILN_CTL_HELLO && now >= c->hello_by)
		fail(c, now, "no ACK to HELLO in time");
	if (c->state == KILN_CTL_HELLO || c->state == KILN_CTL_READY)
		pump(c, now);
	finish_up(c, now);
}

void kiln_ctl_set_running(struct kiln_ctl *c)
{
	struct kiln_frame f = { .type = KILN_FRAME_STATUS, .u.status.state = KILN_STATE_RUNNING };

	c->app_state = KILN_STATE_RUNNING;
	if (c->state != KILN_CTL_READY)
		return; /* the next ACK to HELLO reports it */
	if (queue(c, &f) < 0)
		fail(c, 0, kiln_errmsg());
}

void kiln_ctl_finish(struct kiln_ctl *c, uint8_t code, uint8_t signal)
{
	c->app_state = KILN_STATE_EXITED;
	c->exit_code = signal ? 0 : code;
	c->exit_signal = signal;
	c->finished = true;
}

bool kiln_ctl_take_stop(struct kiln_ctl *c, int *signal, uint32_t *timeout_ms)
{
	if (!c->stop)
		return false;
	c->stop = false;
	*signal = c->stop_signal;
	*timeout_ms = c->stop_ms;
	return true;
}
