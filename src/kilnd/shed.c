/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd under descriptor exhaustion: shedding accept and rate-limited log lines. */
#include "kilnd/shed.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kilnd/internal.h"

static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static int spare = -1;
static unsigned long shed;

void kd_accept_spare_init(void)
{
	pthread_mutex_lock(&spare_lock);
	if (spare < 0)
		spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pthread_mutex_unlock(&spare_lock);
}

unsigned long kd_accept_shed_count(void)
{
	unsigned long n;

	pthread_mutex_lock(&spare_lock);
	n = shed;
	pthread_mutex_unlock(&spare_lock);
	return n;
}

/* Out of descriptors: trade the spare for the pending connection and drop it. */
static int shed_one(int lfd)
{
	int fd, rc = -ENFILE;

	pthread_mutex_lock(&spare_lock);
	/* Another thread may have taken the slot freed last time: try to get it back. */
	if (spare < 0)
		spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (spare >= 0) {
		close(spare);
		spare = -1;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			close(fd);
			shed++;
			rc = -EMFILE;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			rc = -EAGAIN;
		}
		spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	pthread_mutex_unlock(&spare_lock);
	return rc;
}

int kd_accept(int lfd, struct sockaddr *peer, socklen_t *plen, int flags)
{
	socklen_t want = plen ? *plen : 0;
	int fd;

	for (;;) {
		if (plen)
			*plen = want;
		fd = accept4(lfd, peer, plen, flags);
		if (fd >= 0)
			return fd;
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EWOULDBLOCK)
			return -EAGAIN;
		if (errno == EMFILE || errno == ENFILE)
			return shed_one(lfd);
		return -errno;
	}
}

void kd_log_rl(struct kiln_ratelimit *rl, const char *fmt, ...)
{
	char line[1000];
	unsigned long dropped;
	va_list ap;

	if (!kiln_ratelimit_ok(rl, (uint64_t)kd_mono_ms(), &dropped))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (dropped)
		kd_log("%s (%lu similar lines suppressed)", line, dropped);
	else
		kd_log("%s", line);
}

/* One connection for the accept loop; false when the listener must pause. */
static bool accept_for_loop(int lfd, const char *what, void (*take)(void *, int), void *ctx)
{
	int fd = kd_accept(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd == -EMFILE)
		KD_LOG_RL("%s: out of descriptors; a connection was closed", what);
	if (fd == -ENFILE)
		KD_LOG_RL("%s: out of descriptors; accepting paused", what);
	if (fd < 0)
		return fd != -ENFILE; /* EAGAIN, or the peer gave up: poll again */
	take(ctx, fd);
	return true;
}

void kd_accept_loop(int lfd, int stop_fd, const char *what, void (*take)(void *ctx, int fd),
		    void *ctx)
{
	struct pollfd p[2] = { { .fd = stop_fd, .events = POLLIN },
			       { .fd = lfd, .events = POLLIN } };
	bool paused = false;

	for (;;) {
		int nfds = paused ? 1 : 2;

		if (poll(p, nfds, paused ? KD_ACCEPT_PAUSE_MS : -1) < 0 && errno != EINTR) {
			kd_log("%s: poll: %s", what, strerror(errno));
			return;
		}
		if (p[0].revents)
			return;
		paused = nfds == 2 && p[1].revents && !accept_for_loop(lfd, what, take, ctx);
	}
}
