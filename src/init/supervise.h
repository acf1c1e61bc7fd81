/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's supervisor: start the app as its user, forward signals, reap everything. */
#ifndef KILN_INIT_SUPERVISE_H
#define KILN_INIT_SUPERVISE_H

#include "init/user.h"
#include "util/err.h"

struct kiln_app {
	char *const *argv;   /* argv[0] is looked up in env's PATH */
	char *const *env;
	const char *workdir; /* created (as root) when missing */
	const struct kiln_user *user;
};

/*
 * Become a child subreaper, start app, forward SIGTERM, SIGINT, SIGHUP,
 * SIGUSR1 and SIGUSR2 to it and reap every child (orphans included) until
 * it exits. *code is its exit status, or 128 + signal when it was killed;
 * 127 (not found) or 126 when it could not be started.
 */
int kiln_supervise(const struct kiln_app *app, int *code) KILN_MUST;

#endif
