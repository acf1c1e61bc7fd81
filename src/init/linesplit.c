/* SPDX-License-Identifier: Apache-2.0 */
/* Split one output stream of the app into lines that each fit one LOG frame. */
#include "init/linesplit.h"

#include <string.h>

void kiln_linesplit_init(struct kiln_linesplit *s, size_t max)
{
	s->max = max >= 1 && max <= KILN_LINE_MAX ? max : KILN_LINE_MAX;
	s->len = 0;
}

/* Add n bytes (no newline among them) to the held line, emitting full pieces. */
static void hold(struct kiln_linesplit *s, const uint8_t *p, size_t n, kiln_line_fn fn, void *ctx)
{
	while (n) {
		size_t take;

		if (s->len == s->max) { /* more of this line follows: the full piece is partial */
			fn(ctx, s->buf, s->len, true);
			s->len = 0;
		}
		take = s->max - s->len < n ? s->max - s->len : n;
		memcpy(s->buf + s->len, p, take);
		s->len += take;
		p += take;
		n -= take;
	}
}

void kiln_linesplit_feed(struct kiln_linesplit *s, const uint8_t *p, size_t n, kiln_line_fn fn,
			 void *ctx)
{
	while (n) {
		const uint8_t *nl = memchr(p, '\n', n);
		size_t len = nl ? (size_t)(nl - p) : n;

		if (!nl) {
			hold(s, p, n, fn, ctx);
			return;
		}
		if (s->len == 0 && len <= s->max) {
			fn(ctx, p, len, false); /* the common case: no copy */
		} else {
			hold(s, p, len, fn, ctx);
			fn(ctx, s->buf, s->len, false);
			s->len = 0;
		}
		p += len + 1;
		n -= len + 1;
	}
}

void kiln_linesplit_flush(struct kiln_linesplit *s, kiln_line_fn fn, void *ctx)
{
	if (s->len)
		fn(ctx, s->buf, s->len, false);
	s->len = 0;
}
