/* SPDX-License-Identifier: Apache-2.0 */
/* Split one output stream of the app into lines that each fit one LOG frame. */
#ifndef KILN_INIT_LINESPLIT_H
#define KILN_INIT_LINESPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chan/frame.h"

/* LOG payload: u8 stream, u64 ts_ns, u64 seq, then the line. */
#define KILN_LOG_FIXED 17
#define KILN_LINE_MAX (KILN_FRAME_PAYLOAD_MAX - KILN_LOG_FIXED)

/* Called once per line or piece of a line; partial: the line goes on in the next call. */
typedef void (*kiln_line_fn)(void *ctx, const uint8_t *p, size_t len, bool partial);

/*
 * Bytes in, lines out, without the '\n'. A line longer than max comes out
 * in pieces of exactly max bytes flagged partial, then the rest unflagged
 * (a line of exactly max bytes is one unflagged piece: a piece is flagged
 * only once a further byte of the same line has arrived). Complete lines
 * read in one chunk are passed straight from the caller's buffer.
 */
struct kiln_linesplit {
	size_t max;		/* 1..KILN_LINE_MAX */
	size_t len;		/* bytes of an unfinished line held in buf */
	uint8_t buf[KILN_LINE_MAX];
};

void kiln_linesplit_init(struct kiln_linesplit *s, size_t max);
void kiln_linesplit_feed(struct kiln_linesplit *s, const uint8_t *p, size_t n, kiln_line_fn fn,
			 void *ctx);
/* End of stream: an unfinished last line comes out unflagged. */
void kiln_linesplit_flush(struct kiln_linesplit *s, kiln_line_fn fn, void *ctx);

#endif
