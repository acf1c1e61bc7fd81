/* SPDX-License-Identifier: Apache-2.0 */
/* Encoding and bounds-checked decoding of segment records (see seg_record.h). */
#include <string.h>

#include "fs/seg_record.h"
#include "util/crc32.h"
#include "util/cursor.h"

static const uint8_t seg_magic[4] = { 'K', 'S', 'G', '1' };

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t hdr_crc(const uint8_t *hdr, const char *id, size_t idlen)
{
	return kiln_crc32(kiln_crc32(0, hdr, 16), id, idlen);
}

void kfs_seg_rec_encode(const struct kfs_seg_rec *r, uint8_t *out)
{
	memcpy(out, seg_magic, 4);
	out[4] = (uint8_t)r->kind;
	out[5] = (uint8_t)r->idlen;
	out[6] = out[7] = 0;
	put_be32(out + 8, r->len);
	put_be32(out + 12, r->data_crc);
	put_be32(out + 16, hdr_crc(out, r->id, r->idlen));
	memcpy(out + KFS_SEG_HDR, r->id, r->idlen);
}

void kfs_seg_mark_encode(uint64_t since, uint8_t out[KFS_SEG_MARK_LEN])
{
	put_be32(out, (uint32_t)(since >> 32));
	put_be32(out + 4, (uint32_t)since);
}

int kfs_seg_mark_decode(const uint8_t *buf, size_t len, uint64_t *since)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len);

	return len == KFS_SEG_MARK_LEN && kiln_cursor_be64(&c, since) == 0 ? 0 : -EBADMSG;
}

int kfs_seg_rec_decode(const uint8_t *buf, size_t len, struct kfs_seg_rec *r)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len);
	const uint8_t *magic, *id;
	uint8_t kind, idlen;
	uint16_t zero;
	uint32_t crc;

	if (len < KFS_SEG_HDR)
		return -EAGAIN;
	if (kiln_cursor_bytes(&c, 4, &magic) < 0 || kiln_cursor_u8(&c, &kind) < 0 ||
	    kiln_cursor_u8(&c, &idlen) < 0 || kiln_cursor_be16(&c, &zero) < 0 ||
	    kiln_cursor_be32(&c, &r->len) < 0 || kiln_cursor_be32(&c, &r->data_crc) < 0 ||
	    kiln_cursor_be32(&c, &crc) < 0)
		return -EAGAIN; /* not reached: len >= KFS_SEG_HDR */
	if (memcmp(magic, seg_magic, 4) || zero || (kind != KFS_SEG_PUT && kind != KFS_SEG_DEL))
		return kiln_err(EBADMSG, "segment record: bad magic or kind");
	if (idlen == 0 || idlen > KFS_ID_MAX)
		return kiln_err(EBADMSG, "segment record: id length %u out of range", idlen);
	if (kiln_cursor_bytes(&c, idlen, &id) < 0)
		return -EAGAIN;
	if (crc != hdr_crc(buf, (const char *)id, idlen))
		return kiln_err(EBADMSG, "segment record: header CRC mismatch");
	if (r->len > KFS_SEG_DATA_MAX || (kind == KFS_SEG_DEL && r->len))
		return kiln_err(EBADMSG, "segment record: data length %u out of range", r->len);
	if (kfs_id_check((const char *)id, idlen) < 0)
		return kiln_err(EBADMSG, "segment record: bad object id");
	memcpy(r->id, id, idlen);
	r->id[idlen] = '\0';
	r->idlen = idlen;
	r->kind = (enum kfs_seg_kind)kind;
	return 0;
}
