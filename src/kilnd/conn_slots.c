/* SPDX-License-Identifier: Apache-2.0 */
/* kd_conn_slots: a threaded listener's live connections, a thread each, and its owner's references. */
#include "kilnd/conn_slots.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/thread.h"

struct conn {
	struct kd_conn_slots *cs;
	int fd, slot;
};

void kd_conn_slots_init(struct kd_conn_slots *cs, int n, const struct kd_conn_ops *ops,
			void *owner)
{
	pthread_mutex_init(&cs->lock, NULL);
	cs->refs = 1;
	cs->stopping = false;
	cs->n = n < KD_CONN_SLOTS_MAX ? n : KD_CONN_SLOTS_MAX;
	for (int i = 0; i < KD_CONN_SLOTS_MAX; i++)
		cs->fd[i] = -1;
	cs->ops = ops;
	cs->owner = owner;
}

void kd_conn_slots_ref(struct kd_conn_slots *cs)
{
	pthread_mutex_lock(&cs->lock);
	cs->refs++;
	pthread_mutex_unlock(&cs->lock);
}

void kd_conn_slots_unref(struct kd_conn_slots *cs)
{
	bool last;

	pthread_mutex_lock(&cs->lock);
	last = --cs->refs == 0;
	pthread_mutex_unlock(&cs->lock);
	if (!last)
		return;
	pthread_mutex_destroy(&cs->lock);
	cs->ops->free(cs->owner);
}

int kd_conn_slots_claim(struct kd_conn_slots *cs, int fd)
{
	int slot = -EBUSY;

	pthread_mutex_lock(&cs->lock);
	for (int i = 0; !cs->stopping && slot < 0 && i < cs->n; i++)
		if (cs->fd[i] < 0)
			slot = i;
	if (slot >= 0) {
		cs->fd[slot] = fd;
		cs->refs++;
	}
	pthread_mutex_unlock(&cs->lock);
	return slot;
}

/* Free the slot only: its fd may be closed (and its number reused) once no stop can see it. */
static void vacate(struct kd_conn_slots *cs, int slot)
{
	pthread_mutex_lock(&cs->lock);
	cs->fd[slot] = -1;
	pthread_mutex_unlock(&cs->lock);
}

void kd_conn_slots_release(struct kd_conn_slots *cs, int slot)
{
	vacate(cs, slot);
	kd_conn_slots_unref(cs);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct kd_conn_slots *cs = c->cs;

	cs->ops->serve(cs->owner, c->fd);
	vacate(cs, c->slot);
	close(c->fd);
	free(c);
	kd_conn_slots_unref(cs);
	return NULL;
}

int kd_conn_slots_adopt(struct kd_conn_slots *cs, int fd)
{
	int slot = kd_conn_slots_claim(cs, fd), rc;
	struct conn *c;

	if (slot < 0) {
		close(fd);
		return kiln_err(EBUSY, "too many connections or stopping");
	}
	c = malloc(sizeof(*c));
	rc = c ? 0 : kiln_err(ENOMEM, "out of memory");
	if (c) {
		*c = (struct conn){ .cs = cs, .fd = fd, .slot = slot };
		rc = kiln_thread_start_quiet(conn_main, c);
	}
	if (rc == 0)
		return 0;
	free(c);
	kd_conn_slots_release(cs, slot);
	close(fd);
	return rc;
}

void kd_conn_slots_stop(struct kd_conn_slots *cs, bool cut)
{
	pthread_mutex_lock(&cs->lock);
	cs->stopping = true;
	for (int i = 0; cut && i < cs->n; i++)
		if (cs->fd[i] >= 0)
			shutdown(cs->fd[i], SHUT_RDWR);
	pthread_mutex_unlock(&cs->lock);
}
