/* SPDX-License-Identifier: Apache-2.0 */
/* Bidirectional byte relay between two stream sockets, one state machine per flow. */
#ifndef KILN_NET_RELAY_H
#define KILN_NET_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/*
 * A relay owns two connected stream sockets (TCP, vsock, AF_UNIX) and
 * moves bytes both ways: with splice(2) through a pipe when
 * the kernel supports it for that socket pair, else read/write through a
 * buffer of at most buf_size bytes per direction, allocated on first use.
 * EOF on one side becomes shutdown(SHUT_WR) on the other once everything
 * read has been written; the relay is finished when both directions are.
 *
 * Driving it: register both fds (kiln_relay_fd) in an epoll set with
 * EPOLLET, the relay as data, and either all of EPOLLIN | EPOLLOUT |
 * EPOLLRDHUP or, fewer wake-ups, what kiln_relay_events() asks for after
 * each step; call kiln_relay_step() on any event. A step moves bytes until
 * every direction would block, so edge-triggered wake-ups are never lost.
 * A direction holds a pipe only while bytes wait in it. Callers must
 * ignore SIGPIPE. Idle flows: compare kiln_relay_deadline() with the clock
 * and close expired ones with reset. No threads, no timers inside.
 */
/*
 * At most one empty splice pipe, kept for the next relay step that needs
 * one; the relays of one thread share it (pipe[] = -1 when there is none).
 */
struct kiln_relay_pool {
	int pipe[2];
};

struct kiln_relay_opts {
	bool no_splice;		/* force the read/write path */
	size_t buf_size;	/* read/write buffer per direction; 0 = 256 KiB */
	size_t pipe_size;	/* F_SETPIPE_SZ for splice pipes; 0 = kernel default */
	struct kiln_relay_pool *pool;	/* shared by the caller's relays; NULL: one per relay */
	size_t chan_buf;	/* SO_SNDBUF of AF_UNIX, buffer of vsock sockets; 0 = default */
	size_t host_tcp_buf;	/* TCP within this host: SO_SNDBUF, and reno; 0 = as the host's */
	uint32_t idle_ms;	/* 0 = no idle timeout */
	/*
	 * Splice directions: read first through a stack buffer of this many
	 * bytes (at most 16 KiB) and write at once; once a read fills it, splice
	 * until a step reads less; 0 = splice everything.
	 */
	size_t copy_small;
};

struct kiln_relay_stats {
	uint64_t bytes[2];	/* [0]: fd a -> b, [1]: fd b -> a */
	bool spliced[2];	/* direction used splice */
	bool closed[2];		/* direction finished (EOF relayed) */
};

struct kiln_relay;

/*
 * Take ownership of a and b (made non-blocking). On failure the fds are
 * still closed. now_ms is a monotonic clock reading.
 */
int kiln_relay_new(int a, int b, const struct kiln_relay_opts *o, uint64_t now_ms,
		   struct kiln_relay **out) KILN_MUST;
/*
 * Move bytes. 1: still running; 0: both directions finished (close
 * normally); < 0: an error on either side (message set): close with reset.
 */
int kiln_relay_step(struct kiln_relay *r, uint64_t now_ms) KILN_MUST;
/*
 * The same, for the edge-triggered epoll events that woke it: without
 * EPOLLRDHUP, EPOLLHUP or EPOLLERR in them, a short copy_small read is taken
 * as "drained" (no read to EAGAIN after it). Any later byte or FIN raises a
 * new edge, and a FIN that came before the wake-up shows as EPOLLRDHUP in
 * that fd's event, whose step reads to EAGAIN or EOF.
 */
int kiln_relay_step_ev(struct kiln_relay *r, uint64_t now_ms, uint32_t events) KILN_MUST;
/*
 * The same, when the caller knows the events are fd which's (0: a, 1: b):
 * a direction with nothing queued whose reader had no readable event is
 * skipped (its last step read it to EAGAIN, so new bytes raise their own
 * edge), which saves a read that finds nothing per request and hop.
 * which < 0: not known, every direction is stepped (kiln_relay_step_ev).
 */
int kiln_relay_step_fd(struct kiln_relay *r, uint64_t now_ms, int which,
		       uint32_t events) KILN_MUST;
/*
 * The epoll events fd which (0: a, 1: b) needs now, EPOLLET not included:
 * EPOLLIN | EPOLLRDHUP while it is read, EPOLLOUT only while bytes wait for
 * it. Watching more is harmless but costs wake-ups.
 */
uint32_t kiln_relay_events(const struct kiln_relay *r, int which);
/* fd 0 (a) or 1 (b). */
int kiln_relay_fd(const struct kiln_relay *r, int which);
/* When the flow becomes idle-expired (UINT64_MAX: never). */
uint64_t kiln_relay_deadline(const struct kiln_relay *r);
void kiln_relay_stats(const struct kiln_relay *r, struct kiln_relay_stats *s);
/*
 * Close both sockets and free r. reset = true makes TCP sockets send RST
 * (SO_LINGER 0), so an error on one side reaches the other promptly.
 */
void kiln_relay_close(struct kiln_relay *r, bool reset);

/* Close the pool's pipe (the relays using it are closed already). */
void kiln_relay_pool_free(struct kiln_relay_pool *p);

/* Blocking convenience: relay a <-> b to the end on a private epoll (tests, tools). */
int kiln_relay_run(int a, int b, const struct kiln_relay_opts *o) KILN_MUST;

#endif
