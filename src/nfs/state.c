/* SPDX-License-Identifier: Apache-2.0 */
/* NFSv4 state: the client id and its lease, open- and lock-owners with seqids, stateids, byte-range locks. */
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nfs/internal.h"
#include "util/io.h"

#define OWNERS_MAX 4096
#define STATES_MAX 65536
#define LOCKS_MAX 65536

/* ---- client id ---- */

uint32_t nfs_clientid_check(struct nfs_srv *s, uint64_t clientid)
{
	if (!s->confirmed || clientid != s->clientid)
		return NFS4ERR_STALE_CLIENTID;
	nfs_lease_renew(s); /* RFC 7530 9.5: any use of the client id renews its lease */
	return NFS4_OK;
}

uint64_t nfs_now(struct nfs_srv *s)
{
	if (s->clock)
		return s->clock(s->clock_arg);
	return (uint64_t)(kiln_now_coarse_ms() / 1000); /* whole seconds need no precise clock */
}

void nfs_lease_renew(struct nfs_srv *s)
{
	s->renewed = nfs_now(s);
	s->busy = 0;
}

uint64_t nfs_srv_now(struct nfs_srv *s)
{
	return nfs_now(s);
}

void nfs_srv_worked(struct nfs_srv *s, uint64_t since)
{
	uint64_t now = nfs_now(s);

	if (now > since)
		s->busy += now - since;
}

/*
 * A client silent for longer than its lease loses everything: its opens,
 * locks, session and client id (RFC 8881 8.3, RFC 7530 9.6). Its stateids
 * then get NFS4ERR_EXPIRED, its session NFS4ERR_BADSESSION and its client
 * id NFS4ERR_STALE_CLIENTID, and it starts again with a new client id.
 * Silence is measured while the server listened: time it spent working
 * (requests queued unread behind a slow commit) is the server's, not the
 * client's.
 */
void nfs_lease_check(struct nfs_srv *s)
{
	if (!s->confirmed || nfs_now(s) - s->renewed <= NFS_LEASE + s->busy)
		return;
	nfs_state_drop_client(s);
	nfs_session_free(s);
	s->expired_from = s->client_from;
	s->expired_below = s->next_state;
	s->confirmed = false;
	s->has_unconf = false;
}

void nfs_state_drop_client(struct nfs_srv *s)
{
	for (uint32_t i = 0; i < s->nstates; i++) {
		struct nfs_state *st = s->states[i];
		if (st && !st->lock && !st->closed) /* opens and delegations */
			(void)kfs_release(s->fs, st->ino);
		free(st);
		s->states[i] = NULL;
	}
	for (uint32_t i = 0; i < s->nowners; i++) {
		free(s->owners[i]);
		s->owners[i] = NULL;
	}
	s->nlocks = 0;
}

uint32_t nfs_op_setclientid(struct nfs_cx *cx)
{
	struct nfs_srv *s = cx->s;
	uint8_t verf[8];
	const uint8_t *id;
	uint32_t idlen;
	char netid[64], addr[128];

	xdr_fixed(cx->in, verf, sizeof(verf));
	xdr_opaque_ref(cx->in, NFS4_OPAQUE_LIMIT, &id, &idlen);
	(void)xdr_u32(cx->in); /* cb_program: no callbacks, no delegations */
	xdr_string(cx->in, netid, sizeof(netid) - 1);
	xdr_string(cx->in, addr, sizeof(addr) - 1);
	(void)xdr_u32(cx->in); /* callback_ident */
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	/* the same client and boot again (a callback update): it keeps its id and state */
	if (s->confirmed && idlen == s->client_namelen && !memcmp(id, s->client_name, idlen) &&
	    !memcmp(verf, s->client_cverf, sizeof(verf)))
		s->unconf_clientid = s->clientid;
	else
		s->unconf_clientid = (uint64_t)s->boot << 32 | (uint32_t)s->next_client++;
	if (RAND_bytes(s->unconf_verf, sizeof(s->unconf_verf)) != 1)
		return NFS4ERR_SERVERFAULT;
	memcpy(s->unconf_name, id, idlen);
	s->unconf_namelen = idlen;
	memcpy(s->unconf_cverf, verf, sizeof(verf));
	s->has_unconf = true;
	s->unconf_v41 = false;
	xdr_put_u64(cx->out, s->unconf_clientid);
	xdr_put_fixed(cx->out, s->unconf_verf, sizeof(s->unconf_verf));
	return NFS4_OK;
}

uint32_t nfs_op_setclientid_confirm(struct nfs_cx *cx)
{
	struct nfs_srv *s = cx->s;
	uint8_t verf[8];
	uint64_t id = xdr_u64(cx->in);

	xdr_fixed(cx->in, verf, sizeof(verf));
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	if (s->has_unconf && !s->unconf_v41 && id == s->unconf_clientid &&
	    !memcmp(verf, s->unconf_verf, 8)) {
		if (!s->confirmed || s->clientid != id)
			s->client_from = s->next_state; /* a new client: its state ids from here */
		if (s->confirmed && s->clientid != id) {
			nfs_state_drop_client(s); /* a new client instance: its old state goes */
			nfs_session_free(s);
		}
		s->clientid = id;
		memcpy(s->conf_verf, verf, 8);
		memcpy(s->client_name, s->unconf_name, s->unconf_namelen);
		s->client_namelen = s->unconf_namelen;
		memcpy(s->client_cverf, s->unconf_cverf, 8);
		s->confirmed = true;
		s->v41 = false;
		s->has_unconf = false;
		nfs_lease_renew(s);
		return NFS4_OK;
	}
	if (s->confirmed && id == s->clientid && !memcmp(verf, s->conf_verf, 8))
		return NFS4_OK; /* a retransmitted confirm */
	return NFS4ERR_STALE_CLIENTID;
}

uint32_t nfs_op_renew(struct nfs_cx *cx)
{
	uint64_t id = xdr_u64(cx->in);

	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	return nfs_clientid_check(cx->s, id);
}

/* ---- owners and seqids ---- */

struct owner_arg {
	uint64_t clientid;
	const uint8_t *id;
	uint32_t len;
};

static void owner_get(struct xdr_in *x, struct owner_arg *o)
{
	o->clientid = xdr_u64(x);
	xdr_opaque_ref(x, NFS4_OPAQUE_LIMIT, &o->id, &o->len);
}

static struct nfs_owner *owner_find(struct nfs_srv *s, bool lock, const struct owner_arg *a)
{
	for (uint32_t i = 0; i < s->nowners; i++) {
		struct nfs_owner *w = s->owners[i];
		if (w && w->lock == lock && w->clientid == a->clientid && w->idlen == a->len &&
		    !memcmp(w->id, a->id, a->len))
			return w;
	}
	return NULL;
}

/* Append p to a pointer array with NULL slots reused; false when full or out of memory. */
static bool slot_add(void ***arr, uint32_t *n, uint32_t max, void *p)
{
	for (uint32_t i = 0; i < *n; i++)
		if (!(*arr)[i]) {
			(*arr)[i] = p;
			return true;
		}
	if (*n >= max)
		return false;
	void **b = realloc(*arr, (*n + 1) * sizeof(void *));
	if (!b)
		return false;
	b[(*n)++] = p;
	*arr = b;
	return true;
}

static void slot_del(void **arr, uint32_t n, void *p)
{
	for (uint32_t i = 0; i < n; i++)
		if (arr[i] == p)
			arr[i] = NULL;
}

static struct nfs_owner *owner_new(struct nfs_srv *s, bool lock, const struct owner_arg *a)
{
	struct nfs_owner *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->lock = lock;
	w->clientid = a->clientid;
	memcpy(w->id, a->id, a->len);
	w->idlen = a->len;
	if (!slot_add((void ***)&s->owners, &s->nowners, OWNERS_MAX, w)) {
		free(w);
		return NULL;
	}
	return w;
}

/* A new seqid op of w: the states it closed before can no longer be replayed. */
static void closed_gc(struct nfs_srv *s, struct nfs_owner *w)
{
	for (uint32_t i = 0; i < s->nstates; i++)
		if (s->states[i] && s->states[i]->closed && s->states[i]->owner == w) {
			free(s->states[i]);
			s->states[i] = NULL;
		}
}

#define SEQ_GO 0
#define SEQ_REPLAY 1

/*
 * RFC 7530 9.1.7: the next seqid proceeds; the last one again is a replay
 * answered from the cache; anything else is BAD_SEQID.
 */
static uint32_t seq_begin(struct nfs_cx *cx, struct nfs_owner *w, uint32_t seqid, uint32_t op,
			  int *what)
{
	*what = SEQ_GO;
	if (cx->minor)
		return NFS4_OK; /* 4.1 ignores seqids: SEQUENCE's slots order and replay requests */
	if (!w->seen || seqid == w->seqid + 1) {
		closed_gc(cx->s, w);
		return NFS4_OK;
	}
	if (seqid == w->seqid && w->replay_op == op && w->replay_len >= 4) {
		struct xdr_out *o = cx->out;
		o->len -= 4; /* the cached result starts with its status */
		xdr_put_fixed(o, w->replay, w->replay_len);
		cx->cur = w->replay_cur;
		cx->keep_body = true;
		*what = SEQ_REPLAY;
		const uint8_t *p = w->replay;
		return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	}
	return NFS4ERR_BAD_SEQID;
}

/* The seqid advances on every result but these (RFC 7530 9.1.7). */
static uint32_t seq_end(struct nfs_cx *cx, struct nfs_owner *w, uint32_t seqid, uint32_t st)
{
	switch (st) {
	case NFS4ERR_STALE_CLIENTID:
	case NFS4ERR_STALE_STATEID:
	case NFS4ERR_BAD_STATEID:
	case NFS4ERR_BAD_SEQID:
	case NFS4ERR_BADXDR:
	case NFS4ERR_RESOURCE:
	case NFS4ERR_NOFILEHANDLE:
	case NFS4ERR_MOVED:
		return st;
	default:
		w->seqid = seqid;
		w->seen = true;
		if (!cx->minor)
			cx->seq_owner = w;
		return st;
	}
}


/* ---- stateids ---- */

void nfs_stateid_get(struct xdr_in *x, struct nfs_sid *sid)
{
	sid->seqid = xdr_u32(x);
	xdr_fixed(x, sid->other, sizeof(sid->other));
}

void nfs_stateid_put(struct xdr_out *o, const struct nfs_srv *s, const struct nfs_state *st)
{
	xdr_put_u32(o, st->seqid);
	xdr_put_u32(o, s->boot);
	xdr_put_u64(o, st->id);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool sid_special(const struct nfs_sid *sid)
{
	static const uint8_t zero[12], ones[12] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
						    0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	return (sid->seqid == 0 && !memcmp(sid->other, zero, 12)) ||
	       (sid->seqid == UINT32_MAX && !memcmp(sid->other, ones, 12));
}

uint32_t nfs_state_find(struct nfs_srv *s, const struct nfs_sid *sid, uint64_t ino,
			struct nfs_state **out)
{
	if (be32(sid->other) != s->boot)
		return sid_special(sid) ? NFS4ERR_BAD_STATEID : NFS4ERR_STALE_STATEID;
	uint64_t id = (uint64_t)be32(sid->other + 4) << 32 | be32(sid->other + 8);
	for (uint32_t i = 0; i < s->nstates; i++) {
		struct nfs_state *st = s->states[i];
		if (!st || st->id != id || st->closed)
			continue;
		if (ino && st->ino != ino)
			return NFS4ERR_BAD_STATEID;
		/* 4.1: seqid 0 names the state as it is now (RFC 8881 8.2.2) */
		bool current = s->minor && sid->seqid == 0;
		if (!current && sid->seqid < st->seqid)
			return NFS4ERR_OLD_STATEID;
		if (!current && sid->seqid > st->seqid)
			return NFS4ERR_BAD_STATEID;
		nfs_lease_renew(s);
		*out = st;
		return NFS4_OK;
	}
	bool lapsed = id >= s->expired_from && id < s->expired_below;
	return lapsed ? NFS4ERR_EXPIRED : NFS4ERR_BAD_STATEID;
}

uint32_t nfs_stateid_io(struct nfs_srv *s, const struct nfs_sid *sid, uint64_t ino, uint32_t want)
{
	struct nfs_state *st;

	if (sid_special(sid))
		return NFS4_OK; /* anonymous and read-bypass stateids */
	uint32_t rc = nfs_state_find(s, sid, ino, &st);
	if (rc != NFS4_OK)
		return rc;
	uint32_t access = st->lock ? st->open->access : st->access;
	/* reading through a write-only open is allowed (RFC 7530 16.23.4): clients fill caches */
	if ((want & OPEN4_SHARE_ACCESS_WRITE) && !(access & OPEN4_SHARE_ACCESS_WRITE))
		return NFS4ERR_OPENMODE;
	return NFS4_OK;
}

struct nfs_state *nfs_state_new(struct nfs_srv *s, bool lock, struct nfs_owner *w, uint64_t ino)
{
	struct nfs_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->lock = lock;
	st->id = s->next_state++;
	st->seqid = 1;
	st->owner = w;
	st->ino = ino;
	if (!slot_add((void ***)&s->states, &s->nstates, STATES_MAX, st)) {
		free(st);
		return NULL;
	}
	return st;
}

void nfs_state_free(struct nfs_srv *s, struct nfs_state *st)
{
	slot_del((void **)s->states, s->nstates, st);
	free(st);
}

/* ---- OPEN and friends ---- */

struct open_arg {
	uint32_t seqid, access, deny, opentype, how, claim;
	uint32_t want; /* 4.1: the delegation wants beside the access bits */
	struct nfs_sid dsid; /* CLAIM_DELEGATE_CUR, CLAIM_DELEG_CUR_FH: the delegation */
	struct owner_arg owner;
	struct nfs_sattr sa;
	uint32_t sa_st;
	uint8_t verf[8];
	char name[KFS_NAME_MAX + 1];
	uint32_t name_st;
};

/*
 * PRESERVE_UNLINKED (4.1, RFC 8881 18.16.4): a file removed while the
 * client holds it open (an open or a delegation) lives on until the last
 * is gone, because each holds an open of the core (kfs_open). Told so,
 * the Linux client (6.1 in the guest lab) sends REMOVE for a file it
 * still holds instead of renaming it to .nfsXXXX: under a write
 * delegation that is every file whose flush close() started and did not
 * wait for, and the rename left the directory not empty for the rmdir
 * after it. Not on a plain volume: its parent may remove the file behind
 * the server.
 */
static uint32_t open_rflags(const struct nfs_cx *cx)
{
	uint32_t f = OPEN4_RESULT_LOCKTYPE_POSIX;

	if (cx->minor && !cx->s->plain)
		f |= OPEN4_RESULT_PRESERVE_UNLINKED;
	return f;
}

/*
 * Where an exclusive create's verifier lives, for a retried OPEN to find.
 * EXCLUSIVE4 (4.0) keeps it in atime, which the client then sets with a
 * SETATTR (attrset says so). EXCLUSIVE4_1 keeps it in the server's memory
 * instead, so the create costs no SETATTR round trip: a 4.1 retry reaches
 * this server instance (the client and the server live and die together
 * in the enclave, nothing remounts a live client on a new server), and
 * within it a retry comes while its request is one of the session's
 * slots in flight, far fewer than the verifiers kept.
 */
static void excl_remember(struct nfs_srv *s, uint64_t ino, const uint8_t verf[8])
{
	struct nfs_excl *e = &s->excl[s->excl_next++ % NFS_EXCL_RECENT];

	e->ino = ino;
	memcpy(e->verf, verf, 8);
}

static bool excl_match(const struct nfs_srv *s, uint64_t ino, const uint8_t verf[8])
{
	for (uint32_t i = 0; i < NFS_EXCL_RECENT; i++)
		if (s->excl[i].ino == ino && !memcmp(s->excl[i].verf, verf, 8))
			return true;
	return false;
}

static uint32_t open_decode(struct xdr_in *x, uint32_t minor, struct open_arg *a)
{
	a->seqid = xdr_u32(x);
	a->access = xdr_u32(x);
	a->deny = xdr_u32(x);
	owner_get(x, &a->owner);
	a->opentype = xdr_u32(x);
	a->sa_st = NFS4_OK;
	if (a->opentype == OPEN4_CREATE) {
		a->how = xdr_u32(x);
		if (a->how == UNCHECKED4 || a->how == GUARDED4)
			a->sa_st = nfs_sattr_get(x, &a->sa);
		else if (a->how == EXCLUSIVE4)
			xdr_fixed(x, a->verf, sizeof(a->verf));
		else if (a->how == EXCLUSIVE4_1 && minor) {
			xdr_fixed(x, a->verf, sizeof(a->verf));
			a->sa_st = nfs_sattr_get(x, &a->sa);
		} else
			return NFS4ERR_BADXDR;
	} else if (a->opentype != OPEN4_NOCREATE) {
		return NFS4ERR_BADXDR;
	}
	if (a->sa_st == NFS4ERR_BADXDR)
		return NFS4ERR_BADXDR;
	a->claim = xdr_u32(x);
	a->name_st = NFS4_OK;
	switch (a->claim) {
	case CLAIM_NULL:
	case CLAIM_DELEGATE_PREV:
		a->name_st = nfs_name(x, a->name);
		break;
	case CLAIM_PREVIOUS:
		(void)xdr_u32(x);
		break;
	case CLAIM_DELEGATE_CUR:
		nfs_stateid_get(x, &a->dsid);
		a->name_st = nfs_name(x, a->name);
		break;
	case CLAIM_FH:
	case CLAIM_DELEG_PREV_FH:
		if (!minor)
			return NFS4ERR_BADXDR;
		break;
	case CLAIM_DELEG_CUR_FH:
		if (!minor)
			return NFS4ERR_BADXDR;
		nfs_stateid_get(x, &a->dsid);
		break;
	default:
		return NFS4ERR_BADXDR;
	}
	if (!xdr_ok(x) || a->name_st == NFS4ERR_BADXDR)
		return NFS4ERR_BADXDR;
	return NFS4_OK;
}

/* Share reservations of other owners on ino against this access/deny pair. */
static bool share_conflict(struct nfs_srv *s, uint64_t ino, struct nfs_owner *w,
			   uint32_t access, uint32_t deny)
{
	for (uint32_t i = 0; i < s->nstates; i++) {
		struct nfs_state *st = s->states[i];
		/* delegations are the one client's: never in its own way */
		if (!st || st->closed || st->lock || st->deleg || st->ino != ino || st->owner == w)
			continue;
		if ((access & st->deny) || (deny & st->access))
			return true;
	}
	return false;
}

static uint32_t open_check(struct nfs_cx *cx, struct open_arg *a, const struct kfs_attr *f);

/* OPEN by the current filehandle (4.1), not by a name in the current directory. */
static bool by_handle(uint32_t claim)
{
	return claim == CLAIM_FH || claim == CLAIM_DELEG_CUR_FH;
}

static bool deleg_claim(uint32_t claim)
{
	return claim == CLAIM_DELEGATE_CUR || claim == CLAIM_DELEG_CUR_FH;
}

/* Find or create the file an OPEN names; *created when this call made it. */
static uint32_t open_file(struct nfs_cx *cx, struct open_arg *a, struct kfs_attr *f,
			  bool *created)
{
	struct kfs *fs = cx->s->fs;

	*created = false;
	if (by_handle(a->claim)) /* 4.1: the current filehandle is the file */
		return nfs_getattr_cur(cx, f) == NFS4_OK ? open_check(cx, a, f) : NFS4ERR_STALE;
	int rc = kfs_lookup(fs, cx->cur, a->name, f);

	if (rc < 0 && rc != -ENOENT)
		return nfs_errno(rc);
	if (rc == -ENOENT) {
		if (a->opentype != OPEN4_CREATE)
			return NFS4ERR_NOENT;
		uint32_t mode = (a->sa.mask & KFS_SET_MODE) ? a->sa.a.mode : 0666;
		rc = kfs_mknod(fs, cx->cur, a->name, S_IFREG | (mode & 07777), cx->cred->uid,
			       cx->cred->gid, f);
		if (rc < 0)
			return nfs_errno(rc);
		*created = true;
		if (a->how == EXCLUSIVE4_1) {
			excl_remember(cx->s, f->ino, a->verf);
			unsigned more = a->sa.mask & ~(unsigned)(KFS_SET_MODE | KFS_SET_SIZE);
			if (more)
				rc = kfs_setattr(fs, f->ino, more, &a->sa.a, f);
		} else if (a->how == EXCLUSIVE4) {
			/* the verifier lives in atime until the client's SETATTR (attrset says so) */
			struct kfs_attr v = a->sa.a;
			memcpy(&v.atime_ns, a->verf, 8);
			unsigned more = a->sa.mask & ~(unsigned)(KFS_SET_MODE | KFS_SET_SIZE | KFS_SET_ATIME);
			rc = kfs_setattr(fs, f->ino, KFS_SET_ATIME | more, &v, f);
		} else if (a->sa.mask & ~(unsigned)(KFS_SET_MODE | KFS_SET_SIZE)) {
			rc = kfs_setattr(fs, f->ino, a->sa.mask & ~(unsigned)(KFS_SET_MODE | KFS_SET_SIZE),
					 &a->sa.a, f);
		}
		return nfs_errno(rc);
	}
	return open_check(cx, a, f);
}

/* An existing file: its type, the create mode's rules, and the caller's access. */
static uint32_t open_check(struct nfs_cx *cx, struct open_arg *a, const struct kfs_attr *f)
{
	if (S_ISDIR(f->mode))
		return NFS4ERR_ISDIR;
	if (S_ISLNK(f->mode))
		return NFS4ERR_SYMLINK;
	if (!S_ISREG(f->mode))
		return NFS4ERR_INVAL;
	if (a->opentype == OPEN4_CREATE && a->how == GUARDED4)
		return NFS4ERR_EXIST;
	if (a->opentype == OPEN4_CREATE && a->how == EXCLUSIVE4_1)
		return excl_match(cx->s, f->ino, a->verf) ? NFS4_OK : NFS4ERR_EXIST;
	if (a->opentype == OPEN4_CREATE && a->how == EXCLUSIVE4) {
		int64_t v;
		memcpy(&v, a->verf, 8);
		return f->atime_ns == v ? NFS4_OK : NFS4ERR_EXIST; /* a retransmission, or not */
	}
	uint32_t need = ((a->access & OPEN4_SHARE_ACCESS_READ) ? ACCESS4_READ : 0) |
			((a->access & OPEN4_SHARE_ACCESS_WRITE) ? ACCESS4_MODIFY : 0);
	if (nfs_access(cx->cred, f, need) != need)
		return NFS4ERR_ACCESS;
	return NFS4_OK;
}

static uint32_t open_do(struct nfs_cx *cx, struct open_arg *a, struct nfs_owner *w)
{
	struct nfs_srv *s = cx->s;
	struct kfs_attr f, d;
	bool created;

	if (a->claim == CLAIM_PREVIOUS)
		return NFS4ERR_NO_GRACE; /* no reclaims: the client restarts with the server */
	if (a->claim == CLAIM_DELEGATE_PREV || a->claim == CLAIM_DELEG_PREV_FH)
		return NFS4ERR_NOTSUPP; /* no delegation outlives a server instance */
	/* an open under a delegation the client holds (it is returning it): the file exists */
	if (deleg_claim(a->claim) && a->opentype != OPEN4_NOCREATE)
		return NFS4ERR_INVAL;
	bool by_fh = by_handle(a->claim);
	uint32_t st = by_fh ? NFS4_OK : nfs_cur_dir(cx);
	if (st != NFS4_OK)
		return st;
	if (a->name_st != NFS4_OK)
		return a->name_st;
	if (a->sa_st != NFS4_OK)
		return a->sa_st;
	if (a->access < 1 || a->access > 3 || a->deny > 3)
		return NFS4ERR_INVAL;
	uint64_t dir = by_fh ? 0 : cx->cur; /* by handle: no directory changes */
	uint64_t before = dir && kfs_getattr(s->fs, dir, &d) == 0 ? nfs_change_of(s, &d) : 0;
	st = open_file(cx, a, &f, &created);
	if (st == NFS4_OK && deleg_claim(a->claim))
		st = nfs_deleg_check(s, &a->dsid, f.ino);
	if (st != NFS4_OK)
		return st;
	if (share_conflict(s, f.ino, w, a->access, a->deny))
		return NFS4ERR_SHARE_DENIED;
	struct nfs_state *os = NULL;
	for (uint32_t i = 0; i < s->nstates; i++) {
		struct nfs_state *x = s->states[i];
		if (x && !x->closed && !x->lock && x->owner == w && x->ino == f.ino)
			os = x;
	}
	if (os) {
		os->access |= a->access; /* an upgrade of the owner's open */
		os->deny |= a->deny;
		os->seqid++;
	} else {
		if (!(os = nfs_state_new(s, false, w, f.ino)))
			return NFS4ERR_RESOURCE;
		int rc = kfs_open(s->fs, f.ino);
		if (rc < 0) {
			nfs_state_free(s, os);
			return nfs_errno(rc);
		}
		os->access = a->access;
		os->deny = a->deny;
		os->confirmed = true;
	}
	/* UNCHECKED with a size (O_TRUNC) on an existing file */
	if (!created && (a->sa.mask & KFS_SET_SIZE) && (os->access & OPEN4_SHARE_ACCESS_WRITE)) {
		struct kfs_attr out;
		int rc = kfs_setattr(s->fs, f.ino, KFS_SET_SIZE, &a->sa.a, &out);
		if (rc < 0)
			return nfs_errno(rc);
	}
	uint32_t attrset[NFS_BITMAP_WORDS] = { 0 };
	if (created)
		memcpy(attrset, a->sa.set, sizeof(attrset));
	if (created && a->how == EXCLUSIVE4) /* the verifier's home, for the client to set again */
		attrset[FA_TIME_ACCESS / 32] |= 1u << (FA_TIME_ACCESS % 32);
	nfs_stateid_put(cx->out, s, os);
	nfs_change(cx->out, s, before,
		   dir && kfs_getattr(s->fs, dir, &d) == 0 ? nfs_change_of(s, &d) : 0);
	xdr_put_u32(cx->out, open_rflags(cx));
	nfs_bitmap_put(cx->out, attrset);
	if (deleg_claim(a->claim))
		xdr_put_u32(cx->out, OPEN_DELEGATE_NONE); /* it has one */
	else
		nfs_deleg_open_result(cx, f.ino, a->access, a->want);
	cx->cur = f.ino;
	return NFS4_OK;
}

uint32_t nfs_op_open(struct nfs_cx *cx)
{
	struct open_arg a;
	int what;

	memset(&a, 0, sizeof(a));
	if (open_decode(cx->in, cx->minor, &a) != NFS4_OK)
		return NFS4ERR_BADXDR;
	if (cx->minor) {
		/* 4.1: the session names the client; delegation wants are no access bits */
		a.owner.clientid = cx->s->clientid;
		a.want = a.access & OPEN4_SHARE_WANT_MASK;
		a.access &= ~OPEN4_SHARE_WANT_MASK;
	}
	uint32_t st = nfs_clientid_check(cx->s, a.owner.clientid);
	if (st != NFS4_OK)
		return st;
	struct nfs_owner *w = owner_find(cx->s, false, &a.owner);
	if (!w && !(w = owner_new(cx->s, false, &a.owner)))
		return NFS4ERR_RESOURCE;
	st = seq_begin(cx, w, a.seqid, OP_OPEN, &what);
	if (what == SEQ_REPLAY || st != NFS4_OK)
		return st;
	if (!cx->cur)
		return seq_end(cx, w, a.seqid, NFS4ERR_NOFILEHANDLE);
	return seq_end(cx, w, a.seqid, open_do(cx, &a, w));
}

/* The open state named by a seqid op's stateid, on the current file. */
static uint32_t open_state(struct nfs_cx *cx, const struct nfs_sid *sid, bool lock,
			   struct nfs_state **out)
{
	if (!cx->cur)
		return NFS4ERR_NOFILEHANDLE;
	uint32_t st = nfs_state_find(cx->s, sid, cx->cur, out);
	if (st == NFS4_OK && (*out)->lock != lock)
		return NFS4ERR_BAD_STATEID;
	return st;
}

/* Shared shape of OPEN_CONFIRM, OPEN_DOWNGRADE and CLOSE: stateid and seqid checks. */
static uint32_t seq_state(struct nfs_cx *cx, const struct nfs_sid *sid, uint32_t seqid,
			  uint32_t op, bool lock, struct nfs_state **out, struct nfs_owner **w,
			  int *what)
{
	*what = SEQ_GO;
	*out = NULL;
	*w = NULL;
	if (sid_special(sid))
		return NFS4ERR_BAD_STATEID;
	if (!cx->cur)
		return NFS4ERR_NOFILEHANDLE;
	/* find the owner first: a replay names the stateid as it was */
	if (be32(sid->other) != cx->s->boot)
		return NFS4ERR_STALE_STATEID;
	uint64_t id = (uint64_t)be32(sid->other + 4) << 32 | be32(sid->other + 8);
	struct nfs_state *found = NULL;
	for (uint32_t i = 0; i < cx->s->nstates; i++)
		if (cx->s->states[i] && cx->s->states[i]->id == id)
			found = cx->s->states[i];
	if (!found || found->deleg) /* a delegation has no owner and no seqid ops */
		return NFS4ERR_BAD_STATEID;
	struct nfs_owner *ow = found->owner; /* found may be a closed state seq_begin frees */
	uint32_t st = seq_begin(cx, ow, seqid, op, what);
	if (*what == SEQ_REPLAY || st != NFS4_OK)
		return st;
	*w = ow;
	st = open_state(cx, sid, lock, out);
	if (st != NFS4_OK)
		*out = NULL;
	return st;
}

uint32_t nfs_op_open_confirm(struct nfs_cx *cx)
{
	struct nfs_sid sid;
	struct nfs_state *os;
	struct nfs_owner *w;
	int what;

	nfs_stateid_get(cx->in, &sid);
	uint32_t seqid = xdr_u32(cx->in);
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	uint32_t st = seq_state(cx, &sid, seqid, OP_OPEN_CONFIRM, false, &os, &w, &what);
	if (what == SEQ_REPLAY || !w)
		return st;
	if (st == NFS4_OK) {
		os->seqid++;
		os->confirmed = true;
		nfs_stateid_put(cx->out, cx->s, os);
	}
	return seq_end(cx, w, seqid, st);
}

uint32_t nfs_op_open_downgrade(struct nfs_cx *cx)
{
	struct nfs_sid sid;
	struct nfs_state *os = NULL;
	int what;

	nfs_stateid_get(cx->in, &sid);
	uint32_t seqid = xdr_u32(cx->in);
	uint32_t access = xdr_u32(cx->in), deny = xdr_u32(cx->in);
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	struct nfs_owner *w;
	uint32_t st = seq_state(cx, &sid, seqid, OP_OPEN_DOWNGRADE, false, &os, &w, &what);
	if (what == SEQ_REPLAY || !w)
		return st;
	if (st == NFS4_OK && (access < 1 || access > 3 || deny > 3 || (access & ~os->access) ||
			      (deny & ~os->deny)))
		st = NFS4ERR_INVAL;
	if (st == NFS4_OK) {
		os->access = access;
		os->deny = deny;
		os->seqid++;
		nfs_stateid_put(cx->out, cx->s, os);
	}
	return seq_end(cx, w, seqid, st);
}

bool nfs_owner_has_locks(struct nfs_srv *s, struct nfs_owner *w, uint64_t ino)
{
	for (uint32_t i = 0; i < s->nlocks; i++)
		if (s->locks[i].owner == w && (!ino || s->locks[i].ino == ino))
			return true;
	return false;
}

uint32_t nfs_op_close(struct nfs_cx *cx)
{
	struct nfs_srv *s = cx->s;
	struct nfs_sid sid;
	struct nfs_state *os = NULL;
	int what;

	uint32_t seqid = xdr_u32(cx->in);
	nfs_stateid_get(cx->in, &sid);
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	struct nfs_owner *w;
	uint32_t st = seq_state(cx, &sid, seqid, OP_CLOSE, false, &os, &w, &what);
	if (what == SEQ_REPLAY || !w)
		return st;
	if (st == NFS4_OK) {
		for (uint32_t i = 0; i < s->nstates; i++) {
			struct nfs_state *l = s->states[i];
			if (l && l->lock && l->open == os && nfs_owner_has_locks(s, l->owner, os->ino))
				st = NFS4ERR_LOCKS_HELD;
		}
	}
	if (st == NFS4_OK) {
		os->seqid++;
		nfs_stateid_put(cx->out, s, os);
		for (uint32_t i = 0; i < s->nstates; i++) {
			struct nfs_state *l = s->states[i];
			if (l && l->lock && l->open == os) {
				struct nfs_owner *lw = l->owner;
				nfs_state_free(s, l);
				nfs_owner_gc(s, lw);
			}
		}
		(void)kfs_release(s->fs, os->ino);
		os->closed = true;
	}
	st = seq_end(cx, w, seqid, st);
	if (st == NFS4_OK && cx->minor) {
		/* 4.1: no seqid replay to answer, the state and an idle owner go now */
		nfs_state_free(s, os);
		nfs_owner_gc(s, w);
	}
	return st;
}

void nfs_owner_gc(struct nfs_srv *s, struct nfs_owner *w)
{
	if (!w || !s->minor || nfs_owner_has_locks(s, w, 0))
		return;
	for (uint32_t i = 0; i < s->nstates; i++)
		if (s->states[i] && s->states[i]->owner == w)
			return;
	slot_del((void **)s->owners, s->nowners, w);
	free(w);
}

/*
 * 4.1: a lock stateid whose locks are gone. Open stateids go with CLOSE; a
 * live delegation is a lock too (LOCKS_HELD, RFC 8881 18.38.3) and goes with
 * DELEGRETURN.
 */
uint32_t nfs_op_free_stateid(struct nfs_cx *cx)
{
	struct nfs_srv *s = cx->s;
	struct nfs_sid sid;
	struct nfs_state *st;

	nfs_stateid_get(cx->in, &sid);
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	uint32_t rc = nfs_state_find(s, &sid, 0, &st);
	if (rc != NFS4_OK)
		return rc;
	if (!st->lock || nfs_owner_has_locks(s, st->owner, st->ino))
		return NFS4ERR_LOCKS_HELD;
	struct nfs_owner *w = st->owner;
	nfs_state_free(s, st);
	nfs_owner_gc(s, w);
	return NFS4_OK;
}

/* ---- byte-range locks ---- */

static bool range(uint64_t off, uint64_t len, uint64_t *end)
{
	if (len == 0)
		return false;
	if (len == UINT64_MAX) {
		*end = UINT64_MAX;
		return true;
	}
	if (len - 1 > UINT64_MAX - off)
		return false;
	*end = off + len - 1;
	return true;
}

/* A conflicting lock of another owner, or NULL. */
static struct nfs_lock *conflict(struct nfs_srv *s, struct nfs_owner *w, uint64_t ino,
				 uint64_t start, uint64_t end, bool write)
{
	for (uint32_t i = 0; i < s->nlocks; i++) {
		struct nfs_lock *l = &s->locks[i];
		if (l->owner != w && l->ino == ino && l->start <= end && start <= l->end &&
		    (write || l->write))
			return l;
	}
	return NULL;
}

static void put_denied(struct nfs_cx *cx, const struct nfs_lock *l)
{
	xdr_put_u64(cx->out, l->start);
	xdr_put_u64(cx->out, l->end == UINT64_MAX ? UINT64_MAX : l->end - l->start + 1);
	xdr_put_u32(cx->out, l->write ? WRITE_LT : READ_LT);
	xdr_put_u64(cx->out, l->owner->clientid);
	xdr_put_opaque(cx->out, l->owner->id, l->owner->idlen);
	cx->keep_body = true;
}

static bool lock_add(struct nfs_srv *s, struct nfs_lock l)
{
	if (s->nlocks >= LOCKS_MAX)
		return false;
	struct nfs_lock *b = realloc(s->locks, (s->nlocks + 1) * sizeof(*b));
	if (!b)
		return false;
	s->locks = b;
	s->locks[s->nlocks++] = l;
	return true;
}

/* Remove [start, end] from w's locks on ino, splitting where needed (POSIX semantics). */
static bool unlock_range(struct nfs_srv *s, struct nfs_owner *w, uint64_t ino, uint64_t start,
			 uint64_t end)
{
	for (uint32_t i = 0; i < s->nlocks;) {
		struct nfs_lock *l = &s->locks[i];
		if (l->owner != w || l->ino != ino || l->end < start || l->start > end) {
			i++;
			continue;
		}
		if (l->start < start && l->end > end) {
			struct nfs_lock right = *l;
			right.start = end + 1;
			l->end = start - 1;
			if (!lock_add(s, right))
				return false;
			i++;
		} else if (l->start < start) {
			l->end = start - 1;
			i++;
		} else if (l->end > end) {
			l->start = end + 1;
			i++;
		} else {
			s->locks[i] = s->locks[--s->nlocks];
		}
	}
	return true;
}

struct lock_arg {
	uint32_t type, open_seqid, lock_seqid;
	bool reclaim, new_owner;
	uint64_t off, len;
	struct nfs_sid sid; /* open stateid (new owner) or lock stateid */
	struct owner_arg owner;
};

static uint32_t lock_apply(struct nfs_cx *cx, struct lock_arg *a, struct nfs_state *ls)
{
	struct nfs_srv *s = cx->s;
	uint64_t end;
	bool write = a->type == WRITE_LT || a->type == WRITEW_LT;

	if (a->type < READ_LT || a->type > WRITEW_LT || !range(a->off, a->len, &end))
		return NFS4ERR_INVAL;
	if (a->reclaim)
		return NFS4ERR_NO_GRACE;
	uint32_t access = ls->open->access;
	if (write ? !(access & OPEN4_SHARE_ACCESS_WRITE) : !(access & OPEN4_SHARE_ACCESS_READ))
		return NFS4ERR_OPENMODE;
	struct nfs_lock *c = conflict(s, ls->owner, ls->ino, a->off, end, write);
	if (c) {
		put_denied(cx, c);
		return NFS4ERR_DENIED;
	}
	if (!unlock_range(s, ls->owner, ls->ino, a->off, end) ||
	    !lock_add(s, (struct nfs_lock){ write, ls->owner, ls->ino, a->off, end }))
		return NFS4ERR_RESOURCE;
	ls->seqid++;
	nfs_stateid_put(cx->out, s, ls);
	return NFS4_OK;
}

/* LOCK by a lock-owner new to the server: seqids of the open-owner govern the request. */
static uint32_t lock_new_owner(struct nfs_cx *cx, struct lock_arg *a)
{
	struct nfs_srv *s = cx->s;
	struct nfs_state *os = NULL;
	int what;

	struct nfs_owner *ow;
	uint32_t st = seq_state(cx, &a->sid, a->open_seqid, OP_LOCK, false, &os, &ow, &what);
	if (what == SEQ_REPLAY || !ow)
		return st;
	if (st == NFS4_OK)
		st = nfs_clientid_check(s, a->owner.clientid);
	if (st == NFS4_OK && a->owner.clientid != ow->clientid)
		st = NFS4ERR_INVAL;
	struct nfs_owner *lw = NULL;
	struct nfs_state *ls = NULL;
	bool fresh = false;
	if (st == NFS4_OK) {
		lw = owner_find(s, true, &a->owner);
		if (!lw && !(lw = owner_new(s, true, &a->owner)))
			st = NFS4ERR_RESOURCE;
	}
	if (st == NFS4_OK) {
		for (uint32_t i = 0; i < s->nstates; i++)
			if (s->states[i] && s->states[i]->lock && s->states[i]->owner == lw &&
			    s->states[i]->ino == os->ino)
				ls = s->states[i];
		if (!ls && (ls = nfs_state_new(s, true, lw, os->ino))) {
			ls->open = os;
			fresh = true;
		}
		if (!ls)
			st = NFS4ERR_RESOURCE;
	}
	if (st == NFS4_OK) {
		if (fresh)
			ls->seqid--; /* the first LOCK result carries seqid 1 */
		st = lock_apply(cx, a, ls);
		if (fresh && st != NFS4_OK)
			nfs_state_free(s, ls);
		lw->seqid = a->lock_seqid;
		lw->seen = true;
	}
	return seq_end(cx, ow, a->open_seqid, st);
}

uint32_t nfs_op_lock(struct nfs_cx *cx)
{
	struct xdr_in *x = cx->in;
	struct lock_arg a;
	struct nfs_state *ls = NULL;
	int what;

	memset(&a, 0, sizeof(a));
	a.type = xdr_u32(x);
	a.reclaim = xdr_bool(x);
	a.off = xdr_u64(x);
	a.len = xdr_u64(x);
	a.new_owner = xdr_bool(x);
	if (a.new_owner) {
		a.open_seqid = xdr_u32(x);
		nfs_stateid_get(x, &a.sid);
		a.lock_seqid = xdr_u32(x);
		owner_get(x, &a.owner);
	} else {
		nfs_stateid_get(x, &a.sid);
		a.lock_seqid = xdr_u32(x);
	}
	if (!xdr_ok(x))
		return NFS4ERR_BADXDR;
	if (a.new_owner && cx->minor)
		a.owner.clientid = cx->s->clientid; /* 4.1: the session's client */
	if (a.new_owner)
		return lock_new_owner(cx, &a);
	struct nfs_owner *w;
	uint32_t st = seq_state(cx, &a.sid, a.lock_seqid, OP_LOCK, true, &ls, &w, &what);
	if (what == SEQ_REPLAY || !w)
		return st;
	if (st == NFS4_OK)
		st = lock_apply(cx, &a, ls);
	return seq_end(cx, w, a.lock_seqid, st);
}

uint32_t nfs_op_lockt(struct nfs_cx *cx)
{
	struct owner_arg oa;
	uint64_t end;

	uint32_t type = xdr_u32(cx->in);
	uint64_t off = xdr_u64(cx->in), len = xdr_u64(cx->in);
	owner_get(cx->in, &oa);
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	NEED_CUR(cx);
	if (cx->minor)
		oa.clientid = cx->s->clientid;
	uint32_t st = nfs_clientid_check(cx->s, oa.clientid);
	if (st != NFS4_OK)
		return st;
	if (type < READ_LT || type > WRITEW_LT || !range(off, len, &end))
		return NFS4ERR_INVAL;
	struct kfs_attr a;
	st = nfs_getattr_cur(cx, &a);
	if (st != NFS4_OK)
		return st;
	if (S_ISDIR(a.mode))
		return NFS4ERR_ISDIR;
	struct nfs_lock *c = conflict(cx->s, owner_find(cx->s, true, &oa), cx->cur, off, end,
				      type == WRITE_LT || type == WRITEW_LT);
	if (c) {
		put_denied(cx, c);
		return NFS4ERR_DENIED;
	}
	return NFS4_OK;
}

uint32_t nfs_op_locku(struct nfs_cx *cx)
{
	struct nfs_sid sid;
	struct nfs_state *ls = NULL;
	uint64_t end;
	int what;

	uint32_t type = xdr_u32(cx->in);
	uint32_t seqid = xdr_u32(cx->in);
	nfs_stateid_get(cx->in, &sid);
	uint64_t off = xdr_u64(cx->in), len = xdr_u64(cx->in);
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	struct nfs_owner *w;
	uint32_t st = seq_state(cx, &sid, seqid, OP_LOCKU, true, &ls, &w, &what);
	if (what == SEQ_REPLAY || !w)
		return st;
	if (st == NFS4_OK && (type < READ_LT || type > WRITEW_LT || !range(off, len, &end)))
		st = NFS4ERR_INVAL;
	if (st == NFS4_OK && !unlock_range(cx->s, ls->owner, ls->ino, off, end))
		st = NFS4ERR_RESOURCE;
	if (st == NFS4_OK) {
		ls->seqid++;
		nfs_stateid_put(cx->out, cx->s, ls);
	}
	return seq_end(cx, w, seqid, st);
}

uint32_t nfs_op_release_lockowner(struct nfs_cx *cx)
{
	struct nfs_srv *s = cx->s;
	struct owner_arg oa;

	owner_get(cx->in, &oa);
	if (!xdr_ok(cx->in))
		return NFS4ERR_BADXDR;
	uint32_t st = nfs_clientid_check(s, oa.clientid);
	if (st != NFS4_OK)
		return st;
	struct nfs_owner *w = owner_find(s, true, &oa);
	if (!w)
		return NFS4_OK;
	if (nfs_owner_has_locks(s, w, 0))
		return NFS4ERR_LOCKS_HELD;
	for (uint32_t i = 0; i < s->nstates; i++)
		if (s->states[i] && s->states[i]->owner == w)
			nfs_state_free(s, s->states[i]);
	slot_del((void **)s->owners, s->nowners, w);
	free(w);
	return NFS4_OK;
}
