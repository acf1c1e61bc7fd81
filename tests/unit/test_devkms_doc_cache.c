/* SPDX-License-Identifier: Apache-2.0 */
/* dev-kms's cache of verified attestation documents: repeats skip the chain, nothing else. */
#include <openssl/evp.h>
#include <pthread.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "devkms/devkms.h"
#include "eif/eif.h"
#include "nsm/nsm.h"
#include "nsm/sim.h"
#include "t.h"

static char dir[] = "/tmp/test_devkms_cache.XXXXXX";
static struct kiln_devkms d;
static struct kiln_nsm_sim *sim;
static struct kiln_nsm *nsm;

/* A fresh sim document carrying the test's RSA-2048 public key; each one differs (nonce). */
static uint8_t *make_doc(size_t *len)
{
	static EVP_PKEY *key;
	static uint32_t count;
	uint8_t *spki = NULL, *doc = NULL;

	if (!key)
		key = EVP_RSA_gen(2048);
	int n = key ? i2d_PUBKEY(key, &spki) : -1;
	struct kiln_nsm_blob pk = { spki, (size_t)(n > 0 ? n : 0) };
	count++;
	struct kiln_nsm_blob nonce = { (const uint8_t *)&count, sizeof(count) };
	CHECK(n > 0 && kiln_nsm_attestation(nsm, NULL, &nonce, &pk, &doc, len) == 0);
	OPENSSL_free(spki);
	return doc;
}

static int verify(const uint8_t *doc, size_t len)
{
	struct kiln_attest_doc *out = NULL;
	int rc = kiln_devkms_verify_document(&d, doc, len, &out);
	kiln_attest_doc_free(out);
	return rc;
}

TEST(repeat_is_not_reverified)
{
	size_t len = 0, len2 = 0;
	uint8_t *doc = make_doc(&len), *other = make_doc(&len2);
	uint64_t before = d.doc_verifications;

	CHECK(doc && verify(doc, len) == 0);
	CHECK(d.doc_verifications == before + 1);
	for (int i = 0; i < 9; i++) /* a boot's other Decrypts */
		CHECK(verify(doc, len) == 0);
	CHECK(d.doc_verifications == before + 1);
	/* Another document is verified on its own. */
	CHECK(other && verify(other, len2) == 0);
	CHECK(d.doc_verifications == before + 2);
	free(doc);
	free(other);
}

/* A boot's first Decrypts arrive together: one verifies, the others wait for it. */
static const uint8_t *par_doc;
static size_t par_len;
static pthread_barrier_t par_start;

static void *par_verify(void *arg)
{
	pthread_barrier_wait(&par_start);
	*(int *)arg = verify(par_doc, par_len);
	return NULL;
}

TEST(concurrent_first_requests_verify_once)
{
	enum { THREADS = 8, ROUNDS = 5 }; /* without the wait, some round verifies twice */

	for (int round = 0; round < ROUNDS; round++) {
		size_t len = 0;
		uint8_t *doc = make_doc(&len);
		pthread_t t[THREADS];
		int rc[THREADS];
		uint64_t before = d.doc_verifications;

		par_doc = doc;
		par_len = len;
		pthread_barrier_init(&par_start, NULL, THREADS);
		for (int i = 0; i < THREADS; i++) {
			rc[i] = -1;
			CHECK(pthread_create(&t[i], NULL, par_verify, &rc[i]) == 0);
		}
		for (int i = 0; i < THREADS; i++) {
			pthread_join(t[i], NULL);
			CHECK(rc[i] == 0);
		}
		pthread_barrier_destroy(&par_start);
		CHECK(d.doc_verifications == before + 1);
		free(doc);
	}
}

TEST(tampered_is_refused)
{
	size_t len = 0;
	uint8_t *doc = make_doc(&len);

	CHECK(doc && verify(doc, len) == 0);
	uint64_t before = d.doc_verifications;
	doc[len - 1] ^= 1; /* the signature's last byte */
	CHECK_ERR(verify(doc, len), "Invalid attestation document");
	CHECK(d.doc_verifications == before + 1);
	/* Refusals are not remembered as good, and the original still is. */
	CHECK_ERR(verify(doc, len), "Invalid attestation document");
	doc[len - 1] ^= 1;
	CHECK(verify(doc, len) == 0);
	CHECK(d.doc_verifications == before + 2);
	free(doc);
}

TEST(expired_entry_is_reverified)
{
	size_t len = 0;
	uint8_t *doc = make_doc(&len);
	uint8_t md[48];

	CHECK(doc && verify(doc, len) == 0);
	CHECK(EVP_Digest(doc, len, md, NULL, EVP_sha384(), NULL) == 1);
	int slot = -1;
	for (int i = 0; i < KILN_DEVKMS_DOC_CACHE; i++)
		if (d.doc_seen[i].until_ms && !memcmp(d.doc_seen[i].sha384, md, 48))
			slot = i;
	CHECK(slot >= 0);
	if (slot < 0)
		return;
	/* Held until the leaf's notAfter: the sim leaf has >= 30 minutes left. */
	int64_t until = d.doc_seen[slot].until_ms;
	CHECK(until > kiln_devkms_now(&d) * 1000 + 29 * 60 * 1000);
	uint64_t before = d.doc_verifications;
	/* Past the certificates' expiry: verified again, and refused (expired chain). */
	d.now_override_s = until / 1000 + 1;
	CHECK_ERR(verify(doc, len), "Invalid attestation document");
	CHECK(d.doc_verifications == before + 1);
	d.now_override_s = 0;
	/* An entry that has run out is verified again (and kept anew). */
	d.doc_seen[slot].until_ms = kiln_devkms_now(&d) * 1000;
	CHECK(verify(doc, len) == 0);
	CHECK(d.doc_verifications == before + 2);
	CHECK(verify(doc, len) == 0);
	CHECK(d.doc_verifications == before + 2);
	free(doc);
}

TEST(bounded)
{
	size_t len = 0;
	uint8_t *first = make_doc(&len);

	CHECK(first && verify(first, len) == 0);
	/* More documents than slots: the least recently used one goes. */
	for (int i = 0; i < KILN_DEVKMS_DOC_CACHE; i++) {
		size_t l = 0;
		uint8_t *doc = make_doc(&l);
		CHECK(doc && verify(doc, l) == 0);
		free(doc);
	}
	uint64_t before = d.doc_verifications;
	CHECK(verify(first, len) == 0);
	CHECK(d.doc_verifications == before + 1);
	free(first);
}

/* The key policy's PCR conditions are evaluated for every request, cached or not. */
TEST(policy_still_per_request)
{
	size_t len = 0;
	uint8_t *doc = make_doc(&len);
	char *b64 = doc ? kiln_devkms_b64_encode(doc, len) : NULL;
	static const char policy[] =
		"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\","
		"\\\"Principal\\\":{\\\"AWS\\\":\\\"*\\\"},\\\"Action\\\":\\\"kms:Encrypt\\\",\\\"Resource\\\":\\\"*\\\"},"
		"{\\\"Effect\\\":\\\"Allow\\\",\\\"Principal\\\":{\\\"AWS\\\":\\\"*\\\"},"
		"\\\"Action\\\":\\\"kms:Decrypt\\\",\\\"Resource\\\":\\\"*\\\","
		"\\\"Condition\\\":{\\\"StringEqualsIgnoreCase\\\":{\\\"kms:RecipientAttestation:PCR0\\\":"
		"\\\"11\\\"}}}]}";
	char body[16384];
	struct kiln_devkms_resp r;

	snprintf(body, sizeof(body), "{\"Policy\":\"%s\",\"BypassPolicyLockoutSafetyCheck\":true}", policy);
	kiln_devkms_handle(&d, "TrentService.CreateKey", "eu-west-1", (const uint8_t *)body,
			   strlen(body), &r);
	CHECK(r.status == 200);
	const char *id = r.body ? strstr(r.body, "\"KeyId\":\"") : NULL;
	char key_id[KILN_DEVKMS_KEY_ID_LEN + 1] = "";
	if (id)
		snprintf(key_id, sizeof(key_id), "%s", id + 9);
	kiln_devkms_resp_free(&r);
	CHECK(kiln_devkms_is_key_id(key_id));
	snprintf(body, sizeof(body), "{\"KeyId\":\"%s\",\"Plaintext\":\"c2VjcmV0\"}", key_id);
	kiln_devkms_handle(&d, "TrentService.Encrypt", "eu-west-1", (const uint8_t *)body,
			   strlen(body), &r);
	CHECK(r.status == 200);
	const char *ct = r.body ? strstr(r.body, "\"CiphertextBlob\":\"") : NULL;
	char blob[1024] = "";
	if (ct)
		snprintf(blob, sizeof(blob), "%.*s", (int)strcspn(ct + 18, "\""), ct + 18);
	kiln_devkms_resp_free(&r);
	snprintf(body, sizeof(body),
		 "{\"KeyId\":\"%s\",\"CiphertextBlob\":\"%s\",\"Recipient\":{"
		 "\"KeyEncryptionAlgorithm\":\"RSAES_OAEP_SHA_256\",\"AttestationDocument\":\"%s\"}}",
		 key_id, blob, b64 ? b64 : "");
	uint64_t before = d.doc_verifications;
	for (int i = 0; i < 2; i++) {
		kiln_devkms_handle(&d, "TrentService.Decrypt", "eu-west-1", (const uint8_t *)body,
				   strlen(body), &r);
		CHECK(r.status == 400 && r.body && strstr(r.body, "PCR0"));
		kiln_devkms_resp_free(&r);
	}
	CHECK(d.doc_verifications == before + 1);
	free(b64);
	free(doc);
}

int main(void)
{
	struct eif_pcrs pcrs = { 0 };
	char root[600];
	struct kiln_nsm_sim_opts o = { .pcrs = &pcrs };

	if (!mkdtemp(dir))
		return 1;
	o.state_dir = dir;
	CHECK(kiln_nsm_sim_new(&o, &sim) == 0 && kiln_nsm_sim_client(sim, &nsm) == 0);
	size_t l = 0;
	free(make_doc(&l)); /* the sim CA is written at the first attestation */
	CHECK(kiln_sim_ca_root_path(dir, root, sizeof(root)) == 0);
	char state[700];
	snprintf(state, sizeof(state), "%s/kms", dir);
	const char *roots[] = { root };
	CHECK(kiln_devkms_init(&d, state, NULL, NULL, roots, 1) == 0);
	if (t_failures)
		return t_done();
	RUN(repeat_is_not_reverified);
	RUN(concurrent_first_requests_verify_once);
	RUN(tampered_is_refused);
	RUN(expired_entry_is_reverified);
	RUN(bounded);
	RUN(policy_still_per_request);
	kiln_devkms_free(&d);
	kiln_nsm_close(nsm);
	kiln_nsm_sim_free(sim);
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
	return t_done();
}
