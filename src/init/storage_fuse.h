/* SPDX-License-Identifier: Apache-2.0 */
/* The FUSE frontend of encrypted storage: the kernel's FUSE protocol on /dev/fuse, over the core. */
#ifndef KILN_INIT_STORAGE_FUSE_H
#define KILN_INIT_STORAGE_FUSE_H

#include "fs/fs.h"

/*
 * kiln-init is a static binary and Debian ships no static libfuse3, so this
 * speaks the kernel's FUSE protocol (linux/fuse.h) on /dev/fuse directly:
 * one thread per mount reads a request, calls the core and writes the
 * reply. Locks (fcntl, flock) stay in the kernel (POSIX_LOCKS is not
 * claimed): with one mount per volume that is exact. Writes are large
 * (1 MiB) and cached by the kernel (writeback cache); fsync commits.
 */
#define KILN_FUSE_MAX_WRITE (1u << 20)
/*
 * Changes are also committed in the background at most this long after
 * they were made, so an app that never fsyncs loses at most that much when
 * the enclave is killed (fsync still commits at once).
 */
#define KILN_FUSE_COMMIT_MS 5000

/* Open /dev/fuse and mount it at path; returns the fd or -errno. */
int kiln_fuse_mount(const char *path) KILN_MUST;
/*
 * Serve requests until the kernel says the mount is gone (unmounted) or
 * DESTROY; fs stays the caller's. Returns 0 or -errno.
 */
int kiln_fuse_serve(int fd, struct kfs *fs) KILN_MUST;

#endif
