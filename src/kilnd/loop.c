/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's event loop: one epoll set for the CLI socket, channels, pidfds, signals. */
#include "kilnd/internal.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kilnd/net.h"
#include "kilnd/shed.h"
#include "util/cleanup.h"
#include "util/io.h"
#include "util/state_dir.h"

#define TICK_MS 250

void kd_vlog(const char *topic, const char *fmt, va_list ap)
{
	char line[1200];
	int n = snprintf(line, sizeof(line), "kilnd: %s", topic), m;

	if (n < 0 || (size_t)n > sizeof(line) - 2)
		return;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write: lines from kilnd's threads never interleave in the journal. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

void kd_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kd_vlog("", fmt, ap);
	va_end(ap);
}

uint64_t kd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t kd_mono_ms(void)
{
	return kiln_now_ms();
}

int kd_watch_add(struct kd *d, struct kd_watch *w, int fd, uint32_t events, kd_fn fn)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	w->fd = fd;
	w->events = events;
	w->fn = fn;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;

		close(fd);
		w->fd = -1;
		return kiln_err(e, "epoll_ctl: %s", strerror(e));
	}
	return 0;
}

void kd_watch_mod(struct kd *d, struct kd_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (w->fd < 0 || w->events == events)
		return;
	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, w->fd, &ev) == 0)
		w->events = events;
}

void kd_watch_close(struct kd *d, struct kd_watch *w)
{
	if (w->fd < 0)
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	close(w->fd);
	w->fd = -1;
}

struct kd_conn *kd_conn_new(struct kd *d, int fd, enum kd_conn_kind kind, kd_fn fn)
{
	struct kd_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		KD_LOG_RL("out of memory accepting a connection");
		return NULL;
	}
	c->kind = kind;
	if (kd_watch_add(d, &c->w, fd, EPOLLIN, fn) < 0) {
		KD_LOG_RL("%s", kiln_errmsg());
		free(c);
		return NULL;
	}
	c->next = d->conns;
	d->conns = c;
	return c;
}

/* Closed now, freed after this loop turn (later events may still name it). */
void kd_conn_close(struct kd *d, struct kd_conn *c)
{
	kd_watch_close(d, &c->w);
	if (c->e && c->e->ctl == c)
		c->e->ctl = NULL;
	c->dead = 1;
}

static void conn_free(struct kd_conn *c)
{
	kd_api_free_client(c);
	free(c->dec);
	free(c->in.p);
	free(c->out.p);
	free(c);
}

static void sweep(struct kd *d)
{
	struct kd_conn **pc = &d->conns;
	struct kd_enclave **pe = &d->enclaves;

	while (*pc) {
		struct kd_conn *c = *pc;

		if (c->dead) {
			*pc = c->next;
			conn_free(c);
		} else {
			pc = &c->next;
		}
	}
	while (*pe) {
		struct kd_enclave *e = *pe;

		if (e->dead) {
			*pe = e->next;
			kd_enclave_free(d, e);
		} else {
			pe = &e->next;
		}
	}
}

static void on_signal(struct kd *d, struct kd_watch *w, uint32_t events)
{
	struct signalfd_siginfo si;

	if (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		kd_log("signal %u: shutting down", si.ssi_signo);
		d->quit = 1;
	}
}

static int setup_signals(struct kd *d)
{
	sigset_t set;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return kiln_err(errno, "sigprocmask: %s", strerror(errno));
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return kiln_err(errno, "signalfd: %s", strerror(errno));
	return kd_watch_add(d, &d->sig, fd, EPOLLIN, on_signal);
}

static int mkdir_private(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return kiln_err(errno, "mkdir %s: %s", path, strerror(errno));
	return 0;
}

static int setup_dirs(struct kd *d)
{
	char p[PATH_MAX + 16];
	int rc = mkdir_private(d->state_dir);

	snprintf(p, sizeof(p), "%s/enclaves", d->state_dir);
	if (rc == 0)
		rc = mkdir_private(p);
	snprintf(p, sizeof(p), "%s/logs", d->state_dir);
	if (rc == 0)
		rc = mkdir_private(p);
	return rc;
}

/* Refuse to steal the socket of a kilnd that is still serving it. */
static int setup_socket(struct kd *d)
{
	struct kiln_chan_addr a = { .family = KILN_CHAN_UNIX };
	int fd;

	memcpy(a.path, d->sock_path, sizeof(a.path));
	fd = kiln_chan_connect(&a, 1000, 0);
	if (fd >= 0) {
		close(fd);
		return kiln_err(EADDRINUSE, "another kilnd is serving %s", d->sock_path);
	}
	fd = kiln_chan_listen(&a, 64);
	if (fd < 0)
		return fd;
	if (chmod(d->sock_path, 0600) < 0) {
		close(fd);
		return kiln_err(errno, "chmod %s: %s", d->sock_path, strerror(errno));
	}
	return kd_watch_add(d, &d->sock, fd, EPOLLIN, kd_api_accept);
}

/*
 * Every enclave's share of descriptors is capped (kilnd/net.h), but the
 * caps add up: take the hard limit the administrator allows, not the
 * default soft 1024.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			kd_log("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
	}
}

static int init(struct kd *d, const struct kilnd_opts *o)
{
	int n, rc;

	d->sock.fd = d->sig.fd = d->vsock_ctl.fd = d->vsock_hb.fd = d->vsock_store.fd = -1;
	d->log_max = o->log_max ? o->log_max : KILND_LOG_MAX_DEFAULT;
	if (o->state_dir)
		n = snprintf(d->state_dir, sizeof(d->state_dir), "%s", o->state_dir);
	else
		n = kiln_state_dir_default(d->state_dir, sizeof(d->state_dir)) < 0 ? -1 : 0;
	if (n < 0 || (size_t)n >= sizeof(d->state_dir))
		return kiln_err(ENAMETOOLONG, "state directory: %s", kiln_errmsg());
	if (o->socket)
		n = snprintf(d->sock_path, sizeof(d->sock_path), "%s", o->socket);
	else
		n = snprintf(d->sock_path, sizeof(d->sock_path), "%s/kilnd.sock", d->state_dir);
	if (n < 0 || (size_t)n >= sizeof(d->sock_path))
		return kiln_err(ENAMETOOLONG, "socket path longer than %d bytes",
				KILN_CHAN_PATH_MAX - 1);
	raise_fd_limit();
	kd_accept_spare_init();
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return kiln_err(errno, "epoll_create1: %s", strerror(errno));
	rc = setup_dirs(d);
	if (rc == 0)
		rc = setup_signals(d);
	if (rc == 0)
		rc = setup_socket(d);
	if (rc == 0)
		rc = kd_net_start(&d->net, o);
	if (rc == 0)
		rc = kd_enclave_load_all(d);
	return rc;
}

static void shutdown_all(struct kd *d)
{
	for (struct kd_conn *c = d->conns; c; c = c->next)
		kd_conn_close(d, c);
	for (struct kd_enclave *e = d->enclaves; e; e = e->next) {
		if (kd_enclave_persist(d, e) < 0)
			kd_log("%s", kiln_errmsg());
		e->dead = 1;
	}
	sweep(d);
	kd_net_stop(d->net);
	d->net = NULL;
	if (d->sock.fd >= 0)
		unlink(d->sock_path);
	kd_watch_close(d, &d->sock);
	kd_watch_close(d, &d->sig);
	kd_watch_close(d, &d->vsock_ctl);
	kd_watch_close(d, &d->vsock_hb);
	kd_watch_close(d, &d->vsock_store);
	if (d->epfd >= 0)
		close(d->epfd);
}

static void run_loop(struct kd *d)
{
	struct epoll_event evs[64];

	while (!d->quit) {
		int n = epoll_wait(d->epfd, evs, 64, TICK_MS);

		for (int i = 0; i < n; i++) {
			struct kd_watch *w = evs[i].data.ptr;

			if (w->fd >= 0)
				w->fn(d, w, evs[i].events);
		}
		kd_enclave_tick(d);
		kd_api_tick(d);
		sweep(d);
	}
}

int kilnd_run(const struct kilnd_opts *opts)
{
	struct kd d = { .epfd = -1 };
	int rc = init(&d, opts);

	if (rc == 0) {
		kd_log("serving %s (state %s)", d.sock_path, d.state_dir);
		if (opts->ready_fd >= 0 && (write(opts->ready_fd, "R", 1) != 1 ||
					    close(opts->ready_fd) < 0))
			kd_log("readiness pipe: %s", strerror(errno));
		run_loop(&d);
	}
	shutdown_all(&d);
	return rc;
}
