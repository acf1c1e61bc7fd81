/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's sim NSM channel: port 7004 of a sim enclave, answered with the EIF's PCRs. */
#ifndef KILN_KILND_SIM_NSM_H
#define KILN_KILND_SIM_NSM_H

#include "util/err.h"

/*
 * How this works: one thread per sim enclave owns the listener on
 * CHAN_DIR/7004. It first measures the registered EIF (PCR0/1/2/8, through
 * the EIF cache in STATE/eif-cache) and opens a kiln_nsm_sim whose CA is
 * STATE/sim-ca, then accepts; each connection is served by a detached thread
 * (kiln_nsm_sim_serve blocks) holding a reference. Stopping wakes the
 * acceptor through an eventfd, shuts the live connections down so their
 * threads return, joins the acceptor and removes the socket; the last
 * reference frees the sim. Nitro enclaves never get one: they have /dev/nsm.
 */
#define KD_SIM_NSM_CONNS 16		/* concurrent connections per enclave */
#define KD_SIM_NSM_TIMEOUT_MS 10000	/* one request read and answered */

struct kd_sim_nsm;

/* Listen on chan_dir/7004 (NULL: vsock port 7004, a sim by cid) and start the thread;
 * eif may be NULL (zero PCRs). */
int kd_sim_nsm_start(const char *state_dir, const char *chan_dir, const char *eif,
		     const char *name, struct kd_sim_nsm **out) KILN_MUST;
/* Stop and release (NULL: nothing). Waits for the acceptor thread only. */
void kd_sim_nsm_stop(struct kd_sim_nsm *n);

#endif
