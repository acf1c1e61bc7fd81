/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-bootstrap's pure parsers: kernel cmdline flags, /env, /cmd, /proc/cgroups. */
#ifndef KILN_BOOT_PARSE_H
#define KILN_BOOT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Limits on the files the bootstrap reads from the initramfs. */
#define BOOT_FILE_MAX (1024 * 1024) /* bytes in /env or /cmd */
#define BOOT_LINES_MAX 4096         /* argv elements or env entries */

/*
 * A list of NUL-terminated lines: v[0..n-1] point into buf, v[n] is NULL,
 * so v can be passed to execve() as argv or envp as it is.
 */
struct boot_lines {
	char *buf;
	char **v;
	size_t n;
};

/*
 * Find the boolean kernel parameter key (e.g. "kiln.heartbeat") in a kernel
 * command line of len bytes. Tokens are split on whitespace with the
 * kernel's double-quote rule; parsing stops at "--" (what follows belongs to
 * init). The last occurrence wins. "key" alone, 1/y/yes/on/true are true;
 * 0/n/no/off/false are false. Absent: *out = def.
 */
int boot_cmdline_bool(const char *cmdline, size_t len, const char *key, bool def,
		      bool *out) KILN_MUST;

/*
 * The unsigned kernel parameter key=N (decimal, no sign, no leading zeros,
 * min <= N <= max), same token rules as above; the last occurrence wins.
 * Absent: *out = def. A bad value is an error naming the key.
 */
int boot_cmdline_u32(const char *cmdline, size_t len, const char *key, uint32_t def,
		     uint32_t min, uint32_t max, uint32_t *out) KILN_MUST;

/*
 * /cmd: one argv element per line ('\n'; a final '\n' ends the last line and
 * adds no element). Empty lines are empty arguments. At least one element,
 * argv[0] not empty, no NUL bytes, at most BOOT_LINES_MAX lines.
 */
int boot_parse_cmd(const char *buf, size_t len, struct boot_lines *out) KILN_MUST;

/*
 * /env: one NAME=VALUE per line. Empty lines are skipped; a line without '='
 * or with an empty name, or a NUL byte, is an error naming the line.
 */
int boot_parse_env(const char *buf, size_t len, struct boot_lines *out) KILN_MUST;

/* Append entry ("NAME=value") unless an entry for NAME is already present. */
int boot_env_default(struct boot_lines *env, const char *entry) KILN_MUST;

/* The value of NAME in env, or NULL. */
const char *boot_env_get(const struct boot_lines *env, const char *name);

/*
 * /proc/cgroups ("#subsys_name hierarchy num_cgroups enabled" then one line
 * per controller): the names of the enabled controllers, in file order.
 * Names are [A-Za-z0-9_] only, at most 63 bytes.
 */
int boot_parse_cgroups(const char *buf, size_t len, struct boot_lines *out) KILN_MUST;

void boot_lines_free(struct boot_lines *l);

#endif
