/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the enclave's plain-volume client fed hostile host replies for a run of file calls. */
#include <stdio.h> /* RENAME_EXCHANGE */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/plain.h"
#include "fs/wire.h"
#include "replies_fuzz.h"

static int fill(void *ctx, const char *name, uint64_t ino, uint32_t mode, uint64_t cookie)
{
	(void)name, (void)ino, (void)mode, (void)cookie;
	return ++*(int *)ctx > 50;
}

static void calls(struct kfs *fs)
{
	struct kfs_attr a, b = { .size = 3 };
	struct kfs_statfs st;
	char buf[4200];
	uint64_t ino = 2;
	int n = 0;

	if (kfs_lookup(fs, KFS_ROOT_INO, "f", &a) == 0)
		ino = a.ino;
	(void)kfs_mknod(fs, KFS_ROOT_INO, "g", S_IFREG | 0644, 0, 0, &a);
	(void)kfs_open(fs, ino);
	(void)kfs_read(fs, ino, 0, buf, 64);
	(void)kfs_write(fs, ino, 0, "abc", 3);
	(void)kfs_readdir(fs, KFS_ROOT_INO, 0, fill, &n);
	(void)kfs_readlink(fs, ino, buf, sizeof(buf));
	(void)kfs_getattr(fs, ino, &a);
	(void)kfs_setattr(fs, ino, KFS_SET_SIZE | KFS_SET_MODE, &b, &a);
	(void)kfs_rename(fs, KFS_ROOT_INO, "f", KFS_ROOT_INO, "h", 0);
	(void)kfs_statfs(fs, &st);
	(void)kfs_link(fs, ino, KFS_ROOT_INO, "l", &a); /* the host's key may merge or split them */
	(void)kfs_lookup(fs, KFS_ROOT_INO, "l", &a);
	(void)kfs_rename(fs, KFS_ROOT_INO, "h", KFS_ROOT_INO, "l", RENAME_EXCHANGE);
	(void)kfs_getxattr(fs, ino, "user.k", buf, sizeof(buf));
	(void)kfs_listxattr(fs, ino, buf, sizeof(buf));
	(void)kfs_setxattr(fs, ino, "user.k", "v", 1, 0);
	(void)kfs_mknod(fs, KFS_ROOT_INO, "q", S_IFIFO | 0600, 0, 0, &a);
	(void)kfs_unlink(fs, KFS_ROOT_INO, "h");
	(void)kfs_release(fs, ino);
	kfs_forget(fs, a.ino, 1);
	kfs_forget(fs, ino, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kfs *fs;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (fuzz_queue_replies(sv[1], data, size, 60) < 0)
		close(sv[0]);
	else if (kfs_plain_mount_max(sv[0], "data", 0, 0, 4, &fs) == 0) { /* it owns sv[0] */
		kfs_count_lookups(fs);
		calls(fs); /* a table of 4: trimming runs too */
		(void)kfs_unmount(fs);
	}
	close(sv[1]);
	return 0;
}
