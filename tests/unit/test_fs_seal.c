/* SPDX-License-Identifier: Apache-2.0 */
/* The storage core's sealing: HKDF bytes pinned, the per-mount sealer against the one-shot functions, nonces. */
#include <stdint.h>
#include <sys/wait.h>

#include "fs/nonces.h"
#include "fs/seal.h"
#include "t.h"

static void unhex(const char *h, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sscanf(h + 2 * i, "%2hhx", &out[i]);
}

static void fill(uint8_t *p, size_t n, uint8_t from)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(from + i);
}

/* RFC 5869 A.1 to A.3 (SHA-256): the first 32 bytes of each OKM are T(1). */
TEST(kdf_rfc5869_vectors)
{
	static const struct {
		size_t ikm, salt, info;
		uint8_t ikm0, salt0, info0;
		const char *okm;
	} v[] = {
		{ 22, 13, 10, 0, 0x00, 0xf0, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf" },
		{ 80, 80, 80, 0, 0x60, 0xb0, "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c" },
		{ 22, 0, 0, 0, 0, 0, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d" },
	};
	uint8_t ikm[80], salt[80], info[80], want[32], out[32];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct kfs_kdf *k = NULL;

		if (i == 1) {
			fill(ikm, 80, 0x00);
		} else {
			memset(ikm, 0x0b, sizeof(ikm));
		}
		fill(salt, v[i].salt, v[i].salt0);
		fill(info, v[i].info, v[i].info0);
		unhex(v[i].okm, want, 32);
		CHECK(kfs_kdf_new(ikm, v[i].ikm, salt, v[i].salt, &k) == 0);
		if (!k)
			continue;
		CHECK(kfs_kdf_expand(k, info, v[i].info, out) == 0 && memcmp(out, want, 32) == 0);
		/* the context is re-initialised per expand: the same info, the same bytes */
		CHECK(kfs_kdf_expand(k, info, v[i].info, out) == 0 && memcmp(out, want, 32) == 0);
		kfs_kdf_free(k);
	}
}

/*
 * The keys of existing volumes: kfs_hkdf and the sealer give the bytes
 * OpenSSL's EVP_PKEY HKDF gave before the sealer (computed with it, and
 * with Python's hmac), so every volume written before opens after.
 */
TEST(volume_keys_pinned)
{
	static const struct {
		const char *info;
		uint64_t ino;
		const char *key;
	} v[] = {
		{ "kiln-fs meta", 0, "09d25596143d6bbf4f15f73489db12f37ff12eae8cb44ec3d19778cc7b8ac298" },
		{ "kiln-fs file", 2, "b8fb70dbf2b6ba48b9117d019b33df19e0e6ec56dfcef771316f40835c4fa558" },
		{ "kiln-fs file", 0x0123456789abcdefULL,
		  "06dc0c420b8079e3cb42d2f8eab4f6ee177d1b3371fa6c589679832ee0760ae9" },
		{ "kiln-nfs fh", 0, "fbebc85bcf6353950fef3278738089660320924aca77e1226472de6d7cf7892a" },
	};
	uint8_t vkey[KFS_KEY_LEN], uuid[KFS_UUID_LEN], want[32], out[32];
	struct kfs_sealer *s = NULL;

	fill(vkey, sizeof(vkey), 0x40);
	fill(uuid, sizeof(uuid), 0xa0);
	CHECK(kfs_sealer_new(vkey, uuid, &s) == 0);
	for (size_t i = 0; s && i < sizeof(v) / sizeof(v[0]); i++) {
		unhex(v[i].key, want, 32);
		CHECK(kfs_hkdf(vkey, uuid, KFS_UUID_LEN, v[i].info, v[i].ino, out) == 0);
		CHECK(memcmp(out, want, 32) == 0);
		memset(out, 0, sizeof(out));
		CHECK(kfs_sealer_key(s, v[i].info, v[i].ino, out) == 0 && memcmp(out, want, 32) == 0);
	}
	char longinfo[80];

	memset(longinfo, 'x', sizeof(longinfo) - 1);
	longinfo[sizeof(longinfo) - 1] = '\0';
	CHECK_ERR(kfs_hkdf(vkey, uuid, KFS_UUID_LEN, longinfo, 0, out), "bad context");
	if (s)
		CHECK_ERR(kfs_sealer_key(s, longinfo, 0, out), "bad context");
	kfs_sealer_free(s);
}

/*
 * The sealer keeps two keyed contexts: objects under three keys in turn
 * re-key them, interleaved with opens, and each opens with the one-shot
 * function (and the other way round); a failed open leaves the sealer
 * working.
 */
TEST(sealer_matches_one_shot)
{
	uint8_t vkey[KFS_KEY_LEN] = { 1 }, uuid[KFS_UUID_LEN] = { 2 }, keys[3][KFS_KEY_LEN];
	uint8_t pt[100], ct[100 + KFS_SEAL_OVERHEAD], back[100];
	struct kfs_aad aad = { .kind = KFS_OBJ_BLOCK, .ino = 5 };
	struct kfs_sealer *s = NULL;

	CHECK(kfs_sealer_new(vkey, uuid, &s) == 0);
	if (!s)
		return;
	for (int k = 0; k < 3; k++)
		CHECK(kfs_sealer_key(s, "kiln-fs file", (uint64_t)k + 2, keys[k]) == 0);
	for (int i = 0; i < 30; i++) {
		const uint8_t *key = keys[(i * 7) % 3];
		size_t len = (size_t)(i * 3) % sizeof(pt); /* 0 too */

		fill(pt, len, (uint8_t)i);
		aad.blk = (uint64_t)i;
		CHECK(kfs_sealer_seal(s, key, &aad, pt, len, ct) == 0);
		CHECK(kfs_open_sealed(key, &aad, ct, len + KFS_SEAL_OVERHEAD, back) == 0 &&
		      memcmp(back, pt, len) == 0);
		CHECK(kfs_seal(key, &aad, pt, len, ct) == 0);
		memset(back, 0, sizeof(back));
		CHECK(kfs_sealer_open(s, key, &aad, ct, len + KFS_SEAL_OVERHEAD, back) == 0 &&
		      memcmp(back, pt, len) == 0);
		/* under another key, another block number or altered: refused */
		CHECK_ERR(kfs_sealer_open(s, keys[((i * 7) + 1) % 3], &aad, ct, len + KFS_SEAL_OVERHEAD, back),
			  "authentication failed");
		aad.blk++;
		CHECK_ERR(kfs_sealer_open(s, key, &aad, ct, len + KFS_SEAL_OVERHEAD, back),
			  "authentication failed");
		aad.blk--;
		ct[len + KFS_SEAL_OVERHEAD - 1] ^= 1;
		CHECK_ERR(kfs_sealer_open(s, key, &aad, ct, len + KFS_SEAL_OVERHEAD, back),
			  "authentication failed");
		CHECK_ERR(kfs_sealer_open(s, key, &aad, ct, KFS_SEAL_OVERHEAD - 1, back), "too short");
	}
	kfs_sealer_free(s);
}

static int cmp_nonce(const void *a, const void *b)
{
	return memcmp(a, b, KFS_NONCE_LEN);
}

/* Nonces taken across several refills of the page are all different; used ones are wiped from it. */
TEST(nonces_unique_across_refills)
{
	enum { N = 1200 }; /* the page holds 340 */
	static uint8_t got[N][KFS_NONCE_LEN];
	struct kfs_nonces n;
	const uint8_t *page;
	size_t len;
	uint8_t zero[KFS_NONCE_LEN] = { 0 };

	CHECK(kfs_nonces_init(&n) == 0);
	page = kfs_nonces_bytes(&n, &len);
	CHECK(page && len >= 300 * KFS_NONCE_LEN); /* the test machine allows a locked page */
	for (int i = 0; i < N; i++)
		CHECK(kfs_nonce_take(&n, got[i]) == 0);
	if (page) /* the first nonce of this fill was handed out and wiped */
		CHECK(memcmp(page, zero, KFS_NONCE_LEN) == 0 && memcmp(page + len - KFS_NONCE_LEN, zero, KFS_NONCE_LEN));
	qsort(got, N, KFS_NONCE_LEN, cmp_nonce);
	for (int i = 1; i < N; i++)
		CHECK(memcmp(got[i - 1], got[i], KFS_NONCE_LEN) != 0);
	kfs_nonces_free(&n);
	CHECK(kfs_nonces_bytes(&n, &len) == NULL && len == 0);
}

/* What is not used yet is wiped (kfs_nonces_free does this before unmapping: at unmount); the next take draws anew. */
TEST(nonces_wiped)
{
	struct kfs_nonces n;
	uint8_t a[KFS_NONCE_LEN], b[KFS_NONCE_LEN];
	const uint8_t *page;
	size_t len, nonzero = 0;

	CHECK(kfs_nonces_init(&n) == 0);
	CHECK(kfs_nonce_take(&n, a) == 0);
	page = kfs_nonces_bytes(&n, &len);
	for (size_t i = 0; page && i < len; i++)
		nonzero += page[i] != 0;
	CHECK(nonzero > len / 2);
	kfs_nonces_wipe(&n);
	nonzero = 0;
	for (size_t i = 0; page && i < len; i++)
		nonzero += page[i] != 0;
	CHECK(page && nonzero == 0);
	CHECK(kfs_nonce_take(&n, b) == 0 && memcmp(a, b, sizeof(a)) != 0);
	nonzero = 0;
	for (size_t i = 0; page && i < len; i++)
		nonzero += page[i] != 0;
	CHECK(nonzero > len / 2);
	kfs_nonces_free(&n);
}

/*
 * A forked child must not take the nonces its parent will: the page is
 * wiped in the child, which draws its own. The same next nonce in both
 * would be the same nonce under the same key.
 */
TEST(nonces_not_shared_with_a_child)
{
	struct kfs_nonces n;
	uint8_t first[KFS_NONCE_LEN], mine[KFS_NONCE_LEN], childs[KFS_NONCE_LEN] = { 0 };
	int pfd[2], st = 0;
	pid_t pid;

	CHECK(kfs_nonces_init(&n) == 0 && kfs_nonce_take(&n, first) == 0);
	CHECK(pipe(pfd) == 0);
	pid = fork();
	if (pid == 0) {
		uint8_t x[KFS_NONCE_LEN];

		_exit(kfs_nonce_take(&n, x) == 0 && write(pfd[1], x, sizeof(x)) == (ssize_t)sizeof(x) ? 0 : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(read(pfd[0], childs, sizeof(childs)) == (ssize_t)sizeof(childs));
	CHECK(kfs_nonce_take(&n, mine) == 0);
	CHECK(memcmp(mine, childs, sizeof(mine)) != 0);
	close(pfd[0]);
	close(pfd[1]);
	kfs_nonces_free(&n);
}

/* The sealer's objects carry different nonces across a refill too. */
TEST(sealer_nonces_unique)
{
	enum { N = 800 };
	static uint8_t got[N][KFS_NONCE_LEN];
	uint8_t vkey[KFS_KEY_LEN] = { 3 }, uuid[KFS_UUID_LEN] = { 4 }, key[KFS_KEY_LEN] = { 5 };
	uint8_t ct[1 + KFS_SEAL_OVERHEAD];
	struct kfs_aad aad = { .kind = KFS_OBJ_INODE };
	struct kfs_sealer *s = NULL;

	CHECK(kfs_sealer_new(vkey, uuid, &s) == 0);
	for (int i = 0; s && i < N; i++) {
		CHECK(kfs_sealer_seal(s, key, &aad, "x", 1, ct) == 0);
		memcpy(got[i], ct + 1, KFS_NONCE_LEN);
	}
	qsort(got, N, KFS_NONCE_LEN, cmp_nonce);
	for (int i = 1; i < N; i++)
		CHECK(memcmp(got[i - 1], got[i], KFS_NONCE_LEN) != 0);
	kfs_sealer_free(s);
}

int main(void)
{
	RUN(kdf_rfc5869_vectors);
	RUN(volume_keys_pinned);
	RUN(sealer_matches_one_shot);
	RUN(nonces_unique_across_refills);
	RUN(nonces_wiped);
	RUN(nonces_not_shared_with_a_child);
	RUN(sealer_nonces_unique);
	return t_done();
}
