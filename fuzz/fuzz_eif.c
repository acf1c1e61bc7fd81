/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the EIF reader (over a memfd) and the signature section parser. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "eif/eif.h"
#include "eif/sign.h"

/*
 * The stored CRC is patched to the right value so that mutations get past it
 * to the section and signature parsing (the CRC compare is unit-tested).
 */
static void fuzz_image(const uint8_t *data, size_t size)
{
	struct eif_info info;
	struct eif_pcrs pcrs;
	uint8_t crc[4];
	int fd = memfd_create("fuzz-eif", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (write(fd, data, size) != (ssize_t)size)
		abort();
	if (size >= EIF_HEADER_SIZE) {
		uLong c = crc32(crc32(0L, data, EIF_CRC_OFFSET), data + EIF_HEADER_SIZE,
				(uInt)(size - EIF_HEADER_SIZE));

		for (int i = 0; i < 4; i++)
			crc[i] = (uint8_t)(c >> (24 - 8 * i));
		if (pwrite(fd, crc, 4, EIF_CRC_OFFSET) != 4)
			abort();
	}
	if (eif_read_info(fd, &info, &pcrs) == 0) {
		char *json = eif_measurements_json(&pcrs);

		free(json);
		for (unsigned i = 0; i < info.num_sections; i++) {
			uint8_t *sec = NULL;

			if (eif_read_section(fd, &info, i, &sec, 1 << 16) == 0)
				free(sec);
		}
		(void)!eif_verify_signature(fd, &info, &pcrs, NULL);
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t pcr0[KILN_SHA384_LEN];
	uint8_t pcr8[KILN_SHA384_LEN];

	/* EIFs start with '.' (even); an odd first byte selects a bare signature section */
	if (size && (data[0] & 1)) {
		(void)!eif_sig_pcr8(data + 1, size - 1, pcr8);
		(void)!eif_sig_verify(data + 1, size - 1, pcr0, NULL);
		return 0;
	}
	fuzz_image(data, size);
	return 0;
}
