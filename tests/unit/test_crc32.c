/* SPDX-License-Identifier: Apache-2.0 */
/* kiln_crc32 (carry-less multiply folding) against zlib's crc32_z. */
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#include "util/crc32.h"
#include "t.h"

/* A fixed xorshift stream: the same "random" inputs on every run. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

#define BUF (1u << 16)

static uint8_t buf[BUF + 64];

static void fill(void)
{
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rnd();
}

static int same(uint32_t seed, size_t off, size_t len)
{
	return kiln_crc32(seed, buf + off, len) == (uint32_t)crc32_z(seed, buf + off, len);
}

TEST(every_short_length_and_alignment)
{
	int bad = 0;

	fill();
	for (size_t off = 0; off < 32; off++)
		for (size_t len = 0; len <= 1100; len++)
			bad += !same(0, off, len) + !same(0xdeadbeef, off, len);
	CHECK(bad == 0);
}

TEST(random_lengths_alignments_and_seeds)
{
	int bad = 0;

	fill();
	for (int i = 0; i < 2000; i++) {
		size_t off = rnd() % 64, len = rnd() % (BUF + 1);

		bad += !same((uint32_t)rnd(), off, len);
	}
	CHECK(bad == 0);
}

/* Special patterns: all zero and all ones bytes, where a wrong constant can cancel out. */
TEST(uniform_bytes)
{
	for (int v = 0; v < 256; v += 255) {
		memset(buf, v, sizeof(buf));
		CHECK(same(0, 0, BUF));
		CHECK(same(0xffffffffu, 3, BUF - 3));
	}
}

/* Chaining: a CRC continued over a split equals the CRC of the whole, as with zlib. */
TEST(chained)
{
	uint32_t whole, part;

	fill();
	whole = kiln_crc32(0, buf, BUF);
	part = kiln_crc32(kiln_crc32(0, buf, 1000), buf + 1000, BUF - 1000);
	CHECK(whole == part);
	CHECK(whole == (uint32_t)crc32_z(0, buf, BUF));
	CHECK(kiln_crc32_portable(0, buf, BUF) == whole);
}

int main(void)
{
	fprintf(stderr, "carry-less multiply path: %s\n",
		kiln_crc32_accelerated() ? "yes" : "no (portable only)");
	RUN(every_short_length_and_alignment);
	RUN(random_lengths_alignments_and_seeds);
	RUN(uniform_bytes);
	RUN(chained);
	return t_done();
}
