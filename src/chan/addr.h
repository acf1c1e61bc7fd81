/* SPDX-License-Identifier: Apache-2.0 */
/* Channel addresses "vsock:CID:PORT" and "unix:PATH": parse, format, listen, connect. */
#ifndef KILN_CHAN_ADDR_H
#define KILN_CHAN_ADDR_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Well-known ports (docs/protocol.md). */
#define KILN_PORT_HEARTBEAT 9000
#define KILN_PORT_CONTROL 7000
#define KILN_PORT_EGRESS 7001
#define KILN_PORT_DNS 7002
#define KILN_PORT_STORAGE 7003
#define KILN_PORT_NSM 7004		/* sim only: the sim NSM (Nitro has /dev/nsm) */
#define KILN_PORT_INGRESS 7100

#define KILN_CID_ANY 0xFFFFFFFFu /* VMADDR_CID_ANY, written "any" */
#define KILN_CID_PARENT 3u

/* sizeof(sockaddr_un.sun_path) on Linux; paths must leave room for the NUL. */
#define KILN_CHAN_PATH_MAX 108

enum kiln_chan_family {
	KILN_CHAN_VSOCK = 1,
	KILN_CHAN_UNIX = 2,
};

struct kiln_chan_addr {
	enum kiln_chan_family family;
	uint32_t cid;			 /* vsock */
	uint32_t port;			 /* vsock */
	char path[KILN_CHAN_PATH_MAX];	 /* unix */
};

/*
 * Parse "vsock:CID:PORT" (CID and PORT decimal u32 without sign or leading
 * zeros; CID may be "any") or "unix:PATH" (non-empty, shorter than 108
 * bytes). Anything else fails with a message quoting the address.
 */
int kiln_chan_addr_parse(const char *s, struct kiln_chan_addr *a) KILN_MUST;
/* Write the canonical text form into buf; -ENAMETOOLONG when it does not fit. */
int kiln_chan_addr_format(const struct kiln_chan_addr *a, char *buf, size_t len) KILN_MUST;
/* The sim address of port in channel directory dir: unix:DIR/PORT. */
int kiln_chan_addr_in_dir(const char *dir, uint32_t port, struct kiln_chan_addr *a) KILN_MUST;
/*
 * Map a vsock address into a sim channel directory (unix:DIR/PORT); unix
 * addresses and a NULL dir are returned unchanged. kiln-init calls this with
 * the directory the sim runtime bind-mounts, so its config stays vsock.
 */
/* The enclave's view of the parent's port: vsock:3:PORT (or the CID set below), or
 * unix:DIR/PORT in sim (dir). */
int kiln_chan_parent_addr(const char *dir, uint32_t port, struct kiln_chan_addr *a) KILN_MUST;
/* The parent CID kiln_chan_parent_addr() dials (default KILN_CID_PARENT); set once at start. */
void kiln_chan_set_parent_cid(uint32_t cid);
/*
 * Where the parent is (kiln-init's KILN_CHAN): "unix:/DIR", a sim channel
 * directory (*dir points into s), or "vsock:CID" (*cid; the ports are the
 * well-known ones). Anything else fails with a message quoting it.
 */
int kiln_chan_parent_parse(const char *s, uint32_t *cid, const char **dir) KILN_MUST;
int kiln_chan_addr_resolve(const struct kiln_chan_addr *in, const char *dir,
			   struct kiln_chan_addr *out) KILN_MUST;

/*
 * Listening SOCK_STREAM socket (CLOEXEC, NONBLOCK) bound to a. For unix, a
 * stale socket file at the path is replaced; any other file type is an error.
 * Returns the fd or a negative errno.
 */
int kiln_chan_listen(const struct kiln_chan_addr *a, int backlog) KILN_MUST;
/*
 * Connect to a within timeout_ms (< 0: no limit). Returns a CLOEXEC fd in
 * blocking mode, or non-blocking when nonblock is set, or a negative errno.
 */
int kiln_chan_connect(const struct kiln_chan_addr *a, int timeout_ms, int nonblock) KILN_MUST;

#endif
