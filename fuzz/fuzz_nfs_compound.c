/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the NFSv4 server's every decoder (COMPOUND, ops, fattr4, names) over the core. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nfs_fuzz.h"

static struct nfs_srv *srv;
static struct xdr_out call, reply;

/*
 * First byte even: the input is a whole RPC record. Odd: it is the body of a
 * COMPOUND (ops and arguments) behind a valid header, the second byte the
 * op count, so mutations reach the operations' decoders.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!srv)
		srv = nfs_fuzz_server(&call, &reply);
	if (size < 2 || size > NFS_MAX_RECORD - 256)
		return 0;
	reply.len = 0;
	if (!(data[0] & 1)) {
		if (nfs_srv_rpc(srv, data + 1, size - 1, &reply) < 0)
			abort();
		return 0;
	}
	call.len = 0;
	call.err = false;
	const uint32_t head[] = {
		1, RPC_CALL, RPC_VERS, NFS4_PROGRAM, 4, NFS4_PROC_COMPOUND,
		RPC_AUTH_SYS, 20, 0, 0, 0, 0, 0, /* stamp, machine "", uid 0, gid 0, no groups */
		RPC_AUTH_NONE, 0,		  /* verifier */
		0, 0, data[1],			  /* tag "", minor version 0, op count */
	};
	for (size_t i = 0; i < sizeof(head) / 4; i++)
		xdr_put_u32(&call, head[i]);
	xdr_put_fixed(&call, data + 2, size - 2);
	if (call.err || nfs_srv_rpc(srv, call.buf, call.len, &reply) < 0)
		abort();
	if (reply.len < 4)
		abort();
	return 0;
}
