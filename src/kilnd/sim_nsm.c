/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's sim NSM channel: a listener thread per sim enclave, a thread per connection. */
#include "kilnd/sim_nsm.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan/addr.h"
#include "eif/eif.h"
#include "kilnd/internal.h"
#include "kilnd/shed.h"
#include "nsm/sim.h"
#include "util/cleanup.h"

struct kd_sim_nsm {
	pthread_mutex_t lock;
	int refs;			/* the acceptor, each live connection, the owner */
	bool stopping;
	int conns[KD_SIM_NSM_CONNS];	/* live connection fds, -1: free slot */
	int listen_fd, stop_fd;
	pthread_t acceptor;
	struct kiln_nsm_sim *sim;	/* set by the acceptor before its first accept */
	char state_dir[PATH_MAX];
	char path[KILN_CHAN_PATH_MAX];
	char *eif;
	char name[KILN_NAME_MAX + 1];
};

struct conn {
	struct kd_sim_nsm *n;
	int fd;
	int slot;
};

static void unref(struct kd_sim_nsm *n)
{
	bool last;

	pthread_mutex_lock(&n->lock);
	last = --n->refs == 0;
	pthread_mutex_unlock(&n->lock);
	if (!last)
		return;
	kiln_nsm_sim_free(n->sim);
	if (n->listen_fd >= 0)
		close(n->listen_fd);
	if (n->stop_fd >= 0)
		close(n->stop_fd);
	pthread_mutex_destroy(&n->lock);
	free(n->eif);
	free(n);
}

/* Threads never take signals: kilnd reads them from its signalfd. */
static int spawn(pthread_t *t, bool detached, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	pthread_attr_t attr;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_attr_init(&attr);
	if (detached)
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc ? kiln_err(rc, "pthread_create: %s", strerror(rc)) : 0;
}

/* PCR0/1/2/8 of the registered EIF; false (zero PCRs) when there is none or it is unreadable. */
static bool measure(const struct kd_sim_nsm *n, struct eif_pcrs *pcrs)
{
	_cleanup_close_ int fd = -1;
	char cache[PATH_MAX + 16];
	struct eif_info info;

	if (!n->eif)
		return false;
	fd = open(n->eif, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		kd_log("enclave %s: sim NSM: %s: %s; PCR0/1/2 will be zero", n->name, n->eif,
		       strerror(errno));
		return false;
	}
	snprintf(cache, sizeof(cache), "%s/eif-cache", n->state_dir);
	if (eif_read_info_cached(fd, cache, &info, pcrs) < 0) {
		kd_log("enclave %s: sim NSM: %s; PCR0/1/2 will be zero", n->name, kiln_errmsg());
		return false;
	}
	return true;
}


static void *serve_conn(void *arg)
{
	struct conn *c = arg;
	struct kd_sim_nsm *n = c->n;

	if (kiln_nsm_sim_serve(n->sim, c->fd, KD_SIM_NSM_TIMEOUT_MS) < 0)
		KD_LOG_RL("enclave %s: sim NSM: %s", n->name, kiln_errmsg());
	pthread_mutex_lock(&n->lock);
	n->conns[c->slot] = -1;
	pthread_mutex_unlock(&n->lock);
	close(c->fd);
	free(c);
	unref(n);
	return NULL;
}

/* Take a slot and a reference for fd; -1 when stopping or full. */
static int claim(struct kd_sim_nsm *n, int fd)
{
	int slot = -1;

	pthread_mutex_lock(&n->lock);
	for (int i = 0; !n->stopping && slot < 0 && i < KD_SIM_NSM_CONNS; i++)
		if (n->conns[i] < 0)
			slot = i;
	if (slot >= 0) {
		n->conns[slot] = fd;
		n->refs++;
	}
	pthread_mutex_unlock(&n->lock);
	return slot;
}

static void release(struct kd_sim_nsm *n, int slot)
{
	pthread_mutex_lock(&n->lock);
	n->conns[slot] = -1;
	n->refs--; /* the acceptor still holds one: never the last */
	pthread_mutex_unlock(&n->lock);
}

/* A connection from kd_accept_loop: a slot and a thread, or closed. */
static void take(void *ctx, int fd_in)
{
	struct kd_sim_nsm *n = ctx;
	_cleanup_close_ int fd = fd_in;
	struct conn *c;
	pthread_t t;
	int slot = claim(n, fd);

	if (slot < 0) {
		KD_LOG_RL("enclave %s: sim NSM: more than %d connections; one refused", n->name,
			  KD_SIM_NSM_CONNS);
		return;
	}
	c = malloc(sizeof(*c));
	if (!c) {
		KD_LOG_RL("enclave %s: sim NSM: out of memory", n->name);
		release(n, slot);
		return;
	}
	*c = (struct conn){ .n = n, .fd = fd, .slot = slot };
	if (spawn(&t, true, serve_conn, c) < 0) {
		KD_LOG_RL("enclave %s: sim NSM: %s", n->name, kiln_errmsg());
		free(c);
		release(n, slot);
		return;
	}
	fd = -1; /* the connection thread owns it */
}

static void log_failure(void *ctx, const char *msg)
{
	KD_LOG_RL("enclave %s: sim NSM: attestation failed: %s", ((struct kd_sim_nsm *)ctx)->name, msg);
}

static void *acceptor(void *arg)
{
	struct kd_sim_nsm *n = arg;
	struct kiln_nsm_sim_opts o = { .state_dir = n->state_dir, .log = log_failure, .log_ctx = n };
	struct eif_pcrs pcrs;
	char what[KILN_NAME_MAX + 32];

	if (measure(n, &pcrs))
		o.pcrs = &pcrs;
	if (kiln_nsm_sim_new(&o, &n->sim) < 0) {
		kd_log("enclave %s: sim NSM: %s; port %u closed", n->name, kiln_errmsg(),
		       KILN_PORT_NSM);
		goto out;
	}
	snprintf(what, sizeof(what), "enclave %s: sim NSM", n->name);
	kd_accept_loop(n->listen_fd, n->stop_fd, what, take, n);
out:
	unref(n);
	return NULL;
}

int kd_sim_nsm_start(const char *state_dir, const char *chan_dir, const char *eif,
		     const char *name, struct kd_sim_nsm **out)
{
	struct kd_sim_nsm *n = calloc(1, sizeof(*n));
	struct kiln_chan_addr a;
	int rc;

	if (!n)
		return kiln_err(ENOMEM, "out of memory");
	pthread_mutex_init(&n->lock, NULL);
	n->refs = 1; /* the owner's */
	n->stop_fd = -1;
	for (int i = 0; i < KD_SIM_NSM_CONNS; i++)
		n->conns[i] = -1;
	snprintf(n->state_dir, sizeof(n->state_dir), "%s", state_dir);
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->eif = eif ? strdup(eif) : NULL;
	/* No directory: a sim by cid (the guest lab) is served on vsock, as its other channels. */
	a = (struct kiln_chan_addr){ .family = KILN_CHAN_VSOCK, .cid = KILN_CID_ANY,
				     .port = KILN_PORT_NSM };
	rc = chan_dir ? kiln_chan_addr_in_dir(chan_dir, KILN_PORT_NSM, &a) : 0;
	n->listen_fd = rc < 0 ? rc : kiln_chan_listen(&a, 16);
	if (n->listen_fd < 0) {
		rc = n->listen_fd;
		goto out;
	}
	if (chan_dir)
		snprintf(n->path, sizeof(n->path), "%s", a.path);
	n->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->stop_fd < 0) {
		rc = kiln_err(errno, "eventfd: %s", strerror(errno));
		goto out;
	}
	if (eif && !n->eif) {
		rc = kiln_err(ENOMEM, "out of memory");
		goto out;
	}
	n->refs++; /* the acceptor's */
	rc = spawn(&n->acceptor, false, acceptor, n);
	if (rc < 0)
		n->refs--;
out:
	if (rc < 0) {
		if (n->path[0])
			unlink(n->path);
		unref(n);
		return kiln_err_wrap(rc, "sim NSM channel");
	}
	*out = n;
	return 0;
}

void kd_sim_nsm_stop(struct kd_sim_nsm *n)
{
	uint64_t one = 1;

	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stopping = true;
	for (int i = 0; i < KD_SIM_NSM_CONNS; i++)
		if (n->conns[i] >= 0)
			shutdown(n->conns[i], SHUT_RDWR);
	pthread_mutex_unlock(&n->lock);
	if (write(n->stop_fd, &one, sizeof(one)) < 0)
		kd_log("enclave %s: sim NSM: eventfd: %s", n->name, strerror(errno));
	pthread_join(n->acceptor, NULL);
	if (n->path[0])
		unlink(n->path);
	unref(n);
}
