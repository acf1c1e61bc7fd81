/* SPDX-License-Identifier: Apache-2.0 */
/* The FUSE frontend of encrypted storage: the kernel's FUSE protocol on /dev/fuse, over the core. */
#ifndef KILN_INIT_STORAGE_FUSE_H
#define KILN_INIT_STORAGE_FUSE_H

#include "fs/fs.h"

/*
 * kiln-init is a static binary and Debian ships no static libfuse3, so this
 * speaks the kernel's FUSE protocol (linux/fuse.h) on /dev/fuse directly:
 * one thread per mount reads the requests queued, asks the core for the
 * blocks they need in one batch, then calls the core and writes the reply
 * for each in turn. Locks (fcntl, flock) stay in the kernel (POSIX_LOCKS is not
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
 * One request (n bytes, as read from /dev/fuse, 8-byte aligned) answered
 * on fd; out is scratch of KILN_FUSE_OUT_SIZE bytes. -EPROTO when the
 * header is malformed; 1 after DESTROY. Exposed for the fuzz target.
 */
#define KILN_FUSE_OUT_SIZE (KILN_FUSE_MAX_WRITE + 65536)
int kiln_fuse_handle(int fd, struct kfs *fs, const uint8_t *req, size_t n, uint8_t *out);
/*
 * Requests read together (cnt of them, each as for kiln_fuse_handle): the
 * blocks their READs and WRITEs will need are asked for at once
 * (kfs_prefetch), then each is handled in order, as one at a time would
 * be. Stops at the first that returns non-zero and returns that.
 */
int kiln_fuse_handle_queued(int fd, struct kfs *fs, uint8_t *const *req, const size_t *n,
			    size_t cnt, uint8_t *out);
/*
 * Serve requests until the kernel says the mount is gone (unmounted) or
 * DESTROY; fs stays the caller's. Returns 0 or -errno.
 */
int kiln_fuse_serve(int fd, struct kfs *fs) KILN_MUST;
/*
 * Requests handled by kiln_fuse_handle in this process since it started,
 * by opcode (all mounts together; opcodes at or past KILN_FUSE_OPS in the
 * last slot): what each app operation costs, for benches
 * (bench/guestlab_fs KILN_BENCH_COUNT=1). Read while serving: each count
 * is exact, a set of them is not one instant's.
 */
#define KILN_FUSE_OPS 64
void kiln_fuse_counts(uint64_t counts[KILN_FUSE_OPS]);

#endif
