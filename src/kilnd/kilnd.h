/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd: the parent-side daemon (CLI socket, enclave channels, logs, state). */
#ifndef KILN_KILND_KILND_H
#define KILN_KILND_KILND_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define KILND_LOG_MAX_DEFAULT (16u << 20)

struct kilnd_opts {
	const char *state_dir;	/* NULL: kiln_state_dir_default() */
	const char *socket;	/* NULL: STATE/kilnd.sock */
	uint64_t log_max;	/* per-enclave log cap in bytes (0: default) */
	int ready_fd;		/* >= 0: one byte written here once serving, then closed */
	const char *const *resolvers; /* --resolver IP[:PORT] (none: /etc/resolv.conf) */
	size_t n_resolvers;
	const char *egress_deny; /* --egress-deny RULE[,RULE...]: refused for every enclave */
};

/* Serve until SIGTERM/SIGINT; 0 on a clean shutdown. */
int kilnd_run(const struct kilnd_opts *opts) KILN_MUST;
/* no_new_privs and a capability set cut to what kilnd uses. */
int kilnd_drop_privileges(void) KILN_MUST;

#endif
