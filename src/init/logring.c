/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's log buffer: encoded LOG frames kept for sending and resending. */
#include "init/logring.h"

#include <stdlib.h>
#include <string.h>

#include "chan/frame.h"
#include "init/linesplit.h"

int kiln_logring_init(struct kiln_logring *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	if (cap < 2 * KILN_FRAME_MAX)
		return kiln_err(EINVAL, "log buffer of %zu bytes: at least %d needed", cap,
				2 * KILN_FRAME_MAX);
	r->buf = malloc(cap);
	if (!r->buf)
		return kiln_err(ENOMEM, "out of memory for a %zu byte log buffer", cap);
	r->cap = cap;
	r->first_seq = r->next_seq = r->send_seq = 1;
	return 0;
}

void kiln_logring_free(struct kiln_logring *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* Frames are written by the encoder, so their header length can be trusted. */
static size_t frame_len(const struct kiln_logring *r, size_t off)
{
	const uint8_t *h = r->buf + off;

	return KILN_FRAME_HDR +
	       ((size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 | (size_t)h[7]);
}

/* The offset after the frame at off, following the wrap. */
static size_t after(const struct kiln_logring *r, size_t off)
{
	size_t next = off + frame_len(r, off);

	return r->wrapped && off >= r->head && next == r->wrap ? 0 : next;
}

static void evict(struct kiln_logring *r)
{
	size_t len = frame_len(r, r->head);

	if (r->send_seq == r->first_seq) { /* the frame about to be sent goes unsent */
		if (r->send_in)
			r->broken = true;
		r->unsent -= len - r->send_in;
		r->send_in = 0;
		r->send_seq++;
		r->evicted_unsent++;
	}
	r->head = after(r, r->head);
	if (r->head == 0 && r->wrapped)
		r->wrapped = false;
	r->used -= len;
	r->first_seq++;
	if (r->used == 0)
		r->head = r->tail = 0;
	if (r->send_seq == r->first_seq)
		r->send_off = r->head;
}

/* Where a frame of len bytes goes, dropping the oldest frames until it fits. */
static size_t make_room(struct kiln_logring *r, size_t len)
{
	for (;;) {
		if (!r->wrapped && r->cap - r->tail >= len)
			return r->tail;
		if (!r->wrapped && r->head >= len && r->used) {
			r->wrap = r->tail;
			r->wrapped = true;
			return 0;
		}
		if (r->wrapped && r->head - r->tail >= len)
			return r->tail;
		evict(r);
	}
}

int kiln_logring_append(struct kiln_logring *r, uint8_t stream, uint64_t ts_ns, bool partial,
			const uint8_t *line, size_t len)
{
	struct kiln_frame f = { .type = KILN_FRAME_LOG, .flags = partial ? KILN_LOG_PARTIAL : 0 };
	size_t flen = KILN_FRAME_HDR + KILN_LOG_FIXED + len, pos, out;
	int rc;

	if (len > KILN_LINE_MAX)
		return kiln_err(EMSGSIZE, "log line of %zu bytes is too long", len);
	f.u.log = (struct kiln_log){ stream, ts_ns, r->next_seq, line, len };
	pos = make_room(r, flen);
	rc = kiln_frame_encode(&f, r->buf + pos, flen, &out);
	if (rc < 0)
		return rc;
	if (r->send_seq == r->next_seq)
		r->send_off = pos;
	r->tail = pos + flen;
	r->used += flen;
	r->unsent += flen;
	r->next_seq++;
	return 0;
}

const uint8_t *kiln_logring_peek(const struct kiln_logring *r, size_t *len)
{
	size_t end = r->wrapped && r->send_off >= r->head ? r->wrap : r->tail;

	*len = r->send_seq == r->next_seq ? 0 : end - r->send_off;
	return r->buf + r->send_off;
}

void kiln_logring_consume(struct kiln_logring *r, size_t n)
{
	r->unsent -= n;
	while (n) {
		size_t start = r->send_off - r->send_in, left = frame_len(r, start) - r->send_in;

		if (n < left) {
			r->send_in += n;
			r->send_off += n;
			return;
		}
		n -= left;
		r->send_in = 0;
		r->send_seq++;
		r->send_off = r->send_seq == r->next_seq ? r->tail : after(r, start);
	}
}

size_t kiln_logring_frame_rest(const struct kiln_logring *r)
{
	return r->send_in ? frame_len(r, r->send_off - r->send_in) - r->send_in : 0;
}

void kiln_logring_rewind(struct kiln_logring *r, uint64_t seq, uint64_t *lost)
{
	size_t off = r->head;

	*lost = seq < r->first_seq ? r->first_seq - seq : 0;
	if (seq > r->next_seq) { /* nothing held is wanted; continue numbering there */
		r->head = r->tail = r->used = 0;
		r->wrapped = false;
		r->first_seq = r->next_seq = seq;
		off = 0;
	}
	if (seq < r->first_seq)
		seq = r->first_seq;
	r->send_in = 0;
	r->send_seq = r->first_seq;
	r->unsent = r->used;
	while (r->send_seq < seq) {
		r->unsent -= frame_len(r, off);
		off = after(r, off);
		r->send_seq++;
	}
	r->send_off = r->send_seq == r->next_seq ? r->tail : off;
	r->broken = false;
}
