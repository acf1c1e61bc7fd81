/* SPDX-License-Identifier: Apache-2.0 */
/* The enclave side of plain volumes: the kfs calls as remote-file requests to the parent's directory. */
#ifndef KILN_FS_PLAIN_H
#define KILN_FS_PLAIN_H

#include "fs/fs.h"

/*
 * A plain volume is the parent's directory of ordinary files: nothing is
 * encrypted or authenticated, and the parent may change it at any time.
 * The returned kfs is driven by the same frontends as an encrypted one
 * (inode numbers are this side's: a table of parent and name per inode,
 * so a path is rebuilt for every request). Every reply is hostile: a
 * size, type or name that is out of bounds is -EIO, never trusted.
 * Every file is reported as owned by uid:gid (the app's user); the host
 * keeps its files as kilnd's user. user.* extended attributes, FIFOs and
 * RENAME_EXCHANGE are served; device nodes and sockets are EPERM. Two
 * names of one host file are one inode (fs/plain_nodes.h), and entries
 * nothing holds are trimmed. Thread-safe (one lock).
 */
#define KFS_PLAIN_NODES_MAX (1u << 20)

/* Send PLAIN_VOLUME for volume over fd (the storage channel; taken, also on failure). */
int kfs_plain_mount(int fd, const char *volume, uint32_t uid, uint32_t gid,
		    struct kfs **out) KILN_MUST;
/* The same with an inode table of at most max entries (tests). */
int kfs_plain_mount_max(int fd, const char *volume, uint32_t uid, uint32_t gid, size_t max,
			struct kfs **out) KILN_MUST;

#endif
