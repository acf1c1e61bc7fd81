/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the enclave's storage channel client reading hostile parent replies (in place and not). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fs/wire.h"
#include "replies_fuzz.h"

/* The OPEN's answer (its features: none, or the first byte), then the fuzzed replies. */
static int queue_replies(int fd, const uint8_t *data, size_t size)
{
	static const uint8_t ok = 0;
	size_t nf = size && (data[0] & 0x80) ? 1 : 0;

	if (kfs_wire_send(fd, &ok, 1, data, nf) < 0)
		return -1;
	return fuzz_queue_replies(fd, data + nf, size - nf, 24);
}

static void calls(struct kfs_store *st)
{
	static uint8_t place[4][64];
	struct kfs_obj v[6] = { { .id = "b-1-0-1", .buf = place[0], .cap = sizeof(place[0]) },
				{ .id = "b-1-1-2" },
				{ .id = "b-1-2-3", .buf = place[1], .cap = sizeof(place[1]) },
				{ .id = "b-1-3-4", .buf = place[2], .cap = 1 },
				{ .id = "b-1-4-5" },
				{ .id = "b-1-5-6", .buf = place[3], .cap = sizeof(place[3]) } };
	uint8_t *buf = NULL;
	size_t len;

	(void)st->getv(st, v, 6);
	for (int i = 0; i < 6; i++) {
		if (v[i].rc == 0 && v[i].len > (v[i].cap ? v[i].cap : KFS_WIRE_MAX))
			abort(); /* more than the room it was given */
		if (!v[i].cap)
			free(v[i].buf);
	}
	const struct kfs_put_pipe *pp = kfs_store_put_pipe(st);
	struct kfs_obj p = { .id = "b-1-6-7", .buf = place[0], .len = 8 };
	int rcs[2];

	if (!pp)
		abort();
	if (pp->send(st, &p) == 0 && st->del(st, "b-1-0-1") == 0 && pp->send(st, &p) == 0)
		(void)pp->reap(st, rcs, 2);
	/* gets in flight: answered in place by a put's send, or waited for */
	struct kfs_obj g[2] = { { .id = "b-1-7-8", .buf = place[1], .cap = sizeof(place[1]) },
				{ .id = "b-1-8-9", .buf = place[2], .cap = 2 } };
	if (pp->get_send(st, &g[0]) == 0 && pp->get_send(st, &g[1]) == 0 && pp->send(st, &p) == 0)
		(void)pp->reap(st, rcs, 1);
	for (int i = 0; i < 2; i++) {
		if (g[i].rc == KFS_OBJ_IN_FLIGHT)
			(void)pp->get_wait(st, &g[i]);
		if (g[i].rc == 0 && g[i].len > g[i].cap)
			abort();
	}
	(void)pp->get_send(st, &g[0]); /* left in flight: the close reads it */
	if (st->get(st, "i-1-7", &buf, &len) == 0)
		free(buf);
	(void)st->put(st, "i-1-8", "x", 1, 0);
	(void)st->put(st, "j-1-1", "r", 1, KFS_PUT_DURABLE | KFS_PUT_BARRIER); /* if offered */
	/* a commit's record with its deletes behind it (if offered) */
	char dels[2][KFS_ID_MAX + 1] = { "i-1-7", "b-1-0-1" };
	struct kfs_obj rec = { .id = "j-1-2", .buf = (uint8_t *)"r", .len = 1 };
	bool deleted;
	(void)pp->point(st, &rec, dels, 2, &deleted);
	(void)st->sync(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kfs_store *st;
	int sv[2];

	if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 0;
	if (queue_replies(sv[1], data, size) < 0)
		close(sv[0]);
	else if (kfs_store_remote(sv[0], "vol", &st) == 0) { /* it owns sv[0] either way */
		calls(st);
		st->close(st);
	}
	close(sv[1]);
	return 0;
}
