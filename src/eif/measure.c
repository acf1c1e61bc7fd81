/* SPDX-License-Identifier: Apache-2.0 */
/* PCR computation (SHA-384 extend), hex and the nitro-cli measurement JSON. */
#include "eif/measure.h"

#include <jansson.h>
#include <string.h>

static const unsigned mask_boot = 1u | 2u; /* PCR0 and PCR1 */
static const unsigned mask_app = 1u | 4u;  /* PCR0 and PCR2 */

int eif_measure_init(struct eif_measure *m)
{
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < 3; i++) {
		m->ctx[i] = EVP_MD_CTX_new();
		if (!m->ctx[i] || EVP_DigestInit_ex(m->ctx[i], EVP_sha384(), NULL) != 1) {
			eif_measure_free(m);
			return kiln_err(ENOMEM, "cannot set up SHA-384");
		}
	}
	if (kiln_async_digest_new(&m->async) < 0) {
		eif_measure_free(m);
		return kiln_err(ENOMEM, "cannot set up SHA-384");
	}
	return 0;
}

static unsigned section_mask(const struct eif_measure *m, uint16_t type)
{
	switch (type) {
	case EIF_SECTION_KERNEL:
	case EIF_SECTION_CMDLINE:
		return mask_boot;
	case EIF_SECTION_RAMDISK:
		return m->ramdisks == 0 ? mask_boot : mask_app;
	default:
		return 0;
	}
}

bool eif_measure_forks(const struct eif_measure *m, uint16_t type)
{
	return !m->forked && (section_mask(m, type) & 4u);
}

int eif_measure_begin(struct eif_measure *m, uint16_t type)
{
	bool fork = eif_measure_forks(m, type);

	m->mask = section_mask(m, type);
	m->ramdisks += type == EIF_SECTION_RAMDISK;
	if (!fork)
		return 0;
	if (EVP_MD_CTX_copy_ex(m->ctx[1], m->ctx[0]) != 1)
		return kiln_err(EIO, "SHA-384 copy failed");
	m->forked = true;
	return 0;
}

/* PCR1's own context, once forked; before that ctx[0] stands for it. */
static EVP_MD_CTX *second_ctx(const struct eif_measure *m)
{
	if ((m->mask & 2u) && m->forked)
		return m->ctx[1];
	return (m->mask & 4u) ? m->ctx[2] : NULL;
}

void eif_measure_route(const struct eif_measure *m, EVP_MD_CTX **pcr0, EVP_MD_CTX **other)
{
	*pcr0 = (m->mask & 1u) ? m->ctx[0] : NULL;
	*other = second_ctx(m);
}

int eif_measure_update(struct eif_measure *m, const void *buf, size_t len, uLong *crc)
{
	EVP_MD_CTX *second = second_ctx(m);

	/* PCR0 inline; PCR1 or PCR2 (whichever is live) and the CRC on the worker. */
	if ((m->mask & 1u) && EVP_DigestUpdate(m->ctx[0], buf, len) != 1)
		return kiln_err(EIO, "SHA-384 update failed");
	if (kiln_async_digest_update(m->async, second, crc, buf, len) < 0)
		return kiln_err(EIO, "SHA-384 update failed");
	return 0;
}

int eif_measure_sync(struct eif_measure *m)
{
	return kiln_async_digest_sync(m->async);
}

/* out = SHA384(zeros || digest) */
static int extend(const uint8_t digest[KILN_SHA384_LEN], uint8_t out[KILN_SHA384_LEN])
{
	uint8_t buf[2 * KILN_SHA384_LEN] = { 0 };
	unsigned int n = 0;

	memcpy(buf + KILN_SHA384_LEN, digest, KILN_SHA384_LEN);
	if (EVP_Digest(buf, sizeof(buf), out, &n, EVP_sha384(), NULL) != 1 ||
	    n != KILN_SHA384_LEN)
		return kiln_err(EIO, "SHA-384 failed");
	return 0;
}

static int final_copy(EVP_MD_CTX *ctx, uint8_t out[KILN_SHA384_LEN])
{
	uint8_t d[KILN_SHA384_LEN];
	unsigned int n = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_MD_CTX_copy_ex(c, ctx) == 1 && EVP_DigestFinal_ex(c, d, &n) == 1 &&
		 n == KILN_SHA384_LEN;

	EVP_MD_CTX_free(c);
	if (!ok)
		return kiln_err(EIO, "SHA-384 finalisation failed");
	return extend(d, out);
}

int eif_measure_final(struct eif_measure *m, struct eif_pcrs *pcrs)
{
	int rc = kiln_async_digest_sync(m->async);

	if (rc == 0)
		rc = final_copy(m->ctx[0], pcrs->pcr0);

	if (rc == 0)
		rc = final_copy(m->ctx[m->forked ? 1 : 0], pcrs->pcr1);
	if (rc == 0)
		rc = final_copy(m->ctx[2], pcrs->pcr2);
	return rc;
}

void eif_measure_free(struct eif_measure *m)
{
	kiln_async_digest_free(m->async);
	m->async = NULL;
	for (int i = 0; i < 3; i++) {
		EVP_MD_CTX_free(m->ctx[i]);
		m->ctx[i] = NULL;
	}
}

int eif_pcr_of(const void *data, size_t len, uint8_t out[KILN_SHA384_LEN])
{
	uint8_t d[KILN_SHA384_LEN];
	unsigned int n = 0;

	if (EVP_Digest(data, len, d, &n, EVP_sha384(), NULL) != 1 || n != KILN_SHA384_LEN)
		return kiln_err(EIO, "SHA-384 failed");
	return extend(d, out);
}

void kiln_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int set_hex(json_t *obj, const char *key, const uint8_t pcr[KILN_SHA384_LEN])
{
	char hex[2 * KILN_SHA384_LEN + 1];

	kiln_hex(pcr, KILN_SHA384_LEN, hex);
	return json_object_set_new(obj, key, json_string(hex));
}

/*
 * nitro-cli prints a BTreeMap with serde_json's pretty printer: keys in
 * byte order (HashAlgorithm, PCR0, PCR1, PCR2, PCR8), two-space indent.
 */
char *eif_measurements_json(const struct eif_pcrs *pcrs)
{
	json_t *root = json_object(), *m = json_object();
	char *s = NULL;
	int bad;

	if (!root || !m) {
		json_decref(root);
		json_decref(m);
		return NULL;
	}
	bad = json_object_set_new(m, "HashAlgorithm", json_string("Sha384 { ... }"));
	bad |= set_hex(m, "PCR0", pcrs->pcr0);
	bad |= set_hex(m, "PCR1", pcrs->pcr1);
	bad |= set_hex(m, "PCR2", pcrs->pcr2);
	if (pcrs->has_pcr8)
		bad |= set_hex(m, "PCR8", pcrs->pcr8);
	bad |= json_object_set_new(root, "Measurements", m);
	if (!bad)
		s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	return s;
}
