/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-bootstrap's console log lines. */
#include "boot/boot.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void boot_log(const char *fmt, ...)
{
	static const char prefix[] = "kiln-bootstrap: ";
	char line[1200];
	size_t n = sizeof(prefix) - 1;
	va_list ap;
	int len;

	memcpy(line, prefix, n);
	va_start(ap, fmt);
	len = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	n += (size_t)len < sizeof(line) - n - 1 ? (size_t)len : sizeof(line) - n - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return; /* no console: nowhere to report it */
}
