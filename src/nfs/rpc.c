/* SPDX-License-Identifier: Apache-2.0 */
/* ONC RPC records parsed in place, call header and credential decoding, reply headers. */
#include <stdlib.h>
#include <string.h>

#include "nfs/rpc.h"

#define LAST_FRAG 0x80000000u

void rpc_rx_init(struct rpc_rx *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max;
}

void rpc_rx_free(struct rpc_rx *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

void rpc_rx_reset(struct rpc_rx *r)
{
	r->rec = r->dst = r->src = r->end = 0;
	r->frag_left = 0;
	r->in_rec = r->in_frag = r->last = false;
}

/* Keep only what is still needed, at the front: this record's data, then the unparsed bytes. */
static void rx_compact(struct rpc_rx *r)
{
	size_t keep = r->in_rec ? r->dst - r->rec : 0, rest = r->end - r->src;

	if (keep && r->rec)
		memmove(r->buf, r->buf + r->rec, keep);
	if (rest && r->src != keep)
		memmove(r->buf + keep, r->buf + r->src, rest);
	r->rec = 0;
	r->dst = r->src = keep;
	r->end = keep + rest;
}

/*
 * After rpc_rx_next() said 0, at most 3 bytes of a header are unparsed, so
 * the record's data (at most max) and those fit below max + RPC_RX_CHUNK
 * with room to spare: the buffer never grows past that.
 */
int rpc_rx_space(struct rpc_rx *r, uint8_t **p, size_t *room)
{
	/* a big fragment's rest is received in place, in as few calls as the socket allows */
	size_t want = r->in_frag && r->frag_left > RPC_RX_CHUNK ? r->frag_left : RPC_RX_CHUNK;
	size_t cap = r->max + RPC_RX_CHUNK;

	if (!r->in_rec && r->src == r->end)
		r->src = r->end = 0; /* all parsed: start over at the front, nothing to move */
	if (r->alloc - r->end < want)
		rx_compact(r);
	if (r->alloc - r->end < want && r->alloc < cap) {
		size_t a = r->end + want < cap ? r->end + want : cap;
		uint8_t *b = realloc(r->buf, a);
		if (!b)
			return kiln_err(ENOMEM, "rpc: out of memory for a %zu-byte receive buffer", a);
		r->buf = b;
		r->alloc = a;
	}
	if (r->alloc == r->end)
		return kiln_err(ENOBUFS, "rpc: receive buffer full"); /* records left unparsed */
	*p = r->buf + r->end;
	*room = r->alloc - r->end;
	return 0;
}

void rpc_rx_got(struct rpc_rx *r, size_t n)
{
	r->end += n;
}

/* Take what has come of the current fragment; true when the fragment is complete. */
static bool rx_frag_data(struct rpc_rx *r)
{
	size_t k = r->end - r->src < r->frag_left ? r->end - r->src : r->frag_left;

	if (k && r->dst != r->src)
		memmove(r->buf + r->dst, r->buf + r->src, k);
	r->dst += k;
	r->src += k;
	r->frag_left -= (uint32_t)k;
	return r->frag_left == 0;
}

/* A fragment header at src: its length must keep the record within max. */
static int rx_frag_header(struct rpc_rx *r)
{
	const uint8_t *h = r->buf + r->src;
	uint32_t v = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];

	r->src += 4;
	if (!r->in_rec) {
		r->in_rec = true;
		r->rec = r->dst = r->src;
	}
	r->last = v & LAST_FRAG;
	r->frag_left = v & ~LAST_FRAG;
	if (r->frag_left > r->max - (r->dst - r->rec))
		return kiln_err(EMSGSIZE, "rpc: record over %zu bytes", r->max);
	r->in_frag = true;
	return 0;
}

int rpc_rx_next(struct rpc_rx *r, const uint8_t **rec, size_t *len)
{
	int rc;

	for (;;) {
		if (r->in_frag) {
			if (!rx_frag_data(r))
				return 0;
			r->in_frag = false; /* an empty fragment completes here too */
			if (r->last) {
				r->in_rec = false;
				*rec = r->buf + r->rec;
				*len = r->dst - r->rec;
				return 1;
			}
		}
		if (r->end - r->src < 4)
			return 0;
		if ((rc = rx_frag_header(r)) < 0)
			return rc;
	}
}

int rpc_auth_sys_decode(const uint8_t *p, size_t len, struct rpc_cred *c)
{
	struct xdr_in x;

	xdr_in_init(&x, p, len);
	(void)xdr_u32(&x); /* stamp */
	xdr_string(&x, c->machine, RPC_AUTH_SYS_NAME_MAX);
	c->uid = xdr_u32(&x);
	c->gid = xdr_u32(&x);
	c->ngids = xdr_u32(&x);
	if (c->ngids > RPC_AUTH_SYS_GIDS_MAX)
		xdr_fail(&x);
	for (uint32_t i = 0; xdr_ok(&x) && i < c->ngids; i++)
		c->gids[i] = xdr_u32(&x);
	if (!xdr_ok(&x) || xdr_left(&x))
		return kiln_err(EPROTO, "rpc: malformed AUTH_SYS credential");
	return 0;
}

int rpc_call_decode(struct xdr_in *x, struct rpc_call *c, int *reject)
{
	const uint8_t *body;
	uint32_t blen, vflavor;

	memset(c, 0, sizeof(*c));
	*reject = RPC_REJ_NONE;
	c->xid = xdr_u32(x);
	uint32_t mtype = xdr_u32(x);
	if (!xdr_ok(x) || mtype != RPC_CALL)
		return kiln_err(EBADMSG, "rpc: not a call message");
	c->rpcvers = xdr_u32(x);
	c->prog = xdr_u32(x);
	c->vers = xdr_u32(x);
	c->proc = xdr_u32(x);
	c->cred.flavor = xdr_u32(x);
	xdr_opaque_ref(x, RPC_AUTH_BODY_MAX, &body, &blen);
	if (xdr_ok(x) && c->rpcvers != RPC_VERS) {
		*reject = RPC_REJ_VERSION;
		return kiln_err(EPROTO, "rpc: version %u, not 2", c->rpcvers);
	}
	vflavor = xdr_u32(x);
	const uint8_t *vb;
	uint32_t vlen;
	xdr_opaque_ref(x, RPC_AUTH_BODY_MAX, &vb, &vlen);
	if (!xdr_ok(x)) {
		*reject = RPC_REJ_GARBAGE;
		return kiln_err(EPROTO, "rpc: truncated call header");
	}
	(void)vflavor; /* AUTH_SYS and AUTH_NONE verifiers carry nothing we check */
	switch (c->cred.flavor) {
	case RPC_AUTH_SYS:
		if (rpc_auth_sys_decode(body, blen, &c->cred) < 0) {
			*reject = RPC_REJ_BADCRED;
			return -EPROTO;
		}
		return 0;
	case RPC_AUTH_NONE:
		c->cred.uid = c->cred.gid = 65534; /* nobody */
		return 0;
	default:
		*reject = RPC_REJ_TOOWEAK;
		return kiln_err(EPROTO, "rpc: credential flavor %u not supported", c->cred.flavor);
	}
}

static void reply_head(struct xdr_out *o, uint32_t xid, uint32_t stat)
{
	o->len = 0;
	o->err = false;
	(void)xdr_reserve(o); /* record mark */
	xdr_put_u32(o, xid);
	xdr_put_u32(o, RPC_REPLY);
	xdr_put_u32(o, stat);
}

void rpc_reply_accepted(struct xdr_out *o, uint32_t xid, uint32_t accept_stat)
{
	reply_head(o, xid, 0 /* MSG_ACCEPTED */);
	xdr_put_u32(o, RPC_AUTH_NONE); /* verifier */
	xdr_put_u32(o, 0);
	xdr_put_u32(o, accept_stat);
}

void rpc_reply_prog_mismatch(struct xdr_out *o, uint32_t xid, uint32_t low, uint32_t high)
{
	rpc_reply_accepted(o, xid, RPC_PROG_MISMATCH);
	xdr_put_u32(o, low);
	xdr_put_u32(o, high);
}

void rpc_reply_denied(struct xdr_out *o, uint32_t xid, int reject)
{
	reply_head(o, xid, 1 /* MSG_DENIED */);
	switch (reject) {
	case RPC_REJ_VERSION:
		xdr_put_u32(o, RPC_MISMATCH);
		xdr_put_u32(o, RPC_VERS);
		xdr_put_u32(o, RPC_VERS);
		break;
	case RPC_REJ_TOOWEAK:
		xdr_put_u32(o, RPC_AUTH_ERROR);
		xdr_put_u32(o, RPC_AUTH_TOOWEAK);
		break;
	default:
		xdr_put_u32(o, RPC_AUTH_ERROR);
		xdr_put_u32(o, RPC_AUTH_BADCRED);
		break;
	}
}

void rpc_reply_finish(struct xdr_out *o)
{
	if (o->len >= 4)
		xdr_patch_u32(o, 0, LAST_FRAG | (uint32_t)(o->len - 4));
}
