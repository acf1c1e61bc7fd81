/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's secrets: kiln.yaml secrets[] decrypted by KMS for this enclave, before the app starts. */
#ifndef KILN_INIT_SECRETS_H
#define KILN_INIT_SECRETS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "init/config.h"
#include "init/user.h"
#include "util/err.h"

/*
 * How this works (docs/secrets.md): one fresh RSA-2048 key, one attestation
 * document naming its public key, then every secret's Decrypt with that
 * Recipient, in parallel on up to kms.connections keep-alive TLS
 * connections; each CiphertextForRecipient is opened here, so the parent
 * (which carries the bytes) never sees a plaintext. Values go to the app's
 * environment or to files on a tmpfs (mode, owner); kiln-init's own copies
 * are wiped once the app is forked (kiln_init_secrets_forked). A required
 * secret that fails stops the boot: the error names it and the reason.
 */

/* Produce an attestation document whose public_key is spki (DER). */
typedef int (*kiln_secrets_attest_fn)(void *ctx, const uint8_t *spki, size_t spki_len,
				      uint8_t **doc, size_t *doc_len);

struct kiln_init_secrets;

/*
 * Called first thing: when config has secrets, start making the RSA key in
 * a background thread, so that it overlaps the rest of the boot.
 */
void kiln_init_secrets_prepare(const json_t *config);

/*
 * Decrypt config's secrets[] and apply them to cfg->env (re-read cfg->env
 * afterwards: it may move) and to files. app_user owns files by default.
 * *out (may stay NULL when there are no secrets) keeps the env copies until
 * kiln_init_secrets_forked(). Returns < 0 for a required secret's failure.
 */
int kiln_init_secrets_run(const json_t *config, kiln_secrets_attest_fn attest, void *ctx,
			  const struct kiln_user *app_user, struct kiln_init_config *cfg,
			  struct kiln_init_secrets **out) KILN_MUST;
/* The NSM (/dev/nsm, or the sim's behind chan_dir) as the attest function; ctx is chan_dir. */
int kiln_init_secrets_nsm_attest(void *ctx, const uint8_t *spki, size_t spki_len,
				 uint8_t **doc, size_t *doc_len);
/* The config's kms: block as a client (storage's key: kms too); *conns: kms.connections. */
struct aws_creds_src;
struct aws_kms;
int kiln_init_kms_new(const json_t *kms, struct aws_creds_src *creds, struct aws_kms **k,
		      int *conns) KILN_MUST;
/*
 * The boot's one KMS recipient: an RSA key (made early by
 * kiln_init_secrets_prepare) and an attestation document naming it, made at
 * the first call (key: kms volumes, then secrets) and shared; wiped by
 * kiln_init_kms_recipient_done(), which kiln_init_secrets_run calls.
 */
struct aws_kms_recipient;
int kiln_init_kms_recipient(kiln_secrets_attest_fn attest, void *ctx,
			    const struct aws_kms_recipient **out) KILN_MUST;
void kiln_init_kms_recipient_done(void);
/* In kiln-init after the app's fork: wipe kiln-init's copies of env values. */
void kiln_init_secrets_forked(void *secrets);

#endif
