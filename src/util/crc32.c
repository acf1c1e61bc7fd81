/* SPDX-License-Identifier: Apache-2.0 */
/* CRC-32 (IEEE/zlib) with carry-less multiplication where the CPU has it. */
/*
 * How this works. The CRC-32 of zlib is "reflected": bit 0 of the first
 * byte is the highest-degree coefficient of the message polynomial M(x)
 * over GF(2), and the CRC register holds M(x) * x^32 mod P(x), with
 * P = x^32 + 0x04C11DB7 (the register starts as ~crc, which amounts to
 * XORing ~crc into the first 4 bytes, and is inverted at the end).
 *
 * A 16-byte block loaded little-endian into a 128-bit register R stands,
 * in this reflected order, for R(x) = sum of bit i times x^(127-i). Its low
 * quadword is then the high half H(x) (times x^64) and its high quadword
 * the low half L(x): R = H * x^64 + L. PCLMULQDQ of two reflected quadwords
 * a and b gives the reflected 128-bit register of x * A(x) * B(x) (the
 * product of two 64-bit reflected values lands one bit short of 128 bits).
 *
 * Folding: a block R that lies D bits before block S contributes
 * R(x) * x^D to the polynomial at S's position, and
 *   R * x^D = H * x^(D+64) + L * x^D
 *          == x * H * K_H + x * L * K_L  (mod P)
 * with K_H = x^(D+63) mod P and K_L = x^(D-1) mod P: two carry-less
 * multiplies by 32-bit constants give a value of degree < 96 congruent to
 * R * x^D, which is XORed into S. Four blocks are folded in parallel
 * (D = 512 bits, 64 bytes a step), then merged into one (D = 128) and the
 * last whole blocks folded in (D = 128). The one 128-bit remainder has the
 * same CRC as everything before it, so the remainder's 16 bytes and the
 * last 0-15 bytes of input go through the table code to finish.
 *
 * The constants are computed here, not tabulated: x^n mod P by n shifts of
 * a 33-bit polynomial with reduction, then bit-reversed into the reflected
 * quadword layout (coefficient of x^d at bit 63-d).
 */
#include "util/crc32.h"

#include <pthread.h>
#include <zlib.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define HAVE_CLMUL 1
#endif

/* Below this the table code is as fast as setting up the folding. */
#define MIN_FOLD 128u

uint32_t kiln_crc32_portable(uint32_t crc, const void *buf, size_t len)
{
	return (uint32_t)crc32_z(crc, buf, len);
}

#ifdef HAVE_CLMUL

struct fold_consts {
	uint64_t k512[2]; /* D = 512: {K_H, K_L} as reflected quadwords */
	uint64_t k128[2]; /* D = 128 */
};

static struct fold_consts consts;
static int use_clmul;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* x^n mod P in normal bit order (bit d = coefficient of x^d). */
static uint64_t xpow_mod(unsigned n)
{
	uint64_t r = 1;

	while (n--) {
		r <<= 1;
		if (r & (1ull << 32))
			r ^= 0x104C11DB7ull;
	}
	return r;
}

static uint64_t reflect64(uint64_t v)
{
	uint64_t r = 0;

	for (int i = 0; i < 64; i++)
		r |= ((v >> i) & 1u) << (63 - i);
	return r;
}

static void set_pair(uint64_t k[2], unsigned d)
{
	k[0] = reflect64(xpow_mod(d + 63));
	k[1] = reflect64(xpow_mod(d - 1));
}

static void init(void)
{
	set_pair(consts.k512, 512);
	set_pair(consts.k128, 128);
	__builtin_cpu_init();
	use_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse2");
}

/* r * x^D + next (mod P), kept below degree 128; k holds D's constants. */
__attribute__((target("pclmul,sse2"))) static inline __m128i fold(__m128i r, __m128i k,
								 __m128i next)
{
	__m128i hi = _mm_clmulepi64_si128(r, k, 0x00);
	__m128i lo = _mm_clmulepi64_si128(r, k, 0x11);

	return _mm_xor_si128(_mm_xor_si128(hi, lo), next);
}

__attribute__((target("pclmul,sse2"))) static inline __m128i load(const uint8_t *p)
{
	return _mm_loadu_si128((const __m128i *)(const void *)p);
}

/* len >= 64 */
__attribute__((target("pclmul,sse2"))) static uint32_t crc_clmul(uint32_t crc,
								  const uint8_t *p, size_t len)
{
	const __m128i k512 = _mm_loadu_si128((const __m128i *)(const void *)consts.k512);
	const __m128i k128 = _mm_loadu_si128((const __m128i *)(const void *)consts.k128);
	__m128i x0 = _mm_xor_si128(load(p), _mm_cvtsi32_si128((int)~crc));
	__m128i x1 = load(p + 16), x2 = load(p + 32), x3 = load(p + 48);
	uint8_t rem[16];

	for (p += 64, len -= 64; len >= 64; p += 64, len -= 64) {
		x0 = fold(x0, k512, load(p));
		x1 = fold(x1, k512, load(p + 16));
		x2 = fold(x2, k512, load(p + 32));
		x3 = fold(x3, k512, load(p + 48));
	}
	x1 = fold(x0, k128, x1);
	x2 = fold(x1, k128, x2);
	x3 = fold(x2, k128, x3);
	for (; len >= 16; p += 16, len -= 16)
		x3 = fold(x3, k128, load(p));
	_mm_storeu_si128((__m128i *)(void *)rem, x3);
	/* The register now holds the raw CRC state 0 ahead of rem: zlib's crc argument ~0. */
	crc = (uint32_t)crc32_z(0xffffffffu, rem, sizeof(rem));
	return (uint32_t)crc32_z(crc, p, len);
}

int kiln_crc32_accelerated(void)
{
	pthread_once(&once, init);
	return use_clmul;
}

uint32_t kiln_crc32(uint32_t crc, const void *buf, size_t len)
{
	if (len >= MIN_FOLD && kiln_crc32_accelerated())
		return crc_clmul(crc, buf, len);
	return kiln_crc32_portable(crc, buf, len);
}

#else /* no carry-less multiply support compiled in */

int kiln_crc32_accelerated(void)
{
	return 0;
}

uint32_t kiln_crc32(uint32_t crc, const void *buf, size_t len)
{
	return kiln_crc32_portable(crc, buf, len);
}

#endif
