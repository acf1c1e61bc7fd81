/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: kiln.yaml parsing and validation. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *cfg = NULL;

	if (kiln_config_parse((const char *)data, size, "fuzz.yaml", &cfg) == 0) {
		char *s = kiln_json_canonical(cfg);

		if (!s)
			abort();
		free(s);
		json_decref(cfg);
	}
	return 0;
}
