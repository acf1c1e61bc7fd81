/* SPDX-License-Identifier: Apache-2.0 */
/* ONC RPC (RFC 5531): record marking over TCP, call headers, AUTH_SYS, and replies. */
#ifndef KILN_NFS_RPC_H
#define KILN_NFS_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nfs/xdr.h"

#define RPC_VERS 2
#define RPC_CALL 0
#define RPC_REPLY 1
#define RPC_AUTH_NONE 0
#define RPC_AUTH_SYS 1
#define RPC_AUTH_BODY_MAX 400
#define RPC_AUTH_SYS_NAME_MAX 255
#define RPC_AUTH_SYS_GIDS_MAX 16

/* accept_stat */
#define RPC_SUCCESS 0
#define RPC_PROG_UNAVAIL 1
#define RPC_PROG_MISMATCH 2
#define RPC_PROC_UNAVAIL 3
#define RPC_GARBAGE_ARGS 4
#define RPC_SYSTEM_ERR 5
/* reject_stat and auth_stat */
#define RPC_MISMATCH 0
#define RPC_AUTH_ERROR 1
#define RPC_AUTH_BADCRED 1
#define RPC_AUTH_TOOWEAK 5

/*
 * Record marking (RFC 5531 11): fragments of a 4-byte header (top bit: last
 * fragment, 31 bits of length) and data. The connection's bytes are received
 * into one buffer and parsed where they lie: a record in one fragment (all
 * the Linux client sends) is handed out in place, never copied, and a big
 * one is received straight into its place. The data of any later fragment
 * is moved down over the headers before it, each byte once.
 *
 *   [done records][rec .. dst: this record's data][gap: headers][src .. end: not parsed][free]
 */
struct rpc_rx {
	uint8_t *buf;
	size_t alloc, max; /* max: a record's data */
	size_t rec, dst;   /* the record being parsed: its data so far */
	size_t src, end;   /* bytes received but not yet parsed */
	uint32_t frag_left; /* bytes of the current fragment still to come */
	bool in_rec, in_frag, last;
};

void rpc_rx_init(struct rpc_rx *r, size_t max);
void rpc_rx_free(struct rpc_rx *r);
/* Forget every byte (a new connection). */
void rpc_rx_reset(struct rpc_rx *r);
/*
 * Where the next bytes go (*room of them, at least 1): call only after
 * rpc_rx_next() said 0, since it may move the bytes (and the records
 * handed out) to the front of the buffer, or grow it, up to max plus
 * RPC_RX_CHUNK. -ENOMEM.
 */
#define RPC_RX_CHUNK (64u << 10)
int rpc_rx_space(struct rpc_rx *r, uint8_t **p, size_t *room) KILN_MUST;
/* n bytes were received at rpc_rx_space()'s place. */
void rpc_rx_got(struct rpc_rx *r, size_t n);
/*
 * The next complete record: 1 with *rec and *len (valid until the next
 * rpc_rx_space or rpc_rx_reset), 0 when more bytes are needed, or
 * -EMSGSIZE for a record over max (the connection is then unusable).
 */
int rpc_rx_next(struct rpc_rx *r, const uint8_t **rec, size_t *len) KILN_MUST;

struct rpc_cred {
	uint32_t flavor;
	uint32_t uid, gid;
	uint32_t ngids;
	uint32_t gids[RPC_AUTH_SYS_GIDS_MAX];
	char machine[RPC_AUTH_SYS_NAME_MAX + 1];
};

struct rpc_call {
	uint32_t xid, rpcvers, prog, vers, proc;
	struct rpc_cred cred;
};

/*
 * Decode a call header from x, leaving x at the procedure's arguments.
 * Returns 0, or -EBADMSG when the header itself is garbage (no reply is
 * possible without an xid: drop), or -EPROTO when the xid is known but the
 * rest is bad (reply GARBAGE_ARGS / AUTH_BADCRED, in *reject).
 */
#define RPC_REJ_NONE 0
#define RPC_REJ_VERSION 1  /* MSG_DENIED RPC_MISMATCH */
#define RPC_REJ_BADCRED 2  /* MSG_DENIED AUTH_ERROR AUTH_BADCRED */
#define RPC_REJ_TOOWEAK 3  /* MSG_DENIED AUTH_ERROR AUTH_TOOWEAK */
#define RPC_REJ_GARBAGE 4  /* accepted, GARBAGE_ARGS */
int rpc_call_decode(struct xdr_in *x, struct rpc_call *c, int *reject) KILN_MUST;
/* AUTH_SYS body (RFC 5531 appendix A). */
int rpc_auth_sys_decode(const uint8_t *p, size_t len, struct rpc_cred *c) KILN_MUST;

/*
 * Reply headers. The record mark is reserved first: rpc_reply_finish()
 * writes it once the body is complete.
 */
void rpc_reply_accepted(struct xdr_out *o, uint32_t xid, uint32_t accept_stat);
/* PROG_MISMATCH: accepted header plus the supported range. */
void rpc_reply_prog_mismatch(struct xdr_out *o, uint32_t xid, uint32_t low, uint32_t high);
void rpc_reply_denied(struct xdr_out *o, uint32_t xid, int reject);
/* Writes the last-fragment record mark over the first 4 bytes. */
void rpc_reply_finish(struct xdr_out *o);

#endif
