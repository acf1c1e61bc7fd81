/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's copy of the app's output on the console, written without ever blocking. */
#include "init/console.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int kiln_console_open(struct kiln_console *c, int fd)
{
	struct stat st;
	char path[32];

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (fstat(fd, &st) < 0)
		return 0; /* no console: nothing to copy to */
	c->buf = malloc(KILN_CONSOLE_BUF);
	if (!c->buf)
		return kiln_err(ENOMEM, "out of memory for the console buffer");
	c->fd = fd;
	if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0) {
		c->fd = fd;
		c->own = true;
	}
	return 0; /* else: blocking writes to the inherited fd */
}

void kiln_console_close(struct kiln_console *c)
{
	if (c->own && c->fd >= 0)
		close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

size_t kiln_console_room(const struct kiln_console *c)
{
	return c->fd < 0 ? SIZE_MAX : KILN_CONSOLE_BUF - c->len;
}

bool kiln_console_pending(const struct kiln_console *c)
{
	return c->fd >= 0 && c->len > 0;
}

/* Write from p; returns bytes written, the console given up on a hard error. */
static size_t write_some(struct kiln_console *c, const uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(c->fd, p + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) {
			if (c->own)
				close(c->fd);
			c->fd = -1;
			c->len = 0;
			break;
		}
		done += (size_t)w;
	}
	return done;
}

void kiln_console_flush(struct kiln_console *c)
{
	size_t w;

	if (!kiln_console_pending(c))
		return;
	w = write_some(c, c->buf + c->off, c->len);
	if (c->fd < 0)
		return;
	c->off += w;
	c->len -= w;
	if (c->len == 0)
		c->off = 0;
}

void kiln_console_put(struct kiln_console *c, const uint8_t *p, size_t n)
{
	size_t w = 0;

	if (c->fd < 0)
		return;
	if (c->len == 0)
		w = write_some(c, p, n);
	if (c->fd < 0 || w == n)
		return;
	if (c->off + c->len + (n - w) > KILN_CONSOLE_BUF) {
		memmove(c->buf, c->buf + c->off, c->len);
		c->off = 0;
	}
	memcpy(c->buf + c->off + c->len, p + w, n - w);
	c->len += n - w;
}
