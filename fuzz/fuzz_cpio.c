/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the cpio newc reader. */
#include <stdint.h>
#include <stdlib.h>

#include "eif/cpio_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cpio_limits lim = { .max_entries = 1000, .max_file_size = 1 << 20 };
	struct cpio_reader *r = NULL;
	struct cpio_rentry e;
	uint8_t buf[4096];
	int rc;

	if (cpio_reader_new_mem(data, size, &lim, &r) < 0)
		abort();
	while ((rc = cpio_next(r, &e)) == 1) {
		size_t got, total = 0;

		if (!e.name[0])
			abort(); /* names are checked non-empty */
		do
			rc = cpio_read_data(r, buf, sizeof(buf), &got);
		while (rc == 0 && (total += got, got));
		if (rc < 0)
			break;
		if (total != e.size)
			abort();
	}
	cpio_reader_free(r);
	return 0;
}
