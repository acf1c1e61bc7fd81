/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's sim NSM channel: a listener thread per sim enclave, a thread per connection. */
#include "kilnd/sim_nsm.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "chan/addr.h"
#include "eif/eif.h"
#include "kilnd/conn_slots.h"
#include "kilnd/internal.h"
#include "kilnd/shed.h"
#include "nsm/sim.h"
#include "util/cleanup.h"
#include "util/thread.h"

struct kd_sim_nsm {
	struct kd_conn_slots slots;	/* live connections; the owner's references */
	int listen_fd, stop_fd;
	pthread_t acceptor;
	struct kiln_nsm_sim *sim;	/* set by the acceptor before its first accept */
	char state_dir[PATH_MAX];
	char path[KILN_CHAN_PATH_MAX];
	char *eif;
	char name[KILN_NAME_MAX + 1];
};

static void nsm_free(void *owner)
{
	struct kd_sim_nsm *n = owner;

	kiln_nsm_sim_free(n->sim);
	if (n->listen_fd >= 0)
		close(n->listen_fd);
	if (n->stop_fd >= 0)
		close(n->stop_fd);
	free(n->eif);
	free(n);
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

static void serve(void *owner, int fd)
{
	struct kd_sim_nsm *n = owner;

	if (kiln_nsm_sim_serve(n->sim, fd, KD_SIM_NSM_TIMEOUT_MS) < 0)
		KD_LOG_RL("enclave %s: sim NSM: %s", n->name, kiln_errmsg());
}

static const struct kd_conn_ops conn_ops = { .serve = serve, .free = nsm_free };
_Static_assert(KD_SIM_NSM_CONNS <= KD_CONN_SLOTS_MAX, "sim NSM connections fit the table");

/* A connection from kd_accept_loop: a slot and a thread, or closed. */
static void take(void *ctx, int fd)
{
	struct kd_sim_nsm *n = ctx;
	int rc = kd_conn_slots_adopt(&n->slots, fd);

	if (rc == -EBUSY)
		KD_LOG_RL("enclave %s: sim NSM: more than %d connections; one refused", n->name,
			  KD_SIM_NSM_CONNS);
	else if (rc < 0)
		KD_LOG_RL("enclave %s: sim NSM: %s", n->name, kiln_errmsg());
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
	kd_conn_slots_unref(&n->slots);
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
	kd_conn_slots_init(&n->slots, KD_SIM_NSM_CONNS, &conn_ops, n);
	n->stop_fd = -1;
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
	kd_conn_slots_ref(&n->slots); /* the acceptor's */
	rc = kiln_thread_start_quiet_joinable(&n->acceptor, acceptor, n);
	if (rc < 0)
		kd_conn_slots_unref(&n->slots); /* the owner's remains */
out:
	if (rc < 0) {
		if (n->path[0])
			unlink(n->path);
		kd_conn_slots_unref(&n->slots);
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
	kd_conn_slots_stop(&n->slots, true);
	if (write(n->stop_fd, &one, sizeof(one)) < 0)
		kd_log("enclave %s: sim NSM: eventfd: %s", n->name, strerror(errno));
	pthread_join(n->acceptor, NULL);
	if (n->path[0])
		unlink(n->path);
	kd_conn_slots_unref(&n->slots);
}
