/* SPDX-License-Identifier: Apache-2.0 */
/* poll()-based waits and full writes with a deadline; whole reads of pipes and files. */
#include "util/io.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kiln_now_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

int64_t kiln_now_coarse_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC_COARSE);
}

int64_t kiln_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : kiln_now_ms() + timeout_ms;
}

int kiln_wait_fd(int fd, short events, int64_t deadline, const char *what)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int left = -1, n;

		if (deadline >= 0) {
			int64_t d = deadline - kiln_now_ms();

			if (d <= 0)
				return kiln_err(ETIMEDOUT, "%s: timed out", what);
			left = d > 60000 ? 60000 : (int)d;
		}
		n = poll(&p, 1, left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return kiln_err(errno, "%s: poll: %s", what, strerror(errno));
	}
}

int kiln_write_all(int fd, const void *buf, size_t len, int64_t deadline, const char *what)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		int rc;

		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return kiln_err(errno, "%s: write: %s", what, strerror(errno));
		rc = kiln_wait_fd(fd, POLLOUT, deadline, what);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int kiln_read_upto(int fd, void *buf, size_t max, size_t *got, const char *what)
{
	*got = 0;
	while (*got < max) {
		ssize_t n = read(fd, (uint8_t *)buf + *got, max - *got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_err(errno, "%s: read: %s", what, strerror(errno));
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}

int kiln_read_exact(int fd, void *buf, size_t len, const char *what)
{
	size_t got;
	int rc = kiln_read_upto(fd, buf, len, &got, what);

	if (rc == 0 && got < len)
		return kiln_err(EPIPE, "%s: %zu of %zu bytes before the end", what, got, len);
	return rc;
}

int kiln_read_file(const char *path, size_t max, char **out, size_t *len)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *buf = NULL;
	size_t n;

	*out = NULL;
	if (!f)
		return kiln_err(errno, "%s", strerror(errno));
	buf = malloc(max + 1);
	if (!buf)
		return kiln_err(ENOMEM, "out of memory");
	n = fread(buf, 1, max + 1, f);
	if (ferror(f))
		return kiln_err(EIO, "read error");
	if (n > max)
		return kiln_err(EFBIG, "larger than %zu bytes", max);
	buf[n] = '\0';
	if (len)
		*len = n;
	*out = KILN_STEAL_PTR(buf);
	return 0;
}
