/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of the NFSv4 server shared by its operation files. */
#ifndef KILN_NFS_INTERNAL_H
#define KILN_NFS_INTERNAL_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "fs/fs.h"
#include "nfs/nfs4.h"
#include "nfs/rpc.h"
#include "nfs/server.h"
#include "nfs/xdr.h"

#define NFS_LEASE 90
#define NFS_BITMAP_WORDS 3
#define NFS_FH_LEN 28 /* "kfh1", inode number, 16 bytes of HMAC */
#define NFS_REPLAY_MAX 256
#define NFS_COMPOUND_OPS_MAX 128
#define NFS_SLOTS 32		   /* a 4.1 session's slots, at most */
#define NFS_SLOT_CACHE (64u << 10) /* replies up to this size are cached per slot */
#define NFS_CS_REPLY_MAX 128	   /* a CREATE_SESSION result */
#define NFS_EXCL_RECENT 256	   /* EXCLUSIVE4_1 verifiers kept: several times the slots in flight */

#define NFS_SLOT_REQ 4096	   /* bytes of a slot's last request kept to tell a retry from a false one */
#define NFS_FH_SEEN 64		   /* handles made or checked lately (by inode): PUTFH compares them */

/*
 * A 4.1 slot (RFC 8881 2.10.6): the last sequence id, that request's
 * length and first NFS_SLOT_REQ bytes, and its whole COMPOUND reply. The
 * cached reply is the duplicate-request cache: a retry gets it back byte
 * for byte and the operations are not run again.
 */
struct nfs_slot {
	uint32_t seq;
	bool used;
	uint8_t *req; /* NFS_SLOT_REQ bytes, made at the slot's first request */
	size_t req_len;
	uint8_t *reply; /* NULL: too large to keep (a retry gets RETRY_UNCACHED_REP) */
	uint32_t reply_len;
};

struct nfs_session {
	uint8_t id[NFS4_SESSIONID_SIZE];
	uint64_t clientid;
	uint32_t nslots, max_ops, max_rqst, max_resp, max_cached;
	bool back; /* the client's back channel was accepted (CREATE_SESSION): delegations may be granted */
	struct nfs_slot slots[NFS_SLOTS];
};

/* An open-owner or lock-owner with its seqid and its last reply (replays). */
struct nfs_owner {
	bool lock;
	uint64_t clientid;
	uint8_t id[NFS4_OPAQUE_LIMIT];
	uint32_t idlen;
	uint32_t seqid; /* last seqid seen */
	bool seen;
	uint32_t replay_op, replay_len;
	uint64_t replay_cur; /* the current filehandle the op left */
	uint8_t replay[NFS_REPLAY_MAX];
};

/* An open (share reservation), a lock-owner's state, or a write delegation on one file. */
struct nfs_state {
	bool lock;
	bool deleg; /* a write delegation (deleg.c): the client's, no owner, an open of the core */
	uint64_t id; /* the stateid's other field, after the boot verifier */
	uint32_t seqid;
	struct nfs_owner *owner;
	uint64_t ino;
	uint32_t access, deny; /* opens */
	bool confirmed;
	bool closed; /* kept until its owner's next seqid op, to answer a replayed CLOSE */
	struct nfs_state *open; /* locks: the open state they came from */
};

struct nfs_lock {
	bool write;
	struct nfs_owner *owner;
	uint64_t ino, start, end; /* end inclusive */
};

struct nfs_srv {
	struct kfs *fs;
	uint8_t key[NFS_FH_KEY_LEN];
	EVP_MAC_CTX *fh_mac; /* HMAC-SHA256 keyed with key: handles (server.c) */
	/* handles this server made or checked, at inode % NFS_FH_SEEN; fh_macs: MACs computed */
	uint8_t fh_seen[NFS_FH_SEEN][NFS_FH_LEN];
	uint64_t fh_macs;
	uint8_t volid[NFS_VOLID_LEN];
	bool plain;	       /* kfs_changes_behind: the parent changes files too, no xattrs */
	bool delegations;      /* nfs_srv_set_delegations */
	uint32_t boot;	       /* differs per server instance: stale client ids and stateids */
	uint8_t writeverf[8];  /* changes when unstable writes could have been lost */
	/* the one client */
	uint64_t clientid, unconf_clientid, next_client;
	uint8_t unconf_verf[8], conf_verf[8];
	bool confirmed, has_unconf;
	uint8_t client_name[NFS4_OPAQUE_LIMIT];
	uint32_t client_namelen;
	uint8_t unconf_name[NFS4_OPAQUE_LIMIT], unconf_cverf[8], client_cverf[8];
	uint32_t unconf_namelen;
	/* 4.1 (EXCHANGE_ID): the records' CREATE_SESSION sequence and its last result */
	bool v41, unconf_v41, reclaim_done;
	uint32_t cs_seq, unconf_cs_seq; /* the csa_sequence expected next */
	uint8_t cs_reply[NFS_CS_REPLY_MAX];
	uint32_t cs_reply_len;
	struct nfs_session *sess; /* the client's one session, or NULL */
	/* leases: the clock (seconds), the last renewal, stateids below this one expired */
	uint64_t (*clock)(void *arg);
	void *clock_arg;
	uint64_t renewed, busy; /* busy: seconds the server worked since (not the client's silence) */
	uint64_t client_from;		  /* the client's first state id */
	uint64_t expired_from, expired_below; /* the range of a lapsed client's state ids */
	uint32_t minor; /* of the COMPOUND being run */
	/* pointer arrays: entries stay put while an op holds them; NULL slots are free */
	struct nfs_owner **owners;
	uint32_t nowners;
	struct nfs_state **states;
	uint32_t nstates;
	uint64_t next_state;
	struct nfs_lock *locks;
	uint32_t nlocks;
	/* group commit (nfs_srv_group): a commit owed by the last call; the last grouped one failed */
	bool group, owed, group_failed;
	/* EXCLUSIVE4_1 creates of this instance: file and verifier, for a retried OPEN (state.c) */
	struct nfs_excl {
		uint64_t ino;
		uint8_t verf[8];
	} excl[NFS_EXCL_RECENT];
	uint32_t excl_next;
};

struct nfs_cx {
	struct nfs_srv *s;
	const struct rpc_cred *cred;
	struct xdr_in *in;
	struct xdr_out *out;
	uint64_t cur, saved; /* inode numbers; 0: none */
	bool keep_body;	     /* an error result that carries a body (DENIED, CLID_INUSE) */
	struct nfs_owner *seq_owner; /* the seqid owner an op used (replay cache) */
	uint32_t minor, nops, op; /* op: the one running */
	const uint8_t *args; /* the COMPOUND's arguments, kept by the slot to know a retry */
	size_t args_len;
	struct nfs_slot *slot;	 /* SEQUENCE began a new request on this slot */
	struct nfs_slot *replay; /* SEQUENCE found a retry: send this slot's reply */
};

/* errno from the core to NFS4ERR_*. */
uint32_t nfs_errno(int rc);

/* Handles. */
void nfs_fh_make(struct nfs_srv *s, uint64_t ino, uint8_t fh[NFS_FH_LEN]);
/* BADHANDLE for anything not made by nfs_fh_make with this key, STALE when the inode is gone. */
uint32_t nfs_fh_check(struct nfs_srv *s, const uint8_t *fh, uint32_t len, uint64_t *ino);

/* Names: component4 rules. */
uint32_t nfs_name(struct xdr_in *x, char name[KFS_NAME_MAX + 1]);
/* The rules any name shares (not empty, at most max bytes, no NUL); *p points into x. */
uint32_t nfs_opaque_name(struct xdr_in *x, uint32_t max, const uint8_t **p, uint32_t *n);

/* Attributes (attr.c). */
void nfs_bitmap_get(struct xdr_in *x, uint32_t bm[NFS_BITMAP_WORDS]);
void nfs_bitmap_put(struct xdr_out *o, const uint32_t bm[NFS_BITMAP_WORDS]);
uint32_t nfs_attr_put(struct nfs_srv *s, const struct kfs_attr *a, const uint32_t req[NFS_BITMAP_WORDS],
		      uint32_t rdattr_error, struct xdr_out *o);
struct nfs_sattr {
	unsigned mask; /* KFS_SET_* */
	struct kfs_attr a;
	uint32_t set[NFS_BITMAP_WORDS]; /* the attributes given (attrsset) */
};
uint32_t nfs_sattr_get(struct xdr_in *x, struct nfs_sattr *sa);
uint32_t nfs_access(const struct rpc_cred *c, const struct kfs_attr *a, uint32_t want);
/* change_info4: not atomic on a plain volume, whose parent may change a directory in between. */
static inline void nfs_change(struct xdr_out *o, const struct nfs_srv *s, uint64_t before,
			      uint64_t after)
{
	xdr_put_u32(o, !s->plain);
	xdr_put_u64(o, before);
	xdr_put_u64(o, after);
}
uint64_t nfs_change_of(const struct nfs_srv *s, const struct kfs_attr *a);
uint32_t nfs_getattr_cur(struct nfs_cx *cx, struct kfs_attr *a);

/* State (state.c). */
uint32_t nfs_clientid_check(struct nfs_srv *s, uint64_t clientid);
struct nfs_sid {
	uint32_t seqid;
	uint8_t other[12];
};
void nfs_stateid_get(struct xdr_in *x, struct nfs_sid *sid);
void nfs_stateid_put(struct xdr_out *o, const struct nfs_srv *s, const struct nfs_state *st);
/* Stateid for I/O on ino: special ones, or an open or lock state; want: OPEN4_SHARE_ACCESS_*. */
uint32_t nfs_stateid_io(struct nfs_srv *s, const struct nfs_sid *sid, uint64_t ino, uint32_t want);
void nfs_state_drop_client(struct nfs_srv *s);
/* Leases (state.c): renew the client's; revoke all its state once it lapsed. */
void nfs_lease_renew(struct nfs_srv *s);
void nfs_lease_check(struct nfs_srv *s);
uint64_t nfs_now(struct nfs_srv *s);
/* The state a stateid names on ino (0: any file), with the precise error when there is none. */
uint32_t nfs_state_find(struct nfs_srv *s, const struct nfs_sid *sid, uint64_t ino,
			struct nfs_state **out);
void nfs_state_free(struct nfs_srv *s, struct nfs_state *st);
/* A new state of w (NULL for a delegation) on ino; NULL when out of room. */
struct nfs_state *nfs_state_new(struct nfs_srv *s, bool lock, struct nfs_owner *w, uint64_t ino);

/* Delegations (deleg.c). */
/* Append OPEN's open_delegation4: a write delegation when one is safe, else none. */
void nfs_deleg_open_result(struct nfs_cx *cx, uint64_t ino, uint32_t access, uint32_t want);
/* CLAIM_DELEGATE_CUR / CLAIM_DELEG_CUR_FH: sid must be a delegation of the client on ino. */
uint32_t nfs_deleg_check(struct nfs_srv *s, const struct nfs_sid *sid, uint64_t ino);
bool nfs_owner_has_locks(struct nfs_srv *s, struct nfs_owner *w, uint64_t ino);
/* 4.1: drop an owner once no state names it (no seqid replies to keep). */
void nfs_owner_gc(struct nfs_srv *s, struct nfs_owner *w);
void nfs_session_free(struct nfs_srv *s);

/* Operations: decode arguments from cx->in, append the result after the status. */
typedef uint32_t (*nfs_op_fn)(struct nfs_cx *cx);
uint32_t nfs_op_access(struct nfs_cx *cx);
uint32_t nfs_op_getattr(struct nfs_cx *cx);
uint32_t nfs_op_setattr(struct nfs_cx *cx);
uint32_t nfs_op_verify(struct nfs_cx *cx);
uint32_t nfs_op_nverify(struct nfs_cx *cx);
uint32_t nfs_op_putfh(struct nfs_cx *cx);
uint32_t nfs_op_putrootfh(struct nfs_cx *cx);
uint32_t nfs_op_getfh(struct nfs_cx *cx);
uint32_t nfs_op_savefh(struct nfs_cx *cx);
uint32_t nfs_op_restorefh(struct nfs_cx *cx);
uint32_t nfs_op_lookup(struct nfs_cx *cx);
uint32_t nfs_op_lookupp(struct nfs_cx *cx);
uint32_t nfs_op_secinfo(struct nfs_cx *cx);
uint32_t nfs_op_create(struct nfs_cx *cx);
uint32_t nfs_op_remove(struct nfs_cx *cx);
uint32_t nfs_op_rename(struct nfs_cx *cx);
uint32_t nfs_op_link(struct nfs_cx *cx);
uint32_t nfs_op_readlink(struct nfs_cx *cx);
uint32_t nfs_op_readdir(struct nfs_cx *cx);
uint32_t nfs_op_read(struct nfs_cx *cx);
uint32_t nfs_op_write(struct nfs_cx *cx);
uint32_t nfs_op_commit(struct nfs_cx *cx);
uint32_t nfs_op_setclientid(struct nfs_cx *cx);
uint32_t nfs_op_setclientid_confirm(struct nfs_cx *cx);
uint32_t nfs_op_renew(struct nfs_cx *cx);
uint32_t nfs_op_open(struct nfs_cx *cx);
uint32_t nfs_op_open_confirm(struct nfs_cx *cx);
uint32_t nfs_op_open_downgrade(struct nfs_cx *cx);
uint32_t nfs_op_close(struct nfs_cx *cx);
uint32_t nfs_op_lock(struct nfs_cx *cx);
uint32_t nfs_op_lockt(struct nfs_cx *cx);
uint32_t nfs_op_locku(struct nfs_cx *cx);
uint32_t nfs_op_release_lockowner(struct nfs_cx *cx);
uint32_t nfs_op_delegreturn(struct nfs_cx *cx);
/* 4.1 (session.c, state.c) */
uint32_t nfs_op_exchange_id(struct nfs_cx *cx);
uint32_t nfs_op_create_session(struct nfs_cx *cx);
uint32_t nfs_op_sequence(struct nfs_cx *cx);
uint32_t nfs_op_destroy_session(struct nfs_cx *cx);
uint32_t nfs_op_destroy_clientid(struct nfs_cx *cx);
uint32_t nfs_op_bind_conn_to_session(struct nfs_cx *cx);
uint32_t nfs_op_reclaim_complete(struct nfs_cx *cx);
uint32_t nfs_op_secinfo_no_name(struct nfs_cx *cx);
uint32_t nfs_op_test_stateid(struct nfs_cx *cx);
uint32_t nfs_op_free_stateid(struct nfs_cx *cx);
/* 4.2 xattrs (ops_xattr.c) */
uint32_t nfs_op_getxattr(struct nfs_cx *cx);
uint32_t nfs_op_setxattr(struct nfs_cx *cx);
uint32_t nfs_op_listxattrs(struct nfs_cx *cx);
uint32_t nfs_op_removexattr(struct nfs_cx *cx);

uint32_t nfs_cur_dir(struct nfs_cx *cx);
uint32_t nfs_dir_name(struct nfs_cx *cx, char name[KFS_NAME_MAX + 1]);

/* The current filehandle must be set (NOFILEHANDLE otherwise). */
#define NEED_CUR(cx)                                       \
	do {                                               \
		if (!(cx)->cur)                            \
			return NFS4ERR_NOFILEHANDLE;       \
	} while (0)

#endif
