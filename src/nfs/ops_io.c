/* SPDX-License-Identifier: Apache-2.0 */
/* NFSv4 data operations: READ, WRITE, COMMIT. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nfs/internal.h"

/* I/O needs a regular file (ISDIR for a directory, INVAL for anything else). */
static uint32_t cur_file(struct nfs_cx *cx)
{
	struct kfs_attr a;

	NEED_CUR(cx);
	uint32_t st = nfs_getattr_cur(cx, &a);
	if (st != NFS4_OK)
		return st;
	if (S_ISDIR(a.mode))
		return NFS4ERR_ISDIR;
	if (S_ISLNK(a.mode))
		return NFS4ERR_INVAL;
	if (!S_ISREG(a.mode))
		return NFS4ERR_INVAL;
	return NFS4_OK;
}

void nfs_srv_group(struct nfs_srv *s, bool on)
{
	s->group = on;
	s->owed = false;
}

bool nfs_srv_owed(struct nfs_srv *s)
{
	bool owed = s->owed;

	s->owed = false;
	return owed;
}

/*
 * A 4.1 slot caches its reply when the COMPOUND ends: after a failed grouped
 * commit, held replies saying "durable" sit in the session's slots, and a
 * resent call would get one back. Forget them all: a retry then gets
 * RETRY_UNCACHED_REP (the client fails the call) instead of a false promise.
 */
static void forget_replies(struct nfs_srv *s)
{
	for (uint32_t i = 0; s->sess && i < NFS_SLOTS; i++) {
		free(s->sess->slots[i].reply);
		s->sess->slots[i].reply = NULL;
		s->sess->slots[i].reply_len = 0;
	}
}

int nfs_srv_commit(struct nfs_srv *s)
{
	int rc = kfs_synced(s->fs) ? 0 : kfs_sync(s->fs);

	s->group_failed = rc < 0;
	if (rc < 0 && s->group)
		forget_replies(s);
	return rc;
}

/*
 * What a stable WRITE or a COMMIT promises: the file's data and metadata
 * durable. The core's commit is volume wide and atomic, so an encrypted
 * volume with nothing uncommitted has nothing to do (the client's COMMIT after stable
 * writes, a COMMIT of a file already committed in the background).
 * Grouped, the commit is owed: the loop holds the reply until it is done.
 */
static uint32_t durable(struct nfs_cx *cx)
{
	struct nfs_srv *s = cx->s;

	if (kfs_synced(s->fs))
		return NFS4_OK;
	if (s->group && !s->group_failed) {
		s->owed = true;
		return NFS4_OK;
	}
	int rc = nfs_srv_commit(s);
	return rc < 0 ? nfs_errno(rc) : NFS4_OK;
}

uint32_t nfs_op_read(struct nfs_cx *cx)
{
	struct nfs_sid sid;
	struct kfs_attr a;

	nfs_stateid_get(cx->in, &sid);
	uint64_t off = xdr_u64(cx->in);
	uint32_t count = xdr_u32(cx->in);
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	uint32_t st = cur_file(cx);
	if (st == NFS4_OK)
		st = nfs_stateid_io(cx->s, &sid, cx->cur, OPEN4_SHARE_ACCESS_READ);
	if (st != NFS4_OK)
		return st;
	if (count > NFS_MAX_IO)
		count = NFS_MAX_IO;
	size_t eofat = xdr_reserve(cx->out);
	size_t lenat = xdr_reserve(cx->out);
	uint8_t *p = xdr_put_space(cx->out, count);
	if (!p)
		return NFS4ERR_RESOURCE;
	ssize_t n = kfs_read(cx->s->fs, cx->cur, off, p, count);
	if (n < 0)
		return nfs_errno((int)n);
	xdr_opaque_trim(cx->out, lenat, (size_t)n); /* to what was read */
	bool eof = (size_t)n < count;
	if (!eof && kfs_getattr(cx->s->fs, cx->cur, &a) == 0)
		eof = off + (uint64_t)n >= a.size;
	xdr_patch_u32(cx->out, eofat, eof);
	return NFS4_OK;
}

uint32_t nfs_op_write(struct nfs_cx *cx)
{
	struct nfs_sid sid;
	const uint8_t *data;
	uint32_t len;

	nfs_stateid_get(cx->in, &sid);
	uint64_t off = xdr_u64(cx->in);
	uint32_t stable = xdr_u32(cx->in);
	xdr_opaque_ref(cx->in, NFS_MAX_RECORD, &data, &len);
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	if (stable > FILE_SYNC4)
		return NFS4ERR_INVAL;
	uint32_t st = cur_file(cx);
	if (st == NFS4_OK)
		st = nfs_stateid_io(cx->s, &sid, cx->cur, OPEN4_SHARE_ACCESS_WRITE);
	if (st != NFS4_OK)
		return st;
	if (off + len < off)
		return NFS4ERR_INVAL;
	if (off + len > KFS_MAX_FILE)
		return NFS4ERR_FBIG;
	ssize_t n = len ? kfs_write(cx->s->fs, cx->cur, off, data, len) : 0;
	if (n < 0)
		return nfs_errno((int)n);
	if (stable != UNSTABLE4 && (st = durable(cx)) != NFS4_OK)
		return st;
	xdr_put_u32(cx->out, (uint32_t)n);
	xdr_put_u32(cx->out, stable == UNSTABLE4 ? UNSTABLE4 : FILE_SYNC4);
	xdr_put_fixed(cx->out, cx->s->writeverf, sizeof(cx->s->writeverf));
	return NFS4_OK;
}

uint32_t nfs_op_commit(struct nfs_cx *cx)
{
	uint64_t off = xdr_u64(cx->in);
	uint32_t count = xdr_u32(cx->in);

	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	(void)count;
	uint32_t st = cur_file(cx);
	if (st != NFS4_OK)
		return st;
	if (off + count < off)
		return NFS4ERR_INVAL;
	st = durable(cx);
	if (st != NFS4_OK)
		return st;
	xdr_put_fixed(cx->out, cx->s->writeverf, sizeof(cx->s->writeverf));
	return NFS4_OK;
}
