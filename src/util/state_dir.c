/* SPDX-License-Identifier: Apache-2.0 */
/* kiln's default state directory: one rule for kilnd and the commands that find it. */
#include "util/state_dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int kiln_state_dir_for(bool root, const char *xdg, char *buf, size_t len)
{
	int n;

	if (root)
		n = snprintf(buf, len, "/run/kiln");
	else if (xdg && xdg[0] == '/')
		n = snprintf(buf, len, "%s/kiln", xdg);
	else
		return kiln_err(ENOENT, "XDG_RUNTIME_DIR is not set (or not an absolute path); pass --state-dir");
	if (n < 0 || (size_t)n >= len)
		return kiln_err(ENAMETOOLONG, "state directory path too long");
	return 0;
}

int kiln_state_dir_default(char *buf, size_t len)
{
	return kiln_state_dir_for(geteuid() == 0, getenv("XDG_RUNTIME_DIR"), buf, len);
}
