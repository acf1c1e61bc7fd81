/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's NSM: the RNG seed at boot and the attestation API thread. */
#ifndef KILN_INIT_ATTEST_H
#define KILN_INIT_ATTEST_H

#include <jansson.h>
#include <stdbool.h>

#include "util/err.h"

/*
 * How this works: the NSM is /dev/nsm on Nitro; in sim (sim set, no
 * /dev/nsm) it is the sim NSM behind the parent's port 7004 (CHAN_DIR/7004,
 * or vsock:CID:7004 when the sim's channels are vsock), one stream connection
 * that is reopened when it breaks (a kilnd restart, a timeout). At boot
 * kiln-init feeds KILN_INIT_SEED_BYTES from GetRandom into the kernel pool
 * (RNDADDENTROPY; in sim without CAP_SYS_ADMIN that fails with one line on
 * stderr), then serves the attestation API (attest/http_api.h) on the
 * config's attestation_api.listen, up to KILN_ATTEST_API_CONNS_MAX clients
 * at once from one poll loop in a thread of its own that blocks every signal
 * and shares nothing with the supervisor; a slow client is dropped at its
 * deadline without stalling the others. Requests use the NSM only from that
 * thread, one at a time.
 */
#define KILN_INIT_ATTEST_LISTEN "127.0.0.1:50123"
#define KILN_INIT_SEED_BYTES 256
#define KILN_INIT_NSM_TIMEOUT_MS 5000

/* config: kiln.yaml as JSON (struct kiln_init_config.kiln), may be NULL. Never
 * fatal for the app: failures are logged and the API is left out. */
void kiln_init_attest_start(const json_t *config, bool sim, const char *chan_dir, int started_rd);

#endif
