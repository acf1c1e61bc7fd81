/* SPDX-License-Identifier: Apache-2.0 */
/* NFSv4.2 extended attributes (RFC 8276): GETXATTR, SETXATTR, LISTXATTRS, REMOVEXATTR on user.* */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "nfs/internal.h"

/*
 * The protocol carries the user namespace only, without its "user."
 * prefix (RFC 8276 5): the core stores the full name, so the prefix is
 * added on the way in and listings keep only user.* names, stripped.
 */
#define PREFIX "user."
#define PREFIX_LEN 5

/* An xattrkey4 into "user.<key>". */
static uint32_t xa_name(struct xdr_in *x, char out[KFS_XATTR_NAME_MAX + 1])
{
	const uint8_t *p;
	uint32_t n;

	uint32_t st = nfs_opaque_name(x, KFS_XATTR_NAME_MAX - PREFIX_LEN, &p, &n);
	if (st != NFS4_OK)
		return st;
	memcpy(out, PREFIX, PREFIX_LEN);
	memcpy(out + PREFIX_LEN, p, n);
	out[PREFIX_LEN + n] = '\0';
	return NFS4_OK;
}

static uint32_t xa_errno(int rc)
{
	switch (-rc) {
	case ENODATA:
		return NFS4ERR_NOXATTR;
	case E2BIG:
	case ERANGE:
		return NFS4ERR_XATTR2BIG;
	default:
		return nfs_errno(rc);
	}
}

/* The current file, which the caller may read (want: XAREAD, XALIST) or write xattrs of. */
static uint32_t xa_file(struct nfs_cx *cx, uint32_t want, struct kfs_attr *a)
{
	NEED_CUR(cx);
	uint32_t st = nfs_getattr_cur(cx, a);
	if (st != NFS4_OK)
		return st;
	/* as Linux: user xattrs live on files and directories only */
	if (!S_ISREG(a->mode) && !S_ISDIR(a->mode))
		return want == ACCESS4_XAWRITE ? NFS4ERR_PERM : NFS4ERR_NOXATTR;
	return nfs_access(cx->cred, a, want) == want ? NFS4_OK : NFS4ERR_ACCESS;
}

uint32_t nfs_op_getxattr(struct nfs_cx *cx)
{
	char name[KFS_XATTR_NAME_MAX + 1];
	struct kfs_attr a;

	uint32_t st = xa_name(cx->in, name);
	if (st != NFS4_OK)
		return st;
	if ((st = xa_file(cx, ACCESS4_XAREAD, &a)) != NFS4_OK)
		return st;
	size_t at = xdr_reserve(cx->out);
	uint8_t *val = xdr_put_space(cx->out, KFS_XATTR_VALUE_MAX);
	if (!val)
		return NFS4ERR_RESOURCE;
	ssize_t n = kfs_getxattr(cx->s->fs, cx->cur, name, val, KFS_XATTR_VALUE_MAX);
	if (n < 0)
		return xa_errno((int)n);
	xdr_opaque_trim(cx->out, at, (size_t)n);
	return NFS4_OK;
}

static uint32_t xa_change(struct nfs_cx *cx, int rc, uint64_t before)
{
	struct kfs_attr a;

	if (rc < 0)
		return xa_errno(rc);
	uint32_t st = nfs_getattr_cur(cx, &a);
	nfs_change(cx->out, cx->s, before, st == NFS4_OK ? nfs_change_of(cx->s, &a) : before);
	return NFS4_OK;
}

uint32_t nfs_op_setxattr(struct nfs_cx *cx)
{
	char name[KFS_XATTR_NAME_MAX + 1];
	struct kfs_attr a;
	const uint8_t *val;
	uint32_t len;

	uint32_t how = xdr_u32(cx->in);
	uint32_t st = xa_name(cx->in, name);
	xdr_opaque_ref(cx->in, NFS_MAX_RECORD, &val, &len);
	if (!xdr_ok(cx->in) || st == NFS4ERR_BADXDR || how > SETXATTR4_REPLACE)
		return NFS4ERR_BADXDR;
	if (st != NFS4_OK)
		return st;
	if ((st = xa_file(cx, ACCESS4_XAWRITE, &a)) != NFS4_OK)
		return st;
	if (len > KFS_XATTR_VALUE_MAX)
		return NFS4ERR_XATTR2BIG;
	int flags = how == SETXATTR4_CREATE ? XATTR_CREATE : how == SETXATTR4_REPLACE ? XATTR_REPLACE : 0;
	return xa_change(cx, kfs_setxattr(cx->s->fs, cx->cur, name, val, len, flags), nfs_change_of(cx->s, &a));
}

uint32_t nfs_op_removexattr(struct nfs_cx *cx)
{
	char name[KFS_XATTR_NAME_MAX + 1];
	struct kfs_attr a;

	uint32_t st = xa_name(cx->in, name);
	if (st != NFS4_OK)
		return st;
	if ((st = xa_file(cx, ACCESS4_XAWRITE, &a)) != NFS4_OK)
		return st;
	return xa_change(cx, kfs_removexattr(cx->s->fs, cx->cur, name), nfs_change_of(cx->s, &a));
}

/*
 * The cookie counts user.* names already returned; maxcount bounds the
 * whole result (cookie, names, eof), TOOSMALL when not even one name fits.
 */
static uint32_t list_put(struct nfs_cx *cx, const char *names, size_t len, uint64_t cookie,
			 uint32_t maxcount)
{
	struct xdr_out *o = cx->out;
	size_t cookie_at = o->len, used = 8 + 4 + 4;
	uint64_t idx = 0, sent = 0;
	bool eof = true;

	xdr_put_u64(o, 0);
	size_t count_at = xdr_reserve(o);
	for (size_t off = 0; off < len; off += strlen(names + off) + 1) {
		const char *n = names + off;
		if (strncmp(n, PREFIX, PREFIX_LEN) || !n[PREFIX_LEN])
			continue;
		if (idx++ < cookie)
			continue;
		size_t nl = strlen(n) - PREFIX_LEN, cost = 4 + ((nl + 3) & ~(size_t)3);
		if (used + cost > maxcount) {
			eof = false;
			break;
		}
		xdr_put_opaque(o, n + PREFIX_LEN, nl);
		used += cost;
		sent++;
	}
	if (!eof && sent == 0)
		return NFS4ERR_TOOSMALL;
	if (cookie > idx)
		return NFS4ERR_BAD_COOKIE;
	uint64_t next = cookie + sent;
	for (int i = 0; i < 8; i++)
		o->buf[cookie_at + i] = (uint8_t)(next >> (56 - 8 * i));
	xdr_patch_u32(o, count_at, (uint32_t)sent);
	xdr_put_u32(o, eof);
	return o->err ? NFS4ERR_RESOURCE : NFS4_OK;
}

uint32_t nfs_op_listxattrs(struct nfs_cx *cx)
{
	struct kfs_attr a;

	uint64_t cookie = xdr_u64(cx->in);
	uint32_t maxcount = xdr_u32(cx->in);
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	uint32_t st = xa_file(cx, ACCESS4_XALIST, &a);
	if (st != NFS4_OK)
		return st == NFS4ERR_NOXATTR ? list_put(cx, "", 0, cookie, maxcount) : st;
	ssize_t n = kfs_listxattr(cx->s->fs, cx->cur, NULL, 0);
	if (n < 0)
		return nfs_errno((int)n);
	char *names = malloc((size_t)n + 1);
	if (!names)
		return NFS4ERR_RESOURCE;
	ssize_t got = kfs_listxattr(cx->s->fs, cx->cur, names, (size_t)n);
	st = got < 0 ? nfs_errno((int)got) : list_put(cx, names, (size_t)got, cookie, maxcount);
	free(names);
	return st;
}
