/* SPDX-License-Identifier: Apache-2.0 */
/* cpio "newc" reader over untrusted bytes (EIF ramdisks in the sim). */
#ifndef KILN_EIF_CPIO_READ_H
#define KILN_EIF_CPIO_READ_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Pull up to len bytes into buf; *got = 0 at end of input. */
typedef int (*cpio_in_fn)(void *buf, size_t len, size_t *got, void *arg);

struct cpio_limits {
	uint64_t max_entries;   /* default 1,000,000 */
	uint64_t max_file_size; /* per entry; default (and at most) 4 GiB - 1 */
	uint64_t max_total;     /* all entry data together; default unlimited */
};

/* An entry as read: name is valid until the next cpio_next(). */
struct cpio_rentry {
	const char *name;
	uint32_t ino;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink;
	uint32_t mtime;
	uint32_t rdevmajor;
	uint32_t rdevminor;
	uint64_t size;
};

struct cpio_reader;

/* lim may be NULL for the defaults. */
int cpio_reader_new(cpio_in_fn in, void *arg, const struct cpio_limits *lim,
		    struct cpio_reader **r) KILN_MUST;
/* Read the archive at [off, off + len) of fd (e.g. a ramdisk inside an EIF). */
int cpio_reader_new_fd(int fd, uint64_t off, uint64_t len, const struct cpio_limits *lim,
		       struct cpio_reader **r) KILN_MUST;
int cpio_reader_new_mem(const void *buf, size_t len, const struct cpio_limits *lim,
			struct cpio_reader **r) KILN_MUST;

/*
 * The next entry: 1 with *e filled, 0 at the trailer, or a negative errno.
 * Unread data of the previous entry is skipped. Names are checked: not
 * empty, not absolute, no ".." component ("." and "./x" are allowed, the
 * caller still resolves names safely under its root); types are the seven
 * POSIX ones; only regular files and symlinks (target < 4096 bytes) carry
 * data. Hard links are entries with nlink > 1 and equal ino; as in the
 * kernel's initramfs unpacker, any one of them may carry the data.
 */
int cpio_next(struct cpio_reader *r, struct cpio_rentry *e) KILN_MUST;
/* Read the current entry's data; *got = 0 once it is all read. */
int cpio_read_data(struct cpio_reader *r, void *buf, size_t len, size_t *got) KILN_MUST;
void cpio_reader_free(struct cpio_reader *r);

#endif
