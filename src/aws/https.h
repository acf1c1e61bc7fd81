/* SPDX-License-Identifier: Apache-2.0 */
/* A small HTTP/1.1 client (TLS through OpenSSL, or plain for IMDS) with deadlines and keep-alive. */
#ifndef KILN_AWS_HTTPS_H
#define KILN_AWS_HTTPS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define AWS_HTTP_HEAD_MAX (16 * 1024)
#define AWS_HTTP_BODY_MAX (1024 * 1024)

/* http[s]://HOST[:PORT][/PATH]; HOST may be an IPv4 literal or [IPv6]. */
struct aws_url {
	bool tls;
	char host[256];
	uint16_t port;
	char path[512];
	bool host_is_ip;
};

int aws_url_parse(const char *url, struct aws_url *u) KILN_MUST;

struct aws_http_resp {
	int status;
	char *body; /* NUL-terminated, malloc'd; wiped on free */
	size_t body_len;
	bool close; /* the server will not keep the connection */
};

void aws_http_resp_free(struct aws_http_resp *r);

/*
 * Parse a response at the start of buf: 0 with *used bytes making it up,
 * -EAGAIN when more bytes are needed (eof: none will come), -EBADMSG with
 * a message when malformed. Content-Length, chunked, or (eof) until close.
 */
int aws_http_parse_response(const uint8_t *buf, size_t len, bool eof, struct aws_http_resp *r,
			    size_t *used);

/*
 * A TLS context verifying peers against ca_file (a PEM file, or PEM text
 * itself when it starts with "-----BEGIN"), or when NULL the system bundle
 * at its usual paths. TLS 1.2 or later.
 */
int aws_tls_ctx(const char *ca_file, SSL_CTX **out) KILN_MUST;

/* One origin; connects lazily, keeps the connection alive, reconnects when it closed. */
struct aws_http_client;

/* ctx: for https URLs (owned by the caller, may be shared by clients). */
int aws_http_client_new(const struct aws_url *u, SSL_CTX *ctx,
			struct aws_http_client **out) KILN_MUST;
void aws_http_client_free(struct aws_http_client *c);
/*
 * Send head (request line and headers, ending in an empty line) and body,
 * and read the response, all before deadline (aws_now_ms() clock). -ETIMEDOUT,
 * -ECONNREFUSED & co. for connection trouble (worth retrying), -EBADMSG for
 * a malformed answer, -EPROTO for a TLS or certificate failure.
 */
/* Connect (TCP and TLS) now, before deadline, unless connected; requests reuse it. */
int aws_http_client_connect(struct aws_http_client *c, int64_t deadline) KILN_MUST;
int aws_http_roundtrip(struct aws_http_client *c, const char *head, const void *body,
		       size_t body_len, int64_t deadline, struct aws_http_resp *r) KILN_MUST;

/* Milliseconds on the monotonic clock. */
int64_t aws_now_ms(void);

#endif
