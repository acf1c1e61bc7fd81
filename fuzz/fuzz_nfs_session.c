/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: NFSv4.1/4.2 COMPOUNDs: session ops, SEQUENCE's slots and replays, xattr, stateid and delegation ops. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nfs_fuzz.h"

static struct nfs_srv *srv;
static struct xdr_out call, reply;
static const uint8_t sessid[NFS4_SESSIONID_SIZE] = { 0x5e, 0x55 };

static uint64_t frozen(void *arg)
{
	return 1000; /* leases never lapse mid-run: inputs reach the session's ops */
}

static void head(uint32_t minor, uint32_t nops)
{
	const uint32_t h[] = {
		1, RPC_CALL, RPC_VERS, NFS4_PROGRAM, 4, NFS4_PROC_COMPOUND,
		RPC_AUTH_SYS, 20, 0, 0, 0, 0, 0, /* stamp, machine "", uid 0, gid 0, no groups */
		RPC_AUTH_NONE, 0,		  /* verifier */
		0, minor, nops,			  /* tag "" */
	};

	call.len = 0;
	call.err = false;
	for (size_t i = 0; i < sizeof(h) / 4; i++)
		xdr_put_u32(&call, h[i]);
}

static void run(void)
{
	reply.len = 0;
	if (call.err || nfs_srv_rpc(srv, call.buf, call.len, &reply) < 0 || reply.len < 4)
		abort();
}

/* EXCHANGE_ID and CREATE_SESSION, then a fixed session id inputs can name. */
static void session(void)
{
	head(2, 1);
	xdr_put_u32(&call, OP_EXCHANGE_ID);
	xdr_put_fixed(&call, "verifier", 8);
	xdr_put_string(&call, "fuzz client");
	xdr_put_u32(&call, 0);
	xdr_put_u32(&call, SP4_NONE);
	xdr_put_u32(&call, 0);
	run();
	head(2, 1);
	xdr_put_u32(&call, OP_CREATE_SESSION);
	xdr_put_u64(&call, srv->has_unconf ? srv->unconf_clientid : srv->clientid);
	xdr_put_u32(&call, srv->has_unconf ? srv->unconf_cs_seq : srv->cs_seq);
	xdr_put_u32(&call, CREATE_SESSION4_FLAG_CONN_BACK_CHAN); /* so OPENs get delegations to use */
	for (int c = 0; c < 2; c++) {
		const uint32_t ch[] = { 0, 1 << 20, 1 << 20, 4096, 16, 8, 0 };
		for (size_t i = 0; i < 7; i++)
			xdr_put_u32(&call, ch[i]);
	}
	xdr_put_u32(&call, 0);
	xdr_put_u32(&call, 0);
	run();
	if (!srv->sess)
		abort();
	memcpy(srv->sess->id, sessid, sizeof(sessid));
}


/*
 * data[0] % 3: 0, a COMPOUND body (minor data[1] % 3, op count data[2]) with
 * no SEQUENCE, for the session-less ops; 1, the body after a SEQUENCE that
 * starts a new request on slot data[1]; 2, the same after a SEQUENCE that
 * retries that slot's last sequence id (replays and false retries).
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!srv) {
		srv = nfs_fuzz_server(&call, &reply);
		nfs_srv_set_clock(srv, frozen, NULL);
	}
	if (!srv->sess)
		session();
	if (size < 3 || size > NFS_MAX_RECORD - 512)
		return 0;
	uint32_t mode = data[0] % 3, slot = data[1] % NFS_SLOTS;
	if (mode == 0) {
		head(data[1] % 3, data[2]);
	} else {
		uint32_t seq = srv->sess->slots[slot].seq + (mode == 1);
		head(2, 1u + data[2]);
		xdr_put_u32(&call, OP_SEQUENCE);
		xdr_put_fixed(&call, sessid, sizeof(sessid));
		xdr_put_u32(&call, seq);
		xdr_put_u32(&call, slot);
		xdr_put_u32(&call, slot);
		xdr_put_u32(&call, 0);
	}
	xdr_put_fixed(&call, data + 3, size - 3);
	run();
	return 0;
}
