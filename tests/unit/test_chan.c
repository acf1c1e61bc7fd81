/* SPDX-License-Identifier: Apache-2.0 */
/* Channel addresses and control frames: parsing, round trips, every rejection. */
#include "t.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chan/addr.h"
#include "chan/frame.h"

static int addr_ok(const char *s, const char *canon)
{
	struct kiln_chan_addr a;
	char buf[200];

	if (kiln_chan_addr_parse(s, &a) < 0 || kiln_chan_addr_format(&a, buf, sizeof(buf)) < 0)
		return 0;
	return !strcmp(buf, canon);
}

TEST(addr_parse)
{
	struct kiln_chan_addr a;
	char longp[200];

	CHECK(addr_ok("vsock:3:9000", "vsock:3:9000"));
	CHECK(addr_ok("vsock:any:7000", "vsock:any:7000"));
	CHECK(addr_ok("vsock:4294967295:1", "vsock:any:1"));
	CHECK(addr_ok("vsock:0:4294967294", "vsock:0:4294967294"));
	CHECK(addr_ok("unix:/run/kiln/chan/web/7000", "unix:/run/kiln/chan/web/7000"));
	CHECK(addr_ok("unix:rel/sock", "unix:rel/sock"));
	CHECK(kiln_chan_addr_parse("vsock:16:7000", &a) == 0 && a.family == KILN_CHAN_VSOCK &&
	      a.cid == 16 && a.port == 7000);

	CHECK_ERR(kiln_chan_addr_parse("tcp:1.2.3.4:80", &a), "expected vsock:CID:PORT or unix:PATH");
	CHECK_ERR(kiln_chan_addr_parse("", &a), "expected vsock");
	CHECK_ERR(kiln_chan_addr_parse("VSOCK:3:1", &a), "expected vsock");
	CHECK_ERR(kiln_chan_addr_parse("vsock:3", &a), "expected vsock:CID:PORT");
	CHECK_ERR(kiln_chan_addr_parse("vsock::7000", &a), "CID is not");
	CHECK_ERR(kiln_chan_addr_parse("vsock:-1:7000", &a), "CID is not");
	CHECK_ERR(kiln_chan_addr_parse("vsock:+3:7000", &a), "CID is not");
	CHECK_ERR(kiln_chan_addr_parse("vsock:03:7000", &a), "CID is not");
	CHECK_ERR(kiln_chan_addr_parse("vsock: 3:7000", &a), "CID is not");
	CHECK_ERR(kiln_chan_addr_parse("vsock:4294967296:7000", &a), "CID is not");
	CHECK_ERR(kiln_chan_addr_parse("vsock:99999999999:7000", &a), "CID is not");
	CHECK_ERR(kiln_chan_addr_parse("vsock:3:", &a), "port is not");
	CHECK_ERR(kiln_chan_addr_parse("vsock:3:7000:1", &a), "port is not");
	CHECK_ERR(kiln_chan_addr_parse("vsock:3:7000 ", &a), "port is not");
	CHECK_ERR(kiln_chan_addr_parse("vsock:3:0x10", &a), "port is not");
	CHECK_ERR(kiln_chan_addr_parse("vsock:3:0", &a), "reserved");
	CHECK_ERR(kiln_chan_addr_parse("vsock:3:4294967295", &a), "reserved");
	CHECK_ERR(kiln_chan_addr_parse("unix:", &a), "empty unix socket path");
	memset(longp, 'x', sizeof(longp));
	memcpy(longp, "unix:", 5);
	longp[5 + 108] = '\0';
	CHECK_ERR(kiln_chan_addr_parse(longp, &a), "longer than 107");
	longp[5 + 107] = '\0';
	CHECK(kiln_chan_addr_parse(longp, &a) == 0);
}

TEST(addr_dir_and_resolve)
{
	struct kiln_chan_addr a, r;
	char longd[120];
	char buf[64];

	CHECK(kiln_chan_addr_in_dir("/run/c", 7000, &a) == 0 && !strcmp(a.path, "/run/c/7000"));
	CHECK_ERR(kiln_chan_addr_in_dir("", 7000, &a), "empty channel directory");
	memset(longd, 'd', sizeof(longd));
	longd[104] = '\0';
	CHECK_ERR(kiln_chan_addr_in_dir(longd, 7000, &a), "longer than 107");
	CHECK(kiln_chan_addr_parse("vsock:3:9000", &a) == 0);
	CHECK(kiln_chan_addr_resolve(&a, "/chan", &r) == 0 && r.family == KILN_CHAN_UNIX &&
	      !strcmp(r.path, "/chan/9000"));
	CHECK(kiln_chan_addr_resolve(&a, NULL, &r) == 0 && r.family == KILN_CHAN_VSOCK);
	CHECK(kiln_chan_addr_parse("unix:/x", &a) == 0);
	CHECK(kiln_chan_addr_resolve(&a, "/chan", &r) == 0 && !strcmp(r.path, "/x"));
	CHECK(kiln_chan_addr_parse("vsock:3:9000", &a) == 0);
	CHECK_ERR(kiln_chan_addr_format(&a, buf, 5), "does not fit");
	/* The parent's port as the enclave sees it: vsock CID 3 on Nitro, DIR/PORT in sim. */
	CHECK(kiln_chan_parent_addr(NULL, 7001, &r) == 0 && r.family == KILN_CHAN_VSOCK &&
	      r.cid == KILN_CID_PARENT && r.port == 7001);
	CHECK(kiln_chan_parent_addr("/run/kiln-chan", 7002, &r) == 0 &&
	      r.family == KILN_CHAN_UNIX && !strcmp(r.path, "/run/kiln-chan/7002"));
}

/* KILN_CHAN: where kiln-init's parent is; the CID it sets is what parent_addr dials. */
TEST(parent_parse)
{
	struct kiln_chan_addr r;
	const char *dir;
	uint32_t cid;

	CHECK(kiln_chan_parent_parse("unix:/run/kiln-chan", &cid, &dir) == 0 && dir &&
	      !strcmp(dir, "/run/kiln-chan") && cid == KILN_CID_PARENT);
	CHECK(kiln_chan_parent_parse("vsock:1", &cid, &dir) == 0 && !dir && cid == 1);
	CHECK(kiln_chan_parent_parse("vsock:4294967294", &cid, &dir) == 0 && cid == 4294967294u);
	CHECK_ERR(kiln_chan_parent_parse("vsock:any", &cid, &dir), "want unix:/DIR or vsock:CID");
	CHECK_ERR(kiln_chan_parent_parse("vsock:1:7000", &cid, &dir), "\"vsock:1:7000\"");
	CHECK_ERR(kiln_chan_parent_parse("vsock:", &cid, &dir), "vsock:CID");
	CHECK_ERR(kiln_chan_parent_parse("vsock:01", &cid, &dir), "vsock:CID");
	CHECK_ERR(kiln_chan_parent_parse("vsock:4294967296", &cid, &dir), "vsock:CID");
	CHECK_ERR(kiln_chan_parent_parse("vsock:-1", &cid, &dir), "vsock:CID");
	CHECK_ERR(kiln_chan_parent_parse("unix:relative", &cid, &dir), "vsock:CID");
	CHECK_ERR(kiln_chan_parent_parse("tcp:1", &cid, &dir), "vsock:CID");
	CHECK_ERR(kiln_chan_parent_parse("vsock:111111111111111111111", &cid, &dir), "vsock:CID");
	kiln_chan_set_parent_cid(1);
	CHECK(kiln_chan_parent_addr(NULL, 7000, &r) == 0 && r.family == KILN_CHAN_VSOCK &&
	      r.cid == 1 && r.port == 7000);
	kiln_chan_set_parent_cid(KILN_CID_PARENT);
}

TEST(unix_listen_connect)
{
	char dir[] = "/tmp/kiln-chan-XXXXXX";
	struct kiln_chan_addr a;
	int l, c, s;
	char b = 0;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(kiln_chan_addr_in_dir(dir, KILN_PORT_CONTROL, &a) == 0);
	CHECK_ERR(kiln_chan_connect(&a, 100, 0), "No such file");
	l = kiln_chan_listen(&a, 4);
	CHECK(l >= 0);
	/* A stale socket from a previous listener is replaced. */
	close(l);
	l = kiln_chan_listen(&a, 4);
	CHECK(l >= 0);
	c = kiln_chan_connect(&a, 1000, 0);
	CHECK(c >= 0);
	s = accept(l, NULL, NULL);
	CHECK(s >= 0);
	CHECK(write(c, "k", 1) == 1 && read(s, &b, 1) == 1 && b == 'k');
	close(s);
	close(c);
	close(l);
	unlink(a.path);
	/* A regular file at the path is never removed. */
	close(creat(a.path, 0600));
	CHECK_ERR(kiln_chan_listen(&a, 4), "is not a socket");
	unlink(a.path);
	rmdir(dir);
}

TEST(vsock_socket_errors_are_clear)
{
	struct kiln_chan_addr a;
	int fd;

	/* No vsock transport here: whatever happens must be a clean result. */
	CHECK(kiln_chan_addr_parse("vsock:3:9", &a) == 0);
	fd = kiln_chan_connect(&a, 100, 0);
	if (fd >= 0)
		close(fd);
	else
		CHECK(strstr(kiln_errmsg(), "vsock:3:9: ") != NULL);
}

/* ---- frames ---- */

static int roundtrip(const struct kiln_frame *in, struct kiln_frame *out)
{
	static uint8_t buf[KILN_FRAME_MAX];
	size_t len = 0, used = 0;

	if (kiln_frame_encode(in, buf, sizeof(buf), &len) < 0)
		return -1;
	if (kiln_frame_decode(buf, len, out, &used) != 1 || used != len)
		return -1;
	return 0;
}

static struct kiln_frame hello(void)
{
	struct kiln_frame f = { .type = KILN_FRAME_HELLO };

	f.u.hello.max_version = 1;
	f.u.hello.init_pid = 1;
	strcpy(f.u.hello.name, "web-1.a_b");
	return f;
}

TEST(frame_roundtrips)
{
	struct kiln_frame f = hello(), g;
	const char *line = "hello \x01\xff world";

	memset(f.u.hello.pcr0, 'a', KILN_PCR_HEX);
	CHECK(roundtrip(&f, &g) == 0 && !strcmp(g.u.hello.name, "web-1.a_b") &&
	      strlen(g.u.hello.pcr0) == 96 && g.u.hello.init_pid == 1);
	f = (struct kiln_frame){ .type = KILN_FRAME_LOG, .flags = KILN_LOG_PARTIAL };
	f.u.log = (struct kiln_log){ .stream = 2, .ts_ns = 1700000000123456789ull, .seq = 42,
				     .line = (const uint8_t *)line, .len = strlen(line) };
	CHECK(roundtrip(&f, &g) == 0 && g.flags == KILN_LOG_PARTIAL && g.u.log.stream == 2 &&
	      g.u.log.seq == 42 && g.u.log.ts_ns == 1700000000123456789ull &&
	      g.u.log.len == strlen(line) && !memcmp(g.u.log.line, line, g.u.log.len));
	f = (struct kiln_frame){ .type = KILN_FRAME_LOG };
	f.u.log = (struct kiln_log){ .stream = KILN_STREAM_INIT, .seq = 7 };
	CHECK(roundtrip(&f, &g) == 0 && g.u.log.stream == KILN_STREAM_INIT && g.u.log.seq == 7);
	f.u.log = (struct kiln_log){ .stream = 1, .seq = 1 };
	CHECK(roundtrip(&f, &g) == 0 && g.u.log.len == 0);
	f = (struct kiln_frame){ .type = KILN_FRAME_STATUS };
	f.u.status = (struct kiln_status){ .state = 3, .exit_code = 3 };
	CHECK(roundtrip(&f, &g) == 0 && g.u.status.exit_code == 3);
	f.u.status = (struct kiln_status){ .state = 3, .signal = 9 };
	CHECK(roundtrip(&f, &g) == 0 && g.u.status.signal == 9);
	f = (struct kiln_frame){ .type = KILN_FRAME_DROPPED, .u.dropped.count = 7 };
	CHECK(roundtrip(&f, &g) == 0 && g.u.dropped.count == 7);
	f = (struct kiln_frame){ .type = KILN_FRAME_STOP, .u.stop = { 15, 10000 } };
	CHECK(roundtrip(&f, &g) == 0 && g.u.stop.signal == 15 && g.u.stop.timeout_ms == 10000);
	f = (struct kiln_frame){ .type = KILN_FRAME_ACK, .u.ack = { KILN_FRAME_HELLO, 99 } };
	CHECK(roundtrip(&f, &g) == 0 && g.u.ack.type == 1 && g.u.ack.value == 99);
}

TEST(frame_wire_layout)
{
	struct kiln_frame f = { .type = KILN_FRAME_STOP, .u.stop = { 15, 0x01020304 } };
	uint8_t buf[32];
	const uint8_t want[] = { 1, 5, 0, 0, 0, 0, 0, 5, 15, 1, 2, 3, 4 };
	size_t len = 0;

	CHECK(kiln_frame_encode(&f, buf, sizeof(buf), &len) == 0 && len == sizeof(want) &&
	      !memcmp(buf, want, len));
	CHECK_ERR(kiln_frame_encode(&f, buf, 8, &len), "do not fit");
}

/* Decode raw bytes; expect an error containing substr. */
static int rejects(const uint8_t *b, size_t n, const char *substr)
{
	struct kiln_frame f;
	size_t used;
	int rc = kiln_frame_decode(b, n, &f, &used);

	if (rc >= 0) {
		fprintf(stderr, "accepted (rc %d), expected \"%s\"\n", rc, substr);
		return 0;
	}
	if (!strstr(kiln_errmsg(), substr)) {
		fprintf(stderr, "error \"%s\" lacks \"%s\"\n", kiln_errmsg(), substr);
		return 0;
	}
	return 1;
}

TEST(frame_header_rejections)
{
	uint8_t v2[] = { 2 }, v0[] = { 0, 1 };
	uint8_t type0[] = { 1, 0, 0, 0, 0, 0, 0, 0 }, type7[] = { 1, 7, 0, 0, 0, 0, 0, 0 };
	uint8_t big[] = { 1, 2, 0, 0, 0, 0, 0xff, 0xf9 }, huge[] = { 1, 2, 0, 0, 0xff, 0, 0, 0 };
	uint8_t flags[] = { 1, 4, 0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1 };
	uint8_t logflag[] = { 1, 2, 0x80, 0, 0, 0, 0, 17, 1, 0, 0, 0, 0, 0, 0, 0, 0,
			      0, 0, 0, 0, 0, 0, 0, 1 };
	struct kiln_frame f;
	size_t used;

	CHECK(rejects(v2, sizeof(v2), "unsupported control protocol version 2"));
	CHECK(rejects(v0, sizeof(v0), "unsupported control protocol version 0"));
	CHECK(rejects(type0, sizeof(type0), "unknown control frame type 0"));
	CHECK(rejects(type7, sizeof(type7), "unknown control frame type 7"));
	CHECK(rejects(big, sizeof(big), "length 65529 exceeds maximum 65528"));
	CHECK(rejects(huge, sizeof(huge), "exceeds maximum"));
	CHECK(rejects(flags, sizeof(flags), "reserved flags 0x0001"));
	CHECK(rejects(logflag, sizeof(logflag), "reserved flags 0x8000"));
	/* Short input is "need more", never an error. */
	CHECK(kiln_frame_decode(type0, 0, &f, &used) == 0);
	CHECK(kiln_frame_decode(flags, 7, &f, &used) == 0);
	CHECK(kiln_frame_decode(flags, 15, &f, &used) == 0);
	big[7] = 0xf8;
	CHECK(kiln_frame_decode(big, sizeof(big), &f, &used) == 0);
}

/* A frame of type with the given payload bytes. */
static int rejects_payload(uint8_t type, const uint8_t *p, size_t n, const char *substr)
{
	uint8_t b[512] = { 1, type, 0, 0, 0, 0, (uint8_t)(n >> 8), (uint8_t)n };

	memcpy(b + 8, p, n);
	return rejects(b, n + 8, substr);
}

TEST(frame_hello_rejections)
{
	uint8_t ok[] = { 0, 1, 0, 0, 0, 7, 3, 'w', 'e', 'b', 0 };
	uint8_t p[256];
	struct kiln_frame f;
	size_t used;
	uint8_t b[300] = { 1, 1, 0, 0, 0, 0, 0, sizeof(ok) };

	memcpy(b + 8, ok, sizeof(ok));
	CHECK(kiln_frame_decode(b, 8 + sizeof(ok), &f, &used) == 1 && f.u.hello.init_pid == 7);
	memcpy(p, ok, sizeof(ok));
	p[1] = 0;
	CHECK(rejects_payload(1, p, sizeof(ok), "max_version 0 is below 1"));
	memcpy(p, ok, sizeof(ok));
	p[5] = 0;
	CHECK(rejects_payload(1, p, sizeof(ok), "init_pid 0 out of range"));
	memcpy(p, ok, sizeof(ok));
	p[2] = 0x80;
	CHECK(rejects_payload(1, p, sizeof(ok), "init_pid 2147483655 out of range"));
	memcpy(p, ok, sizeof(ok));
	p[6] = 0;
	p[7] = 0;
	CHECK(rejects_payload(1, p, 8, "empty enclave name"));
	memcpy(p, ok, sizeof(ok));
	p[7] = '.';
	CHECK(rejects_payload(1, p, sizeof(ok), "character 1 not allowed"));
	memcpy(p, ok, sizeof(ok));
	p[8] = '/';
	CHECK(rejects_payload(1, p, sizeof(ok), "character 2 not allowed"));
	memcpy(p, ok, sizeof(ok));
	p[8] = 0;
	CHECK(rejects_payload(1, p, sizeof(ok), "name contains a NUL byte"));
	memcpy(p, ok, sizeof(ok));
	p[6] = 64;
	memset(p + 7, 'a', 64);
	p[7 + 64] = 0;
	CHECK(rejects_payload(1, p, 7 + 64 + 1, "name of 64 bytes is too long"));
	memcpy(p, ok, sizeof(ok));
	p[6] = 5;
	CHECK(rejects_payload(1, p, sizeof(ok), "malformed payload"));
	memcpy(p, ok, sizeof(ok));
	p[10] = 3;
	memcpy(p + 11, "abc", 3);
	CHECK(rejects_payload(1, p, 14, "pcr0 has 3 hex digits"));
	p[10] = 96;
	memset(p + 11, 'a', 96);
	p[11 + 5] = 'A';
	CHECK(rejects_payload(1, p, 11 + 96, "pcr0 digit 6 is not lowercase hex"));
	p[11 + 5] = 'f';
	p[10] = 97;
	p[11 + 96] = 'a';
	CHECK(rejects_payload(1, p, 11 + 97, "pcr0 of 97 bytes is too long"));
	memcpy(p, ok, sizeof(ok));
	CHECK(rejects_payload(1, p, sizeof(ok) + 1, "1 trailing payload bytes"));
	CHECK(rejects_payload(1, p, 3, "malformed payload"));
}

TEST(frame_body_rejections)
{
	uint8_t log[17] = { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	uint8_t st[4] = { 3, 0, 0, 0 };
	uint8_t dr[8] = { 0 }, stop[5] = { 15, 0, 0, 0, 0 }, ack[9] = { 1 };

	CHECK(rejects_payload(2, log, 16, "malformed payload"));
	log[0] = 0;
	CHECK(rejects_payload(2, log, 17, "stream 0 is not 1 (stdout), 2 (stderr) or 3 (kiln-init)"));
	log[0] = 4;
	CHECK(rejects_payload(2, log, 17, "stream 4 is not"));
	log[0] = 1;
	log[16] = 0;
	CHECK(rejects_payload(2, log, 17, "seq 0"));
	log[16] = 1;
	log[9] = 0x80;
	CHECK(rejects_payload(2, log, 17, "seq or timestamp above 2^63-1"));
	log[9] = 0;
	log[1] = 0x80;
	CHECK(rejects_payload(2, log, 17, "seq or timestamp above 2^63-1"));
	log[1] = 0;

	CHECK(rejects_payload(3, st, 2, "malformed payload"));
	CHECK(rejects_payload(3, st, 4, "1 trailing payload bytes"));
	st[0] = 0;
	CHECK(rejects_payload(3, st, 3, "state 0 is not"));
	st[0] = 4;
	CHECK(rejects_payload(3, st, 3, "state 4 is not"));
	st[0] = 2;
	st[1] = 1;
	CHECK(rejects_payload(3, st, 3, "state 2 carries an exit code"));
	st[0] = 3;
	st[2] = 9;
	CHECK(rejects_payload(3, st, 3, "exit code 1 given together with a signal"));
	st[1] = 0;
	st[2] = 65;
	CHECK(rejects_payload(3, st, 3, "signal 65 out of range"));

	CHECK(rejects_payload(4, dr, 8, "count 0: nothing dropped"));
	CHECK(rejects_payload(4, dr, 7, "malformed payload"));
	CHECK(rejects_payload(5, stop, 4, "malformed payload"));
	stop[0] = 0;
	CHECK(rejects_payload(5, stop, 5, "signal 0 out of range 1..64"));
	stop[0] = 65;
	CHECK(rejects_payload(5, stop, 5, "signal 65 out of range"));
	CHECK(rejects_payload(6, ack, 8, "malformed payload"));
	ack[0] = 6;
	CHECK(rejects_payload(6, ack, 9, "acknowledged type 6"));
	ack[0] = 0;
	CHECK(rejects_payload(6, ack, 9, "acknowledged type 0"));
}

TEST(frame_encode_rejects_invalid)
{
	struct kiln_frame f = hello();
	uint8_t buf[KILN_FRAME_MAX + 16];
	static uint8_t line[KILN_FRAME_MAX];
	size_t len;

	strcpy(f.u.hello.name, "../etc");
	CHECK_ERR(kiln_frame_encode(&f, buf, sizeof(buf), &len), "not allowed");
	f = (struct kiln_frame){ .type = 9 };
	CHECK_ERR(kiln_frame_encode(&f, buf, sizeof(buf), &len), "unknown control frame type 9");
	f = (struct kiln_frame){ .type = KILN_FRAME_LOG };
	f.u.log = (struct kiln_log){ .stream = 1, .seq = 1, .line = line,
				     .len = KILN_FRAME_PAYLOAD_MAX - 17 };
	CHECK(kiln_frame_encode(&f, buf, sizeof(buf), &len) == 0 && len == KILN_FRAME_MAX);
	f.u.log.len++;
	CHECK_ERR(kiln_frame_encode(&f, buf, sizeof(buf), &len), "too long");
}

TEST(decoder_incremental)
{
	static struct kiln_frame_dec d;
	static uint8_t stream[4096];
	struct kiln_frame f;
	size_t n = 0, len, used;
	int frames = 0, rc;

	for (uint64_t i = 1; i <= 50; i++) {
		char line[32];

		snprintf(line, sizeof(line), "line %llu", (unsigned long long)i);
		f = (struct kiln_frame){ .type = KILN_FRAME_LOG };
		f.u.log = (struct kiln_log){ .stream = 1, .seq = i, .line = (uint8_t *)line,
					     .len = strlen(line) };
		CHECK(kiln_frame_encode(&f, stream + n, sizeof(stream) - n, &len) == 0);
		n += len;
	}
	kiln_frame_dec_init(&d);
	/* One byte at a time: every frame comes out whole and in order. */
	for (size_t i = 0; i < n; i++) {
		CHECK(kiln_frame_dec_feed(&d, stream + i, 1, &used) == 0 && used == 1);
		while ((rc = kiln_frame_dec_next(&d, &f)) == 1) {
			char want[32];

			frames++;
			snprintf(want, sizeof(want), "line %d", frames);
			CHECK(f.u.log.seq == (uint64_t)frames && f.u.log.len == strlen(want) &&
			      !memcmp(f.u.log.line, want, f.u.log.len));
		}
		CHECK(rc == 0);
	}
	CHECK(frames == 50);
	/* Garbage fails the decoder for good. */
	CHECK(kiln_frame_dec_feed(&d, "\x09", 1, &used) == 0);
	CHECK_ERR(kiln_frame_dec_next(&d, &f), "unsupported control protocol version 9");
	CHECK_ERR(kiln_frame_dec_next(&d, &f), "already failed");
	CHECK_ERR(kiln_frame_dec_feed(&d, "x", 1, &used), "already failed");
}

TEST(decoder_full_buffer)
{
	static struct kiln_frame_dec d;
	static uint8_t big[KILN_FRAME_MAX * 3];
	struct kiln_frame f = { .type = KILN_FRAME_LOG }, g;
	size_t len, used, off = 0;
	int got = 0, rc;

	f.u.log = (struct kiln_log){ .stream = 1, .seq = 1, .line = big + 100000,
				     .len = KILN_FRAME_PAYLOAD_MAX - 17 };
	CHECK(kiln_frame_encode(&f, big, KILN_FRAME_MAX, &len) == 0);
	f.u.log.seq = 2;
	f.u.log.len = 3;
	CHECK(kiln_frame_encode(&f, big + len, KILN_FRAME_MAX, &used) == 0);
	len += used;
	kiln_frame_dec_init(&d);
	while (off < len) {
		CHECK(kiln_frame_dec_feed(&d, big + off, len - off, &used) == 0);
		off += used;
		while ((rc = kiln_frame_dec_next(&d, &g)) == 1)
			got++;
		CHECK(rc == 0);
	}
	CHECK(got == 2);
}

/* Counts LOG frames by seq; says "stop" (1) at seq stop_at, fails at seq fail_at. */
struct input_seen {
	uint64_t seqs[8];
	int n;
	uint64_t stop_at, fail_at;
};

static int count_frame(void *ctx, const struct kiln_frame *f)
{
	struct input_seen *s = ctx;

	if (s->n < 8)
		s->seqs[s->n++] = f->u.log.seq;
	if (f->u.log.seq == s->fail_at)
		return kiln_err(EPROTO, "handler refused seq %llu", (unsigned long long)f->u.log.seq);
	return f->u.log.seq == s->stop_at ? 1 : 0;
}

TEST(decoder_input_calls_back_in_order)
{
	static struct kiln_frame_dec d;
	uint8_t buf[512];
	struct kiln_frame f = { .type = KILN_FRAME_LOG };
	size_t len = 0, used;

	for (uint64_t seq = 1; seq <= 3; seq++) {
		f.u.log = (struct kiln_log){ .stream = 1, .seq = seq, .line = (const uint8_t *)"x",
					     .len = 1 };
		CHECK(kiln_frame_encode(&f, buf + len, sizeof(buf) - len, &used) == 0);
		len += used;
	}
	/* In two pieces, the cut inside the second frame: every frame, in order. */
	struct input_seen all = { .n = 0 };
	kiln_frame_dec_init(&d);
	CHECK(kiln_frame_dec_input(&d, buf, 40, count_frame, &all) == 0);
	CHECK(kiln_frame_dec_input(&d, buf + 40, len - 40, count_frame, &all) == 0);
	CHECK(all.n == 3 && all.seqs[0] == 1 && all.seqs[1] == 2 && all.seqs[2] == 3);
	/* The handler stops after the second. */
	struct input_seen stop = { .stop_at = 2 };
	kiln_frame_dec_init(&d);
	CHECK(kiln_frame_dec_input(&d, buf, len, count_frame, &stop) == 1 && stop.n == 2);
	/* A handler error is returned as it is. */
	struct input_seen fail = { .fail_at = 1 };
	kiln_frame_dec_init(&d);
	CHECK_ERR(kiln_frame_dec_input(&d, buf, len, count_frame, &fail), "handler refused seq 1");
	CHECK(fail.n == 1);
	/* Malformed bytes: the decoder's error. */
	struct input_seen bad = { .n = 0 };
	memset(buf, 0xff, 16);
	kiln_frame_dec_init(&d);
	CHECK(kiln_frame_dec_input(&d, buf, 16, count_frame, &bad) < 0 && bad.n == 0);
}

int main(void)
{
	RUN(addr_parse);
	RUN(addr_dir_and_resolve);
	RUN(parent_parse);
	RUN(unix_listen_connect);
	RUN(vsock_socket_errors_are_clear);
	RUN(frame_roundtrips);
	RUN(frame_wire_layout);
	RUN(frame_header_rejections);
	RUN(frame_hello_rejections);
	RUN(frame_body_rejections);
	RUN(frame_encode_rejects_invalid);
	RUN(decoder_incremental);
	RUN(decoder_full_buffer);
	RUN(decoder_input_calls_back_in_order);
	return t_done();
}
