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
