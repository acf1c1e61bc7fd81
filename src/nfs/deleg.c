/* SPDX-License-Identifier: Apache-2.0 */
/* NFSv4.1 write delegations: when OPEN grants one, the stateid's checks, DELEGRETURN. */
#include "nfs/internal.h"

/*
 * How this works, and why the server never recalls a delegation.
 *
 * The Linux client waits on close() for its flush of a written file unless
 * it holds a write delegation (then it only starts the flush), so a closed
 * small file would otherwise cost one stable WRITE round trip the caller
 * waits for. OPEN for writing grants a write delegation when:
 *  - the server was told to (nfs_srv_set_delegations; kiln_nfs_mount
 *    does): the Linux 6.1 client needs PRESERVE_UNLINKED (state.c) and
 *    its delegation_watermark at 0 (init/storage_nfs.c) to gain from one
 *    without losing elsewhere (docs/storage.md, "Write delegations");
 *  - the client speaks 4.1 or later and CREATE_SESSION accepted its back
 *    channel (4.0 has a separate callback connection: never);
 *  - the volume is encrypted: nothing but this client changes it (a plain
 *    volume's parent changes files behind the server: never);
 *  - the client did not say it wants none, and holds none on the file yet.
 * A recall (CB_RECALL, RFC 8881 10.4.4) is needed only when someone else
 * wants the file in a way the delegation forbids (RFC 8881 10.2, 10.4).
 * Here nobody else can: the server keeps one client record (a new client
 * replaces the old one and its state goes with it), delegations belong to
 * the client and not to an open-owner, so another open of the file by any
 * of the client's owners is the client's own business (it serves it from
 * the delegation or sends OPEN, which is granted beside it without any
 * conflict check: share_conflict ignores delegations), and no process in
 * the enclave reaches the core but through this server. So the server
 * never sends a callback and the back channel is never used; it is
 * accepted only because the client needs it to expect delegations at all.
 * A delegation ends by DELEGRETURN, by the client's lease lapsing, by
 * DESTROY_CLIENTID or by a new client record (nfs_state_drop_client).
 * Like an open, it holds an open of the core (kfs_open) while it lives:
 * OPEN says PRESERVE_UNLINKED, so a file the client removes while it holds
 * the delegation must stay readable and writable under it.
 * FREE_STATEID refuses a live one (LOCKS_HELD, RFC 8881 18.38.3): only a
 * revoked delegation can be freed, and this server revokes none.
 *
 * No read delegations: with nocto and long attribute caching the client
 * already opens without asking the server, which is all a read delegation
 * would add, and one would have to be upgraded for a later write open.
 */

/* Dirty data the client may keep past close() under the delegation (nfs_space_limit4). */
#define DELEG_SPACE_LIMIT (1ull << 20)

static struct nfs_state *deleg_on(struct nfs_srv *s, uint64_t ino)
{
	for (uint32_t i = 0; i < s->nstates; i++) {
		struct nfs_state *st = s->states[i];
		if (st && st->deleg && st->ino == ino)
			return st;
	}
	return NULL;
}

static bool deleg_safe(const struct nfs_cx *cx, uint64_t ino, uint32_t access, uint32_t want)
{
	const struct nfs_srv *s = cx->s;

	if (!s->delegations || !cx->minor || !s->sess || !s->sess->back || s->plain)
		return false;
	if (!(access & OPEN4_SHARE_ACCESS_WRITE))
		return false;
	switch (want & OPEN4_SHARE_ACCESS_WANT_DELEG_MASK) {
	case OPEN4_SHARE_ACCESS_WANT_NO_PREFERENCE:
	case OPEN4_SHARE_ACCESS_WANT_WRITE_DELEG:
	case OPEN4_SHARE_ACCESS_WANT_ANY_DELEG:
		return !deleg_on(cx->s, ino);
	default: /* READ_DELEG only, NO_DELEG, CANCEL */
		return false;
	}
}

void nfs_deleg_open_result(struct nfs_cx *cx, uint64_t ino, uint32_t access, uint32_t want)
{
	struct xdr_out *o = cx->out;
	struct nfs_state *d = NULL;

	if (deleg_safe(cx, ino, access, want))
		d = nfs_state_new(cx->s, false, NULL, ino);
	/* the delegation keeps the file as an open does (PRESERVE_UNLINKED, state.c) */
	if (d && kfs_open(cx->s->fs, ino) < 0) {
		nfs_state_free(cx->s, d);
		d = NULL;
	}
	if (!d) {
		xdr_put_u32(o, OPEN_DELEGATE_NONE);
		return;
	}
	d->deleg = true;
	d->access = OPEN4_SHARE_ACCESS_BOTH;
	d->confirmed = true;
	xdr_put_u32(o, OPEN_DELEGATE_WRITE);
	nfs_stateid_put(o, cx->s, d);
	xdr_put_u32(o, 0); /* recall: no */
	xdr_put_u32(o, NFS_LIMIT_SIZE);
	xdr_put_u64(o, DELEG_SPACE_LIMIT);
	/* an ACE granting nobody: the client still asks ACCESS before opening locally */
	xdr_put_u32(o, ACE4_ACCESS_ALLOWED_ACE_TYPE);
	xdr_put_u32(o, 0); /* flag */
	xdr_put_u32(o, 0); /* access mask */
	xdr_put_u32(o, 0); /* who: "" */
}

static uint32_t deleg_find(struct nfs_srv *s, const struct nfs_sid *sid, uint64_t ino,
			   struct nfs_state **out)
{
	uint32_t st = nfs_state_find(s, sid, ino, out);

	if (st == NFS4_OK && !(*out)->deleg)
		return NFS4ERR_BAD_STATEID; /* an open or lock stateid */
	return st;
}

uint32_t nfs_deleg_check(struct nfs_srv *s, const struct nfs_sid *sid, uint64_t ino)
{
	struct nfs_state *d;

	return deleg_find(s, sid, ino, &d);
}

uint32_t nfs_op_delegreturn(struct nfs_cx *cx)
{
	struct nfs_sid sid;
	struct nfs_state *d;

	nfs_stateid_get(cx->in, &sid);
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	NEED_CUR(cx);
	uint32_t st = deleg_find(cx->s, &sid, cx->cur, &d);
	if (st != NFS4_OK)
		return st;
	(void)kfs_release(cx->s->fs, d->ino);
	nfs_state_free(cx->s, d);
	return NFS4_OK;
}
