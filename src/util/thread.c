/* SPDX-License-Identifier: Apache-2.0 */
/* kiln_thread_start_quiet: a detached pthread with all signals blocked. */
#include "util/thread.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

int kiln_thread_start_quiet(void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	/* The new thread inherits the mask in force at pthread_create. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc ? kiln_err(rc, "pthread_create: %s", strerror(rc)) : 0;
}
