/* SPDX-License-Identifier: Apache-2.0 */
/* The EIF writer's output path: buffers filled in place, hashed on two threads, written in order. */
#ifndef KILN_EIF_PIPE_H
#define KILN_EIF_PIPE_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "util/err.h"

/*
 * Bytes go into a ring of buffers that the caller fills in place (file data
 * is pread straight into them). A full buffer is sealed: each of two worker
 * threads feeds it to its digest context (PCR0 on one, PCR1 or PCR2 on the
 * other), while the caller folds it into the CRC-32 (the bytes are still in
 * its cache) and writes it to the file. A buffer is refilled once both
 * workers are done with it, so no byte is copied between threads and no
 * hash waits on I/O. Whatever route (contexts, CRC) is set when bytes are
 * added is what they feed; a route change seals the open buffer.
 */
struct eif_pipe;

int eif_pipe_new(int fd, struct eif_pipe **out) KILN_MUST;
/* Following bytes feed a (worker 1), b (worker 2) and *crc; any may be NULL. */
int eif_pipe_route(struct eif_pipe *p, EVP_MD_CTX *a, EVP_MD_CTX *b, uLong *crc) KILN_MUST;
/* Room in the open buffer (never 0): fill up to *avail bytes, then eif_pipe_advance. */
int eif_pipe_space(struct eif_pipe *p, uint8_t **dst, size_t *avail) KILN_MUST;
void eif_pipe_advance(struct eif_pipe *p, size_t n);
int eif_pipe_write(struct eif_pipe *p, const void *buf, size_t len) KILN_MUST;
/* Bytes written to the file so far; the open buffer holds those after them. */
uint64_t eif_pipe_written(const struct eif_pipe *p);
/* The open buffer (for patching bytes not yet written). */
uint8_t *eif_pipe_open_buf(struct eif_pipe *p, size_t *len);
/* Write out the open buffer. CRCs are final after this. */
int eif_pipe_flush(struct eif_pipe *p) KILN_MUST;
/* Flush, then wait until both workers are idle: digests are final after this. */
int eif_pipe_sync(struct eif_pipe *p) KILN_MUST;
void eif_pipe_free(struct eif_pipe *p);

#endif
