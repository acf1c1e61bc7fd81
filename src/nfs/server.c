/* SPDX-License-Identifier: Apache-2.0 */
/* The NFSv4 server: RPC dispatch, COMPOUND (with 4.1 sessions), file handles, names and error mapping. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nfs/internal.h"

#define TAG_MAX 1024

/*
 * Every PUTFH checks a handle's HMAC, and every reply naming a file makes
 * one: HMAC() looks the digest up and keys a new context each time (under
 * the guest lab's TCG, a PUTFH cost as much as a small WRITE). One keyed
 * context per server, re-initialised with its key for each MAC.
 */
static int crypto_new(struct nfs_srv *s)
{
	OSSL_PARAM p[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
			   OSSL_PARAM_construct_end() };
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);

	s->fh_mac = mac ? EVP_MAC_CTX_new(mac) : NULL;
	EVP_MAC_free(mac); /* the context holds its own reference */
	if (!s->fh_mac || EVP_MAC_init(s->fh_mac, s->key, NFS_FH_KEY_LEN, p) != 1)
		return kiln_err(ENOMEM, "nfs: no HMAC-SHA256 context");
	return 0;
}

static void crypto_free(struct nfs_srv *s)
{
	EVP_MAC_CTX_free(s->fh_mac); /* cleanses the key it holds */
}

int nfs_srv_new(struct kfs *fs, const uint8_t key[NFS_FH_KEY_LEN],
		const uint8_t volid[NFS_VOLID_LEN], struct nfs_srv **out)
{
	struct nfs_srv *s = calloc(1, sizeof(*s));

	if (!s)
		return kiln_err(ENOMEM, "nfs: out of memory");
	s->fs = fs;
	s->plain = kfs_changes_behind(fs);
	memcpy(s->key, key, NFS_FH_KEY_LEN);
	memcpy(s->volid, volid, NFS_VOLID_LEN);
	/* a new boot verifier per instance: clients see stale ids after a restart */
	if (RAND_bytes((uint8_t *)&s->boot, sizeof(s->boot)) != 1 ||
	    RAND_bytes(s->writeverf, sizeof(s->writeverf)) != 1) {
		free(s);
		return kiln_err(EIO, "nfs: no random bytes for the boot verifier");
	}
	s->boot |= 1; /* never 0: zero stateids are the special ones */
	s->next_client = 1;
	s->next_state = 1;
	if (crypto_new(s) < 0) {
		nfs_srv_free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void nfs_srv_free(struct nfs_srv *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s->key, sizeof(s->key));
	crypto_free(s);
	nfs_state_drop_client(s);
	nfs_session_free(s);
	free(s->owners);
	free(s->states);
	free(s->locks);
	free(s);
}

struct kfs *nfs_srv_fs(struct nfs_srv *s)
{
	return s->fs;
}

void nfs_srv_set_delegations(struct nfs_srv *s, bool on)
{
	s->delegations = on;
}

void nfs_srv_set_clock(struct nfs_srv *s, uint64_t (*now)(void *arg), void *arg)
{
	s->clock = now;
	s->clock_arg = arg;
	nfs_lease_renew(s);
}

uint32_t nfs_errno(int rc)
{
	switch (-rc) {
	case 0:
		return NFS4_OK;
	case EPERM:
		return NFS4ERR_PERM;
	case ENOENT:
		return NFS4ERR_NOENT;
	case EIO:
	case EBADMSG:
		return NFS4ERR_IO;
	case ENXIO:
		return NFS4ERR_NXIO;
	case EACCES:
		return NFS4ERR_ACCESS;
	case EEXIST:
		return NFS4ERR_EXIST;
	case EXDEV:
		return NFS4ERR_XDEV;
	case ENOTDIR:
		return NFS4ERR_NOTDIR;
	case EISDIR:
		return NFS4ERR_ISDIR;
	case EINVAL:
		return NFS4ERR_INVAL;
	case EFBIG:
		return NFS4ERR_FBIG;
	case ENOSPC:
		return NFS4ERR_NOSPC;
	case EROFS:
		return NFS4ERR_ROFS;
	case EMLINK:
		return NFS4ERR_MLINK;
	case ENAMETOOLONG:
		return NFS4ERR_NAMETOOLONG;
	case ENOTEMPTY:
		return NFS4ERR_NOTEMPTY;
	case EDQUOT:
		return NFS4ERR_DQUOT;
	case ENOMEM:
		return NFS4ERR_RESOURCE;
	case ENOTSUP:
		return NFS4ERR_NOTSUPP;
	case ELOOP:
		return NFS4ERR_SYMLINK;
	default:
		return NFS4ERR_SERVERFAULT;
	}
}

/* False (and a MAC of zeros) if OpenSSL failed: a handle is then refused, never accepted. */
static bool fh_mac(struct nfs_srv *s, const uint8_t *msg, size_t len, uint8_t mac[32])
{
	size_t mlen = 0;

	s->fh_macs++;
	if (EVP_MAC_init(s->fh_mac, NULL, 0, NULL) == 1 && EVP_MAC_update(s->fh_mac, msg, len) == 1 &&
	    EVP_MAC_final(s->fh_mac, mac, &mlen, 32) == 1 && mlen == 32)
		return true;
	memset(mac, 0, 32);
	return false;
}

/* Layout: "kfh1" | inode (8, big-endian) | HMAC(key, volid | first 12 bytes)[0..16). */
static void fh_body(struct nfs_srv *s, uint64_t ino, uint8_t b[NFS_VOLID_LEN + 12])
{
	memcpy(b, s->volid, NFS_VOLID_LEN);
	memcpy(b + NFS_VOLID_LEN, "kfh1", 4);
	for (int i = 0; i < 8; i++)
		b[NFS_VOLID_LEN + 4 + i] = (uint8_t)(ino >> (56 - 8 * i));
}

/*
 * Handles made lately, by inode. A handle is checked by making the one
 * its inode has and comparing the two in constant time (a forger learns
 * nothing from how long a mismatch took); only handles this server made
 * with its key are kept, so one taken from here is as authentic as one
 * MACed again: the protection is the same, and the HMAC runs about once
 * per file instead of once per PUTFH and per reply naming it. An empty
 * entry (zeros) never matches: a handle starts with "kfh1".
 */
static uint8_t *fh_seen(struct nfs_srv *s, uint64_t ino)
{
	return s->fh_seen[ino % NFS_FH_SEEN];
}

static bool fh_make(struct nfs_srv *s, uint64_t ino, uint8_t fh[NFS_FH_LEN])
{
	uint8_t b[NFS_VOLID_LEN + 12], mac[32], *seen = fh_seen(s, ino);
	bool ok;

	fh_body(s, ino, b);
	if (!memcmp(seen, b + NFS_VOLID_LEN, 12)) { /* the same inode's handle: made or checked */
		memcpy(fh, seen, NFS_FH_LEN);
		return true;
	}
	ok = fh_mac(s, b, sizeof(b), mac);
	memcpy(fh, b + NFS_VOLID_LEN, 12);
	memcpy(fh + 12, mac, 16);
	if (ok)
		memcpy(seen, fh, NFS_FH_LEN);
	return ok;
}

void nfs_fh_make(struct nfs_srv *s, uint64_t ino, uint8_t fh[NFS_FH_LEN])
{
	(void)fh_make(s, ino, fh);
}

uint32_t nfs_fh_check(struct nfs_srv *s, const uint8_t *fh, uint32_t len, uint64_t *ino)
{
	uint8_t want[NFS_FH_LEN];
	uint64_t v = 0;
	struct kfs_attr a;

	if (len != NFS_FH_LEN || memcmp(fh, "kfh1", 4))
		return NFS4ERR_BADHANDLE;
	for (int i = 0; i < 8; i++)
		v = v << 8 | fh[4 + i];
	if (v == 0 || !fh_make(s, v, want) || CRYPTO_memcmp(want, fh, NFS_FH_LEN))
		return NFS4ERR_BADHANDLE;
	int rc = kfs_getattr(s->fs, v, &a);
	if (rc == -ENOENT)
		return NFS4ERR_STALE;
	if (rc < 0)
		return nfs_errno(rc);
	*ino = v;
	return NFS4_OK;
}

uint32_t nfs_opaque_name(struct xdr_in *x, uint32_t max, const uint8_t **p, uint32_t *n)
{
	/* read any length the record holds, then judge it: NAMETOOLONG, not BADXDR */
	xdr_opaque_ref(x, NFS_MAX_RECORD, p, n);
	if (!xdr_ok(x))
		return NFS4ERR_BADXDR;
	if (*n == 0)
		return NFS4ERR_INVAL;
	if (*n > max)
		return NFS4ERR_NAMETOOLONG;
	if (memchr(*p, 0, *n))
		return NFS4ERR_BADCHAR;
	return NFS4_OK;
}

uint32_t nfs_name(struct xdr_in *x, char name[KFS_NAME_MAX + 1])
{
	const uint8_t *p;
	uint32_t n;

	uint32_t st = nfs_opaque_name(x, KFS_NAME_MAX, &p, &n);
	if (st != NFS4_OK)
		return st;
	if (memchr(p, '/', n))
		return NFS4ERR_BADCHAR;
	if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
		return NFS4ERR_BADNAME;
	memcpy(name, p, n);
	name[n] = '\0';
	return NFS4_OK;
}

static uint32_t op_illegal(struct nfs_cx *cx)
{
	return NFS4ERR_OP_ILLEGAL;
}

static uint32_t op_notsupp(struct nfs_cx *cx)
{
	return NFS4ERR_NOTSUPP;
}

/* Operations of 4.1 (RFC 8881) and 4.2 (RFC 7862, RFC 8276 xattrs). */
static nfs_op_fn op_table41(uint32_t op, uint32_t minor)
{
	switch (op) {
	case OP_EXCHANGE_ID: return nfs_op_exchange_id;
	case OP_CREATE_SESSION: return nfs_op_create_session;
	case OP_DESTROY_SESSION: return nfs_op_destroy_session;
	case OP_DESTROY_CLIENTID: return nfs_op_destroy_clientid;
	case OP_BIND_CONN_TO_SESSION: return nfs_op_bind_conn_to_session;
	case OP_SEQUENCE: return nfs_op_sequence;
	case OP_RECLAIM_COMPLETE: return nfs_op_reclaim_complete;
	case OP_SECINFO_NO_NAME: return nfs_op_secinfo_no_name;
	case OP_TEST_STATEID: return nfs_op_test_stateid;
	case OP_FREE_STATEID: return nfs_op_free_stateid;
	/* 4.0's client-id and seqid machinery is gone from 4.1 (RFC 8881 table 6) */
	case OP_OPEN_CONFIRM:
	case OP_RENEW:
	case OP_SETCLIENTID:
	case OP_SETCLIENTID_CONFIRM:
	case OP_RELEASE_LOCKOWNER:
		return op_notsupp;
	default:
		break;
	}
	if (minor >= 2) {
		switch (op) {
		case OP_GETXATTR: return nfs_op_getxattr;
		case OP_SETXATTR: return nfs_op_setxattr;
		case OP_LISTXATTRS: return nfs_op_listxattrs;
		case OP_REMOVEXATTR: return nfs_op_removexattr;
		default:
			break;
		}
		if (op >= OP_ALLOCATE && op <= OP_CLONE)
			return op_notsupp; /* the client falls back to plain reads and writes */
	}
	/* no layouts, delegations, SSV or back channel: defined, not supported */
	if (op >= OP_BACKCHANNEL_CTL && op <= OP_RECLAIM_COMPLETE)
		return op_notsupp;
	return NULL;
}

static nfs_op_fn op_table(uint32_t op, uint32_t minor)
{
	nfs_op_fn fn = minor ? op_table41(op, minor) : NULL;

	if (fn)
		return fn;
	switch (op) {
	case OP_ACCESS: return nfs_op_access;
	case OP_CLOSE: return nfs_op_close;
	case OP_COMMIT: return nfs_op_commit;
	case OP_CREATE: return nfs_op_create;
	case OP_DELEGPURGE: return op_notsupp; /* no CLAIM_DELEGATE_PREV: RFC 7530 16.5 */
	case OP_DELEGRETURN: return nfs_op_delegreturn;
	case OP_GETATTR: return nfs_op_getattr;
	case OP_GETFH: return nfs_op_getfh;
	case OP_LINK: return nfs_op_link;
	case OP_LOCK: return nfs_op_lock;
	case OP_LOCKT: return nfs_op_lockt;
	case OP_LOCKU: return nfs_op_locku;
	case OP_LOOKUP: return nfs_op_lookup;
	case OP_LOOKUPP: return nfs_op_lookupp;
	case OP_NVERIFY: return nfs_op_nverify;
	case OP_OPEN: return nfs_op_open;
	case OP_OPENATTR: return op_notsupp; /* no named attributes */
	case OP_OPEN_CONFIRM: return nfs_op_open_confirm;
	case OP_OPEN_DOWNGRADE: return nfs_op_open_downgrade;
	case OP_PUTFH: return nfs_op_putfh;
	case OP_PUTPUBFH: return nfs_op_putrootfh; /* the public fh is the root */
	case OP_PUTROOTFH: return nfs_op_putrootfh;
	case OP_READ: return nfs_op_read;
	case OP_READDIR: return nfs_op_readdir;
	case OP_READLINK: return nfs_op_readlink;
	case OP_REMOVE: return nfs_op_remove;
	case OP_RENAME: return nfs_op_rename;
	case OP_RENEW: return nfs_op_renew;
	case OP_RESTOREFH: return nfs_op_restorefh;
	case OP_SAVEFH: return nfs_op_savefh;
	case OP_SECINFO: return nfs_op_secinfo;
	case OP_SETATTR: return nfs_op_setattr;
	case OP_SETCLIENTID: return nfs_op_setclientid;
	case OP_SETCLIENTID_CONFIRM: return nfs_op_setclientid_confirm;
	case OP_VERIFY: return nfs_op_verify;
	case OP_WRITE: return nfs_op_write;
	case OP_RELEASE_LOCKOWNER: return nfs_op_release_lockowner;
	default: return op_illegal;
	}
}

/* Ops that carry a seqid: their result is cached per owner for a replayed request. */
static bool seqid_op(uint32_t op)
{
	return op == OP_OPEN || op == OP_OPEN_CONFIRM || op == OP_OPEN_DOWNGRADE ||
	       op == OP_CLOSE || op == OP_LOCK || op == OP_LOCKU;
}

/* One operation: its number, status and result; returns the status. */
static uint32_t compound_op(struct nfs_cx *cx, uint32_t op)
{
	struct xdr_out *o = cx->out;
	nfs_op_fn fn = op_table(op, cx->minor);

	xdr_put_u32(o, fn == op_illegal ? OP_ILLEGAL : op);
	size_t st = xdr_reserve(o);
	cx->keep_body = false;
	cx->seq_owner = NULL;
	uint32_t status = fn(cx);
	if (cx->replay)
		return status;
	if (status != NFS4_OK && !cx->keep_body)
		o->len = st + 4;
	xdr_patch_u32(o, st, status);
	if (cx->seq_owner && seqid_op(op) && o->len - st <= NFS_REPLAY_MAX) {
		struct nfs_owner *w = cx->seq_owner;
		w->replay_op = op;
		w->replay_len = (uint32_t)(o->len - st);
		memcpy(w->replay, o->buf + st, w->replay_len);
		w->replay_cur = cx->cur;
	}
	return status;
}

/* Ops that run outside a session, each alone in its COMPOUND (RFC 8881 2.10.6.4). */
static bool sessionless(uint32_t op)
{
	return op == OP_EXCHANGE_ID || op == OP_CREATE_SESSION || op == OP_DESTROY_SESSION ||
	       op == OP_DESTROY_CLIENTID || op == OP_BIND_CONN_TO_SESSION;
}

/* 4.1: where an op may stand; an error is the op's result and ends the COMPOUND. */
static uint32_t session_gate(const struct nfs_cx *cx, uint32_t i, uint32_t op)
{
	if (i == 0 && op == OP_SEQUENCE)
		return NFS4_OK;
	if (op == OP_SEQUENCE)
		return NFS4ERR_SEQUENCE_POS;
	if (i == 0 && sessionless(op))
		return cx->nops == 1 ? NFS4_OK : NFS4ERR_NOT_ONLY_OP;
	if (i == 0)
		return NFS4ERR_OP_NOT_IN_SESSION;
	if (op == OP_EXCHANGE_ID || op == OP_CREATE_SESSION || op == OP_BIND_CONN_TO_SESSION)
		return NFS4ERR_NOT_ONLY_OP;
	return NFS4_OK;
}

static uint32_t compound_ops(struct nfs_cx *cx, uint32_t *done, size_t *first_end)
{
	uint32_t status = NFS4_OK;

	for (uint32_t i = 0; status == NFS4_OK && i < cx->nops; i++) {
		uint32_t op = xdr_u32(cx->in);
		if (!xdr_ok(cx->in))
			return NFS4ERR_BADXDR;
		uint32_t gate = cx->minor ? session_gate(cx, i, op) : NFS4_OK;
		if (gate != NFS4_OK) {
			xdr_put_u32(cx->out, op_table(op, cx->minor) == op_illegal ? OP_ILLEGAL : op);
			xdr_put_u32(cx->out, gate);
			(*done)++;
			return gate;
		}
		cx->op = op;
		status = compound_op(cx, op);
		if (cx->replay)
			return status;
		(*done)++;
		if (i == 0)
			*first_end = cx->out->len;
		if (cx->out->err)
			break;
	}
	return status;
}

/* The reply a new request on a slot made is the slot's answer to its retries. */
static void slot_keep(struct nfs_slot *sl, const uint8_t *p, size_t len)
{
	if (len > NFS_SLOT_CACHE || !(sl->reply = malloc(len)))
		return; /* a retry gets RETRY_UNCACHED_REP: reads are the large ones */
	memcpy(sl->reply, p, len);
	sl->reply_len = (uint32_t)len;
}

static void compound(struct nfs_srv *s, const struct rpc_cred *cred, struct xdr_in *x,
		     struct xdr_out *o)
{
	const uint8_t *tag;
	uint32_t taglen, minor, nops, status = NFS4_OK, done = 0;
	struct nfs_cx cx = { .s = s, .cred = cred, .in = x, .out = o };
	size_t first_end = 0;

	cx.args = x->buf + x->off;
	cx.args_len = xdr_left(x);
	xdr_opaque_ref(x, TAG_MAX, &tag, &taglen);
	minor = xdr_u32(x);
	nops = xdr_u32(x);
	size_t st = xdr_reserve(o);
	xdr_put_opaque(o, tag, taglen);
	size_t cnt = xdr_reserve(o);
	if (!xdr_ok(x)) {
		status = NFS4ERR_BADXDR;
	} else if (minor > 2) {
		status = NFS4ERR_MINOR_VERS_MISMATCH;
	} else if (nops > NFS_COMPOUND_OPS_MAX) {
		status = NFS4ERR_RESOURCE;
	}
	if (status == NFS4_OK) {
		cx.minor = s->minor = minor;
		cx.nops = nops;
		nfs_lease_check(s);
		uint64_t t0 = nfs_now(s);
		status = compound_ops(&cx, &done, &first_end);
		nfs_srv_worked(s, t0);
	}
	if (cx.replay) {
		/* a retry: the first reply, byte for byte, nothing run again */
		o->len = st;
		xdr_put_fixed(o, cx.replay->reply, cx.replay->reply_len);
		return;
	}
	if (o->err) {
		/* the reply outgrew its buffer: a short reply saying so (after SEQUENCE's result) */
		o->err = false;
		o->len = cx.slot ? first_end : cnt + 4;
		done = cx.slot ? 1 : 0;
		status = cx.slot ? NFS4ERR_REP_TOO_BIG : NFS4ERR_RESOURCE;
		if (cx.slot && cx.op != OP_SEQUENCE) {
			xdr_put_u32(o, cx.op); /* the op whose result did not fit */
			xdr_put_u32(o, status);
			done++;
		}
	}
	xdr_patch_u32(o, st, status);
	xdr_patch_u32(o, cnt, done);
	if (cx.slot)
		slot_keep(cx.slot, o->buf + st, o->len - st);
}

int nfs_srv_rpc(struct nfs_srv *s, const uint8_t *rec, size_t len, struct xdr_out *out)
{
	struct xdr_in x;
	struct rpc_call c;
	int reject;

	xdr_in_init(&x, rec, len);
	int rc = rpc_call_decode(&x, &c, &reject);
	if (rc == -EBADMSG) {
		out->len = 0;
		return 0;
	}
	if (rc < 0) {
		if (reject == RPC_REJ_GARBAGE)
			rpc_reply_accepted(out, c.xid, RPC_GARBAGE_ARGS);
		else
			rpc_reply_denied(out, c.xid, reject);
	} else if (c.prog != NFS4_PROGRAM) {
		rpc_reply_accepted(out, c.xid, RPC_PROG_UNAVAIL);
	} else if (c.vers != NFS4_VERSION) {
		rpc_reply_prog_mismatch(out, c.xid, NFS4_VERSION, NFS4_VERSION);
	} else if (c.proc == NFS4_PROC_NULL) {
		rpc_reply_accepted(out, c.xid, RPC_SUCCESS);
	} else if (c.proc == NFS4_PROC_COMPOUND) {
		rpc_reply_accepted(out, c.xid, RPC_SUCCESS);
		compound(s, &c.cred, &x, out);
	} else {
		rpc_reply_accepted(out, c.xid, RPC_PROC_UNAVAIL);
	}
	if (out->err)
		return kiln_err(ENOMEM, "nfs: no room for a reply");
	rpc_reply_finish(out);
	return 0;
}
