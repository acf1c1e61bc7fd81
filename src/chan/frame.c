/* SPDX-License-Identifier: Apache-2.0 */
/* Control frames: field validation, encoder and incremental decoder. */
#include "chan/frame.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/cursor.h"

/*
 * How this works: bytes from the other side land in a fixed 64 KiB buffer
 * (no allocation driven by the peer). kiln_frame_decode() reads the header
 * and payload only through a kiln_cursor, checks the version as soon as its
 * byte is there, the type and length as soon as the header is complete, and
 * every payload field with kiln_frame_check() before anything is yielded.
 */

#define LOG_FIXED 17 /* stream u8, ts u64, seq u64 */

const char *kiln_frame_type_name(unsigned type)
{
	static const char *const names[] = { "?", "HELLO", "LOG", "STATUS", "DROPPED", "STOP",
					      "ACK" };

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

static int KILN_PRINTF(2, 3) bad(const struct kiln_frame *f, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return kiln_err(EBADMSG, "control frame %s: %s", kiln_frame_type_name(f->type), what);
}

static int is_name_char(char c, int first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return !first && (c == '_' || c == '.' || c == '-');
}

int kiln_name_check(const char *name)
{
	size_t n = strnlen(name, KILN_NAME_MAX + 1);

	if (n == 0)
		return kiln_err(EINVAL, "empty enclave name");
	if (n > KILN_NAME_MAX)
		return kiln_err(EINVAL, "enclave name longer than %d characters", KILN_NAME_MAX);
	for (size_t i = 0; i < n; i++)
		if (!is_name_char(name[i], i == 0))
			return kiln_err(EINVAL, "enclave name \"%.*s\": character %zu not allowed "
					"(use [A-Za-z0-9][A-Za-z0-9_.-]*)", (int)n, name, i + 1);
	return 0;
}

static int check_hello(const struct kiln_frame *f)
{
	const struct kiln_hello *h = &f->u.hello;
	size_t n = strnlen(h->pcr0, sizeof(h->pcr0));
	int rc;

	if (h->max_version < 1)
		return bad(f, "max_version %u is below 1", h->max_version);
	if (h->init_pid == 0 || h->init_pid > INT32_MAX)
		return bad(f, "init_pid %u out of range", h->init_pid);
	rc = kiln_name_check(h->name);
	if (rc < 0)
		return kiln_err_wrap(rc, "control frame HELLO");
	if (n != 0 && n != KILN_PCR_HEX)
		return bad(f, "pcr0 has %zu hex digits, expected 0 or 96", n);
	for (size_t i = 0; i < n; i++)
		if (!((h->pcr0[i] >= '0' && h->pcr0[i] <= '9') ||
		      (h->pcr0[i] >= 'a' && h->pcr0[i] <= 'f')))
			return bad(f, "pcr0 digit %zu is not lowercase hex", i + 1);
	return 0;
}

static int check_log(const struct kiln_frame *f)
{
	const struct kiln_log *l = &f->u.log;

	if (l->stream < KILN_STREAM_STDOUT || l->stream > KILN_STREAM_INIT)
		return bad(f, "stream %u is not 1 (stdout), 2 (stderr) or 3 (kiln-init)", l->stream);
	if (l->seq == 0)
		return bad(f, "seq 0: sequence numbers start at 1");
	if (l->seq > INT64_MAX || l->ts_ns > INT64_MAX)
		return bad(f, "seq or timestamp above 2^63-1");
	if (l->len > KILN_FRAME_PAYLOAD_MAX - LOG_FIXED)
		return bad(f, "line of %zu bytes is too long", l->len);
	if (l->len && !l->line)
		return bad(f, "line of %zu bytes has no data", l->len);
	return 0;
}

static int check_status(const struct kiln_frame *f)
{
	const struct kiln_status *s = &f->u.status;

	if (s->state < KILN_STATE_STARTING || s->state > KILN_STATE_EXITED)
		return bad(f, "state %u is not 1 (starting), 2 (running) or 3 (exited)",
			   s->state);
	if (s->state != KILN_STATE_EXITED && (s->exit_code || s->signal))
		return bad(f, "state %u carries an exit code or signal", s->state);
	if (s->signal > KILN_SIGNAL_MAX)
		return bad(f, "signal %u out of range 0..64", s->signal);
	if (s->signal && s->exit_code)
		return bad(f, "exit code %u given together with a signal", s->exit_code);
	return 0;
}

int kiln_frame_check(const struct kiln_frame *f)
{
	uint16_t allowed = f->type == KILN_FRAME_LOG ? KILN_LOG_PARTIAL : 0;

	if (f->flags & ~allowed)
		return bad(f, "reserved flags 0x%04x set", (unsigned)(f->flags & ~allowed));
	switch (f->type) {
	case KILN_FRAME_HELLO:
		return check_hello(f);
	case KILN_FRAME_LOG:
		return check_log(f);
	case KILN_FRAME_STATUS:
		return check_status(f);
	case KILN_FRAME_DROPPED:
		return f->u.dropped.count ? 0 : bad(f, "count 0: nothing dropped");
	case KILN_FRAME_STOP:
		if (f->u.stop.signal < 1 || f->u.stop.signal > KILN_SIGNAL_MAX)
			return bad(f, "signal %u out of range 1..64", f->u.stop.signal);
		return 0;
	case KILN_FRAME_ACK:
		if (f->u.ack.type < KILN_FRAME_HELLO || f->u.ack.type >= KILN_FRAME_ACK)
			return bad(f, "acknowledged type %u is not a frame type", f->u.ack.type);
		return 0;
	default:
		return kiln_err(EBADMSG, "unknown control frame type %u", f->type);
	}
}

/* ---- encoder ---- */

struct wbuf {
	uint8_t *p;
	size_t cap, len;
};

static void put(struct wbuf *w, const void *src, size_t n)
{
	if (w->len + n <= w->cap && n)
		memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void put_be(struct wbuf *w, uint64_t v, size_t n)
{
	uint8_t b[8];

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	put(w, b, n);
}

static void put_str8(struct wbuf *w, const char *s)
{
	size_t n = strlen(s);

	put_be(w, n, 1);
	put(w, s, n);
}

static void put_payload(struct wbuf *w, const struct kiln_frame *f)
{
	switch (f->type) {
	case KILN_FRAME_HELLO:
		put_be(w, f->u.hello.max_version, 2);
		put_be(w, f->u.hello.init_pid, 4);
		put_str8(w, f->u.hello.name);
		put_str8(w, f->u.hello.pcr0);
		break;
	case KILN_FRAME_LOG:
		put_be(w, f->u.log.stream, 1);
		put_be(w, f->u.log.ts_ns, 8);
		put_be(w, f->u.log.seq, 8);
		put(w, f->u.log.line, f->u.log.len);
		break;
	case KILN_FRAME_STATUS:
		put_be(w, f->u.status.state, 1);
		put_be(w, f->u.status.exit_code, 1);
		put_be(w, f->u.status.signal, 1);
		break;
	case KILN_FRAME_DROPPED:
		put_be(w, f->u.dropped.count, 8);
		break;
	case KILN_FRAME_STOP:
		put_be(w, f->u.stop.signal, 1);
		put_be(w, f->u.stop.timeout_ms, 4);
		break;
	case KILN_FRAME_ACK:
		put_be(w, f->u.ack.type, 1);
		put_be(w, f->u.ack.value, 8);
		break;
	default:
		break; /* kiln_frame_check() refused it already */
	}
}

int kiln_frame_encode(const struct kiln_frame *f, uint8_t *out, size_t cap, size_t *len)
{
	struct wbuf w = { .p = out, .cap = cap };
	int rc = kiln_frame_check(f);

	if (rc < 0)
		return rc;
	w.len = KILN_FRAME_HDR; /* payload first, header once its length is known */
	put_payload(&w, f);
	if (w.len > KILN_FRAME_MAX)
		return kiln_err(EMSGSIZE, "control frame %s: %zu bytes exceed %d",
				kiln_frame_type_name(f->type), w.len, KILN_FRAME_MAX);
	if (w.len > cap)
		return kiln_err(ENOBUFS, "control frame %s: %zu bytes do not fit %zu",
				kiln_frame_type_name(f->type), w.len, cap);
	*len = w.len;
	w.len = 0;
	put_be(&w, KILN_CTL_VERSION, 1);
	put_be(&w, f->type, 1);
	put_be(&w, f->flags, 2);
	put_be(&w, *len - KILN_FRAME_HDR, 4);
	return 0;
}

/* ---- decoder ---- */

static int get_str8(struct kiln_cursor *c, char *dst, size_t cap, const char *what)
{
	uint8_t n;
	int rc = kiln_cursor_u8(c, &n);

	if (rc < 0)
		return rc;
	if (n >= cap)
		return kiln_err(EBADMSG, "%s of %u bytes is too long", what, n);
	rc = kiln_cursor_copy(c, dst, n);
	if (rc < 0)
		return rc;
	if (memchr(dst, '\0', n))
		return kiln_err(EBADMSG, "%s contains a NUL byte", what);
	dst[n] = '\0';
	return 0;
}

static int get_hello(struct kiln_cursor *c, struct kiln_hello *h)
{
	int rc = kiln_cursor_be16(c, &h->max_version);

	if (rc == 0)
		rc = kiln_cursor_be32(c, &h->init_pid);
	if (rc == 0)
		rc = get_str8(c, h->name, sizeof(h->name), "name");
	if (rc == 0)
		rc = get_str8(c, h->pcr0, sizeof(h->pcr0), "pcr0");
	return rc;
}

static int get_log(struct kiln_cursor *c, struct kiln_log *l)
{
	int rc = kiln_cursor_u8(c, &l->stream);

	if (rc == 0)
		rc = kiln_cursor_be64(c, &l->ts_ns);
	if (rc == 0)
		rc = kiln_cursor_be64(c, &l->seq);
	if (rc == 0) {
		l->len = kiln_cursor_left(c);
		rc = kiln_cursor_bytes(c, l->len, &l->line);
	}
	return rc;
}

static int get_payload(struct kiln_cursor *c, struct kiln_frame *f)
{
	int rc;

	switch (f->type) {
	case KILN_FRAME_HELLO:
		return get_hello(c, &f->u.hello);
	case KILN_FRAME_LOG:
		return get_log(c, &f->u.log);
	case KILN_FRAME_STATUS:
		rc = kiln_cursor_u8(c, &f->u.status.state);
		if (rc == 0)
			rc = kiln_cursor_u8(c, &f->u.status.exit_code);
		return rc ? rc : kiln_cursor_u8(c, &f->u.status.signal);
	case KILN_FRAME_DROPPED:
		return kiln_cursor_be64(c, &f->u.dropped.count);
	case KILN_FRAME_STOP:
		rc = kiln_cursor_u8(c, &f->u.stop.signal);
		return rc ? rc : kiln_cursor_be32(c, &f->u.stop.timeout_ms);
	case KILN_FRAME_ACK:
		rc = kiln_cursor_u8(c, &f->u.ack.type);
		return rc ? rc : kiln_cursor_be64(c, &f->u.ack.value);
	default:
		return kiln_err(EBADMSG, "unknown control frame type %u", f->type);
	}
}

/* Header checks that need no payload: version, type, length. */
static int check_header(struct kiln_cursor *c, struct kiln_frame *f, uint32_t *plen)
{
	uint8_t version;
	int rc = kiln_cursor_u8(c, &version);

	if (rc < 0)
		return 0;
	if (version != KILN_CTL_VERSION)
		return kiln_err(EPROTONOSUPPORT, "unsupported control protocol version %u",
				version);
	if (kiln_cursor_u8(c, &f->type) < 0 || kiln_cursor_be16(c, &f->flags) < 0 ||
	    kiln_cursor_be32(c, plen) < 0)
		return 0;
	if (f->type < KILN_FRAME_HELLO || f->type > KILN_FRAME_ACK)
		return kiln_err(EBADMSG, "unknown control frame type %u", f->type);
	if (*plen > KILN_FRAME_PAYLOAD_MAX)
		return kiln_err(EMSGSIZE, "control frame %s: length %u exceeds maximum %d",
				kiln_frame_type_name(f->type), *plen, KILN_FRAME_PAYLOAD_MAX);
	return 1;
}

int kiln_frame_decode(const uint8_t *buf, size_t len, struct kiln_frame *f, size_t *used)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len), p;
	const uint8_t *payload;
	uint32_t plen = 0;
	int rc;

	memset(f, 0, sizeof(*f));
	rc = check_header(&c, f, &plen);
	if (rc <= 0)
		return rc;
	if (kiln_cursor_bytes(&c, plen, &payload) < 0)
		return 0;
	p = kiln_cursor_make(payload, plen);
	rc = get_payload(&p, f);
	if (rc < 0)
		return kiln_err_wrap(-EBADMSG, "control frame %s: malformed payload",
				     kiln_frame_type_name(f->type));
	if (kiln_cursor_left(&p))
		return kiln_err(EBADMSG, "control frame %s: %zu trailing payload bytes",
				kiln_frame_type_name(f->type), kiln_cursor_left(&p));
	rc = kiln_frame_check(f);
	if (rc < 0)
		return rc;
	*used = c.pos;
	return 1;
}

void kiln_frame_dec_init(struct kiln_frame_dec *d)
{
	d->start = d->end = 0;
	d->failed = 0;
}

int kiln_frame_dec_feed(struct kiln_frame_dec *d, const void *buf, size_t len, size_t *used)
{
	size_t room;

	if (d->failed)
		return kiln_err(EBADMSG, "control channel decoder already failed");
	if (d->start == d->end) {
		d->start = d->end = 0;
	} else if (d->start > 0) {
		memmove(d->buf, d->buf + d->start, d->end - d->start);
		d->end -= d->start;
		d->start = 0;
	}
	room = sizeof(d->buf) - d->end;
	*used = len < room ? len : room;
	if (*used)
		memcpy(d->buf + d->end, buf, *used);
	d->end += *used;
	return 0;
}

int kiln_frame_dec_next(struct kiln_frame_dec *d, struct kiln_frame *f)
{
	size_t used = 0;
	int rc;

	if (d->failed)
		return kiln_err(EBADMSG, "control channel decoder already failed");
	rc = kiln_frame_decode(d->buf + d->start, d->end - d->start, f, &used);
	if (rc < 0) {
		d->failed = 1;
		return rc;
	}
	if (rc > 0)
		d->start += used;
	return rc;
}

int kiln_frame_dec_input(struct kiln_frame_dec *d, const uint8_t *p, size_t n,
			 kiln_frame_fn on_frame, void *ctx)
{
	struct kiln_frame f;
	size_t used;
	int rc;

	while (n) {
		rc = kiln_frame_dec_feed(d, p, n, &used);
		if (rc < 0)
			return rc;
		p += used;
		n -= used;
		while ((rc = kiln_frame_dec_next(d, &f)) == 1) {
			rc = on_frame(ctx, &f);
			if (rc != 0)
				return rc;
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}
