/* SPDX-License-Identifier: Apache-2.0 */
/* fattr4: encoding the attributes the client asks for, decoding the ones it sets, ACCESS. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "nfs/internal.h"

#define BIT(n) (1u << ((n) % 32))
#define HAS(bm, n) ((bm)[(n) / 32] & BIT(n))

static const uint8_t supported_list[] = {
	FA_SUPPORTED_ATTRS, FA_TYPE, FA_FH_EXPIRE_TYPE, FA_CHANGE, FA_SIZE, FA_LINK_SUPPORT,
	FA_SYMLINK_SUPPORT, FA_NAMED_ATTR, FA_FSID, FA_UNIQUE_HANDLES, FA_LEASE_TIME,
	FA_RDATTR_ERROR, FA_ACLSUPPORT, FA_CANSETTIME, FA_CASE_INSENSITIVE,
	FA_CASE_PRESERVING, FA_CHOWN_RESTRICTED, FA_FILEHANDLE, FA_FILEID, FA_FILES_AVAIL,
	FA_FILES_FREE, FA_FILES_TOTAL, FA_HOMOGENEOUS, FA_MAXFILESIZE, FA_MAXLINK,
	FA_MAXNAME, FA_MAXREAD, FA_MAXWRITE, FA_MODE, FA_NO_TRUNC, FA_NUMLINKS, FA_OWNER,
	FA_OWNER_GROUP, FA_RAWDEV, FA_SPACE_AVAIL, FA_SPACE_FREE, FA_SPACE_TOTAL,
	FA_SPACE_USED, FA_TIME_ACCESS, FA_TIME_ACCESS_SET, FA_TIME_DELTA, FA_TIME_METADATA,
	FA_TIME_MODIFY, FA_TIME_MODIFY_SET, FA_MOUNTED_ON_FILEID, FA_SUPPATTR_EXCLCREAT,
	FA_XATTR_SUPPORT,
};

static void supported(uint32_t bm[NFS_BITMAP_WORDS])
{
	memset(bm, 0, NFS_BITMAP_WORDS * 4);
	for (size_t i = 0; i < sizeof(supported_list); i++)
		bm[supported_list[i] / 32] |= BIT(supported_list[i]);
}

void nfs_bitmap_get(struct xdr_in *x, uint32_t bm[NFS_BITMAP_WORDS])
{
	uint32_t n = xdr_u32(x);

	memset(bm, 0, NFS_BITMAP_WORDS * 4);
	if (n > 8) {
		xdr_fail(x);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t w = xdr_u32(x);
		if (i < NFS_BITMAP_WORDS)
			bm[i] = w; /* later words: attributes nobody supports, not returned */
	}
}

void nfs_bitmap_put(struct xdr_out *o, const uint32_t bm[NFS_BITMAP_WORDS])
{
	uint32_t n = NFS_BITMAP_WORDS;

	while (n && !bm[n - 1])
		n--;
	xdr_put_u32(o, n);
	for (uint32_t i = 0; i < n; i++)
		xdr_put_u32(o, bm[i]);
}

static uint32_t ftype(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return NF4REG;
	case S_IFDIR: return NF4DIR;
	case S_IFLNK: return NF4LNK;
	case S_IFBLK: return NF4BLK;
	case S_IFCHR: return NF4CHR;
	case S_IFSOCK: return NF4SOCK;
	case S_IFIFO: return NF4FIFO;
	default: return NF4REG;
	}
}

static void put_time(struct xdr_out *o, int64_t ns)
{
	int64_t sec = ns / 1000000000, rem = ns % 1000000000;

	if (rem < 0) {
		sec--;
		rem += 1000000000;
	}
	xdr_put_u64(o, (uint64_t)sec);
	xdr_put_u32(o, (uint32_t)rem);
}

static void put_id(struct xdr_out *o, uint32_t id)
{
	char b[16];

	snprintf(b, sizeof(b), "%u", id);
	xdr_put_string(o, b);
}

/*
 * ctime moves on every change of content or metadata the core makes. A
 * plain volume's times are the host's, whose clock may tick coarser than
 * two writes of the parent: its size and mtime go in too (the client only
 * compares for equality: no change_attr_type is announced).
 */
static uint64_t mix(uint64_t x)
{
	x = (x ^ (x >> 31)) * 0x9E3779B97F4A7C15ull;
	return x ^ (x >> 29);
}

uint64_t nfs_change_of(const struct nfs_srv *s, const struct kfs_attr *a)
{
	if (!s->plain)
		return (uint64_t)a->ctime_ns;
	/* one after the other: a write sets ctime and mtime alike, which must not cancel out */
	return mix(mix(mix((uint64_t)a->ctime_ns) ^ (uint64_t)a->mtime_ns) ^ a->size);
}

/* One attribute's value; false when it is not one we encode. */
static bool put_one(struct nfs_srv *s, const struct kfs_attr *a, unsigned n, uint32_t rderr,
		    struct xdr_out *o)
{
	uint32_t bm[NFS_BITMAP_WORDS];
	uint8_t fh[NFS_FH_LEN];
	struct kfs_statfs sf = { 0 };

	switch (n) {
	case FA_SUPPORTED_ATTRS: supported(bm); nfs_bitmap_put(o, bm); break;
	case FA_TYPE: xdr_put_u32(o, ftype(a->mode)); break;
	case FA_FH_EXPIRE_TYPE: xdr_put_u32(o, 0); break; /* FH4_PERSISTENT */
	case FA_CHANGE: xdr_put_u64(o, nfs_change_of(s, a)); break;
	case FA_SIZE: xdr_put_u64(o, a->size); break;
	case FA_LINK_SUPPORT:
	case FA_SYMLINK_SUPPORT:
	case FA_UNIQUE_HANDLES:
	case FA_CANSETTIME:
	case FA_CASE_PRESERVING:
	case FA_CHOWN_RESTRICTED:
	case FA_HOMOGENEOUS:
	case FA_NO_TRUNC:
		xdr_put_u32(o, 1);
		break;
	case FA_NAMED_ATTR:
	case FA_CASE_INSENSITIVE:
		xdr_put_u32(o, 0);
		break;
	case FA_FSID:
		xdr_put_fixed(o, s->volid, 16); /* major and minor: the volume id */
		break;
	case FA_LEASE_TIME: xdr_put_u32(o, NFS_LEASE); break;
	case FA_RDATTR_ERROR: xdr_put_u32(o, rderr); break;
	case FA_ACLSUPPORT: xdr_put_u32(o, 0); break;
	case FA_FILEHANDLE:
		nfs_fh_make(s, a->ino, fh);
		xdr_put_opaque(o, fh, sizeof(fh));
		break;
	case FA_FILEID:
	case FA_MOUNTED_ON_FILEID:
		xdr_put_u64(o, a->ino);
		break;
	case FA_FILES_AVAIL:
	case FA_FILES_FREE:
		xdr_put_u64(o, (1ull << 40));
		break;
	case FA_FILES_TOTAL:
		if (kfs_statfs(s->fs, &sf) < 0)
			sf.inodes = sf.bytes = 0;
		xdr_put_u64(o, sf.inodes + (1ull << 40));
		break;
	case FA_MAXFILESIZE: xdr_put_u64(o, KFS_MAX_FILE); break;
	case FA_MAXLINK: xdr_put_u32(o, 65000); break;
	case FA_MAXNAME: xdr_put_u32(o, KFS_NAME_MAX); break;
	case FA_MAXREAD:
	case FA_MAXWRITE:
		xdr_put_u64(o, NFS_MAX_IO);
		break;
	case FA_MODE: xdr_put_u32(o, a->mode & 07777); break;
	case FA_NUMLINKS: xdr_put_u32(o, a->nlink); break;
	case FA_OWNER: put_id(o, a->uid); break;
	case FA_OWNER_GROUP: put_id(o, a->gid); break;
	case FA_RAWDEV: xdr_put_u64(o, 0); break;
	case FA_SPACE_AVAIL:
	case FA_SPACE_FREE:
		xdr_put_u64(o, 1ull << 50); /* the store on the parent decides; no figure here */
		break;
	case FA_SPACE_TOTAL:
		if (kfs_statfs(s->fs, &sf) < 0)
			sf.inodes = sf.bytes = 0;
		xdr_put_u64(o, sf.bytes + (1ull << 50));
		break;
	case FA_SPACE_USED: xdr_put_u64(o, (a->size + 4095) & ~4095ull); break;
	case FA_TIME_ACCESS: put_time(o, a->atime_ns); break;
	case FA_TIME_DELTA: put_time(o, 1); break;
	case FA_TIME_METADATA: put_time(o, a->ctime_ns); break;
	case FA_TIME_MODIFY: put_time(o, a->mtime_ns); break;
	case FA_SUPPATTR_EXCLCREAT:
		/* what EXCLUSIVE4_1 sets with the file: not atime, the verifier's home */
		memset(bm, 0, sizeof(bm));
		bm[1] = BIT(FA_MODE) | BIT(FA_OWNER) | BIT(FA_OWNER_GROUP) | BIT(FA_TIME_MODIFY_SET);
		nfs_bitmap_put(o, bm);
		break;
	case FA_XATTR_SUPPORT: xdr_put_u32(o, 1); break;
	default: return false; /* write-only (time_*_set) or unsupported: not returned */
	}
	return true;
}

uint32_t nfs_attr_put(struct nfs_srv *s, const struct kfs_attr *a,
		      const uint32_t req[NFS_BITMAP_WORDS], uint32_t rderr, struct xdr_out *o)
{
	uint32_t got[NFS_BITMAP_WORDS] = { 0 };
	size_t bmat = o->len;

	/* room for the longest bitmap, rewritten below once we know what was returned */
	nfs_bitmap_put(o, (uint32_t[NFS_BITMAP_WORDS]){ 1, 1, 1 });
	size_t lenat = xdr_reserve(o);
	for (unsigned n = 0; n < FA_MAX; n++) {
		if (!HAS(req, n))
			continue;
		if (put_one(s, a, n, rderr, o))
			got[n / 32] |= BIT(n);
	}
	size_t vals = lenat + 4, vlen = o->len - vals;
	if (o->err)
		return NFS4ERR_RESOURCE;
	/* the bitmap's real length: slide the values down if it is shorter */
	uint32_t words = NFS_BITMAP_WORDS;
	while (words && !got[words - 1])
		words--;
	size_t need = 4 + 4 * words + 4;
	memmove(o->buf + bmat + need, o->buf + vals, vlen);
	o->len = bmat + need + vlen;
	xdr_patch_u32(o, bmat, words);
	for (uint32_t i = 0; i < words; i++)
		xdr_patch_u32(o, bmat + 4 + 4 * i, got[i]);
	xdr_patch_u32(o, bmat + 4 + 4 * words, (uint32_t)vlen);
	return NFS4_OK;
}

static bool get_id(struct xdr_in *x, uint32_t *id)
{
	char b[NFS4_OPAQUE_LIMIT + 1];
	unsigned long long v = 0;

	xdr_string(x, b, NFS4_OPAQUE_LIMIT);
	if (!xdr_ok(x) || !b[0] || strlen(b) > 10)
		return false;
	for (const char *p = b; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*id = (uint32_t)v;
	return true;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool get_settime(struct xdr_in *x, int64_t *ns)
{
	uint32_t how = xdr_u32(x);

	if (how == SET_TO_SERVER_TIME4) {
		*ns = now_ns();
		return true;
	}
	if (how != SET_TO_CLIENT_TIME4)
		return false;
	int64_t sec = (int64_t)xdr_u64(x);
	uint32_t nsec = xdr_u32(x);
	if (nsec >= 1000000000 || sec > INT64_MAX / 1000000000 - 1 || sec < INT64_MIN / 1000000000 + 1)
		return false;
	*ns = sec * 1000000000 + nsec;
	return true;
}

/* One settable attribute; returns NFS4_OK or the error for this value. */
static uint32_t get_one(struct xdr_in *v, unsigned n, struct nfs_sattr *sa)
{
	switch (n) {
	case FA_SIZE:
		sa->a.size = xdr_u64(v);
		sa->mask |= KFS_SET_SIZE;
		return NFS4_OK;
	case FA_MODE:
		sa->a.mode = xdr_u32(v);
		if (sa->a.mode & ~07777u)
			return NFS4ERR_INVAL;
		sa->mask |= KFS_SET_MODE;
		return NFS4_OK;
	case FA_OWNER:
		sa->mask |= KFS_SET_UID;
		return get_id(v, &sa->a.uid) ? NFS4_OK : xdr_ok(v) ? NFS4ERR_BADOWNER : NFS4ERR_BADXDR;
	case FA_OWNER_GROUP:
		sa->mask |= KFS_SET_GID;
		return get_id(v, &sa->a.gid) ? NFS4_OK : xdr_ok(v) ? NFS4ERR_BADOWNER : NFS4ERR_BADXDR;
	case FA_TIME_ACCESS_SET:
		sa->mask |= KFS_SET_ATIME;
		return get_settime(v, &sa->a.atime_ns) ? NFS4_OK : NFS4ERR_INVAL;
	case FA_TIME_MODIFY_SET:
		sa->mask |= KFS_SET_MTIME;
		return get_settime(v, &sa->a.mtime_ns) ? NFS4_OK : NFS4ERR_INVAL;
	default:
		return NFS4ERR_INVAL; /* a read-only attribute */
	}
}

uint32_t nfs_sattr_get(struct xdr_in *x, struct nfs_sattr *sa)
{
	uint32_t bm[NFS_BITMAP_WORDS], sup[NFS_BITMAP_WORDS], n;
	const uint8_t *p;
	struct xdr_in v;

	memset(sa, 0, sizeof(*sa));
	/* a bitmap word past ours with a bit set names an attribute we lack */
	n = xdr_u32(x);
	if (n > 8)
		return NFS4ERR_BADXDR;
	memset(bm, 0, sizeof(bm));
	bool unknown = false;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t w = xdr_u32(x);
		if (i < NFS_BITMAP_WORDS)
			bm[i] = w;
		else if (w)
			unknown = true;
	}
	xdr_opaque_ref(x, NFS_MAX_RECORD, &p, &n);
	if (!xdr_ok(x))
		return NFS4ERR_BADXDR;
	supported(sup);
	for (unsigned i = 0; i < NFS_BITMAP_WORDS * 32; i++)
		if (HAS(bm, i) && !HAS(sup, i))
			unknown = true;
	if (unknown)
		return NFS4ERR_ATTRNOTSUPP;
	xdr_in_init(&v, p, n);
	for (unsigned i = 0; i < FA_MAX; i++) {
		if (!HAS(bm, i))
			continue;
		uint32_t st = get_one(&v, i, sa);
		if (!xdr_ok(&v))
			return NFS4ERR_BADXDR;
		if (st != NFS4_OK)
			return st;
		sa->set[i / 32] |= BIT(i);
	}
	if (xdr_left(&v))
		return NFS4ERR_BADXDR;
	return NFS4_OK;
}

static bool in_group(const struct rpc_cred *c, uint32_t gid)
{
	if (c->gid == gid)
		return true;
	for (uint32_t i = 0; i < c->ngids; i++)
		if (c->gids[i] == gid)
			return true;
	return false;
}

uint32_t nfs_access(const struct rpc_cred *c, const struct kfs_attr *a, uint32_t want)
{
	bool dir = S_ISDIR(a->mode);
	uint32_t perm, ok = 0;

	if (c->uid == 0) {
		ok = ACCESS4_READ | ACCESS4_LOOKUP | ACCESS4_MODIFY | ACCESS4_EXTEND | ACCESS4_DELETE |
		     ACCESS4_XAREAD | ACCESS4_XAWRITE | ACCESS4_XALIST;
		if (dir || (a->mode & 0111))
			ok |= ACCESS4_EXECUTE;
		return want & ok;
	}
	if (c->uid == a->uid)
		perm = (a->mode >> 6) & 7;
	else if (in_group(c, a->gid))
		perm = (a->mode >> 3) & 7;
	else
		perm = a->mode & 7;
	/* user xattrs go with the file's read and write permission, as on a local file */
	if (perm & 4)
		ok |= ACCESS4_READ | ACCESS4_XAREAD | ACCESS4_XALIST;
	if (perm & 2)
		ok |= ACCESS4_MODIFY | ACCESS4_EXTEND | (dir ? ACCESS4_DELETE : 0) | ACCESS4_XAWRITE;
	if (perm & 1)
		ok |= dir ? ACCESS4_LOOKUP : ACCESS4_EXECUTE;
	return want & ok;
}

uint32_t nfs_getattr_cur(struct nfs_cx *cx, struct kfs_attr *a)
{
	return nfs_errno(kfs_getattr(cx->s->fs, cx->cur, a));
}

uint32_t nfs_op_getattr(struct nfs_cx *cx)
{
	uint32_t req[NFS_BITMAP_WORDS];
	struct kfs_attr a;

	nfs_bitmap_get(cx->in, req);
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	NEED_CUR(cx);
	uint32_t st = nfs_getattr_cur(cx, &a);
	if (st != NFS4_OK)
		return st;
	return nfs_attr_put(cx->s, &a, req, 0, cx->out);
}

uint32_t nfs_op_access(struct nfs_cx *cx)
{
	uint32_t want = xdr_u32(cx->in);
	struct kfs_attr a;

	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	NEED_CUR(cx);
	uint32_t st = nfs_getattr_cur(cx, &a);
	if (st != NFS4_OK)
		return st;
	uint32_t all = ACCESS4_READ | ACCESS4_LOOKUP | ACCESS4_MODIFY | ACCESS4_EXTEND |
		       ACCESS4_DELETE | ACCESS4_EXECUTE;
	if (cx->minor >= 2)
		all |= ACCESS4_XAREAD | ACCESS4_XAWRITE | ACCESS4_XALIST;
	xdr_put_u32(cx->out, want & all);
	xdr_put_u32(cx->out, nfs_access(cx->cred, &a, want & all));
	return NFS4_OK;
}

uint32_t nfs_op_setattr(struct nfs_cx *cx)
{
	struct nfs_sid sid;
	struct nfs_sattr sa;
	struct kfs_attr a;
	uint32_t st, none[NFS_BITMAP_WORDS] = { 0 };

	/* attrsset is in the result whatever the status (RFC 7530 16.32) */
	cx->keep_body = true;
	nfs_stateid_get(cx->in, &sid);
	st = nfs_sattr_get(cx->in, &sa);
	if (!xdr_ok(cx->in) || st == NFS4ERR_BADXDR) {
		nfs_bitmap_put(cx->out, none);
		return NFS4ERR_BADXDR;
	}
	if (!cx->cur)
		st = NFS4ERR_NOFILEHANDLE;
	/* a size change is a write: its stateid must allow writing */
	if (st == NFS4_OK && (sa.mask & KFS_SET_SIZE))
		st = nfs_stateid_io(cx->s, &sid, cx->cur, OPEN4_SHARE_ACCESS_WRITE);
	if (st == NFS4_OK)
		st = nfs_errno(kfs_setattr(cx->s->fs, cx->cur, sa.mask, &sa.a, &a));
	nfs_bitmap_put(cx->out, st == NFS4_OK ? sa.set : none);
	return st;
}

/* VERIFY and NVERIFY: compare the client's encoding with ours, byte for byte. */
static uint32_t verify(struct nfs_cx *cx, bool want_same)
{
	uint32_t bm[NFS_BITMAP_WORDS], sup[NFS_BITMAP_WORDS], n;
	const uint8_t *p;
	struct kfs_attr a;
	struct xdr_out mine;

	nfs_bitmap_get(cx->in, bm);
	xdr_opaque_ref(cx->in, NFS_MAX_RECORD, &p, &n);
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	NEED_CUR(cx);
	supported(sup);
	for (int i = 0; i < NFS_BITMAP_WORDS; i++)
		if (bm[i] & ~sup[i])
			return NFS4ERR_ATTRNOTSUPP;
	if (HAS(bm, FA_RDATTR_ERROR) || HAS(bm, FA_TIME_ACCESS_SET) || HAS(bm, FA_TIME_MODIFY_SET))
		return NFS4ERR_INVAL;
	uint32_t st = nfs_getattr_cur(cx, &a);
	if (st != NFS4_OK)
		return st;
	if (xdr_out_init(&mine, 1 << 16) < 0)
		return NFS4ERR_RESOURCE;
	st = nfs_attr_put(cx->s, &a, bm, 0, &mine);
	/* skip our bitmap and length: compare the values */
	size_t skip = 4 + 4 * ((mine.buf[3]) & 0xff) + 4;
	bool same = st == NFS4_OK && mine.len - skip == n && !memcmp(mine.buf + skip, p, n);
	xdr_out_free(&mine);
	if (st != NFS4_OK)
		return st;
	if (want_same)
		return same ? NFS4_OK : NFS4ERR_NOT_SAME;
	return same ? NFS4ERR_SAME : NFS4_OK;
}

uint32_t nfs_op_verify(struct nfs_cx *cx)
{
	return verify(cx, true);
}

uint32_t nfs_op_nverify(struct nfs_cx *cx)
{
	return verify(cx, false);
}
