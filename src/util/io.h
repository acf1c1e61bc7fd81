/* SPDX-License-Identifier: Apache-2.0 */
/* Deadline-bounded socket I/O shared by the small servers and clients. */
#ifndef KILN_UTIL_IO_H
#define KILN_UTIL_IO_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* CLOCK_MONOTONIC in milliseconds. */
int64_t kiln_now_ms(void);
/*
 * CLOCK_MONOTONIC_COARSE in milliseconds (a tick, 1-4 ms, of precision):
 * for timers that need no more. The vDSO serves it without a system call
 * even where the clocksource has no vDSO mapping (HPET in the guest lab,
 * where every CLOCK_MONOTONIC read is a syscall).
 */
int64_t kiln_now_coarse_ms(void);
/* now + timeout_ms, or -1 (no deadline) when timeout_ms < 0. */
int64_t kiln_deadline(int timeout_ms);
/* Wait for poll events on fd until deadline (< 0: forever); -ETIMEDOUT after. */
int kiln_wait_fd(int fd, short events, int64_t deadline, const char *what) KILN_MUST;
/* Write all len bytes (send with MSG_NOSIGNAL; plain write on non-sockets). */
int kiln_write_all(int fd, const void *buf, size_t len, int64_t deadline,
		   const char *what) KILN_MUST;

/*
 * Blocking reads of pipes and files. read_upto: until EOF or max bytes, *got
 * always the bytes read (also when it fails). read_exact: len bytes, -EPIPE
 * when the writer closed before.
 */
int kiln_read_upto(int fd, void *buf, size_t max, size_t *got, const char *what) KILN_MUST;
int kiln_read_exact(int fd, void *buf, size_t len, const char *what) KILN_MUST;
/*
 * A whole small file, NUL-terminated, into *out (caller frees); *len its
 * size (len may be NULL). -EFBIG beyond max bytes. The message does not
 * name the file: callers add it.
 */
int kiln_read_file(const char *path, size_t max, char **out, size_t *len) KILN_MUST;

#endif
