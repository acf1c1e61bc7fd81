/* SPDX-License-Identifier: Apache-2.0 */
/* EIF reader: header and section table checks, CRC-32 and PCRs in one pass. */
/*
 * How this works. The header (548 bytes) is parsed with the cursor. The
 * section table must describe sections laid back to back from offset 548 up
 * to exactly the end of the file; that is checked arithmetically before any
 * section is read, so a hostile table cannot send us anywhere. Then one
 * sequential pass reads every section header (which must agree with the
 * table) and its data in 1 MiB chunks, feeding zlib's CRC-32 and the PCR
 * hashes. The signature section is kept in memory (bounded) to derive PCR8,
 * but only once the CRC has matched.
 */
#include "eif/eif.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "eif/measure.h"
#include "eif/sign.h"
#include "util/cleanup.h"
#include "util/cursor.h"

#define READ_CHUNK (1u << 20)

/* Read exactly len bytes at off; a short file is "truncated". */
static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_err(errno, "EIF read failed: %s", strerror(errno));
		if (n == 0)
			return kiln_err(EBADMSG, "truncated: EIF ends at offset %llu",
					(unsigned long long)(off + got));
		got += (size_t)n;
	}
	return 0;
}

struct table {
	uint64_t offsets[EIF_MAX_SECTIONS];
	uint64_t sizes[EIF_MAX_SECTIONS];
};

static int parse_header(const uint8_t *hdr, struct eif_info *info, struct table *t)
{
	struct kiln_cursor c = kiln_cursor_make(hdr, EIF_HEADER_SIZE);
	const uint8_t *magic;
	uint16_t reserved;
	uint32_t unused;
	int rc;

	rc = kiln_cursor_bytes(&c, 4, &magic);
	if (rc == 0 && memcmp(magic, EIF_MAGIC, 4) != 0)
		return kiln_err(EBADMSG, "bad magic: not an EIF file");
	if (rc == 0)
		rc = kiln_cursor_be16(&c, &info->version);
	if (rc == 0 && info->version != EIF_VERSION)
		return kiln_err(ENOTSUP, "unsupported EIF version %u (kiln reads version %u)",
				info->version, EIF_VERSION);
	if (rc == 0)
		rc = kiln_cursor_be16(&c, &info->flags);
	if (rc == 0)
		rc = kiln_cursor_be64(&c, &info->default_mem);
	if (rc == 0)
		rc = kiln_cursor_be64(&c, &info->default_cpus);
	if (rc == 0)
		rc = kiln_cursor_be16(&c, &reserved);
	if (rc == 0)
		rc = kiln_cursor_be16(&c, &info->num_sections);
	for (int i = 0; rc == 0 && i < EIF_MAX_SECTIONS; i++)
		rc = kiln_cursor_be64(&c, &t->offsets[i]);
	for (int i = 0; rc == 0 && i < EIF_MAX_SECTIONS; i++)
		rc = kiln_cursor_be64(&c, &t->sizes[i]);
	if (rc == 0)
		rc = kiln_cursor_be32(&c, &unused);
	if (rc == 0)
		rc = kiln_cursor_be32(&c, &info->crc_stored);
	if (rc < 0)
		return rc;
	if (info->num_sections > EIF_MAX_SECTIONS)
		return kiln_err(EBADMSG, "too many sections: %u (at most %d)", info->num_sections,
				EIF_MAX_SECTIONS);
	for (int i = info->num_sections; i < EIF_MAX_SECTIONS; i++)
		if (t->offsets[i] || t->sizes[i])
			return kiln_err(EBADMSG, "section table entry %d set beyond num_sections %u",
					i, info->num_sections);
	return 0;
}

/* The table must tile [548, file_size) exactly with header+data sections. */
static int check_layout(const struct eif_info *info, const struct table *t)
{
	uint64_t expect = EIF_HEADER_SIZE;

	for (unsigned i = 0; i < info->num_sections; i++) {
		if (t->offsets[i] != expect)
			return kiln_err(EBADMSG,
					"section %u out of bounds: at offset %llu, expected %llu",
					i, (unsigned long long)t->offsets[i],
					(unsigned long long)expect);
		/* expect <= file_size holds here, so nothing below overflows */
		if (info->file_size - expect < EIF_SECTION_HEADER_SIZE ||
		    t->sizes[i] > info->file_size - expect - EIF_SECTION_HEADER_SIZE)
			return kiln_err(EBADMSG,
					"truncated: section %u out of bounds (%llu bytes at offset "
					"%llu in a %llu-byte file)",
					i, (unsigned long long)t->sizes[i],
					(unsigned long long)expect,
					(unsigned long long)info->file_size);
		expect += EIF_SECTION_HEADER_SIZE + t->sizes[i];
	}
	if (expect != info->file_size)
		return kiln_err(EBADMSG, "trailing garbage: %llu bytes after the last section",
				(unsigned long long)(info->file_size - expect));
	return 0;
}

static int check_section_header(unsigned i, const uint8_t *raw, const struct table *t,
				struct eif_section *s, unsigned *seen)
{
	struct kiln_cursor c = kiln_cursor_make(raw, EIF_SECTION_HEADER_SIZE);
	int rc = kiln_cursor_be16(&c, &s->type);

	if (rc == 0)
		rc = kiln_cursor_be16(&c, &s->flags);
	if (rc == 0)
		rc = kiln_cursor_be64(&c, &s->size);
	if (rc < 0)
		return rc;
	s->offset = t->offsets[i];
	if (s->type < EIF_SECTION_KERNEL || s->type > EIF_SECTION_METADATA)
		return kiln_err(EBADMSG, "section %u has invalid type %u", i, s->type);
	if (s->size != t->sizes[i])
		return kiln_err(EBADMSG, "section %u out of bounds: header says %llu bytes, table %llu",
				i, (unsigned long long)s->size, (unsigned long long)t->sizes[i]);
	if (s->type != EIF_SECTION_RAMDISK && (*seen & (1u << s->type)))
		return kiln_err(EBADMSG, "section %u: more than one section of type %u", i, s->type);
	if (s->type == EIF_SECTION_SIGNATURE && s->size > EIF_SIG_MAX)
		return kiln_err(EBADMSG, "section %u: signature section too large (%llu bytes)", i,
				(unsigned long long)s->size);
	*seen |= 1u << s->type;
	return 0;
}

struct pass {
	int fd;
	uint8_t *buf;
	uLong crc;
	struct eif_measure m;
	uint8_t *sig; /* the signature section's data, if any */
	size_t sig_len;
	bool measure; /* false: CRC only (the caller wants no PCRs) */
	bool layout_only; /* true: section headers only, no data, no CRC */
};

/* Stream one section's data through the CRC and the PCRs. */
static int stream_section(struct pass *p, const struct eif_section *s)
{
	uint64_t off = s->offset + EIF_SECTION_HEADER_SIZE, left = s->size;
	uint8_t *keep = NULL; /* where this section's data is kept, if it is */
	int rc;

	if (s->type == EIF_SECTION_SIGNATURE) {
		keep = p->sig = malloc(s->size ? (size_t)s->size : 1);
		if (!keep)
			return kiln_err(ENOMEM, "out of memory reading the signature section");
		p->sig_len = (size_t)s->size;
	}
	/* PCR0 is hashed on this thread, so it is current for a fork of PCR1. */
	rc = p->measure ? eif_measure_begin(&p->m, s->type) : 0;
	if (rc < 0)
		return rc;
	while (left) {
		size_t n = left < READ_CHUNK ? (size_t)left : READ_CHUNK;

		rc = pread_full(p->fd, p->buf, n, off);
		if (rc < 0)
			return rc;
		rc = eif_measure_update(&p->m, p->buf, n, &p->crc);
		if (rc < 0)
			return rc;
		if (keep)
			memcpy(keep + (s->size - left), p->buf, n);
		off += n;
		left -= n;
	}
	return 0;
}

static int read_sections(struct pass *p, struct eif_info *info, const struct table *t)
{
	uint8_t raw[EIF_SECTION_HEADER_SIZE];
	unsigned seen = 0;

	for (unsigned i = 0; i < info->num_sections; i++) {
		struct eif_section *s = &info->sections[i];
		int rc = pread_full(p->fd, raw, sizeof(raw), t->offsets[i]);

		if (rc == 0)
			rc = check_section_header(i, raw, t, s, &seen);
		if (rc < 0)
			return rc;
		if (p->layout_only)
			continue;
		/* Through the same queue as the data, so the CRC stays in file order. */
		if (kiln_async_digest_update(p->m.async, NULL, &p->crc, raw, sizeof(raw)) < 0)
			return kiln_err(EIO, "CRC update failed");
		rc = stream_section(p, s);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int read_info(int fd, struct eif_info *info, struct eif_pcrs *pcrs, bool layout_only)
{
	uint8_t hdr[EIF_HEADER_SIZE];
	struct pass p = { .fd = fd, .measure = pcrs != NULL, .layout_only = layout_only };
	struct table t;
	struct stat st;
	int rc;

	memset(info, 0, sizeof(*info));
	if (fstat(fd, &st) < 0)
		return kiln_err(errno, "cannot stat the EIF: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return kiln_err(EINVAL, "EIF is not a regular file");
	info->file_size = (uint64_t)st.st_size;
	if (info->file_size < EIF_HEADER_SIZE)
		return kiln_err(EBADMSG, "truncated: %llu bytes, an EIF header is %d",
				(unsigned long long)info->file_size, EIF_HEADER_SIZE);
	rc = pread_full(fd, hdr, sizeof(hdr), 0);
	if (rc == 0)
		rc = parse_header(hdr, info, &t);
	if (rc == 0)
		rc = check_layout(info, &t);
	if (rc < 0)
		return rc;

	if (layout_only) {
		/* Section headers only: no hashing thread, no data buffer. */
		rc = read_sections(&p, info, &t);
		goto out;
	}
	rc = eif_measure_init(&p.m);
	if (rc < 0)
		return rc;
	p.buf = malloc(READ_CHUNK);
	if (!p.buf) {
		rc = kiln_err(ENOMEM, "out of memory for the EIF read buffer");
		goto out;
	}
	p.crc = crc32(0L, hdr, EIF_CRC_OFFSET);
	rc = read_sections(&p, info, &t);
	if (rc == 0)
		rc = eif_measure_sync(&p.m);
	if (rc < 0)
		goto out;
	info->crc_computed = (uint32_t)p.crc;
	if (info->crc_computed != info->crc_stored) {
		rc = kiln_err(EBADMSG, "CRC mismatch: stored %08x computed %08x", info->crc_stored,
			      info->crc_computed);
		goto out;
	}
	if (pcrs) {
		memset(pcrs, 0, sizeof(*pcrs));
		rc = eif_measure_final(&p.m, pcrs);
		if (rc == 0 && p.sig) {
			rc = eif_sig_pcr8(p.sig, p.sig_len, pcrs->pcr8);
			pcrs->has_pcr8 = rc == 0;
		}
	}
out:
	free(p.sig);
	free(p.buf);
	eif_measure_free(&p.m);
	return rc;
}

int eif_read_info(int fd, struct eif_info *info, struct eif_pcrs *pcrs)
{
	return read_info(fd, info, pcrs, false);
}

int eif_read_layout(int fd, struct eif_info *info)
{
	return read_info(fd, info, NULL, true);
}

int eif_read_section(int fd, const struct eif_info *info, unsigned i, uint8_t **data,
		     size_t max_len)
{
	const struct eif_section *s;
	_cleanup_free_ uint8_t *buf = NULL;
	int rc;

	if (i >= info->num_sections)
		return kiln_err(EINVAL, "no section %u (the EIF has %u)", i, info->num_sections);
	s = &info->sections[i];
	if (s->size > max_len || s->size >= SIZE_MAX)
		return kiln_err(E2BIG, "section %u is %llu bytes, more than %zu", i,
				(unsigned long long)s->size, max_len);
	buf = malloc((size_t)s->size + 1);
	if (!buf)
		return kiln_err(ENOMEM, "out of memory reading section %u", i);
	rc = pread_full(fd, buf, (size_t)s->size, s->offset + EIF_SECTION_HEADER_SIZE);
	if (rc < 0)
		return rc;
	buf[s->size] = '\0';
	*data = KILN_STEAL_PTR(buf);
	return 0;
}
