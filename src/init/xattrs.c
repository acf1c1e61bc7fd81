/* SPDX-License-Identifier: Apache-2.0 */
/* Extended attributes the cpio ramdisk cannot carry: /.kiln/xattrs, applied at start. */
#include "init/xattrs.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "init/file.h"
#include "util/hex.h"

void kiln_xattr_free(struct kiln_xattr *x)
{
	free(x->path);
	free(x->name);
	free(x->value);
	memset(x, 0, sizeof(*x));
}

static int decode_hex(const char *p, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char *v;

	if (len % 2)
		return kiln_err(EINVAL, "odd number of hex digits");
	if (len / 2 > KILN_XATTR_VALUE_MAX)
		return kiln_err(E2BIG, "value longer than %d bytes", KILN_XATTR_VALUE_MAX);
	v = malloc(len / 2 + 1);
	if (!v)
		return kiln_err(ENOMEM, "out of memory");
	for (size_t i = 0; i < len; i += 2) {
		int hi = kiln_hex_digit(p[i]), lo = kiln_hex_digit(p[i + 1]);

		if (hi < 0 || lo < 0) {
			free(v);
			return kiln_err(EINVAL, "bad hex digit at column %zu", i + 1);
		}
		v[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	*out = v;
	*outlen = len / 2;
	return 0;
}

static char *dup_field(const char *p, size_t len)
{
	char *s = malloc(len + 1);

	if (s) {
		memcpy(s, p, len);
		s[len] = '\0';
	}
	return s;
}

int kiln_xattr_parse_line(const char *line, size_t len, struct kiln_xattr *out)
{
	const char *t1 = memchr(line, '\t', len), *t2, *end = line + len;
	struct kiln_xattr x = { 0 };
	size_t plen, nlen;
	int rc;

	if (memchr(line, '\0', len))
		return kiln_err(EINVAL, "NUL byte");
	t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(end - t1 - 1)) : NULL;
	if (!t2)
		return kiln_err(EINVAL, "not path<TAB>name<TAB>hexvalue");
	plen = (size_t)(t1 - line);
	nlen = (size_t)(t2 - t1 - 1);
	if (plen == 0 || plen >= PATH_MAX)
		return kiln_err(EINVAL, "bad path length %zu", plen);
	if (nlen == 0 || nlen > KILN_XATTR_NAME_MAX || !memchr(t1 + 1, '.', nlen))
		return kiln_err(EINVAL, "bad attribute name (want namespace.name, at most %d bytes)",
				KILN_XATTR_NAME_MAX);
	rc = decode_hex(t2 + 1, (size_t)(end - t2 - 1), &x.value, &x.vlen);
	if (rc < 0)
		return rc;
	x.path = dup_field(line, plen);
	x.name = dup_field(t1 + 1, nlen);
	if (!x.path || !x.name) {
		kiln_xattr_free(&x);
		return kiln_err(ENOMEM, "out of memory");
	}
	*out = x;
	return 0;
}

static int apply_line(const char *line, size_t len)
{
	struct kiln_xattr x;
	char path[PATH_MAX + 1];
	int rc = kiln_xattr_parse_line(line, len, &x);

	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s%s", x.path[0] == '/' ? "" : "/", x.path);
	if (lsetxattr(path, x.name, x.value, x.vlen, 0) < 0) {
		int e = errno;

		rc = kiln_err(e, "lsetxattr %s %s: %s", path, x.name, strerror(e));
	}
	kiln_xattr_free(&x);
	return rc;
}

int kiln_xattrs_apply(const char *file, size_t *applied, size_t *failed)
{
	char *buf = NULL;
	size_t len = 0, pos = 0, lineno = 0;
	int rc = kiln_init_read_file(file, KILN_XATTRS_FILE_MAX, &buf, &len);

	*applied = *failed = 0;
	if (rc < 0)
		return kiln_err_wrap(rc, "%s", file);
	while (pos < len) {
		const char *line = buf + pos, *nl = memchr(line, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - line) : len - pos;

		pos += llen + 1;
		lineno++;
		if (llen == 0)
			continue;
		if (apply_line(line, llen) == 0) {
			(*applied)++;
			continue;
		}
		(*failed)++;
		fprintf(stderr, "kiln-init: warning: %s line %zu: %s\n", file, lineno,
			kiln_errmsg());
	}
	free(buf);
	return 0;
}
