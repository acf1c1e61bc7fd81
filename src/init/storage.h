/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's encrypted storage: mount config's storage entries before the app, unmount after. */
#ifndef KILN_INIT_STORAGE_H
#define KILN_INIT_STORAGE_H

#include <jansson.h>
#include <stdint.h>

#include "util/err.h"

#define KILN_STORAGE_MAX 16

struct kiln_storage;

/*
 * For each entry of kiln.yaml's "storage" (config, may be NULL): connect to
 * the parent's storage channel (port 7003; dir: the sim channel directory),
 * open the volume named after the path, unwrap its key (made here at first
 * mount), mount it with FUSE at the path and serve it from a thread. Any
 * failure (wrong key, tampered root, no FUSE, key: kms not yet available)
 * is an error naming the path: the app must not start.
 */
int kiln_init_storage_start(json_t *config, const char *dir, struct kiln_storage **out) KILN_MUST;
/* The uid and gid the app sees as the owner of plain volumes' files (default 0:0). */
void kiln_init_storage_owner(uint32_t uid, uint32_t gid);
/*
 * A connection to the parent's storage channel (dir: the sim channel
 * directory, NULL over vsock), its vsock buffer set (chan/vsock_buf.h; a
 * kernel that refuses is said once and kept). The fd, or -errno.
 */
int kiln_init_storage_dial(const char *dir) KILN_MUST;
/* Unmount every volume (final commit first); NULL is fine. Logs failures. */
void kiln_init_storage_stop(struct kiln_storage *s);

#endif
