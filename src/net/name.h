/* SPDX-License-Identifier: Apache-2.0 */
/* Host names as kiln compares them: validated, lowercase, no trailing dot. */
#ifndef KILN_NET_NAME_H
#define KILN_NET_NAME_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define KILN_NAME_LEN 253 /* longest host name in text form, without the root dot */

/*
 * Normalise the len bytes at s into out (KILN_NAME_LEN + 1 bytes): ASCII
 * lowercase, one trailing dot removed. Labels are 1..63 bytes of
 * [a-z0-9_-]; the whole name 1..253 bytes. Anything else is -EINVAL
 * (message names the problem, not the bytes, which may be binary).
 */
int kiln_name_norm(const char *s, size_t len, char *out) KILN_MUST;
/* True when name (normalised) equals suffix or ends with "." suffix. */
bool kiln_name_is_subdomain(const char *name, const char *suffix);

#endif
