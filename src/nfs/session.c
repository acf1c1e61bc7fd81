/* SPDX-License-Identifier: Apache-2.0 */
/* NFSv4.1 client records and sessions (RFC 8881): EXCHANGE_ID, CREATE_SESSION, SEQUENCE's slots. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "nfs/internal.h"

/*
 * How this works: the server keeps one client record (the kernel's client)
 * and at most one session for it. EXCHANGE_ID makes an unconfirmed record;
 * CREATE_SESSION confirms it (dropping the state of a client it replaces)
 * and has its own one-deep replay cache (cs_seq, cs_reply). Every later
 * COMPOUND starts with SEQUENCE naming a slot: the next sequence id runs
 * the request and caches its whole reply in the slot, the same sequence id
 * again is a retry answered from that cache without running anything, and
 * a retry whose request differs (its length, or one of its first
 * NFS_SLOT_REQ bytes, kept in the slot) is a false one. Kept as they are,
 * not digested: a copy costs less than SHA-256 of the same bytes (which
 * under the guest lab's TCG was most of a SEQUENCE's time), the
 * comparison runs only on a retry, and it never mistakes one request for
 * another.
 */
#define SEC_PARMS_MAX 16
#define TEST_STATEIDS_MAX 1024
#define RPCSEC_GSS 6 /* a callback flavor a client may offer (RFC 2203) */

struct chan {
	uint32_t pad, rqst, resp, cached, ops, reqs;
};

static uint32_t min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static void chan_get(struct xdr_in *x, struct chan *c)
{
	c->pad = xdr_u32(x);
	c->rqst = xdr_u32(x);
	c->resp = xdr_u32(x);
	c->cached = xdr_u32(x);
	c->ops = xdr_u32(x);
	c->reqs = xdr_u32(x);
	uint32_t ird = xdr_u32(x); /* ca_rdma_ird<1> */
	if (ird > 1)
		xdr_fail(x);
	else if (ird)
		(void)xdr_u32(x);
}

static void chan_put(struct xdr_out *o, const struct chan *c)
{
	xdr_put_u32(o, c->pad);
	xdr_put_u32(o, c->rqst);
	xdr_put_u32(o, c->resp);
	xdr_put_u32(o, c->cached);
	xdr_put_u32(o, c->ops);
	xdr_put_u32(o, c->reqs);
	xdr_put_u32(o, 0); /* no RDMA */
}

static void skip_opaque(struct xdr_in *x, size_t max)
{
	const uint8_t *p;
	uint32_t n;

	xdr_opaque_ref(x, max, &p, &n);
}

/* callback_sec_parms4<>: decoded only to be skipped, the server never calls back (deleg.c). */
static void sec_parms_skip(struct xdr_in *x)
{
	uint32_t n = xdr_u32(x);

	if (n > SEC_PARMS_MAX) {
		xdr_fail(x);
		return;
	}
	for (uint32_t i = 0; i < n && xdr_ok(x); i++) {
		switch (xdr_u32(x)) {
		case RPC_AUTH_NONE:
			break;
		case RPC_AUTH_SYS: {
			(void)xdr_u32(x); /* stamp */
			skip_opaque(x, RPC_AUTH_SYS_NAME_MAX);
			(void)xdr_u32(x);
			(void)xdr_u32(x);
			uint32_t g = xdr_u32(x);
			if (g > RPC_AUTH_SYS_GIDS_MAX)
				xdr_fail(x);
			for (uint32_t k = 0; k < g && xdr_ok(x); k++)
				(void)xdr_u32(x);
			break;
		}
		case RPCSEC_GSS: /* service, two handles */
			(void)xdr_u32(x);
			skip_opaque(x, NFS4_OPAQUE_LIMIT);
			skip_opaque(x, NFS4_OPAQUE_LIMIT);
			break;
		default:
			xdr_fail(x);
			break;
		}
	}
}

void nfs_session_free(struct nfs_srv *s)
{
	if (!s->sess)
		return;
	for (uint32_t i = 0; i < NFS_SLOTS; i++) {
		free(s->sess->slots[i].reply);
		free(s->sess->slots[i].req);
	}
	free(s->sess);
	s->sess = NULL;
}

static void put_server_owner(struct nfs_cx *cx)
{
	xdr_put_u32(cx->out, SP4_NONE);
	xdr_put_u64(cx->out, 0); /* so_minor_id */
	xdr_put_opaque(cx->out, cx->s->volid, NFS_VOLID_LEN); /* so_major_id */
	xdr_put_opaque(cx->out, cx->s->volid, NFS_VOLID_LEN); /* server scope */
	xdr_put_u32(cx->out, 0); /* no implementation id */
}

static void put_exchange(struct nfs_cx *cx, uint64_t id, uint32_t seq, bool confirmed)
{
	xdr_put_u64(cx->out, id);
	xdr_put_u32(cx->out, seq);
	xdr_put_u32(cx->out, EXCHGID4_FLAG_USE_NON_PNFS | (confirmed ? EXCHGID4_FLAG_CONFIRMED_R : 0));
	put_server_owner(cx);
}

struct xid_arg {
	uint8_t verf[8];
	const uint8_t *owner;
	uint32_t owner_len, flags, how;
};

static uint32_t exchange_decode(struct xdr_in *x, struct xid_arg *a)
{
	xdr_fixed(x, a->verf, sizeof(a->verf));
	xdr_opaque_ref(x, NFS4_OPAQUE_LIMIT, &a->owner, &a->owner_len);
	a->flags = xdr_u32(x);
	a->how = xdr_u32(x);
	if (!xdr_ok(x))
		return NFS4ERR_BADXDR;
	if (a->how != SP4_NONE)
		return NFS4ERR_INVAL; /* AUTH_SYS only: no machine credential or SSV to bind */
	uint32_t impl = xdr_u32(x); /* nfs_impl_id4<1> */
	if (impl > 1)
		return NFS4ERR_BADXDR;
	if (impl) {
		skip_opaque(x, NFS4_OPAQUE_LIMIT);
		skip_opaque(x, NFS4_OPAQUE_LIMIT);
		(void)xdr_u64(x);
		(void)xdr_u32(x);
	}
	if (!xdr_ok(x))
		return NFS4ERR_BADXDR;
	if (a->flags & ~EXCHGID4_FLAG_MASK_A)
		return NFS4ERR_INVAL;
	return NFS4_OK;
}

/* RFC 8881 18.35.4, for the one client this server keeps. */
uint32_t nfs_op_exchange_id(struct nfs_cx *cx)
{
	struct nfs_srv *s = cx->s;
	struct xid_arg a;

	uint32_t st = exchange_decode(cx->in, &a);
	if (st != NFS4_OK)
		return st;
	bool same = s->confirmed && s->v41 && a.owner_len == s->client_namelen &&
		    !memcmp(a.owner, s->client_name, a.owner_len);
	bool same_verf = same && !memcmp(a.verf, s->client_cverf, 8);
	if (a.flags & EXCHGID4_FLAG_UPD_CONFIRMED_REC_A) {
		if (!same)
			return NFS4ERR_NOENT;
		if (!same_verf)
			return NFS4ERR_NOT_SAME;
	}
	if (same_verf) {
		put_exchange(cx, s->clientid, s->cs_seq, true);
		return NFS4_OK;
	}
	/* a retransmission of the EXCHANGE_ID that made the unconfirmed record */
	bool again = s->has_unconf && s->unconf_v41 && a.owner_len == s->unconf_namelen &&
		     !memcmp(a.owner, s->unconf_name, a.owner_len) &&
		     !memcmp(a.verf, s->unconf_cverf, 8);
	if (!again) {
		s->unconf_clientid = (uint64_t)s->boot << 32 | (uint32_t)s->next_client++;
		memcpy(s->unconf_name, a.owner, a.owner_len);
		s->unconf_namelen = a.owner_len;
		memcpy(s->unconf_cverf, a.verf, 8);
		s->unconf_cs_seq = 1;
		s->unconf_v41 = true;
		s->has_unconf = true;
	}
	put_exchange(cx, s->unconf_clientid, s->unconf_cs_seq, false);
	return NFS4_OK;
}

/* The unconfirmed record becomes the client: a different client's state goes. */
static void confirm_unconf(struct nfs_srv *s)
{
	if (s->confirmed && s->clientid != s->unconf_clientid) {
		nfs_state_drop_client(s);
		nfs_session_free(s);
	}
	s->clientid = s->unconf_clientid;
	memcpy(s->client_name, s->unconf_name, s->unconf_namelen);
	s->client_namelen = s->unconf_namelen;
	memcpy(s->client_cverf, s->unconf_cverf, 8);
	s->cs_seq = s->unconf_cs_seq;
	s->cs_reply_len = 0;
	s->confirmed = true;
	s->v41 = true;
	s->reclaim_done = false;
	s->has_unconf = false;
	s->client_from = s->next_state;
	nfs_lease_renew(s);
}

static uint32_t session_new(struct nfs_srv *s, const struct chan *fore, bool back, struct chan *got)
{
	struct nfs_session *ss = calloc(1, sizeof(*ss));

	if (!ss)
		return NFS4ERR_SERVERFAULT;
	if (RAND_bytes(ss->id, sizeof(ss->id)) != 1) {
		free(ss);
		return NFS4ERR_SERVERFAULT;
	}
	got->pad = 0;
	got->rqst = min32(fore->rqst, NFS_MAX_RECORD);
	got->resp = min32(fore->resp, NFS_MAX_RECORD);
	got->cached = min32(fore->cached, NFS_SLOT_CACHE);
	got->ops = min32(fore->ops, NFS_COMPOUND_OPS_MAX);
	got->reqs = min32(fore->reqs ? fore->reqs : 1, NFS_SLOTS);
	ss->clientid = s->clientid;
	ss->nslots = got->reqs;
	ss->max_ops = got->ops;
	ss->max_rqst = got->rqst;
	ss->max_resp = got->resp;
	ss->max_cached = got->cached;
	ss->back = back;
	/* one session per client: a new one replaces the old (the client made it so) */
	nfs_session_free(s);
	s->sess = ss;
	return NFS4_OK;
}

uint32_t nfs_op_create_session(struct nfs_cx *cx)
{
	struct nfs_srv *s = cx->s;
	struct chan fore, bc, got;

	uint64_t id = xdr_u64(cx->in);
	uint32_t seq = xdr_u32(cx->in);
	/* flags: never persistent; the back channel this connection offers is taken */
	uint32_t flags = xdr_u32(cx->in);
	chan_get(cx->in, &fore);
	chan_get(cx->in, &bc);
	(void)xdr_u32(cx->in); /* cb_program */
	sec_parms_skip(cx->in);
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	bool conf = s->confirmed && s->v41 && id == s->clientid;
	bool unconf = s->has_unconf && s->unconf_v41 && id == s->unconf_clientid;
	if (!conf && !unconf)
		return NFS4ERR_STALE_CLIENTID;
	if (conf && seq + 1 == s->cs_seq && s->cs_reply_len) {
		xdr_put_fixed(cx->out, s->cs_reply, s->cs_reply_len); /* a retry: the same result */
		return NFS4_OK;
	}
	if (seq != (conf ? s->cs_seq : s->unconf_cs_seq))
		return NFS4ERR_SEQ_MISORDERED;
	if (unconf && !conf)
		confirm_unconf(s);
	bool back = flags & CREATE_SESSION4_FLAG_CONN_BACK_CHAN;
	uint32_t st = session_new(s, &fore, back, &got);
	if (st != NFS4_OK)
		return st;
	size_t at = cx->out->len;
	xdr_put_fixed(cx->out, s->sess->id, NFS4_SESSIONID_SIZE);
	xdr_put_u32(cx->out, seq);
	xdr_put_u32(cx->out, back ? CREATE_SESSION4_FLAG_CONN_BACK_CHAN : 0);
	chan_put(cx->out, &got);
	chan_put(cx->out, &bc); /* never used (no callbacks): taken as asked */
	s->cs_seq = seq + 1;
	s->cs_reply_len = 0;
	if (!cx->out->err && cx->out->len - at <= sizeof(s->cs_reply)) {
		s->cs_reply_len = (uint32_t)(cx->out->len - at);
		memcpy(s->cs_reply, cx->out->buf + at, s->cs_reply_len);
	}
	return NFS4_OK;
}

static struct nfs_session *session_of(struct nfs_srv *s, const uint8_t id[NFS4_SESSIONID_SIZE])
{
	struct nfs_session *ss = s->sess;

	return ss && !CRYPTO_memcmp(ss->id, id, NFS4_SESSIONID_SIZE) ? ss : NULL;
}

static uint32_t session_get(struct nfs_cx *cx, struct nfs_session **out)
{
	uint8_t id[NFS4_SESSIONID_SIZE];

	xdr_fixed(cx->in, id, sizeof(id));
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	*out = session_of(cx->s, id);
	return *out ? NFS4_OK : NFS4ERR_BADSESSION;
}

static bool same_request(const struct nfs_cx *cx, const struct nfs_slot *sl)
{
	size_t n = cx->args_len < NFS_SLOT_REQ ? cx->args_len : NFS_SLOT_REQ;

	return sl->req && sl->req_len == cx->args_len && !CRYPTO_memcmp(sl->req, cx->args, n);
}

/* RFC 8881 2.10.6.1: the slot's next sequence id runs, the same one is a retry. */
static uint32_t slot_check(struct nfs_cx *cx, struct nfs_slot *sl, uint32_t seq)
{
	if (sl->used && seq == sl->seq) {
		if (!same_request(cx, sl))
			return NFS4ERR_SEQ_FALSE_RETRY;
		if (!sl->reply)
			return NFS4ERR_RETRY_UNCACHED_REP;
		cx->replay = sl;
		return NFS4_OK;
	}
	if (seq != sl->seq + 1)
		return NFS4ERR_SEQ_MISORDERED;
	if (!sl->req && !(sl->req = malloc(NFS_SLOT_REQ)))
		return NFS4ERR_DELAY; /* the slot unchanged: the client sends it again */
	sl->seq = seq;
	sl->used = true;
	sl->req_len = cx->args_len;
	memcpy(sl->req, cx->args, cx->args_len < NFS_SLOT_REQ ? cx->args_len : NFS_SLOT_REQ);
	free(sl->reply);
	sl->reply = NULL;
	sl->reply_len = 0;
	cx->slot = sl;
	return NFS4_OK;
}

uint32_t nfs_op_sequence(struct nfs_cx *cx)
{
	struct nfs_session *ss;
	uint8_t id[NFS4_SESSIONID_SIZE];

	xdr_fixed(cx->in, id, sizeof(id));
	uint32_t seq = xdr_u32(cx->in), slot = xdr_u32(cx->in);
	(void)xdr_u32(cx->in); /* highest slot the client uses */
	(void)xdr_bool(cx->in); /* cachethis: every reply that fits is cached */
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	if (!(ss = session_of(cx->s, id)))
		return NFS4ERR_BADSESSION;
	if (slot >= ss->nslots)
		return NFS4ERR_BADSLOT;
	if (cx->nops > ss->max_ops)
		return NFS4ERR_TOO_MANY_OPS;
	if (cx->args_len > ss->max_rqst)
		return NFS4ERR_REQ_TOO_BIG;
	uint32_t st = slot_check(cx, &ss->slots[slot], seq);
	if (st != NFS4_OK || cx->replay)
		return st;
	nfs_lease_renew(cx->s);
	xdr_put_fixed(cx->out, ss->id, sizeof(ss->id));
	xdr_put_u32(cx->out, seq);
	xdr_put_u32(cx->out, slot);
	xdr_put_u32(cx->out, ss->nslots - 1); /* highest slot */
	xdr_put_u32(cx->out, ss->nslots - 1); /* target highest slot */
	xdr_put_u32(cx->out, 0);	      /* status flags: nothing revoked, no callbacks */
	return NFS4_OK;
}

uint32_t nfs_op_destroy_session(struct nfs_cx *cx)
{
	struct nfs_session *ss;

	uint32_t st = session_get(cx, &ss);
	if (st != NFS4_OK)
		return st;
	cx->slot = NULL; /* the reply is not cached: the slot goes with its session */
	nfs_session_free(cx->s);
	return NFS4_OK;
}

uint32_t nfs_op_destroy_clientid(struct nfs_cx *cx)
{
	struct nfs_srv *s = cx->s;
	uint64_t id = xdr_u64(cx->in);

	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	if (s->has_unconf && s->unconf_v41 && id == s->unconf_clientid) {
		s->has_unconf = false;
		return NFS4_OK;
	}
	if (!s->confirmed || !s->v41 || id != s->clientid)
		return NFS4ERR_STALE_CLIENTID;
	if (s->sess)
		return NFS4ERR_CLIENTID_BUSY;
	nfs_state_drop_client(s);
	s->confirmed = false;
	return NFS4_OK;
}

/* The directions a connection gets: the back channel only for a session that took one. */
static uint32_t bind_dir(const struct nfs_session *ss, uint32_t asked)
{
	switch (asked) {
	case CDFC4_FORE:
		return CDFS4_FORE;
	case CDFC4_BACK:
		return ss->back ? CDFS4_BACK : 0;
	case CDFC4_FORE_OR_BOTH:
	case CDFC4_BACK_OR_BOTH:
		return ss->back ? CDFS4_BOTH : CDFS4_FORE;
	default:
		return 0;
	}
}

uint32_t nfs_op_bind_conn_to_session(struct nfs_cx *cx)
{
	struct nfs_session *ss;

	uint32_t st = session_get(cx, &ss);
	uint32_t asked = xdr_u32(cx->in);
	(void)xdr_bool(cx->in);
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	if (st != NFS4_OK)
		return st;
	uint32_t dir = bind_dir(ss, asked);
	if (!dir)
		return NFS4ERR_INVAL;
	xdr_put_fixed(cx->out, ss->id, sizeof(ss->id));
	xdr_put_u32(cx->out, dir);
	xdr_put_u32(cx->out, 0);
	return NFS4_OK;
}

uint32_t nfs_op_reclaim_complete(struct nfs_cx *cx)
{
	bool one_fs = xdr_bool(cx->in);

	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	if (one_fs)
		return NFS4_OK; /* per file system: nothing to reclaim on ours */
	if (cx->s->reclaim_done)
		return NFS4ERR_COMPLETE_ALREADY;
	cx->s->reclaim_done = true;
	return NFS4_OK;
}

uint32_t nfs_op_secinfo_no_name(struct nfs_cx *cx)
{
	uint32_t style = xdr_u32(cx->in);

	if (!xdr_ok(cx->in) || style > SECINFO_STYLE4_PARENT)
		return NFS4ERR_BADXDR;
	NEED_CUR(cx);
	if (style == SECINFO_STYLE4_PARENT) {
		uint32_t st = nfs_cur_dir(cx);
		if (st != NFS4_OK)
			return st;
		if (cx->cur == KFS_ROOT_INO)
			return NFS4ERR_NOENT;
	}
	xdr_put_u32(cx->out, 1);
	xdr_put_u32(cx->out, RPC_AUTH_SYS);
	cx->cur = 0; /* consumed, as SECINFO's (RFC 8881 18.45.3) */
	return NFS4_OK;
}

uint32_t nfs_op_test_stateid(struct nfs_cx *cx)
{
	struct nfs_sid sid;
	struct nfs_state *st;
	uint32_t n = xdr_u32(cx->in);

	if (n > TEST_STATEIDS_MAX || xdr_left(cx->in) / 16 < n)
		return NFS4ERR_BADXDR;
	xdr_put_u32(cx->out, n);
	for (uint32_t i = 0; i < n; i++) {
		nfs_stateid_get(cx->in, &sid);
		xdr_put_u32(cx->out, nfs_state_find(cx->s, &sid, 0, &st));
	}
	return xdr_ok(cx->in) ? NFS4_OK : NFS4ERR_BADXDR;
}
