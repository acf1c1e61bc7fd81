/* SPDX-License-Identifier: Apache-2.0 */
/* Read a whole file with a size limit: kiln-init's one way to load its inputs. */
#include "init/file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"

static int grow(char **buf, size_t *cap, size_t max)
{
	size_t ncap = *cap ? *cap * 2 : 65536;
	char *nb;

	if (*cap > max)
		return kiln_err(EFBIG, "larger than %zu bytes", max);
	if (ncap > max + 1)
		ncap = max + 1;
	nb = realloc(*buf, ncap + 1);
	if (!nb)
		return kiln_err(ENOMEM, "out of memory");
	*buf = nb;
	*cap = ncap;
	return 0;
}

int kiln_init_read_file(const char *path, size_t max, char **out, size_t *outlen)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc;

	if (fd < 0) {
		int e = errno;

		return kiln_err(e, "open: %s", strerror(e));
	}
	for (;;) {
		ssize_t n;

		if (len == cap && (rc = grow(&buf, &cap, max)) < 0)
			return rc;
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			return kiln_err(e, "read: %s", strerror(e));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max)
		return kiln_err(EFBIG, "larger than %zu bytes", max);
	buf[len] = '\0';
	*out = KILN_STEAL_PTR(buf);
	*outlen = len;
	return 0;
}
