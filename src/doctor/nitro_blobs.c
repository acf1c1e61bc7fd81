/* SPDX-License-Identifier: Apache-2.0 */
/* kiln doctor: the AWS blobs (enclave kernel, its init and nsm.ko) that make EIFs built here boot on Nitro. */
#include "doctor/doctor.h"

#include <string.h>
#include <sys/stat.h>

/*
 * kiln build takes bzImage, cmdline, init and nsm.ko from the blobs
 * (src/build/kernel.c); bzImage.config is what nitro-cli records beside
 * them. Without the blobs kiln build uses its fallback kernel, whose EIFs
 * boot in QEMU and run in the sim, but not on Nitro.
 */
static const struct {
	const char *name;
	bool needed; /* by kiln build */
} files[] = {
	{ "bzImage", true }, { "bzImage.config", false }, { "cmdline", true },
	{ "init", true },    { "nsm.ko", true },
};

#define FIX                                                                                 \
	"install the blobs: aws-nitro-enclaves-cli-devel (Amazon Linux: dnf install "       \
	"aws-nitro-enclaves-cli aws-nitro-enclaves-cli-devel), or pass kiln build --blobs DIR"

static bool is_file(const char *dir, const char *name)
{
	char path[4200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

/* The needed files missing (counted and listed) and the optional ones. */
static size_t scan(const char *dir, char *missing, size_t mlen, char *optional, size_t olen,
		   size_t *nneeded)
{
	size_t nmissing = 0;

	*nneeded = 0;
	missing[0] = optional[0] = '\0';
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *list = files[i].needed ? missing : optional;
		size_t len = files[i].needed ? mlen : olen;

		*nneeded += files[i].needed;
		if (is_file(dir, files[i].name))
			continue;
		nmissing += files[i].needed;
		snprintf(list + strlen(list), len - strlen(list), "%s%s", list[0] ? ", " : "",
			 files[i].name);
	}
	return nmissing;
}

bool kiln_doc_blobs_usable(const struct kiln_doc *d)
{
	char missing[128], optional[64];
	size_t nneeded;

	return scan(d->blobs, missing, sizeof(missing), optional, sizeof(optional),
		    &nneeded) == 0;
}

int kiln_doc_nitro_blobs(struct kiln_doc *d)
{
	char missing[128], optional[64];
	size_t nneeded, nmissing = scan(d->blobs, missing, sizeof(missing), optional,
					sizeof(optional), &nneeded);

	if (nmissing == nneeded)
		return kiln_doc_add(d, "nitro.blobs", KILN_DOC_NITRO, KILN_DOC_FAIL, FIX,
				    "AWS blobs: none in %s: EIFs built here get the fallback "
				    "kernel, which does not boot on Nitro", d->blobs);
	if (nmissing)
		return kiln_doc_add(d, "nitro.blobs", KILN_DOC_NITRO, KILN_DOC_FAIL, FIX,
				    "AWS blobs: %s lacks %s: kiln build cannot use them, and EIFs "
				    "built here would not boot on Nitro", d->blobs, missing);
	if (optional[0])
		return kiln_doc_add(d, "nitro.blobs", KILN_DOC_NITRO, KILN_DOC_WARN, FIX,
				    "AWS blobs: %s lacks %s (kiln build does not need it; EIFs "
				    "built here boot on Nitro)", d->blobs, optional);
	return kiln_doc_add(d, "nitro.blobs", KILN_DOC_NITRO, KILN_DOC_OK, NULL,
			    "AWS blobs: %s: EIFs built here boot on Nitro", d->blobs);
}
