/* SPDX-License-Identifier: Apache-2.0 */
/* A growable NUL-terminated string for building AWS requests. */
#include "aws/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/secure.h"

static int grow(struct aws_buf *b, size_t n)
{
	if (b->err)
		return -1;
	if (n > ((size_t)1 << 30) - b->len) {
		b->err = -ENOMEM;
		return -1;
	}
	if (b->len + n + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	/* Not realloc: the old block may hold a secret and must be wiped. */
	char *p = malloc(cap);
	if (!p) {
		b->err = -ENOMEM;
		return -1;
	}
	if (b->p) {
		memcpy(p, b->p, b->len);
		kiln_free_secret(b->p, b->cap);
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void aws_buf_add(struct aws_buf *b, const void *p, size_t n)
{
	if (grow(b, n) < 0)
		return;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void aws_buf_str(struct aws_buf *b, const char *s)
{
	aws_buf_add(b, s, strlen(s));
}

void aws_buf_ch(struct aws_buf *b, char c)
{
	aws_buf_add(b, &c, 1);
}

void aws_buf_fmt(struct aws_buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->err = -EINVAL;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		aws_buf_add(b, small, (size_t)n);
		kiln_wipe(small, sizeof(small));
		return;
	}
	if (grow(b, (size_t)n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

int aws_buf_check(const struct aws_buf *b)
{
	if (b->err)
		return kiln_err(-b->err, "out of memory building a request");
	return 0;
}

void aws_buf_free(struct aws_buf *b)
{
	kiln_free_secret(b->p, b->cap);
	b->p = NULL;
	b->len = b->cap = 0;
	b->err = 0;
}

char *aws_buf_take(struct aws_buf *b)
{
	char *p = b->p;
	if (!p)
		p = calloc(1, 1);
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}
