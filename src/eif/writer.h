/* SPDX-License-Identifier: Apache-2.0 */
/* Streaming EIF writer: sections in, CRC and PCRs on the fly, atomic publish. */
#ifndef KILN_EIF_WRITER_H
#define KILN_EIF_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "eif/eif.h"

struct eif_writer;

/*
 * Start an EIF that will appear at out_path only when committed. The data
 * goes to an unnamed file (O_TMPFILE) in out_path's directory, or when the
 * filesystem lacks it, to a hidden temporary name removed on failure.
 */
int eif_writer_open(const char *out_path, struct eif_writer **w) KILN_MUST;

/*
 * Stream one section: begin, any number of writes, end. The section is
 * measured by type: kernel, cmdline and the first ramdisk into PCR0 and
 * PCR1, later ramdisks into PCR0 and PCR2, metadata not at all. Sections
 * follow nitro-cli's order: kernel, cmdline, metadata, ramdisks.
 */
int eif_writer_begin(struct eif_writer *w, enum eif_section_type type) KILN_MUST;
int eif_writer_write(struct eif_writer *w, const void *buf, size_t len) KILN_MUST;
int eif_writer_end(struct eif_writer *w) KILN_MUST;
/* len bytes at off in fd, read straight into the writer's buffers. */
int eif_writer_write_fd(struct eif_writer *w, int fd, uint64_t off, uint64_t len) KILN_MUST;
/* One whole section from memory. */
int eif_writer_section(struct eif_writer *w, enum eif_section_type type, const void *buf,
		       size_t len) KILN_MUST;
/* eif_writer_write as an output callback (arg is the writer), e.g. for cpio. */
int eif_writer_out(const void *buf, size_t len, void *arg) KILN_MUST;
/* eif_writer_write_fd as an output callback (arg is the writer), e.g. for cpio. */
int eif_writer_out_fd(int fd, uint64_t off, uint64_t len, void *arg) KILN_MUST;

/*
 * Sign PCR0 of the sections written so far (nitro-cli's signature section)
 * with an EC key and its PEM certificate; no section may follow.
 */
int eif_writer_sign(struct eif_writer *w, const char *key_pem_path,
		    const char *cert_pem_path) KILN_MUST;

/*
 * Write the header and CRC, fsync, and atomically put the file at out_path
 * (replacing any file there). pcrs (may be NULL) receives the measurements.
 */
int eif_writer_commit(struct eif_writer *w, uint64_t default_mem, uint64_t default_cpus,
		      uint16_t flags, struct eif_pcrs *pcrs) KILN_MUST;

/* Free the writer; when not committed, nothing is left on disk. NULL is fine. */
void eif_writer_free(struct eif_writer *w);

static inline void eif_writer_freep(struct eif_writer **w)
{
	eif_writer_free(*w);
}
#define _cleanup_eif_writer_ __attribute__((cleanup(eif_writer_freep)))

#endif
