/* SPDX-License-Identifier: Apache-2.0 */
/* EIF signature section (nitro-cli format): build, parse, verify. */
#ifndef KILN_EIF_SIGN_H
#define KILN_EIF_SIGN_H

#include <openssl/x509.h>

#include "eif/eif.h"

/* Largest signature section / PEM file kiln reads. */
#define EIF_SIG_MAX (1u << 20)

/* COSE algorithm identifiers (RFC 8152 section 8.1). */
#define EIF_COSE_ES256 (-7)
#define EIF_COSE_ES384 (-35)
#define EIF_COSE_ES512 (-36)

/*
 * Build the signature section for an image whose PCR0 is pcr0, signing with
 * the EC private key in key_pem_path (P-256, P-384 or P-521) and embedding
 * the PEM certificate file cert_pem_path as is. The key must match the
 * certificate. Returns the section bytes (malloc'd) and PCR8.
 */
int eif_sig_build(const char *key_pem_path, const char *cert_pem_path,
		  const uint8_t pcr0[KILN_SHA384_LEN], uint8_t **section, size_t *len,
		  uint8_t pcr8[KILN_SHA384_LEN]) KILN_MUST;

/* PCR8 of a signature section: extend(DER of its first signing certificate). */
int eif_sig_pcr8(const uint8_t *section, size_t len, uint8_t pcr8[KILN_SHA384_LEN]) KILN_MUST;

/*
 * Verify a signature section: the COSE_Sign1 signature checks with the
 * certificate's public key, its algorithm matches the key's curve, and its
 * payload is {register_index: 0, register_value: pcr0}. On success and when
 * cert is not NULL, *cert is the signing certificate (caller frees).
 */
int eif_sig_verify(const uint8_t *section, size_t len, const uint8_t pcr0[KILN_SHA384_LEN],
		   X509 **cert) KILN_MUST;

/*
 * Verify the signature section of an EIF read with eif_read_info(); -ENOENT
 * ("EIF is not signed") when it has none.
 */
int eif_verify_signature(int fd, const struct eif_info *info, const struct eif_pcrs *pcrs,
			 X509 **cert) KILN_MUST;

#endif
