/* SPDX-License-Identifier: Apache-2.0 */
/* dev-kms TLS: its own CA in the state dir and a fresh server certificate per start. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devkms/devkms.h"

/*
 * How this works: STATE_DIR/ca.pem and STATE_DIR/ca-key.pem (0600) are
 * created on the first start (EC P-256, 10 years) and reused afterwards,
 * so clients configured with ca.pem keep working across restarts. Each
 * start issues a new server certificate (1 year) for the listen host and
 * localhost, 127.0.0.1 and ::1, with the extensions strict verifiers
 * (Python's ssl, OpenSSL's X509_V_FLAG_X509_STRICT) insist on.
 */

static EVP_PKEY *new_ec_key(void)
{
	return EVP_EC_gen("P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	int ok = ext && X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -EIO;
}

static X509 *new_cert(const char *cn, EVP_PKEY *pub, long days)
{
	X509 *x = X509_new();
	BIGNUM *bn = BN_new();
	X509_NAME *name = X509_get_subject_name(x);

	if (!x || !bn || !BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || !X509_set_version(x, 2) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), days * 86400) || !X509_set_pubkey(x, pub) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0)) {
		X509_free(x);
		x = NULL;
	}
	BN_free(bn);
	return x;
}

static int write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, key ? 0600 : 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	int ok = f && (cert ? PEM_write_X509(f, cert) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
	if (f)
		ok &= fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (f)
		ok &= fclose(f) == 0;
	else if (fd >= 0)
		close(fd);
	return ok ? 0 : kiln_err(EIO, "writing %s failed", path);
}

static int make_ca(const char *dir, X509 **ca, EVP_PKEY **key)
{
	char cpath[PATH_MAX + 32], kpath[PATH_MAX + 32], tmp[PATH_MAX + 40];
	snprintf(cpath, sizeof(cpath), "%s/ca.pem", dir);
	snprintf(kpath, sizeof(kpath), "%s/ca-key.pem", dir);
	*key = new_ec_key();
	*ca = *key ? new_cert("kiln dev-kms CA", *key, 3650) : NULL;
	int rc = *ca ? 0 : -EIO;
	X509_set_issuer_name(*ca, X509_get_subject_name(*ca));
	if (rc == 0)
		rc = add_ext(*ca, *ca, NID_basic_constraints, "critical,CA:TRUE") ||
		     add_ext(*ca, *ca, NID_key_usage, "critical,keyCertSign,cRLSign") ||
		     add_ext(*ca, *ca, NID_subject_key_identifier, "hash") ||
		     add_ext(*ca, *ca, NID_authority_key_identifier, "keyid:always") ? -EIO : 0;
	if (rc == 0 && !X509_sign(*ca, *key, EVP_sha256()))
		rc = -EIO;
	if (rc < 0)
		return kiln_err(EIO, "creating the dev-kms CA failed");
	/* The key first: a ca.pem without its key would be useless. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", kpath);
	rc = write_pem(tmp, NULL, *key);
	if (rc == 0 && rename(tmp, kpath) < 0)
		rc = kiln_err(errno, "rename %s: %m", kpath);
	snprintf(tmp, sizeof(tmp), "%s.tmp", cpath);
	if (rc == 0)
		rc = write_pem(tmp, *ca, NULL);
	if (rc == 0 && rename(tmp, cpath) < 0)
		rc = kiln_err(errno, "rename %s: %m", cpath);
	return rc;
}

static int load_ca(const char *dir, X509 **ca, EVP_PKEY **key)
{
	char cpath[PATH_MAX + 32], kpath[PATH_MAX + 32];
	snprintf(cpath, sizeof(cpath), "%s/ca.pem", dir);
	snprintf(kpath, sizeof(kpath), "%s/ca-key.pem", dir);
	if (access(cpath, F_OK) < 0 || access(kpath, F_OK) < 0)
		return make_ca(dir, ca, key);
	FILE *cf = fopen(cpath, "re"), *kf = fopen(kpath, "re");
	*ca = cf ? PEM_read_X509(cf, NULL, NULL, NULL) : NULL;
	*key = kf ? PEM_read_PrivateKey(kf, NULL, NULL, NULL) : NULL;
	if (cf)
		fclose(cf);
	if (kf)
		fclose(kf);
	if (!*ca || !*key || X509_check_private_key(*ca, *key) != 1)
		return kiln_err(EINVAL, "%s and %s do not form a CA (remove both to start anew)", cpath, kpath);
	return 0;
}

static int issue_server(X509 *ca, EVP_PKEY *ca_key, const char *host, X509 **cert, EVP_PKEY **key)
{
	char san[600];
	struct in6_addr a6;
	bool ip = inet_pton(AF_INET, host, &a6) == 1 || inet_pton(AF_INET6, host, &a6) == 1;

	if (strlen(host) > 255)
		return kiln_err(EINVAL, "listen host too long");
	snprintf(san, sizeof(san), "%s:%s,DNS:localhost,IP:127.0.0.1,IP:::1", ip ? "IP" : "DNS", host);
	*key = new_ec_key();
	*cert = *key ? new_cert(host, *key, 365) : NULL;
	int rc = *cert && X509_set_issuer_name(*cert, X509_get_subject_name(ca)) ? 0 : -EIO;
	if (rc == 0)
		rc = add_ext(*cert, ca, NID_basic_constraints, "critical,CA:FALSE") ||
		     add_ext(*cert, ca, NID_key_usage, "critical,digitalSignature") ||
		     add_ext(*cert, ca, NID_ext_key_usage, "serverAuth") ||
		     add_ext(*cert, ca, NID_subject_alt_name, san) ||
		     add_ext(*cert, ca, NID_subject_key_identifier, "hash") ||
		     add_ext(*cert, ca, NID_authority_key_identifier, "keyid:always") ? -EIO : 0;
	if (rc == 0 && !X509_sign(*cert, ca_key, EVP_sha256()))
		rc = -EIO;
	return rc < 0 ? kiln_err(EIO, "issuing the server certificate for %s failed", host) : 0;
}

int kiln_devkms_tls_ctx(const char *state_dir, const char *host, struct ssl_ctx_st **out)
{
	X509 *ca = NULL, *cert = NULL;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	SSL_CTX *ctx = NULL;
	int rc = load_ca(state_dir, &ca, &ca_key);

	if (rc == 0)
		rc = issue_server(ca, ca_key, host, &cert, &key);
	if (rc == 0) {
		ctx = SSL_CTX_new(TLS_server_method());
		if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
		    SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
		    SSL_CTX_add1_chain_cert(ctx, ca) != 1)
			rc = kiln_err(EIO, "setting up TLS failed");
	}
	if (rc == 0) {
		SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
		*out = ctx;
		ctx = NULL;
	}
	SSL_CTX_free(ctx);
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	return rc;
}
