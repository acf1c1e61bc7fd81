/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests: kiln-init's line splitter and log ring (wrap, eviction, resend). */
#include <stdint.h>
#include <string.h>

#include "chan/frame.h"
#include "init/linesplit.h"
#include "init/logring.h"
#include "t.h"

struct got {
	char text[8192];
	size_t n;
	int lines, partials;
};

/* Collect lines as "text|" and partial pieces as "text+". */
static void collect(void *ctx, const uint8_t *p, size_t len, bool partial)
{
	struct got *g = ctx;

	memcpy(g->text + g->n, p, len);
	g->n += len;
	g->text[g->n++] = partial ? '+' : '|';
	g->text[g->n] = '\0';
	g->lines += !partial;
	g->partials += partial;
}

static struct kiln_linesplit ls;

static const char *split(size_t max, const char *chunks[], size_t n, bool eof, struct got *g)
{
	memset(g, 0, sizeof(*g));
	kiln_linesplit_init(&ls, max);
	for (size_t i = 0; i < n; i++)
		kiln_linesplit_feed(&ls, (const uint8_t *)chunks[i], strlen(chunks[i]), collect, g);
	if (eof)
		kiln_linesplit_flush(&ls, collect, g);
	return g->text;
}

TEST(split_lines)
{
	struct got g;
	const char *a[] = { "one\ntwo\n", "thr", "ee\n\nfour" };
	const char *b[] = { "abcd\n" };          /* exactly max */
	const char *c[] = { "abcdefghij\n" };    /* 2.5 x max */
	const char *d[] = { "abcd", "\n" };      /* max, newline in the next chunk */
	const char *e[] = { "abcd", "e\n" };     /* max + 1 over two chunks */
	const char *f[] = { "ab", "" };          /* unfinished, no EOF */

	CHECK(!strcmp(split(100, a, 3, false, &g), "one|two|three||"));
	CHECK(ls.len == 4);
	CHECK(!strcmp(split(100, a, 3, true, &g), "one|two|three||four|"));
	CHECK(!strcmp(split(4, b, 1, true, &g), "abcd|"));
	CHECK(!strcmp(split(4, c, 1, true, &g), "abcd+efgh+ij|"));
	CHECK(g.lines == 1 && g.partials == 2);
	CHECK(!strcmp(split(4, d, 2, true, &g), "abcd|"));
	CHECK(!strcmp(split(4, e, 2, true, &g), "abcd+e|"));
	CHECK(!strcmp(split(4, f, 2, false, &g), ""));
	kiln_linesplit_flush(&ls, collect, &g);
	CHECK(!strcmp(g.text, "ab|"));
	kiln_linesplit_flush(&ls, collect, &g); /* nothing held: nothing more */
	CHECK(!strcmp(g.text, "ab|"));
}

static size_t n_pieces, n_bytes, n_partial;

static void count(void *ctx, const uint8_t *p, size_t len, bool partial)
{
	n_pieces++;
	n_bytes += len;
	n_partial += partial;
	CHECK(len <= KILN_LINE_MAX);
}

TEST(split_binary_and_max)
{
	static uint8_t big[KILN_LINE_MAX * 2 + 10];

	memset(big, 'x', sizeof(big));
	big[5] = '\0'; /* any byte but '\n' is line content */
	big[sizeof(big) - 1] = '\n';
	kiln_linesplit_init(&ls, 0); /* out of range: the protocol maximum */
	CHECK(ls.max == KILN_LINE_MAX);
	kiln_linesplit_feed(&ls, big, sizeof(big), count, NULL);
	CHECK(n_pieces == 3 && n_partial == 2 && n_bytes == sizeof(big) - 1);
}

/* ---- ring ---- */

/* Decode every frame in buf; check seqs run from first; return how many. */
static size_t decode_all(const uint8_t *buf, size_t len, uint64_t first, char *lines, size_t cap)
{
	struct kiln_frame f;
	size_t used, n = 0, off = 0, bad = 0;

	lines[0] = '\0';
	while (off < len) {
		if (kiln_frame_decode(buf + off, len - off, &f, &used) != 1 ||
		    f.type != KILN_FRAME_LOG) {
			CHECK(!"a LOG frame");
			return n;
		}
		bad += f.u.log.seq != first + n;
		if (strlen(lines) + f.u.log.len + 2 < cap) {
			strncat(lines, (const char *)f.u.log.line, f.u.log.len);
			strcat(lines, ",");
		}
		off += used;
		n++;
	}
	CHECK(bad == 0);
	return n;
}

/* Everything unsent, as one byte string (following the wrap). */
static size_t drain(struct kiln_logring *r, uint8_t *out, size_t cap)
{
	size_t total = 0, n;
	const uint8_t *p;

	while ((p = kiln_logring_peek(r, &n)), n) {
		CHECK(total + n <= cap);
		memcpy(out + total, p, n);
		kiln_logring_consume(r, n);
		total += n;
	}
	CHECK(r->unsent == 0);
	return total;
}

static int add(struct kiln_logring *r, const char *s)
{
	return kiln_logring_append(r, KILN_STREAM_STDOUT, 1, false, (const uint8_t *)s, strlen(s));
}

TEST(ring_basic)
{
	static uint8_t out[1 << 20];
	struct kiln_logring r;
	char lines[256];
	uint64_t lost;

	CHECK_ERR(kiln_logring_init(&r, 1000), "at least");
	CHECK(kiln_logring_init(&r, 2 * KILN_FRAME_MAX) == 0);
	CHECK(add(&r, "a") == 0 && add(&r, "bb") == 0 && add(&r, "") == 0);
	CHECK(r.next_seq == 4 && r.first_seq == 1);
	CHECK(decode_all(out, drain(&r, out, sizeof(out)), 1, lines, sizeof(lines)) == 3);
	CHECK(!strcmp(lines, "a,bb,,"));
	/* Reconnect: the parent stored only seq 1. */
	kiln_logring_rewind(&r, 2, &lost);
	CHECK(lost == 0 && r.send_seq == 2);
	CHECK(decode_all(out, drain(&r, out, sizeof(out)), 2, lines, sizeof(lines)) == 2);
	CHECK(!strcmp(lines, "bb,,"));
	/* The parent has everything. */
	kiln_logring_rewind(&r, 4, &lost);
	CHECK(lost == 0 && r.unsent == 0);
	/* Partial sends: a frame boundary is reported. */
	CHECK(add(&r, "hello") == 0);
	const uint8_t *p;
	size_t n;

	p = kiln_logring_peek(&r, &n);
	CHECK(n == KILN_FRAME_HDR + KILN_LOG_FIXED + 5 && p);
	kiln_logring_consume(&r, 3);
	CHECK(kiln_logring_frame_rest(&r) == n - 3);
	kiln_logring_consume(&r, n - 3);
	CHECK(kiln_logring_frame_rest(&r) == 0 && r.send_seq == 5);
	/* Too long a line. */
	static uint8_t big[KILN_LINE_MAX + 1];

	CHECK_ERR(kiln_logring_append(&r, 1, 1, false, big, sizeof(big)), "too long");
	CHECK(kiln_logring_append(&r, 2, 1, true, big, KILN_LINE_MAX) == 0);
	/* A parent claiming more than was written: numbering continues there. */
	kiln_logring_rewind(&r, 100, &lost);
	CHECK(lost == 0 && r.unsent == 0 && r.used == 0 && r.next_seq == 100);
	CHECK(add(&r, "x") == 0);
	CHECK(decode_all(out, drain(&r, out, sizeof(out)), 100, lines, sizeof(lines)) == 1);
	kiln_logring_free(&r);
}

/* Many lines through a small ring: wraps, evictions, resend after "reconnects". */
TEST(ring_wrap_evict)
{
	static uint8_t out[1 << 20];
	static char lines[1 << 20];
	struct kiln_logring r;
	char s[64];
	uint64_t lost, sent_to = 1;

	CHECK(kiln_logring_init(&r, 2 * KILN_FRAME_MAX) == 0);
	for (int i = 1; i <= 100000; i++) {
		snprintf(s, sizeof(s), "line %d %.*s", i, i % 40, "........................................");
		CHECK(add(&r, s) == 0);
		CHECK(r.used <= r.cap && r.next_seq - r.first_seq >= 1);
		if (i % 4999 == 0) { /* connected for a moment: send everything */
			uint64_t from = r.send_seq;
			size_t len;

			CHECK(from >= sent_to); /* more only when evicted unsent */
			len = drain(&r, out, sizeof(out));
			CHECK(decode_all(out, len, from, lines, sizeof(lines)) == r.next_seq - from);
			sent_to = r.next_seq;
		} else if (i % 1999 == 0) { /* reconnect: the parent lost the last 100 */
			uint64_t want = sent_to > 100 ? sent_to - 100 : 1;

			kiln_logring_rewind(&r, want, &lost);
			CHECK(r.send_seq == (want > r.first_seq ? want : r.first_seq));
			CHECK(lost == (want < r.first_seq ? r.first_seq - want : 0));
			sent_to = r.send_seq;
		}
	}
	CHECK(r.evicted_unsent > 0);
	/* Ask for everything: what is gone is reported as lost. */
	kiln_logring_rewind(&r, 1, &lost);
	CHECK(lost == r.first_seq - 1);
	CHECK(decode_all(out, drain(&r, out, sizeof(out)), r.first_seq, lines, sizeof(lines)) ==
	      r.next_seq - r.first_seq);
	CHECK(!strcmp(lines + strlen(lines) - 13, "line 100000 ,"));
	kiln_logring_free(&r);
}

/* Eviction of a frame being sent marks the ring broken (the caller reconnects). */
TEST(ring_broken)
{
	static uint8_t big[KILN_LINE_MAX];
	struct kiln_logring r;
	uint64_t lost;
	size_t n;

	CHECK(kiln_logring_init(&r, 2 * KILN_FRAME_MAX) == 0);
	CHECK(kiln_logring_append(&r, 1, 1, false, big, sizeof(big)) == 0);
	kiln_logring_peek(&r, &n);
	kiln_logring_consume(&r, 10);
	CHECK(kiln_logring_append(&r, 1, 1, false, big, sizeof(big)) == 0);
	CHECK(!r.broken);
	CHECK(kiln_logring_append(&r, 1, 1, false, big, sizeof(big)) == 0);
	CHECK(r.broken && r.first_seq == 2);
	kiln_logring_rewind(&r, 1, &lost);
	CHECK(!r.broken && r.send_seq == 2 && lost == 1);
	kiln_logring_free(&r);
}

int main(void)
{
	RUN(split_lines);
	RUN(split_binary_and_max);
	RUN(ring_basic);
	RUN(ring_wrap_evict);
	RUN(ring_broken);
	return t_done();
}
