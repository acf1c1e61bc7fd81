/* SPDX-License-Identifier: Apache-2.0 */
/* kd_conn_slots: a threaded listener's live connections, a thread each, and its owner's references. */
#ifndef KILN_KILND_CONN_SLOTS_H
#define KILN_KILND_CONN_SLOTS_H

#include <pthread.h>
#include <stdbool.h>

#include "util/err.h"

/*
 * How this works: the sim NSM and the storage channel each serve an
 * enclave's connections in detached threads of their own. The table, kept
 * inside the owner, holds each live connection's fd in a slot (so a stop
 * can shut them down) and counts the owner's references: the owner's own,
 * its acceptor's and one per live connection. A connection thread serves,
 * frees its slot, closes its fd and drops its reference; whoever drops the
 * last one calls ops->free, which frees the owner (and with it the table).
 * A stopped table refuses new connections.
 */
#define KD_CONN_SLOTS_MAX 16

struct kd_conn_ops {
	void (*serve)(void *owner, int fd); /* one connection, in its thread; fd is closed after */
	void (*free)(void *owner);	    /* the last reference went */
};

struct kd_conn_slots {
	pthread_mutex_t lock;
	int refs;			/* the owner, its acceptor, each live connection */
	bool stopping;
	int n;				/* slots in use of fd[] */
	int fd[KD_CONN_SLOTS_MAX];	/* live connection fds, -1: free slot */
	const struct kd_conn_ops *ops;
	void *owner;
};

/* n slots (at most KD_CONN_SLOTS_MAX), all free; one reference (the owner's). */
void kd_conn_slots_init(struct kd_conn_slots *cs, int n, const struct kd_conn_ops *ops,
			void *owner);
void kd_conn_slots_ref(struct kd_conn_slots *cs);
/* The last reference calls ops->free(owner); cs is gone after that. */
void kd_conn_slots_unref(struct kd_conn_slots *cs);
/* A free slot for fd, with a reference; -EBUSY when all are taken or the table is stopped. */
int kd_conn_slots_claim(struct kd_conn_slots *cs, int fd) KILN_MUST;
/* Free a claimed slot and drop its reference (fd is the caller's). */
void kd_conn_slots_release(struct kd_conn_slots *cs, int slot);
/*
 * Serve fd in a thread of its own, in a claimed slot; on failure fd is
 * closed and the result is -EBUSY (no slot: full or stopped) or another
 * negative errno with the message set (out of memory, no thread).
 */
int kd_conn_slots_adopt(struct kd_conn_slots *cs, int fd) KILN_MUST;
/* Refuse new connections from now on; cut: also shut the live ones down (their threads end). */
void kd_conn_slots_stop(struct kd_conn_slots *cs, bool cut);

#endif
