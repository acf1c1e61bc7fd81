/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the NFSv4 server (4.0, 4.1 sessions, 4.2 xattrs): COMPOUNDs run in-process on a memory store. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "fs/fs.h"
#include "fs/plain.h"
#include "nfs/internal.h"
#include "store_srv.h"
#include "t.h"

/* A test client: builds one COMPOUND call, runs it, and walks the reply. */
struct tc {
	struct kfs *fs;
	struct nfs_srv *s;
	struct xdr_out call, reply;
	struct xdr_in r;
	size_t nops_at;
	uint32_t nops, uid, minor;
	uint64_t clientid;
	uint32_t oseq; /* the open-owner's next seqid */
	bool session;  /* 4.1: every COMPOUND starts with SEQUENCE on slot 0 */
	bool seq_sent; /* this one did */
	uint8_t sessid[NFS4_SESSIONID_SIZE];
	uint32_t slotseq;
	uint64_t now; /* the server's clock, in seconds */
	uint8_t cverf; /* the 4.1 client's verifier (its boot) */
	bool no_back; /* CREATE_SESSION offers no back channel */
	uint32_t want; /* OPEN's 4.1 delegation wants */
	uint32_t deleg; /* the last OPEN's delegation type, and its stateid */
	struct nfs_sid dsid;
	uint32_t rflags; /* the last OPEN's */
};

static uint8_t key[NFS_FH_KEY_LEN] = { 1, 2, 3 }, volid[NFS_VOLID_LEN] = { 9 };

static void tc_rpc_head(struct tc *t, uint32_t prog, uint32_t vers, uint32_t proc)
{
	struct xdr_out *o = &t->call;

	o->len = 0;
	(void)xdr_reserve(o);
	xdr_put_u32(o, 0x1234);
	xdr_put_u32(o, RPC_CALL);
	xdr_put_u32(o, RPC_VERS);
	xdr_put_u32(o, prog);
	xdr_put_u32(o, vers);
	xdr_put_u32(o, proc);
	xdr_put_u32(o, RPC_AUTH_SYS);
	size_t at = xdr_reserve(o);
	xdr_put_u32(o, 0);
	xdr_put_string(o, "t");
	xdr_put_u32(o, t->uid);
	xdr_put_u32(o, t->uid);
	xdr_put_u32(o, 0);
	xdr_patch_u32(o, at, (uint32_t)(o->len - at - 4));
	xdr_put_u32(o, 0);
	xdr_put_u32(o, 0);
}

static void tc_begin(struct tc *t)
{
	tc_rpc_head(t, NFS4_PROGRAM, 4, NFS4_PROC_COMPOUND);
	xdr_put_string(&t->call, "test");
	xdr_put_u32(&t->call, t->minor);
	t->nops_at = xdr_reserve(&t->call);
	t->nops = 0;
	t->seq_sent = t->session;
	if (t->session) {
		xdr_put_u32(&t->call, OP_SEQUENCE);
		t->nops++;
		xdr_put_fixed(&t->call, t->sessid, sizeof(t->sessid));
		xdr_put_u32(&t->call, ++t->slotseq);
		xdr_put_u32(&t->call, 0);
		xdr_put_u32(&t->call, 0);
		xdr_put_u32(&t->call, 1);
	}
}

static void op(struct tc *t, uint32_t o)
{
	xdr_put_u32(&t->call, o);
	t->nops++;
}

/* Run the call; returns the accept_stat, leaves r after the RPC header. */
static uint32_t tc_rpc(struct tc *t)
{
	t->reply.len = 0;
	if (nfs_srv_rpc(t->s, t->call.buf + 4, t->call.len - 4, &t->reply) < 0)
		return 999;
	if (t->reply.len == 0)
		return 998;
	xdr_in_init(&t->r, t->reply.buf + 4, t->reply.len - 4);
	if (xdr_u32(&t->r) != 0x1234 || xdr_u32(&t->r) != RPC_REPLY)
		return 997;
	if (xdr_u32(&t->r) != 0)
		return 1000 + xdr_u32(&t->r); /* denied: 1000 + reject_stat */
	(void)xdr_u32(&t->r);
	(void)xdr_u32(&t->r);
	return xdr_u32(&t->r);
}

/* Send the COMPOUND; returns its status, r at the first result. */
static uint32_t tc_send(struct tc *t)
{
	const uint8_t *p;
	uint32_t n;

	xdr_patch_u32(&t->call, t->nops_at, t->nops);
	uint32_t a = tc_rpc(t);
	if (a != RPC_SUCCESS)
		return 100000 + a;
	uint32_t st = xdr_u32(&t->r);
	xdr_opaque_ref(&t->r, 1024, &p, &n);
	(void)xdr_u32(&t->r);
	if (t->seq_sent && xdr_u32(&t->r) == OP_SEQUENCE && xdr_u32(&t->r) == NFS4_OK) {
		uint8_t skip[NFS4_SESSIONID_SIZE + 20];
		xdr_fixed(&t->r, skip, sizeof(skip));
	}
	return st;
}

/* The next result: its op must be o; returns its status. */
static uint32_t res(struct tc *t, uint32_t o)
{
	uint32_t got = xdr_u32(&t->r);

	if (got != o) {
		fprintf(stderr, "result for op %u, expected %u\n", got, o);
		return 99999;
	}
	return xdr_u32(&t->r);
}

static void put_name(struct tc *t, uint32_t o, const char *name)
{
	op(t, o);
	xdr_put_string(&t->call, name);
}

static void put_fh(struct tc *t, const uint8_t *fh, size_t len)
{
	op(t, OP_PUTFH);
	xdr_put_opaque(&t->call, fh, len);
}

static void get_fh(struct tc *t, uint8_t fh[NFS_FH_LEN])
{
	const uint8_t *p;
	uint32_t n;

	xdr_opaque_ref(&t->r, NFS4_FHSIZE, &p, &n);
	memset(fh, 0, NFS_FH_LEN);
	if (n == NFS_FH_LEN)
		memcpy(fh, p, n);
}

static void put_sid(struct tc *t, const struct nfs_sid *sid)
{
	xdr_put_u32(&t->call, sid->seqid);
	xdr_put_fixed(&t->call, sid->other, 12);
}

static void get_sid(struct tc *t, struct nfs_sid *sid)
{
	nfs_stateid_get(&t->r, sid);
}

static void skip_cinfo(struct tc *t)
{
	(void)xdr_u32(&t->r);
	(void)xdr_u64(&t->r);
	(void)xdr_u64(&t->r);
}

static void put_bitmap(struct tc *t, uint32_t w0, uint32_t w1)
{
	xdr_put_u32(&t->call, 2);
	xdr_put_u32(&t->call, w0);
	xdr_put_u32(&t->call, w1);
}

/* CREATE of a directory, no attributes, in the current one. */
static void put_mkdir(struct tc *t, const char *name)
{
	op(t, OP_CREATE);
	xdr_put_u32(&t->call, NF4DIR);
	xdr_put_string(&t->call, name);
	put_bitmap(t, 0, 0);
	xdr_put_u32(&t->call, 0);
}

/* A server on fs (taken: tc_free unmounts it) with handle key k, and a confirmed 4.0 client. */
static void tc_setup_fs(struct tc *t, struct kfs *fs, const uint8_t k[NFS_FH_KEY_LEN])
{
	memset(t, 0, sizeof(*t));
	t->cverf = 7;
	t->fs = fs;
	CHECK(nfs_srv_new(t->fs, k, volid, &t->s) == 0);
	CHECK(xdr_out_init(&t->call, NFS_MAX_RECORD) == 0);
	CHECK(xdr_out_init(&t->reply, NFS_MAX_RECORD) == 0);
	/* SETCLIENTID then its CONFIRM */
	uint8_t verf[8] = { 1 }, conf[8];
	tc_begin(t);
	op(t, OP_SETCLIENTID);
	xdr_put_fixed(&t->call, verf, 8);
	xdr_put_string(&t->call, "Linux NFSv4.0 test");
	xdr_put_u32(&t->call, 0x40000000);
	xdr_put_string(&t->call, "tcp");
	xdr_put_string(&t->call, "127.0.0.1.0.0");
	xdr_put_u32(&t->call, 1);
	CHECK(tc_send(t) == NFS4_OK && res(t, OP_SETCLIENTID) == NFS4_OK);
	t->clientid = xdr_u64(&t->r);
	xdr_fixed(&t->r, conf, 8);
	tc_begin(t);
	op(t, OP_SETCLIENTID_CONFIRM);
	xdr_put_u64(&t->call, t->clientid);
	xdr_put_fixed(&t->call, conf, 8);
	CHECK(tc_send(t) == NFS4_OK);
	t->oseq = 1;
}

/* tc_setup on the store st (NULL: a memory store) */
static void tc_setup_on(struct tc *t, struct kfs_store *st)
{
	struct kfs_keywrap *kw;
	struct kfs *fs;

	CHECK((st || kfs_store_mem(&st) == 0) && kfs_keywrap_sim(NULL, &kw) == 0);
	CHECK(kfs_mount(st, kw, KFS_MOUNT_CREATE, NULL, NULL, &fs) == 0);
	tc_setup_fs(t, fs, key);
}

static void tc_setup(struct tc *t)
{
	tc_setup_on(t, NULL);
}

static void tc_free(struct tc *t)
{
	nfs_srv_free(t->s);
	CHECK(kfs_unmount(t->fs) == 0);
	xdr_out_free(&t->call);
	xdr_out_free(&t->reply);
}

/* OPEN's open_delegation4: none, or a write delegation (the only kind granted). */
static void get_deleg(struct tc *t)
{
	const uint8_t *p;
	uint32_t n;

	t->deleg = xdr_u32(&t->r);
	if (t->deleg != OPEN_DELEGATE_WRITE) {
		CHECK(t->deleg == OPEN_DELEGATE_NONE);
		return;
	}
	get_sid(t, &t->dsid);
	CHECK(xdr_u32(&t->r) == 0); /* recall */
	CHECK(xdr_u32(&t->r) == NFS_LIMIT_SIZE && xdr_u64(&t->r) == 1 << 20);
	CHECK(xdr_u32(&t->r) == ACE4_ACCESS_ALLOWED_ACE_TYPE);
	CHECK(xdr_u32(&t->r) == 0 && xdr_u32(&t->r) == 0);
	xdr_opaque_ref(&t->r, 1024, &p, &n);
	CHECK(n == 0 && xdr_ok(&t->r));
}

/* OPEN (create when mode != 0) name in the directory fh; returns the status. */
static uint32_t tc_open(struct tc *t, const uint8_t *dir, const char *name, uint32_t access,
			uint32_t mode, const char *owner, struct nfs_sid *sid, uint8_t fh[NFS_FH_LEN])
{
	tc_begin(t);
	if (dir)
		put_fh(t, dir, NFS_FH_LEN);
	else
		op(t, OP_PUTROOTFH);
	op(t, OP_OPEN);
	xdr_put_u32(&t->call, t->oseq);
	xdr_put_u32(&t->call, access | t->want);
	xdr_put_u32(&t->call, OPEN4_SHARE_DENY_NONE);
	xdr_put_u64(&t->call, t->clientid);
	xdr_put_string(&t->call, owner ? owner : "owner1");
	if (mode) {
		xdr_put_u32(&t->call, OPEN4_CREATE);
		xdr_put_u32(&t->call, UNCHECKED4);
		put_bitmap(t, 0, 1u << (FA_MODE - 32));
		xdr_put_u32(&t->call, 4);
		xdr_put_u32(&t->call, mode);
	} else {
		xdr_put_u32(&t->call, OPEN4_NOCREATE);
	}
	xdr_put_u32(&t->call, CLAIM_NULL);
	xdr_put_string(&t->call, name);
	op(t, OP_GETFH);
	uint32_t st = tc_send(t);
	(void)res(t, dir ? OP_PUTFH : OP_PUTROOTFH);
	uint32_t ost = res(t, OP_OPEN);
	if (ost != NFS4ERR_BAD_SEQID && ost != NFS4ERR_STALE_CLIENTID)
		t->oseq++;
	if (st != NFS4_OK)
		return st;
	get_sid(t, sid);
	skip_cinfo(t);
	t->rflags = xdr_u32(&t->r);
	uint32_t bm[NFS_BITMAP_WORDS];
	nfs_bitmap_get(&t->r, bm);
	get_deleg(t);
	CHECK(res(t, OP_GETFH) == NFS4_OK);
	get_fh(t, fh);
	return st;
}

static uint32_t tc_close(struct tc *t, const uint8_t fh[NFS_FH_LEN], struct nfs_sid *sid)
{
	tc_begin(t);
	put_fh(t, fh, NFS_FH_LEN);
	op(t, OP_CLOSE);
	xdr_put_u32(&t->call, t->oseq);
	put_sid(t, sid);
	uint32_t st = tc_send(t);
	if (st != NFS4ERR_BAD_SEQID && st != NFS4ERR_BAD_STATEID)
		t->oseq++;
	return st;
}

static uint32_t tc_renew(struct tc *t, uint64_t clientid)
{
	tc_begin(t);
	op(t, OP_RENEW);
	xdr_put_u64(&t->call, clientid);
	return tc_send(t);
}

static uint32_t tc_write(struct tc *t, const uint8_t fh[NFS_FH_LEN], const struct nfs_sid *sid,
			 uint64_t off, const void *data, size_t len, uint32_t stable)
{
	tc_begin(t);
	put_fh(t, fh, NFS_FH_LEN);
	op(t, OP_WRITE);
	put_sid(t, sid);
	xdr_put_u64(&t->call, off);
	xdr_put_u32(&t->call, stable);
	xdr_put_opaque(&t->call, data, len);
	return tc_send(t);
}

/* READ into buf; returns bytes or -status. */
static long tc_read(struct tc *t, const uint8_t fh[NFS_FH_LEN], const struct nfs_sid *sid,
		    uint64_t off, uint32_t count, void *buf, bool *eof)
{
	const uint8_t *p;
	uint32_t n;

	tc_begin(t);
	put_fh(t, fh, NFS_FH_LEN);
	op(t, OP_READ);
	put_sid(t, sid);
	xdr_put_u64(&t->call, off);
	xdr_put_u32(&t->call, count);
	uint32_t st = tc_send(t);
	if (st != NFS4_OK)
		return -(long)st;
	(void)res(t, OP_PUTFH);
	(void)res(t, OP_READ);
	*eof = xdr_u32(&t->r);
	xdr_opaque_ref(&t->r, NFS_MAX_IO, &p, &n);
	memcpy(buf, p, n);
	return n;
}

/* GETATTR of type, size, mode, numlinks, owner for fh; status. */
struct ga {
	uint32_t type, mode, nlink;
	uint64_t size, fileid;
	char owner[32];
};

static uint32_t tc_getattr(struct tc *t, const uint8_t fh[NFS_FH_LEN], struct ga *g)
{
	uint32_t bm[NFS_BITMAP_WORDS];
	const uint8_t *p;
	uint32_t n;

	tc_begin(t);
	put_fh(t, fh, NFS_FH_LEN);
	op(t, OP_GETATTR);
	put_bitmap(t, 1u << FA_TYPE | 1u << FA_SIZE | 1u << FA_FILEID,
		   1u << (FA_MODE - 32) | 1u << (FA_NUMLINKS - 32) | 1u << (FA_OWNER - 32));
	uint32_t st = tc_send(t);
	if (st != NFS4_OK)
		return st;
	(void)res(t, OP_PUTFH);
	(void)res(t, OP_GETATTR);
	nfs_bitmap_get(&t->r, bm);
	xdr_opaque_ref(&t->r, 4096, &p, &n);
	struct xdr_in v;
	xdr_in_init(&v, p, n);
	g->type = xdr_u32(&v);
	g->size = xdr_u64(&v);
	g->fileid = xdr_u64(&v);
	g->mode = xdr_u32(&v);
	g->nlink = xdr_u32(&v);
	xdr_string(&v, g->owner, sizeof(g->owner) - 1);
	CHECK(xdr_ok(&v) && xdr_left(&v) == 0);
	return st;
}

static void root_fh(struct tc *t, uint8_t fh[NFS_FH_LEN])
{
	tc_begin(t);
	op(t, OP_PUTROOTFH);
	op(t, OP_GETFH);
	CHECK(tc_send(t) == NFS4_OK);
	(void)res(t, OP_PUTROOTFH);
	CHECK(res(t, OP_GETFH) == NFS4_OK);
	get_fh(t, fh);
}

TEST(mount_sequence)
{
	struct tc t;
	uint8_t root[NFS_FH_LEN];
	uint32_t bm[NFS_BITMAP_WORDS];
	const uint8_t *p;
	uint32_t n;

	tc_setup(&t);
	root_fh(&t, root);
	/* the attributes the Linux client asks for at mount */
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	op(&t, OP_GETATTR);
	put_bitmap(&t, 1u << FA_SUPPORTED_ATTRS | 1u << FA_TYPE | 1u << FA_FH_EXPIRE_TYPE |
			      1u << FA_LINK_SUPPORT | 1u << FA_SYMLINK_SUPPORT |
			      1u << FA_LEASE_TIME | 1u << FA_ACLSUPPORT | 1u << FA_MAXREAD |
			      1u << FA_MAXWRITE,
		   1u << (FA_TIME_DELTA - 32) | 1u << (FA_MOUNTED_ON_FILEID - 32) |
			   1u << (49 - 32) /* time_backup: unsupported, left out */);
	CHECK(tc_send(&t) == NFS4_OK);
	(void)res(&t, OP_PUTROOTFH);
	CHECK(res(&t, OP_GETATTR) == NFS4_OK);
	nfs_bitmap_get(&t.r, bm);
	CHECK(!(bm[1] & (1u << (49 - 32))) && (bm[0] & (1u << FA_MAXREAD)));
	xdr_opaque_ref(&t.r, 4096, &p, &n);
	struct xdr_in v;
	xdr_in_init(&v, p, n);
	uint32_t sup[NFS_BITMAP_WORDS];
	nfs_bitmap_get(&v, sup);
	CHECK(sup[0] & (1u << FA_FILEHANDLE));
	CHECK(xdr_u32(&v) == NF4DIR);
	CHECK(xdr_u32(&v) == 0);   /* persistent handles */
	CHECK(xdr_u32(&v) == 1 && xdr_u32(&v) == 1);
	CHECK(xdr_u32(&v) == NFS_LEASE);
	CHECK(xdr_u32(&v) == 0);
	CHECK(xdr_u64(&v) == NFS_MAX_IO && xdr_u64(&v) == NFS_MAX_IO);
	CHECK(xdr_u64(&v) == 0 && xdr_u32(&v) == 1); /* time_delta 1 ns */
	CHECK(xdr_u64(&v) == KFS_ROOT_INO);
	CHECK(xdr_ok(&v) && xdr_left(&v) == 0);
	/* SECINFO, LOOKUPP at the root, NULL procedure */
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	op(&t, OP_LOOKUPP);
	CHECK(tc_send(&t) == NFS4ERR_NOENT);
	tc_rpc_head(&t, NFS4_PROGRAM, 4, NFS4_PROC_NULL);
	CHECK(tc_rpc(&t) == RPC_SUCCESS && xdr_left(&t.r) == 0);
	tc_free(&t);
}

TEST(create_write_read)
{
	struct tc t;
	struct nfs_sid sid;
	uint8_t fh[NFS_FH_LEN];
	char buf[256];
	bool eof;
	struct ga g;

	tc_setup(&t);
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0640, NULL, &sid, fh) == NFS4_OK);
	CHECK(sid.seqid == 1);
	CHECK(tc_write(&t, fh, &sid, 0, "hello world", 11, UNSTABLE4) == NFS4_OK);
	(void)res(&t, OP_PUTFH);
	CHECK(res(&t, OP_WRITE) == NFS4_OK && xdr_u32(&t.r) == 11 && xdr_u32(&t.r) == UNSTABLE4);
	uint8_t wv[8], cv[8];
	xdr_fixed(&t.r, wv, 8);
	tc_begin(&t);
	put_fh(&t, fh, NFS_FH_LEN);
	op(&t, OP_COMMIT);
	xdr_put_u64(&t.call, 0);
	xdr_put_u32(&t.call, 0);
	CHECK(tc_send(&t) == NFS4_OK);
	(void)res(&t, OP_PUTFH);
	(void)res(&t, OP_COMMIT);
	xdr_fixed(&t.r, cv, 8);
	CHECK(!memcmp(wv, cv, 8));
	CHECK(tc_read(&t, fh, &sid, 6, 100, buf, &eof) == 5 && !memcmp(buf, "world", 5) && eof);
	CHECK(tc_read(&t, fh, &sid, 0, 5, buf, &eof) == 5 && !eof);
	/* a hole reads as zeros; FILE_SYNC answers FILE_SYNC */
	CHECK(tc_write(&t, fh, &sid, 100, "x", 1, FILE_SYNC4) == NFS4_OK);
	(void)res(&t, OP_PUTFH);
	CHECK(res(&t, OP_WRITE) == NFS4_OK && xdr_u32(&t.r) == 1 && xdr_u32(&t.r) == FILE_SYNC4);
	CHECK(tc_read(&t, fh, &sid, 0, 200, buf, &eof) == 101 && buf[50] == 0 && buf[100] == 'x');
	CHECK(tc_getattr(&t, fh, &g) == NFS4_OK);
	CHECK(g.type == NF4REG && g.size == 101 && g.mode == 0640 && g.nlink == 1);
	CHECK(!strcmp(g.owner, "0"));
	/* a big write in one request */
	static uint8_t big[NFS_MAX_IO], back[NFS_MAX_IO];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31 + 7);
	CHECK(tc_write(&t, fh, &sid, 4096, big, sizeof(big), UNSTABLE4) == NFS4_OK);
	CHECK(tc_read(&t, fh, &sid, 4096, NFS_MAX_IO, back, &eof) == NFS_MAX_IO && eof);
	CHECK(!memcmp(big, back, sizeof(big)));
	CHECK(tc_close(&t, fh, &sid) == NFS4_OK);
	/* the closed stateid is gone; the anonymous one still reads */
	CHECK(tc_read(&t, fh, &sid, 0, 5, buf, &eof) == -NFS4ERR_BAD_STATEID);
	struct nfs_sid anon = { 0 };
	CHECK(tc_read(&t, fh, &anon, 0, 5, buf, &eof) == 5);
	/* OPEN without create of a missing name; GUARDED create of an existing one */
	CHECK(tc_open(&t, NULL, "missing", OPEN4_SHARE_ACCESS_READ, 0, NULL, &sid, fh) ==
	      NFS4ERR_NOENT);
	tc_free(&t);
}

/* OPEN with an EXCLUSIVE4 create: verifier in, attrset naming where it is kept. */
static uint32_t tc_open_excl(struct tc *t, const char *owner, uint32_t seqid, uint8_t v,
			     struct nfs_sid *sid)
{
	uint8_t verf[8] = { v, 2, 3, 4, 5, 6, 7, 8 };
	bool v41 = t->minor > 0; /* EXCLUSIVE4_1 with a mode */

	tc_begin(t);
	op(t, OP_PUTROOTFH);
	op(t, OP_OPEN);
	xdr_put_u32(&t->call, seqid);
	xdr_put_u32(&t->call, OPEN4_SHARE_ACCESS_BOTH);
	xdr_put_u32(&t->call, 0);
	xdr_put_u64(&t->call, t->clientid);
	xdr_put_string(&t->call, owner);
	xdr_put_u32(&t->call, OPEN4_CREATE);
	xdr_put_u32(&t->call, v41 ? EXCLUSIVE4_1 : EXCLUSIVE4);
	xdr_put_fixed(&t->call, verf, 8);
	if (v41) {
		put_bitmap(t, 0, 1u << (FA_MODE - 32));
		xdr_put_u32(&t->call, 4);
		xdr_put_u32(&t->call, 0600);
	}
	xdr_put_u32(&t->call, CLAIM_NULL);
	xdr_put_string(&t->call, "x");
	uint32_t st = tc_send(t);
	if (st == NFS4_OK) {
		uint32_t bm[NFS_BITMAP_WORDS];
		(void)res(t, OP_PUTROOTFH);
		(void)res(t, OP_OPEN);
		get_sid(t, sid);
		skip_cinfo(t);
		(void)xdr_u32(&t->r);
		nfs_bitmap_get(&t->r, bm);
		if (v41) /* the mode was set, the verifier needs no SETATTR */
			CHECK(bm[0] == 0 && (bm[1] == 1u << (FA_MODE - 32) || bm[1] == 0));
		else
			CHECK(bm[1] == 1u << (FA_TIME_ACCESS - 32) || (bm[0] == 0 && bm[1] == 0));
	}
	return st;
}

TEST(open_exclusive)
{
	struct tc t;
	struct nfs_sid a, b;

	tc_setup(&t);
	CHECK(tc_open_excl(&t, "ex1", 1, 1, &a) == NFS4_OK);
	/* the retransmitted request (same seqid): the cached reply, the same stateid */
	CHECK(tc_open_excl(&t, "ex1", 1, 1, &b) == NFS4_OK && !memcmp(&a, &b, sizeof(a)));
	/* the same verifier again from the next seqid: the file this client made */
	CHECK(tc_open_excl(&t, "ex2", 1, 1, &b) == NFS4_OK);
	/* another verifier: someone else's file */
	CHECK(tc_open_excl(&t, "ex3", 1, 9, &b) == NFS4ERR_EXIST);
	tc_free(&t);

}

TEST(open_truncate_and_share)
{
	struct tc t;
	struct nfs_sid s1, s2;
	uint8_t fh[NFS_FH_LEN], root[NFS_FH_LEN];
	struct ga g;

	tc_setup(&t);
	root_fh(&t, root);
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &s1, fh) == NFS4_OK);
	CHECK(tc_write(&t, fh, &s1, 0, "abc", 3, UNSTABLE4) == NFS4_OK);
	/* a second open by the same owner upgrades the same stateid */
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_READ, 0, NULL, &s2, fh) == NFS4_OK);
	CHECK(!memcmp(s1.other, s2.other, 12) && s2.seqid == 2);
	/* the old seqid of the stateid is OLD_STATEID */
	CHECK(tc_write(&t, fh, &s1, 0, "x", 1, UNSTABLE4) == NFS4ERR_OLD_STATEID);
	/* a read-only open cannot write */
	struct nfs_sid r;
	uint8_t fh2[NFS_FH_LEN];
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_READ, 0, "owner2", &r, fh2) == NFS4_OK);
	CHECK(!memcmp(fh, fh2, NFS_FH_LEN));
	CHECK(tc_write(&t, fh, &r, 0, "x", 1, UNSTABLE4) == NFS4ERR_OPENMODE);
	/* UNCHECKED create with size 0 truncates */
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	op(&t, OP_OPEN);
	xdr_put_u32(&t.call, t.oseq);
	xdr_put_u32(&t.call, OPEN4_SHARE_ACCESS_WRITE);
	xdr_put_u32(&t.call, 0);
	xdr_put_u64(&t.call, t.clientid);
	xdr_put_string(&t.call, "owner3");
	xdr_put_u32(&t.call, OPEN4_CREATE);
	xdr_put_u32(&t.call, UNCHECKED4);
	put_bitmap(&t, 1u << FA_SIZE, 0);
	xdr_put_u32(&t.call, 8);
	xdr_put_u64(&t.call, 0);
	xdr_put_u32(&t.call, CLAIM_NULL);
	xdr_put_string(&t.call, "f");
	CHECK(tc_send(&t) == NFS4_OK);
	CHECK(tc_getattr(&t, fh, &g) == NFS4_OK && g.size == 0);
	/* GUARDED on an existing file */
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	op(&t, OP_OPEN);
	xdr_put_u32(&t.call, 1);
	xdr_put_u32(&t.call, OPEN4_SHARE_ACCESS_WRITE);
	xdr_put_u32(&t.call, 0);
	xdr_put_u64(&t.call, t.clientid);
	xdr_put_string(&t.call, "owner4");
	xdr_put_u32(&t.call, OPEN4_CREATE);
	xdr_put_u32(&t.call, GUARDED4);
	put_bitmap(&t, 0, 0);
	xdr_put_u32(&t.call, 0);
	xdr_put_u32(&t.call, CLAIM_NULL);
	xdr_put_string(&t.call, "f");
	CHECK(tc_send(&t) == NFS4ERR_EXIST);
	/* a deny-write open conflicts with the existing writers */
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	op(&t, OP_OPEN);
	xdr_put_u32(&t.call, 1);
	xdr_put_u32(&t.call, OPEN4_SHARE_ACCESS_READ);
	xdr_put_u32(&t.call, 2 /* DENY_WRITE */);
	xdr_put_u64(&t.call, t.clientid);
	xdr_put_string(&t.call, "owner5");
	xdr_put_u32(&t.call, OPEN4_NOCREATE);
	xdr_put_u32(&t.call, CLAIM_NULL);
	xdr_put_string(&t.call, "f");
	CHECK(tc_send(&t) == NFS4ERR_SHARE_DENIED);
	/* OPEN of a directory */
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_READ, 0, "owner6", &s2, fh) == NFS4_OK);
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	put_mkdir(&t, "d");
	CHECK(tc_send(&t) == NFS4_OK);
	CHECK(tc_open(&t, NULL, "d", OPEN4_SHARE_ACCESS_READ, 0, "owner6", &s2, fh) == NFS4ERR_ISDIR);
	tc_free(&t);
}

static uint32_t tc_create(struct tc *t, const uint8_t *dir, uint32_t type, const char *name,
			  const char *target, uint8_t fh[NFS_FH_LEN])
{
	tc_begin(t);
	if (dir)
		put_fh(t, dir, NFS_FH_LEN);
	else
		op(t, OP_PUTROOTFH);
	op(t, OP_CREATE);
	xdr_put_u32(&t->call, type);
	if (type == NF4LNK)
		xdr_put_string(&t->call, target);
	xdr_put_string(&t->call, name);
	put_bitmap(t, 0, 1u << (FA_MODE - 32));
	xdr_put_u32(&t->call, 4);
	xdr_put_u32(&t->call, 0755);
	op(t, OP_GETFH);
	uint32_t st = tc_send(t);
	if (st == NFS4_OK) {
		(void)res(t, dir ? OP_PUTFH : OP_PUTROOTFH);
		(void)res(t, OP_CREATE);
		skip_cinfo(t);
		uint32_t bm[NFS_BITMAP_WORDS];
		nfs_bitmap_get(&t->r, bm);
		CHECK(bm[1] == 1u << (FA_MODE - 32));
		CHECK(res(t, OP_GETFH) == NFS4_OK);
		get_fh(t, fh);
	}
	return st;
}

/* READDIR from cookie with maxcount; appends names to seen (count), returns status. */
static uint32_t tc_readdir(struct tc *t, const uint8_t dir[NFS_FH_LEN], uint64_t *cookie,
			   uint32_t maxcount, char names[][16], int *n, bool *eof)
{
	uint8_t verf[8] = { 0 };

	tc_begin(t);
	put_fh(t, dir, NFS_FH_LEN);
	op(t, OP_READDIR);
	xdr_put_u64(&t->call, *cookie);
	xdr_put_fixed(&t->call, verf, 8);
	xdr_put_u32(&t->call, maxcount);
	xdr_put_u32(&t->call, maxcount);
	put_bitmap(t, 1u << FA_TYPE | 1u << FA_FILEID | 1u << FA_RDATTR_ERROR, 0);
	uint32_t st = tc_send(t);
	if (st != NFS4_OK)
		return st;
	(void)res(t, OP_PUTFH);
	(void)res(t, OP_READDIR);
	xdr_fixed(&t->r, verf, 8);
	while (xdr_bool(&t->r)) {
		*cookie = xdr_u64(&t->r);
		xdr_string(&t->r, names[*n], 15);
		uint32_t bm[NFS_BITMAP_WORDS];
		const uint8_t *p;
		uint32_t len;
		nfs_bitmap_get(&t->r, bm);
		xdr_opaque_ref(&t->r, 4096, &p, &len);
		CHECK(len == 4 + 4 + 8); /* type, rdattr_error, fileid */
		(*n)++;
	}
	*eof = xdr_bool(&t->r);
	CHECK(xdr_ok(&t->r) && xdr_left(&t->r) == 0);
	return st;
}

TEST(readdir_cookies)
{
	struct tc t;
	uint8_t root[NFS_FH_LEN], d[NFS_FH_LEN], fh[NFS_FH_LEN];
	struct nfs_sid sid;
	static char names[400][16];
	char name[16];
	int n = 0, rounds = 0;
	bool eof = false;
	uint64_t cookie = 0;

	tc_setup(&t);
	root_fh(&t, root);
	CHECK(tc_create(&t, NULL, NF4DIR, "dir", NULL, d) == NFS4_OK);
	for (int i = 0; i < 150; i++) {
		snprintf(name, sizeof(name), "file%03d", i);
		CHECK(tc_open(&t, d, name, OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
		CHECK(tc_close(&t, fh, &sid) == NFS4_OK);
	}
	/* small replies: many rounds, each resuming after the last cookie */
	while (!eof && rounds < 200) {
		CHECK(tc_readdir(&t, d, &cookie, 512, names, &n, &eof) == NFS4_OK);
		rounds++;
		/* an entry removed and one added mid-iteration */
		if (rounds == 3) {
			tc_begin(&t);
			put_fh(&t, d, NFS_FH_LEN);
			put_name(&t, OP_REMOVE, "file149");
			CHECK(tc_send(&t) == NFS4_OK);
		}
	}
	CHECK(eof && rounds > 5);
	CHECK(n == 149);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			CHECK(strcmp(names[i], names[j]));
	/* reserved cookies, a reply too small for one entry, READDIR of a file */
	cookie = 1;
	CHECK(tc_readdir(&t, d, &cookie, 4096, names, &n, &eof) == NFS4ERR_BAD_COOKIE);
	cookie = 0;
	CHECK(tc_readdir(&t, d, &cookie, 60, names, &n, &eof) == NFS4ERR_TOOSMALL);
	CHECK(tc_open(&t, d, "file000", OPEN4_SHARE_ACCESS_READ, 0, NULL, &sid, fh) == NFS4_OK);
	CHECK(tc_readdir(&t, fh, &cookie, 4096, names, &n, &eof) == NFS4ERR_NOTDIR);
	/* an empty directory: eof at once */
	uint8_t e[NFS_FH_LEN];
	int m = 0;
	CHECK(tc_create(&t, NULL, NF4DIR, "empty", NULL, e) == NFS4_OK);
	CHECK(tc_readdir(&t, e, &cookie, 4096, names, &m, &eof) == NFS4_OK && m == 0 && eof);
	tc_free(&t);
}

TEST(namespace_ops)
{
	struct tc t;
	uint8_t root[NFS_FH_LEN], d[NFS_FH_LEN], f[NFS_FH_LEN], l[NFS_FH_LEN], x[NFS_FH_LEN];
	struct nfs_sid sid;
	struct ga g;

	tc_setup(&t);
	root_fh(&t, root);
	CHECK(tc_create(&t, NULL, NF4DIR, "d", NULL, d) == NFS4_OK);
	CHECK(tc_create(&t, NULL, NF4DIR, "d", NULL, x) == NFS4ERR_EXIST);
	CHECK(tc_open(&t, d, "a", OPEN4_SHARE_ACCESS_BOTH, 0600, NULL, &sid, f) == NFS4_OK);
	CHECK(tc_close(&t, f, &sid) == NFS4_OK);
	/* symlink and READLINK */
	CHECK(tc_create(&t, d, NF4LNK, "s", "a/../target", l) == NFS4_OK);
	tc_begin(&t);
	put_fh(&t, l, NFS_FH_LEN);
	op(&t, OP_READLINK);
	CHECK(tc_send(&t) == NFS4_OK);
	(void)res(&t, OP_PUTFH);
	(void)res(&t, OP_READLINK);
	char target[64];
	xdr_string(&t.r, target, 63);
	CHECK(!strcmp(target, "a/../target"));
	/* LOOKUP through a symlink is SYMLINK; READLINK of a file INVAL */
	tc_begin(&t);
	put_fh(&t, l, NFS_FH_LEN);
	put_name(&t, OP_LOOKUP, "x");
	CHECK(tc_send(&t) == NFS4ERR_SYMLINK);
	tc_begin(&t);
	put_fh(&t, f, NFS_FH_LEN);
	op(&t, OP_READLINK);
	CHECK(tc_send(&t) == NFS4ERR_INVAL);
	/* LINK: saved = file, current = directory */
	tc_begin(&t);
	put_fh(&t, f, NFS_FH_LEN);
	op(&t, OP_SAVEFH);
	op(&t, OP_PUTROOTFH);
	put_name(&t, OP_LINK, "hard");
	CHECK(tc_send(&t) == NFS4_OK);
	CHECK(tc_getattr(&t, f, &g) == NFS4_OK && g.nlink == 2);
	/* RENAME d/a -> /b (across directories, replacing nothing) */
	tc_begin(&t);
	put_fh(&t, d, NFS_FH_LEN);
	op(&t, OP_SAVEFH);
	op(&t, OP_PUTROOTFH);
	op(&t, OP_RENAME);
	xdr_put_string(&t.call, "a");
	xdr_put_string(&t.call, "b");
	CHECK(tc_send(&t) == NFS4_OK);
	(void)res(&t, OP_PUTFH);
	(void)res(&t, OP_SAVEFH);
	(void)res(&t, OP_PUTROOTFH);
	CHECK(res(&t, OP_RENAME) == NFS4_OK);
	uint64_t before, after;
	(void)xdr_u32(&t.r);
	before = xdr_u64(&t.r);
	after = xdr_u64(&t.r);
	CHECK(after != before);
	/* RENAME without a saved filehandle; of a missing name */
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	op(&t, OP_RENAME);
	xdr_put_string(&t.call, "b");
	xdr_put_string(&t.call, "c");
	CHECK(tc_send(&t) == NFS4ERR_NOFILEHANDLE);
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	op(&t, OP_SAVEFH);
	op(&t, OP_RENAME);
	xdr_put_string(&t.call, "nope");
	xdr_put_string(&t.call, "c");
	CHECK(tc_send(&t) == NFS4ERR_NOENT);
	/* LOOKUP, LOOKUPP */
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	put_name(&t, OP_LOOKUP, "d");
	op(&t, OP_LOOKUPP);
	op(&t, OP_GETFH);
	CHECK(tc_send(&t) == NFS4_OK);
	(void)res(&t, OP_PUTROOTFH);
	(void)res(&t, OP_LOOKUP);
	(void)res(&t, OP_LOOKUPP);
	(void)res(&t, OP_GETFH);
	get_fh(&t, x);
	CHECK(!memcmp(x, root, NFS_FH_LEN));
	/* REMOVE a non-empty directory, then its contents, then it */
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	put_name(&t, OP_REMOVE, "d");
	CHECK(tc_send(&t) == NFS4ERR_NOTEMPTY);
	tc_begin(&t);
	put_fh(&t, d, NFS_FH_LEN);
	put_name(&t, OP_REMOVE, "s");
	op(&t, OP_PUTROOTFH);
	put_name(&t, OP_REMOVE, "d");
	put_name(&t, OP_REMOVE, "b");
	CHECK(tc_send(&t) == NFS4_OK);
	/* the file lives on under "hard"; the directory's handle is now stale */
	CHECK(tc_getattr(&t, f, &g) == NFS4_OK && g.nlink == 1);
	CHECK(tc_getattr(&t, d, &g) == NFS4ERR_STALE);
	/* names: empty, dot-dot, slash, too long */
	const char *bad[] = { "", "..", "a/b" };
	uint32_t want[] = { NFS4ERR_INVAL, NFS4ERR_BADNAME, NFS4ERR_BADCHAR };
	for (int i = 0; i < 3; i++) {
		tc_begin(&t);
		op(&t, OP_PUTROOTFH);
		put_name(&t, OP_LOOKUP, bad[i]);
		CHECK(tc_send(&t) == want[i]);
	}
	char longname[300];
	memset(longname, 'n', 299);
	longname[299] = 0;
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	put_name(&t, OP_LOOKUP, longname);
	CHECK(tc_send(&t) == NFS4ERR_NAMETOOLONG);
	/* CREATE of a regular file is OPEN's job */
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	op(&t, OP_CREATE);
	xdr_put_u32(&t.call, NF4REG);
	xdr_put_string(&t.call, "r");
	put_bitmap(&t, 0, 0);
	xdr_put_u32(&t.call, 0);
	CHECK(tc_send(&t) == NFS4ERR_BADTYPE);
	tc_free(&t);
}

static uint32_t tc_setattr(struct tc *t, const uint8_t fh[NFS_FH_LEN], uint32_t w0, uint32_t w1,
			   const void *vals, size_t len)
{
	struct nfs_sid anon = { 0 };

	tc_begin(t);
	put_fh(t, fh, NFS_FH_LEN);
	op(t, OP_SETATTR);
	put_sid(t, &anon);
	put_bitmap(t, w0, w1);
	xdr_put_opaque(&t->call, vals, len);
	return tc_send(t);
}

TEST(setattr)
{
	struct tc t;
	uint8_t f[NFS_FH_LEN];
	struct nfs_sid sid;
	struct ga g;
	struct xdr_out v;

	tc_setup(&t);
	CHECK(xdr_out_init(&v, 256) == 0);
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, f) == NFS4_OK);
	/* size, mode, owner and group in one SETATTR */
	xdr_put_u64(&v, 5000);
	xdr_put_u32(&v, 0600);
	xdr_put_string(&v, "1000");
	xdr_put_string(&v, "50");
	CHECK(tc_setattr(&t, f, 1u << FA_SIZE,
			 1u << (FA_MODE - 32) | 1u << (FA_OWNER - 32) | 1u << (FA_OWNER_GROUP - 32),
			 v.buf, v.len) == NFS4_OK);
	(void)res(&t, OP_PUTFH);
	(void)res(&t, OP_SETATTR);
	uint32_t bm[NFS_BITMAP_WORDS];
	nfs_bitmap_get(&t.r, bm);
	CHECK(bm[0] == 1u << FA_SIZE && bm[1] == (1u << (FA_MODE - 32) | 1u << (FA_OWNER - 32) |
						  1u << (FA_OWNER_GROUP - 32)));
	CHECK(tc_getattr(&t, f, &g) == NFS4_OK && g.size == 5000 && g.mode == 0600 &&
	      !strcmp(g.owner, "1000"));
	/* a name instead of a number: BADOWNER, with an empty attrsset */
	v.len = 0;
	xdr_put_string(&v, "alice@example");
	CHECK(tc_setattr(&t, f, 0, 1u << (FA_OWNER - 32), v.buf, v.len) == NFS4ERR_BADOWNER);
	(void)res(&t, OP_PUTFH);
	CHECK(res(&t, OP_SETATTR) == NFS4ERR_BADOWNER);
	nfs_bitmap_get(&t.r, bm);
	CHECK(xdr_ok(&t.r) && bm[0] == 0 && bm[1] == 0);
	/* a read-only attribute, an unsupported one, trailing bytes, a bad time */
	v.len = 0;
	xdr_put_u64(&v, 7);
	CHECK(tc_setattr(&t, f, 1u << FA_FILEID, 0, v.buf, v.len) == NFS4ERR_INVAL);
	CHECK(tc_setattr(&t, f, 1u << 12 /* acl */, 0, v.buf, v.len) == NFS4ERR_ATTRNOTSUPP);
	xdr_put_u32(&v, 0);
	CHECK(tc_setattr(&t, f, 1u << FA_SIZE, 0, v.buf, v.len) == NFS4ERR_BADXDR);
	v.len = 0;
	xdr_put_u32(&v, SET_TO_CLIENT_TIME4);
	xdr_put_u64(&v, 100);
	xdr_put_u32(&v, 1000000000);
	CHECK(tc_setattr(&t, f, 0, 1u << (FA_TIME_MODIFY_SET - 32), v.buf, v.len) == NFS4ERR_INVAL);
	/* a mode with type bits */
	v.len = 0;
	xdr_put_u32(&v, 0100644);
	CHECK(tc_setattr(&t, f, 0, 1u << (FA_MODE - 32), v.buf, v.len) == NFS4ERR_INVAL);
	/* truncation with a read-only open's stateid: OPENMODE */
	struct nfs_sid r;
	uint8_t f2[NFS_FH_LEN];
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_READ, 0, "ro", &r, f2) == NFS4_OK);
	tc_begin(&t);
	put_fh(&t, f, NFS_FH_LEN);
	op(&t, OP_SETATTR);
	put_sid(&t, &r);
	put_bitmap(&t, 1u << FA_SIZE, 0);
	xdr_put_u32(&t.call, 8);
	xdr_put_u64(&t.call, 0);
	CHECK(tc_send(&t) == NFS4ERR_OPENMODE);
	/* ACCESS as another user on a 0600 file owned by 1000 */
	t.uid = 2000;
	tc_begin(&t);
	put_fh(&t, f, NFS_FH_LEN);
	op(&t, OP_ACCESS);
	xdr_put_u32(&t.call, ACCESS4_READ | ACCESS4_MODIFY);
	CHECK(tc_send(&t) == NFS4_OK);
	(void)res(&t, OP_PUTFH);
	(void)res(&t, OP_ACCESS);
	CHECK(xdr_u32(&t.r) == (ACCESS4_READ | ACCESS4_MODIFY) && xdr_u32(&t.r) == 0);
	t.uid = 1000;
	tc_begin(&t);
	put_fh(&t, f, NFS_FH_LEN);
	op(&t, OP_ACCESS);
	xdr_put_u32(&t.call, ACCESS4_READ | ACCESS4_MODIFY | ACCESS4_EXECUTE);
	CHECK(tc_send(&t) == NFS4_OK);
	(void)res(&t, OP_PUTFH);
	(void)res(&t, OP_ACCESS);
	(void)xdr_u32(&t.r);
	CHECK(xdr_u32(&t.r) == (ACCESS4_READ | ACCESS4_MODIFY));
	/* VERIFY / NVERIFY of the size */
	v.len = 0;
	xdr_put_u64(&v, 5000);
	tc_begin(&t);
	put_fh(&t, f, NFS_FH_LEN);
	op(&t, OP_VERIFY);
	put_bitmap(&t, 1u << FA_SIZE, 0);
	xdr_put_opaque(&t.call, v.buf, v.len);
	CHECK(tc_send(&t) == NFS4_OK);
	tc_begin(&t);
	put_fh(&t, f, NFS_FH_LEN);
	op(&t, OP_NVERIFY);
	put_bitmap(&t, 1u << FA_SIZE, 0);
	xdr_put_opaque(&t.call, v.buf, v.len);
	CHECK(tc_send(&t) == NFS4ERR_SAME);
	xdr_out_free(&v);
	tc_free(&t);
}

/* LOCK by a new lock-owner from an open; returns the status, sets lsid. */
static uint32_t tc_lock_new(struct tc *t, const uint8_t fh[NFS_FH_LEN], struct nfs_sid *osid,
			    const char *lowner, uint32_t type, uint64_t off, uint64_t len,
			    struct nfs_sid *lsid)
{
	tc_begin(t);
	put_fh(t, fh, NFS_FH_LEN);
	op(t, OP_LOCK);
	xdr_put_u32(&t->call, type);
	xdr_put_u32(&t->call, 0);
	xdr_put_u64(&t->call, off);
	xdr_put_u64(&t->call, len);
	xdr_put_u32(&t->call, 1);
	xdr_put_u32(&t->call, t->oseq);
	put_sid(t, osid);
	xdr_put_u32(&t->call, 0);
	xdr_put_u64(&t->call, t->clientid);
	xdr_put_string(&t->call, lowner);
	uint32_t st = tc_send(t);
	if (st != NFS4ERR_BAD_SEQID && st != NFS4ERR_BAD_STATEID)
		t->oseq++;
	if (st == NFS4_OK) {
		(void)res(t, OP_PUTFH);
		(void)res(t, OP_LOCK);
		get_sid(t, lsid);
	}
	return st;
}

static uint32_t tc_lock(struct tc *t, const uint8_t fh[NFS_FH_LEN], struct nfs_sid *lsid,
			uint32_t lseq, uint32_t type, uint64_t off, uint64_t len)
{
	tc_begin(t);
	put_fh(t, fh, NFS_FH_LEN);
	op(t, OP_LOCK);
	xdr_put_u32(&t->call, type);
	xdr_put_u32(&t->call, 0);
	xdr_put_u64(&t->call, off);
	xdr_put_u64(&t->call, len);
	xdr_put_u32(&t->call, 0);
	put_sid(t, lsid);
	xdr_put_u32(&t->call, lseq);
	uint32_t st = tc_send(t);
	if (st == NFS4_OK) {
		(void)res(t, OP_PUTFH);
		(void)res(t, OP_LOCK);
		get_sid(t, lsid);
	}
	return st;
}

static uint32_t tc_locku(struct tc *t, const uint8_t fh[NFS_FH_LEN], struct nfs_sid *lsid,
			 uint32_t lseq, uint64_t off, uint64_t len)
{
	tc_begin(t);
	put_fh(t, fh, NFS_FH_LEN);
	op(t, OP_LOCKU);
	xdr_put_u32(&t->call, WRITE_LT);
	xdr_put_u32(&t->call, lseq);
	put_sid(t, lsid);
	xdr_put_u64(&t->call, off);
	xdr_put_u64(&t->call, len);
	uint32_t st = tc_send(t);
	if (st == NFS4_OK) {
		(void)res(t, OP_PUTFH);
		(void)res(t, OP_LOCKU);
		get_sid(t, lsid);
	}
	return st;
}

static uint32_t tc_lockt(struct tc *t, const uint8_t fh[NFS_FH_LEN], const char *lowner,
			 uint32_t type, uint64_t off, uint64_t len)
{
	tc_begin(t);
	put_fh(t, fh, NFS_FH_LEN);
	op(t, OP_LOCKT);
	xdr_put_u32(&t->call, type);
	xdr_put_u64(&t->call, off);
	xdr_put_u64(&t->call, len);
	xdr_put_u64(&t->call, t->clientid);
	xdr_put_string(&t->call, lowner);
	return tc_send(t);
}

TEST(locks)
{
	struct tc t;
	uint8_t f[NFS_FH_LEN];
	struct nfs_sid osid, a, b;

	tc_setup(&t);
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &osid, f) == NFS4_OK);
	CHECK(tc_lock_new(&t, f, &osid, "pA", WRITE_LT, 0, 100, &a) == NFS4_OK && a.seqid == 1);
	/* B's read lock overlapping A's write lock: DENIED naming A's range and owner */
	CHECK(tc_lock_new(&t, f, &osid, "pB", READ_LT, 50, 10, &b) == NFS4ERR_DENIED);
	(void)res(&t, OP_PUTFH);
	CHECK(res(&t, OP_LOCK) == NFS4ERR_DENIED);
	CHECK(xdr_u64(&t.r) == 0 && xdr_u64(&t.r) == 100 && xdr_u32(&t.r) == WRITE_LT);
	CHECK(xdr_u64(&t.r) == t.clientid);
	char owner[16];
	xdr_string(&t.r, owner, 15);
	CHECK(!strcmp(owner, "pA"));
	/* B locks past A's range; then to end of file (length all ones) conflicts */
	CHECK(tc_lock_new(&t, f, &osid, "pB", READ_LT, 100, 10, &b) == NFS4_OK);
	CHECK(tc_lockt(&t, f, "pC", WRITE_LT, 105, UINT64_MAX) == NFS4ERR_DENIED);
	CHECK(tc_lockt(&t, f, "pC", READ_LT, 105, UINT64_MAX) == NFS4_OK);
	CHECK(tc_lockt(&t, f, "pA", WRITE_LT, 0, 100) == NFS4_OK); /* its own lock */
	/* A unlocks the middle: the lock splits, 40..59 is free for B */
	CHECK(tc_locku(&t, f, &a, 1, 40, 20) == NFS4_OK && a.seqid == 2);
	CHECK(tc_lockt(&t, f, "pB", WRITE_LT, 40, 20) == NFS4_OK);
	CHECK(tc_lockt(&t, f, "pB", WRITE_LT, 39, 2) == NFS4ERR_DENIED);
	CHECK(tc_lockt(&t, f, "pB", WRITE_LT, 60, 1) == NFS4ERR_DENIED);
	CHECK(tc_lock(&t, f, &b, 1, WRITE_LT, 40, 20) == NFS4_OK && b.seqid == 2);
	/* bad seqid, old stateid, zero length, overflow */
	CHECK(tc_lock(&t, f, &b, 7, WRITE_LT, 200, 1) == NFS4ERR_BAD_SEQID);
	struct nfs_sid old = b;
	old.seqid = 1;
	CHECK(tc_lock(&t, f, &old, 2, WRITE_LT, 200, 1) == NFS4ERR_OLD_STATEID);
	CHECK(tc_lock(&t, f, &b, 3, WRITE_LT, 200, 0) == NFS4ERR_INVAL);
	CHECK(tc_lock(&t, f, &b, 4, WRITE_LT, UINT64_MAX - 5, 10) == NFS4ERR_INVAL);
	/* CLOSE with locks held */
	CHECK(tc_close(&t, f, &osid) == NFS4ERR_LOCKS_HELD);
	CHECK(tc_locku(&t, f, &a, 2, 0, UINT64_MAX) == NFS4_OK);
	/* RELEASE_LOCKOWNER: B still holds locks, A none */
	tc_begin(&t);
	op(&t, OP_RELEASE_LOCKOWNER);
	xdr_put_u64(&t.call, t.clientid);
	xdr_put_string(&t.call, "pB");
	CHECK(tc_send(&t) == NFS4ERR_LOCKS_HELD);
	tc_begin(&t);
	op(&t, OP_RELEASE_LOCKOWNER);
	xdr_put_u64(&t.call, t.clientid);
	xdr_put_string(&t.call, "pA");
	CHECK(tc_send(&t) == NFS4_OK);
	CHECK(tc_locku(&t, f, &a, 3, 0, 1) == NFS4ERR_BAD_STATEID);
	CHECK(tc_locku(&t, f, &b, 5, 0, UINT64_MAX) == NFS4_OK);
	CHECK(tc_close(&t, f, &osid) == NFS4_OK);
	tc_free(&t);
}

TEST(handles)
{
	struct tc t;
	uint8_t root[NFS_FH_LEN], f[NFS_FH_LEN], forged[NFS_FH_LEN];
	struct nfs_sid sid;
	struct ga g;

	tc_setup(&t);
	root_fh(&t, root);
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, f) == NFS4_OK);
	CHECK(tc_close(&t, f, &sid) == NFS4_OK);
	/* every single-byte change of a handle is BADHANDLE */
	for (size_t i = 0; i < NFS_FH_LEN; i++) {
		memcpy(forged, f, NFS_FH_LEN);
		forged[i] ^= 0x40;
		CHECK(tc_getattr(&t, forged, &g) == NFS4ERR_BADHANDLE);
	}
	/* the root's inode number in f's handle: the MAC does not match */
	memcpy(forged, f, NFS_FH_LEN);
	memcpy(forged + 4, root + 4, 8);
	CHECK(tc_getattr(&t, forged, &g) == NFS4ERR_BADHANDLE);
	/* a handle the server made is compared with, not MACed again, while it is kept */
	uint64_t macs = t.s->fh_macs;
	for (int i = 0; i < 10; i++)
		CHECK(tc_getattr(&t, f, &g) == NFS4_OK && tc_getattr(&t, root, &g) == NFS4_OK);
	CHECK(t.s->fh_macs == macs);
	/* files whose handles share an entry evict each other and stay valid */
	uint8_t h[NFS_FH_SEEN + 1][NFS_FH_LEN];
	char name[16];
	for (int i = 0; i <= NFS_FH_SEEN; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		CHECK(tc_open(&t, NULL, name, OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, h[i]) == NFS4_OK);
		CHECK(tc_close(&t, h[i], &sid) == NFS4_OK);
	}
	macs = t.s->fh_macs;
	for (int i = 0; i < 3; i++)
		CHECK(tc_getattr(&t, h[0], &g) == NFS4_OK && tc_getattr(&t, h[NFS_FH_SEEN], &g) == NFS4_OK);
	CHECK(t.s->fh_macs == macs + 6);
	for (size_t i = 0; i < NFS_FH_LEN; i++) {
		memcpy(forged, h[0], NFS_FH_LEN);
		forged[i] ^= 0x01;
		CHECK(tc_getattr(&t, forged, &g) == NFS4ERR_BADHANDLE);
	}
	/* wrong length */
	tc_begin(&t);
	put_fh(&t, f, NFS_FH_LEN - 1);
	CHECK(tc_send(&t) == NFS4ERR_BADHANDLE);
	tc_begin(&t);
	op(&t, OP_PUTFH);
	xdr_put_opaque(&t.call, forged, 0);
	CHECK(tc_send(&t) == NFS4ERR_BADHANDLE);
	/* another server key (another volume) rejects this one's handles */
	uint8_t k2[NFS_FH_KEY_LEN] = { 7 };
	struct nfs_srv *other = t.s;
	CHECK(nfs_srv_new(t.fs, k2, volid, &t.s) == 0);
	CHECK(tc_getattr(&t, f, &g) == NFS4ERR_BADHANDLE);
	nfs_srv_free(t.s);
	/* the same key in a new server instance (a restart) accepts them */
	CHECK(nfs_srv_new(t.fs, key, volid, &t.s) == 0);
	CHECK(tc_getattr(&t, f, &g) == NFS4_OK && g.type == NF4REG);
	nfs_srv_free(t.s);
	t.s = other;
	/* removed: STALE */
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	put_name(&t, OP_REMOVE, "f");
	CHECK(tc_send(&t) == NFS4_OK);
	CHECK(tc_getattr(&t, f, &g) == NFS4ERR_STALE);
	tc_free(&t);
}

TEST(handles_across_remount)
{
	char dir[] = "/tmp/kiln-nfs-fh-XXXXXX";
	struct kfs_store *st;
	struct kfs_keywrap *kw;
	struct kfs *fs;
	struct kfs_attr a;
	uint8_t k1[NFS_FH_KEY_LEN], v1[NFS_VOLID_LEN], k2[NFS_FH_KEY_LEN], v2[NFS_VOLID_LEN];
	uint8_t fh[NFS_FH_LEN];
	struct nfs_srv *s;
	uint64_t ino;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(kfs_store_dir_open(dir, NULL, &st) == 0 && kfs_keywrap_sim(NULL, &kw) == 0);
	int rc = kfs_mount(st, kw, KFS_MOUNT_CREATE, NULL, NULL, &fs);
	CHECK(rc == 0);
	if (rc < 0)
		return;
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "f", S_IFREG | 0644, 0, 0, &a) == 0);
	CHECK(nfs_fh_key(fs, k1, v1) == 0 && nfs_srv_new(fs, k1, v1, &s) == 0);
	nfs_fh_make(s, a.ino, fh);
	nfs_srv_free(s);
	CHECK(kfs_unmount(fs) == 0);
	CHECK(kfs_store_dir_open(dir, NULL, &st) == 0 && kfs_keywrap_sim(NULL, &kw) == 0);
	CHECK(kfs_mount(st, kw, 0, NULL, NULL, &fs) == 0);
	CHECK(nfs_fh_key(fs, k2, v2) == 0 && !memcmp(k1, k2, sizeof(k1)) && !memcmp(v1, v2, 16));
	CHECK(nfs_srv_new(fs, k2, v2, &s) == 0);
	CHECK(nfs_fh_check(s, fh, NFS_FH_LEN, &ino) == NFS4_OK && ino == a.ino);
	nfs_srv_free(s);
	CHECK(kfs_unmount(fs) == 0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
}

TEST(state_errors)
{
	struct tc t;
	uint8_t f[NFS_FH_LEN];
	struct nfs_sid sid, bad;

	tc_setup(&t);
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, f) == NFS4_OK);
	/* a stateid of another server instance, an unknown one, a future seqid */
	bad = sid;
	bad.other[0] ^= 1;
	CHECK(tc_write(&t, f, &bad, 0, "x", 1, UNSTABLE4) == NFS4ERR_STALE_STATEID);
	bad = sid;
	bad.other[11] ^= 0x55;
	CHECK(tc_write(&t, f, &bad, 0, "x", 1, UNSTABLE4) == NFS4ERR_BAD_STATEID);
	bad = sid;
	bad.seqid = 9;
	CHECK(tc_write(&t, f, &bad, 0, "x", 1, UNSTABLE4) == NFS4ERR_BAD_STATEID);
	/* a seqid out of order; then a replay of the last OPEN gives its result again */
	t.oseq += 5;
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0, NULL, &bad, f) ==
	      NFS4ERR_BAD_SEQID);
	t.oseq -= 5;
	struct nfs_sid s2, s3;
	uint8_t f2[NFS_FH_LEN];
	CHECK(tc_open(&t, NULL, "g", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &s2, f2) == NFS4_OK);
	t.oseq--;
	CHECK(tc_open(&t, NULL, "g", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &s3, f2) == NFS4_OK);
	CHECK(!memcmp(&s2, &s3, sizeof(s2))); /* the same stateid, not an upgrade */
	/* an unknown client id */
	CHECK(tc_renew(&t, t.clientid + 1) == NFS4ERR_STALE_CLIENTID);
	CHECK(tc_renew(&t, t.clientid) == NFS4_OK);
	/* DELEGRETURN: nothing was delegated */
	tc_begin(&t);
	put_fh(&t, f, NFS_FH_LEN);
	op(&t, OP_DELEGRETURN);
	put_sid(&t, &sid);
	CHECK(tc_send(&t) == NFS4ERR_BAD_STATEID);
	/* OPEN_DOWNGRADE to read, then a write is OPENMODE; an upgrade by downgrade is INVAL */
	tc_begin(&t);
	put_fh(&t, f, NFS_FH_LEN);
	op(&t, OP_OPEN_DOWNGRADE);
	put_sid(&t, &sid);
	xdr_put_u32(&t.call, t.oseq++);
	xdr_put_u32(&t.call, OPEN4_SHARE_ACCESS_READ);
	xdr_put_u32(&t.call, 0);
	CHECK(tc_send(&t) == NFS4_OK);
	(void)res(&t, OP_PUTFH);
	(void)res(&t, OP_OPEN_DOWNGRADE);
	get_sid(&t, &sid);
	CHECK(tc_write(&t, f, &sid, 0, "x", 1, UNSTABLE4) == NFS4ERR_OPENMODE);
	tc_begin(&t);
	put_fh(&t, f, NFS_FH_LEN);
	op(&t, OP_OPEN_DOWNGRADE);
	put_sid(&t, &sid);
	xdr_put_u32(&t.call, t.oseq++);
	xdr_put_u32(&t.call, OPEN4_SHARE_ACCESS_BOTH);
	xdr_put_u32(&t.call, 0);
	CHECK(tc_send(&t) == NFS4ERR_INVAL);
	/* a CLOSE against another file's handle */
	CHECK(tc_close(&t, f2, &sid) == NFS4ERR_BAD_STATEID);
	/* a replayed CLOSE (same seqid, the stateid it closed) gets the same answer again */
	CHECK(tc_close(&t, f2, &s2) == NFS4_OK);
	t.oseq--;
	CHECK(tc_close(&t, f2, &s2) == NFS4_OK);
	(void)res(&t, OP_PUTFH);
	CHECK(res(&t, OP_CLOSE) == NFS4_OK);
	struct nfs_sid closed;
	get_sid(&t, &closed);
	CHECK(closed.seqid == s2.seqid + 1 && !memcmp(closed.other, s2.other, 12));
	/* the closed stateid is no use for I/O, and gone once the owner moves on */
	CHECK(tc_write(&t, f2, &closed, 0, "x", 1, UNSTABLE4) == NFS4ERR_BAD_STATEID);
	CHECK(tc_close(&t, f2, &s2) == NFS4ERR_BAD_STATEID);
	tc_free(&t);
}

TEST(compound_errors)
{
	struct tc t;

	tc_setup(&t);
	/* no current filehandle */
	tc_begin(&t);
	op(&t, OP_GETFH);
	CHECK(tc_send(&t) == NFS4ERR_NOFILEHANDLE);
	tc_begin(&t);
	op(&t, OP_RESTOREFH);
	CHECK(tc_send(&t) == NFS4ERR_RESTOREFH);
	/* an unknown op: OP_ILLEGAL in the result, and the compound stops there */
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	op(&t, 77);
	op(&t, OP_GETFH);
	CHECK(tc_send(&t) == NFS4ERR_OP_ILLEGAL);
	CHECK(res(&t, OP_PUTROOTFH) == NFS4_OK && res(&t, OP_ILLEGAL) == NFS4ERR_OP_ILLEGAL);
	CHECK(xdr_left(&t.r) == 0);
	/* ops of NFSv4.1 in a 4.0 compound are illegal too */
	tc_begin(&t);
	op(&t, 53 /* SEQUENCE */);
	CHECK(tc_send(&t) == NFS4ERR_OP_ILLEGAL);
	/* OPENATTR: no named attributes */
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	op(&t, OP_OPENATTR);
	xdr_put_u32(&t.call, 0);
	CHECK(tc_send(&t) == NFS4ERR_NOTSUPP);
	/* minor version 3 does not exist; 4.1 wants a session first */
	t.minor = 3;
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	CHECK(tc_send(&t) == NFS4ERR_MINOR_VERS_MISMATCH);
	CHECK(xdr_left(&t.r) == 0);
	t.minor = 1;
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	CHECK(tc_send(&t) == NFS4ERR_OP_NOT_IN_SESSION && res(&t, OP_PUTROOTFH) == NFS4ERR_OP_NOT_IN_SESSION);
	t.minor = 0;
	/* 4.1 operations are illegal in 4.0 */
	tc_begin(&t);
	op(&t, OP_SEQUENCE);
	CHECK(tc_send(&t) == NFS4ERR_OP_ILLEGAL);
	/* truncated arguments: BADXDR */
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	op(&t, OP_LOOKUP);
	xdr_put_u32(&t.call, 40);
	CHECK(tc_send(&t) == NFS4ERR_BADXDR);
	/* more ops announced than sent */
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	t.nops = 3;
	CHECK(tc_send(&t) == NFS4ERR_BADXDR);
	/* RPC level: program, version, procedure, RPC version, credentials */
	tc_rpc_head(&t, 100005, 4, 1);
	CHECK(tc_rpc(&t) == RPC_PROG_UNAVAIL);
	tc_rpc_head(&t, NFS4_PROGRAM, 3, 1);
	CHECK(tc_rpc(&t) == RPC_PROG_MISMATCH && xdr_u32(&t.r) == 4 && xdr_u32(&t.r) == 4);
	tc_rpc_head(&t, NFS4_PROGRAM, 4, 2);
	CHECK(tc_rpc(&t) == RPC_PROC_UNAVAIL);
	tc_rpc_head(&t, NFS4_PROGRAM, 4, 1);
	t.call.buf[4 + 8 + 3] = 3; /* rpcvers */
	CHECK(tc_rpc(&t) == 1000 + RPC_MISMATCH);
	tc_rpc_head(&t, NFS4_PROGRAM, 4, 1);
	t.call.len = 4 + 24 + 4 + 2; /* inside the credential */
	CHECK(tc_rpc(&t) == RPC_GARBAGE_ARGS);
	tc_rpc_head(&t, NFS4_PROGRAM, 4, 1);
	t.call.buf[4 + 24 + 3] = 6; /* RPCSEC_GSS */
	CHECK(tc_rpc(&t) == 1000 + RPC_AUTH_ERROR && xdr_u32(&t.r) == RPC_AUTH_TOOWEAK);
	/* a reply message instead of a call: no answer at all */
	tc_rpc_head(&t, NFS4_PROGRAM, 4, 1);
	t.call.buf[4 + 7] = 1;
	CHECK(tc_rpc(&t) == 998);
	tc_free(&t);
}

/* A memory store whose syncs are counted and can be made to fail. */
struct cstore {
	struct kfs_store st;
	struct kfs_store *in;
	int syncs, fail;
};

static int cs_get(struct kfs_store *s, const char *id, uint8_t **buf, size_t *len)
{
	struct kfs_store *in = ((struct cstore *)s)->in;

	return in->get(in, id, buf, len);
}

static int cs_put(struct kfs_store *s, const char *id, const void *buf, size_t len, unsigned flags)
{
	struct kfs_store *in = ((struct cstore *)s)->in;

	return in->put(in, id, buf, len, flags);
}

static int cs_del(struct kfs_store *s, const char *id)
{
	struct kfs_store *in = ((struct cstore *)s)->in;

	return in->del(in, id);
}

static int cs_sync(struct kfs_store *s)
{
	struct cstore *c = (struct cstore *)s;

	c->syncs++;
	return c->fail ? -EIO : c->in->sync(c->in);
}

static void cs_close(struct kfs_store *s)
{
	struct kfs_store *in = ((struct cstore *)s)->in;

	in->close(in);
}

/* A one-byte WRITE at off with stable; its status, *how the committed level answered. */
static uint32_t write_byte(struct tc *t, const uint8_t *fh, const struct nfs_sid *sid, uint64_t off,
			   uint32_t stable, uint32_t *how)
{
	uint32_t st = tc_write(t, fh, sid, off, "x", 1, stable);

	*how = 99;
	if (st == NFS4_OK && res(t, OP_PUTFH) == NFS4_OK && res(t, OP_WRITE) == NFS4_OK &&
	    xdr_u32(&t->r) == 1)
		*how = xdr_u32(&t->r);
	return st;
}

static uint32_t tc_commit(struct tc *t, const uint8_t fh[NFS_FH_LEN])
{
	tc_begin(t);
	put_fh(t, fh, NFS_FH_LEN);
	op(t, OP_COMMIT);
	xdr_put_u64(&t->call, 0);
	xdr_put_u32(&t->call, 0);
	return tc_send(t);
}

/*
 * Group commit: grouped, stable WRITEs and COMMITs answer FILE_SYNC / OK with
 * the commit owed (the loop holds their replies) and one commit serves them
 * all; a COMMIT with nothing uncommitted costs no commit; after a failed
 * grouped commit the next stable call commits at once and answers the error;
 * ungrouped, every stable call commits at once.
 */
TEST(commit_grouped)
{
	static struct cstore cs = { .st = { cs_get, cs_put, cs_del, cs_sync, cs_close } };
	struct tc t;
	struct nfs_sid sid;
	uint8_t fh[NFS_FH_LEN];
	uint32_t how;

	CHECK(kfs_store_mem(&cs.in) == 0);
	tc_setup_on(&t, &cs.st);
	CHECK(tc_open(&t, NULL, "g", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	nfs_srv_group(t.s, true);
	int n = cs.syncs;
	CHECK(write_byte(&t, fh, &sid, 0, FILE_SYNC4, &how) == NFS4_OK && how == FILE_SYNC4);
	CHECK(nfs_srv_owed(t.s) && !nfs_srv_owed(t.s) && cs.syncs == n);
	CHECK(write_byte(&t, fh, &sid, 1, DATA_SYNC4, &how) == NFS4_OK && how == FILE_SYNC4);
	CHECK(nfs_srv_owed(t.s) && cs.syncs == n);
	CHECK(write_byte(&t, fh, &sid, 2, UNSTABLE4, &how) == NFS4_OK && how == UNSTABLE4);
	CHECK(!nfs_srv_owed(t.s) && cs.syncs == n);
	CHECK(tc_commit(&t, fh) == NFS4_OK && nfs_srv_owed(t.s) && cs.syncs == n);
	CHECK(nfs_srv_commit(t.s) == 0 && cs.syncs == n + 1 && !kfs_dirty(t.fs));
	/* nothing uncommitted: nothing to do, grouped or not */
	CHECK(tc_commit(&t, fh) == NFS4_OK && !nfs_srv_owed(t.s) && cs.syncs == n + 1);
	CHECK(nfs_srv_commit(t.s) == 0 && cs.syncs == n + 1);
	/* a failed grouped commit: the resent call commits at once and fails, then grouping resumes */
	cs.fail = 1;
	CHECK(write_byte(&t, fh, &sid, 3, FILE_SYNC4, &how) == NFS4_OK && nfs_srv_owed(t.s));
	CHECK(nfs_srv_commit(t.s) < 0);
	CHECK(write_byte(&t, fh, &sid, 3, FILE_SYNC4, &how) == NFS4ERR_IO && !nfs_srv_owed(t.s));
	cs.fail = 0;
	n = cs.syncs;
	CHECK(write_byte(&t, fh, &sid, 3, FILE_SYNC4, &how) == NFS4_OK && how == FILE_SYNC4);
	CHECK(!nfs_srv_owed(t.s) && cs.syncs == n + 1);
	CHECK(write_byte(&t, fh, &sid, 4, FILE_SYNC4, &how) == NFS4_OK && nfs_srv_owed(t.s));
	CHECK(nfs_srv_commit(t.s) == 0 && cs.syncs == n + 2);
	/* ungrouped: at once */
	nfs_srv_group(t.s, false);
	CHECK(write_byte(&t, fh, &sid, 5, FILE_SYNC4, &how) == NFS4_OK && how == FILE_SYNC4);
	CHECK(!nfs_srv_owed(t.s) && cs.syncs == n + 3 && !kfs_dirty(t.fs));
	CHECK(tc_close(&t, fh, &sid) == NFS4_OK);
	tc_free(&t);
}

/* ---- 4.1 sessions, 4.2 xattrs, leases ---- */

static uint64_t fake_now(void *arg)
{
	return *(uint64_t *)arg;
}

static void put_exchange_id(struct tc *t, uint8_t verf, const char *owner, uint32_t flags)
{
	uint8_t v[8] = { verf };

	op(t, OP_EXCHANGE_ID);
	xdr_put_fixed(&t->call, v, 8);
	xdr_put_string(&t->call, owner);
	xdr_put_u32(&t->call, flags);
	xdr_put_u32(&t->call, SP4_NONE);
	xdr_put_u32(&t->call, 0); /* no implementation id */
}

/* EXCHANGE_ID; returns the status, the client id and sequence id in *id, *seq. */
static uint32_t tc_exchange(struct tc *t, uint8_t verf, uint64_t *id, uint32_t *seq, uint32_t *flags)
{
	const uint8_t *p;
	uint32_t n;
	bool session = t->session;

	t->session = false;
	tc_begin(t);
	t->session = session;
	put_exchange_id(t, verf, "Linux NFSv4.1 test", 0);
	uint32_t st = tc_send(t);
	if (st != NFS4_OK)
		return st;
	CHECK(res(t, OP_EXCHANGE_ID) == NFS4_OK);
	*id = xdr_u64(&t->r);
	*seq = xdr_u32(&t->r);
	*flags = xdr_u32(&t->r);
	CHECK(xdr_u32(&t->r) == SP4_NONE);
	(void)xdr_u64(&t->r);
	xdr_opaque_ref(&t->r, 1024, &p, &n);
	xdr_opaque_ref(&t->r, 1024, &p, &n);
	CHECK(xdr_u32(&t->r) == 0 && xdr_ok(&t->r) && xdr_left(&t->r) == 0);
	return st;
}

static void put_chan(struct tc *t, uint32_t ops, uint32_t reqs)
{
	xdr_put_u32(&t->call, 0);
	xdr_put_u32(&t->call, 1 << 20);
	xdr_put_u32(&t->call, 1 << 20);
	xdr_put_u32(&t->call, 4096);
	xdr_put_u32(&t->call, ops);
	xdr_put_u32(&t->call, reqs);
	xdr_put_u32(&t->call, 0);
}

static void tc_create_session_call(struct tc *t, uint64_t id, uint32_t seq)
{
	bool session = t->session;

	t->session = false;
	tc_begin(t);
	t->session = session;
	op(t, OP_CREATE_SESSION);
	xdr_put_u64(&t->call, id);
	xdr_put_u32(&t->call, seq);
	xdr_put_u32(&t->call, t->no_back ? 0 : CREATE_SESSION4_FLAG_CONN_BACK_CHAN);
	put_chan(t, 8, 64);
	put_chan(t, 2, 16);
	xdr_put_u32(&t->call, 0x40000000);
	xdr_put_u32(&t->call, 1);
	xdr_put_u32(&t->call, RPC_AUTH_NONE);
}

/* A 4.1 (or 4.2) client with a session; later COMPOUNDs start with SEQUENCE. */
static void tc_session(struct tc *t, uint32_t minor)
{
	uint32_t seq, flags;

	t->minor = minor;
	t->session = false;
	CHECK(tc_exchange(t, t->cverf, &t->clientid, &seq, &flags) == NFS4_OK);
	CHECK(flags == EXCHGID4_FLAG_USE_NON_PNFS && seq == 1);
	tc_create_session_call(t, t->clientid, seq);
	CHECK(tc_send(t) == NFS4_OK && res(t, OP_CREATE_SESSION) == NFS4_OK);
	xdr_fixed(&t->r, t->sessid, sizeof(t->sessid));
	CHECK(xdr_u32(&t->r) == seq);
	CHECK(xdr_u32(&t->r) == (t->no_back ? 0 : CREATE_SESSION4_FLAG_CONN_BACK_CHAN));
	uint32_t fore[7], back[7];
	for (int i = 0; i < 7; i++)
		fore[i] = xdr_u32(&t->r);
	for (int i = 0; i < 7; i++)
		back[i] = xdr_u32(&t->r);
	CHECK(fore[1] == 1 << 20 && fore[2] == 1 << 20 && fore[3] == 4096);
	CHECK(fore[4] == 8 && fore[5] == NFS_SLOTS && back[4] == 2);
	CHECK(xdr_ok(&t->r) && xdr_left(&t->r) == 0);
	t->session = true;
	t->slotseq = 0;
}

/* A SEQUENCE-led call on any slot and sequence id, then REMOVE name from the root. */
static void seq_call(struct tc *t, const uint8_t *sessid, uint32_t slot, uint32_t seq)
{
	bool session = t->session;

	t->session = false;
	tc_begin(t);
	t->session = session;
	op(t, OP_SEQUENCE);
	xdr_put_fixed(&t->call, sessid, NFS4_SESSIONID_SIZE);
	xdr_put_u32(&t->call, seq);
	xdr_put_u32(&t->call, slot);
	xdr_put_u32(&t->call, slot);
	xdr_put_u32(&t->call, 1);
}

/* A SEQUENCE on slot, seq then PUTFH fh, WRITE at 0: built, not sent. */
static void seq_write_call(struct tc *t, uint32_t slot, uint32_t seq, const uint8_t *fh,
			   const struct nfs_sid *sid, uint32_t stable, const void *data, size_t len)
{
	seq_call(t, t->sessid, slot, seq);
	put_fh(t, fh, NFS_FH_LEN);
	op(t, OP_WRITE);
	put_sid(t, sid);
	xdr_put_u64(&t->call, 0);
	xdr_put_u32(&t->call, stable);
	xdr_put_opaque(&t->call, data, len);
}

static uint32_t tc_destroy_clientid(struct tc *t, uint64_t clientid)
{
	tc_begin(t);
	op(t, OP_DESTROY_CLIENTID);
	xdr_put_u64(&t->call, clientid);
	return tc_send(t);
}

TEST(session_setup)
{
	struct tc t;
	uint64_t id;
	uint32_t seq, flags;

	tc_setup(&t);
	tc_session(&t, 1);
	/* EXCHANGE_ID again from the same client instance: the same, now confirmed, record */
	CHECK(tc_exchange(&t, 7, &id, &seq, &flags) == NFS4_OK);
	CHECK(id == t.clientid && seq == 2);
	CHECK(flags == (EXCHGID4_FLAG_USE_NON_PNFS | EXCHGID4_FLAG_CONFIRMED_R));
	/* CREATE_SESSION retried with its sequence id: the first result again */
	size_t first_len = t.reply.len;
	(void)first_len;
	t.session = false;
	tc_create_session_call(&t, t.clientid, 1);
	CHECK(tc_send(&t) == NFS4_OK && res(&t, OP_CREATE_SESSION) == NFS4_OK);
	uint8_t again[NFS4_SESSIONID_SIZE];
	xdr_fixed(&t.r, again, sizeof(again));
	CHECK(!memcmp(again, t.sessid, sizeof(again)));
	tc_create_session_call(&t, t.clientid, 5);
	CHECK(tc_send(&t) == NFS4ERR_SEQ_MISORDERED);
	tc_create_session_call(&t, 0x1234, 1);
	CHECK(tc_send(&t) == NFS4ERR_STALE_CLIENTID);
	/* session-less ops stand alone; everything else needs SEQUENCE first */
	tc_begin(&t);
	put_exchange_id(&t, 7, "x", 0);
	op(&t, OP_PUTROOTFH);
	CHECK(tc_send(&t) == NFS4ERR_NOT_ONLY_OP);
	tc_begin(&t);
	put_exchange_id(&t, 7, "x", 0x8);
	CHECK(tc_send(&t) == NFS4ERR_INVAL); /* flags it may not send */
	t.session = true;
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	op(&t, OP_SEQUENCE);
	CHECK(tc_send(&t) == NFS4ERR_SEQUENCE_POS);
	/* 4.0's client-id and seqid ops are gone */
	CHECK(tc_renew(&t, t.clientid) == NFS4ERR_NOTSUPP);
	tc_begin(&t);
	op(&t, OP_RECLAIM_COMPLETE);
	xdr_put_u32(&t.call, 0);
	CHECK(tc_send(&t) == NFS4_OK);
	tc_begin(&t);
	op(&t, OP_RECLAIM_COMPLETE);
	xdr_put_u32(&t.call, 0);
	CHECK(tc_send(&t) == NFS4ERR_COMPLETE_ALREADY);
	/* SECINFO_NO_NAME answers AUTH_SYS and consumes the filehandle */
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	op(&t, OP_SECINFO_NO_NAME);
	xdr_put_u32(&t.call, SECINFO_STYLE4_CURRENT_FH);
	op(&t, OP_GETFH);
	CHECK(tc_send(&t) == NFS4ERR_NOFILEHANDLE);
	CHECK(res(&t, OP_PUTROOTFH) == NFS4_OK && res(&t, OP_SECINFO_NO_NAME) == NFS4_OK);
	CHECK(xdr_u32(&t.r) == 1 && xdr_u32(&t.r) == RPC_AUTH_SYS);
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	op(&t, OP_SECINFO_NO_NAME);
	xdr_put_u32(&t.call, SECINFO_STYLE4_PARENT);
	CHECK(tc_send(&t) == NFS4ERR_NOENT);
	/* BIND_CONN_TO_SESSION: the fore channel */
	t.session = false;
	for (int bogus = 0; bogus < 2; bogus++) {
		tc_begin(&t);
		op(&t, OP_BIND_CONN_TO_SESSION);
		uint8_t sess[NFS4_SESSIONID_SIZE];
		memcpy(sess, t.sessid, sizeof(sess));
		sess[0] ^= (uint8_t)bogus;
		xdr_put_fixed(&t.call, sess, sizeof(sess));
		xdr_put_u32(&t.call, 3); /* fore or both */
		xdr_put_u32(&t.call, 0);
		CHECK(tc_send(&t) == (bogus ? NFS4ERR_BADSESSION : NFS4_OK));
		if (!bogus) {
			CHECK(res(&t, OP_BIND_CONN_TO_SESSION) == NFS4_OK);
			xdr_fixed(&t.r, sess, sizeof(sess));
			CHECK(!memcmp(sess, t.sessid, sizeof(sess)) && xdr_u32(&t.r) == CDFS4_BOTH);
		}
	}
	/* a direction that is none of channel_dir_from_client4's */
	tc_begin(&t);
	op(&t, OP_BIND_CONN_TO_SESSION);
	xdr_put_fixed(&t.call, t.sessid, sizeof(t.sessid));
	xdr_put_u32(&t.call, 5);
	xdr_put_u32(&t.call, 0);
	CHECK(tc_send(&t) == NFS4ERR_INVAL);
	/* DESTROY_CLIENTID while a session lives: busy; after DESTROY_SESSION: gone */
	CHECK(tc_destroy_clientid(&t, t.clientid) == NFS4ERR_CLIENTID_BUSY);
	tc_begin(&t);
	op(&t, OP_DESTROY_SESSION);
	xdr_put_fixed(&t.call, t.sessid, sizeof(t.sessid));
	CHECK(tc_send(&t) == NFS4_OK);
	t.session = true;
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	CHECK(tc_send(&t) == NFS4ERR_BADSESSION);
	t.session = false;
	CHECK(tc_destroy_clientid(&t, t.clientid) == NFS4_OK);
	tc_create_session_call(&t, t.clientid, 2);
	CHECK(tc_send(&t) == NFS4ERR_STALE_CLIENTID);
	tc_free(&t);
}

/* The whole reply record of the last call, to compare a retry's with. */
static size_t reply_copy(struct tc *t, uint8_t *buf, size_t cap)
{
	size_t n = t->reply.len < cap ? t->reply.len : cap;

	memcpy(buf, t->reply.buf, n);
	return n;
}

TEST(session_replay)
{
	struct tc t;
	struct nfs_sid sid;
	uint8_t fh[NFS_FH_LEN], first[512], second[512];

	tc_setup(&t);
	tc_session(&t, 1);
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	CHECK(tc_close(&t, fh, &sid) == NFS4_OK);
	/* REMOVE on slot 3, sequence 1 */
	t.session = false;
	seq_call(&t, t.sessid, 3, 1);
	op(&t, OP_PUTROOTFH);
	put_name(&t, OP_REMOVE, "f");
	CHECK(tc_send(&t) == NFS4_OK);
	size_t n1 = reply_copy(&t, first, sizeof(first));
	/* resent (a reconnect): the cached reply byte for byte, not NOENT from a second run */
	CHECK(tc_send(&t) == NFS4_OK);
	size_t n2 = reply_copy(&t, second, sizeof(second));
	CHECK(n1 == n2 && !memcmp(first, second, n1));
	/* the same slot and sequence id with another request: a false retry */
	seq_call(&t, t.sessid, 3, 1);
	op(&t, OP_PUTROOTFH);
	put_name(&t, OP_REMOVE, "g");
	CHECK(tc_send(&t) == NFS4ERR_SEQ_FALSE_RETRY);
	CHECK(res(&t, OP_SEQUENCE) == NFS4ERR_SEQ_FALSE_RETRY && xdr_left(&t.r) == 0);
	/* skipping ahead, or a stale sequence id: misordered */
	seq_call(&t, t.sessid, 3, 3);
	op(&t, OP_PUTROOTFH);
	CHECK(tc_send(&t) == NFS4ERR_SEQ_MISORDERED);
	seq_call(&t, t.sessid, 3, 0);
	op(&t, OP_PUTROOTFH);
	CHECK(tc_send(&t) == NFS4ERR_SEQ_MISORDERED);
	/* a fresh slot starts at 1; 0 is misordered there too */
	seq_call(&t, t.sessid, 4, 0);
	CHECK(tc_send(&t) == NFS4ERR_SEQ_MISORDERED);
	seq_call(&t, t.sessid, NFS_SLOTS, 1);
	CHECK(tc_send(&t) == NFS4ERR_BADSLOT);
	uint8_t bogus[NFS4_SESSIONID_SIZE] = { 1 };
	seq_call(&t, bogus, 0, 1);
	CHECK(tc_send(&t) == NFS4ERR_BADSESSION);
	/* the next sequence id runs: now the file is gone */
	seq_call(&t, t.sessid, 3, 2);
	op(&t, OP_PUTROOTFH);
	put_name(&t, OP_REMOVE, "f");
	CHECK(tc_send(&t) == NFS4ERR_NOENT);
	/* more ops than the session's max_ops (8) */
	seq_call(&t, t.sessid, 3, 3);
	for (int i = 0; i < 8; i++)
		op(&t, OP_PUTROOTFH);
	CHECK(tc_send(&t) == NFS4ERR_TOO_MANY_OPS);
	/* a MKDIR retried after its reply was lost: OK again, not EXIST */
	seq_call(&t, t.sessid, 5, 1);
	op(&t, OP_PUTROOTFH);
	put_mkdir(&t, "d");
	CHECK(tc_send(&t) == NFS4_OK);
	CHECK(tc_send(&t) == NFS4_OK);
	/*
	 * A retry is told from a false one by the request's length and its
	 * first NFS_SLOT_REQ bytes: a WRITE of 6000 bytes resent runs once, one
	 * changed in its first bytes or of another length is a false retry; a
	 * change past them is not seen (the bytes the slot keeps).
	 */
	static uint8_t data[6000];
	t.session = true; /* slot 0 for the calls around */
	CHECK(tc_open(&t, NULL, "w", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	for (int v = 0; v < 5; v++) {
		size_t len = v == 3 ? sizeof(data) - 4 : sizeof(data);
		memset(data, 'a', sizeof(data));
		data[100] = v == 2 ? 'b' : 'a';
		data[5000] = v == 4 ? 'c' : 'a';
		seq_write_call(&t, 6, 1, fh, &sid, UNSTABLE4, data, len);
		CHECK(tc_send(&t) == (v == 2 || v == 3 ? NFS4ERR_SEQ_FALSE_RETRY : NFS4_OK));
	}
	bool eof;
	CHECK(tc_read(&t, fh, &sid, 0, sizeof(data), data, &eof) == sizeof(data));
	CHECK(data[100] == 'a' && data[5000] == 'a'); /* the last one was answered from the cache */
	tc_free(&t);
}

/* A client that restarts (a new verifier) gets a new client id; confirming it drops the old state. */
TEST(session_client_restart)
{
	struct tc t;
	struct nfs_sid sid;
	uint8_t fh[NFS_FH_LEN];
	uint64_t id;
	uint32_t seq, flags;

	tc_setup(&t);
	tc_session(&t, 1);
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	CHECK(tc_exchange(&t, 8, &id, &seq, &flags) == NFS4_OK);
	CHECK(id != t.clientid && seq == 1 && flags == EXCHGID4_FLAG_USE_NON_PNFS);
	/* until it is confirmed, the old client keeps its session and state */
	CHECK(tc_write(&t, fh, &sid, 0, "abc", 3, FILE_SYNC4) == NFS4_OK);
	t.cverf = 8;
	tc_session(&t, 1);
	CHECK(t.clientid == id);
	CHECK(tc_write(&t, fh, &sid, 0, "abc", 3, FILE_SYNC4) == NFS4ERR_BAD_STATEID);
	tc_free(&t);
}

TEST(session_state)
{
	struct tc t;
	struct nfs_sid sid, cur, lsid;
	uint8_t fh[NFS_FH_LEN];

	tc_setup(&t);
	tc_session(&t, 1);
	/* seqids are ignored in 4.1: any value opens */
	t.oseq = 77;
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	t.oseq = 3;
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_READ, 0, NULL, &sid, fh) == NFS4_OK);
	CHECK(sid.seqid == 2);
	/* seqid 0: the state as it is now */
	cur = sid;
	cur.seqid = 0;
	CHECK(tc_write(&t, fh, &cur, 0, "abc", 3, FILE_SYNC4) == NFS4_OK);
	cur.seqid = 1;
	CHECK(tc_write(&t, fh, &cur, 0, "abc", 3, FILE_SYNC4) == NFS4ERR_OLD_STATEID);
	tc_begin(&t);
	put_fh(&t, fh, NFS_FH_LEN);
	op(&t, OP_OPEN_CONFIRM);
	put_sid(&t, &sid);
	xdr_put_u32(&t.call, 1);
	CHECK(tc_send(&t) == NFS4ERR_NOTSUPP);
	/* a lock, then TEST_STATEID and FREE_STATEID */
	tc_begin(&t);
	put_fh(&t, fh, NFS_FH_LEN);
	op(&t, OP_LOCK);
	xdr_put_u32(&t.call, WRITE_LT);
	xdr_put_u32(&t.call, 0);
	xdr_put_u64(&t.call, 0);
	xdr_put_u64(&t.call, 10);
	xdr_put_u32(&t.call, 1);
	xdr_put_u32(&t.call, 0);
	put_sid(&t, &sid);
	xdr_put_u32(&t.call, 0);
	xdr_put_u64(&t.call, 0xdead); /* ignored: the session names the client */
	xdr_put_string(&t.call, "lockowner");
	CHECK(tc_send(&t) == NFS4_OK);
	CHECK(res(&t, OP_PUTFH) == NFS4_OK && res(&t, OP_LOCK) == NFS4_OK);
	get_sid(&t, &lsid);
	struct nfs_sid bad = sid;
	bad.other[11] ^= 1;
	tc_begin(&t);
	op(&t, OP_TEST_STATEID);
	xdr_put_u32(&t.call, 3);
	put_sid(&t, &sid);
	put_sid(&t, &lsid);
	put_sid(&t, &bad);
	CHECK(tc_send(&t) == NFS4_OK && res(&t, OP_TEST_STATEID) == NFS4_OK);
	CHECK(xdr_u32(&t.r) == 3 && xdr_u32(&t.r) == NFS4_OK && xdr_u32(&t.r) == NFS4_OK);
	CHECK(xdr_u32(&t.r) == NFS4ERR_BAD_STATEID);
	tc_begin(&t);
	op(&t, OP_FREE_STATEID);
	put_sid(&t, &lsid);
	CHECK(tc_send(&t) == NFS4ERR_LOCKS_HELD); /* its lock is still held */
	tc_begin(&t);
	put_fh(&t, fh, NFS_FH_LEN);
	op(&t, OP_LOCKU);
	xdr_put_u32(&t.call, WRITE_LT);
	xdr_put_u32(&t.call, 0);
	put_sid(&t, &lsid);
	xdr_put_u64(&t.call, 0);
	xdr_put_u64(&t.call, 10);
	CHECK(tc_send(&t) == NFS4_OK);
	lsid.seqid = 0;
	tc_begin(&t);
	op(&t, OP_FREE_STATEID);
	put_sid(&t, &lsid);
	CHECK(tc_send(&t) == NFS4_OK);
	tc_begin(&t);
	op(&t, OP_FREE_STATEID);
	put_sid(&t, &sid);
	CHECK(tc_send(&t) == NFS4ERR_LOCKS_HELD); /* an open goes with CLOSE */
	cur.seqid = 0;
	CHECK(tc_close(&t, fh, &cur) == NFS4_OK);
	CHECK(tc_write(&t, fh, &cur, 0, "abc", 3, FILE_SYNC4) == NFS4ERR_BAD_STATEID);
	tc_free(&t);
}

static uint32_t tc_setxattr(struct tc *t, const uint8_t fh[NFS_FH_LEN], uint32_t how,
			    const char *name, const char *val)
{
	tc_begin(t);
	put_fh(t, fh, NFS_FH_LEN);
	op(t, OP_SETXATTR);
	xdr_put_u32(&t->call, how);
	xdr_put_string(&t->call, name);
	xdr_put_string(&t->call, val);
	return tc_send(t);
}

static uint32_t tc_getxattr(struct tc *t, const uint8_t fh[NFS_FH_LEN], const char *name,
			    char *val, size_t cap)
{
	tc_begin(t);
	put_fh(t, fh, NFS_FH_LEN);
	put_name(t, OP_GETXATTR, name);
	uint32_t st = tc_send(t);
	if (st == NFS4_OK) {
		(void)res(t, OP_PUTFH);
		(void)res(t, OP_GETXATTR);
		xdr_string(&t->r, val, cap - 1);
	}
	return st;
}

/* LISTXATTRS: names joined by spaces into out; returns the status. */
static uint32_t tc_listxattrs(struct tc *t, const uint8_t fh[NFS_FH_LEN], uint64_t *cookie,
			      uint32_t max, char *out, bool *eof)
{
	char n[64];

	tc_begin(t);
	put_fh(t, fh, NFS_FH_LEN);
	op(t, OP_LISTXATTRS);
	xdr_put_u64(&t->call, *cookie);
	xdr_put_u32(&t->call, max);
	uint32_t st = tc_send(t);
	out[0] = '\0';
	if (st != NFS4_OK)
		return st;
	(void)res(t, OP_PUTFH);
	(void)res(t, OP_LISTXATTRS);
	*cookie = xdr_u64(&t->r);
	uint32_t cnt = xdr_u32(&t->r);
	for (uint32_t i = 0; i < cnt && i < 16; i++) {
		xdr_string(&t->r, n, sizeof(n) - 1);
		strcat(out, n);
		strcat(out, " ");
	}
	*eof = xdr_bool(&t->r);
	CHECK(xdr_ok(&t->r) && xdr_left(&t->r) == 0);
	return st;
}

TEST(xattrs)
{
	struct tc t;
	struct nfs_sid sid;
	uint8_t fh[NFS_FH_LEN];
	char val[64], names[256];
	uint64_t cookie = 0;
	bool eof;

	tc_setup(&t);
	tc_session(&t, 2);
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	CHECK(tc_setxattr(&t, fh, SETXATTR4_CREATE, "colour", "blue") == NFS4_OK);
	CHECK(tc_setxattr(&t, fh, SETXATTR4_CREATE, "colour", "red") == NFS4ERR_EXIST);
	CHECK(tc_setxattr(&t, fh, SETXATTR4_REPLACE, "size", "9") == NFS4ERR_NOXATTR);
	CHECK(tc_setxattr(&t, fh, SETXATTR4_EITHER, "size", "9") == NFS4_OK);
	CHECK(tc_setxattr(&t, fh, SETXATTR4_REPLACE, "colour", "green") == NFS4_OK);
	CHECK(tc_getxattr(&t, fh, "colour", val, sizeof(val)) == NFS4_OK && !strcmp(val, "green"));
	CHECK(tc_getxattr(&t, fh, "shape", val, sizeof(val)) == NFS4ERR_NOXATTR);
	/* stored in the core's user namespace */
	ssize_t n = kfs_getxattr(t.fs, 2, "user.colour", val, sizeof(val));
	CHECK(n == 5 && !memcmp(val, "green", 5));
	CHECK(kfs_setxattr(t.fs, 2, "trusted.hidden", "x", 1, 0) == 0);
	CHECK(tc_listxattrs(&t, fh, &cookie, 4096, names, &eof) == NFS4_OK);
	CHECK(!strcmp(names, "colour size ") && eof && cookie == 2);
	/* room for one name per call: the cookie walks on */
	cookie = 0;
	CHECK(tc_listxattrs(&t, fh, &cookie, 8 + 4 + 12 + 4, names, &eof) == NFS4_OK);
	CHECK(!strcmp(names, "colour ") && !eof && cookie == 1);
	CHECK(tc_listxattrs(&t, fh, &cookie, 8 + 4 + 12 + 4, names, &eof) == NFS4_OK);
	CHECK(!strcmp(names, "size ") && eof && cookie == 2);
	cookie = 0;
	CHECK(tc_listxattrs(&t, fh, &cookie, 16, names, &eof) == NFS4ERR_TOOSMALL);
	tc_begin(&t);
	put_fh(&t, fh, NFS_FH_LEN);
	put_name(&t, OP_REMOVEXATTR, "colour");
	CHECK(tc_send(&t) == NFS4_OK);
	CHECK(tc_send(&t) == NFS4_OK); /* the same slot and sequence id: the cached reply */
	CHECK(tc_getxattr(&t, fh, "colour", val, sizeof(val)) == NFS4ERR_NOXATTR);
	tc_begin(&t);
	put_fh(&t, fh, NFS_FH_LEN);
	put_name(&t, OP_REMOVEXATTR, "colour");
	CHECK(tc_send(&t) == NFS4ERR_NOXATTR); /* a new request runs, and finds nothing */
	/* names: no empty one, none too long for the core with its prefix */
	CHECK(tc_setxattr(&t, fh, SETXATTR4_EITHER, "", "1") == NFS4ERR_INVAL);
	char longname[KFS_XATTR_NAME_MAX];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(tc_setxattr(&t, fh, SETXATTR4_EITHER, longname, "1") == NFS4ERR_NAMETOOLONG);
	/* another user may read but not write (mode 0644) */
	t.uid = 1000;
	CHECK(tc_setxattr(&t, fh, SETXATTR4_EITHER, "size", "1") == NFS4ERR_ACCESS);
	CHECK(tc_getxattr(&t, fh, "size", val, sizeof(val)) == NFS4_OK && !strcmp(val, "9"));
	t.uid = 0;
	/* ACCESS answers the xattr bits in 4.2; GETATTR says xattrs are supported */
	tc_begin(&t);
	put_fh(&t, fh, NFS_FH_LEN);
	op(&t, OP_ACCESS);
	xdr_put_u32(&t.call, ACCESS4_XAREAD | ACCESS4_XAWRITE | ACCESS4_XALIST);
	op(&t, OP_GETATTR);
	xdr_put_u32(&t.call, 3);
	xdr_put_u32(&t.call, 0);
	xdr_put_u32(&t.call, 0);
	xdr_put_u32(&t.call, 1u << (FA_XATTR_SUPPORT - 64));
	CHECK(tc_send(&t) == NFS4_OK);
	CHECK(res(&t, OP_PUTFH) == NFS4_OK && res(&t, OP_ACCESS) == NFS4_OK);
	CHECK(xdr_u32(&t.r) == 0x1c0 && xdr_u32(&t.r) == 0x1c0);
	CHECK(res(&t, OP_GETATTR) == NFS4_OK);
	CHECK(xdr_u32(&t.r) == 3 && xdr_u32(&t.r) == 0 && xdr_u32(&t.r) == 0);
	CHECK(xdr_u32(&t.r) == 1u << (FA_XATTR_SUPPORT - 64));
	CHECK(xdr_u32(&t.r) == 4 && xdr_u32(&t.r) == 1);
	/* a 4.1 session has no xattr ops */
	t.minor = 1;
	CHECK(tc_getxattr(&t, fh, "size", val, sizeof(val)) == NFS4ERR_OP_ILLEGAL);
	tc_free(&t);
}

/* EXCLUSIVE4_1: the verifier is kept by the server (no SETATTR to follow), atime is the file's own */
TEST(open_exclusive41)
{
	struct tc t;
	struct nfs_sid a, b;
	struct ga g;
	uint8_t fh[NFS_FH_LEN];
	tc_setup(&t);
	tc_session(&t, 1);
	CHECK(tc_open_excl(&t, "ex1", 0, 1, &a) == NFS4_OK);
	CHECK(tc_open_excl(&t, "ex2", 0, 1, &b) == NFS4_OK); /* a retry on a new slot sequence */
	CHECK(tc_open_excl(&t, "ex3", 0, 9, &b) == NFS4ERR_EXIST);
	CHECK(tc_open(&t, NULL, "x", OPEN4_SHARE_ACCESS_READ, 0, NULL, &b, fh) == NFS4_OK);
	CHECK(tc_getattr(&t, fh, &g) == NFS4_OK && g.mode == 0600);
	struct kfs_attr ka;
	int64_t v;
	uint8_t verf[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	memcpy(&v, verf, 8);
	CHECK(kfs_lookup(t.fs, KFS_ROOT_INO, "x", &ka) == 0 && ka.atime_ns != v);
	tc_free(&t);
}

static uint32_t tc_delegreturn(struct tc *t, const uint8_t fh[NFS_FH_LEN], const struct nfs_sid *sid)
{
	tc_begin(t);
	put_fh(t, fh, NFS_FH_LEN);
	op(t, OP_DELEGRETURN);
	put_sid(t, sid);
	return tc_send(t);
}

/* A one-stateid FREE_STATEID or TEST_STATEID; returns the op's (or the stateid's) status. */
static uint32_t tc_stateid_op(struct tc *t, uint32_t o, const struct nfs_sid *sid)
{
	tc_begin(t);
	op(t, o);
	if (o == OP_TEST_STATEID)
		xdr_put_u32(&t->call, 1);
	put_sid(t, sid);
	uint32_t st = tc_send(t);
	if (st != NFS4_OK || o != OP_TEST_STATEID)
		return st;
	CHECK(res(t, OP_TEST_STATEID) == NFS4_OK && xdr_u32(&t->r) == 1);
	return xdr_u32(&t->r);
}

/* SETATTR of the size under a stateid. */
static uint32_t tc_truncate(struct tc *t, const uint8_t fh[NFS_FH_LEN], const struct nfs_sid *sid,
			    uint64_t size)
{
	uint8_t v[8];

	for (int i = 0; i < 8; i++)
		v[i] = (uint8_t)(size >> (56 - 8 * i));
	tc_begin(t);
	put_fh(t, fh, NFS_FH_LEN);
	op(t, OP_SETATTR);
	put_sid(t, sid);
	put_bitmap(t, 1u << FA_SIZE, 0);
	xdr_put_opaque(&t->call, v, sizeof(v));
	return tc_send(t);
}

/* OPEN (no create) under a delegation: by name (CLAIM_DELEGATE_CUR) or by handle (CLAIM_DELEG_CUR_FH). */
static uint32_t tc_open_deleg_cur(struct tc *t, const uint8_t fh[NFS_FH_LEN], const char *name,
				  const struct nfs_sid *dsid, struct nfs_sid *sid)
{
	tc_begin(t);
	if (name)
		op(t, OP_PUTROOTFH);
	else
		put_fh(t, fh, NFS_FH_LEN);
	op(t, OP_OPEN);
	xdr_put_u32(&t->call, 0);
	xdr_put_u32(&t->call, OPEN4_SHARE_ACCESS_BOTH);
	xdr_put_u32(&t->call, OPEN4_SHARE_DENY_NONE);
	xdr_put_u64(&t->call, t->clientid);
	xdr_put_string(&t->call, "owner-cur");
	xdr_put_u32(&t->call, OPEN4_NOCREATE);
	xdr_put_u32(&t->call, name ? CLAIM_DELEGATE_CUR : CLAIM_DELEG_CUR_FH);
	put_sid(t, dsid);
	if (name)
		xdr_put_string(&t->call, name);
	uint32_t st = tc_send(t);
	if (st != NFS4_OK)
		return st;
	CHECK(res(t, name ? OP_PUTROOTFH : OP_PUTFH) == NFS4_OK && res(t, OP_OPEN) == NFS4_OK);
	get_sid(t, sid);
	skip_cinfo(t);
	uint32_t bm[NFS_BITMAP_WORDS];
	(void)xdr_u32(&t->r);
	nfs_bitmap_get(&t->r, bm);
	get_deleg(t);
	CHECK(t->deleg == OPEN_DELEGATE_NONE); /* the client has one already */
	return st;
}

/* Write delegations: granted to a 4.1 client with a back channel, never recalled. */
TEST(delegations)
{
	struct tc t;
	struct nfs_sid sid, sid2, osid, d;
	uint8_t fh[NFS_FH_LEN], fh2[NFS_FH_LEN], buf[16];
	bool eof;

	/* off by default */
	tc_setup(&t);
	tc_session(&t, 2);
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	CHECK(t.deleg == OPEN_DELEGATE_NONE);
	tc_free(&t);

	tc_setup(&t);
	nfs_srv_set_delegations(t.s, true);
	tc_session(&t, 2);
	/* a create for writing gets a write delegation; its stateid reads, writes, truncates */
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	CHECK(t.deleg == OPEN_DELEGATE_WRITE);
	d = t.dsid;
	CHECK(memcmp(d.other, sid.other, sizeof(d.other)) != 0);
	CHECK(tc_close(&t, fh, &sid) == NFS4_OK);
	CHECK(tc_write(&t, fh, &d, 0, "hello", 5, UNSTABLE4) == NFS4_OK);
	CHECK(tc_read(&t, fh, &d, 0, sizeof(buf), buf, &eof) == 5 && !memcmp(buf, "hello", 5));
	CHECK(tc_truncate(&t, fh, &d, 4) == NFS4_OK);
	CHECK(tc_read(&t, fh, &d, 0, sizeof(buf), buf, &eof) == 4 && eof);
	/* a stable write under it is still durable */
	CHECK(tc_write(&t, fh, &d, 4, "o", 1, FILE_SYNC4) == NFS4_OK && kfs_synced(t.fs));
	CHECK(tc_stateid_op(&t, OP_TEST_STATEID, &d) == NFS4_OK);
	/* not a seqid state: no CLOSE, OPEN_DOWNGRADE or LOCK with it */
	CHECK(tc_close(&t, fh, &d) == NFS4ERR_BAD_STATEID);
	CHECK(tc_lock_new(&t, fh, &d, "lockowner", WRITE_LT, 0, 10, &osid) == NFS4ERR_BAD_STATEID);
	/* another owner of the same client opens it too: no conflict, no second delegation */
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_WRITE, 0, "owner2", &sid2, fh2) == NFS4_OK);
	CHECK(t.deleg == OPEN_DELEGATE_NONE);
	/* deny modes of the client's other owners ignore its delegation */
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	op(&t, OP_OPEN);
	xdr_put_u32(&t.call, 0);
	xdr_put_u32(&t.call, OPEN4_SHARE_ACCESS_READ);
	xdr_put_u32(&t.call, OPEN4_SHARE_DENY_NONE | 2);
	xdr_put_u64(&t.call, t.clientid);
	xdr_put_string(&t.call, "owner3");
	xdr_put_u32(&t.call, OPEN4_NOCREATE);
	xdr_put_u32(&t.call, CLAIM_NULL);
	xdr_put_string(&t.call, "f");
	CHECK(tc_send(&t) == NFS4ERR_SHARE_DENIED); /* owner2's write open denies it, not the delegation */
	CHECK(tc_close(&t, fh2, &sid2) == NFS4_OK);
	/* opens under the delegation (the client returning it): by handle and by name */
	CHECK(tc_open_deleg_cur(&t, fh, NULL, &d, &osid) == NFS4_OK);
	CHECK(tc_close(&t, fh, &osid) == NFS4_OK);
	CHECK(tc_open_deleg_cur(&t, NULL, "f", &d, &osid) == NFS4_OK);
	CHECK(tc_close(&t, fh, &osid) == NFS4_OK);
	CHECK(tc_open_deleg_cur(&t, fh, NULL, &sid, &osid) == NFS4ERR_BAD_STATEID); /* closed open */
	/* FREE_STATEID keeps a live delegation; DELEGRETURN ends it */
	CHECK(tc_stateid_op(&t, OP_FREE_STATEID, &d) == NFS4ERR_LOCKS_HELD);
	struct nfs_sid old = d, bad = d;
	old.seqid = 2;
	bad.other[11] ^= 0x40;
	CHECK(tc_delegreturn(&t, fh, &old) == NFS4ERR_BAD_STATEID); /* from the future */
	CHECK(tc_delegreturn(&t, fh, &bad) == NFS4ERR_BAD_STATEID);
	bad = d;
	bad.other[0] ^= 1;
	CHECK(tc_delegreturn(&t, fh, &bad) == NFS4ERR_STALE_STATEID);
	CHECK(tc_delegreturn(&t, fh2 /* same file */, &osid) == NFS4ERR_BAD_STATEID); /* an open's */
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	op(&t, OP_DELEGRETURN);
	put_sid(&t, &d);
	CHECK(tc_send(&t) == NFS4ERR_BAD_STATEID); /* another file */
	CHECK(tc_delegreturn(&t, fh, &d) == NFS4_OK);
	CHECK(tc_delegreturn(&t, fh, &d) == NFS4ERR_BAD_STATEID);
	CHECK(tc_write(&t, fh, &d, 0, "x", 1, UNSTABLE4) == NFS4ERR_BAD_STATEID);
	CHECK(tc_open_deleg_cur(&t, fh, NULL, &d, &osid) == NFS4ERR_BAD_STATEID);
	/* read-only opens, NO_DELEG wants and a plain volume get none */
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_READ, 0, NULL, &sid, fh) == NFS4_OK);
	CHECK(t.deleg == OPEN_DELEGATE_NONE);
	CHECK(tc_close(&t, fh, &sid) == NFS4_OK);
	t.want = OPEN4_SHARE_ACCESS_WANT_NO_DELEG;
	CHECK(tc_open(&t, NULL, "g", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	CHECK(t.deleg == OPEN_DELEGATE_NONE);
	t.want = 0;
	t.s->plain = true;
	CHECK(tc_open(&t, NULL, "h", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	CHECK(t.deleg == OPEN_DELEGATE_NONE);
	t.s->plain = false;
	/* a new file again: a delegation; DESTROY_CLIENTID ends it with the client */
	CHECK(tc_open(&t, NULL, "i", OPEN4_SHARE_ACCESS_WRITE, 0644, NULL, &sid, fh) == NFS4_OK);
	CHECK(t.deleg == OPEN_DELEGATE_WRITE);
	d = t.dsid;
	tc_begin(&t);
	op(&t, OP_DESTROY_SESSION);
	xdr_put_fixed(&t.call, t.sessid, sizeof(t.sessid));
	CHECK(tc_send(&t) == NFS4_OK);
	t.session = false;
	CHECK(tc_destroy_clientid(&t, t.clientid) == NFS4_OK);
	tc_session(&t, 2);
	CHECK(tc_stateid_op(&t, OP_TEST_STATEID, &d) == NFS4ERR_BAD_STATEID);
	tc_free(&t);

	/* a lapsed lease takes the delegation with it */
	tc_setup(&t);
	nfs_srv_set_delegations(t.s, true);
	t.now = 1000;
	nfs_srv_set_clock(t.s, fake_now, &t.now);
	tc_session(&t, 1);
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	CHECK(t.deleg == OPEN_DELEGATE_WRITE);
	d = t.dsid;
	t.now += 2 * NFS_LEASE + 1;
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	CHECK(tc_send(&t) == NFS4ERR_BADSESSION);
	tc_session(&t, 1);
	CHECK(tc_write(&t, fh, &d, 0, "x", 1, UNSTABLE4) == NFS4ERR_EXPIRED);
	tc_free(&t);

	/* no back channel offered: no delegation */
	tc_setup(&t);
	nfs_srv_set_delegations(t.s, true);
	t.no_back = true;
	tc_session(&t, 1);
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	CHECK(t.deleg == OPEN_DELEGATE_NONE);
	tc_free(&t);

	/* 4.0 (a separate callback connection): none, and DELEGRETURN knows no such stateid */
	tc_setup(&t);
	nfs_srv_set_delegations(t.s, true);
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	CHECK(t.deleg == OPEN_DELEGATE_NONE);
	CHECK(tc_delegreturn(&t, fh, &sid) == NFS4ERR_BAD_STATEID);
	tc_free(&t);
}

static uint32_t tc_remove(struct tc *t, const char *name)
{
	tc_begin(t);
	op(t, OP_PUTROOTFH);
	put_name(t, OP_REMOVE, name);
	return tc_send(t);
}

/*
 * OPEN says PRESERVE_UNLINKED (4.1, encrypted volume) and keeps its word
 * under a delegation: the holder's own REMOVE is served at once (nothing
 * to recall), and the file lives on for the delegation until DELEGRETURN.
 */
TEST(deleg_preserve_unlinked)
{
	struct tc t;
	struct nfs_sid sid, d;
	struct kfs_attr ka;
	uint8_t fh[NFS_FH_LEN], buf[16];
	bool eof;

	tc_setup(&t);
	nfs_srv_set_delegations(t.s, true);
	tc_session(&t, 2);
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	CHECK(t.deleg == OPEN_DELEGATE_WRITE);
	CHECK(t.rflags == (OPEN4_RESULT_LOCKTYPE_POSIX | OPEN4_RESULT_PRESERVE_UNLINKED));
	d = t.dsid;
	CHECK(kfs_lookup(t.fs, KFS_ROOT_INO, "f", &ka) == 0);
	uint64_t ino = ka.ino;
	/* closed: only the delegation holds the file when its holder removes it */
	CHECK(tc_close(&t, fh, &sid) == NFS4_OK);
	CHECK(tc_remove(&t, "f") == NFS4_OK);
	CHECK(kfs_lookup(t.fs, KFS_ROOT_INO, "f", &ka) == -ENOENT);
	CHECK(tc_write(&t, fh, &d, 0, "kept", 4, FILE_SYNC4) == NFS4_OK);
	CHECK(tc_read(&t, fh, &d, 0, sizeof(buf), buf, &eof) == 4 && !memcmp(buf, "kept", 4));
	CHECK(tc_delegreturn(&t, fh, &d) == NFS4_OK);
	CHECK(kfs_getattr(t.fs, ino, &ka) < 0); /* the last holder gone, so is the file */
	/* an open keeps it the same way */
	CHECK(tc_open(&t, NULL, "g", OPEN4_SHARE_ACCESS_READ, 0644, NULL, &sid, fh) == NFS4_OK);
	CHECK(t.rflags & OPEN4_RESULT_PRESERVE_UNLINKED);
	CHECK(tc_remove(&t, "g") == NFS4_OK);
	CHECK(tc_read(&t, fh, &sid, 0, sizeof(buf), buf, &eof) == 0 && eof);
	CHECK(tc_close(&t, fh, &sid) == NFS4_OK);
	/* never promised on a plain volume (its parent removes files behind the server) */
	t.s->plain = true;
	CHECK(tc_open(&t, NULL, "h", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	CHECK(t.rflags == OPEN4_RESULT_LOCKTYPE_POSIX);
	tc_free(&t);

	/* nor in 4.0, which does not define it */
	tc_setup(&t);
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	CHECK(!(t.rflags & OPEN4_RESULT_PRESERVE_UNLINKED));
	tc_free(&t);
}

/* RENAME from over to in the root; status. */
static uint32_t tc_rename(struct tc *t, const char *from, const char *to)
{
	tc_begin(t);
	op(t, OP_PUTROOTFH);
	op(t, OP_SAVEFH);
	op(t, OP_PUTROOTFH);
	op(t, OP_RENAME);
	xdr_put_string(&t->call, from);
	xdr_put_string(&t->call, to);
	return tc_send(t);
}

/*
 * PRESERVE_UNLINKED covers a file replaced by a RENAME as it covers one
 * removed: a file held open (or by a delegation only) and renamed over
 * stays readable through its holder, with its old content, the name shows
 * the new file, and the old one goes with its last holder.
 */
TEST(rename_over_held_file)
{
	struct tc t;
	struct nfs_sid held, src, fresh, d;
	struct kfs_attr ka;
	uint8_t hfh[NFS_FH_LEN], sfh[NFS_FH_LEN], nfh[NFS_FH_LEN], buf[16];
	bool eof;

	tc_setup(&t);
	nfs_srv_set_delegations(t.s, true);
	tc_session(&t, 2);
	for (int by_deleg = 0; by_deleg < 2; by_deleg++) {
		/* the held file: open (without a delegation), or only delegated (closed) */
		t.want = by_deleg ? 0 : OPEN4_SHARE_ACCESS_WANT_NO_DELEG;
		CHECK(tc_open(&t, NULL, "t", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &held, hfh) == NFS4_OK);
		CHECK(t.rflags & OPEN4_RESULT_PRESERVE_UNLINKED);
		CHECK(t.deleg == (by_deleg ? OPEN_DELEGATE_WRITE : OPEN_DELEGATE_NONE));
		d = t.dsid;
		CHECK(tc_write(&t, hfh, &held, 0, "old", 3, FILE_SYNC4) == NFS4_OK);
		CHECK(kfs_lookup(t.fs, KFS_ROOT_INO, "t", &ka) == 0);
		uint64_t old_ino = ka.ino;
		if (by_deleg) {
			CHECK(tc_close(&t, hfh, &held) == NFS4_OK);
			held = d;
		}
		/* the new content, written and closed under another name, renamed over it */
		t.want = OPEN4_SHARE_ACCESS_WANT_NO_DELEG;
		CHECK(tc_open(&t, NULL, "s", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &src, sfh) == NFS4_OK);
		CHECK(tc_write(&t, sfh, &src, 0, "newer", 5, FILE_SYNC4) == NFS4_OK);
		CHECK(tc_close(&t, sfh, &src) == NFS4_OK);
		CHECK(tc_rename(&t, "s", "t") == NFS4_OK);
		CHECK(kfs_lookup(t.fs, KFS_ROOT_INO, "s", &ka) == -ENOENT);
		CHECK(kfs_lookup(t.fs, KFS_ROOT_INO, "t", &ka) == 0 && ka.ino != old_ino);
		/* the holder still reads (and writes) the replaced file */
		memset(buf, 0, sizeof(buf));
		CHECK(tc_read(&t, hfh, &held, 0, sizeof(buf), buf, &eof) == 3 && !memcmp(buf, "old", 3));
		CHECK(tc_write(&t, hfh, &held, 3, "!", 1, FILE_SYNC4) == NFS4_OK);
		CHECK(kfs_getattr(t.fs, old_ino, &ka) == 0 && ka.size == 4 && ka.nlink == 0);
		/* the name opens the new content */
		CHECK(tc_open(&t, NULL, "t", OPEN4_SHARE_ACCESS_READ, 0, NULL, &fresh, nfh) == NFS4_OK);
		CHECK(memcmp(nfh, hfh, NFS_FH_LEN) != 0);
		memset(buf, 0, sizeof(buf));
		CHECK(tc_read(&t, nfh, &fresh, 0, sizeof(buf), buf, &eof) == 5 && !memcmp(buf, "newer", 5));
		CHECK(tc_close(&t, nfh, &fresh) == NFS4_OK);
		/* the last holder gone, so is the replaced file; the new one stays */
		if (by_deleg)
			CHECK(tc_delegreturn(&t, hfh, &held) == NFS4_OK);
		else
			CHECK(tc_close(&t, hfh, &held) == NFS4_OK);
		CHECK(kfs_getattr(t.fs, old_ino, &ka) < 0);
		CHECK(tc_getattr(&t, hfh, &(struct ga){ 0 }) == NFS4ERR_STALE);
		CHECK(kfs_lookup(t.fs, KFS_ROOT_INO, "t", &ka) == 0 && ka.size == 5);
		CHECK(tc_remove(&t, "t") == NFS4_OK);
	}
	tc_free(&t);
}

TEST(lease_expiry)
{
	struct tc t;
	struct nfs_sid sid, old;
	uint8_t fh[NFS_FH_LEN];
	uint64_t id;
	uint32_t seq, flags;

	/* 4.1: SEQUENCE renews; silence past the lease loses the session and the state */
	tc_setup(&t);
	t.now = 1000;
	nfs_srv_set_clock(t.s, fake_now, &t.now);
	tc_session(&t, 1);
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	t.now += NFS_LEASE - 1;
	CHECK(tc_write(&t, fh, &sid, 0, "abc", 3, FILE_SYNC4) == NFS4_OK);
	t.now += NFS_LEASE; /* renewed by that SEQUENCE: still within the lease */
	CHECK(tc_write(&t, fh, &sid, 0, "abc", 3, FILE_SYNC4) == NFS4_OK);
	/* a server busy for most of a lease (a slow commit) holds that time against itself */
	uint64_t t0 = t.now;
	t.now += NFS_LEASE - 10;
	nfs_srv_worked(t.s, t0);
	t.now += 20;
	CHECK(tc_write(&t, fh, &sid, 0, "abc", 3, FILE_SYNC4) == NFS4_OK);
	t.now += NFS_LEASE + 1;
	tc_begin(&t);
	op(&t, OP_PUTROOTFH);
	CHECK(tc_send(&t) == NFS4ERR_BADSESSION);
	uint64_t old_id = t.clientid;
	t.session = false;
	tc_create_session_call(&t, old_id, 2);
	CHECK(tc_send(&t) == NFS4ERR_STALE_CLIENTID);
	/* the client starts over; its old stateid is expired, the file no longer open */
	tc_session(&t, 1);
	CHECK(t.clientid != old_id);
	tc_begin(&t);
	op(&t, OP_TEST_STATEID);
	xdr_put_u32(&t.call, 1);
	put_sid(&t, &sid);
	CHECK(tc_send(&t) == NFS4_OK && res(&t, OP_TEST_STATEID) == NFS4_OK);
	CHECK(xdr_u32(&t.r) == 1 && xdr_u32(&t.r) == NFS4ERR_EXPIRED);
	CHECK(tc_write(&t, fh, &sid, 0, "abc", 3, FILE_SYNC4) == NFS4ERR_EXPIRED);
	(void)tc_exchange(&t, 7, &id, &seq, &flags);
	tc_free(&t);

	/* 4.0: RENEW and stateid use renew; after the lease the client id is stale */
	tc_setup(&t);
	t.now = 50;
	nfs_srv_set_clock(t.s, fake_now, &t.now);
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	t.now += NFS_LEASE;
	CHECK(tc_renew(&t, t.clientid) == NFS4_OK);
	t.now += NFS_LEASE;
	CHECK(tc_write(&t, fh, &sid, 0, "abc", 3, FILE_SYNC4) == NFS4_OK);
	old = sid;
	t.now += NFS_LEASE + 1;
	CHECK(tc_write(&t, fh, &old, 0, "abc", 3, FILE_SYNC4) == NFS4ERR_EXPIRED);
	CHECK(tc_renew(&t, t.clientid) == NFS4ERR_STALE_CLIENTID);
	tc_free(&t);
}

/*
 * 4.1: a stable WRITE whose grouped commit failed is cached in its slot
 * saying FILE_SYNC; the resend (same slot and sequence id) must not get
 * that back.
 */
TEST(commit_grouped_session)
{
	static struct cstore cs = { .st = { cs_get, cs_put, cs_del, cs_sync, cs_close } };
	struct tc t;
	struct nfs_sid sid;
	uint8_t fh[NFS_FH_LEN];

	CHECK(kfs_store_mem(&cs.in) == 0);
	tc_setup_on(&t, &cs.st);
	tc_session(&t, 1);
	CHECK(tc_open(&t, NULL, "g", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	nfs_srv_group(t.s, true);
	cs.fail = 1;
	t.session = false;
	seq_write_call(&t, 6, 1, fh, &sid, FILE_SYNC4, "x", 1);
	CHECK(tc_send(&t) == NFS4_OK && nfs_srv_owed(t.s));
	CHECK(nfs_srv_commit(t.s) < 0);
	CHECK(tc_send(&t) == NFS4ERR_RETRY_UNCACHED_REP);
	cs.fail = 0;
	CHECK(nfs_srv_commit(t.s) == 0 && !kfs_dirty(t.fs));
	tc_free(&t);
}

/* ---- plain volumes: the parent's directory served by kilnd's code over a socketpair ---- */

struct host {
	char dir[64];
	struct kd_store *st;
	struct srv v;
};

/* A plain volume "vol" on a new temporary directory, as kiln-init mounts it (an inode table of max). */
static struct kfs *plain_open_max(struct host *h, size_t max)
{
	struct kd_store_cfg cfg = { .n = 1 };
	struct kfs *fs = NULL;
	int fd;

	snprintf(h->dir, sizeof(h->dir), "/tmp/kiln-nfs-plain-XXXXXX");
	CHECK(mkdtemp(h->dir) != NULL);
	snprintf(cfg.vol[0].name, sizeof(cfg.vol[0].name), "vol");
	snprintf(cfg.vol[0].root, sizeof(cfg.vol[0].root), "%s", h->dir);
	cfg.vol[0].plain = true;
	CHECK(kd_store_new("test", &cfg, &h->st) == 0);
	CHECK((fd = connect_to(h->st, &h->v)) >= 0);
	CHECK(kfs_plain_mount_max(fd, "vol", 0, 0, max, &fs) == 0);
	return fs;
}

static struct kfs *plain_open(struct host *h)
{
	return plain_open_max(h, KFS_PLAIN_NODES_MAX);
}

/* After the volume's unmount (its end of the channel closed). */
static void plain_close(struct host *h)
{
	char cmd[128];

	pthread_join(h->v.t, NULL);
	kd_store_stop(h->st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", h->dir);
	CHECK(system(cmd) == 0);
}

/* The parent's side: write text to the volume's file name. */
static void host_write(struct host *h, const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", h->dir, name);
	CHECK((f = fopen(path, "w")) != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void host_read(struct host *h, const char *name, char *buf, size_t cap)
{
	char path[128];
	FILE *f;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", h->dir, name);
	if ((f = fopen(path, "r"))) {
		n = fread(buf, 1, cap - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}

/* GETATTR change and xattr_support (a 4.2 session); status. */
static uint32_t tc_change(struct tc *t, const uint8_t fh[NFS_FH_LEN], uint64_t *change,
			  uint32_t *xattr_support)
{
	tc_begin(t);
	put_fh(t, fh, NFS_FH_LEN);
	op(t, OP_GETATTR);
	xdr_put_u32(&t->call, 3);
	xdr_put_u32(&t->call, 1u << FA_CHANGE);
	xdr_put_u32(&t->call, 0);
	xdr_put_u32(&t->call, 1u << (FA_XATTR_SUPPORT - 64));
	uint32_t st = tc_send(t);
	if (st != NFS4_OK)
		return st;
	(void)res(t, OP_PUTFH);
	(void)res(t, OP_GETATTR);
	CHECK(xdr_u32(&t->r) == 3 && xdr_u32(&t->r) == 1u << FA_CHANGE && xdr_u32(&t->r) == 0);
	CHECK(xdr_u32(&t->r) == 1u << (FA_XATTR_SUPPORT - 64));
	CHECK(xdr_u32(&t->r) == 12);
	*change = xdr_u64(&t->r);
	*xattr_support = xdr_u32(&t->r);
	CHECK(xdr_ok(&t->r) && xdr_left(&t->r) == 0);
	return st;
}

TEST(plain_handle_key)
{
	uint8_t k1[NFS_FH_KEY_LEN], k2[NFS_FH_KEY_LEN], v1[NFS_VOLID_LEN], v2[NFS_VOLID_LEN];
	uint8_t zero[NFS_FH_KEY_LEN] = { 0 };
	struct host h;
	struct kfs *fs = plain_open(&h);

	/* no volume key to derive from: not a key computed from zeroes, a random one per boot */
	CHECK_ERR(kfs_derive_key(fs, "kiln nfs file handles", k1, v1), "no volume key");
	CHECK(nfs_fh_key(fs, k1, v1) == 0 && nfs_fh_key(fs, k2, v2) == 0);
	CHECK(memcmp(k1, zero, sizeof(k1)) && memcmp(k1, k2, sizeof(k1)) && memcmp(v1, v2, sizeof(v1)));
	CHECK(kfs_unmount(fs) == 0);
	plain_close(&h);
}

/*
 * NFS never forgets a handle, so a full inode table trims entries nothing
 * holds: their handles go stale (the slot's generation moved on, never
 * another file's) and a new LOOKUP of the name gives a working one.
 */
TEST(plain_handle_expiry)
{
	struct tc t;
	struct host h;
	struct nfs_sid sid;
	struct ga g;
	uint8_t first[NFS_FH_LEN], fh[NFS_FH_LEN], fk[NFS_FH_KEY_LEN], fv[NFS_VOLID_LEN];
	char name[16];
	struct kfs *fs = plain_open_max(&h, 16);

	CHECK(nfs_fh_key(fs, fk, fv) == 0);
	tc_setup_fs(&t, fs, fk);
	tc_session(&t, 2);
	for (int i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		CHECK(tc_open(&t, NULL, name, OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
		CHECK(tc_close(&t, fh, &sid) == NFS4_OK);
		if (i == 0)
			memcpy(first, fh, sizeof(fh));
	}
	CHECK(tc_getattr(&t, first, &g) == NFS4ERR_STALE);
	CHECK(tc_getattr(&t, fh, &g) == NFS4_OK); /* the newest is still there */
	CHECK(tc_open(&t, NULL, "f0", OPEN4_SHARE_ACCESS_READ, 0, NULL, &sid, fh) == NFS4_OK);
	CHECK(tc_getattr(&t, fh, &g) == NFS4_OK && g.type == NF4REG);
	CHECK(tc_close(&t, fh, &sid) == NFS4_OK);
	tc_free(&t);
	plain_close(&h);
}

TEST(plain_volume)
{
	struct tc t;
	struct host h;
	struct nfs_sid sid;
	uint8_t fh[NFS_FH_LEN], fk[NFS_FH_KEY_LEN], fv[NFS_VOLID_LEN], root[NFS_FH_LEN];
	char buf[64], names[64];
	uint64_t c1, c2, cookie = 0;
	uint32_t xs;
	bool eof;
	long n;

	struct kfs *fs = plain_open(&h);
	CHECK(nfs_fh_key(fs, fk, fv) == 0);
	tc_setup_fs(&t, fs, fk);
	tc_session(&t, 2);
	/* the app's file is an ordinary file in the parent's directory */
	CHECK(tc_open(&t, NULL, "f", OPEN4_SHARE_ACCESS_BOTH, 0644, NULL, &sid, fh) == NFS4_OK);
	CHECK(tc_write(&t, fh, &sid, 0, "from the app", 12, FILE_SYNC4) == NFS4_OK);
	host_read(&h, "f", buf, sizeof(buf));
	CHECK(!strcmp(buf, "from the app"));
	/* user xattrs: the attribute says so, and they are the host file's user.* ones */
	CHECK(tc_change(&t, fh, &c1, &xs) == NFS4_OK && xs == 1);
	CHECK(tc_setxattr(&t, fh, SETXATTR4_EITHER, "colour", "blue") == NFS4_OK);
	CHECK(tc_getxattr(&t, fh, "colour", buf, sizeof(buf)) == NFS4_OK && !strcmp(buf, "blue"));
	CHECK(tc_listxattrs(&t, fh, &cookie, 4096, names, &eof) == NFS4_OK && !strcmp(names, "colour "));
	char hpath[sizeof(h.dir) + 4];
	snprintf(hpath, sizeof(hpath), "%s/f", h.dir);
	CHECK(getxattr(hpath, "user.colour", buf, sizeof(buf)) == 4 && !memcmp(buf, "blue", 4));
	tc_begin(&t);
	put_fh(&t, fh, NFS_FH_LEN);
	put_name(&t, OP_REMOVEXATTR, "colour");
	CHECK(tc_send(&t) == NFS4_OK);
	CHECK(tc_getxattr(&t, fh, "colour", buf, sizeof(buf)) == NFS4ERR_NOXATTR);
	CHECK(tc_change(&t, fh, &c1, &xs) == NFS4_OK);
	/* the parent rewrites the open file: a new change attribute, the new bytes */
	host_write(&h, "f", "parent");
	CHECK(tc_change(&t, fh, &c2, &xs) == NFS4_OK && c2 != c1);
	n = tc_read(&t, fh, &sid, 0, sizeof(buf) - 1, buf, &eof);
	CHECK(n == 6 && !memcmp(buf, "parent", 6) && eof);
	CHECK(tc_close(&t, fh, &sid) == NFS4_OK);
	/* the parent's own file is read by the app */
	host_write(&h, "g", "hello from the parent");
	CHECK(tc_open(&t, NULL, "g", OPEN4_SHARE_ACCESS_READ, 0, NULL, &sid, fh) == NFS4_OK);
	n = tc_read(&t, fh, &sid, 0, sizeof(buf) - 1, buf, &eof);
	CHECK(n == 21 && !memcmp(buf, "hello from the parent", 21));
	/* directory change info is not atomic: the parent may change it at the same time */
	root_fh(&t, root);
	tc_begin(&t);
	put_fh(&t, root, NFS_FH_LEN);
	put_mkdir(&t, "d");
	CHECK(tc_send(&t) == NFS4_OK);
	(void)res(&t, OP_PUTFH);
	CHECK(res(&t, OP_CREATE) == NFS4_OK && xdr_u32(&t.r) == 0);
	struct stat sb;
	char path[128];
	snprintf(path, sizeof(path), "%s/d", h.dir);
	CHECK(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));
	tc_free(&t);
	plain_close(&h);
}

/* A plain volume's change attribute follows size and mtime too: a host clock tick may hold two writes. */
TEST(plain_change_attr)
{
	struct tc t;
	struct kfs_attr a = { .ctime_ns = 1000, .mtime_ns = 1000, .size = 5 }, b = a;

	tc_setup(&t);
	b.size = 6;
	CHECK(nfs_change_of(t.s, &a) == 1000 && nfs_change_of(t.s, &b) == 1000);
	t.s->plain = true;
	CHECK(nfs_change_of(t.s, &a) != nfs_change_of(t.s, &b));
	b = a;
	b.mtime_ns = 999;
	CHECK(nfs_change_of(t.s, &a) != nfs_change_of(t.s, &b));
	/* the usual rewrite: ctime and mtime move together, the size stays */
	b = a;
	b.ctime_ns = b.mtime_ns = 2000;
	CHECK(nfs_change_of(t.s, &a) != nfs_change_of(t.s, &b));
	t.s->plain = false;
	tc_free(&t);
}

int main(void)
{
	RUN(mount_sequence);
	RUN(create_write_read);
	RUN(open_truncate_and_share);
	RUN(open_exclusive);
	RUN(readdir_cookies);
	RUN(namespace_ops);
	RUN(setattr);
	RUN(locks);
	RUN(handles);
	RUN(handles_across_remount);
	RUN(state_errors);
	RUN(compound_errors);
	RUN(session_setup);
	RUN(session_replay);
	RUN(session_state);
	RUN(session_client_restart);
	RUN(xattrs);
	RUN(open_exclusive41);
	RUN(delegations);
	RUN(deleg_preserve_unlinked);
	RUN(rename_over_held_file);
	RUN(lease_expiry);
	RUN(commit_grouped);
	RUN(commit_grouped_session);
	RUN(plain_handle_key);
	RUN(plain_volume);
	RUN(plain_handle_expiry);
	RUN(plain_change_attr);
	return t_done();
}
