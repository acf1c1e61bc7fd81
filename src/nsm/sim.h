/* SPDX-License-Identifier: Apache-2.0 */
/* The sim NSM: answers NSM requests with Nitro semantics and real-format, sim-CA-signed documents. */
#ifndef KILN_NSM_SIM_H
#define KILN_NSM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsm/nsm.h"
#include "util/err.h"

/*
 * State: 32 SHA-384 PCRs with lock flags, a module_id and a sim CA.
 * - PCR0/1/2 (and PCR8 for signed EIFs) are the EIF's values; zeros when no
 *   EIF PCRs are given (what a debug-mode enclave reports).
 * - PCR3 = SHA-384(48 zero bytes || role ARN) and PCR4 = SHA-384(48 zero
 *   bytes || instance ID), Nitro's "IAM role" and "parent instance ID"
 *   registers (the PCR4 formula matches the real documents in
 *   fixtures/attestation). In sim the instance ID is "i-" + 17 hex digits of
 *   SHA-256("kiln-sim-instance:" || /etc/machine-id) and the role is
 *   "arn:aws:iam::000000000000:role/kiln-sim@HOSTNAME"; both can be given.
 * - module_id = instance ID + "-enc" + 16 hex digits (random per sim NSM).
 * - PCR0-15 are locked from the start: ExtendPCR on them is ReadOnlyIndex.
 *   PCR16-31 extend as SHA-384(old || data) until locked (LockPCR, or
 *   LockPCRs range locking 0..range-1); then ExtendPCR is ReadOnlyIndex.
 *   An index >= 32 (or range > 32) is InvalidIndex.
 * - Attestation: user_data and nonce up to 512 bytes, public_key 1..1024
 *   (InputTooLarge / InvalidArgument otherwise). The payload has the locked
 *   PCRs (0..15 unless more were locked), as the nsm-api documents.
 * - GetRandom returns 256 bytes from the host RNG; DescribeNSM says version
 *   1.0.0, max_pcrs 32, digest SHA384.
 * - Malformed requests are answered {"Error": "InvalidArgument"}.
 */

#define KILN_SIM_NSM_PCRS 32
#define KILN_SIM_NSM_PCR_LEN 48
#define KILN_SIM_NSM_RANDOM_LEN 256

struct eif_pcrs;
struct kiln_nsm_sim;

struct kiln_nsm_sim_opts {
	const struct eif_pcrs *pcrs;	/* NULL: PCR0/1/2/8 zero */
	const char *state_dir;		/* required: the CA lives in STATE_DIR/sim-ca */
	const char *instance_id;	/* NULL: derived from the machine id */
	const char *role_arn;		/* NULL: derived from the host name */
	const char *enclave_id;		/* NULL: random; 16 hex digits otherwise */
	int64_t (*clock_ms)(void);	/* NULL: wall clock (Unix ms); tests move time */
	/* Why a request got InternalError (the enclave only sees the code, as from a
	 * real NSM): a CA that cannot be loaded, signing failures. NULL: not said. */
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;
};

int kiln_nsm_sim_new(const struct kiln_nsm_sim_opts *o, struct kiln_nsm_sim **out) KILN_MUST;
void kiln_nsm_sim_free(struct kiln_nsm_sim *s);
const char *kiln_nsm_sim_module_id(const struct kiln_nsm_sim *s);

/*
 * Answer one request (untrusted bytes). Bad requests get an Error response,
 * so this fails only when no response can be built (out of memory, signing
 * failed), and then the channel should be closed. *resp is free()d by the caller.
 */
int kiln_nsm_sim_handle(struct kiln_nsm_sim *s, const uint8_t *req, size_t len, uint8_t **resp,
			size_t *resp_len) KILN_MUST;
/*
 * Serve one stream connection (kiln_nsm_stream_* framing) until the peer
 * closes it (0) or a framing error or timeout (< 0: close the fd). The fd
 * stays the caller's. The connection may idle between requests; once a
 * request starts, timeout_ms bounds reading it and writing the answer.
 */
int kiln_nsm_sim_serve(struct kiln_nsm_sim *s, int fd, int timeout_ms) KILN_MUST;
/* A client whose transport calls s directly (tests, in-process use); s must outlive it. */
int kiln_nsm_sim_client(struct kiln_nsm_sim *s, struct kiln_nsm **out) KILN_MUST;

/*
 * The sim CA, one per machine in STATE_DIR/sim-ca: root.pem/root.key (30
 * years), int1.pem/int1.key and int2.pem/int2.key (30 and 7 days, re-issued
 * with a fresh key when less than a day is left), all P-384 / ecdsa-with-
 * SHA384 with the extensions of the real Nitro chain (basicConstraints
 * critical with pathlen on CAs, keyUsage, key identifiers). Keys are written
 * 0600 and every file atomically (temporary file, fsync, rename) under an
 * flock on sim-ca/.lock. The leaf (3 hours, CA:FALSE, digitalSignature and
 * nonRepudiation) lives in memory only and is re-issued when older than 2.5
 * hours. Documents carry cabundle = [root, int1, int2].
 */
#define KILN_SIM_CA_DIR "sim-ca"
#define KILN_SIM_CA_LEVELS 3 /* root and two intermediates */

struct kiln_sim_ca;

int kiln_sim_ca_open(const char *state_dir, int64_t now_ms, struct kiln_sim_ca **out) KILN_MUST;
void kiln_sim_ca_free(struct kiln_sim_ca *ca);
/* Make sure a leaf for subject CN cn is valid for at least 30 more minutes at now_ms. */
int kiln_sim_ca_refresh(struct kiln_sim_ca *ca, const char *cn, int64_t now_ms) KILN_MUST;
/* DER of the leaf, and of level i (0 root .. KILN_SIM_CA_LEVELS-1). */
void kiln_sim_ca_leaf_der(const struct kiln_sim_ca *ca, const uint8_t **der, size_t *len);
void kiln_sim_ca_der(const struct kiln_sim_ca *ca, unsigned i, const uint8_t **der, size_t *len);
/* ES384 over msg with the leaf key: r || s, 48 bytes each. */
int kiln_sim_ca_sign(struct kiln_sim_ca *ca, const uint8_t *msg, size_t len,
		     uint8_t sig[96]) KILN_MUST;
/* Path of the root certificate (what `kiln attest verify --root` takes) into buf. */
int kiln_sim_ca_root_path(const char *state_dir, char *buf, size_t size) KILN_MUST;

#endif
