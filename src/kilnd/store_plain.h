/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's side of plain volumes: ordinary files beneath a volume's host directory, for the enclave. */
#ifndef KILN_KILND_STORE_PLAIN_H
#define KILN_KILND_STORE_PLAIN_H

#include <stddef.h>
#include <stdint.h>

#include "fs/plain_wire.h"

/*
 * Every name the enclave sends is resolved below the volume's root with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
 * and the last component is used only with *at calls that do not follow
 * it, so a symlink (planted by the parent, made by the enclave, or
 * swapped in for a directory between two calls) is never followed. Only
 * regular files, directories, symlinks and FIFOs are served (a FIFO is
 * made and listed, never opened; no device node is ever made or opened),
 * and only user.* xattrs, of regular files and directories. Files are made
 * with the requested permission bits (setuid and setgid dropped) and are
 * owned by kilnd's user. A SYNC (FSYNC with handle 0) returns once the
 * volume's filesystem is synced; DURABLE requests fsync their file and
 * directory first.
 */
#define KD_PLAIN_HANDLES 256
#define KD_PLAIN_FILE_MAX (1ull << 40)

struct kd_plain;

/* Open the volume at root (made 0700 when missing); file_max 0: KD_PLAIN_FILE_MAX. */
int kd_plain_open(const char *root, uint64_t file_max, struct kd_plain **out) KILN_MUST;
void kd_plain_close(struct kd_plain *p);
/*
 * One decoded request: 0 and the reply data in out (cap bytes, at least
 * KFS_PLAIN_IO_MAX + 64) or -errno. Never a request that names the volume.
 */
int kd_plain_handle(struct kd_plain *p, const struct kfs_plain_req *r, uint8_t *out, size_t cap,
		    size_t *olen);
/* Answer requests on fd until EOF; 0, or -errno on a framing error (logged by the caller). */
int kd_plain_serve(struct kd_plain *p, int fd) KILN_MUST;

#endif
