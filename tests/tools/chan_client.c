/* SPDX-License-Identifier: Apache-2.0 */
/* Test tool: plays kiln-init on a sim channel directory (heartbeat, control frames). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan/addr.h"
#include "chan/frame.h"
#include "net/egress_hdr.h"

/*
 * usage: chan_client DIR ACTION...
 *   hb               heartbeat on DIR/9000: send 0xB7, expect 0xB7
 *   hello NAME       HELLO on DIR/7000 (connects first), prints "next_seq N" from the ACK
 *   log N START      N LOG frames "line K" for K = START.., odd K stdout, even K stderr
 *   raw TEXT         one LOG frame (stdout) with TEXT, seq = next
 *   running          STATUS running
 *   exit CODE        STATUS exited CODE
 *   dropped N        DROPPED N
 *   waitstop         wait for STOP, print "stop SIG TIMEOUT_MS", answer ACK
 *   garbage          on a new connection: bad version byte; prints "closed" when kilnd hangs up
 *   oversize         on a new connection: a LOG header of 1 MiB; prints "closed" likewise
 *   close            close the control connection
 *   sleep MS
 *   ingress PORT TEXT  plays kilnd instead: on DIR/7100 (kiln-init's ingress
 *                    listener) the ingress header for PORT, then TEXT, then
 *                    prints "ingress reply N bytes: " and what came back
 *                    until the enclave closed (at most 5 s)
 * Exits 1 with a one-line error on the first failure.
 * chan_client -r SOCKET JSON sends one request to kilnd's CLI socket and
 * prints every response line until kilnd closes (no socat needed).
 */

static const char *dir;
static int ctl = -1;
static uint64_t next_seq = 1;

static void die(const char *what)
{
	fprintf(stderr, "chan_client: %s: %s\n", what, kiln_errmsg());
	exit(1);
}

static int dial(uint32_t port)
{
	struct kiln_chan_addr a;
	int fd;

	if (kiln_chan_addr_in_dir(dir, port, &a) < 0)
		die("address");
	fd = kiln_chan_connect(&a, 5000, 0);
	if (fd < 0)
		die("connect");
	return fd;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w <= 0) {
			kiln_err(errno, "%s", strerror(errno));
			die("write");
		}
		p += w;
		n -= (size_t)w;
	}
}

static void send_frame(const struct kiln_frame *f)
{
	static uint8_t buf[KILN_FRAME_MAX];
	size_t len;

	if (ctl < 0)
		ctl = dial(KILN_PORT_CONTROL);
	if (kiln_frame_encode(f, buf, sizeof(buf), &len) < 0)
		die("encode");
	write_all(ctl, buf, len);
}

static void recv_frame(struct kiln_frame *f, int timeout_ms)
{
	static struct kiln_frame_dec d;
	static int init;
	uint8_t buf[4096];
	size_t used;
	int rc;

	if (!init++)
		kiln_frame_dec_init(&d);
	while ((rc = kiln_frame_dec_next(&d, f)) == 0) {
		struct pollfd p = { .fd = ctl, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, timeout_ms) != 1) {
			kiln_err(ETIMEDOUT, "no frame from kilnd in %d ms", timeout_ms);
			die("read");
		}
		n = read(ctl, buf, sizeof(buf));
		if (n <= 0) {
			kiln_err(ECONNRESET, "kilnd closed the control connection");
			die("read");
		}
		if (kiln_frame_dec_feed(&d, buf, (size_t)n, &used) < 0 || used != (size_t)n)
			die("decode");
	}
	if (rc < 0)
		die("decode");
}

static void heartbeat(void)
{
	int fd = dial(KILN_PORT_HEARTBEAT);
	uint8_t b = 0xB7;

	write_all(fd, &b, 1);
	b = 0;
	if (read(fd, &b, 1) != 1 || b != 0xB7) {
		kiln_err(EPROTO, "echo 0x%02x", b);
		die("heartbeat");
	}
	close(fd);
	printf("heartbeat ok\n");
}

static void hello(const char *name)
{
	struct kiln_frame f = { .type = KILN_FRAME_HELLO };

	f.u.hello.max_version = 1;
	f.u.hello.init_pid = (uint32_t)getpid();
	snprintf(f.u.hello.name, sizeof(f.u.hello.name), "%s", name);
	send_frame(&f);
	recv_frame(&f, 5000);
	if (f.type != KILN_FRAME_ACK || f.u.ack.type != KILN_FRAME_HELLO) {
		kiln_err(EPROTO, "expected ACK of HELLO, got %s", kiln_frame_type_name(f.type));
		die("hello");
	}
	next_seq = f.u.ack.value;
	printf("next_seq %llu\n", (unsigned long long)f.u.ack.value);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void log_line(uint64_t seq, int stream, const char *text)
{
	struct kiln_frame f = { .type = KILN_FRAME_LOG };

	f.u.log = (struct kiln_log){ .stream = (uint8_t)stream, .ts_ns = now_ns(), .seq = seq,
				     .line = (const uint8_t *)text, .len = strlen(text) };
	send_frame(&f);
	next_seq = seq + 1;
}

static void logs(long n, long start)
{
	char text[64];

	for (long k = start; k < start + n; k++) {
		snprintf(text, sizeof(text), "line %ld", k);
		log_line((uint64_t)k, k % 2 ? KILN_STREAM_STDOUT : KILN_STREAM_STDERR, text);
	}
}

static void status(int state, int code)
{
	struct kiln_frame f = { .type = KILN_FRAME_STATUS };

	f.u.status.state = (uint8_t)state;
	f.u.status.exit_code = (uint8_t)code;
	send_frame(&f);
}

static void wait_stop(void)
{
	struct kiln_frame f;

	recv_frame(&f, 10000);
	if (f.type != KILN_FRAME_STOP) {
		kiln_err(EPROTO, "expected STOP, got %s", kiln_frame_type_name(f.type));
		die("waitstop");
	}
	printf("stop %u %u\n", f.u.stop.signal, f.u.stop.timeout_ms);
	f = (struct kiln_frame){ .type = KILN_FRAME_ACK, .u.ack = { KILN_FRAME_STOP, 0 } };
	send_frame(&f);
}

/* Send bad bytes on a fresh connection and expect kilnd to hang up. */
static void bad_conn(const uint8_t *p, size_t n)
{
	int fd = dial(KILN_PORT_CONTROL);
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	uint8_t b[64];

	write_all(fd, p, n);
	if (poll(&pf, 1, 5000) != 1 || read(fd, b, sizeof(b)) != 0) {
		kiln_err(EPROTO, "kilnd kept a bad connection open");
		die("bad frame");
	}
	close(fd);
	printf("closed\n");
}

/* Play kilnd on kiln-init's ingress channel: what reaches enclave port `port`? */
static void ingress(const char *port, const char *text)
{
	struct kiln_ingress_hdr h = { .port = (uint16_t)atoi(port) };
	uint8_t hdr[KILN_INGRESS_HDR_MAX];
	static char reply[65536];
	size_t len, got = 0;
	int fd = dial(KILN_PORT_INGRESS);

	if (kiln_ingress_hdr_encode(&h, hdr, sizeof(hdr), &len) < 0)
		die("ingress header");
	write_all(fd, hdr, len);
	/* kiln-init may close at once after the header (a port it refuses). */
	(void)!send(fd, text, strlen(text), MSG_NOSIGNAL);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 5000) != 1 || got == sizeof(reply) - 1)
			break;
		n = read(fd, reply + got, sizeof(reply) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	reply[got] = '\0';
	close(fd);
	printf("ingress reply %zu bytes: %s\n", got, reply);
}

static const struct {
	const char *name;
	int nargs;
} actions[] = {
	{ "hb", 0 },	  { "hello", 1 },    { "log", 2 },	{ "raw", 1 },
	{ "running", 0 }, { "exit", 1 },     { "dropped", 1 },	{ "waitstop", 0 },
	{ "garbage", 0 }, { "oversize", 0 }, { "close", 0 },	{ "sleep", 1 },
	{ "ingress", 2 },
};

static void dropped(long n)
{
	struct kiln_frame f = { .type = KILN_FRAME_DROPPED };

	f.u.dropped.count = (uint64_t)n;
	send_frame(&f);
}

static void run(const char *a, char **arg)
{
	if (!strcmp(a, "hb"))
		heartbeat();
	else if (!strcmp(a, "hello"))
		hello(arg[0]);
	else if (!strcmp(a, "log"))
		logs(atol(arg[0]), atol(arg[1]));
	else if (!strcmp(a, "raw"))
		log_line(next_seq, KILN_STREAM_STDOUT, arg[0]);
	else if (!strcmp(a, "running"))
		status(KILN_STATE_RUNNING, 0);
	else if (!strcmp(a, "exit"))
		status(KILN_STATE_EXITED, atoi(arg[0]));
	else if (!strcmp(a, "dropped"))
		dropped(atol(arg[0]));
	else if (!strcmp(a, "waitstop"))
		wait_stop();
	else if (!strcmp(a, "garbage"))
		bad_conn((const uint8_t *)"\x09garbage!", 9);
	else if (!strcmp(a, "oversize"))
		bad_conn((const uint8_t *)"\x01\x02\x00\x00\x00\x10\x00\x00", 8);
	else if (!strcmp(a, "close") && ctl >= 0 && close(ctl) == 0)
		ctl = -1;
	else if (!strcmp(a, "sleep"))
		usleep((useconds_t)atoi(arg[0]) * 1000);
	else if (!strcmp(a, "ingress"))
		ingress(arg[0], arg[1]);
}

/* Run the action at av[i]; returns how many words it used. */
static int step(char **av, int i, int ac)
{
	for (size_t k = 0; k < sizeof(actions) / sizeof(actions[0]); k++) {
		if (strcmp(av[i], actions[k].name))
			continue;
		if (i + actions[k].nargs >= ac) {
			kiln_err(EINVAL, "%s needs %d argument(s)", av[i], actions[k].nargs);
			die("usage");
		}
		run(av[i], av + i + 1);
		return 1 + actions[k].nargs;
	}
	kiln_err(EINVAL, "unknown action \"%s\"", av[i]);
	die("usage");
	return 0;
}

/* -r SOCKET JSON: one kilnd CLI request; every response line to stdout. */
static int request(const char *sock, const char *json)
{
	struct kiln_chan_addr a = { .family = KILN_CHAN_UNIX };
	char buf[65536];
	ssize_t n;
	int fd;

	if (strlen(sock) >= sizeof(a.path)) {
		kiln_err(ENAMETOOLONG, "%s: path too long", sock);
		die("socket");
	}
	strcpy(a.path, sock);
	fd = kiln_chan_connect(&a, 5000, 0);
	if (fd < 0)
		die("connect");
	write_all(fd, (const uint8_t *)json, strlen(json));
	write_all(fd, (const uint8_t *)"\n", 1);
	shutdown(fd, SHUT_WR);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return 1;
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: chan_client DIR ACTION... | chan_client -r SOCKET JSON\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "-r") && argc == 4)
		return request(argv[2], argv[3]);
	dir = argv[1];
	for (int i = 2; i < argc;)
		i += step(argv, i, argc);
	if (ctl >= 0)
		close(ctl);
	return 0;
}
