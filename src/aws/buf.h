/* SPDX-License-Identifier: Apache-2.0 */
/* A growable NUL-terminated string for building AWS requests; errors are sticky. */
#ifndef KILN_AWS_BUF_H
#define KILN_AWS_BUF_H

#include <stddef.h>

#include "util/err.h"

/*
 * Appends never fail loudly: the first allocation failure sets err and
 * later appends do nothing, so builders check once at the end.
 */
struct aws_buf {
	char *p;
	size_t len, cap;
	int err;
};

void aws_buf_add(struct aws_buf *b, const void *p, size_t n);
void aws_buf_str(struct aws_buf *b, const char *s);
void aws_buf_ch(struct aws_buf *b, char c);
void aws_buf_fmt(struct aws_buf *b, const char *fmt, ...) KILN_PRINTF(2, 3);
/* 0, or -ENOMEM (with a message) if any append failed. */
int aws_buf_check(const struct aws_buf *b) KILN_MUST;
/* Wipe (it may have held a secret) and free. */
void aws_buf_free(struct aws_buf *b);
/* Hand out the string (caller frees); the buf is left empty. */
char *aws_buf_take(struct aws_buf *b);

#endif
