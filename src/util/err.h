/* SPDX-License-Identifier: Apache-2.0 */
/* kiln's one error convention: return 0 or -errno, and leave a message. */
#ifndef KILN_UTIL_ERR_H
#define KILN_UTIL_ERR_H

#include <errno.h>

/*
 * Every fallible function returns 0 on success or a negative errno and
 * records a human-readable, one-line message with kiln_err(). Callers that
 * add context use kiln_err_wrap(), which prefixes the current message, so
 * the final line reads "layer 2: entry etc/passwd: path escapes root".
 */
#define KILN_MUST __attribute__((warn_unused_result))
#define KILN_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Record a message and return -errnum (errnum given positive). */
int kiln_err(int errnum, const char *fmt, ...) KILN_PRINTF(2, 3);
/* Prefix the recorded message with context; returns rc unchanged. */
int kiln_err_wrap(int rc, const char *fmt, ...) KILN_PRINTF(2, 3);
/* The last recorded message (never NULL). */
const char *kiln_errmsg(void);
/* Clear the recorded message. */
void kiln_err_clear(void);

#endif
