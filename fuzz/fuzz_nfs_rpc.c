/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: ONC RPC record marking, call headers and AUTH_SYS credentials. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nfs/rpc.h"

#define RX_MAX 4096

/*
 * The in-place record parser fed as a socket would be, in receives of
 * step + 1 bytes: every record it hands out lies in its buffer and within
 * max, and the buffer stays within max + RPC_RX_CHUNK.
 */
static void rx_stream(uint8_t step, const uint8_t *p, size_t n)
{
	struct rpc_rx r;
	const uint8_t *rec;
	size_t len;
	int rc = 0;

	rpc_rx_init(&r, RX_MAX);
	for (size_t off = 0; off < n && rc >= 0;) {
		uint8_t *dst;
		size_t room;
		if (rpc_rx_space(&r, &dst, &room) < 0)
			abort(); /* always room after rpc_rx_next said 0 */
		size_t k = n - off < (size_t)step + 1 ? n - off : (size_t)step + 1;
		k = k < room ? k : room;
		memcpy(dst, p + off, k);
		rpc_rx_got(&r, k);
		off += k;
		while ((rc = rpc_rx_next(&r, &rec, &len)) == 1)
			if (len > RX_MAX || rec < r.buf || rec + len > r.buf + r.alloc)
				abort();
		if (r.alloc > RX_MAX + RPC_RX_CHUNK)
			abort();
	}
	rpc_rx_free(&r);
}

/*
 * The first byte picks the decoder: the record parser (fed in receives
 * whose size comes from the input), a call header, or an AUTH_SYS body.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rpc_call c;
	struct rpc_cred cred;
	struct xdr_in x;
	int rej;

	if (size < 2)
		return 0;
	switch (data[0] % 3) {
	case 0:
		rx_stream(data[1], data + 2, size - 2);
		break;
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
