/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's log buffer: encoded LOG frames kept for sending and resending. */
#ifndef KILN_INIT_LOGRING_H
#define KILN_INIT_LOGRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define KILN_LOGRING_DEFAULT (4u << 20) /* bytes */

/*
 * A byte ring of whole LOG frames, encoded once, in seq order: frames
 * [first_seq, next_seq) are held. A frame never wraps around the end of the
 * buffer (the space after it is skipped), so the unsent part can be handed
 * to send() a contiguous run at a time. Appending to a full ring drops the
 * oldest frames; the parent's ACK to HELLO (next seq it expects) moves the
 * send position back with kiln_logring_rewind() after a reconnect.
 */
struct kiln_logring {
	uint8_t *buf;
	size_t cap;
	size_t head;		/* offset of the oldest frame */
	size_t tail;		/* one past the newest frame */
	size_t wrap;		/* wrapped: the data at the top ends here, then goes on at 0 */
	bool wrapped;
	size_t used;		/* bytes of frames held */
	uint64_t first_seq;	/* seq of the frame at head */
	uint64_t next_seq;	/* seq the next appended frame gets */
	size_t send_off;	/* next byte to send */
	uint64_t send_seq;	/* the frame send_off is in; next_seq when all is sent */
	size_t send_in;		/* bytes of that frame already sent */
	size_t unsent;		/* bytes from send_off to tail */
	uint64_t evicted_unsent; /* frames dropped before they were sent (total) */
	bool broken;		/* a partly sent frame was dropped: reconnect */
};

/* cap >= 2 * KILN_FRAME_MAX. */
int kiln_logring_init(struct kiln_logring *r, size_t cap) KILN_MUST;
void kiln_logring_free(struct kiln_logring *r);
/* Encode and append one LOG frame with the next seq (len <= KILN_LINE_MAX). */
int kiln_logring_append(struct kiln_logring *r, uint8_t stream, uint64_t ts_ns, bool partial,
			const uint8_t *line, size_t len) KILN_MUST;
/* The next contiguous unsent bytes (*len 0: all sent). */
const uint8_t *kiln_logring_peek(const struct kiln_logring *r, size_t *len);
/* n bytes of what peek returned went out. */
void kiln_logring_consume(struct kiln_logring *r, size_t n);
/* Bytes left of a partly sent frame (0 at a frame boundary: other frames may go first). */
size_t kiln_logring_frame_rest(const struct kiln_logring *r);
/*
 * Send again from seq (the parent's next expected seq). Frames before
 * first_seq are gone: *lost says how many of them the parent lacks. A seq
 * beyond next_seq (the parent claims more than was written) renumbers: the
 * next appended frame gets that seq, and nothing held is resent.
 */
void kiln_logring_rewind(struct kiln_logring *r, uint64_t seq, uint64_t *lost);

#endif
