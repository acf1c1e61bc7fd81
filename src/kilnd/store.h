/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's storage channel (port 7003): each enclave's volumes as opaque objects in host directories. */
#ifndef KILN_KILND_STORE_H
#define KILN_KILND_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "fs/store.h"
#include "util/err.h"

/*
 * One kd_store per enclave: its volumes (name -> host directory, each a
 * separate root; an enclave can only name its own), per-enclave caps and
 * the live connections. A connection OPENs one volume and then gets, puts,
 * deletes and syncs objects beneath that root only (ids validated, every
 * open with RESOLVE_BENEATH). A volume is served to one connection at a
 * time. Threads: one acceptor per sim enclave (vsock: kilnd's loop accepts), one per connection (blocking
 * fsyncs never stall kilnd's event loop), like the sim NSM channel.
 */
#define KD_STORE_VOLS 16
#define KD_STORE_CONNS 8
#define KD_STORE_SNDBUF (2 << 20) /* a connection's send buffer (the kernel doubles it): every answer kiln-init may await */

struct kd_store_vol {
	char name[KFS_ID_MAX + 1]; /* what the enclave OPENs, e.g. "data" */
	char root[PATH_MAX];	   /* the host directory (made 0700 if missing) */
	bool plain;		   /* "mode": "plain": ordinary files (kilnd/store_plain.h) */
	bool any_mode;		   /* not listed: under the default root, either mode */
};

struct kd_store_cfg {
	struct kd_store_vol vol[KD_STORE_VOLS];
	size_t n;
	char default_root[PATH_MAX]; /* "": only the listed volumes; else DIR/NAME for others */
	struct kfs_dir_caps caps;    /* per volume */
};

/*
 * The register request's "volumes": [{"name": "data", "host": "/abs/dir",
 * "mode": "plain"}] (NULL: none; mode absent: encrypted). A listed volume
 * is served only in its mode. Other volume names go to
 * STATE/volumes/ENCLAVE/NAME, in whichever mode the enclave asks.
 */
#include <jansson.h>
int kd_store_cfg_parse(json_t *vols, const char *state_dir, const char *enclave,
		       struct kd_store_cfg *cfg) KILN_MUST;

struct kd_store;

int kd_store_new(const char *enclave, const struct kd_store_cfg *cfg, struct kd_store **out) KILN_MUST;
/* Serve one connection until EOF or a malformed request; logs why it ended. fd stays open. */
int kd_store_serve(struct kd_store *s, int fd);
/* Listen on chan_dir/7003 (sim) and accept in a thread. */
int kd_store_listen(struct kd_store *s, const char *chan_dir) KILN_MUST;
/*
 * Serve an accepted connection in its own thread (vsock: kilnd's one
 * listener on 7003 found the enclave by the peer's CID); closes fd when
 * refused. Stopped stores refuse.
 */
void kd_store_adopt(struct kd_store *s, int fd);
/* Stop listening and release (NULL: nothing); live connections run to the enclave's EOF. */
void kd_store_stop(struct kd_store *s);


#endif
