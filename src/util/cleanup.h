/* SPDX-License-Identifier: Apache-2.0 */
/* __attribute__((cleanup)) helpers: scope-bound fds, heap memory, FILEs. */
#ifndef KILN_UTIL_CLEANUP_H
#define KILN_UTIL_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void kiln_freep(void *p)
{
	free(*(void **)p);
}

static inline void kiln_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void kiln_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_free_ __attribute__((cleanup(kiln_freep)))
#define _cleanup_close_ __attribute__((cleanup(kiln_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(kiln_fclosep)))

/* Hand ownership out of a cleanup-scoped variable. */
#define KILN_STEAL_FD(fd) ({ int _f = (fd); (fd) = -1; _f; })
#define KILN_STEAL_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })

#endif
