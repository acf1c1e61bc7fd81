/* SPDX-License-Identifier: Apache-2.0 */
/* NFSv4 operations on the current and saved filehandles: PUTFH to LOOKUPP, SECINFO. */
#include <string.h>
#include <sys/stat.h>

#include "nfs/internal.h"

uint32_t nfs_op_putfh(struct nfs_cx *cx)
{
	const uint8_t *fh;
	uint32_t len;
	uint64_t ino;

	xdr_opaque_ref(cx->in, NFS4_FHSIZE, &fh, &len);
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	uint32_t st = nfs_fh_check(cx->s, fh, len, &ino);
	if (st != NFS4_OK)
		return st;
	cx->cur = ino;
	return NFS4_OK;
}

uint32_t nfs_op_putrootfh(struct nfs_cx *cx)
{
	cx->cur = KFS_ROOT_INO;
	return NFS4_OK;
}

uint32_t nfs_op_getfh(struct nfs_cx *cx)
{
	uint8_t fh[NFS_FH_LEN];

	NEED_CUR(cx);
	nfs_fh_make(cx->s, cx->cur, fh);
	xdr_put_opaque(cx->out, fh, sizeof(fh));
	return NFS4_OK;
}

uint32_t nfs_op_savefh(struct nfs_cx *cx)
{
	NEED_CUR(cx);
	cx->saved = cx->cur;
	return NFS4_OK;
}

uint32_t nfs_op_restorefh(struct nfs_cx *cx)
{
	if (!cx->saved)
		return NFS4ERR_RESTOREFH;
	cx->cur = cx->saved;
	return NFS4_OK;
}

/* The current filehandle must be a directory (SYMLINK/NOTDIR otherwise, RFC 7530 16.15). */
uint32_t nfs_cur_dir(struct nfs_cx *cx)
{
	struct kfs_attr a;

	NEED_CUR(cx);
	uint32_t st = nfs_getattr_cur(cx, &a);
	if (st != NFS4_OK)
		return st;
	if (S_ISLNK(a.mode))
		return NFS4ERR_SYMLINK;
	if (!S_ISDIR(a.mode))
		return NFS4ERR_NOTDIR;
	return NFS4_OK;
}

/*
 * An operation's name argument in the current directory, in RFC 7530's
 * order of errors: undecodable XDR first, then the current filehandle
 * (NOFILEHANDLE, SYMLINK, NOTDIR), then the name itself (INVAL, NAMETOOLONG).
 */
uint32_t nfs_dir_name(struct nfs_cx *cx, char name[KFS_NAME_MAX + 1])
{
	uint32_t st = nfs_name(cx->in, name), dst;

	if (st == NFS4ERR_BADXDR)
		return st;
	dst = nfs_cur_dir(cx);
	return dst != NFS4_OK ? dst : st;
}

uint32_t nfs_op_lookup(struct nfs_cx *cx)
{
	char name[KFS_NAME_MAX + 1];
	struct kfs_attr a;

	uint32_t st = nfs_dir_name(cx, name);
	if (st != NFS4_OK)
		return st;
	st = nfs_errno(kfs_lookup(cx->s->fs, cx->cur, name, &a));
	if (st == NFS4_OK)
		cx->cur = a.ino;
	return st;
}

uint32_t nfs_op_lookupp(struct nfs_cx *cx)
{
	uint64_t parent;

	uint32_t st = nfs_cur_dir(cx);
	if (st != NFS4_OK)
		return st;
	if (cx->cur == KFS_ROOT_INO)
		return NFS4ERR_NOENT;
	st = nfs_errno(kfs_parent(cx->s->fs, cx->cur, &parent));
	if (st == NFS4_OK)
		cx->cur = parent;
	return st;
}

uint32_t nfs_op_secinfo(struct nfs_cx *cx)
{
	char name[KFS_NAME_MAX + 1];
	struct kfs_attr a;

	uint32_t st = nfs_dir_name(cx, name);
	if (st != NFS4_OK)
		return st;
	st = nfs_errno(kfs_lookup(cx->s->fs, cx->cur, name, &a));
	if (st != NFS4_OK)
		return st;
	xdr_put_u32(cx->out, 1);
	xdr_put_u32(cx->out, RPC_AUTH_SYS);
	cx->cur = 0; /* SECINFO consumes the current filehandle (RFC 7530 16.31.4) */
	return NFS4_OK;
}
