/* SPDX-License-Identifier: Apache-2.0 */
/* Detached helper threads that never take the process's signals. */
#ifndef KILN_UTIL_THREAD_H
#define KILN_UTIL_THREAD_H

#include "util/err.h"

/*
 * Start fn(arg) in a detached thread with every signal blocked, so signals
 * keep going to the main loop's signalfd (kiln-init forwards them to the app).
 */
int kiln_thread_start_quiet(void *(*fn)(void *), void *arg) KILN_MUST;

#endif
