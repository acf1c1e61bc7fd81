/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: plain volumes' request decoder (exact re-encoding) and the enclave's reply decoders. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "fs/plain_wire.h"

static uint8_t out[2 * KFS_PLAIN_PATH_MAX + 64];
static struct kfs_plain_req r;

static void request(const uint8_t *data, size_t size)
{
	size_t len;

	if (kfs_plain_req_decode(data, size, &r) < 0)
		return;
	/* what was accepted re-encodes to the same bytes, and its names are checked paths */
	if (kfs_plain_req_encode(&r, out, sizeof(out), &len) < 0 || len + r.len != size ||
	    memcmp(out, data, len) || strlen(r.s1) != r.l1 || strlen(r.s2) != r.l2)
		abort();
	if (r.op >= KFS_POP_GETXATTR && r.op <= KFS_POP_REMOVEXATTR) {
		if ((r.l2 && kfs_plain_xattr_name_check(r.s2, r.l2) < 0) || r.len > KFS_XATTR_VALUE_MAX)
			abort();
	} else if (r.op != KFS_POP_VOLUME && r.op != KFS_POP_SYMLINK && r.l2 &&
		   kfs_plain_path_check(r.s2, r.l2, false) < 0) {
		abort();
	}
	if (r.op == KFS_POP_RENAME && (r.flags & KFS_PF_EXCHANGE) && (r.flags & KFS_PF_NOREPLACE))
		abort();
}

static void replies(const uint8_t *data, size_t size)
{
	struct kfs_attr a;
	uint64_t dev;
	struct kfs_plain_statfs s;
	struct kfs_plain_dirent e;
	size_t off = 0;
	int rc;

	if (kfs_plain_attr_decode(data, size, &a, &dev) == 0 &&
	    (size != KFS_PLAIN_ATTR_LEN || S_ISCHR(a.mode) || S_ISBLK(a.mode) || S_ISSOCK(a.mode)))
		abort();
	if (kfs_plain_xlist_check(data, size) == 0 && size && (data[size - 1] || memcmp(data, "user.", 5)))
		abort();
	if (kfs_plain_statfs_decode(data, size, &s) == 0 && size != KFS_PLAIN_STATFS_LEN)
		abort();
	while ((rc = kfs_plain_dirent_decode(data, size, &off, &e)) == 0)
		if (off > size || e.cookie < 3 || kfs_plain_name_check(e.name, strlen(e.name)) < 0)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		request(data + 1, size - 1);
	else
		replies(data + 1, size - 1);
	return 0;
}
