/* SPDX-License-Identifier: Apache-2.0 */
/* The storage channel wire format: encoding, bounds-checked decoding and blocking message I/O. */
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs/wire.h"
#include "util/cursor.h"

int kfs_volume_name(const char *path, char *out, size_t len)
{
	size_t o = 0;

	if (path[0] != '/')
		return kiln_err(EINVAL, "storage path \"%s\": must be absolute", path);
	for (const char *p = path + 1; *p && o + 1 < len; p++) {
		char c = *p;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c == '/' || c == '_')
			c = '-';
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return kiln_err(EINVAL, "storage path \"%s\": only letters, digits, . - _ /", path);
		out[o++] = c;
	}
	while (o && out[o - 1] == '-')
		o--;
	out[o] = '\0';
	return kfs_id_check(out, o) < 0 ? kiln_err(EINVAL, "storage path \"%s\": no usable name", path) : 0;
}

static int op_has_id(uint8_t op)
{
	return op != KFS_OP_SYNC;
}

int kfs_wire_req_encode(const struct kfs_wire_req *r, uint8_t *out, size_t cap, size_t *len)
{
	size_t il = strlen(r->id), n = 3 + il + (r->op == KFS_OP_PUT ? r->len : 0);

	if (n > cap || n > KFS_WIRE_MAX)
		return kiln_err(EMSGSIZE, "storage request: %zu bytes is too large", n);
	out[0] = r->op;
	out[1] = r->flags;
	out[2] = (uint8_t)il;
	memcpy(out + 3, r->id, il);
	if (r->op == KFS_OP_PUT && r->len)
		memcpy(out + 3 + il, r->data, r->len);
	*len = n;
	return 0;
}

int kfs_wire_req_decode(const uint8_t *buf, size_t len, struct kfs_wire_req *r)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len);
	const uint8_t *id;
	uint8_t il;

	memset(r, 0, sizeof(*r));
	if (len > KFS_WIRE_MAX || kiln_cursor_u8(&c, &r->op) < 0 ||
	    kiln_cursor_u8(&c, &r->flags) < 0 || kiln_cursor_u8(&c, &il) < 0 ||
	    kiln_cursor_bytes(&c, il, &id) < 0)
		return kiln_err(EBADMSG, "storage request: truncated or too large");
	if (r->op < KFS_OP_OPEN || r->op > KFS_OP_SYNC)
		return kiln_err(EBADMSG, "storage request: unknown op %u", r->op);
	if (r->flags & ~(r->op == KFS_OP_PUT   ? KFS_PUT_DURABLE | KFS_PUT_BARRIER
			 : r->op == KFS_OP_DEL ? KFS_DEL_AFTER_POINT
					       : 0))
		return kiln_err(EBADMSG, "storage request: bad flags 0x%x", r->flags);
	if (op_has_id(r->op) ? kfs_id_check((const char *)id, il) < 0 : il != 0)
		return kiln_err(EBADMSG, "storage request: bad object id");
	memcpy(r->id, id, il);
	r->id[il] = '\0';
	r->len = kiln_cursor_left(&c);
	if (r->op != KFS_OP_PUT && r->len)
		return kiln_err(EBADMSG, "storage request: trailing bytes");
	r->data = buf + c.pos;
	return 0;
}

int kfs_wire_rep_decode(const uint8_t *buf, size_t len, uint8_t *status, const uint8_t **data,
			size_t *dlen)
{
	if (len < 1 || len > KFS_WIRE_MAX)
		return kiln_err(EBADMSG, "storage reply: empty or too large");
	*status = buf[0];
	*data = buf + 1;
	*dlen = len - 1;
	if (*status && *dlen)
		return kiln_err(EBADMSG, "storage reply: data with an error status");
	return 0;
}

static void put_len(uint8_t pre[4], size_t total)
{
	uint32_t n = (uint32_t)total;

	pre[0] = (uint8_t)(n >> 24);
	pre[1] = (uint8_t)(n >> 16);
	pre[2] = (uint8_t)(n >> 8);
	pre[3] = (uint8_t)n;
}

size_t kfs_wire_frame(uint8_t *out, const void *hdr, size_t hlen, const void *body, size_t blen)
{
	put_len(out, hlen + blen);
	memcpy(out + 4, hdr, hlen);
	if (blen)
		memcpy(out + 4 + hlen, body, blen);
	return 4 + hlen + blen;
}

/* Every byte of m's iovecs (which it advances), however many sends it takes. */
static int send_all(int fd, struct msghdr *m, int flags)
{
	while (m->msg_iovlen) {
		ssize_t w = sendmsg(fd, m, MSG_NOSIGNAL | flags);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return kiln_err(errno, "storage channel: send: %s", strerror(errno));
		while (m->msg_iovlen && (size_t)w >= m->msg_iov->iov_len) {
			w -= (ssize_t)m->msg_iov->iov_len;
			m->msg_iov++;
			m->msg_iovlen--;
		}
		if (m->msg_iovlen) {
			m->msg_iov->iov_base = (uint8_t *)m->msg_iov->iov_base + w;
			m->msg_iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/*
 * lead (bytes of whole messages), then the length prefix of a message of
 * hlen + blen bytes (total: its length, which may go on past body), hdr
 * and body (flags: MSG_MORE when more follows).
 */
static int send_msg(int fd, const void *lead, size_t llen, const void *hdr, size_t hlen,
		    const void *body, size_t blen, size_t total, int flags)
{
	uint8_t pre[4];
	struct iovec iov[4] = { { (void *)lead, llen }, { pre, 4 }, { (void *)hdr, hlen },
				{ (void *)body, blen } };
	struct msghdr m = { .msg_iov = iov + !llen, .msg_iovlen = 4 - !llen };

	put_len(pre, total);
	return send_all(fd, &m, flags);
}

int kfs_wire_send(int fd, const void *hdr, size_t hlen, const void *body, size_t blen)
{
	return send_msg(fd, NULL, 0, hdr, hlen, body, blen, hlen + blen, 0);
}

int kfs_wire_send_frames(int fd, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	return send_all(fd, &m, 0);
}

int kfs_wire_send_after(int fd, const void *lead, size_t llen, const void *hdr, size_t hlen,
			const void *body, size_t blen)
{
	return send_msg(fd, lead, llen, hdr, hlen, body, blen, hlen + blen, 0);
}

/* Send len zero bytes: the rest of a message whose file ended early. */
static int send_zeros(int sock, size_t len)
{
	static const uint8_t zeros[4096];

	while (len) {
		ssize_t w = send(sock, zeros, len < sizeof(zeros) ? len : sizeof(zeros), MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return kiln_err(errno, "storage channel: send: %s", strerror(errno));
		len -= (size_t)w;
	}
	return 0;
}

/*
 * The body after hdr goes from the file to the socket in the kernel: the
 * page cache's pages are handed to the socket (AF_UNIX takes them as they
 * are, vsock copies them once), never copied into this process.
 */
int kfs_wire_send_file(int sock, const void *hdr, size_t hlen, int fd, uint64_t off, size_t len)
{
	off_t at = (off_t)off;
	int rc = send_msg(sock, NULL, 0, hdr, hlen, NULL, 0, hlen + len, len ? MSG_MORE : 0);

	while (rc == 0 && len) {
		ssize_t w = sendfile(sock, fd, &at, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return kiln_err(errno, "storage channel: sendfile: %s", strerror(errno));
		if (w == 0) /* the file was cut short since it was checked: keep the framing */
			return send_zeros(sock, len) < 0 ? -EPIPE : 1;
		len -= (size_t)w;
	}
	return rc;
}

/* At least min bytes into p, at most cap; first: an EOF before any byte is a clean close (-EPIPE). */
static int read_between(int fd, uint8_t *p, size_t min, size_t cap, size_t *got, int first)
{
	for (*got = 0; *got < min;) {
		ssize_t r = read(fd, p + *got, cap - *got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kiln_err(errno, "storage channel: read: %s", strerror(errno));
		if (r == 0)
			return first && *got == 0 ? -EPIPE
						  : kiln_err(EPIPE, "storage channel: closed mid-message");
		*got += (size_t)r;
	}
	return 0;
}

static int read_full(int fd, uint8_t *p, size_t n, int first)
{
	size_t got;

	return read_between(fd, p, n, n, &got, first);
}

int kfs_wire_len(const uint8_t pre[4], size_t *len)
{
	uint32_t n = (uint32_t)pre[0] << 24 | (uint32_t)pre[1] << 16 | (uint32_t)pre[2] << 8 | pre[3];

	if (n == 0 || n > KFS_WIRE_MAX)
		return kiln_err(EMSGSIZE, "storage channel: message of %u bytes refused", n);
	*len = n;
	return 0;
}

int kfs_wire_recv_len(int fd, size_t *len)
{
	uint8_t pre[4];
	int rc = read_full(fd, pre, 4, 1);

	if (rc < 0)
		return rc == -EPIPE ? kiln_err(EPIPE, "storage channel: closed") : rc;
	return kfs_wire_len(pre, len);
}

int kfs_wire_read(int fd, void *buf, size_t len)
{
	return read_full(fd, buf, len, 0);
}

int kfs_wire_read_some(int fd, void *buf, size_t min, size_t cap, size_t *got)
{
	int rc = read_between(fd, buf, min, cap, got, 1);

	return rc == -EPIPE ? kiln_err(EPIPE, "storage channel: closed") : rc;
}

int kfs_wire_recv(int fd, uint8_t **buf, size_t *len)
{
	size_t n = 0;
	int rc = kfs_wire_recv_len(fd, &n);

	if (rc < 0)
		return rc;
	*buf = malloc(n);
	if (!*buf)
		return kiln_err(ENOMEM, "storage channel: out of memory");
	rc = read_full(fd, *buf, n, 0);
	if (rc < 0) {
		free(*buf);
		*buf = NULL;
		return rc;
	}
	*len = n;
	return 0;
}

size_t kfs_wire_frames(const uint8_t *buf, size_t len,
		       void (*fn)(void *ctx, const struct kfs_wire_req *r), void *ctx)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len);
	struct kfs_wire_req r;
	const uint8_t *body;
	uint32_t n;
	size_t frames = 0;

	while (kiln_cursor_be32(&c, &n) == 0 && n > 0 && n <= KFS_WIRE_MAX &&
	       kiln_cursor_bytes(&c, n, &body) == 0) {
		frames++;
		if (kfs_wire_req_decode(body, n, &r) < 0)
			break;
		fn(ctx, &r);
	}
	kiln_err_clear();
	return frames;
}
