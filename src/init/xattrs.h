/* SPDX-License-Identifier: Apache-2.0 */
/* Extended attributes the cpio ramdisk cannot carry: /.kiln/xattrs, applied at start. */
#ifndef KILN_INIT_XATTRS_H
#define KILN_INIT_XATTRS_H

#include <stddef.h>

#include "util/err.h"

#define KILN_INIT_XATTRS_PATH "/.kiln/xattrs"
#define KILN_XATTRS_FILE_MAX (64 * 1024 * 1024)
#define KILN_XATTR_VALUE_MAX 65536 /* the kernel's XATTR_SIZE_MAX */
#define KILN_XATTR_NAME_MAX 255

/*
 * One line of the file: "path<TAB>name<TAB>hexvalue" (value may be empty,
 * hex case-insensitive). Paths are absolute or relative to /, the image root.
 */
struct kiln_xattr {
	char *path;
	char *name;
	unsigned char *value;
	size_t vlen;
};

int kiln_xattr_parse_line(const char *line, size_t len, struct kiln_xattr *out) KILN_MUST;
void kiln_xattr_free(struct kiln_xattr *x);

/*
 * lsetxattr() every entry of file. A malformed line or a failed call is a
 * warning on stderr, counted in *failed; only an unreadable file fails.
 */
int kiln_xattrs_apply(const char *file, size_t *applied, size_t *failed) KILN_MUST;

#endif
