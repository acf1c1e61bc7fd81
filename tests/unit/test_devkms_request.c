/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for dev-kms's HTTP request parser: framing, limits, malformed input. */
#include <stdlib.h>
#include <string.h>

#include "devkms/devkms.h"
#include "t.h"

static int parse(const char *s, struct kiln_devkms_req *r)
{
	return kiln_devkms_req_parse((const uint8_t *)s, strlen(s), r);
}

static bool span_eq(struct kiln_devkms_span s, const char *lit)
{
	return s.len == strlen(lit) && !memcmp(s.p, lit, s.len);
}

TEST(complete_request)
{
	struct kiln_devkms_req r;
	const char *s = "POST /?a=b HTTP/1.1\r\nHost: x\r\nX-Amz-Target:  TrentService.Encrypt \r\n"
			"Content-Length: 2\r\n\r\n{}NEXT";

	CHECK(parse(s, &r) == 0);
	CHECK(span_eq(r.method, "POST") && span_eq(r.path, "/") && span_eq(r.query, "a=b"));
	CHECK(r.nhdr == 3 && r.keep_alive);
	CHECK(span_eq(*kiln_devkms_req_header(&r, "x-amz-target"), "TrentService.Encrypt"));
	CHECK(!kiln_devkms_req_header(&r, "authorization"));
	CHECK(r.body_len == 2 && !memcmp(r.body, "{}", 2) && r.total == strlen(s) - 4);
}

TEST(incomplete_needs_more)
{
	struct kiln_devkms_req r;

	CHECK(parse("POST / HTTP/1.1\r\nHost: x\r\n", &r) == -EAGAIN);
	CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", &r) == -EAGAIN);
	CHECK(parse("", &r) == -EAGAIN);
}

TEST(connection_semantics)
{
	struct kiln_devkms_req r;

	CHECK(parse("POST / HTTP/1.1\r\nConnection: close\r\n\r\n", &r) == 0 && !r.keep_alive);
	CHECK(parse("POST / HTTP/1.0\r\n\r\n", &r) == 0 && !r.keep_alive);
	CHECK(parse("POST / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r) == 0 && r.keep_alive);
}

TEST(malformed_refused)
{
	struct kiln_devkms_req r;

	CHECK_ERR(parse("POST / HTTP/1.1\nHost: x\r\n\r\n", &r), "CRLF");
	CHECK_ERR(parse("POST / HTTP/2\r\n\r\n", &r), "HTTP version");
	CHECK_ERR(parse("POST  / HTTP/1.1\r\n\r\n", &r), "request line");
	CHECK_ERR(parse("POST x HTTP/1.1\r\n\r\n", &r), "absolute path");
	CHECK_ERR(parse("POST / HTTP/1.1\r\nBad Name: x\r\n\r\n", &r), "header name");
	CHECK_ERR(parse("POST / HTTP/1.1\r\nNoColon\r\n\r\n", &r), "header line");
	CHECK_ERR(parse("POST / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", &r), "folded");
	CHECK_ERR(parse("POST / HTTP/1.1\r\nA: b\x01\r\n\r\n", &r), "control byte");
	CHECK_ERR(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &r), "Transfer-Encoding");
	CHECK_ERR(parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", &r), "duplicate");
	CHECK_ERR(parse("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &r), "Content-Length");
	CHECK_ERR(parse("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", &r), "Content-Length");
}

TEST(limits)
{
	struct kiln_devkms_req r;
	char big[256];
	size_t n = KILN_DEVKMS_MAX_HEAD + 16;
	char *head = malloc(n + 1);

	snprintf(big, sizeof(big), "POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n", KILN_DEVKMS_MAX_BODY + 1);
	CHECK(parse(big, &r) == -EMSGSIZE);
	memset(head, 'a', n);
	head[n] = '\0';
	CHECK(kiln_devkms_req_parse((uint8_t *)head, n, &r) == -EMSGSIZE);
	/* More headers than the table holds. */
	char *many = malloc(64 * 8 + 64);
	strcpy(many, "POST / HTTP/1.1\r\n");
	for (int i = 0; i < KILN_DEVKMS_MAX_HDRS + 1; i++)
		strcat(many, "A: b\r\n");
	strcat(many, "\r\n");
	CHECK_ERR(parse(many, &r), "headers");
	free(many);
	free(head);
}

int main(void)
{
	RUN(complete_request);
	RUN(incomplete_needs_more);
	RUN(connection_semantics);
	RUN(malformed_refused);
	RUN(limits);
	return t_done();
}
