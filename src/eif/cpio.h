/* SPDX-License-Identifier: Apache-2.0 */
/* Deterministic cpio "newc" writer for EIF ramdisks. */
#ifndef KILN_EIF_CPIO_H
#define KILN_EIF_CPIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Where archive bytes go: return 0 or a negative errno (with kiln_err). */
typedef int (*cpio_out_fn)(const void *buf, size_t len, void *arg);
/* Optional: where len bytes at off in fd go, read by the output itself (no copy). */
typedef int (*cpio_out_fd_fn)(int fd, uint64_t off, uint64_t len, void *arg);

#define CPIO_NEWC_MAGIC "070701"
#define CPIO_HEADER_SIZE 110
#define CPIO_TRAILER "TRAILER!!!"

struct cpio_entry {
	const char *name;    /* relative path ("bin/sh", "." for the root) */
	uint32_t mode;       /* file type and permission bits, e.g. S_IFREG | 0755 */
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink;      /* 0: 2 for directories, else 1 */
	uint32_t rdevmajor;  /* device nodes only */
	uint32_t rdevminor;
	uint64_t size;       /* data that follows: file contents or symlink target */
	uint64_t link_group; /* nonzero: entries with equal groups share an inode */
};

struct cpio_writer;

/* A name kiln writes or extracts: not empty, not absolute, no ".." component. */
bool cpio_name_safe(const char *name);

/*
 * Deterministic output: every entry gets the same mtime, inode numbers are
 * 1, 2, 3... in write order (a link group takes one number at its first
 * entry), device numbers of the archive are 0, the check field is 0.
 */
int cpio_writer_new(cpio_out_fn out, void *arg, uint32_t mtime, struct cpio_writer **w) KILN_MUST;
/* Write the header of an entry; then exactly e->size bytes of data follow. */
int cpio_add_entry(struct cpio_writer *w, const struct cpio_entry *e) KILN_MUST;
int cpio_write_data(struct cpio_writer *w, const void *buf, size_t len) KILN_MUST;
/* Entry data from a file: len bytes at off in fd (through out_fd when set). */
int cpio_write_fd(struct cpio_writer *w, int fd, uint64_t off, uint64_t len) KILN_MUST;
/* Let cpio_write_fd hand file ranges to the output (arg as for the writer's out). */
void cpio_writer_set_out_fd(struct cpio_writer *w, cpio_out_fd_fn out_fd);
/* Check all data was written and pad to 4 bytes. */
int cpio_end_entry(struct cpio_writer *w) KILN_MUST;
/* A whole entry whose e->size bytes of data are in memory. */
int cpio_add_bytes(struct cpio_writer *w, const struct cpio_entry *e, const void *data) KILN_MUST;
/* Write the trailer; the archive length is then a multiple of 4. */
int cpio_finish(struct cpio_writer *w) KILN_MUST;
/* Bytes written so far. */
uint64_t cpio_writer_bytes(const struct cpio_writer *w);
void cpio_writer_free(struct cpio_writer *w);

#endif
