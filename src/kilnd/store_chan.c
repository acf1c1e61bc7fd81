/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's storage channel listener: an acceptor thread per enclave, a thread per connection. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kilnd/internal.h"
#include "kilnd/shed.h"
#include "kilnd/store_int.h"

struct conn {
	struct kd_store *s;
	int fd, slot;
};

void kd_store_unref(struct kd_store *s)
{
	bool last;

	pthread_mutex_lock(&s->lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (!last)
		return;
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Threads never take signals: kilnd reads them from its signalfd. */
static int spawn(pthread_t *t, bool detached, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	pthread_attr_t attr;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_attr_init(&attr);
	if (detached)
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc ? kiln_err(rc, "pthread_create: %s", strerror(rc)) : 0;
}

static void *serve_conn(void *arg)
{
	struct conn *c = arg;
	struct kd_store *s = c->s;

	kd_store_serve(s, c->fd);
	pthread_mutex_lock(&s->lock);
	s->conns[c->slot] = -1;
	pthread_mutex_unlock(&s->lock);
	close(c->fd);
	free(c);
	kd_store_unref(s);
	return NULL;
}

static int claim(struct kd_store *s, int fd)
{
	int slot = -1;

	pthread_mutex_lock(&s->lock);
	for (int i = 0; !s->stopping && slot < 0 && i < KD_STORE_CONNS; i++)
		if (s->conns[i] < 0)
			slot = i;
	if (slot >= 0) {
		s->conns[slot] = fd;
		s->refs++;
	}
	pthread_mutex_unlock(&s->lock);
	return slot;
}

void kd_store_adopt(struct kd_store *s, int fd)
{
	int slot = claim(s, fd);
	struct conn *c;
	pthread_t t;

	c = slot < 0 ? NULL : malloc(sizeof(*c));
	if (c) {
		*c = (struct conn){ .s = s, .fd = fd, .slot = slot };
		if (spawn(&t, true, serve_conn, c) == 0)
			return;
		free(c);
	}
	KD_LOG_RL("enclave %s: storage channel: connection refused (%s)", s->name,
		  slot < 0 ? "too many connections or stopping" : "out of resources");
	if (slot >= 0) {
		pthread_mutex_lock(&s->lock);
		s->conns[slot] = -1;
		s->refs--;
		pthread_mutex_unlock(&s->lock);
	}
	close(fd);
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
	kd_store_unref(s);
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
	s->refs++;
	rc = spawn(&s->acceptor, false, acceptor, s);
	if (rc < 0) {
		s->refs--;
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
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_mutex_unlock(&s->lock);
	if (s->listening) {
		if (write(s->stop_fd, &one, sizeof(one)) < 0)
			kd_log("enclave %s: storage channel: eventfd: %s", s->name, strerror(errno));
		pthread_join(s->acceptor, NULL);
	}
	if (s->path[0])
		unlink(s->path);
	kd_store_unref(s);
}
