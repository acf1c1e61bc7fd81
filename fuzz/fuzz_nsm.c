/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: NSM request decoder and the sim NSM handler (its answer must decode). */
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "nsm/nsm.h"
#include "nsm/sim.h"

static struct kiln_nsm_sim *sim;
static char dir[] = "/tmp/kiln-fuzz-nsm-XXXXXX";

static int64_t fixed_clock(void)
{
	return 1700000000000LL;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void cleanup(void)
{
	kiln_nsm_sim_free(sim);
	nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct kiln_nsm_sim_opts o = { .instance_id = "i-0123456789abcdef0", .role_arn = "fuzz",
				       .enclave_id = "0011223344556677", .clock_ms = fixed_clock };

	if (!mkdtemp(dir))
		abort();
	o.state_dir = dir;
	if (kiln_nsm_sim_new(&o, &sim) < 0) {
		fprintf(stderr, "%s\n", kiln_errmsg());
		abort();
	}
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_nsm_request req;
	struct kiln_nsm_response resp;
	struct kiln_cbor_doc *doc = NULL;
	uint8_t *out = NULL, *again = NULL;
	size_t out_len, again_len;

	if (kiln_nsm_request_decode(data, size, &req, &doc) == 0) {
		/* Whatever decodes re-encodes. */
		if (kiln_nsm_request_encode(&req, &again, &again_len) < 0 && size <= KILN_NSM_REQUEST_MAX / 2)
			abort();
		free(again);
	}
	kiln_nsm_doc_free(doc);
	if (kiln_nsm_sim_handle(sim, data, size, &out, &out_len) < 0)
		abort();
	if (kiln_nsm_response_decode(out, out_len, &resp, &doc) < 0)
		abort();
	kiln_nsm_doc_free(doc);
	free(out);
	return 0;
}
