/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's storage channel listener: an acceptor thread per enclave, a thread per connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kilnd/internal.h"
#include "kilnd/shed.h"
#include "kilnd/store_int.h"
#include "util/thread.h"

static void serve(void *owner, int fd)
{
	kd_store_serve(owner, fd);
}

static void store_free(void *owner)
{
	struct kd_store *s = owner;

	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const struct kd_conn_ops kd_store_conn_ops = { .serve = serve, .free = store_free };
_Static_assert(KD_STORE_CONNS <= KD_CONN_SLOTS_MAX, "storage connections fit the table");

void kd_store_adopt(struct kd_store *s, int fd)
{
	int rc = kd_conn_slots_adopt(&s->slots, fd);

	if (rc < 0)
		KD_LOG_RL("enclave %s: storage channel: connection refused (%s)", s->name,
			  rc == -EBUSY ? "too many connections or stopping" : "out of resources");
}

static void take(void *ctx, int fd)
{
	kd_store_adopt(ctx, fd);
}

static void *acceptor(void *arg)
{
	struct kd_store *s = arg;
	char what[KILN_NAME_MAX + 40];

	snprintf(what, sizeof(what), "enclave %s: storage channel", s->name);
	kd_accept_loop(s->listen_fd, s->stop_fd, what, take, s);
	kd_conn_slots_unref(&s->slots);
	return NULL;
}

int kd_store_listen(struct kd_store *s, const char *chan_dir)
{
	struct kiln_chan_addr a;
	int rc = kiln_chan_addr_in_dir(chan_dir, KILN_PORT_STORAGE, &a);

	s->listen_fd = rc < 0 ? rc : kiln_chan_listen(&a, 16);
	if (s->listen_fd < 0)
		return kiln_err_wrap(s->listen_fd, "storage channel");
	snprintf(s->path, sizeof(s->path), "%s", a.path);
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stop_fd < 0)
		return kiln_err(errno, "storage channel: eventfd: %s", strerror(errno));
	kd_conn_slots_ref(&s->slots); /* the acceptor's */
	rc = kiln_thread_start_quiet_joinable(&s->acceptor, acceptor, s);
	if (rc < 0) {
		kd_conn_slots_unref(&s->slots); /* the owner's remains */
		return kiln_err_wrap(rc, "storage channel");
	}
	s->listening = true;
	return 0;
}

void kd_store_stop(struct kd_store *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	/*
	 * Live connections are not cut: kiln-init's final commit comes after
	 * the app's exit was reported, which is when kilnd stops listening.
	 * They end at the enclave's EOF, once it is gone.
	 */
	kd_conn_slots_stop(&s->slots, false);
	if (s->listening) {
		if (write(s->stop_fd, &one, sizeof(one)) < 0)
			kd_log("enclave %s: storage channel: eventfd: %s", s->name, strerror(errno));
		pthread_join(s->acceptor, NULL);
	}
	if (s->path[0])
		unlink(s->path);
	kd_conn_slots_unref(&s->slots);
}
