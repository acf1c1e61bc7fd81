/* SPDX-License-Identifier: Apache-2.0 */
/* EIF signature section (nitro-cli format): build, parse, verify. */
/*
 * How this works. nitro-cli signs only PCR0. The section is the CBOR
 * serialization (serde, struct -> map with text keys, Vec<u8> -> array of
 * uints) of
 *
 *   [ { "signing_certificate": <PEM file bytes>, "signature": <COSE_Sign1> } ]
 *
 * where COSE_Sign1 is the untagged array
 *   [ h'{1: alg}', {}, payload, r || s ]
 * with payload = CBOR { "register_index": 0, "register_value": <PCR0> } and
 * the ECDSA signature over Sig_structure ["Signature1", protected, h'', payload]
 * hashed with the curve's hash (P-256/SHA-256 ES256, P-384/SHA-384 ES384,
 * P-521/SHA-512 ES512), r and s left-padded to the curve size.
 * Verification rebuilds the expected payload from the image's PCR0 and
 * compares bytes, as nitro-cli does. PCR8 = extend(DER of the certificate).
 *
 * The section comes from the (untrusted) EIF file: it is decoded with the
 * cursor, definite lengths only, nesting bounded.
 */
#include "eif/sign.h"

#include <fcntl.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eif/cbor_out.h"
#include "eif/measure.h"
#include "util/cleanup.h"
#include "util/cursor.h"
#include "util/secure.h"

#define CBOR_MAX_DEPTH 16

struct curve {
	int nid;
	int alg;
	const EVP_MD *(*md)(void);
	size_t n; /* bytes of r and of s */
};

static const struct curve curves[] = {
	{ NID_X9_62_prime256v1, EIF_COSE_ES256, EVP_sha256, 32 },
	{ NID_secp384r1, EIF_COSE_ES384, EVP_sha384, 48 },
	{ NID_secp521r1, EIF_COSE_ES512, EVP_sha512, 66 },
};

/* The parsed first element of a signature section (pointers into it). */
struct pcr_sig {
	uint8_t *cert_pem;
	size_t cert_pem_len;
	uint8_t *cose;
	size_t cose_len;
};

static void pcr_sig_free(struct pcr_sig *s)
{
	free(s->cert_pem);
	free(s->cose);
	memset(s, 0, sizeof(*s));
}

static int key_curve(EVP_PKEY *key, const struct curve **out)
{
	char group[80];
	size_t glen = 0;
	int nid;

	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
		return kiln_err(ENOTSUP, "key is not an EC key (need P-256, P-384 or P-521)");
	if (EVP_PKEY_get_group_name(key, group, sizeof(group), &glen) != 1)
		return kiln_err(ENOTSUP, "EC key has no named curve");
	nid = OBJ_sn2nid(group);
	if (nid == NID_undef)
		nid = EC_curve_nist2nid(group);
	for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
		if (curves[i].nid == nid) {
			*out = &curves[i];
			return 0;
		}
	}
	return kiln_err(ENOTSUP, "EC curve %s not supported (need P-256, P-384 or P-521)", group);
}

/* Read a whole small file (at most EIF_SIG_MAX bytes). */
static int read_small_file(const char *path, uint8_t **data, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ uint8_t *buf = NULL;
	struct stat st;
	size_t got = 0;

	if (fd < 0)
		return kiln_err(errno, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return kiln_err(errno, "cannot stat %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size > EIF_SIG_MAX)
		return kiln_err(EINVAL, "%s: not a regular file of at most %u bytes", path,
				EIF_SIG_MAX);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return kiln_err(ENOMEM, "out of memory reading %s", path);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_err(errno, "cannot read %s: %s", path, strerror(errno));
		if (n == 0)
			return kiln_err(EIO, "%s changed while reading", path);
		got += (size_t)n;
	}
	*data = KILN_STEAL_PTR(buf);
	*len = got;
	return 0;
}

static int pem_to_x509(const uint8_t *pem, size_t len, X509 **cert)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);

	*cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!*cert)
		return kiln_err(EBADMSG, "signing certificate is not a PEM X.509 certificate");
	return 0;
}

static int cert_pcr8(X509 *cert, uint8_t pcr8[KILN_SHA384_LEN])
{
	unsigned char *der = NULL;
	int n = i2d_X509(cert, &der);
	int rc;

	if (n <= 0)
		return kiln_err(EIO, "cannot encode the signing certificate as DER");
	rc = eif_pcr_of(der, (size_t)n, pcr8);
	OPENSSL_free(der);
	return rc;
}

/* CBOR {"register_index": 0, "register_value": pcr0}, serde's encoding. */
static int pcr_payload(const uint8_t pcr0[KILN_SHA384_LEN], struct cbor_out *o)
{
	cbor_out_map(o, 2);
	cbor_out_text(o, "register_index");
	cbor_out_uint(o, 0);
	cbor_out_text(o, "register_value");
	cbor_out_u8_array(o, pcr0, KILN_SHA384_LEN);
	return cbor_out_error(o);
}

/* Sig_structure for COSE_Sign1 (RFC 8152 section 4.4). */
static int sig_structure(const uint8_t *prot, size_t prot_len, const uint8_t *payload,
			 size_t payload_len, struct cbor_out *o)
{
	cbor_out_array(o, 4);
	cbor_out_text(o, "Signature1");
	cbor_out_bytes(o, prot, prot_len);
	cbor_out_bytes(o, "", 0);
	cbor_out_bytes(o, payload, payload_len);
	return cbor_out_error(o);
}

/* ECDSA over msg, returned as fixed-size r || s (2 * cv->n bytes). */
static int ecdsa_sign_raw(EVP_PKEY *key, const struct curve *cv, const uint8_t *msg,
			  size_t msg_len, uint8_t *rs)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char der[160];
	const unsigned char *p = der;
	size_t der_len = sizeof(der);
	ECDSA_SIG *sig = NULL;
	const BIGNUM *r, *s;
	int rc = 0;

	if (!ctx || EVP_DigestSignInit(ctx, NULL, cv->md(), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, der, &der_len, msg, msg_len) != 1) {
		rc = kiln_err(EIO, "ECDSA signing failed");
		goto out;
	}
	sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	if (!sig) {
		rc = kiln_err(EIO, "ECDSA signature not decodable");
		goto out;
	}
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, rs, (int)cv->n) < 0 || BN_bn2binpad(s, rs + cv->n, (int)cv->n) < 0)
		rc = kiln_err(EIO, "ECDSA signature larger than the curve");
out:
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(ctx);
	return rc;
}

static int ecdsa_verify_raw(EVP_PKEY *key, const struct curve *cv, const uint8_t *msg,
			    size_t msg_len, const uint8_t *rs)
{
	EVP_MD_CTX *ctx = NULL;
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(rs, (int)cv->n, NULL), *s = BN_bin2bn(rs + cv->n, (int)cv->n, NULL);
	unsigned char *der = NULL;
	int der_len, rc = 0;

	if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		rc = kiln_err(ENOMEM, "out of memory verifying a signature");
		goto out;
	}
	der_len = i2d_ECDSA_SIG(sig, &der);
	ctx = EVP_MD_CTX_new();
	if (der_len <= 0 || !ctx || EVP_DigestVerifyInit(ctx, NULL, cv->md(), NULL, key) != 1) {
		rc = kiln_err(EIO, "cannot set up ECDSA verification");
		goto out;
	}
	if (EVP_DigestVerify(ctx, der, (size_t)der_len, msg, msg_len) != 1)
		rc = kiln_err(EBADMSG, "EIF signature does not verify with the signing certificate");
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	ECDSA_SIG_free(sig);
	return rc;
}

static int load_key(const char *path, EVP_PKEY **key)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	BIO *bio;
	int rc = read_small_file(path, &buf, &len);

	if (rc < 0)
		return kiln_err_wrap(rc, "signing key");
	bio = BIO_new_mem_buf(buf, (int)len);
	*key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	kiln_free_secret(buf, len);
	if (!*key)
		return kiln_err(EINVAL, "%s: not a PEM private key (or it is encrypted)", path);
	return 0;
}

/* The COSE_Sign1 (untagged) over payload. */
static int cose_sign1(EVP_PKEY *key, const struct curve *cv, const uint8_t *payload,
		      size_t payload_len, struct cbor_out *cose)
{
	struct cbor_out prot = { 0 }, tbs = { 0 };
	uint8_t rs[2 * 66];
	int rc;

	cbor_out_map(&prot, 1);
	cbor_out_uint(&prot, 1);
	cbor_out_int(&prot, cv->alg);
	rc = cbor_out_error(&prot);
	if (rc == 0)
		rc = sig_structure(prot.buf, prot.len, payload, payload_len, &tbs);
	if (rc == 0)
		rc = ecdsa_sign_raw(key, cv, tbs.buf, tbs.len, rs);
	if (rc == 0) {
		cbor_out_array(cose, 4);
		cbor_out_bytes(cose, prot.buf, prot.len);
		cbor_out_map(cose, 0);
		cbor_out_bytes(cose, payload, payload_len);
		cbor_out_bytes(cose, rs, 2 * cv->n);
		rc = cbor_out_error(cose);
	}
	cbor_out_free(&prot);
	cbor_out_free(&tbs);
	return rc;
}

int eif_sig_build(const char *key_pem_path, const char *cert_pem_path,
		  const uint8_t pcr0[KILN_SHA384_LEN], uint8_t **section, size_t *len,
		  uint8_t pcr8[KILN_SHA384_LEN])
{
	_cleanup_free_ uint8_t *pem = NULL;
	struct cbor_out payload = { 0 }, cose = { 0 }, out = { 0 };
	const struct curve *cv;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	size_t pem_len = 0;
	int rc;

	rc = read_small_file(cert_pem_path, &pem, &pem_len);
	if (rc < 0)
		return kiln_err_wrap(rc, "signing certificate");
	rc = pem_to_x509(pem, pem_len, &cert);
	if (rc == 0)
		rc = load_key(key_pem_path, &key);
	if (rc == 0 && X509_check_private_key(cert, key) != 1)
		rc = kiln_err(EINVAL, "signing key %s does not match certificate %s",
			      key_pem_path, cert_pem_path);
	if (rc == 0)
		rc = key_curve(key, &cv);
	if (rc == 0)
		rc = pcr_payload(pcr0, &payload);
	if (rc == 0)
		rc = cose_sign1(key, cv, payload.buf, payload.len, &cose);
	if (rc == 0) {
		cbor_out_array(&out, 1);
		cbor_out_map(&out, 2);
		cbor_out_text(&out, "signing_certificate");
		cbor_out_u8_array(&out, pem, pem_len);
		cbor_out_text(&out, "signature");
		cbor_out_u8_array(&out, cose.buf, cose.len);
		rc = cbor_out_error(&out);
	}
	if (rc == 0)
		rc = cert_pcr8(cert, pcr8);
	if (rc == 0)
		*section = cbor_out_steal(&out, len);
	cbor_out_free(&payload);
	cbor_out_free(&cose);
	cbor_out_free(&out);
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

/* ---- decoding (untrusted bytes) ---- */

static int cb_head(struct kiln_cursor *c, uint8_t *major, uint64_t *arg)
{
	uint8_t ib, ai, b8;
	uint16_t b16;
	uint32_t b32;
	int rc;

	rc = kiln_cursor_u8(c, &ib);
	if (rc < 0)
		return rc;
	*major = ib >> 5;
	ai = ib & 31;
	switch (ai) {
	case 24:
		rc = kiln_cursor_u8(c, &b8);
		*arg = b8;
		return rc;
	case 25:
		rc = kiln_cursor_be16(c, &b16);
		*arg = b16;
		return rc;
	case 26:
		rc = kiln_cursor_be32(c, &b32);
		*arg = b32;
		return rc;
	case 27:
		return kiln_cursor_be64(c, arg);
	case 28:
	case 29:
	case 30:
		return kiln_err(EBADMSG, "malformed CBOR head 0x%02x", ib);
	case 31:
		return kiln_err(EBADMSG, "indefinite-length CBOR not supported here");
	default:
		*arg = ai;
		return 0;
	}
}

/* Skip one well-formed data item. */
static int cb_skip(struct kiln_cursor *c, int depth)
{
	uint8_t major;
	uint64_t arg, items;
	int rc;

	if (depth > CBOR_MAX_DEPTH)
		return kiln_err(EBADMSG, "CBOR nested too deeply");
	rc = cb_head(c, &major, &arg);
	if (rc < 0)
		return rc;
	switch (major) {
	case 2:
	case 3:
		if (arg > kiln_cursor_left(c))
			return kiln_err(EBADMSG, "CBOR string longer than its input");
		return kiln_cursor_skip(c, (size_t)arg);
	case 4:
	case 5:
		if (arg > kiln_cursor_left(c))
			return kiln_err(EBADMSG, "CBOR container longer than its input");
		items = major == 5 ? 2 * arg : arg;
		for (uint64_t i = 0; i < items; i++) {
			rc = cb_skip(c, depth + 1);
			if (rc < 0)
				return rc;
		}
		return 0;
	case 6:
		return cb_skip(c, depth + 1);
	default: /* 0, 1, 7: the head was the whole item */
		return 0;
	}
}

/* A byte string field: a CBOR array of uints < 256 (serde) or a bstr. */
static int cb_byte_field(struct kiln_cursor *c, uint8_t **out, size_t *len)
{
	const uint8_t *p;
	uint8_t major, *buf;
	uint64_t n, v = 0;
	int rc;

	rc = cb_head(c, &major, &n);
	if (rc < 0)
		return rc;
	if ((major != 2 && major != 4) || n > kiln_cursor_left(c) || n > EIF_SIG_MAX)
		return kiln_err(EBADMSG, "expected a byte string in the signature section");
	buf = malloc(n ? (size_t)n : 1);
	if (!buf)
		return kiln_err(ENOMEM, "out of memory parsing the signature section");
	if (major == 2) {
		rc = kiln_cursor_bytes(c, (size_t)n, &p);
		if (rc == 0 && n)
			memcpy(buf, p, (size_t)n);
	}
	for (uint64_t i = 0; major == 4 && i < n && rc == 0; i++) {
		uint8_t em;

		rc = cb_head(c, &em, &v);
		if (rc == 0 && (em != 0 || v > 255))
			rc = kiln_err(EBADMSG, "byte array element is not in 0..255");
		buf[i] = (uint8_t)v;
	}
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = (size_t)n;
	return 0;
}

static int cb_text(struct kiln_cursor *c, const uint8_t **p, size_t *n)
{
	uint8_t major;
	uint64_t len;
	int rc = cb_head(c, &major, &len);

	if (rc < 0)
		return rc;
	if (major != 3 || len > kiln_cursor_left(c))
		return kiln_err(EBADMSG, "expected a text key in the signature section");
	*n = (size_t)len;
	return kiln_cursor_bytes(c, *n, p);
}

static bool key_is(const uint8_t *p, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(p, want, n) == 0;
}

/* One PcrSignature map; unknown keys are skipped as serde does. */
static int parse_pcr_sig(struct kiln_cursor *c, struct pcr_sig *s)
{
	const uint8_t *k = NULL;
	uint8_t major;
	uint64_t n;
	size_t klen = 0;
	int rc = cb_head(c, &major, &n);

	if (rc < 0)
		return rc;
	if (major != 5 || n > kiln_cursor_left(c))
		return kiln_err(EBADMSG, "signature entry is not a map");
	for (uint64_t i = 0; i < n && rc == 0; i++) {
		rc = cb_text(c, &k, &klen);
		if (rc < 0)
			break;
		if (key_is(k, klen, "signing_certificate") && !s->cert_pem)
			rc = cb_byte_field(c, &s->cert_pem, &s->cert_pem_len);
		else if (key_is(k, klen, "signature") && !s->cose)
			rc = cb_byte_field(c, &s->cose, &s->cose_len);
		else if (key_is(k, klen, "signing_certificate") || key_is(k, klen, "signature"))
			rc = kiln_err(EBADMSG, "duplicate key in the signature section");
		else
			rc = cb_skip(c, 1);
	}
	if (rc == 0 && (!s->cert_pem || !s->cose))
		rc = kiln_err(EBADMSG, "signature entry lacks signing_certificate or signature");
	return rc;
}

/* The first PcrSignature of a section (the one for PCR0). */
static int parse_section(const uint8_t *sec, size_t len, struct pcr_sig *s)
{
	struct kiln_cursor c = kiln_cursor_make(sec, len);
	uint8_t major;
	uint64_t n;
	int rc = cb_head(&c, &major, &n);

	memset(s, 0, sizeof(*s));
	if (rc == 0 && (major != 4 || n == 0 || n > kiln_cursor_left(&c)))
		rc = kiln_err(EBADMSG, "signature section is not a non-empty CBOR array");
	if (rc == 0)
		rc = parse_pcr_sig(&c, s);
	for (uint64_t i = 1; rc == 0 && i < n; i++)
		rc = cb_skip(&c, 1);
	if (rc == 0 && kiln_cursor_left(&c))
		rc = kiln_err(EBADMSG, "%zu trailing bytes after the signature section",
			      kiln_cursor_left(&c));
	if (rc < 0) {
		pcr_sig_free(s);
		return kiln_err_wrap(rc, "signature section");
	}
	return 0;
}

int eif_sig_pcr8(const uint8_t *section, size_t len, uint8_t pcr8[KILN_SHA384_LEN])
{
	struct pcr_sig s;
	X509 *cert = NULL;
	int rc = parse_section(section, len, &s);

	if (rc == 0)
		rc = pem_to_x509(s.cert_pem, s.cert_pem_len, &cert);
	if (rc == 0)
		rc = cert_pcr8(cert, pcr8);
	X509_free(cert);
	pcr_sig_free(&s);
	return rc;
}

struct cose {
	const uint8_t *prot, *payload, *sig;
	size_t prot_len, payload_len, sig_len;
	int alg;
};

static int cb_bstr(struct kiln_cursor *c, const uint8_t **p, size_t *n)
{
	uint8_t major;
	uint64_t len;
	int rc = cb_head(c, &major, &len);

	if (rc < 0)
		return rc;
	if (major != 2 || len > kiln_cursor_left(c))
		return kiln_err(EBADMSG, "expected a byte string in COSE_Sign1");
	*n = (size_t)len;
	return kiln_cursor_bytes(c, *n, p);
}

/* The protected header map: the algorithm (label 1) is required. */
static int parse_protected(struct cose *cs)
{
	struct kiln_cursor c = kiln_cursor_make(cs->prot, cs->prot_len);
	uint8_t major;
	uint64_t n, arg;
	bool have_alg = false;
	int rc = cb_head(&c, &major, &n);

	if (rc == 0 && (major != 5 || n > kiln_cursor_left(&c)))
		rc = kiln_err(EBADMSG, "COSE protected header is not a map");
	for (uint64_t i = 0; rc == 0 && i < n; i++) {
		size_t at = c.pos;

		rc = cb_head(&c, &major, &arg);
		if (rc == 0 && major == 0 && arg == 1 && !have_alg) {
			rc = cb_head(&c, &major, &arg);
			if (rc == 0 && (major != 1 || arg > 64))
				rc = kiln_err(EBADMSG, "unsupported COSE algorithm");
			cs->alg = -1 - (int)arg;
			have_alg = true;
			continue;
		}
		c.pos = at;
		if (rc == 0)
			rc = cb_skip(&c, 1);
		if (rc == 0)
			rc = cb_skip(&c, 1);
	}
	if (rc == 0 && (!have_alg || kiln_cursor_left(&c)))
		rc = kiln_err(EBADMSG, "COSE protected header lacks the algorithm");
	return rc;
}

/* Skip the unprotected header, which must be a map. */
static int skip_map(struct kiln_cursor *c)
{
	size_t at = c->pos;
	uint8_t major;
	uint64_t arg;
	int rc = cb_head(c, &major, &arg);

	if (rc == 0 && major != 5)
		rc = kiln_err(EBADMSG, "COSE unprotected header is not a map");
	if (rc < 0)
		return rc;
	c->pos = at;
	return cb_skip(c, 1);
}

static int parse_cose(const uint8_t *buf, size_t len, struct cose *cs)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len);
	uint8_t major;
	uint64_t arg;
	int rc = cb_head(&c, &major, &arg);

	if (rc == 0 && major == 6 && arg == 18) /* optional COSE_Sign1 tag */
		rc = cb_head(&c, &major, &arg);
	if (rc == 0 && (major != 4 || arg != 4))
		rc = kiln_err(EBADMSG, "not a COSE_Sign1 array");
	if (rc == 0)
		rc = cb_bstr(&c, &cs->prot, &cs->prot_len);
	if (rc == 0)
		rc = skip_map(&c);
	if (rc == 0)
		rc = cb_bstr(&c, &cs->payload, &cs->payload_len);
	if (rc == 0)
		rc = cb_bstr(&c, &cs->sig, &cs->sig_len);
	if (rc == 0 && kiln_cursor_left(&c))
		rc = kiln_err(EBADMSG, "trailing bytes after COSE_Sign1");
	if (rc == 0)
		rc = parse_protected(cs);
	return rc;
}

/* Check the COSE_Sign1 signature with cert's key and its payload against pcr0. */
static int verify_cose(const struct pcr_sig *s, X509 *cert, const uint8_t pcr0[KILN_SHA384_LEN])
{
	struct cbor_out tbs = { 0 }, want = { 0 };
	EVP_PKEY *key = X509_get0_pubkey(cert);
	const struct curve *cv;
	struct cose cs = { 0 };
	int rc;

	if (!key)
		return kiln_err(EBADMSG, "signing certificate has no usable public key");
	rc = key_curve(key, &cv);
	if (rc < 0)
		return kiln_err_wrap(rc, "signing certificate");
	rc = parse_cose(s->cose, s->cose_len, &cs);
	if (rc == 0 && cs.alg != cv->alg)
		rc = kiln_err(EBADMSG, "COSE algorithm %d does not match the certificate's curve",
			      cs.alg);
	if (rc == 0 && cs.sig_len != 2 * cv->n)
		rc = kiln_err(EBADMSG, "COSE signature is %zu bytes, expected %zu", cs.sig_len,
			      2 * cv->n);
	if (rc == 0)
		rc = sig_structure(cs.prot, cs.prot_len, cs.payload, cs.payload_len, &tbs);
	if (rc == 0)
		rc = ecdsa_verify_raw(key, cv, tbs.buf, tbs.len, cs.sig);
	if (rc == 0)
		rc = pcr_payload(pcr0, &want);
	if (rc == 0 && (want.len != cs.payload_len || memcmp(want.buf, cs.payload, want.len)))
		rc = kiln_err(EBADMSG, "the signature is for a different PCR0 than this image's");
	cbor_out_free(&tbs);
	cbor_out_free(&want);
	return rc;
}

int eif_sig_verify(const uint8_t *section, size_t len, const uint8_t pcr0[KILN_SHA384_LEN],
		   X509 **cert)
{
	struct pcr_sig s;
	X509 *x = NULL;
	int rc = parse_section(section, len, &s);

	if (rc == 0)
		rc = pem_to_x509(s.cert_pem, s.cert_pem_len, &x);
	if (rc == 0)
		rc = verify_cose(&s, x, pcr0);
	if (rc == 0 && cert)
		*cert = KILN_STEAL_PTR(x);
	X509_free(x);
	pcr_sig_free(&s);
	return rc;
}

int eif_verify_signature(int fd, const struct eif_info *info, const struct eif_pcrs *pcrs,
			 X509 **cert)
{
	_cleanup_free_ uint8_t *data = NULL;

	for (unsigned i = 0; i < info->num_sections; i++) {
		int rc;

		if (info->sections[i].type != EIF_SECTION_SIGNATURE)
			continue;
		rc = eif_read_section(fd, info, i, &data, EIF_SIG_MAX);
		if (rc < 0)
			return rc;
		return eif_sig_verify(data, (size_t)info->sections[i].size, pcrs->pcr0, cert);
	}
	return kiln_err(ENOENT, "EIF is not signed");
}
