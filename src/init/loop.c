/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's one poll loop: signals, reaping, the app's output, the control channel, STOP. */
#include "init/supervise.h"

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "init/console.h"
#include "init/ctl.h"
#include "init/linesplit.h"
#include "init/logring.h"
#include "util/io.h"

/*
 * How this works: the signals kiln-init handles stay blocked and arrive on a
 * signalfd, so signals, the app's two output pipes, the console and the
 * control connection are all one poll() with no handlers and no races. The
 * app's output is read in chunks, copied to the console as it is, and split
 * into lines that become LOG frames in the ring. Reading stops (the app then
 * blocks on its pipe, as on a slow terminal) while the console cannot take
 * more or while a connected parent is behind; a parent that is gone never
 * slows the app: the ring drops its oldest lines instead. After the app
 * exits, its pipes are drained, and kiln-init waits a bounded time for the
 * parent to take every line and the final STATUS.
 */

#define READ_CHUNK 65536
#define READS_PER_WAKE 8
#define DRAIN_IDLE_MS 200 /* after the app exits: pipes quiet this long are given up */
#define FRAME_COST (KILN_FRAME_HDR + KILN_LOG_FIXED + 1) /* ring bytes per byte read, worst case */

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 };

struct out_stream {
	int fd;			/* read end of the pipe; -1 once closed */
	uint8_t id;		/* enum kiln_log_stream */
	struct kiln_console *con; /* where its bytes are copied as they are */
	struct kiln_linesplit split;
};

/* s[]: the app's stdout and stderr, then kiln-init's own stderr (its threads'
 * lines), which is logged as the kiln-init stream. */
enum { OUT_APP = 2, OUT_OWN = 2, OUT_ALL = 3 };

struct loop {
	const struct kiln_supervise_opts *o;
	pid_t app;
	int status;		/* the app's wait status, once app_done */
	bool app_done;
	bool hurry;		/* a signal after the app exited: stop waiting for the parent */
	int sfd;
	struct out_stream s[OUT_ALL];
	struct kiln_console con[2];	/* kiln-init's stdout and stderr: the console */
	struct kiln_logring ring;
	struct kiln_ctl ctl;
	int64_t kill_at;	/* STOP timeout: SIGKILL the app then; -1: none */
	int64_t exited_at;
	int64_t last_io;	/* last time the pipes moved (or were held back) */
	uint64_t ts;		/* wall clock of the chunk being split */
	uint8_t cur;		/* stream of the chunk being split */
	uint8_t chunk[READ_CHUNK];
};

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* kiln-init's own messages: through the stderr console buffer, never blocking, and into the log. */
static void say(void *ctx, const char *msg)
{
	struct loop *l = ctx;
	char line[600];
	int n = snprintf(line, sizeof(line), "%s\n", msg);

	if (n > 0 && kiln_console_room(&l->con[1]) >= (size_t)n)
		kiln_console_put(&l->con[1], (const uint8_t *)line, (size_t)n);
	if (n > 1) /* best effort: a failure here has nobody left to tell */
		(void)!kiln_logring_append(&l->ring, KILN_STREAM_INIT, wall_ns(), false,
					   (const uint8_t *)line, (size_t)n - 1);
}

static void on_line(void *ctx, const uint8_t *p, size_t len, bool partial)
{
	struct loop *l = ctx;

	if (kiln_logring_append(&l->ring, l->cur, l->ts, partial, p, len) < 0)
		say(l, "kiln-init: log line lost: internal error");
}

/*
 * How much may be read from s now: 0 while the console or a connected parent
 * is behind. A parent that is connecting or silent does not hold the app
 * back: the ring takes the lines, dropping the oldest when full.
 */
static size_t read_budget(const struct loop *l, const struct out_stream *s)
{
	size_t n = READ_CHUNK, room = kiln_console_room(s->con);

	if (room < n)
		n = room;
	if (l->ctl.state == KILN_CTL_READY) {
		size_t need = l->ring.unsent + KILN_FRAME_MAX + FRAME_COST;
		size_t avail = l->ring.cap > need ? (l->ring.cap - need) / FRAME_COST : 0;

		if (avail < n)
			n = avail;
	}
	return n < 512 ? 0 : n;
}

static void close_stream(struct loop *l, struct out_stream *s)
{
	l->cur = s->id;
	l->ts = wall_ns();
	kiln_linesplit_flush(&s->split, on_line, l);
	close(s->fd);
	s->fd = -1;
}

static void read_stream(struct loop *l, struct out_stream *s, int64_t now)
{
	for (int i = 0; i < READS_PER_WAKE && s->fd >= 0; i++) {
		size_t max = read_budget(l, s);
		ssize_t n;

		if (!max)
			return;
		n = read(s->fd, l->chunk, max);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close_stream(l, s);
			return;
		}
		if (s != &l->s[OUT_OWN])
			l->last_io = now;
		l->cur = s->id;
		l->ts = wall_ns();
		kiln_console_put(s->con, l->chunk, (size_t)n);
		kiln_linesplit_feed(&s->split, l->chunk, (size_t)n, on_line, l);
	}
}

static void reap(struct loop *l, int64_t now)
{
	int status;
	pid_t p;

	while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
		if (p != l->app)
			continue;
		l->status = status;
		l->app_done = true;
		l->exited_at = now;
		l->last_io = now;
		l->kill_at = -1;
	}
}

static void on_signals(struct loop *l, int64_t now)
{
	struct signalfd_siginfo si;

	while (read(l->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			reap(l, now);
		else if (l->app_done)
			l->hurry = true;
		else if (kill(l->app, (int)si.ssi_signo) < 0 && errno != ESRCH)
			say(l, "kiln-init: warning: could not forward a signal");
	}
}

static void on_stop(struct loop *l, int64_t now)
{
	uint32_t ms;
	int sig;

	if (!kiln_ctl_take_stop(&l->ctl, &sig, &ms) || l->app_done)
		return;
	if (kill(l->app, sig) < 0 && errno != ESRCH)
		say(l, "kiln-init: warning: could not signal the app for STOP");
	if (l->kill_at < 0 || now + ms < l->kill_at)
		l->kill_at = now + ms;
}

/* The app's pipes (kiln-init's own never reaches EOF: it holds the write end). */
static bool pipes_open(const struct loop *l)
{
	return l->s[0].fd >= 0 || l->s[1].fd >= 0;
}

/* The parent is worth waiting for: it answered once, or a connection is under way. */
static bool parent_pending(const struct loop *l)
{
	if (l->ctl.state == KILN_CTL_OFF || l->ctl.state == KILN_CTL_DONE)
		return false;
	return l->ctl.ever_ready || kiln_ctl_busy(&l->ctl);
}

static bool consoles_pending(const struct loop *l)
{
	return kiln_console_pending(&l->con[0]) || kiln_console_pending(&l->con[1]);
}

/* After the app exits: drain the pipes, then wait (bounded) for the parent and the console. */
static bool finished(struct loop *l, int64_t now)
{
	bool late = l->hurry || now >= l->exited_at + l->o->flush_ms;

	if (!l->app_done)
		return false;
	if (pipes_open(l) && !late && now < l->last_io + DRAIN_IDLE_MS)
		return false;
	if (l->s[OUT_OWN].fd >= 0) /* what kiln-init's threads said until now */
		read_stream(l, &l->s[OUT_OWN], now);
	for (int i = 0; i < OUT_ALL; i++)
		if (l->s[i].fd >= 0)
			close_stream(l, &l->s[i]); /* held open by an orphan: stop waiting for it */
	if (!l->ctl.finished) {
		int code = kiln_exit_code(l->status);

		kiln_ctl_finish(&l->ctl, (uint8_t)code,
				WIFSIGNALED(l->status) ? (uint8_t)WTERMSIG(l->status) : 0);
		kiln_ctl_run(&l->ctl, 0, now);
	}
	if (late)
		return true;
	return !parent_pending(l) && !consoles_pending(l);
}

static int64_t earliest(int64_t a, int64_t b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

static int poll_timeout(const struct loop *l, int64_t now)
{
	int64_t t = earliest(kiln_ctl_next_timer(&l->ctl), l->kill_at);

	if (l->app_done) {
		t = earliest(t, l->exited_at + l->o->flush_ms);
		if (pipes_open(l))
			t = earliest(t, l->last_io + DRAIN_IDLE_MS);
	}
	if (t < 0)
		return -1;
	return t <= now ? 0 : (int)(t - now);
}

static void iterate(struct loop *l)
{
	struct pollfd p[8] = { { .fd = l->sfd, .events = POLLIN } };
	int64_t now = kiln_now_ms();

	for (int i = 0; i < OUT_ALL; i++) {
		bool held = l->s[i].fd >= 0 && !read_budget(l, &l->s[i]);

		if (held && i < OUT_APP)
			l->last_io = now;
		p[1 + i] = (struct pollfd){ .fd = held ? -1 : l->s[i].fd, .events = POLLIN };
	}
	for (int i = 0; i < 2; i++)
		p[4 + i] = (struct pollfd){ .fd = kiln_console_pending(&l->con[i]) ? l->con[i].fd : -1,
					    .events = POLLOUT };
	p[6] = (struct pollfd){ .fd = kiln_ctl_fd(&l->ctl), .events = kiln_ctl_events(&l->ctl) };
	if (poll(p, 7, poll_timeout(l, now)) < 0 && errno != EINTR)
		say(l, "kiln-init: warning: poll failed");
	now = kiln_now_ms();
	if (p[0].revents)
		on_signals(l, now);
	for (int i = 0; i < 2; i++)
		if (p[4 + i].revents)
			kiln_console_flush(&l->con[i]);
	for (int i = 0; i < OUT_ALL; i++)
		if (p[1 + i].revents && l->s[i].fd >= 0)
			read_stream(l, &l->s[i], now);
	kiln_ctl_run(&l->ctl, p[6].fd >= 0 ? p[6].revents : 0, now);
	on_stop(l, now);
	if (l->kill_at >= 0 && now >= l->kill_at && !l->app_done) {
		say(l, "kiln-init: STOP timeout: killing the app");
		kill(l->app, SIGKILL);
		l->kill_at = -1;
	}
}

static int setup(struct loop *l, const struct kiln_supervise_opts *o, sigset_t *old)
{
	sigset_t set;
	int rc;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	if (sigprocmask(SIG_BLOCK, &set, old) < 0)
		return kiln_err(errno, "sigprocmask: %s", strerror(errno));
	l->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (l->sfd < 0)
		return kiln_err(errno, "signalfd: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN); /* broken consoles and sockets are errors, not deaths */
	l->s[0] = (struct out_stream){ .fd = -1, .id = KILN_STREAM_STDOUT, .con = &l->con[0] };
	l->s[1] = (struct out_stream){ .fd = -1, .id = KILN_STREAM_STDERR, .con = &l->con[1] };
	l->s[OUT_OWN] = (struct out_stream){ .fd = o->own_fd > STDERR_FILENO ? o->own_fd : -1,
					     .id = KILN_STREAM_INIT, .con = &l->con[1] };
	for (int i = 0; i < OUT_ALL; i++)
		kiln_linesplit_init(&l->s[i].split, KILN_LINE_MAX);
	rc = kiln_console_open(&l->con[0], STDOUT_FILENO);
	if (rc == 0)
		rc = kiln_console_open(&l->con[1], l->s[OUT_OWN].fd >= 0 ? o->console_fd
									   : STDERR_FILENO);
	if (rc == 0)
		rc = kiln_logring_init(&l->ring, o->log_buffer);
	if (rc == 0)
		rc = kiln_ctl_init(&l->ctl, o->control, o->name, (uint32_t)getpid(), &l->ring, say,
				   l);
	return rc;
}

static void teardown(struct loop *l, const sigset_t *old)
{
	for (int i = 0; i < OUT_ALL; i++)
		if (l->s[i].fd >= 0)
			close(l->s[i].fd);
	for (int i = 0; i < 2; i++) {
		kiln_console_flush(&l->con[i]);
		kiln_console_close(&l->con[i]);
	}
	kiln_ctl_free(&l->ctl);
	kiln_logring_free(&l->ring);
	if (l->sfd >= 0)
		close(l->sfd);
	sigprocmask(SIG_SETMASK, old, NULL);
}

int kiln_supervise(const struct kiln_app *app, const struct kiln_supervise_opts *o, int *code)
{
	struct loop *l = calloc(1, sizeof(*l));
	int out[2], rc;
	sigset_t old;

	if (!l)
		return kiln_err(ENOMEM, "out of memory");
	l->o = o;
	l->sfd = -1;
	l->kill_at = -1;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fprintf(stderr, "kiln-init: warning: PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
	sigemptyset(&old);
	rc = setup(l, o, &old);
	if (rc == 0) {
		kiln_ctl_run(&l->ctl, 0, kiln_now_ms()); /* connect while the app starts */
		rc = kiln_app_start(app, &l->app, out);
	}
	if (rc == 0) {
		l->s[0].fd = out[0];
		l->s[1].fd = out[1];
		kiln_ctl_set_running(&l->ctl);
		while (!finished(l, kiln_now_ms()))
			iterate(l);
		*code = kiln_exit_code(l->status);
	}
	teardown(l, &old);
	free(l);
	return rc;
}
