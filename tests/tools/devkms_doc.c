/* SPDX-License-Identifier: Apache-2.0 */
/* Test tool: a sim-CA-signed attestation document carrying a fresh RSA-2048 public key. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eif/eif.h"
#include "nsm/sim.h"

/*
 * usage: devkms_doc STATE_DIR OUT_DOC OUT_KEY_PEM [PCR0_HEX]
 * Writes the raw COSE_Sign1 document to OUT_DOC and the RSA private key
 * (whose SubjectPublicKeyInfo is the document's public_key) to OUT_KEY_PEM;
 * prints the path of the sim root certificate (for --root).
 */

static int from_hex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (sscanf(s + 2 * i, "%2hhx", &out[i]) != 1)
			return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct eif_pcrs pcrs = { 0 };
	struct kiln_nsm_sim *sim = NULL;
	struct kiln_nsm *nsm = NULL;
	uint8_t *doc = NULL, *spki = NULL;
	size_t doc_len = 0;
	char root[4096];

	if (argc < 4 || (argc == 5 && from_hex(argv[4], pcrs.pcr0, sizeof(pcrs.pcr0)) < 0)) {
		fprintf(stderr, "usage: devkms_doc STATE_DIR OUT_DOC OUT_KEY_PEM [PCR0_HEX]\n");
		return 2;
	}
	EVP_PKEY *key = EVP_RSA_gen(2048);
	int spki_len = key ? i2d_PUBKEY(key, &spki) : -1;
	struct kiln_nsm_sim_opts o = { .pcrs = &pcrs, .state_dir = argv[1] };
	struct kiln_nsm_blob pk = { spki, (size_t)spki_len };
	FILE *df = NULL, *kf = NULL;
	int ok = spki_len > 0 && kiln_nsm_sim_new(&o, &sim) == 0 &&
		 kiln_nsm_sim_client(sim, &nsm) == 0 &&
		 kiln_nsm_attestation(nsm, NULL, NULL, &pk, &doc, &doc_len) == 0 &&
		 kiln_sim_ca_root_path(argv[1], root, sizeof(root)) == 0 &&
		 (df = fopen(argv[2], "w")) && fwrite(doc, 1, doc_len, df) == doc_len &&
		 (kf = fopen(argv[3], "w")) && PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL);
	if (df)
		ok &= fclose(df) == 0;
	if (kf)
		ok &= fclose(kf) == 0;
	if (!ok) {
		fprintf(stderr, "devkms_doc: %s\n", kiln_errmsg());
		return 1;
	}
	printf("%s\n", root);
	return 0;
}
