/* SPDX-License-Identifier: Apache-2.0 */
/* Streaming PCR0/1/2 computation shared by the EIF reader and writer. */
#ifndef KILN_EIF_MEASURE_H
#define KILN_EIF_MEASURE_H

#include <openssl/evp.h>
#include <stdbool.h>

#include "eif/eif.h"
#include "util/async_digest.h"

/*
 * Which sections feed which PCR (docs/architecture.md): kernel and cmdline go
 * to PCR0 and PCR1, ramdisk 0 to PCR0 and PCR1, later ramdisks to PCR0 and
 * PCR2; metadata and signature are not measured here.
 *
 * Until the first later ramdisk, everything measured fed PCR0 and PCR1
 * alike, so those bytes are hashed once, into ctx[0] only; the first later
 * ramdisk forks PCR1 off as a copy of ctx[0]'s state (eif_measure_begin).
 */
struct eif_measure {
	EVP_MD_CTX *ctx[3]; /* PCR0, PCR1, PCR2 */
	unsigned mask;      /* bit i: the current section feeds PCR i */
	unsigned ramdisks;  /* ramdisk sections seen so far */
	bool forked;        /* ctx[1] has its own state; until then PCR1's is ctx[0]'s */
	struct kiln_async_digest *async; /* hashes PCR1/PCR2 on a second core */
};

int eif_measure_init(struct eif_measure *m) KILN_MUST;
/*
 * Whether starting a section of this type forks PCR1 off ctx[0]: if so,
 * ctx[0] must hold every byte measured so far when eif_measure_begin runs
 * (the EIF writer waits for its hashing threads first).
 */
bool eif_measure_forks(const struct eif_measure *m, uint16_t type);
/* Start a section of the given type (selects the PCRs it feeds). */
int eif_measure_begin(struct eif_measure *m, uint16_t type) KILN_MUST;
/* Hash buf into the live PCRs and, when crc is not NULL, into *crc (on the worker). */
int eif_measure_update(struct eif_measure *m, const void *buf, size_t len, uLong *crc) KILN_MUST;
/* The contexts the current section feeds: PCR0's and PCR1's or PCR2's (either may be NULL). */
void eif_measure_route(const struct eif_measure *m, EVP_MD_CTX **pcr0, EVP_MD_CTX **other);
/* Wait until queued work is done: call before reading a CRC passed above. */
int eif_measure_sync(struct eif_measure *m) KILN_MUST;
/* PCR0/1/2 into pcrs (has_pcr8 untouched); m stays usable. */
int eif_measure_final(struct eif_measure *m, struct eif_pcrs *pcrs) KILN_MUST;
void eif_measure_free(struct eif_measure *m);

/* out = SHA384(48 zero bytes || SHA384(data)): a PCR extended once with data. */
int eif_pcr_of(const void *data, size_t len, uint8_t out[KILN_SHA384_LEN]) KILN_MUST;

#endif
