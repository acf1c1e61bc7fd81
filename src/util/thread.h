/* SPDX-License-Identifier: Apache-2.0 */
/* Helper threads that never take the process's signals. */
#ifndef KILN_UTIL_THREAD_H
#define KILN_UTIL_THREAD_H

#include <pthread.h>

#include "util/err.h"

/*
 * Start fn(arg) in a detached thread with every signal blocked, so signals
 * keep going to the main loop's signalfd (kiln-init forwards them to the app).
 */
int kiln_thread_start_quiet(void *(*fn)(void *), void *arg) KILN_MUST;
/* The same in a thread the caller joins (*t). */
int kiln_thread_start_quiet_joinable(pthread_t *t, void *(*fn)(void *), void *arg) KILN_MUST;

#endif
