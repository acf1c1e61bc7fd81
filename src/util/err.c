/* SPDX-License-Identifier: Apache-2.0 */
/* Thread-local error message storage behind kiln_err(). */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char err_buf[1024];

int kiln_err(int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
	va_end(ap);
	if (errnum <= 0)
		errnum = EIO;
	return -errnum;
}

int kiln_err_wrap(int rc, const char *fmt, ...)
{
	char prefix[512], old[sizeof(err_buf)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err_buf, sizeof(old));
	/* Truncation is acceptable: the message stays one bounded line. */
	if (snprintf(err_buf, sizeof(err_buf), "%s: %s", prefix, old) < 0)
		err_buf[0] = '\0';
	return rc;
}

const char *kiln_errmsg(void)
{
	return err_buf[0] ? err_buf : "unknown error";
}

void kiln_err_clear(void)
{
	err_buf[0] = '\0';
}
