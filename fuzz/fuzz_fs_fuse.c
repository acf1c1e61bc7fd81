/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: FUSE requests into the FUSE frontend over a storage core in memory. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/fs.h"
#include "init/storage_fuse.h"

/*
 * The kernel is the only writer of /dev/fuse, but the request decoder is
 * bounds-checked all the same: any bytes must be answered or refused
 * without a crash (each input is handled twice, as two requests read
 * together, so its READ or WRITE span is prefetched first). Replies go to
 * /dev/null. The volume is made afresh every 256 inputs so that state
 * stays small.
 */
static struct kfs *fs;
static int null_fd = -1;
static unsigned count;
static uint8_t out[KILN_FUSE_OUT_SIZE];
static uint64_t req[(KILN_FUSE_MAX_WRITE + 65536) / 8]; /* aligned, as read() gives it */

static int fresh(void)
{
	struct kfs_store *st;
	struct kfs_keywrap *kw;

	if (fs)
		(void)kfs_unmount(fs);
	fs = NULL;
	if (kfs_store_mem(&st) < 0 || kfs_keywrap_sim(NULL, &kw) < 0)
		return -1;
	return kfs_mount(st, kw, KFS_MOUNT_CREATE, NULL, NULL, &fs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (null_fd < 0)
		null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if ((count++ % 256 == 0 || !fs) && fresh() < 0)
		abort();
	if (size < 40 || size > sizeof(req))
		return 0;
	memcpy(req, data, size);
	((uint32_t *)req)[0] = (uint32_t)size; /* the kernel's len always matches the read */
	/* twice, as requests read together: their spans go to kfs_prefetch first */
	uint8_t *reqs[2] = { (uint8_t *)req, (uint8_t *)req };
	size_t lens[2] = { size, size };
	if (kiln_fuse_handle_queued(null_fd, fs, reqs, lens, 2, out) == 1)
		(void)fresh(); /* DESTROY */
	return 0;
}
