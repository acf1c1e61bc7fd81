/* SPDX-License-Identifier: Apache-2.0 */
/* Test helper: a client socket served by kilnd's storage channel code (kd_store_serve) in a thread. */
#ifndef KILN_TEST_STORE_SRV_H
#define KILN_TEST_STORE_SRV_H

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kilnd/store.h"

struct srv {
	struct kd_store *s;
	int fd;
	pthread_t t;
};

static void *srv_main(void *arg)
{
	struct srv *v = arg;

	kd_store_serve(v->s, v->fd);
	close(v->fd);
	return NULL;
}

/* A client fd connected to a serving thread of s (join v->t after closing it). */
static int connect_to(struct kd_store *s, struct srv *v)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	v->s = s;
	v->fd = sv[1];
	pthread_create(&v->t, NULL, srv_main, v);
	return sv[0];
}

#endif
