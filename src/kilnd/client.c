/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's CLI protocol, client side: connect, send a request line, read reply lines. */
#include "kilnd/client.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/cleanup.h"

int kilnd_client_open(struct kilnd_client *c, const char *state_dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	int n;

	*c = (struct kilnd_client){ .fd = -1 };
	n = snprintf(c->path, sizeof(c->path), "%s/kilnd.sock", state_dir);
	if (n < 0 || (size_t)n >= sizeof(c->path))
		return kiln_err(ENAMETOOLONG, "kilnd socket path too long: %s/kilnd.sock",
				state_dir);
	memcpy(sa.sun_path, c->path, (size_t)n + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kiln_err(errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			return kiln_err(errno, "kilnd is not running (no %s)", c->path);
		return kiln_err(errno, "kilnd at %s: %s", c->path, strerror(errno));
	}
	c->fd = KILN_STEAL_FD(fd);
	return 0;
}

int kilnd_client_send(struct kilnd_client *c, json_t *req)
{
	_cleanup_free_ char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	size_t len, off = 0;

	json_decref(req);
	if (!text)
		return kiln_err(ENOMEM, "kilnd: cannot encode the request");
	len = strlen(text);
	text[len++] = '\n'; /* over the NUL: the line is sent with its newline */
	while (off < len) {
		ssize_t w = send(c->fd, text + off, len - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return kiln_err(errno, "kilnd: send: %s", strerror(errno));
		off += (size_t)w;
	}
	return 0;
}

/* A complete line in the buffer, parsed and dropped from it: 1; none yet: 0. */
static int take_line(struct kilnd_client *c, json_t **out)
{
	char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
	json_error_t jerr;
	size_t n;

	if (!nl)
		return 0;
	n = (size_t)(nl - c->buf);
	*out = json_loadb(c->buf, n, 0, &jerr);
	memmove(c->buf, nl + 1, c->len - n - 1);
	c->len -= n + 1;
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return kiln_err(EPROTO, "kilnd: unreadable reply line: %s", jerr.text);
	}
	return 1;
}

static int fill(struct kilnd_client *c, int timeout_ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	ssize_t n;
	int r;

	if (c->len == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 65536;
		char *nb;

		if (cap > KILND_CLIENT_LINE_MAX + 1)
			return kiln_err(EPROTO, "kilnd: reply line longer than %d bytes",
					KILND_CLIENT_LINE_MAX);
		nb = realloc(c->buf, cap);
		if (!nb)
			return kiln_err(ENOMEM, "out of memory");
		c->buf = nb;
		c->cap = cap;
	}
	do {
		r = poll(&p, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return kiln_err(errno, "poll: %s", strerror(errno));
	if (r == 0)
		return kiln_err(ETIMEDOUT, "kilnd did not answer within %d s", timeout_ms / 1000);
	do {
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return kiln_err(errno, "kilnd: recv: %s", strerror(errno));
	if (n == 0)
		return kiln_err(EPIPE, "kilnd closed the connection");
	c->len += (size_t)n;
	return 0;
}

int kilnd_client_recv(struct kilnd_client *c, int timeout_ms, json_t **out)
{
	int rc;

	*out = NULL;
	while ((rc = take_line(c, out)) == 0) {
		rc = fill(c, timeout_ms);
		if (rc < 0)
			return rc;
	}
	return rc < 0 ? rc : 0;
}

void kilnd_client_close(struct kilnd_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	*c = (struct kilnd_client){ .fd = -1 };
}

int kilnd_client_check(json_t *reply)
{
	const char *msg = json_string_value(json_object_get(reply, "error"));
	int e = EINVAL;

	if (json_is_true(json_object_get(reply, "ok")))
		return 0;
	if (!msg)
		return kiln_err(EPROTO, "kilnd: request refused without a reason");
	if (!strncmp(msg, "no such enclave", 15))
		e = ENOENT;
	else if (strstr(msg, "in use") || strstr(msg, "already"))
		e = EEXIST;
	return kiln_err(e, "%s", msg);
}

int kilnd_client_call(const char *state_dir, json_t *req, int timeout_ms, json_t **reply)
{
	struct kilnd_client c;
	int rc = kilnd_client_open(&c, state_dir);

	*reply = NULL;
	if (rc < 0) {
		json_decref(req);
		return rc;
	}
	rc = kilnd_client_send(&c, req);
	if (rc == 0)
		rc = kilnd_client_recv(&c, timeout_ms, reply);
	kilnd_client_close(&c);
	if (rc == 0)
		rc = kilnd_client_check(*reply);
	if (rc < 0) {
		json_decref(*reply);
		*reply = NULL;
	}
	return rc;
}
