/* SPDX-License-Identifier: Apache-2.0 */
/* The fixtures are found from the test binary (any directory, any checkout path) and are whole. */
#include <stdint.h>

#include "attest/attest.h"
#include "t.h"

/* The whole file, NUL-terminated, or NULL; *len set. */
static char *slurp(const char *rel, size_t *len)
{
	FILE *f = fopen(t_fixture(rel), "rb");
	char *buf = malloc(1 << 20);

	*len = 0;
	if (!f || !buf) {
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	*len = fread(buf, 1, (1 << 20) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

TEST(every_reader_finds_its_files)
{
	static const char *const files[] = {
		"README.md",
		"attestation/README.md",
		"attestation/debug-mode-2022-10-12.cbor",
		"attestation/pubkey-2024-11-30.cbor",
		"attestation/signed-eif-2022-10-13.cbor",
		"kms/ciphertext-for-recipient-constructed.ber",
		"kms/ciphertext-for-recipient-constructed.expected",
		"kms/ciphertext-for-recipient-primitive.ber",
		"kms/ciphertext-for-recipient-primitive.expected",
		"sigv4/LICENSE",
		"sigv4/get-vanilla/get-vanilla.authz",
		"sigv4/post-sts-token/post-sts-header-after/post-sts-header-after.sreq",
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t len;
		char *s = slurp(files[i], &len);

		CHECK(s && len > 0);
		if (!s || !len)
			fprintf(stderr, "    missing or empty: %s\n", t_fixture(files[i]));
		free(s);
	}
}

/* The repository's copy of the AWS root is the one kiln pins. */
TEST(root_matches_the_pinned_one)
{
	size_t len;
	char *pem = slurp("aws-nitro-enclaves-root-g1.pem", &len);

	size_t want = strlen(kiln_attest_aws_root_g1_pem);

	CHECK(pem != NULL);
	while (pem && len > 0 && pem[len - 1] == '\n') /* the download ends with a blank line */
		len--;
	while (want > 0 && kiln_attest_aws_root_g1_pem[want - 1] == '\n')
		want--;
	if (pem)
		CHECK(len == want && memcmp(pem, kiln_attest_aws_root_g1_pem, want) == 0);
	free(pem);
}

int main(void)
{
	RUN(every_reader_finds_its_files);
	RUN(root_matches_the_pinned_one);
	return t_done();
}
