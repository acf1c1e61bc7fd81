/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the enclave's plain-volume client fed hostile host replies for a run of file calls. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/plain.h"
#include "fs/wire.h"

/* The input: replies, each a be16 length then its bytes, queued (framed) before the calls run. */
static int queue_replies(int fd, const uint8_t *data, size_t size)
{
	size_t off = 0;

	for (int n = 0; n < 40 && off + 2 <= size; n++) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		len = len < size - off ? len : size - off;
		if (len == 0 || kfs_wire_send(fd, data + off, len, NULL, 0) < 0)
			return -1;
		off += len;
	}
	return shutdown(fd, SHUT_WR); /* more calls than replies: EOF, an error */
}

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
	(void)kfs_unlink(fs, KFS_ROOT_INO, "h");
	(void)kfs_release(fs, ino);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kfs *fs;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (queue_replies(sv[1], data, size) < 0)
		close(sv[0]);
	else if (kfs_plain_mount(sv[0], "data", 0, 0, &fs) == 0) { /* it owns sv[0] */
		calls(fs);
		(void)kfs_unmount(fs);
	}
	close(sv[1]);
	return 0;
}
