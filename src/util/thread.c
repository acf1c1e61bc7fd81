/* SPDX-License-Identifier: Apache-2.0 */
/* Quiet threads: pthreads started with all signals blocked, detached or joinable. */
#include "util/thread.h"

#include <signal.h>
#include <stdbool.h>
#include <string.h>

static int start(pthread_t *t, bool detached, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	pthread_attr_t attr;
	int rc;

	/* The new thread inherits the mask in force at pthread_create. */
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

int kiln_thread_start_quiet(void *(*fn)(void *), void *arg)
{
	pthread_t t;

	return start(&t, true, fn, arg);
}

int kiln_thread_start_quiet_joinable(pthread_t *t, void *(*fn)(void *), void *arg)
{
	return start(t, false, fn, arg);
}
