/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's end of the control channel: connect, HELLO, stream logs, reconnect, STOP. */
#ifndef KILN_INIT_CTL_H
#define KILN_INIT_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chan/addr.h"
#include "chan/frame.h"
#include "init/logring.h"
#include "util/err.h"

#define KILN_CTL_BACKOFF_MIN 50	   /* ms */
#define KILN_CTL_BACKOFF_MAX 2000  /* ms */
#define KILN_CTL_HELLO_TIMEOUT 5000 /* ms for the ACK to HELLO */

enum kiln_ctl_state {
	KILN_CTL_OFF,		/* no control address: nothing to do */
	KILN_CTL_IDLE,		/* waiting for the next connect attempt */
	KILN_CTL_CONNECTING,	/* non-blocking connect in progress */
	KILN_CTL_HELLO,		/* HELLO sent, waiting for the ACK */
	KILN_CTL_READY,		/* streaming */
	KILN_CTL_DONE,		/* everything delivered, parent closed: finished */
};

typedef void (*kiln_ctl_say_fn)(void *ctx, const char *msg);

/*
 * The connection is a small state machine driven by one poll loop: the
 * caller polls kiln_ctl_fd() for kiln_ctl_events(), then calls
 * kiln_ctl_run() with what poll returned (0 on a timeout) and the
 * monotonic time. Log lines go into the ring (kiln_logring_append) and are
 * sent from there; after every (re)connect the parent's ACK to HELLO says
 * where to resume. Any error (connect, I/O, a malformed or unexpected frame
 * from the parent, no ACK in time) closes the connection, says one line
 * through say(), and retries with exponential backoff. The parent's STOP
 * requests are acknowledged here and handed to the caller through
 * kiln_ctl_take_stop().
 */
struct kiln_ctl {
	enum kiln_ctl_state state;
	struct kiln_chan_addr addr;
	char addr_text[KILN_CHAN_PATH_MAX + 16];
	struct kiln_hello hello;
	struct kiln_logring *ring;
	kiln_ctl_say_fn say;
	void *say_ctx;
	int fd;
	int backoff_ms;
	int64_t retry_at;	/* IDLE: next attempt */
	int64_t hello_by;	/* HELLO: deadline for the ACK */
	bool ever_ready;	/* a parent answered once */
	bool lost;		/* a READY connection was lost: say so when it is back */
	struct kiln_frame_dec *dec;
	uint8_t out[1024];	/* small frames (HELLO, STATUS, DROPPED, ACK) */
	size_t out_len;
	uint8_t app_state;	/* enum kiln_app_state, reported after every HELLO */
	uint8_t exit_code, exit_signal;
	bool finished;		/* app exited and every line is in the ring */
	bool exited_sent;	/* STATUS exited queued on this connection */
	bool shut;		/* SHUT_WR done, waiting for the parent's EOF */
	bool stop;		/* a STOP arrived */
	uint8_t stop_signal;
	uint32_t stop_ms;
};

/* addr NULL: no parent (state OFF). The ring is the caller's. */
int kiln_ctl_init(struct kiln_ctl *c, const struct kiln_chan_addr *addr, const char *name,
		  uint32_t pid, struct kiln_logring *ring, kiln_ctl_say_fn say,
		  void *say_ctx) KILN_MUST;
void kiln_ctl_free(struct kiln_ctl *c);
int kiln_ctl_fd(const struct kiln_ctl *c);
short kiln_ctl_events(const struct kiln_ctl *c);
/* Absolute monotonic ms of the next timer, or -1. */
int64_t kiln_ctl_next_timer(const struct kiln_ctl *c);
void kiln_ctl_run(struct kiln_ctl *c, short revents, int64_t now);
/* True when connected or connecting: log lines should wait rather than be dropped. */
bool kiln_ctl_busy(const struct kiln_ctl *c);
void kiln_ctl_set_running(struct kiln_ctl *c);
/* The app is gone and every line is in the ring: STATUS exited follows the last one. */
void kiln_ctl_finish(struct kiln_ctl *c, uint8_t code, uint8_t signal);
/* A STOP to act on (once): signal, then SIGKILL after timeout_ms. */
bool kiln_ctl_take_stop(struct kiln_ctl *c, int *signal, uint32_t *timeout_ms);
/* Bytes from the parent (exposed for the fuzzer); < 0: protocol error, message set. */
int kiln_ctl_input(struct kiln_ctl *c, const uint8_t *p, size_t n) KILN_MUST;

#endif
