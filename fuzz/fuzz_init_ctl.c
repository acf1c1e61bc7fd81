/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: bytes from an (untrusted) parent into kiln-init's control channel. */
#include <stdint.h>
#include <string.h>

#include "init/ctl.h"
#include "init/linesplit.h"
#include "init/logring.h"

/*
 * The first byte picks a state (waiting for the ACK to HELLO, or streaming)
 * and how many lines the ring holds; the rest is what the parent sent. Any
 * input must end in "accepted" or a clean protocol error, with the ring
 * still consistent (its unsent bytes decode as LOG frames in seq order).
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kiln_logring ring;
	struct kiln_chan_addr a = { .family = KILN_CHAN_UNIX, .path = "/nonexistent" };
	struct kiln_ctl c;
	const uint8_t *p;
	size_t n, total = 0;
	int sig;
	uint32_t ms;

	if (size < 1)
		return 0;
	if (!ring.buf && kiln_logring_init(&ring, 2 * KILN_FRAME_MAX) < 0)
		return 0;
	kiln_logring_rewind(&ring, ring.next_seq, &(uint64_t){ 0 });
	for (int i = 0; i < (data[0] & 0x3f); i++)
		if (kiln_logring_append(&ring, 1 + (i & 1), 1, false, (const uint8_t *)"line", 4) < 0)
			__builtin_trap();
	if (kiln_ctl_init(&c, &a, "fuzz", 1, &ring, NULL, NULL) < 0)
		return 0;
	kiln_frame_dec_init(c.dec);
	c.state = (data[0] & 0x40) ? KILN_CTL_READY : KILN_CTL_HELLO;
	if (kiln_ctl_input(&c, data + 1, size - 1) == 0)
		kiln_ctl_take_stop(&c, &sig, &ms);
	if (c.out_len > sizeof(c.out))
		__builtin_trap();
	while ((p = kiln_logring_peek(&ring, &n)), n) {
		struct kiln_frame f;
		size_t used;

		if (kiln_frame_decode(p, n, &f, &used) != 1 || f.type != KILN_FRAME_LOG)
			__builtin_trap();
		kiln_logring_consume(&ring, used);
		total += used;
	}
	if (ring.unsent != 0 || total > ring.used)
		__builtin_trap();
	kiln_ctl_free(&c);
	return 0;
}
