/* SPDX-License-Identifier: Apache-2.0 */
/* The sim NSM channel: u32 big-endian length-prefixed messages over a stream socket. */
#include "nsm/nsm.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/cursor.h"
#include "util/io.h"

#define HDR 4

/* Read exactly len bytes; *got says how many arrived before EOF. */
static int read_all(int fd, uint8_t *p, size_t len, size_t *got, int64_t deadline)
{
	*got = 0;
	while (*got < len) {
		int rc = kiln_wait_fd(fd, POLLIN, deadline, "nsm stream");
		ssize_t n;

		if (rc < 0)
			return rc;
		n = read(fd, p + *got, len - *got);
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue;
			return kiln_err(errno, "nsm stream: read: %s", strerror(errno));
		}
		*got += (size_t)n;
	}
	return 0;
}

int kiln_nsm_stream_write(int fd, const uint8_t *msg, size_t len, size_t max, int timeout_ms)
{
	int64_t deadline = kiln_deadline(timeout_ms);
	uint8_t hdr[HDR];
	int rc;

	if (len == 0 || len > max)
		return kiln_err(EMSGSIZE, "nsm stream: message of %zu bytes, want 1..%zu", len, max);
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	rc = kiln_write_all(fd, hdr, HDR, deadline, "nsm stream");
	return rc < 0 ? rc : kiln_write_all(fd, msg, len, deadline, "nsm stream");
}

int kiln_nsm_stream_read(int fd, uint8_t *buf, size_t max, size_t *len, int timeout_ms)
{
	int64_t deadline = kiln_deadline(timeout_ms);
	uint8_t hdr[HDR];
	struct kiln_cursor c = kiln_cursor_make(hdr, HDR);
	uint32_t n;
	size_t got;
	int rc;

	rc = read_all(fd, hdr, HDR, &got, deadline);
	if (rc < 0)
		return rc;
	if (got == 0)
		return 0;
	if (got < HDR)
		return kiln_err(EPROTO, "nsm stream: EOF inside a message header");
	rc = kiln_cursor_be32(&c, &n);
	if (rc < 0)
		return rc;
	if (n == 0 || n > max)
		return kiln_err(EMSGSIZE, "nsm stream: message of %u bytes, want 1..%zu", n, max);
	rc = read_all(fd, buf, n, &got, deadline);
	if (rc < 0)
		return rc;
	if (got < n)
		return kiln_err(EPROTO, "nsm stream: EOF after %zu of %u message bytes", got, n);
	*len = n;
	return 1;
}

/* The client side: a request out, a response back; any failure poisons the stream. */
struct stream {
	int fd;
	int timeout_ms;
	bool broken;
};

static int stream_roundtrip(void *ctx, const uint8_t *req, size_t req_len, uint8_t *resp,
			    size_t *resp_len)
{
	struct stream *s = ctx;
	int rc;

	if (s->broken)
		return kiln_err(EPIPE, "nsm stream: channel failed earlier");
	rc = kiln_nsm_stream_write(s->fd, req, req_len, KILN_NSM_REQUEST_MAX, s->timeout_ms);
	if (rc == 0) {
		rc = kiln_nsm_stream_read(s->fd, resp, *resp_len, resp_len, s->timeout_ms);
		if (rc == 0)
			rc = kiln_err(ECONNRESET, "nsm stream: the sim NSM closed the channel");
	}
	if (rc < 0) {
		s->broken = true;
		return rc;
	}
	return 0;
}

static void stream_close(void *ctx)
{
	struct stream *s = ctx;

	close(s->fd);
	free(s);
}

static const struct kiln_nsm_transport stream_transport = {
	.roundtrip = stream_roundtrip,
	.close = stream_close,
};

int kiln_nsm_open_stream(int fd, int timeout_ms, struct kiln_nsm **out)
{
	struct stream *s = malloc(sizeof(*s));
	int rc;

	if (!s) {
		close(fd);
		return kiln_err(ENOMEM, "out of memory");
	}
	*s = (struct stream){ .fd = fd, .timeout_ms = timeout_ms };
	rc = kiln_nsm_open(&stream_transport, s, out);
	if (rc < 0)
		stream_close(s);
	return rc;
}
