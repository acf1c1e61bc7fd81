/* SPDX-License-Identifier: Apache-2.0 */
/* Nitro attestation verification: pinned root, X.509 chain (cached), ES384 COSE signature, claims. */
#include "attest/attest.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cbor/cbor.h"
#include "util/cleanup.h"

/*
 * How this works, in the order kiln_attest_verify() checks:
 * 1. The protected header's alg is ES384 and the signature is 96 bytes.
 * 2. cabundle[0] is byte-for-byte the pinned root.
 * 3. The chain leaf -> cabundle[n-1] -> ... -> cabundle[0]: X509_verify_cert()
 *    with the root as the only trust anchor, the other bundle certificates as
 *    untrusted intermediates, at the verification time; the chain OpenSSL
 *    built must be exactly that sequence. The leaf key must be P-384.
 * 4. The ES384 signature over Sig_structure ["Signature1", protected, h'',
 *    payload], r||s converted to a DER ECDSA-Sig-Value for OpenSSL.
 * 5. Each expectation (PCRs, nonce, user_data, public_key).
 *
 * The chain cache: a successful step 3 records SHA-256 over (length-framed
 * DER of leaf, cabundle[n-1], ..., cabundle[0], pinned root) together with
 * the intersection of every certificate's validity window and the leaf's
 * public key. A later document whose certificates are the same bytes, checked
 * at a time inside that window, skips step 3 and uses the recorded key; any
 * byte changed in any certificate or the root changes the key and forces a
 * full validation. Nothing else in step 3 depends on time (no CRLs, no OCSP),
 * so a hit gives the answer X509_verify_cert() would. Steps 1, 2, 4 and 5 run
 * for every document; failures are never cached.
 */

#define ES384_ALG (-35)
#define ES384_HALF 48
#define CACHE_SLOTS 64
#define HEX_SHOW_MAX 64 /* bytes of a mismatching value shown in messages */

struct chain_entry {
	bool used;
	uint8_t key[32];
	int64_t not_before; /* valid for not_before <= t < not_after (seconds) */
	int64_t not_after;
	EVP_PKEY *leaf_key;
};

struct kiln_attest_verifier {
	X509 *root;
	X509_STORE *store;
	uint8_t *root_der;
	int root_der_len;
	EVP_MD *sha256;
	EVP_MD *sha384;
	pthread_mutex_t lock;
	struct chain_entry cache[CACHE_SLOTS];
	size_t next_slot;
	uint64_t hits, misses;
};

static void hex(char *dst, size_t size, const uint8_t *p, size_t n)
{
	size_t shown = n > HEX_SHOW_MAX ? HEX_SHOW_MAX : n;
	size_t off = 0;

	dst[0] = '\0';
	for (size_t i = 0; i < shown && off + 3 < size; i++)
		off += (size_t)snprintf(dst + off, size - off, "%02x", p[i]);
	if (shown < n && off + 4 < size)
		snprintf(dst + off, size - off, "...");
}

void kiln_attest_verifier_flush(struct kiln_attest_verifier *v)
{
	pthread_mutex_lock(&v->lock);
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		EVP_PKEY_free(v->cache[i].leaf_key);
		memset(&v->cache[i], 0, sizeof(v->cache[i]));
	}
	pthread_mutex_unlock(&v->lock);
}

void kiln_attest_verifier_free(struct kiln_attest_verifier *v)
{
	if (!v)
		return;
	kiln_attest_verifier_flush(v);
	pthread_mutex_destroy(&v->lock);
	X509_STORE_free(v->store);
	X509_free(v->root);
	OPENSSL_free(v->root_der);
	EVP_MD_free(v->sha256);
	EVP_MD_free(v->sha384);
	free(v);
}

void kiln_attest_verifier_stats(const struct kiln_attest_verifier *v, uint64_t *hits,
				uint64_t *misses)
{
	pthread_mutex_lock((pthread_mutex_t *)&v->lock);
	*hits = v->hits;
	*misses = v->misses;
	pthread_mutex_unlock((pthread_mutex_t *)&v->lock);
}

static X509 *read_pem(const char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *x;

	if (!bio)
		return NULL;
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return x;
}

int kiln_attest_verifier_new(const char *root_pem, size_t root_len,
			     struct kiln_attest_verifier **out)
{
	struct kiln_attest_verifier *v;

	if (!root_pem) {
		root_pem = kiln_attest_aws_root_g1_pem;
		root_len = strlen(root_pem);
	}
	if (root_len > INT32_MAX)
		return kiln_err(EINVAL, "root certificate: too large");
	v = calloc(1, sizeof(*v));
	if (!v)
		return kiln_err(ENOMEM, "out of memory");
	pthread_mutex_init(&v->lock, NULL);
	v->root = read_pem(root_pem, root_len);
	if (!v->root) {
		kiln_attest_verifier_free(v);
		return kiln_err(EINVAL, "root certificate: not a PEM certificate");
	}
	v->root_der_len = i2d_X509(v->root, &v->root_der);
	v->store = X509_STORE_new();
	v->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	v->sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
	if (v->root_der_len <= 0 || !v->store || !v->sha256 || !v->sha384 ||
	    X509_STORE_add_cert(v->store, v->root) != 1) {
		kiln_attest_verifier_free(v);
		return kiln_err(ENOMEM, "root certificate: cannot set up the trust store");
	}
	*out = v;
	return 0;
}

/* Position of chain element i (0 = leaf, then cabundle[n-1] ... cabundle[0]). */
static void chain_label(const struct kiln_attest_doc *doc, size_t i, char *buf, size_t size)
{
	if (i == 0)
		snprintf(buf, size, "certificate (leaf)");
	else
		snprintf(buf, size, "cabundle[%zu]", doc->cabundle_len - i);
}

static const struct kiln_attest_blob *chain_der(const struct kiln_attest_doc *doc, size_t i)
{
	return i == 0 ? &doc->certificate : &doc->cabundle[doc->cabundle_len - i];
}

static int chain_key(struct kiln_attest_verifier *v, const struct kiln_attest_doc *doc,
		     uint8_t key[32])
{
	static const char domain[] = "kiln attest chain v1";
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t n = doc->cabundle_len + 1;
	bool ok;

	ok = ctx && EVP_DigestInit_ex(ctx, v->sha256, NULL) &&
	     EVP_DigestUpdate(ctx, domain, sizeof(domain)) && EVP_DigestUpdate(ctx, &n, sizeof(n));
	for (size_t i = 0; ok && i <= doc->cabundle_len; i++) {
		const struct kiln_attest_blob *b = chain_der(doc, i);
		uint64_t len = b->len;

		ok = EVP_DigestUpdate(ctx, &len, sizeof(len)) &&
		     EVP_DigestUpdate(ctx, b->data, b->len);
	}
	ok = ok && EVP_DigestUpdate(ctx, v->root_der, (size_t)v->root_der_len) &&
	     EVP_DigestFinal_ex(ctx, key, NULL);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : kiln_err(ENOMEM, "certificate chain: hashing failed");
}

/* The cached leaf key (a new reference) for this chain at time t, or NULL. */
static EVP_PKEY *cache_lookup(struct kiln_attest_verifier *v, const uint8_t key[32], int64_t t)
{
	EVP_PKEY *pkey = NULL;

	pthread_mutex_lock(&v->lock);
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		struct chain_entry *e = &v->cache[i];

		if (e->used && !memcmp(e->key, key, 32) && e->not_before <= t && t < e->not_after &&
		    EVP_PKEY_up_ref(e->leaf_key)) {
			pkey = e->leaf_key;
			break;
		}
	}
	if (pkey)
		v->hits++;
	else
		v->misses++;
	pthread_mutex_unlock(&v->lock);
	return pkey;
}

static void cache_store(struct kiln_attest_verifier *v, const uint8_t key[32], int64_t nb,
			int64_t na, EVP_PKEY *pkey)
{
	struct chain_entry *e;

	if (!EVP_PKEY_up_ref(pkey))
		return;
	pthread_mutex_lock(&v->lock);
	e = &v->cache[v->next_slot];
	v->next_slot = (v->next_slot + 1) % CACHE_SLOTS;
	EVP_PKEY_free(e->leaf_key);
	e->used = true;
	memcpy(e->key, key, 32);
	e->not_before = nb;
	e->not_after = na;
	e->leaf_key = pkey;
	pthread_mutex_unlock(&v->lock);
}

static int asn1_seconds(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -EBADMSG;
	*out = (int64_t)timegm(&tm);
	return 0;
}

struct chain {
	X509 *certs[KILN_ATTEST_MAX_CABUNDLE + 1]; /* chain order: leaf first, root last */
	size_t n;
	STACK_OF(X509) *untrusted;
	X509_STORE_CTX *ctx;
};

static void chain_free(struct chain *c)
{
	X509_STORE_CTX_free(c->ctx);
	sk_X509_free(c->untrusted);
	for (size_t i = 0; i < c->n; i++)
		X509_free(c->certs[i]);
}

static int chain_decode(const struct kiln_attest_doc *doc, struct chain *c)
{
	char where[32];

	for (size_t i = 0; i <= doc->cabundle_len; i++) {
		const struct kiln_attest_blob *b = chain_der(doc, i);
		const unsigned char *p = b->data;

		c->certs[i] = d2i_X509(NULL, &p, (long)b->len);
		if (!c->certs[i] || p != b->data + b->len) {
			X509_free(c->certs[i]);
			chain_label(doc, i, where, sizeof(where));
			return kiln_err(EBADMSG, "certificate chain: cannot parse %s", where);
		}
		c->n = i + 1;
	}
	c->untrusted = sk_X509_new_null();
	for (size_t i = 1; c->untrusted && i + 1 < c->n; i++)
		if (!sk_X509_push(c->untrusted, c->certs[i]))
			return kiln_err(ENOMEM, "out of memory");
	return c->untrusted ? 0 : kiln_err(ENOMEM, "out of memory");
}

static int chain_error(const struct kiln_attest_doc *doc, struct chain *c)
{
	int err = X509_STORE_CTX_get_error(c->ctx);
	X509 *bad = X509_STORE_CTX_get_current_cert(c->ctx);
	char where[32] = "an unknown certificate";

	for (size_t i = 0; bad && i < c->n; i++)
		if (!X509_cmp(bad, c->certs[i])) {
			chain_label(doc, i, where, sizeof(where));
			break;
		}
	return kiln_err(EPERM, "certificate chain: %s at %s", X509_verify_cert_error_string(err),
			where);
}

/* The chain OpenSSL built must be exactly leaf, cabundle[n-1], ..., cabundle[0]. */
static int chain_order(struct chain *c)
{
	STACK_OF(X509) *built = X509_STORE_CTX_get0_chain(c->ctx);

	if (!built || (size_t)sk_X509_num(built) != c->n)
		return kiln_err(EPERM, "certificate chain: does not use every cabundle entry");
	for (size_t i = 0; i < c->n; i++)
		if (X509_cmp(sk_X509_value(built, (int)i), c->certs[i]))
			return kiln_err(EPERM, "certificate chain: cabundle is not in chain order");
	return 0;
}

static int chain_window(struct chain *c, int64_t *nb, int64_t *na)
{
	*nb = INT64_MIN;
	*na = INT64_MAX;
	for (size_t i = 0; i < c->n; i++) {
		int64_t b, a;

		if (asn1_seconds(X509_get0_notBefore(c->certs[i]), &b) < 0 ||
		    asn1_seconds(X509_get0_notAfter(c->certs[i]), &a) < 0)
			return kiln_err(EBADMSG, "certificate chain: bad validity time");
		*nb = b > *nb ? b : *nb;
		*na = a < *na ? a : *na;
	}
	return 0;
}

static int leaf_key_check(EVP_PKEY *pkey)
{
	char group[64];

	if (!pkey || !EVP_PKEY_is_a(pkey, "EC") ||
	    !EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) ||
	    strcmp(group, "secp384r1"))
		return kiln_err(EPERM, "certificate chain: leaf key is not EC P-384");
	return 0;
}

/* Full validation of the chain at time t; on success *pkey is a new reference to the leaf key. */
static int chain_validate(struct kiln_attest_verifier *v, const struct kiln_attest_doc *doc,
			  int64_t t, const uint8_t key[32], EVP_PKEY **pkey)
{
	struct chain c = { .n = 0 };
	int64_t nb = 0, na = 0;
	int rc;

	rc = chain_decode(doc, &c);
	if (rc < 0)
		goto out;
	c.ctx = X509_STORE_CTX_new();
	if (!c.ctx || X509_STORE_CTX_init(c.ctx, v->store, c.certs[0], c.untrusted) != 1) {
		rc = kiln_err(ENOMEM, "certificate chain: cannot set up verification");
		goto out;
	}
	X509_STORE_CTX_set_time(c.ctx, 0, (time_t)t);
	if (X509_verify_cert(c.ctx) != 1) {
		rc = chain_error(doc, &c);
		goto out;
	}
	rc = chain_order(&c);
	if (rc == 0)
		rc = chain_window(&c, &nb, &na);
	if (rc == 0)
		rc = leaf_key_check(X509_get0_pubkey(c.certs[0]));
	if (rc < 0)
		goto out;
	*pkey = X509_get_pubkey(c.certs[0]);
	if (!*pkey) {
		rc = kiln_err(ENOMEM, "out of memory");
		goto out;
	}
	cache_store(v, key, nb, na, *pkey);
out:
	chain_free(&c);
	return rc;
}

static int check_chain(struct kiln_attest_verifier *v, const struct kiln_attest_doc *doc,
		       int64_t t, EVP_PKEY **pkey)
{
	uint8_t key[32];
	int rc;

	if (doc->cabundle_len == 0 || doc->cabundle[0].len != (size_t)v->root_der_len ||
	    memcmp(doc->cabundle[0].data, v->root_der, doc->cabundle[0].len))
		return kiln_err(EPERM, "certificate chain: cabundle[0] is not the pinned root");
	rc = chain_key(v, doc, key);
	if (rc < 0)
		return rc;
	*pkey = cache_lookup(v, key, t);
	if (*pkey)
		return 0;
	return chain_validate(v, doc, t, key, pkey);
}

/* COSE Sig_structure for COSE_Sign1 with empty external_aad, hashed with SHA-384. */
static int sig_digest(struct kiln_attest_verifier *v, const struct kiln_attest_doc *doc,
		      uint8_t md[48])
{
	struct kiln_cbor_enc e;
	uint8_t *tbs;
	size_t tbs_len;
	unsigned md_len = 0;
	int rc;

	kiln_cbor_enc_init(&e);
	kiln_cbor_enc_array(&e, 4);
	kiln_cbor_enc_text_z(&e, "Signature1");
	kiln_cbor_enc_bytes(&e, doc->protected_hdr.data, doc->protected_hdr.len);
	kiln_cbor_enc_bytes(&e, NULL, 0);
	kiln_cbor_enc_bytes(&e, doc->payload.data, doc->payload.len);
	rc = kiln_cbor_enc_finish(&e, &tbs, &tbs_len);
	if (rc < 0)
		return rc;
	if (!EVP_Digest(tbs, tbs_len, md, &md_len, v->sha384, NULL) || md_len != 48)
		rc = kiln_err(ENOMEM, "signature: hashing failed");
	free(tbs);
	return rc;
}

/* r || s (48 bytes each) as a DER ECDSA-Sig-Value. */
static int sig_to_der(const struct kiln_attest_blob *sig, uint8_t **der, int *der_len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig->data, ES384_HALF, NULL);
	BIGNUM *s = BN_bin2bn(sig->data + ES384_HALF, ES384_HALF, NULL);

	*der = NULL;
	if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
		ECDSA_SIG_free(es);
		BN_free(r);
		BN_free(s);
		return kiln_err(ENOMEM, "out of memory");
	}
	*der_len = i2d_ECDSA_SIG(es, der);
	ECDSA_SIG_free(es);
	return *der_len > 0 ? 0 : kiln_err(ENOMEM, "out of memory");
}

static int check_signature(struct kiln_attest_verifier *v, const struct kiln_attest_doc *doc,
			   EVP_PKEY *pkey)
{
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t md[48], *der = NULL;
	int der_len = 0, rc;

	rc = sig_digest(v, doc, md);
	if (rc == 0)
		rc = sig_to_der(&doc->signature, &der, &der_len);
	if (rc < 0)
		goto out;
	ctx = EVP_PKEY_CTX_new(pkey, NULL);
	if (!ctx || EVP_PKEY_verify_init(ctx) != 1) {
		rc = kiln_err(ENOMEM, "signature: cannot set up verification");
		goto out;
	}
	if (EVP_PKEY_verify(ctx, der, (size_t)der_len, md, sizeof(md)) != 1)
		rc = kiln_err(EPERM, "signature invalid");
out:
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_free(der);
	return rc;
}

static int check_blob(const char *what, const struct kiln_attest_blob *want,
		      const struct kiln_attest_blob *got)
{
	char w[2 * HEX_SHOW_MAX + 4], g[2 * HEX_SHOW_MAX + 4];

	if (!want->data)
		return 0;
	hex(w, sizeof(w), want->data, want->len);
	if (!got->data)
		return kiln_err(EPERM, "%s mismatch: expected %s, document has none", what, w);
	if (got->len == want->len && !memcmp(got->data, want->data, want->len))
		return 0;
	hex(g, sizeof(g), got->data, got->len);
	return kiln_err(EPERM, "%s mismatch: expected %s got %s", what, w, g);
}

static int check_expect(const struct kiln_attest_doc *doc, const struct kiln_attest_expect *exp)
{
	int rc = 0;

	for (int i = 0; rc == 0 && i < KILN_ATTEST_MAX_PCRS; i++) {
		char what[16];

		snprintf(what, sizeof(what), "PCR%d", i);
		rc = check_blob(what, &exp->pcr[i], &doc->pcr[i]);
	}
	if (rc == 0)
		rc = check_blob("nonce", &exp->nonce, &doc->nonce);
	if (rc == 0)
		rc = check_blob("user_data", &exp->user_data, &doc->user_data);
	if (rc == 0)
		rc = check_blob("public_key", &exp->public_key, &doc->public_key);
	return rc;
}

int kiln_attest_verify(struct kiln_attest_verifier *v, const struct kiln_attest_doc *doc,
		       int64_t at_ms, const struct kiln_attest_expect *exp)
{
	EVP_PKEY *pkey = NULL;
	int64_t t;
	int rc;

	if (at_ms == KILN_ATTEST_AT_DOC)
		at_ms = (int64_t)doc->timestamp_ms;
	else if (at_ms == KILN_ATTEST_AT_NOW)
		at_ms = (int64_t)time(NULL) * 1000;
	else if (at_ms < 0)
		return kiln_err(EINVAL, "verification time is negative");
	t = at_ms / 1000;
	if (doc->alg != ES384_ALG)
		return kiln_err(EPERM, "protected header: alg %lld, want ES384 (-35)",
				(long long)doc->alg);
	if (doc->signature.len != KILN_ATTEST_SIG_LEN)
		return kiln_err(EPERM, "signature invalid: %zu bytes, want %d", doc->signature.len,
				KILN_ATTEST_SIG_LEN);
	rc = check_chain(v, doc, t, &pkey);
	if (rc == 0)
		rc = check_signature(v, doc, pkey);
	if (rc == 0 && exp)
		rc = check_expect(doc, exp);
	EVP_PKEY_free(pkey);
	return rc;
}

int kiln_attest_verify_bytes(struct kiln_attest_verifier *v, const void *buf, size_t len,
			     int64_t at_ms, const struct kiln_attest_expect *exp,
			     struct kiln_attest_doc **out)
{
	struct kiln_attest_doc *doc;
	int rc;

	rc = kiln_attest_parse(buf, len, &doc);
	if (rc < 0)
		return rc;
	rc = kiln_attest_verify(v, doc, at_ms, exp);
	if (rc == 0 && out)
		*out = KILN_STEAL_PTR(doc);
	kiln_attest_doc_free(doc);
	return rc;
}

/* ---- freshness ---- */

struct unit {
	const char *name;
	int64_t ms;
};

/* Longest names first, so "ms" is not read as "m". */
static const struct unit units[] = {
	{ "ms", 1 }, { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 },
};

static const struct unit *unit_at(const char *p)
{
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strncmp(p, units[i].name, strlen(units[i].name)))
			return &units[i];
	return NULL;
}

int kiln_attest_parse_duration(const char *s, int64_t *ms)
{
	const char *p = s;
	int64_t total = 0;

	do {
		const struct unit *u;
		int64_t n = 0;

		if (*p < '0' || *p > '9')
			goto bad;
		for (; *p >= '0' && *p <= '9'; p++) {
			n = n * 10 + (*p - '0');
			if (n > KILN_ATTEST_DURATION_MAX_MS)
				goto big;
		}
		u = unit_at(p);
		if (!u)
			goto bad;
		p += strlen(u->name);
		if (n > (KILN_ATTEST_DURATION_MAX_MS - total) / u->ms)
			goto big;
		total += n * u->ms;
	} while (*p);
	if (total == 0)
		return kiln_err(EINVAL, "duration \"%s\" is zero", s);
	*ms = total;
	return 0;
bad:
	return kiln_err(EINVAL, "duration \"%s\": want NUMBER UNIT groups, units ms s m h d (e.g. 30s, 5m, 1h30m)",
			s);
big:
	return kiln_err(ERANGE, "duration \"%s\" is longer than 100 years", s);
}

void kiln_attest_format_duration(int64_t ms, char *buf, size_t size)
{
	size_t n = sizeof(units) / sizeof(units[0]), i;
	int64_t hi;

	if (ms < 1000) {
		snprintf(buf, size, "%lldms", (long long)ms);
		return;
	}
	for (i = 1; i < n && ms < units[i].ms; i++) /* d, h, m, s: the largest that fits */
		;
	hi = ms / units[i].ms;
	ms -= hi * units[i].ms;
	if (i + 1 < n && ms >= units[i + 1].ms)
		snprintf(buf, size, "%lld%s%lld%s", (long long)hi, units[i].name,
			 (long long)(ms / units[i + 1].ms), units[i + 1].name);
	else
		snprintf(buf, size, "%lld%s", (long long)hi, units[i].name);
}

int kiln_attest_check_age(const struct kiln_attest_doc *doc, int64_t now_ms, int64_t max_age_ms)
{
	int64_t ts = doc->timestamp_ms > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)doc->timestamp_ms;
	char age[32], max[32];

	if (ts > now_ms) {
		kiln_attest_format_duration(ts - now_ms, age, sizeof(age));
		if (ts - now_ms > KILN_ATTEST_FUTURE_SKEW_MS)
			return kiln_err(ESTALE, "document timestamp is %s in the future (more than the %ds allowed for clock skew)",
					age, KILN_ATTEST_FUTURE_SKEW_MS / 1000);
		return 0;
	}
	if (now_ms - ts <= max_age_ms)
		return 0;
	kiln_attest_format_duration(now_ms - ts, age, sizeof(age));
	kiln_attest_format_duration(max_age_ms, max, sizeof(max));
	return kiln_err(ESTALE, "document is %s old, more than the maximum age %s", age, max);
}
