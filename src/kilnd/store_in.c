/* SPDX-License-Identifier: Apache-2.0 */
/* kilnd's storage channel input: the enclave's requests, read in as few reads as its writes allow. */
/*
 * Every length comes from the enclave: it is checked against KFS_WIRE_MAX
 * before the buffer grows for it, so a connection holds at most one
 * message's worth (1 MiB and a bit) however it lies, and only until that
 * message has been served.
 */
#include "kilnd/store_in.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fs/wire.h"

/* 0 and *n when a whole length prefix is buffered, 1 when not yet, or an error. */
static int frame_len(const struct kd_store_in *in, size_t *n)
{
	return in->end - in->start < 4 ? 1 : kfs_wire_len(in->buf + in->start, n);
}

bool kd_store_in_ready(const struct kd_store_in *in)
{
	size_t n;

	return frame_len(in, &n) == 0 && in->end - in->start - 4 >= n;
}

/* Room for want bytes from the first unread one: moved to the front, grown when short. */
static int make_room(struct kd_store_in *in, size_t want)
{
	size_t have = in->end - in->start, cap = want > KD_STORE_IN_ROOM ? want : KD_STORE_IN_ROOM;
	uint8_t *b;

	if (in->start && (in->start + want > in->cap || have == 0)) {
		memmove(in->buf, in->buf + in->start, have);
		in->start = 0;
		in->end = have;
	}
	if (in->cap >= want)
		return 0;
	b = realloc(in->buf, cap);
	if (!b)
		return kiln_err(ENOMEM, "storage channel: out of memory");
	in->buf = b;
	in->cap = cap;
	return 0;
}

/* One read towards a message of want bytes (prefix included); in exact mode none past it. */
static int fill(struct kd_store_in *in, int fd, size_t want)
{
	size_t room;
	ssize_t r;
	int rc = make_room(in, want);

	if (rc < 0)
		return rc;
	room = in->exact ? in->start + want - in->end : in->cap - in->end;
	do
		r = read(fd, in->buf + in->end, room);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return kiln_err(errno, "storage channel: read: %s", strerror(errno));
	if (r == 0)
		return in->end == in->start ? kiln_err(EPIPE, "storage channel: closed")
					    : kiln_err(EPIPE, "storage channel: closed mid-message");
	in->end += (size_t)r;
	return 0;
}

/* Give back the room a large message took, once it has been served and what is left fits. */
static void shrink(struct kd_store_in *in)
{
	size_t have = in->end - in->start;
	uint8_t *b;

	if (in->cap <= KD_STORE_IN_ROOM || have > KD_STORE_IN_ROOM)
		return;
	memmove(in->buf, in->buf + in->start, have);
	in->start = 0;
	in->end = have;
	b = realloc(in->buf, KD_STORE_IN_ROOM);
	if (b) {
		in->buf = b;
		in->cap = KD_STORE_IN_ROOM;
	}
}

int kd_store_in_next(struct kd_store_in *in, int fd, const uint8_t **msg, size_t *len)
{
	shrink(in);
	for (;;) {
		size_t n = 0;
		int rc = in->buf ? frame_len(in, &n) : 1;

		if (rc < 0)
			return rc;
		if (rc == 0 && in->end - in->start >= 4 + n) {
			*msg = in->buf + in->start + 4;
			*len = n;
			in->start += 4 + n;
			return 0;
		}
		rc = fill(in, fd, rc == 0 ? 4 + n : 4);
		if (rc < 0)
			return rc;
	}
}

size_t kd_store_in_top_up(struct kd_store_in *in, int fd)
{
	ssize_t r;

	if (in->exact || in->end == in->cap)
		return 0;
	do
		r = recv(fd, in->buf + in->end, in->cap - in->end, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return 0;
	in->end += (size_t)r;
	return (size_t)r;
}

void kd_store_in_free(struct kd_store_in *in)
{
	free(in->buf);
	*in = (struct kd_store_in){ 0 };
}
