/* SPDX-License-Identifier: Apache-2.0 */
/* The NFSv4 server (4.0, 4.1, 4.2) over the storage core: RPC records in, replies out, and its TCP loop. */
#ifndef KILN_NFS_SERVER_H
#define KILN_NFS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/fs.h"
#include "nfs/xdr.h"

#define NFS_FH_KEY_LEN 32
#define NFS_VOLID_LEN 16
#define NFS_MAX_IO (1u << 20)			  /* maxread, maxwrite */
#define NFS_MAX_RECORD (NFS_MAX_IO + (64u << 10)) /* a WRITE's data plus its COMPOUND */
/*
 * nfs_serve commits what reached the server at most this long after it
 * changed (as the FUSE frontend does); COMMIT and stable WRITEs at once.
 */
#define NFS_COMMIT_MS 5000

struct nfs_srv;

/*
 * key authenticates file handles (HMAC-SHA256): with a key derived from
 * the volume key, handles stay valid across restarts and cannot be forged.
 * The server does not own fs. A volume that changes behind the server
 * (kfs_changes_behind: plain) has no xattrs and non-atomic change info.
 */
int nfs_srv_new(struct kfs *fs, const uint8_t key[NFS_FH_KEY_LEN],
		const uint8_t volid[NFS_VOLID_LEN], struct nfs_srv **out) KILN_MUST;
void nfs_srv_free(struct nfs_srv *s);
struct kfs *nfs_srv_fs(struct nfs_srv *s);
/*
 * The clock leases are measured with, in seconds (default: CLOCK_MONOTONIC_COARSE);
 * tests drive it. Setting it renews the client's lease.
 */
void nfs_srv_set_clock(struct nfs_srv *s, uint64_t (*now)(void *arg), void *arg);
/*
 * Grant write delegations to a 4.1 client with a back channel (off
 * until set; kiln_nfs_mount sets it; src/nfs/deleg.c says when one is safe).
 */
void nfs_srv_set_delegations(struct nfs_srv *s, bool on);
uint64_t nfs_srv_now(struct nfs_srv *s);
/*
 * The server worked (a commit, a slow store) from since (nfs_srv_now) until
 * now: requests waited unread, so that time is not held against the lease.
 */
void nfs_srv_worked(struct nfs_srv *s, uint64_t since);

/*
 * One RPC call record in; a complete reply (with its record mark) in out,
 * or out->len == 0 when the record deserves no reply (not a call at all).
 * Returns 0, or -errno only for the server's own failures (out of memory).
 */
int nfs_srv_rpc(struct nfs_srv *s, const uint8_t *rec, size_t len, struct xdr_out *out) KILN_MUST;

/*
 * Group commit. With grouping on, a stable WRITE or a COMMIT that finds
 * uncommitted changes answers as if committed and leaves the commit owed:
 * nfs_srv_owed() then says true (once) and the caller must hold that reply
 * until nfs_srv_commit() succeeds; pipelined calls so share one commit.
 * After a failed nfs_srv_commit the held replies must never be sent (drop
 * the connection: the client resends), the next calls commit at once, so
 * resent 4.0 calls answer the error, and the 4.1 session's cached replies
 * are forgotten, so resent 4.1 calls get NFS4ERR_RETRY_UNCACHED_REP.
 */
void nfs_srv_group(struct nfs_srv *s, bool on);
bool nfs_srv_owed(struct nfs_srv *s);
int nfs_srv_commit(struct nfs_srv *s) KILN_MUST;

/* The handle key and volume id of a mounted volume (derived from its keys; random for a plain one). */
int nfs_fh_key(struct kfs *fs, uint8_t key[NFS_FH_KEY_LEN], uint8_t volid[NFS_VOLID_LEN]) KILN_MUST;

/* A TCP listener on 127.0.0.1:port (0: any free port, *port_out set). */
int nfs_listen(uint16_t port, int *fd, uint16_t *port_out) KILN_MUST;
/*
 * Serve one client at a time on lfd until stopfd becomes readable (a newer
 * connection replaces the current one: the kernel client reconnects so).
 * Connections from a port >= 1024 are closed at once: only root (the
 * kernel's client) binds reserved ports.
 * Returns 0 when stopped, or -errno.
 */
int nfs_serve(struct nfs_srv *s, int lfd, int stopfd) KILN_MUST;

#endif
