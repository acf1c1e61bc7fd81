/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's control channel against a hostile enclave: one control connection, HELLO deadline, pre-HELLO cap. */
#include "t.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kd_fixture.h"
#include "kilnd/internal.h"

static char tmp[64];

static void setup(struct kd *d)
{
	kd_fixture_setup(d, tmp);
}

static void teardown(struct kd *d)
{
	kd_fixture_teardown(d);
}

/* A sim enclave whose channels are in tmp/NAME. */
static struct kd_enclave *enclave(struct kd *d, const char *name)
{
	char dir[128], req[512];
	struct kd_enclave *e = NULL;
	json_t *j;

	snprintf(dir, sizeof(dir), "%s/%s", tmp, name);
	mkdir(dir, 0700);
	snprintf(req, sizeof(req), "{\"name\":\"%s\",\"mode\":\"sim\",\"chan_dir\":\"%s\"}", name,
		 dir);
	j = json_loads(req, 0, NULL);
	if (!j || kd_enclave_register(d, j, &e) < 0)
		e = NULL;
	json_decref(j);
	return e;
}

/* Handle every event that is pending now (the clients' writes are already queued). */
static void pump(struct kd *d)
{
	struct epoll_event evs[32];
	int n;

	for (int turn = 0; turn < 100 && (n = epoll_wait(d->epfd, evs, 32, 0)) > 0; turn++)
		for (int i = 0; i < n; i++) {
			struct kd_watch *w = evs[i].data.ptr;

			if (w->fd >= 0)
				w->fn(d, w, evs[i].events);
		}
}

static int client(const struct kd_enclave *e)
{
	struct kiln_chan_addr a;

	if (kiln_chan_addr_in_dir(e->chan_dir, KILN_PORT_CONTROL, &a) < 0)
		return -1;
	return kiln_chan_connect(&a, 1000, 0);
}

static int send_frame(int fd, const struct kiln_frame *f)
{
	uint8_t buf[256];
	size_t len;

	if (kiln_frame_encode(f, buf, sizeof(buf), &len) < 0)
		return -1;
	return write(fd, buf, len) == (ssize_t)len ? 0 : -1;
}

static int hello(int fd, const char *name, uint32_t pid)
{
	struct kiln_frame f = { .type = KILN_FRAME_HELLO };

	f.u.hello.max_version = KILN_CTL_VERSION;
	f.u.hello.init_pid = pid;
	snprintf(f.u.hello.name, sizeof(f.u.hello.name), "%s", name);
	return send_frame(fd, &f);
}

static int log_line(int fd, uint64_t seq, const char *text)
{
	struct kiln_frame f = { .type = KILN_FRAME_LOG };

	f.u.log.stream = KILN_STREAM_STDOUT;
	f.u.log.seq = seq;
	f.u.log.ts_ns = 1;
	f.u.log.line = (const uint8_t *)text;
	f.u.log.len = strlen(text);
	return send_frame(fd, &f);
}

static int status_running(int fd)
{
	struct kiln_frame f = { .type = KILN_FRAME_STATUS };

	f.u.status.state = KILN_STATE_RUNNING;
	return send_frame(fd, &f);
}

/* The HELLO ACK's value (the next seq kilnd expects); 0: no ACK; -1: closed. */
static long long acked(int fd)
{
	uint8_t buf[256];
	struct kiln_frame f;
	size_t used;
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n == 0)
		return -1;
	if (n < 0 || kiln_frame_decode(buf, (size_t)n, &f, &used) < 0 ||
	    f.type != KILN_FRAME_ACK || f.u.ack.type != KILN_FRAME_HELLO)
		return 0;
	return (long long)f.u.ack.value;
}

/* 1 when kilnd has closed its end, 0 while it is open and silent. */
static int closed(int fd)
{
	char b;

	return recv(fd, &b, 1, MSG_DONTWAIT) == 0;
}

TEST(second_hello_refused)
{
	struct kd d;
	struct kd_enclave *e;
	int a, b;

	setup(&d);
	e = enclave(&d, "one");
	CHECK(e != NULL);
	if (!e) {
		teardown(&d);
		return;
	}
	a = client(e);
	CHECK(a >= 0 && hello(a, "one", 10) == 0);
	pump(&d);
	CHECK(acked(a) == 1);
	CHECK(e->ctl && e->init_pid == 10);
	/* A forged HELLO (the app dialing 7000) while kiln-init's is alive. */
	b = client(e);
	CHECK(b >= 0 && hello(b, "one", 66) == 0);
	pump(&d);
	CHECK(acked(b) == -1);
	CHECK(e->init_pid == 10);
	/* The first one still carries logs and status. */
	CHECK(log_line(a, 1, "still here") == 0 && status_running(a) == 0);
	pump(&d);
	CHECK(e->last_seq == 1 && e->state == KD_RUNNING);
	CHECK(!closed(a));
	close(a);
	close(b);
	teardown(&d);
}

/*
 * kiln-init reconnects (its connection dropped) before kilnd has read the
 * old connection's end of file: the new HELLO is accepted, and what the old
 * one sent last is not lost.
 */
TEST(reconnect_after_close)
{
	struct kd d;
	struct kd_enclave *e;
	int a, c;

	setup(&d);
	e = enclave(&d, "two");
	CHECK(e != NULL);
	if (!e) {
		teardown(&d);
		return;
	}
	a = client(e);
	CHECK(a >= 0 && hello(a, "two", 10) == 0);
	pump(&d);
	CHECK(acked(a) == 1 && e->ctl);
	CHECK(log_line(a, 1, "one") == 0 && log_line(a, 2, "two") == 0);
	close(a);
	if (e->ctl) /* kilnd has not looked at the old connection yet */
		epoll_ctl(d.epfd, EPOLL_CTL_DEL, e->ctl->w.fd, NULL);
	c = client(e);
	CHECK(c >= 0 && hello(c, "two", 11) == 0);
	pump(&d);
	CHECK(e->last_seq == 2);
	CHECK(acked(c) == 3);
	CHECK(e->init_pid == 11 && e->ctl);
	CHECK(log_line(c, 3, "three") == 0);
	pump(&d);
	CHECK(e->last_seq == 3);
	close(c);
	teardown(&d);
}

TEST(hello_deadline_and_cap)
{
	struct kd d;
	struct kd_enclave *e;
	int s[KD_PREHELLO_MAX + 1], k;

	setup(&d);
	d.hello_ms = 60000; /* settable; far enough that "now" is never past it */
	e = enclave(&d, "three");
	CHECK(e != NULL);
	if (!e) {
		teardown(&d);
		return;
	}
	for (int i = 0; i <= KD_PREHELLO_MAX; i++)
		s[i] = client(e);
	pump(&d);
	/* One connection past the cap is refused at once; the others wait. */
	for (int i = 0; i < KD_PREHELLO_MAX; i++)
		CHECK(s[i] >= 0 && !closed(s[i]));
	CHECK(closed(s[KD_PREHELLO_MAX]));
	kd_chan_tick(&d, kd_mono_ms());
	CHECK(!closed(s[0]));
	/* One of them says HELLO in time: it stays; the silent ones expire. */
	CHECK(hello(s[0], "three", 10) == 0);
	pump(&d);
	CHECK(acked(s[0]) == 1);
	kd_chan_tick(&d, kd_mono_ms() + d.hello_ms + 1);
	CHECK(!closed(s[0]));
	for (int i = 1; i < KD_PREHELLO_MAX; i++)
		CHECK(closed(s[i]));
	/* Room again for new connections. */
	k = client(e);
	pump(&d);
	CHECK(k >= 0 && !closed(k));
	for (int i = 0; i <= KD_PREHELLO_MAX; i++)
		close(s[i]);
	close(k);
	teardown(&d);
}

int main(void)
{
	char p[128];

	signal(SIGPIPE, SIG_IGN); /* a client kilnd closed is a finding, not a crash */
	snprintf(tmp, sizeof(tmp), "/tmp/kiln-kdchan.XXXXXX");
	if (!mkdtemp(tmp))
		return 1;
	RUN(second_hello_refused);
	RUN(reconnect_after_close);
	RUN(hello_deadline_and_cap);
	snprintf(p, sizeof(p), "rm -rf %s", tmp);
	if (system(p) != 0)
		fprintf(stderr, "could not remove %s\n", tmp);
	return t_done();
}
