/* SPDX-License-Identifier: Apache-2.0 */
/* A small edge-triggered epoll loop for the networking threads of kiln-init and kilnd. */
#ifndef KILN_NET_EVLOOP_H
#define KILN_NET_EVLOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "chan/addr.h"
#include "net/relay.h"
#include "util/err.h"

/*
 * Every object the loop dispatches to starts with a struct kiln_evh. Its
 * fn gets the epoll events, or KILN_EV_TIMEOUT once its deadline (monotonic
 * ms, 0 = none) has passed. Objects are never freed while an event for
 * them may still be in the batch being dispatched: kiln_evloop_release()
 * marks one dead and queues it, and the loop calls its destroy hook after
 * the batch. When lock is set the loop holds it while dispatching, so
 * another thread may add or release objects while holding it too.
 *
 * The loop also owns relay flows (kiln_evloop_relay): two connected sockets
 * moved by net/relay.h, closed on EOF both ways, reset on error or after
 * idle_ms without traffic, with one log line on an abnormal end.
 */
#define KILN_EV_TIMEOUT (1u << 30)

struct kiln_evloop;
struct kiln_evh;
typedef void (*kiln_ev_fn)(struct kiln_evloop *l, struct kiln_evh *h, uint32_t events);

struct kiln_evh {
	kiln_ev_fn fn;
	void (*destroy)(struct kiln_evh *h);	/* frees the object (after release) */
	uint64_t deadline;			/* ms, 0: none */
	bool dead;
	struct kiln_evh *prev, *next;		/* live list, or zombie list once dead */
};

struct kiln_evloop {
	int ep;
	pthread_mutex_t *lock;			/* NULL: single-threaded */
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
	struct kiln_evh live, zombies;		/* list heads */
	size_t n_flows;
	struct kiln_relay_pool pipes;		/* the flows' spare splice pipe */
	size_t host_tcp_buf;			/* relay_opts.host_tcp_buf of its flows */
	uint64_t now;				/* ms, updated each turn */
	uint64_t next_scan;
};

uint64_t kiln_ev_now_ms(void);
int kiln_evloop_init(struct kiln_evloop *l) KILN_MUST;
/* Close everything still live (destroy hooks run) and the epoll fd. */
void kiln_evloop_free(struct kiln_evloop *l);
/* Link h into the live list (fn, destroy set by the caller). */
void kiln_evloop_link(struct kiln_evloop *l, struct kiln_evh *h);
/* Watch fd for events (EPOLLET added by the caller when wanted). */
int kiln_evloop_add(struct kiln_evloop *l, int fd, uint32_t events, struct kiln_evh *h) KILN_MUST;
int kiln_evloop_mod(struct kiln_evloop *l, int fd, uint32_t events, struct kiln_evh *h) KILN_MUST;
/* Mark h dead and queue it for destroy after the current batch. */
void kiln_evloop_release(struct kiln_evloop *l, struct kiln_evh *h);
/* One turn: wait up to max_ms, dispatch, fire deadlines, free the dead. */
void kiln_evloop_turn(struct kiln_evloop *l, int max_ms);
void kiln_evloop_logf(struct kiln_evloop *l, const char *fmt, ...) KILN_PRINTF(2, 3);

/*
 * Hand a and b to a relay flow owned by the loop. label (copied, <= 127
 * bytes) names the flow in log lines. Both fds are closed on failure.
 */
int kiln_evloop_relay(struct kiln_evloop *l, int a, int b, uint32_t idle_ms,
		      const char *label) KILN_MUST;
/* The same; done(ctx) runs exactly once when the flow is gone (or failed to start). */
int kiln_evloop_relay_done(struct kiln_evloop *l, int a, int b, uint32_t idle_ms,
			   const char *label, void (*done)(void *ctx), void *ctx) KILN_MUST;

/*
 * Start a non-blocking connect (SOCK_STREAM, CLOEXEC, NONBLOCK). Returns the
 * fd (connected or in progress: wait for EPOLLOUT, then kiln_ev_connect_result)
 * or a negative errno. A full AF_UNIX backlog is reported as -ECONNREFUSED.
 */
int kiln_ev_connect(const struct sockaddr *sa, socklen_t len) KILN_MUST;
int kiln_ev_connect_chan(const struct kiln_chan_addr *a) KILN_MUST;
/* 0 once connected, a negative errno when the connect failed. */
int kiln_ev_connect_result(int fd) KILN_MUST;
/* Close with a TCP RST (SO_LINGER 0); plain close for other sockets. */
void kiln_ev_close_reset(int fd);

#endif
