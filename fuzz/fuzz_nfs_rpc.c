/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: ONC RPC record marking, call headers and AUTH_SYS credentials. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nfs/rpc.h"

/*
 * The first byte picks the decoder: the record reassembler (fed in chunks
 * whose sizes come from the input), a call header, or an AUTH_SYS body.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rpc_rec r;
	struct rpc_call c;
	struct rpc_cred cred;
	struct xdr_in x;
	int rej;

	if (size < 2)
		return 0;
	switch (data[0] % 3) {
	case 0: {
		size_t step = (size_t)data[1] + 1, off = 2, used;
		rpc_rec_init(&r, 4096);
		while (off < size) {
			size_t k = size - off < step ? size - off : step;
			int rc = rpc_rec_feed(&r, data + off, k, &used);
			if (rc < 0)
				break;
			if (used > k || r.len > 4096)
				abort();
			off += used;
			if (rc == 1)
				rpc_rec_reset(&r);
		}
		rpc_rec_free(&r);
		break;
	}
	case 1:
		xdr_in_init(&x, data + 1, size - 1);
		if (rpc_call_decode(&x, &c, &rej) == 0 && c.cred.ngids > RPC_AUTH_SYS_GIDS_MAX)
			abort();
		break;
	default:
		memset(&cred, 0, sizeof(cred));
		if (rpc_auth_sys_decode(data + 1, size - 1, &cred) == 0 &&
		    strlen(cred.machine) > RPC_AUTH_SYS_NAME_MAX)
			abort();
		break;
	}
	return 0;
}
