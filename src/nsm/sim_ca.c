/* SPDX-License-Identifier: Apache-2.0 */
/* The sim CA: a per-machine P-384 chain root -> int1 -> int2 on disk, and an in-memory leaf. */
#include "nsm/sim.h"

#include <fcntl.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

/*
 * How this works: kiln_sim_ca_open() takes an flock on sim-ca/.lock and walks
 * the levels from the root down. A level is loaded from NAME.pem and
 * NAME.key; it is (re)issued with a fresh key when it is missing, expires
 * within a day, was not signed by the level above (the parent was re-issued
 * or replaced) or its key does not match. The root is only ever created when
 * absent, never replaced, since users pin it. Files are written to a
 * temporary name, fsynced and renamed, keys with mode 0600. The leaf is never
 * written to disk: each sim NSM issues its own and re-issues it when it is
 * older than 2.5 hours, so every document's leaf has at least 30 minutes left.
 */

#define DAY (24 * 3600)
#define ROOT_LIFETIME (30LL * 365 * DAY)
#define LEAF_LIFETIME (3 * 3600)
#define LEAF_RENEW_AFTER (5 * 1800)
#define RENEW_MARGIN DAY
#define SERIAL_BITS 127

struct level {
	EVP_PKEY *key;
	X509 *cert;
	uint8_t *der;
	size_t der_len;
};

struct kiln_sim_ca {
	char dir[PATH_MAX];
	struct level lv[KILN_SIM_CA_LEVELS];
	struct level leaf;
	int64_t leaf_issued; /* seconds */
	char leaf_cn[128];
};

static const char *const level_names[KILN_SIM_CA_LEVELS] = { "root", "int1", "int2" };
/* Lifetimes of the intermediates (the root's is ROOT_LIFETIME). */
static const int64_t level_lifetime[KILN_SIM_CA_LEVELS] = { ROOT_LIFETIME, 30 * DAY, 7 * DAY };

/* Extensions per level, like the real Nitro chain (see fixtures/attestation). */
struct ext {
	int nid;
	const char *value;
};

static const struct ext root_exts[] = {
	{ NID_basic_constraints, "critical,CA:TRUE" },
	{ NID_subject_key_identifier, "hash" },
	{ NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign" },
	{ 0, NULL },
};
static const struct ext int1_exts[] = {
	{ NID_basic_constraints, "critical,CA:TRUE,pathlen:1" },
	{ NID_authority_key_identifier, "keyid:always" },
	{ NID_subject_key_identifier, "hash" },
	{ NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign" },
	{ 0, NULL },
};
static const struct ext int2_exts[] = {
	{ NID_basic_constraints, "critical,CA:TRUE,pathlen:0" },
	{ NID_key_usage, "critical,keyCertSign" },
	{ NID_subject_key_identifier, "hash" },
	{ NID_authority_key_identifier, "keyid:always" },
	{ 0, NULL },
};
static const struct ext leaf_exts[] = {
	{ NID_basic_constraints, "critical,CA:FALSE" },
	{ NID_key_usage, "digitalSignature,nonRepudiation" },
	{ 0, NULL },
};
static const struct ext *const level_exts[KILN_SIM_CA_LEVELS] = { root_exts, int1_exts, int2_exts };

static void level_clear(struct level *l)
{
	EVP_PKEY_free(l->key);
	X509_free(l->cert);
	free(l->der);
	memset(l, 0, sizeof(*l));
}

void kiln_sim_ca_free(struct kiln_sim_ca *ca)
{
	if (!ca)
		return;
	for (unsigned i = 0; i < KILN_SIM_CA_LEVELS; i++)
		level_clear(&ca->lv[i]);
	level_clear(&ca->leaf);
	free(ca);
}

static int ossl_err(const char *what)
{
	return kiln_err(EIO, "sim CA: %s failed", what);
}

static int set_der(struct level *l)
{
	unsigned char *der = NULL;
	int n = i2d_X509(l->cert, &der);

	if (n <= 0)
		return ossl_err("i2d_X509");
	free(l->der);
	l->der = malloc((size_t)n);
	if (!l->der) {
		OPENSSL_free(der);
		return kiln_err(ENOMEM, "out of memory");
	}
	memcpy(l->der, der, (size_t)n);
	l->der_len = (size_t)n;
	OPENSSL_free(der);
	return 0;
}

static void random_hex(char *out, size_t nbytes)
{
	uint8_t b[32];

	if (nbytes > sizeof(b) || RAND_bytes(b, (int)nbytes) != 1)
		memset(b, 0x5a, sizeof(b));
	for (size_t i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int add_exts(X509 *cert, X509 *issuer, const struct ext *exts)
{
	X509V3_CTX ctx;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	for (; exts->nid; exts++) {
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, exts->nid, exts->value);
		int ok = e && X509_add_ext(cert, e, -1) == 1;

		X509_EXTENSION_free(e);
		if (!ok)
			return ossl_err("adding an X.509 extension");
	}
	return 0;
}

static int set_name(X509 *cert, const char *cn)
{
	X509_NAME *n = X509_get_subject_name(cert);

	if (X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"kiln", -1, -1,
				       0) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC, (const unsigned char *)"sim", -1, -1,
				       0) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
				       0) != 1)
		return ossl_err("setting the subject");
	return 0;
}

static int set_serial(X509 *cert)
{
	BIGNUM *bn = BN_new();
	int ok = bn && BN_rand(bn, SERIAL_BITS, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
		 !BN_is_zero(bn) && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));

	BN_free(bn);
	return ok ? 0 : ossl_err("setting the serial number");
}

/*
 * Issue a certificate for a fresh P-384 key into out; parent NULL makes it
 * self-signed. Validity [now, now + lifetime).
 */
static int issue(struct level *out, const struct level *parent, const char *cn,
		 const struct ext *exts, int64_t now, int64_t lifetime)
{
	struct level l = { .key = EVP_EC_gen("P-384"), .cert = X509_new() };
	X509 *issuer_cert;
	EVP_PKEY *issuer_key;
	int rc = 0;

	if (!l.key || !l.cert) {
		rc = ossl_err("generating a P-384 key");
		goto out;
	}
	issuer_cert = parent ? parent->cert : l.cert;
	issuer_key = parent ? parent->key : l.key;
	if (X509_set_version(l.cert, X509_VERSION_3) != 1 || X509_set_pubkey(l.cert, l.key) != 1 ||
	    !ASN1_TIME_set(X509_getm_notBefore(l.cert), (time_t)now) ||
	    !ASN1_TIME_set(X509_getm_notAfter(l.cert), (time_t)(now + lifetime))) {
		rc = ossl_err("filling the certificate");
		goto out;
	}
	rc = set_serial(l.cert);
	if (rc == 0)
		rc = set_name(l.cert, cn);
	if (rc == 0 && X509_set_issuer_name(l.cert, X509_get_subject_name(issuer_cert)) != 1)
		rc = ossl_err("setting the issuer");
	if (rc == 0)
		rc = add_exts(l.cert, issuer_cert, exts);
	if (rc == 0 && X509_sign(l.cert, issuer_key, EVP_sha384()) <= 0)
		rc = ossl_err("signing the certificate");
	if (rc == 0)
		rc = set_der(&l);
out:
	if (rc < 0) {
		level_clear(&l);
		return rc;
	}
	level_clear(out);
	*out = l;
	return 0;
}

/* ---- files ---- */

static int path_of(const struct kiln_sim_ca *ca, const char *name, const char *ext, char *buf,
		   size_t size)
{
	int n = snprintf(buf, size, "%s/%s%s", ca->dir, name, ext);

	return n < 0 || (size_t)n >= size ? kiln_err(ENAMETOOLONG, "sim CA: path too long") : 0;
}

typedef int (*write_fn)(FILE *f, const struct level *l);

static int write_cert(FILE *f, const struct level *l)
{
	return PEM_write_X509(f, l->cert) == 1 ? 0 : ossl_err("PEM_write_X509");
}

static int write_key(FILE *f, const struct level *l)
{
	return PEM_write_PrivateKey(f, l->key, NULL, NULL, 0, NULL, NULL) == 1
		       ? 0
		       : ossl_err("PEM_write_PrivateKey");
}

static int write_atomic(const char *path, mode_t mode, write_fn fn, const struct level *l)
{
	char tmp[PATH_MAX + 32];
	_cleanup_fclose_ FILE *f = NULL;
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return kiln_err(errno, "sim CA: create %s: %s", tmp, strerror(errno));
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		rc = kiln_err(errno, "sim CA: fdopen: %s", strerror(errno));
		goto fail;
	}
	rc = fn(f, l);
	if (rc == 0 && (fflush(f) != 0 || fsync(fileno(f)) != 0))
		rc = kiln_err(errno, "sim CA: write %s: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, path) != 0)
		rc = kiln_err(errno, "sim CA: rename to %s: %s", path, strerror(errno));
	if (rc == 0)
		return 0;
fail:
	unlink(tmp);
	return rc;
}

static int save_level(const struct kiln_sim_ca *ca, unsigned i)
{
	char path[PATH_MAX];
	int rc = path_of(ca, level_names[i], ".key", path, sizeof(path));

	/* Key first: a crash in between leaves a key without a certificate, re-issued next time. */
	if (rc == 0)
		rc = write_atomic(path, 0600, write_key, &ca->lv[i]);
	if (rc == 0)
		rc = path_of(ca, level_names[i], ".pem", path, sizeof(path));
	if (rc == 0)
		rc = write_atomic(path, 0644, write_cert, &ca->lv[i]);
	return rc;
}

/* 0: loaded; -ENOENT: no certificate; other: unreadable or inconsistent. */
static int load_level(struct kiln_sim_ca *ca, unsigned i)
{
	char path[PATH_MAX];
	_cleanup_fclose_ FILE *cf = NULL;
	_cleanup_fclose_ FILE *kf = NULL;
	struct level *l = &ca->lv[i];
	int rc;

	level_clear(l);
	rc = path_of(ca, level_names[i], ".pem", path, sizeof(path));
	if (rc < 0)
		return rc;
	cf = fopen(path, "re");
	if (!cf)
		return errno == ENOENT ? -ENOENT : kiln_err(errno, "sim CA: %s: %s", path, strerror(errno));
	l->cert = PEM_read_X509(cf, NULL, NULL, NULL);
	rc = path_of(ca, level_names[i], ".key", path, sizeof(path));
	if (rc < 0)
		return rc;
	kf = fopen(path, "re");
	if (!kf)
		return kiln_err(errno, "sim CA: %s: %s", path, strerror(errno));
	l->key = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
	if (!l->cert || !l->key || X509_check_private_key(l->cert, l->key) != 1)
		return kiln_err(EBADMSG, "sim CA: %s.pem and %s.key are unreadable or do not match",
				level_names[i], level_names[i]);
	return set_der(l);
}

/* An intermediate must be re-issued when its parent did not sign it or it expires soon. */
static bool level_stale(const struct kiln_sim_ca *ca, unsigned i, int64_t now)
{
	const struct level *l = &ca->lv[i];

	if (X509_cmp_time(X509_get0_notAfter(l->cert), &(time_t){ (time_t)(now + RENEW_MARGIN) }) <= 0)
		return true;
	return X509_verify(l->cert, ca->lv[i - 1].key) != 1;
}

static int ensure_level(struct kiln_sim_ca *ca, unsigned i, int64_t now)
{
	char cn[96];
	int rc = load_level(ca, i);

	if (rc == 0 && (i == 0 || !level_stale(ca, i, now)))
		return 0;
	if (i == 0 && rc < 0 && rc != -ENOENT)
		return rc; /* never replace a root that exists: users pin it */
	if (i == 0) {
		char tag[17];

		random_hex(tag, 8);
		snprintf(cn, sizeof(cn), "kiln-sim-root-%s", tag);
	} else {
		char tag[17];

		random_hex(tag, 8);
		snprintf(cn, sizeof(cn), "%s.%s.sim.kiln-enclaves", tag, i == 1 ? "regional" : "zonal");
	}
	rc = issue(&ca->lv[i], i ? &ca->lv[i - 1] : NULL, cn, level_exts[i], now,
		   level_lifetime[i]);
	return rc < 0 ? rc : save_level(ca, i);
}

static int ensure_levels(struct kiln_sim_ca *ca, int64_t now)
{
	char path[PATH_MAX];
	_cleanup_close_ int lock = -1;
	int rc = path_of(ca, ".lock", "", path, sizeof(path));

	if (rc < 0)
		return rc;
	lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) != 0)
		return kiln_err(errno, "sim CA: lock %s: %s", path, strerror(errno));
	for (unsigned i = 0; rc == 0 && i < KILN_SIM_CA_LEVELS; i++)
		rc = ensure_level(ca, i, now);
	return rc;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return kiln_err(errno, "sim CA: mkdir %s: %s", path, strerror(errno));
}

int kiln_sim_ca_open(const char *state_dir, int64_t now_ms, struct kiln_sim_ca **out)
{
	struct kiln_sim_ca *ca;
	int rc;

	ca = calloc(1, sizeof(*ca));
	if (!ca)
		return kiln_err(ENOMEM, "out of memory");
	rc = kiln_sim_ca_root_path(state_dir, ca->dir, sizeof(ca->dir));
	if (rc == 0) {
		*strrchr(ca->dir, '/') = '\0';
		rc = make_dir(state_dir);
	}
	if (rc == 0)
		rc = make_dir(ca->dir);
	if (rc == 0)
		rc = ensure_levels(ca, now_ms / 1000);
	if (rc < 0) {
		kiln_sim_ca_free(ca);
		return rc;
	}
	*out = ca;
	return 0;
}

int kiln_sim_ca_refresh(struct kiln_sim_ca *ca, const char *cn, int64_t now_ms)
{
	int64_t now = now_ms / 1000;
	const struct level *last = &ca->lv[KILN_SIM_CA_LEVELS - 1];
	int rc;

	if (ca->leaf.cert && !strcmp(cn, ca->leaf_cn) && now >= ca->leaf_issued &&
	    now - ca->leaf_issued < LEAF_RENEW_AFTER)
		return 0;
	if (strlen(cn) >= sizeof(ca->leaf_cn))
		return kiln_err(EINVAL, "sim CA: leaf name too long");
	/* The intermediates must outlive the new leaf: re-read (and maybe renew) them. */
	if (X509_cmp_time(X509_get0_notAfter(last->cert),
			  &(time_t){ (time_t)(now + LEAF_LIFETIME) }) <= 0 ||
	    X509_cmp_time(X509_get0_notBefore(last->cert), &(time_t){ (time_t)now }) > 0) {
		rc = ensure_levels(ca, now);
		if (rc < 0)
			return rc;
	}
	rc = issue(&ca->leaf, last, cn, leaf_exts, now, LEAF_LIFETIME);
	if (rc < 0)
		return rc;
	ca->leaf_issued = now;
	snprintf(ca->leaf_cn, sizeof(ca->leaf_cn), "%s", cn);
	return 0;
}

void kiln_sim_ca_leaf_der(const struct kiln_sim_ca *ca, const uint8_t **der, size_t *len)
{
	*der = ca->leaf.der;
	*len = ca->leaf.der_len;
}

void kiln_sim_ca_der(const struct kiln_sim_ca *ca, unsigned i, const uint8_t **der, size_t *len)
{
	*der = i < KILN_SIM_CA_LEVELS ? ca->lv[i].der : NULL;
	*len = i < KILN_SIM_CA_LEVELS ? ca->lv[i].der_len : 0;
}

int kiln_sim_ca_sign(struct kiln_sim_ca *ca, const uint8_t *msg, size_t len, uint8_t sig[96])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char der[160];
	const unsigned char *p = der;
	size_t der_len = sizeof(der);
	ECDSA_SIG *es = NULL;
	const BIGNUM *r, *s;
	int rc = 0;

	if (!ca->leaf.key)
		return kiln_err(EINVAL, "sim CA: no leaf key");
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, ca->leaf.key) != 1 ||
	    EVP_DigestSign(md, der, &der_len, msg, len) != 1 ||
	    !(es = d2i_ECDSA_SIG(NULL, &p, (long)der_len))) {
		rc = ossl_err("ES384 signing");
		goto out;
	}
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, sig, 48) != 48 || BN_bn2binpad(s, sig + 48, 48) != 48)
		rc = ossl_err("converting the signature");
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	return rc;
}

int kiln_sim_ca_root_path(const char *state_dir, char *buf, size_t size)
{
	int n;

	if (!state_dir || !*state_dir)
		return kiln_err(EINVAL, "sim CA: no state directory");
	n = snprintf(buf, size, "%s/%s/root.pem", state_dir, KILN_SIM_CA_DIR);
	return n < 0 || (size_t)n >= size ? kiln_err(ENAMETOOLONG, "sim CA: path too long") : 0;
}
