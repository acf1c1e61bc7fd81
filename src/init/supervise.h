/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's supervisor: start the app as its user, forward signals, reap everything, carry its output. */
#ifndef KILN_INIT_SUPERVISE_H
#define KILN_INIT_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "chan/addr.h"
#include "init/user.h"
#include "util/err.h"

#define KILN_FLUSH_MS 5000 /* after the app exits: the longest wait for the parent */

struct kiln_app {
	char *const *argv;   /* argv[0] is looked up in env's PATH */
	char *const *env;
	const char *workdir; /* created (as root) when missing */
	const struct kiln_user *user;
	int gate_fd;	     /* >= 0: one byte arrives here when the app may exec */
	int started_fd;	     /* >= 0: a CLOEXEC pipe's write end, held by the app until its
			      * exec; kiln_app_start closes the parent's copy */
	bool allow_vsock;    /* app.allow_vsock: skip kiln_isolate_app() (init/seccomp.h) */
	void (*forked)(void *ctx); /* optional: in kiln-init once the app is forked */
	void *forked_ctx;
};

struct kiln_supervise_opts {
	const struct kiln_chan_addr *control; /* the parent's control channel; NULL: none */
	const char *name;		      /* enclave name for HELLO */
	size_t log_buffer;		      /* bytes of log lines kept for the parent */
	int flush_ms;			      /* bounded wait for the parent at the end */
	int own_fd;	/* read end of kiln-init's own stderr pipe (logged as the
			 * kiln-init stream); -1: kiln-init's stderr is the console */
	int console_fd; /* with own_fd: the console kiln-init's stderr was before */
};

/*
 * Start the app with its stdout and stderr on pipes, with stdin inherited.
 * Its pid goes to *pid; the read ends (CLOEXEC) to out[0] and out[1].
 */
int kiln_app_start(const struct kiln_app *app, pid_t *pid, int out[2]) KILN_MUST;
/*
 * Wait until the app has exec'd (or died, or timeout_ms passed): started_rd
 * is the read end of app.started_fd's pipe, which sees end of file once the
 * app's copy of the write end is closed by its exec.
 */
void kiln_app_wait_started(int started_rd, int timeout_ms);
/* A wait status as an exit code: the status, or 128 + signal. */
int kiln_exit_code(int status);

/*
 * Become a child subreaper, start app, and run one poll loop until it has
 * exited and its output is delivered: forward SIGTERM, SIGINT, SIGHUP,
 * SIGUSR1 and SIGUSR2 to it, reap every child (orphans included), copy its
 * output to the console and, line by line, to the parent over the control
 * channel (reconnecting as needed), obey the parent's STOP. *code is the
 * app's exit status, or 128 + signal when it was killed; 127 (not found) or
 * 126 when it could not be started.
 */
int kiln_supervise(const struct kiln_app *app, const struct kiln_supervise_opts *o,
		   int *code) KILN_MUST;

#endif
