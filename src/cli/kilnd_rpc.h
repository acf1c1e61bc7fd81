/* SPDX-License-Identifier: Apache-2.0 */
/* What kiln ps, logs, stop, rm and console share: the state dir, kilnd calls, formatting. */
#ifndef KILN_CLI_KILND_RPC_H
#define KILN_CLI_KILND_RPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kilnd/client.h"
#include "util/err.h"

/* The state directory: opt (--state-dir), else $KILN_STATE_DIR, else /run/kiln as
 * root, else $XDG_RUNTIME_DIR/kiln. */
int kiln_rpc_state_dir(const char *opt, char *buf, size_t len) KILN_MUST;

/*
 * One request, one checked reply (the reference to req is stolen). When no
 * kilnd serves STATE, the message is "kilnd is not running (no
 * STATE/kilnd.sock): " followed by what that means for the caller (nokilnd,
 * e.g. "no such enclave: web").
 */
int kiln_rpc_call(const char *state_dir, json_t *req, int timeout_ms, const char *nokilnd,
		  json_t **reply) KILN_MUST;

#define KILN_RPC_TIMEOUT_MS 10000 /* the CLI's wait for a kilnd reply */

/* The ps object of enclave name (a new reference); -ENOENT "no such enclave: NAME". */
int kiln_rpc_find(const char *state_dir, const char *name, int timeout_ms,
		  json_t **enclave) KILN_MUST;

/*
 * Start a logs stream on c: the request and its ok reply; records follow.
 * kiln_rpc_logs_start leaves kilnd's errors as they are; kiln_rpc_logs_open
 * adds "no such enclave: NAME" when kilnd is not running (the CLI's words).
 */
int kiln_rpc_logs_start(struct kilnd_client *c, const char *state_dir, const char *name,
			bool follow, uint64_t since_ns, int timeout_ms) KILN_MUST;
int kiln_rpc_logs_open(const char *state_dir, const char *name, bool follow, uint64_t since_ns,
		       struct kilnd_client *c) KILN_MUST;

/* The exit code kiln run would have returned: exit_code, 128 + signal, or -1. */
int kiln_rpc_exit_code(json_t *o);
/* "running", "starting", "exited (3)", "stopped" (with the code when known). */
void kiln_rpc_state_text(json_t *o, char *buf, size_t len);
/* A duration in seconds as "45s", "3m12s", "2h5m", "4d3h". */
void kiln_rpc_duration(uint64_t s, char *buf, size_t len);

/*
 * --since: a duration before now ("90s", "10m", "1h30m", "250ms"), an
 * RFC 3339 time ("2024-05-01T10:00:00Z", fraction and offset allowed) or unix
 * seconds ("1714557600", "1714557600.5"). now_ns is the current wall clock.
 */
int kiln_rpc_parse_since(const char *s, uint64_t now_ns, uint64_t *ns) KILN_MUST;

/* "TERM", "SIGTERM", "term" or "15" -> 15; 1..64. */
int kiln_rpc_parse_signal(const char *s, int *sig) KILN_MUST;

/* A wall-clock now in ns. */
uint64_t kiln_rpc_now_ns(void);

#endif
