/* SPDX-License-Identifier: Apache-2.0 */
/* The client side of kilnd's CLI protocol (JSON lines on STATE/kilnd.sock). */
#ifndef KILN_KILND_CLIENT_H
#define KILN_KILND_CLIENT_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

#define KILND_CLIENT_LINE_MAX (1024 * 1024) /* a reply or log record line */

struct kilnd_client {
	int fd;
	char path[108];		/* the socket */
	char *buf;		/* received, not yet returned */
	size_t len, cap;
};

/*
 * Connect to STATE/kilnd.sock. -ENOENT or -ECONNREFUSED (message "kilnd is
 * not running (no PATH)") when no kilnd serves it; c->fd is -1 on failure.
 */
int kilnd_client_open(struct kilnd_client *c, const char *state_dir) KILN_MUST;
/* Send one request (a JSON object; the reference is stolen). */
int kilnd_client_send(struct kilnd_client *c, json_t *req) KILN_MUST;
/*
 * The next line as a JSON object: 0, -ETIMEDOUT after timeout_ms (< 0: no
 * limit), -EPIPE when kilnd closed the connection, -EPROTO on junk.
 */
int kilnd_client_recv(struct kilnd_client *c, int timeout_ms, json_t **out) KILN_MUST;
void kilnd_client_close(struct kilnd_client *c);

/*
 * One request, one reply: *reply is the reply object when it says ok;
 * otherwise -EINVAL (-ENOENT for "no such enclave", -EEXIST for a name in
 * use) with kilnd's own error line as the message.
 */
int kilnd_client_call(const char *state_dir, json_t *req, int timeout_ms,
		      json_t **reply) KILN_MUST;
/* Map a reply: 0 when "ok" is true, else kilnd's error as above. */
int kilnd_client_check(json_t *reply) KILN_MUST;

#endif
