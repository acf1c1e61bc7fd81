/* SPDX-License-Identifier: Apache-2.0 */
/* A kfs handle whose calls go to another implementation (plain volumes) instead of the encrypted core. */
#include <stdlib.h>

#include "fs/internal.h"

int kfs_alt_new(const struct kfs_alt_ops *ops, void *ctx, struct kfs **out)
{
	struct kfs *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return kiln_err(ENOMEM, "storage: out of memory");
	fs->alt = ops;
	fs->alt_ctx = ctx;
	*out = fs;
	return 0;
}

int kfs_alt_free(struct kfs *fs)
{
	int rc = fs->alt->unmount(fs->alt_ctx);

	free(fs);
	return rc;
}

bool kfs_changes_behind(const struct kfs *fs)
{
	return fs->alt != NULL;
}

/* The encrypted core's inodes are in the volume: nothing to count or forget. */
void kfs_count_lookups(struct kfs *fs)
{
	if (fs->alt && fs->alt->count_lookups)
		fs->alt->count_lookups(fs->alt_ctx);
}

void kfs_forget(struct kfs *fs, uint64_t ino, uint64_t nlookup)
{
	if (fs->alt && fs->alt->forget)
		fs->alt->forget(fs->alt_ctx, ino, nlookup);
}
