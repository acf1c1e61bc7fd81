/* SPDX-License-Identifier: Apache-2.0 */
/* Read a whole file with a size limit: kiln-init's one way to load its inputs. */
#ifndef KILN_INIT_FILE_H
#define KILN_INIT_FILE_H

#include <stddef.h>

#include "util/err.h"

/*
 * Read path into a malloc'd buffer (NUL-terminated for convenience; *len
 * excludes the NUL). Files larger than max fail with -EFBIG. The message
 * does not name the path; callers wrap it.
 */
int kiln_init_read_file(const char *path, size_t max, char **buf, size_t *len) KILN_MUST;

#endif
