/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal CBOR encoder (RFC 8949, definite lengths) for EIF signatures. */
#ifndef KILN_EIF_CBOR_OUT_H
#define KILN_EIF_CBOR_OUT_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/*
 * A growable output buffer with a sticky error: encoders never fail
 * individually, cbor_out_error() reports the first allocation failure once
 * the whole item is written. Heads are always encoded in their shortest form,
 * which is what serde_cbor and ciborium (nitro-cli) write.
 */
struct cbor_out {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int err;
};

void cbor_out_uint(struct cbor_out *o, uint64_t v);
/* A negative integer -1 - n (major type 1); cbor_out_int picks the major type. */
void cbor_out_int(struct cbor_out *o, int64_t v);
void cbor_out_bytes(struct cbor_out *o, const void *p, size_t n);
void cbor_out_text(struct cbor_out *o, const char *s);
void cbor_out_array(struct cbor_out *o, uint64_t n);
void cbor_out_map(struct cbor_out *o, uint64_t n);
/* A byte string the way serde serializes Vec<u8>: an array of small uints. */
void cbor_out_u8_array(struct cbor_out *o, const uint8_t *p, size_t n);

/* 0 or the first error (with a message). */
int cbor_out_error(const struct cbor_out *o) KILN_MUST;
/* Hand the buffer to the caller (resets o). */
uint8_t *cbor_out_steal(struct cbor_out *o, size_t *len);
void cbor_out_free(struct cbor_out *o);

#endif
