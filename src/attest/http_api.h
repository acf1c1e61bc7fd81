/* SPDX-License-Identifier: Apache-2.0 */
/* The in-enclave attestation API: GET /v1/attestation over loopback HTTP/1.1. */
#ifndef KILN_ATTEST_HTTP_API_H
#define KILN_ATTEST_HTTP_API_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/*
 * GET /v1/attestation?nonce=B64&user_data=B64&public_key=B64 returns the raw
 * attestation document (Content-Type: application/cbor). Values are
 * base64url (RFC 4648 section 5) without padding; padding ("=" or "%3D") is
 * tolerated; each decodes to 1..1024 bytes; every parameter is optional and
 * may appear once. Unknown or duplicate parameters and malformed values get
 * 400 with a one-line reason as the body, other paths 404, other methods 405.
 * One request per connection ("Connection: close"); the request head is at
 * most 8 KiB and must arrive within the timeout; peers that are not loopback
 * (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104) are disconnected without an answer.
 */
#define KILN_ATTEST_API_PATH "/v1/attestation"
#define KILN_ATTEST_API_HEAD_MAX 8192
#define KILN_ATTEST_API_PARAM_MAX 1024
#define KILN_ATTEST_API_TIMEOUT_MS 5000
#define KILN_ATTEST_API_CONNS_MAX 16 /* clients served at once by kiln-init */

struct kiln_attest_api_param {
	bool present;
	size_t len;
	uint8_t data[KILN_ATTEST_API_PARAM_MAX];
};

struct kiln_attest_api_req {
	int status; /* 200, or the HTTP status the request earns: 400, 404, 405 */
	struct kiln_attest_api_param nonce;
	struct kiln_attest_api_param user_data;
	struct kiln_attest_api_param public_key;
};

/*
 * Parse a request head: the bytes up to and including the blank line that
 * ends it. Returns 0 (status 200) for a well-formed GET of the attestation
 * path, otherwise a negative errno with the reason as the message and
 * req->status set. Pure: no I/O, no allocation.
 */
int kiln_attest_api_parse(const uint8_t *head, size_t len, struct kiln_attest_api_req *req) KILN_MUST;

/* A whole response (head and body) in a fresh buffer: body for 200, else "reason\n". */
int kiln_attest_api_response(int status, const char *reason, const uint8_t *body, size_t body_len,
			     uint8_t **out, size_t *out_len) KILN_MUST;

/*
 * Produces the document for a parsed request. Errors -EINVAL, -EMSGSIZE and
 * -ERANGE (what the NSM says about bad arguments) become 400 with the
 * message, others 500.
 */
typedef int (*kiln_attest_api_doc_fn)(void *ctx, const struct kiln_attest_api_req *req,
				      uint8_t **doc, size_t *doc_len);

/* The callback over an NSM client: ctx is a struct kiln_nsm *. */
int kiln_attest_api_nsm_doc(void *ctx, const struct kiln_attest_api_req *req, uint8_t **doc,
			    size_t *doc_len);

/*
 * Serve one accepted connection: check the peer, read the head within
 * timeout_ms, answer, shut down the write side. The fd stays the caller's.
 * Returns 0 when a response was sent (*status, if not NULL, says which), or
 * a negative errno when the connection was dropped (not loopback, timeout,
 * I/O error, EOF before a whole head).
 */
int kiln_attest_api_handle(int fd, kiln_attest_api_doc_fn fn, void *ctx, int timeout_ms,
			   int *status) KILN_MUST;

/* Listen on "IPv4:PORT" or "[IPv6]:PORT" (numeric). Returns a CLOEXEC fd or -errno. */
int kiln_attest_api_listen(const char *addr) KILN_MUST;

/* What kiln_attest_api_serve has done so far (for tests); updated as it goes. */
struct kiln_attest_api_stats {
	atomic_uint accepted;	/* connections taken from the listener */
	atomic_uint active;	/* connections being served now */
	atomic_uint peak;	/* the most ever served at once */
	atomic_uint dropped;	/* connections closed without a response */
};

struct kiln_attest_api_opts {
	int timeout_ms;		/* per connection, from accept to the last byte sent */
	unsigned max_conns;	/* served at once; more wait in the listen backlog */
	int stop_fd;		/* serve returns 0 once this is readable; -1: never */
	struct kiln_attest_api_stats *stats; /* NULL: not kept */
};

/*
 * Serve clients concurrently from one poll loop: each connection keeps its
 * own state (head read so far, response left to send) and deadline, so a
 * slow or silent client is dropped at its deadline and never stalls another.
 * Documents are produced one at a time (fn runs in this loop). At max_conns
 * the listener is not polled: further clients wait in the kernel's listen
 * backlog (bounded by listen()), so memory stays bounded. Returns 0 when
 * stop_fd is readable, or a negative errno on a fatal poll error.
 */
int kiln_attest_api_serve(int listen_fd, kiln_attest_api_doc_fn fn, void *ctx,
			  const struct kiln_attest_api_opts *o) KILN_MUST;

#endif
