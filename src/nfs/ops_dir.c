/* SPDX-License-Identifier: Apache-2.0 */
/* NFSv4 directory operations: CREATE, REMOVE, RENAME, LINK, READLINK, READDIR. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nfs/internal.h"

/* Change attribute of a directory, for change_info4 (0 when it cannot be read). */
static uint64_t dir_change(struct nfs_cx *cx, uint64_t dir)
{
	struct kfs_attr a;

	return kfs_getattr(cx->s->fs, dir, &a) < 0 ? 0 : nfs_change_of(cx->s, &a);
}

/* Apply the attributes a create carried that the core's create did not take. */
static uint32_t create_attrs(struct nfs_cx *cx, uint64_t ino, struct nfs_sattr *sa)
{
	struct kfs_attr out;
	unsigned rest = sa->mask & ~(unsigned)KFS_SET_MODE;

	if (!rest)
		return NFS4_OK;
	return nfs_errno(kfs_setattr(cx->s->fs, ino, rest, &sa->a, &out));
}

uint32_t nfs_op_create(struct nfs_cx *cx)
{
	struct xdr_in *x = cx->in;
	char name[KFS_NAME_MAX + 1], target[KFS_SYMLINK_MAX + 1];
	struct nfs_sattr sa;
	struct kfs_attr a;
	uint32_t type = xdr_u32(x), st, ast;

	if (type == NF4LNK) {
		xdr_string(x, target, KFS_SYMLINK_MAX);
	} else if (type == NF4BLK || type == NF4CHR) {
		(void)xdr_u32(x);
		(void)xdr_u32(x);
	}
	if (!xdr_ok(x))
		return NFS4ERR_BADXDR;
	st = nfs_name(x, name);
	if (st == NFS4ERR_BADXDR)
		return st;
	ast = nfs_sattr_get(x, &sa);
	if (ast == NFS4ERR_BADXDR)
		return ast;
	uint32_t dst = nfs_cur_dir(cx);
	if (dst != NFS4_OK)
		return dst;
	if (st != NFS4_OK)
		return st;
	if (ast != NFS4_OK)
		return ast;
	if (type == NF4LNK && !target[0])
		return NFS4ERR_INVAL;
	uint32_t mode = (sa.mask & KFS_SET_MODE) ? sa.a.mode : 0777;
	uint32_t uid = cx->cred->uid, gid = cx->cred->gid;
	uint64_t dir = cx->cur, before = dir_change(cx, dir);
	int rc;
	switch (type) {
	case NF4DIR:
		rc = kfs_mkdir(cx->s->fs, dir, name, S_IFDIR | (mode & 07777), uid, gid, &a);
		break;
	case NF4LNK:
		rc = kfs_symlink(cx->s->fs, dir, name, target, uid, gid, &a);
		break;
	case NF4REG:
		return NFS4ERR_BADTYPE; /* regular files are made by OPEN */
	case NF4BLK:
	case NF4CHR:
	case NF4SOCK:
	case NF4FIFO:
		return NFS4ERR_NOTSUPP; /* the core keeps no special files */
	default:
		return NFS4ERR_BADTYPE;
	}
	if (rc < 0)
		return nfs_errno(rc);
	cx->cur = a.ino;
	st = create_attrs(cx, a.ino, &sa);
	nfs_change(cx->out, cx->s, before, dir_change(cx, dir));
	nfs_bitmap_put(cx->out, st == NFS4_OK ? sa.set : (uint32_t[NFS_BITMAP_WORDS]){ 0 });
	return NFS4_OK;
}

uint32_t nfs_op_remove(struct nfs_cx *cx)
{
	char name[KFS_NAME_MAX + 1];
	struct kfs_attr a;

	uint32_t st = nfs_dir_name(cx, name);
	if (st != NFS4_OK)
		return st;
	uint64_t before = dir_change(cx, cx->cur);
	int rc = kfs_lookup(cx->s->fs, cx->cur, name, &a);
	if (rc == 0)
		rc = S_ISDIR(a.mode) ? kfs_rmdir(cx->s->fs, cx->cur, name)
				     : kfs_unlink(cx->s->fs, cx->cur, name);
	if (rc < 0)
		return nfs_errno(rc);
	nfs_change(cx->out, cx->s, before, dir_change(cx, cx->cur));
	return NFS4_OK;
}

uint32_t nfs_op_rename(struct nfs_cx *cx)
{
	char oname[KFS_NAME_MAX + 1], nname[KFS_NAME_MAX + 1];

	uint32_t ost = nfs_name(cx->in, oname);
	if (ost == NFS4ERR_BADXDR)
		return ost;
	uint32_t nst = nfs_name(cx->in, nname);
	if (nst == NFS4ERR_BADXDR)
		return nst;
	if (!cx->saved)
		return NFS4ERR_NOFILEHANDLE;
	uint32_t st = nfs_cur_dir(cx);
	if (st != NFS4_OK)
		return st;
	uint64_t odir = cx->saved, ndir = cx->cur;
	cx->cur = odir; /* check the saved one is a directory too */
	st = nfs_cur_dir(cx);
	cx->cur = ndir;
	if (st != NFS4_OK)
		return st;
	if (ost != NFS4_OK)
		return ost;
	if (nst != NFS4_OK)
		return nst;
	uint64_t ob = dir_change(cx, odir), nb = dir_change(cx, ndir);
	st = nfs_errno(kfs_rename(cx->s->fs, odir, oname, ndir, nname, 0));
	if (st != NFS4_OK)
		return st;
	nfs_change(cx->out, cx->s, ob, dir_change(cx, odir));
	nfs_change(cx->out, cx->s, nb, dir_change(cx, ndir));
	return NFS4_OK;
}

uint32_t nfs_op_link(struct nfs_cx *cx)
{
	char name[KFS_NAME_MAX + 1];
	struct kfs_attr a;

	uint32_t st = nfs_name(cx->in, name);
	if (st == NFS4ERR_BADXDR)
		return st;
	if (!cx->saved)
		return NFS4ERR_NOFILEHANDLE;
	uint32_t dst = nfs_cur_dir(cx);
	if (dst != NFS4_OK)
		return dst;
	if (st != NFS4_OK)
		return st;
	if (kfs_getattr(cx->s->fs, cx->saved, &a) == 0 && S_ISDIR(a.mode))
		return NFS4ERR_ISDIR;
	uint64_t before = dir_change(cx, cx->cur);
	st = nfs_errno(kfs_link(cx->s->fs, cx->saved, cx->cur, name, &a));
	if (st != NFS4_OK)
		return st;
	nfs_change(cx->out, cx->s, before, dir_change(cx, cx->cur));
	return NFS4_OK;
}

uint32_t nfs_op_readlink(struct nfs_cx *cx)
{
	char buf[KFS_SYMLINK_MAX + 1];
	struct kfs_attr a;

	NEED_CUR(cx);
	uint32_t st = nfs_getattr_cur(cx, &a);
	if (st != NFS4_OK)
		return st;
	if (!S_ISLNK(a.mode))
		return S_ISDIR(a.mode) ? NFS4ERR_ISDIR : NFS4ERR_INVAL;
	int rc = kfs_readlink(cx->s->fs, cx->cur, buf, sizeof(buf));
	if (rc < 0)
		return nfs_errno(rc);
	buf[sizeof(buf) - 1] = '\0';
	xdr_put_string(cx->out, buf);
	return NFS4_OK;
}

struct rd_ent {
	char *name;
	uint64_t ino, cookie;
};

struct rd_list {
	struct rd_ent *e;
	size_t n, max;
	bool more; /* the core had entries past the last one collected */
};

static int rd_fill(void *ctx, const char *name, uint64_t ino, uint32_t mode, uint64_t cookie)
{
	struct rd_list *l = ctx;

	if (l->n == l->max) {
		l->more = true;
		return 1;
	}
	char *d = strdup(name);
	if (!d)
		return -ENOMEM;
	l->e[l->n++] = (struct rd_ent){ d, ino, cookie };
	return 0;
}

static void rd_free(struct rd_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].name);
	free(l->e);
}

/* One entry4, or false when it does not fit in maxcount (then nothing is added). */
static bool rd_entry(struct nfs_cx *cx, const struct rd_ent *e, const uint32_t req[],
		     bool want_err, size_t limit, uint32_t *fatal)
{
	struct xdr_out *o = cx->out;
	struct kfs_attr a = { .ino = e->ino };
	size_t start = o->len;
	uint32_t err = nfs_errno(kfs_getattr(cx->s->fs, e->ino, &a));

	if (err != NFS4_OK && !want_err) {
		*fatal = err; /* no rdattr_error asked for: the whole READDIR fails */
		return false;
	}
	xdr_put_u32(o, 1); /* value_follows */
	xdr_put_u64(o, e->cookie);
	xdr_put_string(o, e->name);
	if (err != NFS4_OK) {
		uint32_t only[NFS_BITMAP_WORDS] = { 1u << FA_RDATTR_ERROR };
		a.ino = e->ino;
		(void)nfs_attr_put(cx->s, &a, only, err, o);
	} else {
		(void)nfs_attr_put(cx->s, &a, req, 0, o);
	}
	if (o->err || o->len - start > limit) {
		o->err = false;
		o->len = start;
		return false;
	}
	return true;
}

uint32_t nfs_op_readdir(struct nfs_cx *cx)
{
	struct xdr_in *x = cx->in;
	uint32_t req[NFS_BITMAP_WORDS], fatal = NFS4_OK;
	uint8_t verf[NFS4_VERIFIER_SIZE];
	uint64_t cookie = xdr_u64(x);

	xdr_fixed(x, verf, sizeof(verf));
	(void)xdr_u32(x); /* dircount: a hint */
	uint32_t maxcount = xdr_u32(x);
	nfs_bitmap_get(x, req);
	if (!xdr_ok(x))
		return NFS4ERR_BADXDR;
	uint32_t st = nfs_cur_dir(cx);
	if (st != NFS4_OK)
		return st;
	if (cookie == 1 || cookie == 2)
		return NFS4ERR_BAD_COOKIE; /* reserved values (RFC 7530 16.24.4) */
	/* the fixed part: verifier, the final value_follows, eof */
	if (maxcount < 8 + 4 + 4 + 40)
		return NFS4ERR_TOOSMALL;
	struct rd_list l = { .max = maxcount / 24 + 1 };
	if (l.max > 4096)
		l.max = 4096;
	l.e = calloc(l.max, sizeof(*l.e));
	if (!l.e)
		return NFS4ERR_RESOURCE;
	int rc = kfs_readdir(cx->s->fs, cx->cur, cookie, rd_fill, &l);
	if (rc < 0) {
		rd_free(&l);
		return nfs_errno(rc);
	}
	bool want_err = req[0] & (1u << FA_RDATTR_ERROR);
	size_t budget = maxcount - 16, used = 0, i;
	memset(verf, 0, sizeof(verf)); /* cookies are stable: no verifier needed */
	xdr_put_fixed(cx->out, verf, sizeof(verf));
	for (i = 0; i < l.n; i++) {
		size_t before = cx->out->len;
		if (!rd_entry(cx, &l.e[i], req, want_err, budget - used, &fatal))
			break;
		used += cx->out->len - before;
	}
	bool eof = i == l.n && !l.more;
	size_t got = i;
	rd_free(&l);
	if (fatal != NFS4_OK)
		return fatal;
	if (got == 0 && !eof)
		return NFS4ERR_TOOSMALL;
	xdr_put_u32(cx->out, 0);
	xdr_put_u32(cx->out, eof);
	return NFS4_OK;
}
