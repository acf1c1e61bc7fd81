/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's NSM: open it (/dev/nsm or the sim channel), seed the RNG, serve the attestation API. */
#include "init/attest.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/http_api.h"
#include "chan/addr.h"
#include "init/supervise.h"
#include "nsm/nsm.h"
#include "util/thread.h"
#include "util/cleanup.h"

#define NSM_DEV "/dev/nsm"
#define SIM_SEED_WAIT_MS 2000 /* at most this long after start for the app's exec */

struct attest {
	bool sim;		/* the sim NSM on the parent's port 7004; else /dev/nsm */
	const char *chan_dir;	/* sim: the channel directory, NULL: vsock */
	struct kiln_nsm *nsm;	/* NULL: (re)open on next use */
	int listen_fd;
	int started_rd;		/* sim: seed once the app has exec'd (kiln_app_wait_started) */
};

static void warn(const char *what)
{
	fprintf(stderr, "kiln-init: warning: %s: %s\n", what, kiln_errmsg());
}

static int nsm_open(struct attest *a)
{
	struct kiln_chan_addr addr;
	int fd, rc;

	if (a->nsm)
		return 0;
	if (!a->sim)
		return kiln_nsm_open_dev(NSM_DEV, &a->nsm);
	rc = kiln_chan_parent_addr(a->chan_dir, KILN_PORT_NSM, &addr);
	if (rc < 0)
		return rc;
	fd = kiln_chan_connect(&addr, KILN_INIT_NSM_TIMEOUT_MS, 0);
	if (fd < 0)
		return kiln_err_wrap(fd, "sim NSM on the parent's port %u", KILN_PORT_NSM);
	return kiln_nsm_open_stream(fd, KILN_INIT_NSM_TIMEOUT_MS, &a->nsm);
}

/* What the NSM says about the request's arguments: the channel is fine. */
static bool bad_argument(int rc)
{
	return rc == -EINVAL || rc == -EMSGSIZE || rc == -ERANGE;
}

/* kiln_attest_api_nsm_doc over a sim channel that is reopened once when it broke. */
static int doc(void *ctx, const struct kiln_attest_api_req *req, uint8_t **out, size_t *len)
{
	struct attest *a = ctx;
	int rc = 0;

	for (int attempt = 0; attempt < 2; attempt++) {
		rc = nsm_open(a);
		if (rc == 0)
			rc = kiln_attest_api_nsm_doc(a->nsm, req, out, len);
		if (rc == 0 || bad_argument(rc) || !a->sim)
			return rc;
		kiln_nsm_close(a->nsm);
		a->nsm = NULL;
	}
	return rc;
}

/* Mix the NSM's randomness into the kernel's pool. */
static void seed(struct attest *a)
{
	if (nsm_open(a) < 0 || kiln_nsm_seed_rng(a->nsm, -1, KILN_INIT_SEED_BYTES) < 0)
		warn("RNG not seeded from the NSM");
}

static void *serve(void *arg)
{
	struct attest *a = arg;
	struct kiln_attest_api_opts o = { .timeout_ms = KILN_ATTEST_API_TIMEOUT_MS,
					  .max_conns = KILN_ATTEST_API_CONNS_MAX, .stop_fd = -1 };

	if (a->sim) {
		/* sim: a round trip through kilnd, off the app's start (kiln_init_attest_start) */
		kiln_app_wait_started(a->started_rd, SIM_SEED_WAIT_MS);
		seed(a);
	}
	if (kiln_attest_api_serve(a->listen_fd, doc, a, &o) < 0)
		warn("attestation API stopped");
	return NULL;
}

/* config.attestation_api.listen, or the default; the caller frees *out. */
static int listen_addr(const json_t *config, char **out)
{
	const char *s = json_string_value(
		json_object_get(json_object_get(config, "attestation_api"), "listen"));

	*out = strdup(s && *s ? s : KILN_INIT_ATTEST_LISTEN);
	return *out ? 0 : kiln_err(ENOMEM, "out of memory");
}

static int start_thread(struct attest *a)
{
	return kiln_thread_start_quiet(serve, a);
}

void kiln_init_attest_start(const json_t *config, bool sim, const char *chan_dir, int started_rd)
{
	_cleanup_free_ char *addr = NULL;
	struct attest *a;

	if (access(NSM_DEV, F_OK) < 0 && !sim) {
		fprintf(stderr, "kiln-init: warning: no %s and no sim channel: no attestation\n",
			NSM_DEV);
		return;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		fprintf(stderr, "kiln-init: warning: attestation: out of memory\n");
		return;
	}
	a->sim = sim && access(NSM_DEV, F_OK) < 0;
	a->chan_dir = chan_dir;
	a->listen_fd = -1;
	a->started_rd = started_rd;
	/*
	 * On Nitro the pool is seeded from /dev/nsm before the app runs. The sim
	 * enclave shares the host's kernel, whose pool is seeded already: there
	 * the sim NSM's bytes (a round trip to kilnd) are mixed in by the thread.
	 */
	if (!a->sim)
		seed(a);
	if (listen_addr(config, &addr) < 0) {
		warn("attestation API");
		goto fail;
	}
	/* Bound before the app starts: its first request never races the listener. */
	a->listen_fd = kiln_attest_api_listen(addr);
	if (a->listen_fd < 0 || start_thread(a) < 0) {
		warn("attestation API");
		goto fail;
	}
	fprintf(stderr, "kiln-init: attestation API on %s (NSM: %s)\n", addr,
		a->sim ? "sim channel" : NSM_DEV);
	return;
fail:
	if (a->listen_fd >= 0)
		close(a->listen_fd);
	kiln_nsm_close(a->nsm);
	free(a);
}
