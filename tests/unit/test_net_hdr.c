/* SPDX-License-Identifier: Apache-2.0 */
/* Egress/ingress flow headers and PROXY v2: round trips, partial input, every rejection. */
#include "t.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/egress_hdr.h"
#include "net/hdr_read.h"
#include "net/proxyv2.h"

TEST(egress_roundtrip)
{
	struct kiln_egress_req r = { .family = 4, .port = 443 }, d;
	uint8_t buf[KILN_EGRESS_REQ_MAX + 8];
	size_t len, used;

	CHECK(kiln_ip_parse("93.184.216.34", &r.ip) == 0);
	strcpy(r.hint, "example.com");
	CHECK(kiln_egress_req_encode(&r, buf, sizeof(buf), &len) == 0 && len == 6 + 4 + 11);
	CHECK(!memcmp(buf, "\x01\x04\x01\xbb\x04\x0b\x5d\xb8\xd8\x22" "example.com", len));
	for (size_t i = 0; i < len; i++)
		CHECK(kiln_egress_req_decode(buf, i, &d, &used) == 0); /* need more */
	buf[len] = 'X'; /* stream bytes after the header are not ours */
	CHECK(kiln_egress_req_decode(buf, len + 1, &d, &used) == 1 && used == len);
	CHECK(d.family == 4 && d.port == 443 && kiln_ip_equal(&d.ip, &r.ip) &&
	      !strcmp(d.hint, "example.com"));

	memset(&r, 0, sizeof(r));
	r.family = 6;
	r.port = 80;
	CHECK(kiln_ip_parse("2001:db8::1", &r.ip) == 0);
	CHECK(kiln_egress_req_encode(&r, buf, sizeof(buf), &len) == 0 && len == 22);
	CHECK(kiln_egress_req_decode(buf, len, &d, &used) == 1 && d.family == 6 && !d.hint[0]);

	memset(&r, 0, sizeof(r));
	r.family = 0;
	r.port = 8080;
	strcpy(r.name, "db.internal");
	CHECK(kiln_egress_req_encode(&r, buf, sizeof(buf), &len) == 0 && len == 6 + 11);
	CHECK(kiln_egress_req_decode(buf, len, &d, &used) == 1 && !strcmp(d.name, "db.internal"));
}

static void req_bad(const char *bytes, size_t len, const char *want)
{
	struct kiln_egress_req d;
	size_t used;

	CHECK_ERR(kiln_egress_req_decode((const uint8_t *)bytes, len, &d, &used), want);
}

TEST(egress_rejects)
{
	struct kiln_egress_req r = { .family = 0, .port = 1 };
	uint8_t buf[8];
	size_t len;

	req_bad("\x02\x04\x00\x50\x04\x00\x01\x02\x03\x04", 10, "unsupported version 2");
	req_bad("\x01\x05\x00\x50\x04\x00\x01\x02\x03\x04", 10, "unknown family 5");
	req_bad("\x01\x04\x00\x50\x10\x00", 6, "address length 16 for IPv4");
	req_bad("\x01\x06\x00\x50\x04\x00", 6, "address length 4 for IPv6");
	req_bad("\x01\x00\x00\x50\x00\x00", 6, "name length 0");
	req_bad("\x01\x00\x00\x50\xfe\x00", 6, "name length 254");
	req_bad("\x01\x04\x00\x50\x04\xfe", 6, "hint length 254");
	req_bad("\x01\x04\x00\x00\x04\x00\x01\x02\x03\x04", 10, "port 0");
	req_bad("\x01\x00\x00\x50\x03\x00" "a\0b", 9, "NUL byte");
	req_bad("\x01\x00\x00\x50\x03\x00" "A.b", 9, "not a normalised host name");
	req_bad("\x01\x00\x00\x50\x03\x00" "a b", 9, "not a normalised host name");
	req_bad("\x01\x00\x00\x50\x01\x01" "ab", 8, "hint given with a name destination");
	req_bad("\x01\x04\x00\x50\x04\x02\x01\x02\x03\x04" "a.", 12, "hint is not a normalised");
	strcpy(r.name, "x");
	CHECK_ERR(kiln_egress_req_encode(&r, buf, 6, &len), "does not fit");
	r.family = 4;
	CHECK_ERR(kiln_egress_req_encode(&r, buf, sizeof(buf), &len), "family mismatch");
}

TEST(egress_reply)
{
	uint8_t buf[4], st;
	size_t len, used;

	for (unsigned s = 0; s <= KILN_EGRESS_BAD_REQUEST; s++) {
		CHECK(kiln_egress_reply_encode((uint8_t)s, buf, sizeof(buf), &len) == 0 && len == 4);
		CHECK(kiln_egress_reply_decode(buf, 3, &st, &used) == 0);
		CHECK(kiln_egress_reply_decode(buf, 4, &st, &used) == 1 && st == s && used == 4);
		CHECK(strcmp(kiln_egress_status_str(s), "?"));
	}
	CHECK(!strcmp(kiln_egress_status_str(3), "denied by the parent's policy"));
	CHECK_ERR(kiln_egress_reply_encode(6, buf, sizeof(buf), &len), "unknown status 6");
	CHECK_ERR(kiln_egress_reply_decode((const uint8_t *)"\x01\x06\x00\x00", 4, &st, &used),
		  "unknown status 6");
	CHECK_ERR(kiln_egress_reply_decode((const uint8_t *)"\x01\x00\x00\x01", 4, &st, &used),
		  "reserved field is 1");
	CHECK_ERR(kiln_egress_reply_decode((const uint8_t *)"\x09\x00\x00\x00", 4, &st, &used),
		  "unsupported version 9");
}

TEST(ingress)
{
	struct kiln_ingress_hdr h = { .port = 443, .has_client = true, .client_port = 51000 }, d;
	uint8_t buf[KILN_INGRESS_HDR_MAX];
	size_t len, used;

	CHECK(kiln_ip_parse("203.0.113.7", &h.client) == 0);
	CHECK(kiln_ingress_hdr_encode(&h, buf, sizeof(buf), &len) == 0 && len == 10);
	CHECK(!memcmp(buf, "\x01\x01\xbb\x04\xcb\x00\x71\x07\xc7\x38", 10));
	for (size_t i = 0; i < len; i++)
		CHECK(kiln_ingress_hdr_decode(buf, i, &d, &used) == 0);
	CHECK(kiln_ingress_hdr_decode(buf, len, &d, &used) == 1 && used == 10 && d.has_client &&
	      d.port == 443 && d.client_port == 51000 && kiln_ip_equal(&d.client, &h.client));
	CHECK(kiln_ip_parse("2001:db8::7", &h.client) == 0);
	CHECK(kiln_ingress_hdr_encode(&h, buf, sizeof(buf), &len) == 0 && len == 22);
	CHECK(kiln_ingress_hdr_decode(buf, len, &d, &used) == 1 && d.client.family == 6);
	h.has_client = false;
	CHECK(kiln_ingress_hdr_encode(&h, buf, sizeof(buf), &len) == 0 && len == 4);
	CHECK(kiln_ingress_hdr_decode(buf, len, &d, &used) == 1 && !d.has_client);
	CHECK_ERR(kiln_ingress_hdr_decode((const uint8_t *)"\x02\x00\x50\x00", 4, &d, &used),
		  "unsupported version 2");
	CHECK_ERR(kiln_ingress_hdr_decode((const uint8_t *)"\x01\x00\x00\x00", 4, &d, &used), "port 0");
	CHECK_ERR(kiln_ingress_hdr_decode((const uint8_t *)"\x01\x00\x50\x05", 4, &d, &used),
		  "unknown client family 5");
	h.port = 0;
	CHECK_ERR(kiln_ingress_hdr_encode(&h, buf, sizeof(buf), &len), "port 0");
}

TEST(proxyv2)
{
	static const uint8_t sig[12] = "\r\n\r\n\0\r\nQUIT\n";
	struct kiln_ip src, dst;
	uint8_t buf[KILN_PROXYV2_MAX];
	size_t len;

	CHECK(kiln_ip_parse("203.0.113.7", &src) == 0 && kiln_ip_parse("127.0.0.1", &dst) == 0);
	CHECK(kiln_proxyv2_build(&src, 51000, &dst, 8080, buf, sizeof(buf), &len) == 0 && len == 28);
	CHECK(!memcmp(buf, sig, 12) && buf[12] == 0x21 && buf[13] == 0x11 && buf[14] == 0 &&
	      buf[15] == 12);
	CHECK(!memcmp(buf + 16, "\xcb\x00\x71\x07\x7f\x00\x00\x01\xc7\x38\x1f\x90", 12));
	CHECK(kiln_ip_parse("2001:db8::7", &src) == 0);
	CHECK(kiln_proxyv2_build(&src, 1, &dst, 2, buf, sizeof(buf), &len) == 0 && len == 52);
	CHECK(buf[13] == 0x21 && buf[15] == 36);
	CHECK(!memcmp(buf + 32, "\0\0\0\0\0\0\0\0\0\0\xff\xff\x7f\0\0\1", 16)); /* v4-mapped dst */
	CHECK(buf[48] == 0 && buf[49] == 1 && buf[50] == 0 && buf[51] == 2);
	CHECK(kiln_proxyv2_build(NULL, 0, &dst, 0, buf, sizeof(buf), &len) == 0 && len == 16);
	CHECK(buf[12] == 0x20 && buf[13] == 0 && buf[14] == 0 && buf[15] == 0);
	CHECK_ERR(kiln_proxyv2_build(&src, 1, &dst, 2, buf, 20, &len), "needs 52 bytes");
}

static int decode_ingress(const uint8_t *buf, size_t len, void *out, size_t *used)
{
	return kiln_ingress_hdr_decode(buf, len, out, used);
}

/* kiln_hdr_read on a real socket pair: partial, whole with data behind it, malformed, EOF. */
TEST(header_off_a_socket)
{
	struct kiln_ingress_hdr h = { .port = 8080 }, d;
	uint8_t hdr[KILN_INGRESS_HDR_MAX], scratch[KILN_INGRESS_HDR_MAX], rest[16];
	size_t len;
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	CHECK(kiln_ingress_hdr_encode(&h, hdr, sizeof(hdr), &len) == 0 && len == 4);
	CHECK(kiln_hdr_read(sv[0], scratch, sizeof(scratch), decode_ingress, &d) == 0); /* empty */
	CHECK(write(sv[1], hdr, 2) == 2);
	CHECK(kiln_hdr_read(sv[0], scratch, sizeof(scratch), decode_ingress, &d) == 0); /* partial */
	CHECK(write(sv[1], hdr + 2, 2) == 2 && write(sv[1], "payload", 7) == 7);
	CHECK(kiln_hdr_read(sv[0], scratch, sizeof(scratch), decode_ingress, &d) == 1 &&
	      d.port == 8080);
	CHECK(read(sv[0], rest, sizeof(rest)) == 7 && !memcmp(rest, "payload", 7)); /* untouched */
	CHECK(write(sv[1], "\x02\x00\x50\x00", 4) == 4);
	CHECK_ERR(kiln_hdr_read(sv[0], scratch, sizeof(scratch), decode_ingress, &d),
		  "unsupported version 2");
	CHECK(read(sv[0], rest, sizeof(rest)) == 4); /* a malformed header is not consumed */
	close(sv[1]);
	CHECK(kiln_hdr_read(sv[0], scratch, sizeof(scratch), decode_ingress, &d) == -EPIPE);
	close(sv[0]);
}

int main(void)
{
	RUN(egress_roundtrip);
	RUN(egress_rejects);
	RUN(egress_reply);
	RUN(ingress);
	RUN(proxyv2);
	RUN(header_off_a_socket);
	return t_done();
}
