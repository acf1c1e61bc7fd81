/* SPDX-License-Identifier: Apache-2.0 */
/* kiln run -d: a background child that reports "ok ID" or "error MSG" to the waiting foreground. */
#ifndef KILN_UTIL_DETACH_H
#define KILN_UTIL_DETACH_H

#include "util/err.h"

#define KILN_DETACH_FAILED 125 /* the foreground's exit code when setup failed */

/*
 * Fork. In the child: a new session, stdio on /dev/null (so that
 * `id=$(kiln run -d ...)` returns), *report_fd the write end of the report
 * pipe; returns 0. In the parent: read the report until the child closes
 * it, print the ID of an "ok ID" line on stdout, "error MSG" as
 * "kiln: run: MSG" and any other line (a notice) as it is on stderr; *code
 * is 0 after "ok", else KILN_DETACH_FAILED (with `ended` as the error when
 * the child said nothing); returns 1. Fails (negative errno) when the fork
 * or the pipe does.
 */
int kiln_detach(int *report_fd, int *code, const char *ended) KILN_MUST;
/*
 * One line for the user (the newline is added, at most 1 KiB): into
 * report_fd while a -d child reports to its foreground, which shows it,
 * else (report_fd < 0) on stderr.
 */
void kiln_detach_say(int report_fd, const char *fmt, ...) KILN_PRINTF(2, 3);

#endif
