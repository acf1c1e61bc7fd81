/* SPDX-License-Identifier: Apache-2.0 */
/* BER CMS EnvelopedData as KMS sends it: a strict bounds-checked reader, OAEP + AES-CBC. */
#include "aws/cms.h"

#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "aws/buf.h"
#include "util/cursor.h"
#include "util/secure.h"

/* Nesting of constructed strings and skipped elements; KMS uses 1. */
#define MAX_DEPTH 8

enum {
	T_INTEGER = 0x02,
	T_OCTETS = 0x04,
	T_NULL = 0x05,
	T_OID = 0x06,
	T_SEQ = 0x30,
	T_SET = 0x31,
	T_CONS = 0x20,
	T_CTX0 = 0x80,
	T_CTX1 = 0x81,
	T_CTX2 = 0x82,
};
#define CTX_CONS(n) (0xa0 | (n))

static const uint8_t OID_ENVELOPED[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03 };
static const uint8_t OID_DATA[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01 };
static const uint8_t OID_OAEP[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07 };
static const uint8_t OID_MGF1[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08 };
static const uint8_t OID_SHA256[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 };
static const uint8_t OID_AES256CBC[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a };

/* One element being read: its contents, and whether they end at an EOC. */
struct ber {
	struct kiln_cursor in;
	uint8_t tag;
	bool indef;
};

static int bad(const char *what, const struct kiln_cursor *c)
{
	return kiln_err(EBADMSG, "CMS: %s at offset %zu", what, c->pos);
}

static bool at_eoc(const struct kiln_cursor *c)
{
	return kiln_cursor_left(c) >= 2 && c->buf[c->pos] == 0 && c->buf[c->pos + 1] == 0;
}

/* Read an identifier and length; only single-byte tags exist in CMS here. */
static int header(struct kiln_cursor *c, uint8_t *tag, bool *indef, size_t *len)
{
	uint8_t t, l;
	if (kiln_cursor_u8(c, &t) < 0 || kiln_cursor_u8(c, &l) < 0)
		return bad("truncated element header", c);
	if ((t & 0x1f) == 0x1f)
		return bad("multi-byte tag", c);
	*tag = t;
	*indef = false;
	if (l < 0x80) {
		*len = l;
	} else if (l == 0x80) {
		if (!(t & T_CONS))
			return bad("indefinite length on a primitive element", c);
		*indef = true;
		*len = 0;
	} else {
		size_t nb = l & 0x7f, v = 0;
		if (nb > 4)
			return bad("length of more than 4 bytes", c);
		for (size_t i = 0; i < nb; i++) {
			uint8_t b;
			if (kiln_cursor_u8(c, &b) < 0)
				return bad("truncated length", c);
			v = (v << 8) | b;
		}
		*len = v;
	}
	if (!*indef && *len > kiln_cursor_left(c))
		return bad("length past the end of its container", c);
	return 0;
}

/* Enter the next element, which must have tag want (0: any). */
static int enter(struct kiln_cursor *c, uint8_t want, struct ber *e, const char *what)
{
	size_t len = 0;
	size_t start = c->pos;
	int rc = header(c, &e->tag, &e->indef, &len);
	if (rc < 0)
		return kiln_err_wrap(rc, "%s", what);
	if (want && e->tag != want) {
		c->pos = start;
		return kiln_err(EBADMSG, "CMS: %s: tag 0x%02x where 0x%02x expected at offset %zu",
				what, e->tag, want, start);
	}
	if (e->indef) {
		e->in = kiln_cursor_make(c->buf + c->pos, kiln_cursor_left(c));
	} else {
		e->in = kiln_cursor_make(c->buf + c->pos, len);
		c->pos += len;
	}
	return 0;
}

/* Finish an element: definite ones must be used up, indefinite ones end at EOC. */
static int leave(struct kiln_cursor *c, const struct ber *e, const char *what)
{
	if (!e->indef) {
		if (kiln_cursor_left(&e->in))
			return kiln_err(EBADMSG, "CMS: %s: %zu unexpected trailing bytes", what,
					kiln_cursor_left(&e->in));
		return 0;
	}
	if (!at_eoc(&e->in))
		return kiln_err(EBADMSG, "CMS: %s: missing end-of-contents", what);
	c->pos += e->in.pos + 2;
	return 0;
}

/* Are there more children in e? */
static bool more(const struct ber *e)
{
	return e->indef ? !at_eoc(&e->in) && kiln_cursor_left(&e->in) > 0
			: kiln_cursor_left(&e->in) > 0;
}

static int skip(struct kiln_cursor *c, int depth)
{
	struct ber e;
	if (depth > MAX_DEPTH)
		return bad("nesting too deep", c);
	int rc = enter(c, 0, &e, "element");
	while (rc == 0 && e.indef && more(&e))
		rc = skip(&e.in, depth + 1);
	return rc < 0 ? rc : leave(c, &e, "element");
}

/* A primitive element of tag want, whole: its bytes. */
static int prim(struct kiln_cursor *c, uint8_t want, const uint8_t **p, size_t *n,
		const char *what)
{
	struct ber e;
	int rc = enter(c, want, &e, what);
	if (rc < 0)
		return rc;
	*p = e.in.buf;
	*n = e.in.len;
	return 0;
}

static int expect_oid(struct kiln_cursor *c, const uint8_t *oid, size_t len, const char *what)
{
	const uint8_t *p = NULL;
	size_t n = 0;
	int rc = prim(c, T_OID, &p, &n, what);
	if (rc == 0 && (n != len || memcmp(p, oid, len) != 0))
		rc = kiln_err(EBADMSG, "CMS: unsupported %s", what);
	return rc;
}

static int small_int(struct kiln_cursor *c, long lo, long hi, const char *what)
{
	const uint8_t *p = NULL;
	size_t n = 0;
	int rc = prim(c, T_INTEGER, &p, &n, what);
	if (rc == 0 && (n != 1 || p[0] < lo || p[0] > hi))
		rc = kiln_err(EBADMSG, "CMS: unsupported %s", what);
	return rc;
}

/*
 * An OCTET STRING with tag prim_tag, or its constructed form (cons_tag)
 * holding OCTET STRING chunks (themselves possibly constructed).
 */
static int octets(struct kiln_cursor *c, uint8_t prim_tag, uint8_t cons_tag,
		  struct aws_buf *out, int depth, const char *what)
{
	struct ber e;
	if (depth > MAX_DEPTH)
		return bad("constructed string nested too deep", c);
	int rc = enter(c, 0, &e, what);
	if (rc < 0)
		return rc;
	if (e.tag == prim_tag) {
		aws_buf_add(out, e.in.buf, e.in.len);
		if (out->err || out->len > AWS_CMS_MAX)
			return kiln_err(EFBIG, "CMS: %s too large", what);
		return 0;
	}
	if (e.tag != cons_tag)
		return kiln_err(EBADMSG, "CMS: %s: tag 0x%02x is not an OCTET STRING", what,
				e.tag);
	while (rc == 0 && more(&e))
		rc = octets(&e.in, T_OCTETS, T_OCTETS | T_CONS, out, depth + 1, what);
	return rc < 0 ? rc : leave(c, &e, what);
}

/* AlgorithmIdentifier { sha256 [, NULL] }. */
static int sha256_alg(struct kiln_cursor *c, const char *what)
{
	struct ber e;
	const uint8_t *p = NULL;
	size_t n = 0;
	int rc = enter(c, T_SEQ, &e, what);
	if (rc == 0)
		rc = expect_oid(&e.in, OID_SHA256, sizeof(OID_SHA256), what);
	if (rc == 0 && more(&e)) {
		rc = prim(&e.in, T_NULL, &p, &n, what);
		if (rc == 0 && n)
			rc = kiln_err(EBADMSG, "CMS: %s: non-empty NULL", what);
	}
	return rc < 0 ? rc : leave(c, &e, what);
}

/* RSAES-OAEP-params: hashFunc [0] sha256, maskGenFunc [1] mgf1(sha256); no pSource. */
static int oaep_params(struct kiln_cursor *c)
{
	struct ber params, h, m, ms;
	int rc = enter(c, T_SEQ, &params, "RSAES-OAEP parameters");
	if (rc < 0)
		return rc;
	rc = enter(&params.in, CTX_CONS(0), &h, "OAEP hash (SHA-1 default unsupported)");
	if (rc == 0)
		rc = sha256_alg(&h.in, "OAEP hash");
	if (rc == 0)
		rc = leave(&params.in, &h, "OAEP hash");
	if (rc == 0)
		rc = enter(&params.in, CTX_CONS(1), &m, "OAEP mask generation function");
	if (rc == 0)
		rc = enter(&m.in, T_SEQ, &ms, "OAEP mask generation function");
	if (rc == 0)
		rc = expect_oid(&ms.in, OID_MGF1, sizeof(OID_MGF1), "OAEP mask generation");
	if (rc == 0)
		rc = sha256_alg(&ms.in, "MGF1 hash");
	if (rc == 0)
		rc = leave(&m.in, &ms, "OAEP mask generation function");
	if (rc == 0)
		rc = leave(&params.in, &m, "OAEP mask generation function");
	if (rc == 0 && more(&params))
		rc = kiln_err(EBADMSG, "CMS: OAEP pSource (label) unsupported");
	return rc < 0 ? rc : leave(c, &params, "RSAES-OAEP parameters");
}

static int ktri(struct kiln_cursor *c, struct aws_cms_env *env)
{
	struct ber k, alg;
	const uint8_t *p = NULL;
	size_t n = 0;
	int rc = enter(c, T_SEQ, &k, "KeyTransRecipientInfo (only key transport is supported)");
	if (rc == 0)
		rc = small_int(&k.in, 0, 2, "KeyTransRecipientInfo version");
	if (rc == 0 && kiln_cursor_left(&k.in) && k.in.buf[k.in.pos] == T_CTX0) {
		rc = prim(&k.in, T_CTX0, &p, &n, "recipient subjectKeyIdentifier");
		env->ski = p;
		env->ski_len = n;
	} else if (rc == 0) {
		if (!kiln_cursor_left(&k.in) || k.in.buf[k.in.pos] != T_SEQ)
			return bad("recipient identifier", &k.in);
		rc = skip(&k.in, 0);
	}
	if (rc == 0)
		rc = enter(&k.in, T_SEQ, &alg, "key encryption algorithm");
	if (rc == 0)
		rc = expect_oid(&alg.in, OID_OAEP, sizeof(OID_OAEP),
				"key encryption algorithm (RSAES-OAEP expected)");
	if (rc == 0)
		rc = oaep_params(&alg.in);
	if (rc == 0)
		rc = leave(&k.in, &alg, "key encryption algorithm");
	struct aws_buf ek = { 0 };
	if (rc == 0)
		rc = octets(&k.in, T_OCTETS, T_OCTETS | T_CONS, &ek, 0, "encryptedKey");
	if (rc == 0 && ek.len == 0)
		rc = kiln_err(EBADMSG, "CMS: empty encryptedKey");
	if (rc < 0) {
		aws_buf_free(&ek);
		return rc;
	}
	env->encrypted_key_len = ek.len;
	env->encrypted_key = (uint8_t *)aws_buf_take(&ek);
	return rc < 0 ? rc : leave(c, &k, "KeyTransRecipientInfo");
}

/* RecipientInfos: exactly one, a KeyTransRecipientInfo (what KMS sends). */
static int recipients(struct kiln_cursor *c, struct aws_cms_env *env)
{
	struct ber set;
	int rc = enter(c, T_SET, &set, "recipientInfos");
	if (rc == 0)
		rc = ktri(&set.in, env);
	if (rc == 0 && more(&set))
		rc = kiln_err(EBADMSG, "CMS: more than one recipient");
	return rc < 0 ? rc : leave(c, &set, "recipientInfos");
}

static int content_info(struct kiln_cursor *c, struct aws_cms_env *env)
{
	struct ber eci, alg;
	struct aws_buf iv = { 0 }, ct = { 0 };
	int rc = enter(c, T_SEQ, &eci, "EncryptedContentInfo");
	if (rc == 0)
		rc = expect_oid(&eci.in, OID_DATA, sizeof(OID_DATA), "content type (id-data expected)");
	if (rc == 0)
		rc = enter(&eci.in, T_SEQ, &alg, "content encryption algorithm");
	if (rc == 0)
		rc = expect_oid(&alg.in, OID_AES256CBC, sizeof(OID_AES256CBC),
				"content encryption algorithm (AES-256-CBC expected)");
	if (rc == 0)
		rc = octets(&alg.in, T_OCTETS, T_OCTETS | T_CONS, &iv, 0, "IV");
	if (rc == 0 && iv.len != 16)
		rc = kiln_err(EBADMSG, "CMS: IV of %zu bytes, not 16", iv.len);
	if (rc == 0)
		rc = leave(&eci.in, &alg, "content encryption algorithm");
	if (rc == 0 && !more(&eci))
		rc = kiln_err(EBADMSG, "CMS: no encrypted content");
	if (rc == 0)
		rc = octets(&eci.in, T_CTX0, CTX_CONS(0), &ct, 0, "encryptedContent");
	if (rc == 0 && (ct.len == 0 || ct.len % 16))
		rc = kiln_err(EBADMSG, "CMS: encrypted content of %zu bytes", ct.len);
	if (rc == 0)
		rc = leave(c, &eci, "EncryptedContentInfo");
	if (rc == 0) {
		memcpy(env->iv, iv.p, 16);
		env->content_len = ct.len;
		env->content = (uint8_t *)aws_buf_take(&ct);
	}
	aws_buf_free(&iv);
	aws_buf_free(&ct);
	return rc;
}

static int enveloped(struct kiln_cursor *c, struct aws_cms_env *env)
{
	struct ber ed;
	int rc = enter(c, T_SEQ, &ed, "EnvelopedData");
	if (rc == 0)
		rc = small_int(&ed.in, 0, 4, "EnvelopedData version");
	/* originatorInfo [0] is optional and carries nothing we use. */
	if (rc == 0 && kiln_cursor_left(&ed.in) && ed.in.buf[ed.in.pos] == CTX_CONS(0))
		rc = skip(&ed.in, 0);
	if (rc == 0)
		rc = recipients(&ed.in, env);
	if (rc == 0)
		rc = content_info(&ed.in, env);
	/* unprotectedAttrs [1], likewise. */
	if (rc == 0 && more(&ed) && ed.in.buf[ed.in.pos] == CTX_CONS(1))
		rc = skip(&ed.in, 0);
	return rc < 0 ? rc : leave(c, &ed, "EnvelopedData");
}

int aws_cms_parse(const uint8_t *p, size_t n, struct aws_cms_env *env)
{
	struct kiln_cursor c = kiln_cursor_make(p, n);
	struct ber ci, wrap;

	memset(env, 0, sizeof(*env));
	if (n > AWS_CMS_MAX)
		return kiln_err(EFBIG, "CMS: %zu bytes is too large", n);
	int rc = enter(&c, T_SEQ, &ci, "ContentInfo");
	if (rc == 0)
		rc = expect_oid(&ci.in, OID_ENVELOPED, sizeof(OID_ENVELOPED),
				"content type (envelopedData expected)");
	if (rc == 0)
		rc = enter(&ci.in, CTX_CONS(0), &wrap, "ContentInfo content");
	if (rc == 0)
		rc = enveloped(&wrap.in, env);
	if (rc == 0)
		rc = leave(&ci.in, &wrap, "ContentInfo content");
	if (rc == 0)
		rc = leave(&c, &ci, "ContentInfo");
	if (rc == 0 && kiln_cursor_left(&c))
		rc = kiln_err(EBADMSG, "CMS: %zu bytes after the ContentInfo", kiln_cursor_left(&c));
	if (rc < 0)
		aws_cms_env_free(env);
	return rc;
}

void aws_cms_env_free(struct aws_cms_env *env)
{
	free(env->encrypted_key);
	kiln_free_secret(env->content, env->content_len);
	memset(env, 0, sizeof(*env));
}

static int oaep_ctx(EVP_PKEY_CTX *ctx)
{
	if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) <= 0)
		return kiln_err(EIO, "RSA-OAEP setup failed");
	return 0;
}

/* RSA-OAEP(SHA-256) decrypt of the content key; it must be 32 bytes. */
static int unwrap_key(const struct aws_cms_env *env, EVP_PKEY *key, uint8_t cek[32])
{
	uint8_t buf[512];
	size_t len = sizeof(buf);
	int rc = 0;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);

	if (!ctx || EVP_PKEY_decrypt_init(ctx) <= 0)
		rc = kiln_err(EIO, "RSA-OAEP setup failed");
	if (rc == 0)
		rc = oaep_ctx(ctx);
	if (rc == 0 && EVP_PKEY_decrypt(ctx, buf, &len, env->encrypted_key,
					env->encrypted_key_len) <= 0)
		rc = kiln_err(EBADMSG, "CMS: the content key does not decrypt with this "
				       "enclave's key (RSA-OAEP)");
	if (rc == 0 && len != 32)
		rc = kiln_err(EBADMSG, "CMS: content key of %zu bytes, not 32", len);
	if (rc == 0)
		memcpy(cek, buf, 32);
	kiln_wipe(buf, sizeof(buf));
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int aws_cms_decrypt(const struct aws_cms_env *env, EVP_PKEY *key, uint8_t **out,
		    size_t *out_len)
{
	uint8_t cek[32];
	int n1 = 0, n2 = 0;

	int rc = unwrap_key(env, key, cek);
	if (rc < 0)
		return rc;
	uint8_t *pt = malloc(env->content_len + 16);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (!pt || !ctx)
		rc = kiln_err(ENOMEM, "out of memory");
	if (rc == 0 && (EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, cek, env->iv) <= 0 ||
			EVP_DecryptUpdate(ctx, pt, &n1, env->content, (int)env->content_len) <= 0))
		rc = kiln_err(EIO, "AES-256-CBC failed");
	if (rc == 0 && EVP_DecryptFinal_ex(ctx, pt + n1, &n2) <= 0)
		rc = kiln_err(EBADMSG, "CMS: content does not decrypt (bad padding)");
	EVP_CIPHER_CTX_free(ctx);
	kiln_wipe(cek, sizeof(cek));
	if (rc < 0) {
		kiln_free_secret(pt, pt ? env->content_len + 16 : 0);
		return rc;
	}
	*out = pt;
	*out_len = (size_t)(n1 + n2);
	return 0;
}

int aws_cms_open(const uint8_t *p, size_t n, EVP_PKEY *key, uint8_t **out, size_t *out_len)
{
	struct aws_cms_env env;
	int rc = aws_cms_parse(p, n, &env);
	if (rc == 0)
		rc = aws_cms_decrypt(&env, key, out, out_len);
	aws_cms_env_free(&env);
	return rc;
}

/* ---- sealing (dev-kms): the layout KMS uses ---- */

static void der_len(struct aws_buf *b, size_t n)
{
	if (n < 0x80) {
		aws_buf_ch(b, (char)n);
	} else if (n < 0x100) {
		aws_buf_ch(b, (char)0x81);
		aws_buf_ch(b, (char)n);
	} else {
		aws_buf_ch(b, (char)0x82);
		aws_buf_ch(b, (char)(n >> 8));
		aws_buf_ch(b, (char)n);
	}
}

static void tlv(struct aws_buf *b, uint8_t tag, const void *p, size_t n)
{
	aws_buf_ch(b, (char)tag);
	der_len(b, n);
	aws_buf_add(b, p, n);
}

static void oid(struct aws_buf *b, const uint8_t *o, size_t n)
{
	tlv(b, T_OID, o, n);
}

static void indef(struct aws_buf *b, uint8_t tag)
{
	aws_buf_ch(b, (char)tag);
	aws_buf_ch(b, (char)0x80);
}

static void eoc(struct aws_buf *b, int count)
{
	for (int i = 0; i < count; i++)
		aws_buf_add(b, "\0\0", 2);
}

/* The KeyTransRecipientInfo, DER (KMS encodes this part with definite lengths). */
static void build_ktri(struct aws_buf *out, const uint8_t ski[32], const uint8_t *ek, size_t ekl)
{
	struct aws_buf sha = { 0 }, mgf = { 0 }, params = { 0 }, alg = { 0 }, k = { 0 }, x = { 0 };
	oid(&sha, OID_SHA256, sizeof(OID_SHA256));
	aws_buf_add(&sha, "\x05\x00", 2);
	tlv(&x, T_SEQ, sha.p, sha.len); /* AlgorithmIdentifier sha256 */
	tlv(&params, CTX_CONS(0), x.p, x.len);
	oid(&mgf, OID_MGF1, sizeof(OID_MGF1));
	aws_buf_add(&mgf, x.p, x.len);
	aws_buf_free(&x);
	tlv(&x, T_SEQ, mgf.p, mgf.len);
	tlv(&params, CTX_CONS(1), x.p, x.len);
	oid(&alg, OID_OAEP, sizeof(OID_OAEP));
	tlv(&alg, T_SEQ, params.p, params.len);
	aws_buf_add(&k, "\x02\x01\x02", 3);
	tlv(&k, T_CTX0, ski, 32);
	tlv(&k, T_SEQ, alg.p, alg.len);
	tlv(&k, T_OCTETS, ek, ekl);
	aws_buf_free(&x);
	tlv(&x, T_SEQ, k.p, k.len);
	tlv(out, T_SET, x.p, x.len);
	if (sha.err || mgf.err || params.err || alg.err || k.err || x.err)
		out->err = -ENOMEM;
	aws_buf_free(&sha);
	aws_buf_free(&mgf);
	aws_buf_free(&params);
	aws_buf_free(&alg);
	aws_buf_free(&k);
	aws_buf_free(&x);
}

static int wrap_key(EVP_PKEY *pub, const uint8_t cek[32], uint8_t *ek, size_t *ekl)
{
	int rc = 0;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
	if (!ctx || EVP_PKEY_encrypt_init(ctx) <= 0)
		rc = kiln_err(EIO, "RSA-OAEP setup failed");
	if (rc == 0)
		rc = oaep_ctx(ctx);
	if (rc == 0 && EVP_PKEY_encrypt(ctx, ek, ekl, cek, 32) <= 0)
		rc = kiln_err(EINVAL, "RSA-OAEP encryption failed (key too small?)");
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

static int spki_sha256(EVP_PKEY *pub, uint8_t out[32])
{
	uint8_t *der = NULL;
	int n = i2d_PUBKEY(pub, &der);
	if (n <= 0)
		return kiln_err(EINVAL, "recipient key has no SubjectPublicKeyInfo");
	SHA256(der, (size_t)n, out);
	OPENSSL_free(der);
	return 0;
}

static int aes_encrypt(const uint8_t cek[32], const uint8_t iv[16], const uint8_t *pt,
		       size_t n, uint8_t *ct, size_t *ctl)
{
	int n1 = 0, n2 = 0, rc = 0;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (!ctx || EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, cek, iv) <= 0 ||
	    EVP_EncryptUpdate(ctx, ct, &n1, pt, (int)n) <= 0 ||
	    EVP_EncryptFinal_ex(ctx, ct + n1, &n2) <= 0)
		rc = kiln_err(EIO, "AES-256-CBC failed");
	EVP_CIPHER_CTX_free(ctx);
	*ctl = (size_t)(n1 + n2);
	return rc;
}

int aws_cms_seal(EVP_PKEY *recipient, const uint8_t *pt, size_t pt_len, uint8_t **out,
		 size_t *out_len)
{
	uint8_t cek[32], iv[16], ski[32], ek[512];
	size_t ekl = sizeof(ek), ctl = 0;
	struct aws_buf b = { 0 };

	if (pt_len > 8192)
		return kiln_err(EFBIG, "plaintext of %zu bytes is too large", pt_len);
	uint8_t *ct = malloc(pt_len + 16);
	if (!ct)
		return kiln_err(ENOMEM, "out of memory");
	int rc = RAND_bytes(cek, 32) == 1 && RAND_bytes(iv, 16) == 1
			 ? 0
			 : kiln_err(EIO, "no randomness for the content key");
	if (rc == 0)
		rc = spki_sha256(recipient, ski);
	if (rc == 0)
		rc = wrap_key(recipient, cek, ek, &ekl);
	if (rc == 0)
		rc = aes_encrypt(cek, iv, pt, pt_len, ct, &ctl);
	kiln_wipe(cek, sizeof(cek));
	if (rc == 0) {
		indef(&b, T_SEQ);
		oid(&b, OID_ENVELOPED, sizeof(OID_ENVELOPED));
		indef(&b, CTX_CONS(0));
		indef(&b, T_SEQ);
		aws_buf_add(&b, "\x02\x01\x02", 3);
		build_ktri(&b, ski, ek, ekl);
		indef(&b, T_SEQ);
		oid(&b, OID_DATA, sizeof(OID_DATA));
		aws_buf_add(&b, "\x30\x1d", 2);
		oid(&b, OID_AES256CBC, sizeof(OID_AES256CBC));
		tlv(&b, T_OCTETS, iv, 16);
		indef(&b, CTX_CONS(0));
		tlv(&b, T_OCTETS, ct, ctl);
		eoc(&b, 5);
		rc = aws_buf_check(&b);
	}
	free(ct);
	if (rc < 0) {
		aws_buf_free(&b);
		return rc;
	}
	*out_len = b.len;
	*out = (uint8_t *)aws_buf_take(&b);
	return 0;
}
