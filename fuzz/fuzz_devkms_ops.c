/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: dev-kms operations on arbitrary JSON bodies (fields, base64, Recipient). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devkms/devkms.h"

/*
 * One state dir with one key, made on the first call. The first byte picks
 * an operation that does not write the store (writes would fsync on every
 * run); the rest is the request body. Every answer must be a 200, 400 or
 * 500 with a body.
 */
static const char *const ops[] = {
	"TrentService.DescribeKey", "TrentService.ListKeys", "TrentService.Encrypt",
	"TrentService.Decrypt", "TrentService.GenerateDataKey",
	"TrentService.GenerateDataKeyWithoutPlaintext", "TrentService.GenerateRandom",
	"TrentService.GetKeyPolicy", "TrentService.Nope",
};

static struct kiln_devkms d;
static char key_path[PATH_MAX + 64];

/* The state dir is this process's own: remove it on the way out. */
static void cleanup(void)
{
	char keys[PATH_MAX + 8];

	snprintf(keys, sizeof(keys), "%s/keys", d.state_dir);
	unlink(key_path);
	rmdir(keys);
	rmdir(d.state_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct kiln_devkms_resp r;

	if (!ready) {
		char dir[] = "/tmp/fuzz_devkms.XXXXXX";
		struct kiln_devkms_key k;
		if (!mkdtemp(dir) || kiln_devkms_init(&d, dir, NULL, NULL, NULL, 0) < 0 ||
		    kiln_devkms_store_create(&d, "fuzz", NULL, &k) < 0)
			abort();
		snprintf(key_path, sizeof(key_path), "%s/keys/%s.key", dir, k.id);
		kiln_devkms_key_clear(&k);
		atexit(cleanup);
		ready = true;
	}
	if (size < 1)
		return 0;
	kiln_devkms_handle(&d, ops[data[0] % (sizeof(ops) / sizeof(ops[0]))], "us-east-1",
			   data + 1, size - 1, &r);
	if (!r.body || (r.status != 200 && r.status != 400 && r.status != 500))
		abort();
	kiln_devkms_resp_free(&r);
	return 0;
}
