/* SPDX-License-Identifier: Apache-2.0 */
/* The enclave side of the storage channel: the object API as requests to kilnd. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/wire.h"

/*
 * Requests are answered in order, so several can be in flight: a batch is
 * sent whole before its replies are read, and DEL, put_send and get_send
 * do not wait for their replies at all (they are read before the next one
 * waited for, a put's answer kept for put_reap, a get's read into the
 * caller's room). While we send, unread replies stay few and small
 * (PENDING_MAX of them, then a batch of puts): they must fit in the
 * socket buffer, or the parent, blocked on a reply, would stop reading
 * while we are blocked sending. A get's reply is a block, not small: the
 * replies of gets in flight are read before any put with data is sent.
 */
#define PENDING_MAX 64
#define RING 128 /* a power of two above PENDING_MAX + KFS_PUT_AHEAD */
/*
 * A small put sent without waiting (an inode of the commit, a short
 * block) is held in the cork, up to CORK_MAX bytes, and goes with the next
 * request sent: a commit's puts and its record reach kilnd in one send,
 * one wake-up of its reader. Nothing held is ever waited for: every read
 * of a reply sends the cork first.
 */
#define CORK_MAX 4096
/*
 * Replies are read through a small buffer: a commit's answers, which
 * kilnd sends together, cost one read instead of one each. A block's
 * data goes straight into place past what the buffer already holds.
 */
#define INBUF 1024

/* What a request sent without waiting was: its reply is read accordingly. */
struct sent {
	enum { SENT_DEL, SENT_PUT, SENT_GET, SENT_POINT } kind;
	struct kfs_obj *get; /* SENT_GET: where its answer goes */
};

struct remote {
	struct kfs_store ops;
	int fd;
	/* requests sent whose replies are unread, oldest first; ngets of them gets */
	struct sent sent[RING];
	unsigned sent_at, nsent, ngets;
	/* answers to put_sends read but not reaped yet, oldest first */
	int done[RING];
	unsigned done_at, ndone;
	bool barriers, del_after; /* the parent said so in its OPEN reply */
	int point_rc; /* the answer to the commit point in flight (r_put_point) */
	size_t corked;
	uint8_t cork[CORK_MAX];
	size_t in_at, in_len; /* unread reply bytes: in[in_at, in_len) */
	uint8_t in[INBUF];
};

/* A request, after what the cork holds; hold: it may wait in the cork itself. */
static int send_req(struct remote *r, uint8_t op, uint8_t flags, const char *id, const void *data,
		    size_t len, bool hold)
{
	uint8_t hdr[3 + KFS_ID_MAX];
	size_t il = strlen(id);

	if (il > KFS_ID_MAX)
		return kiln_err(EINVAL, "object id too long");
	hdr[0] = op;
	hdr[1] = flags;
	hdr[2] = (uint8_t)il;
	memcpy(hdr + 3, id, il);
	if (hold && r->corked + 4 + 3 + il + len <= CORK_MAX) {
		r->corked += kfs_wire_frame(r->cork + r->corked, hdr, 3 + il, data, len);
		return 0;
	}
	int rc = kfs_wire_send_after(r->fd, r->cork, r->corked, hdr, 3 + il, data, len);

	r->corked = 0;
	return rc;
}

/* Before a reply is waited for: it may be a held request's. */
static int uncork(struct remote *r)
{
	int rc = r->corked ? kfs_wire_send_frames(r->fd, r->cork, r->corked) : 0;

	r->corked = 0;
	return rc;
}

/* len bytes of the replies into dst: what the buffer holds, then the socket. */
static int in_read(struct remote *r, uint8_t *dst, size_t len)
{
	size_t k = r->in_len - r->in_at < len ? r->in_len - r->in_at : len;

	memcpy(dst, r->in + r->in_at, k);
	r->in_at += k;
	dst += k;
	len -= k;
	if (len >= INBUF) /* a block: into place, not through the buffer */
		return kfs_wire_read(r->fd, dst, len);
	if (len == 0)
		return 0;
	int rc = kfs_wire_read_some(r->fd, r->in, len, INBUF, &r->in_len);

	r->in_at = 0;
	if (rc < 0) {
		r->in_len = 0;
		return rc;
	}
	memcpy(dst, r->in, len);
	r->in_at = len;
	return 0;
}

/* Read and drop len bytes of a reply nobody wants (they must leave the channel). */
static int skip(struct remote *r, size_t len)
{
	uint8_t junk[4096];
	int rc = 0;

	for (size_t k; rc == 0 && len; len -= k) {
		k = len < sizeof(junk) ? len : sizeof(junk);
		rc = in_read(r, junk, k);
	}
	return rc;
}

/* A reply's data (dlen bytes) into o: in place when o->cap says so, else into a malloc'd buffer. */
static int reply_data(struct remote *r, struct kfs_obj *o, size_t dlen)
{
	if (o->cap && dlen > o->cap) {
		o->rc = kiln_err(EMSGSIZE, "object %s: %zu bytes, more than it can be", o->id, dlen);
		return skip(r, dlen);
	}
	if (!o->cap && !(o->buf = malloc(dlen ? dlen : 1))) {
		o->rc = kiln_err(ENOMEM, "object %s: out of memory", o->id);
		return skip(r, dlen);
	}
	o->len = dlen;
	return in_read(r, o->buf, dlen);
}

/*
 * One reply, read straight into place (a 32 KiB block is not copied on
 * its way). Returns a channel failure (the connection is then useless);
 * the parent's answer for this object goes to o->rc, and for a GET (get)
 * its data to o->buf.
 */
static int recv_rep(struct remote *r, struct kfs_obj *o, bool get)
{
	/* the length and the status byte together: a body is never empty */
	uint8_t head[5];
	size_t n = 0;
	int rc = in_read(r, head, sizeof(head));

	o->rc = 0;
	if (rc == 0)
		rc = kfs_wire_len(head, &n);
	if (rc < 0)
		return rc;
	uint8_t st = head[4];
	if (st && n > 1)
		return kiln_err(EBADMSG, "storage reply: data with an error status");
	if (st)
		o->rc = kiln_err(st, "object %s: the parent's store answered: %s",
				 o->id[0] ? o->id : "(sync)", strerror(st));
	return st ? 0 : get ? reply_data(r, o, n - 1) : skip(r, n - 1);
}

/*
 * The channel failed: no reply can be trusted to be where it should, so
 * every get in flight fails now and its object is let go (the caller may
 * reuse it at once).
 */
static void fail_gets(struct remote *r, int rc)
{
	for (unsigned i = 0; i < r->nsent; i++) {
		struct sent *s = &r->sent[(r->sent_at + i) % RING];
		if (s->kind == SENT_GET) {
			s->get->rc = rc;
			*s = (struct sent){ SENT_DEL, NULL };
		}
	}
	r->ngets = 0;
}

/*
 * Read the reply of the oldest request sent without waiting: a put's
 * answer is kept, a get's goes to its object (a channel failure too).
 */
static int read_one(struct remote *r)
{
	struct sent s = r->sent[r->sent_at];
	struct kfs_obj o = { .id = s.kind == SENT_PUT	 ? "(put)"
				   : s.kind == SENT_POINT ? "(commit point)"
							  : "(delete)" };
	int rc = uncork(r);

	if (rc == 0)
		rc = recv_rep(r, s.kind == SENT_GET ? s.get : &o, s.kind == SENT_GET);

	r->sent_at = (r->sent_at + 1) % RING;
	r->nsent--;
	if (s.kind == SENT_PUT)
		r->done[(r->done_at + r->ndone++) % RING] = rc < 0 ? rc : o.rc;
	if (s.kind == SENT_POINT)
		r->point_rc = rc < 0 ? rc : o.rc;
	if (s.kind == SENT_GET) {
		r->ngets--;
		s.get->rc = rc < 0 ? rc : s.get->rc;
	}
	if (rc < 0)
		fail_gets(r, rc);
	return rc;
}

/* Read the replies up to the last get sent without waiting, before a request with data. */
static int gets_in(struct remote *r)
{
	int rc = 0;

	while (r->ngets && rc == 0)
		rc = read_one(r);
	return rc;
}

/* Read the replies of the requests sent without waiting (a failed delete only leaks). */
static int drain(struct remote *r)
{
	int rc = 0;

	while (r->nsent && rc == 0)
		rc = read_one(r);
	return rc;
}

/* Note a request sent without waiting; past PENDING_MAX unread, the oldest reply is read. */
static int sent_nowait(struct remote *r, struct sent s)
{
	int rc = 0;

	r->sent[(r->sent_at + r->nsent++) % RING] = s;
	r->ngets += s.kind == SENT_GET;
	while (r->nsent > PENDING_MAX && rc == 0)
		rc = read_one(r);
	return rc;
}

/* One round trip (the replies to requests sent before it come first); o gets the answer. */
static int call(struct remote *r, uint8_t op, uint8_t flags, struct kfs_obj *o)
{
	int rc = op == KFS_OP_PUT ? gets_in(r) : 0;

	if (rc == 0)
		rc = send_req(r, op, flags, o->id, o->buf, op == KFS_OP_PUT ? o->len : 0, false);
	if (rc == 0)
		rc = drain(r);
	if (rc == 0)
		rc = recv_rep(r, o, op == KFS_OP_GET || op == KFS_OP_OPEN);
	return rc < 0 ? rc : o->rc;
}

/* Send every request of a batch, then read every reply. */
static int batch(struct remote *r, uint8_t op, struct kfs_obj *v, size_t n)
{
	size_t sent = 0;
	int rc = n > KFS_BATCH_MAX ? kiln_err(E2BIG, "object batch of %zu", n) : 0, first = 0;

	if (rc == 0 && op == KFS_OP_PUT)
		rc = gets_in(r);
	for (; rc == 0 && sent < n; sent++)
		rc = send_req(r, op, 0, v[sent].id, op == KFS_OP_PUT ? v[sent].buf : NULL,
			      op == KFS_OP_PUT ? v[sent].len : 0, false);
	if (rc == 0)
		rc = drain(r);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && i < sent)
			rc = recv_rep(r, &v[i], op == KFS_OP_GET);
		if (rc < 0)
			v[i].rc = rc;
		if (v[i].rc < 0 && first == 0)
			first = v[i].rc;
	}
	return first;
}

static int r_get(struct kfs_store *s, const char *id, uint8_t **buf, size_t *len)
{
	struct kfs_obj o = { .id = id };
	int rc = call((struct remote *)s, KFS_OP_GET, 0, &o);

	if (rc < 0)
		free(o.buf);
	*buf = rc < 0 ? NULL : o.buf;
	*len = o.len;
	return rc;
}

static int r_put(struct kfs_store *s, const char *id, const void *buf, size_t len, unsigned flags)
{
	struct kfs_obj o = { .id = id, .buf = (uint8_t *)buf, .len = len };
	struct remote *r = (struct remote *)s;

	if ((flags & KFS_PUT_BARRIER) && !r->barriers)
		return kiln_err(EOPNOTSUPP, "object %s: the parent takes no commit points", id);
	return call(r, KFS_OP_PUT, (uint8_t)(flags & (KFS_PUT_DURABLE | KFS_PUT_BARRIER)), &o);
}

static int r_putv(struct kfs_store *s, struct kfs_obj *v, size_t n)
{
	return batch((struct remote *)s, KFS_OP_PUT, v, n);
}

static int r_getv(struct kfs_store *s, struct kfs_obj *v, size_t n)
{
	return batch((struct remote *)s, KFS_OP_GET, v, n);
}

static int r_del(struct kfs_store *s, const char *id)
{
	struct remote *r = (struct remote *)s;
	int rc = send_req(r, KFS_OP_DEL, 0, id, NULL, 0, false);

	return rc < 0 ? rc : sent_nowait(r, (struct sent){ SENT_DEL, NULL });
}

/* Room for one more request sent without waiting? */
static int room_to_send(struct remote *r, const char *id)
{
	if (r->ndone + r->nsent < RING - 1)
		return 0;
	return kiln_err(ENOBUFS, "object %s: too many requests in flight", id);
}

static int r_put_send(struct kfs_store *s, const struct kfs_obj *o)
{
	struct remote *r = (struct remote *)s;
	int rc = room_to_send(r, o->id);

	if (rc == 0)
		rc = gets_in(r);
	if (rc == 0)
		rc = send_req(r, KFS_OP_PUT, 0, o->id, o->buf, o->len, true);
	return rc < 0 ? rc : sent_nowait(r, (struct sent){ SENT_PUT, NULL });
}

static int r_get_send(struct kfs_store *s, struct kfs_obj *o)
{
	struct remote *r = (struct remote *)s;
	int rc = o->cap ? room_to_send(r, o->id)
			: kiln_err(EINVAL, "object %s: a get in flight needs its room", o->id);

	if (rc == 0)
		rc = send_req(r, KFS_OP_GET, 0, o->id, NULL, 0, false);
	if (rc < 0)
		return rc;
	o->rc = KFS_OBJ_IN_FLIGHT;
	return sent_nowait(r, (struct sent){ SENT_GET, o });
}

static int r_get_wait(struct kfs_store *s, struct kfs_obj *o)
{
	struct remote *r = (struct remote *)s;
	int rc = 0;

	while (o->rc == KFS_OBJ_IN_FLIGHT && r->nsent && rc == 0)
		rc = read_one(r);
	if (rc == 0 && o->rc == KFS_OBJ_IN_FLIGHT)
		rc = o->rc = kiln_err(EINVAL, "object %s: waited for, never sent", o->id);
	return rc;
}

static int r_put_reap(struct kfs_store *s, int *rc, size_t n)
{
	struct remote *r = (struct remote *)s;
	int crc = 0;

	while (r->ndone < n && r->nsent && crc == 0)
		crc = read_one(r);
	if (crc == 0 && r->ndone < n)
		return kiln_err(EINVAL, "reaping %zu puts, only %u sent", n, r->ndone);
	for (size_t i = 0; i < n; i++)
		rc[i] = i < r->ndone ? r->done[(r->done_at + i) % RING] : crc;
	n = n < r->ndone ? n : r->ndone;
	r->done_at = (r->done_at + (unsigned)n) % RING;
	r->ndone -= (unsigned)n;
	return crc;
}

static int r_put_point(struct kfs_store *s, const struct kfs_obj *rec, char (*dels)[KFS_ID_MAX + 1],
		       size_t ndel, bool *deleted)
{
	struct remote *r = (struct remote *)s;
	int rc = r->barriers ? room_to_send(r, rec->id)
			     : kiln_err(EOPNOTSUPP, "object %s: the parent takes no commit points", rec->id);
	size_t i = 0;

	if (rc == 0)
		rc = gets_in(r);
	if (rc == 0)
		rc = send_req(r, KFS_OP_PUT, KFS_PUT_DURABLE | KFS_PUT_BARRIER, rec->id, rec->buf,
			      rec->len, true);
	r->point_rc = KFS_OBJ_IN_FLIGHT;
	if (rc == 0)
		rc = sent_nowait(r, (struct sent){ SENT_POINT, NULL });
	/* without room for one more, the rest wait for the next commit's ordinary deletes */
	for (; rc == 0 && r->del_after && i < ndel && room_to_send(r, dels[i]) == 0; i++) {
		rc = send_req(r, KFS_OP_DEL, KFS_DEL_AFTER_POINT, dels[i], NULL, 0, true);
		if (rc == 0)
			rc = sent_nowait(r, (struct sent){ SENT_DEL, NULL });
	}
	if (rc == 0)
		kiln_err_clear(); /* a lack of room is no failure */
	bool all = r->del_after && i == ndel;
	while (rc == 0 && r->point_rc == KFS_OBJ_IN_FLIGHT && r->nsent)
		rc = read_one(r); /* sends the cork first */
	if (rc == 0 && r->point_rc == KFS_OBJ_IN_FLIGHT)
		rc = kiln_err(EPROTO, "object %s: the commit point's answer never came", rec->id);
	rc = rc < 0 ? rc : r->point_rc;
	*deleted = rc == 0 && all; /* a refused point's deletes were not done */
	return rc;
}

static bool r_barriers(struct kfs_store *s)
{
	return ((struct remote *)s)->barriers;
}

static const struct kfs_put_pipe remote_pipe = {
	.send = r_put_send, .reap = r_put_reap, .get_send = r_get_send, .get_wait = r_get_wait,
	.barriers = r_barriers, .point = r_put_point,
};

const struct kfs_put_pipe *kfs_store_put_pipe(struct kfs_store *s)
{
	return s->putv == r_putv ? &remote_pipe : NULL;
}

static int r_sync(struct kfs_store *s)
{
	struct kfs_obj o = { .id = "" };

	return call((struct remote *)s, KFS_OP_SYNC, 0, &o);
}

static void r_close(struct kfs_store *s)
{
	struct remote *r = (struct remote *)s;

	(void)drain(r); /* the parent would log a reply it could not send */
	close(r->fd);
	free(r);
}

int kfs_store_remote(int fd, const char *volume, struct kfs_store **out)
{
	struct remote *r = calloc(1, sizeof(*r));
	int rc;

	if (!r) {
		close(fd);
		return kiln_err(ENOMEM, "storage channel: out of memory");
	}
	r->ops = (struct kfs_store){ r_get, r_put, r_del, r_sync, r_close, r_putv, r_getv };
	r->fd = fd;
	struct kfs_obj o = { .id = volume };
	rc = kfs_id_check(volume, strlen(volume));
	if (rc == 0)
		rc = call(r, KFS_OP_OPEN, 0, &o);
	/* its data: the parent's features (none from an older kilnd) */
	r->barriers = rc == 0 && o.len >= 1 && (o.buf[0] & KFS_WIRE_BARRIERS);
	r->del_after = r->barriers && (o.buf[0] & KFS_WIRE_DEL_AFTER);
	free(o.buf);
	if (rc == -EMEDIUMTYPE)
		rc = kiln_err(EMEDIUMTYPE, "the parent keeps this volume as plain files (kiln run -v "
					   "HOSTDIR:/PATH:plain) but the config mounts it encrypted");
	if (rc < 0) {
		r_close(&r->ops);
		return kiln_err_wrap(rc, "volume %s", volume);
	}
	*out = &r->ops;
	return 0;
}
