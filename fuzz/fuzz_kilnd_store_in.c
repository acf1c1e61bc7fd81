/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: kilnd's storage channel request reader, fed the enclave's bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fs/wire.h"
#include "kilnd/store_in.h"

/*
 * data[0] bit 0: exact reads; the rest is what the enclave sent before it
 * closed. Every message returned must be one the bytes hold: its length
 * prefix right before it, within KFS_WIRE_MAX, each right after the last;
 * the reader ends with an error, never a hang or a read past the bytes.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kd_store_in in = { 0 };
	size_t used = 1, len;
	const uint8_t *msg;
	int sv[2], rc = 0;

	if (size < 1 || size > 65536 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	if (write(sv[0], data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	shutdown(sv[0], SHUT_WR);
	in.exact = data[0] & 1;
	while (rc == 0) {
		rc = kd_store_in_next(&in, sv[1], &msg, &len);
		if (rc == 0 && (len == 0 || len > KFS_WIRE_MAX || used + 4 + len > size ||
				memcmp(msg, data + used + 4, len)))
			abort();
		if (rc == 0)
			used += 4 + len;
		if (rc == 0 && !in.exact)
			(void)kd_store_in_top_up(&in, sv[1]);
	}
	kd_store_in_free(&in);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
