/* SPDX-License-Identifier: Apache-2.0 */
/* dev-kms Recipient: verify the attestation document, build CiphertextForRecipient (CMS). */
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/attest.h"
#include "devkms/devkms.h"
#include "util/secure.h"

/*
 * How this works: the document must verify (COSE signature, certificate
 * chain valid now) against one of the trusted roots (each --root, then the
 * AWS Nitro Enclaves root G1), be at most five minutes old, and carry a
 * public_key (an RSA SubjectPublicKeyInfo). The answer is what KMS sends:
 * CMS ContentInfo/EnvelopedData with one KeyTransRecipientInfo (version 2,
 * rid = subjectKeyIdentifier, RSAES-OAEP with SHA-256 and MGF1-SHA-256) and
 * AES-256-CBC content encryption, written with indefinite lengths (BER) and
 * explicit NULL hash parameters, byte for byte in KMS's layout. OpenSSL's CMS API wants a certificate for a recipient, so
 * the public key is wrapped in a placeholder certificate (signed by a
 * throwaway key) whose only use is to carry the key and its identifier.
 */

#define DOC_MAX_AGE_MS (5 * 60 * 1000)

/* Unix ms of an ASN1_TIME, or -1. */
static int64_t asn1_ms(const ASN1_TIME *t)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	return (int64_t)timegm(&tm) * 1000;
}

/* The earliest notAfter of the leaf and its bundle: how long a verification holds. */
static int64_t chain_until_ms(const struct kiln_attest_doc *doc)
{
	int64_t until = INT64_MAX;

	for (size_t i = 0; i <= doc->cabundle_len; i++) {
		const struct kiln_attest_blob *b = i < doc->cabundle_len ? &doc->cabundle[i] : &doc->certificate;
		const unsigned char *p = b->data;
		X509 *x = p ? d2i_X509(NULL, &p, (long)b->len) : NULL;
		int64_t t = x ? asn1_ms(X509_get0_notAfter(x)) : -1;
		X509_free(x);
		if (t < 0)
			return 0; /* unreadable: never cached */
		if (t < until)
			until = t;
	}
	return until;
}

/* The entry for md, valid at now_ms or pending, or -1; caller holds doc_lock. */
static int seen_find(struct kiln_devkms *d, const uint8_t md[48], int64_t now_ms)
{
	for (int i = 0; i < KILN_DEVKMS_DOC_CACHE; i++) {
		struct kiln_devkms_doc_seen *e = &d->doc_seen[i];
		if ((e->until_ms == KILN_DEVKMS_DOC_PENDING || (e->until_ms > 0 && now_ms < e->until_ms)) &&
		    !memcmp(e->sha384, md, 48))
			return i;
	}
	return -1;
}

/* A pending entry for md in the least recently used slot that is not pending, or -1. */
static int seen_claim(struct kiln_devkms *d, const uint8_t md[48])
{
	int victim = -1;

	for (int i = 0; i < KILN_DEVKMS_DOC_CACHE; i++)
		if (d->doc_seen[i].until_ms != KILN_DEVKMS_DOC_PENDING &&
		    (victim < 0 || d->doc_seen[i].used < d->doc_seen[victim].used))
			victim = i;
	if (victim >= 0) {
		memcpy(d->doc_seen[victim].sha384, md, 48);
		d->doc_seen[victim].until_ms = KILN_DEVKMS_DOC_PENDING;
		d->doc_seen[victim].used = ++d->doc_tick;
	}
	return victim;
}

/*
 * Wait while another request verifies the same bytes (a boot's first
 * Decrypts arrive together), then: 0 on a hit, or claim a slot (-1 when
 * none is free) and return 1: the caller verifies. Caller holds doc_lock.
 */
static int seen_hit_or_claim(struct kiln_devkms *d, const uint8_t md[48], int64_t now_ms, int *slot)
{
	for (;;) {
		int i = seen_find(d, md, now_ms);
		if (i < 0)
			break;
		if (d->doc_seen[i].until_ms != KILN_DEVKMS_DOC_PENDING) {
			d->doc_seen[i].used = ++d->doc_tick;
			return 0;
		}
		pthread_cond_wait(&d->doc_done, &d->doc_lock); /* verification is CPU only: bounded */
	}
	*slot = seen_claim(d, md);
	d->doc_verifications++;
	return 1;
}

/*
 * The COSE signature and certificate chain, or a cache hit for the same
 * bytes verified before (a boot sends one document with each of its
 * Decrypts). Expired entries never match, so the chain's validity at now
 * is still what decides.
 */
static int verify_chain(struct kiln_devkms *d, const uint8_t *buf, size_t len,
			const struct kiln_attest_doc *doc, int64_t now_ms)
{
	uint8_t md[48];
	int rc = -EINVAL, slot = -1, todo = 1;

	if (EVP_Digest(buf, len, md, NULL, EVP_sha384(), NULL) == 1) {
		pthread_mutex_lock(&d->doc_lock);
		todo = seen_hit_or_claim(d, md, now_ms, &slot);
		pthread_mutex_unlock(&d->doc_lock);
	} else {
		pthread_mutex_lock(&d->doc_lock);
		d->doc_verifications++;
		pthread_mutex_unlock(&d->doc_lock);
	}
	if (!todo)
		return 0;
	for (size_t i = 0; i < d->nroots && rc < 0; i++)
		rc = kiln_attest_verify(d->roots[i], doc, now_ms, NULL);
	char msg[512];
	if (rc < 0)
		snprintf(msg, sizeof(msg), "%s", kiln_errmsg());
	int64_t until = rc == 0 ? chain_until_ms(doc) : 0;
	if (slot >= 0) {
		pthread_mutex_lock(&d->doc_lock);
		d->doc_seen[slot].until_ms = until > now_ms ? until : 0; /* refused: free again */
		pthread_cond_broadcast(&d->doc_done);
		pthread_mutex_unlock(&d->doc_lock);
	}
	return rc < 0 ? kiln_err(EINVAL, "Invalid attestation document: %s", msg) : 0;
}

int kiln_devkms_verify_document(struct kiln_devkms *d, const uint8_t *buf, size_t len,
				struct kiln_attest_doc **out)
{
	struct kiln_attest_doc *doc = NULL;
	int64_t now_ms = kiln_devkms_now(d) * 1000;
	int rc = kiln_attest_parse(buf, len, &doc);
	if (rc < 0)
		return kiln_err(EINVAL, "Invalid attestation document: %s", kiln_errmsg());
	rc = verify_chain(d, buf, len, doc, now_ms);
	if (rc == 0 && kiln_attest_check_age(doc, now_ms, DOC_MAX_AGE_MS) < 0)
		rc = kiln_err(EINVAL, "Invalid attestation document: %s", kiln_errmsg());
	if (rc == 0 && !doc->public_key.data)
		rc = kiln_err(EINVAL, "The attestation document carries no public key");
	if (rc < 0) {
		kiln_attest_doc_free(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

/* A placeholder certificate carrying pkey and SKID = SHA-256 of the key's DER. */
static X509 *holder_cert(EVP_PKEY *pkey, const uint8_t *spki, size_t spki_len)
{
	uint8_t md[32];
	ASN1_OCTET_STRING *skid = ASN1_OCTET_STRING_new();
	X509 *x = X509_new();
	/* OpenSSL hashes the whole certificate when it caches extensions, so the
	 * placeholder must be complete: signed by a throwaway key. */
	EVP_PKEY *signer = EVP_EC_gen("P-256");
	X509_NAME *name = X509_get_subject_name(x);

	if (!x || !skid || !signer || !EVP_Digest(spki, spki_len, md, NULL, EVP_sha256(), NULL) ||
	    !ASN1_OCTET_STRING_set(skid, md, sizeof(md)) || !X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"recipient", -1, -1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 60) || !X509_set_pubkey(x, pkey) ||
	    !X509_add1_ext_i2d(x, NID_subject_key_identifier, skid, 0, X509V3_ADD_DEFAULT) ||
	    !X509_sign(x, signer, EVP_sha256())) {
		X509_free(x);
		x = NULL;
	}
	EVP_PKEY_free(signer);
	ASN1_OCTET_STRING_free(skid);
	return x;
}

/* RSAES-OAEP, SHA-256 digest and MGF1-SHA-256, for the recipient. */
static int set_oaep(CMS_RecipientInfo *ri)
{
	EVP_PKEY_CTX *pc = CMS_RecipientInfo_get0_pkey_ctx(ri);

	return pc && EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) > 0 &&
			       EVP_PKEY_CTX_set_rsa_oaep_md(pc, EVP_sha256()) > 0 &&
			       EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()) > 0
		       ? 0
		       : -EIO;
}

/*
 * KMS writes the OAEP parameters' SHA-256 AlgorithmIdentifiers with an
 * explicit NULL (RFC 4055 style); OpenSSL leaves them out. Both parse, but
 * dev-kms answers byte for byte in KMS's layout (tests/fixtures/kms), so
 * the keyEncryptionAlgorithm is rewritten and the two enclosing definite
 * lengths (the RecipientInfos SET and the KeyTransRecipientInfo) grow by 4.
 */
static const uint8_t oaep_openssl[] = {
	0x30, 0x38, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07, 0x30, 0x2b,
	0xa0, 0x0d, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
	0xa1, 0x1a, 0x30, 0x18, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08,
	0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
};
static const uint8_t oaep_kms[] = {
	0x30, 0x3c, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07, 0x30, 0x2f,
	0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
	0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
	0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
	0x05, 0x00,
};
/* Offsets in OpenSSL's output: SET header at 20, KTRI header at 24, then
 * version (3 bytes) and the [0] 32-byte SubjectKeyIdentifier (34 bytes). */
#define SET_AT 20
#define KTRI_AT 24
#define ALG_AT (KTRI_AT + 4 + 3 + 34)

static int kms_layout(uint8_t **buf, size_t *len)
{
	uint8_t *b = *buf;
	size_t n = *len, grow = sizeof(oaep_kms) - sizeof(oaep_openssl);

	if (n < ALG_AT + sizeof(oaep_openssl) || b[SET_AT] != 0x31 || b[SET_AT + 1] != 0x82 ||
	    b[KTRI_AT] != 0x30 || b[KTRI_AT + 1] != 0x82 ||
	    memcmp(b + ALG_AT, oaep_openssl, sizeof(oaep_openssl)))
		return -EPROTO; /* not the layout this was written for: refuse, never guess */
	unsigned set_len = (unsigned)b[SET_AT + 2] << 8 | b[SET_AT + 3];
	unsigned ktri_len = (unsigned)b[KTRI_AT + 2] << 8 | b[KTRI_AT + 3];
	if (set_len != ktri_len + 4 || ktri_len + grow > 0xffff)
		return -EPROTO;
	uint8_t *o = malloc(n + grow);
	if (!o)
		return -ENOMEM;
	memcpy(o, b, ALG_AT);
	memcpy(o + ALG_AT, oaep_kms, sizeof(oaep_kms));
	memcpy(o + ALG_AT + sizeof(oaep_kms), b + ALG_AT + sizeof(oaep_openssl),
	       n - ALG_AT - sizeof(oaep_openssl));
	o[SET_AT + 2] = (uint8_t)((set_len + grow) >> 8);
	o[SET_AT + 3] = (uint8_t)(set_len + grow);
	o[KTRI_AT + 2] = (uint8_t)((ktri_len + grow) >> 8);
	o[KTRI_AT + 3] = (uint8_t)(ktri_len + grow);
	free(b);
	*buf = o;
	*len = n + grow;
	return 0;
}

static int build_cms(X509 *holder, const uint8_t *pt, size_t pt_len, uint8_t **out,
		     size_t *out_len)
{
	const unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_KEY_PARAM | CMS_USE_KEYID | CMS_STREAM;
	BIO *in = BIO_new_mem_buf(pt, (int)pt_len), *mem = BIO_new(BIO_s_mem());
	CMS_ContentInfo *cms = CMS_encrypt(NULL, NULL, EVP_aes_256_cbc(), flags);
	CMS_RecipientInfo *ri = cms ? CMS_add1_recipient_cert(cms, holder, flags) : NULL;
	int rc = -EIO;

	if (in && mem && ri && set_oaep(ri) == 0 && i2d_CMS_bio_stream(mem, cms, in, flags) == 1) {
		char *p;
		long n = BIO_get_mem_data(mem, &p);
		*out = n > 0 ? malloc((size_t)n) : NULL;
		if (*out) {
			memcpy(*out, p, (size_t)n);
			*out_len = (size_t)n;
			rc = 0;
		}
	}
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(mem);
	return rc;
}

int kiln_devkms_cms_for_recipient(const uint8_t *spki_der, size_t spki_len, const uint8_t *pt,
				  size_t pt_len, uint8_t **out, size_t *out_len)
{
	const uint8_t *p = spki_der;
	EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)spki_len);
	X509 *holder = NULL;
	int rc;

	if (!pkey || p != spki_der + spki_len || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA ||
	    EVP_PKEY_get_bits(pkey) < 2048)
		rc = kiln_err(EINVAL, "The attestation document's public key is not an RSA key of at least 2048 bits");
	else if (!(holder = holder_cert(pkey, spki_der, spki_len)))
		rc = kiln_err(EIO, "building the recipient failed");
	else if ((rc = build_cms(holder, pt, pt_len, out, out_len)) < 0)
		rc = kiln_err(EIO, "building CiphertextForRecipient failed");
	else if ((rc = kms_layout(out, out_len)) < 0) {
		free(*out);
		rc = kiln_err(EIO, "CiphertextForRecipient: unexpected CMS layout from OpenSSL");
	}
	X509_free(holder);
	EVP_PKEY_free(pkey);
	return rc;
}
