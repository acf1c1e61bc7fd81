/* SPDX-License-Identifier: Apache-2.0 */
/* EIF v4 (aws-nitro-enclaves-image-format): constants, reader and PCRs. */
#ifndef KILN_EIF_EIF_H
#define KILN_EIF_EIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define EIF_MAGIC "\x2e\x65\x69\x66" /* ".eif" */
#define EIF_VERSION 4
#define EIF_HEADER_SIZE 548
#define EIF_CRC_OFFSET 544
#define EIF_MAX_SECTIONS 32
#define EIF_SECTION_HEADER_SIZE 12
#define EIF_FLAG_ARM64 1

enum eif_section_type {
	EIF_SECTION_INVALID = 0,
	EIF_SECTION_KERNEL = 1,
	EIF_SECTION_CMDLINE = 2,
	EIF_SECTION_RAMDISK = 3,
	EIF_SECTION_SIGNATURE = 4,
	EIF_SECTION_METADATA = 5,
};

#define KILN_SHA384_LEN 48

struct eif_section {
	uint16_t type;
	uint16_t flags;
	uint64_t offset; /* of the section header in the file */
	uint64_t size;   /* of the data */
};

struct eif_info {
	uint16_t version;
	uint16_t flags;
	uint64_t default_mem;
	uint64_t default_cpus;
	uint16_t num_sections;
	struct eif_section sections[EIF_MAX_SECTIONS];
	uint32_t crc_stored;
	uint32_t crc_computed;
	uint64_t file_size;
};

/* PCR values of an EIF; has_pcr8 only for signed EIFs. */
struct eif_pcrs {
	uint8_t pcr0[KILN_SHA384_LEN];
	uint8_t pcr1[KILN_SHA384_LEN];
	uint8_t pcr2[KILN_SHA384_LEN];
	uint8_t pcr8[KILN_SHA384_LEN];
	bool has_pcr8;
};

/*
 * Read and validate an EIF: magic, version, section table in bounds and
 * back to back, section types known, CRC-32 over the whole file; and
 * compute its PCRs in the same pass. Fails with the reason (bad magic, CRC
 * mismatch, section out of bounds, truncated).
 */
int eif_read_info(int fd, struct eif_info *info, struct eif_pcrs *pcrs) KILN_MUST;

/*
 * Only the structural checks of eif_read_info (header, section table,
 * bounds): no data read, no CRC (crc_computed stays 0), no PCRs.
 */
int eif_read_layout(int fd, struct eif_info *info) KILN_MUST;

/*
 * eif_read_info with memory: a full check that passed is recorded in
 * cache_dir under the file's identity (device, inode, size, mtime, ctime);
 * while the file is unchanged, later calls check only the layout and take
 * the CRC and PCRs from the record. pcrs may be NULL. Returns 1 when the
 * record answered (the bytes are those fully checked before), 0 after a
 * full check.
 */
int eif_read_info_cached(int fd, const char *cache_dir, struct eif_info *info,
			 struct eif_pcrs *pcrs) KILN_MUST;

/* Copy section i's data into a fresh buffer, NUL-terminated (for small sections:
 * cmdline, metadata, signature); more than max_len bytes is an error. */
int eif_read_section(int fd, const struct eif_info *info, unsigned i, uint8_t **data,
		     size_t max_len) KILN_MUST;

/* The nitro-cli measurement JSON {"Measurements": {...}} as a malloc'd string. */
char *eif_measurements_json(const struct eif_pcrs *pcrs);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void kiln_hex(const uint8_t *in, size_t n, char *out);

#endif
