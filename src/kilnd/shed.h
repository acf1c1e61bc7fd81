/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd under descriptor exhaustion: accept that sheds on EMFILE/ENFILE, rate-limited log lines. */
#ifndef KILN_KILND_SHED_H
#define KILN_KILND_SHED_H

#include <stdarg.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "util/err.h"
#include "util/ratelimit.h"

/*
 * Why: a listener whose accept() fails with EMFILE stays readable, so a
 * level-triggered loop wakes at once, forever, and an edge-triggered one
 * never hears of the pending connections again. kd_accept() keeps one
 * spare descriptor (on /dev/null): on EMFILE/ENFILE it closes the spare,
 * accepts the pending connection, closes it at once (the peer sees its
 * connection closed) and reopens the spare, so the backlog drains and the
 * loop goes quiet. Thread-safe (kilnd accepts on several threads).
 *
 * Returns the new fd, -EAGAIN when nothing is pending, -EMFILE when one
 * connection was shed (call again: more may be pending), -ENFILE when
 * descriptors ran out and none could be shed (the caller pauses the
 * listener), or another negative errno. EINTR and ECONNABORTED are retried.
 */
int kd_accept(int lfd, struct sockaddr *peer, socklen_t *plen, int flags);
/*
 * The loop of a listener served by a thread of its own (the sim NSM, the
 * storage channel): until stop_fd is readable, every connection on lfd
 * goes to take(ctx, fd), which owns it. Out of descriptors, connections are
 * shed as kd_accept() does, or the listener pauses for KD_ACCEPT_PAUSE_MS.
 * what names the listener in log lines ("enclave web: sim NSM").
 */
#define KD_ACCEPT_PAUSE_MS 200
void kd_accept_loop(int lfd, int stop_fd, const char *what, void (*take)(void *ctx, int fd),
		    void *ctx);
/* Open the spare descriptor (kilnd start); later calls are no-ops. */
void kd_accept_spare_init(void);
/* Connections shed so far (for tests and the log). */
unsigned long kd_accept_shed_count(void);

/* One line "kilnd: TOPICMESSAGE" on stderr in one write (kd_log: topic ""; kd_net_log: "net: "). */
void kd_vlog(const char *topic, const char *fmt, va_list ap) KILN_PRINTF(2, 0);
/* kd_log() for lines a peer can trigger: at most 10 a second per call site. */
void kd_log_rl(struct kiln_ratelimit *rl, const char *fmt, ...) KILN_PRINTF(2, 3);
#define KD_LOG_RL(...)                                                              \
	do {                                                                        \
		static struct kiln_ratelimit kd_rl_ = KILN_RATELIMIT_INIT(10, 1000); \
		kd_log_rl(&kd_rl_, __VA_ARGS__);                                    \
	} while (0)

#endif
