/* SPDX-License-Identifier: Apache-2.0 */
/* ONC RPC record reassembly, call header and credential decoding, reply headers. */
#include <stdlib.h>
#include <string.h>

#include "nfs/rpc.h"

#define LAST_FRAG 0x80000000u

void rpc_rec_init(struct rpc_rec *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max;
}

void rpc_rec_free(struct rpc_rec *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

void rpc_rec_reset(struct rpc_rec *r)
{
	r->len = 0;
	r->hdr_have = 0;
	r->frag_left = 0;
	r->in_frag = r->last = r->done = false;
}

static int rec_room(struct rpc_rec *r, size_t need)
{
	if (need <= r->alloc)
		return 0;
	size_t a = r->alloc ? r->alloc : 4096;
	while (a < need)
		a *= 2;
	if (a > r->max)
		a = r->max;
	uint8_t *b = realloc(r->buf, a);
	if (!b)
		return kiln_err(ENOMEM, "rpc: out of memory for a %zu-byte record", need);
	r->buf = b;
	r->alloc = a;
	return 0;
}

/* A fragment header: its length must keep the record within max. */
static int rec_header(struct rpc_rec *r)
{
	uint32_t h = (uint32_t)r->hdr[0] << 24 | (uint32_t)r->hdr[1] << 16 |
		     (uint32_t)r->hdr[2] << 8 | r->hdr[3];

	r->hdr_have = 0;
	r->last = h & LAST_FRAG;
	r->frag_left = h & ~LAST_FRAG;
	if (r->frag_left > r->max - r->len)
		return kiln_err(EMSGSIZE, "rpc: record over %zu bytes", r->max);
	r->in_frag = true;
	return rec_room(r, r->len + r->frag_left);
}

int rpc_rec_feed(struct rpc_rec *r, const uint8_t *p, size_t n, size_t *used)
{
	size_t i = 0;
	int rc;

	*used = 0;
	while (!r->done && i < n) {
		if (!r->in_frag) {
			r->hdr[r->hdr_have++] = p[i++];
			if (r->hdr_have == 4 && (rc = rec_header(r)) < 0)
				return rc;
		} else {
			size_t k = n - i < r->frag_left ? n - i : r->frag_left;
			memcpy(r->buf + r->len, p + i, k);
			r->len += k;
			r->frag_left -= (uint32_t)k;
			i += k;
		}
		/* an empty fragment completes here too */
		if (r->in_frag && r->frag_left == 0) {
			r->in_frag = false;
			if (r->last)
				r->done = true;
		}
	}
	*used = i;
	return r->done ? 1 : 0;
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
