/* SPDX-License-Identifier: Apache-2.0 */
/* The enclave side of the storage channel: the object API as requests to kilnd. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/wire.h"

struct remote {
	struct kfs_store ops;
	int fd;
	unsigned pending; /* DEL replies not read yet */
};

/*
 * Requests are answered in order, so several can be in flight: a batch is
 * sent whole before its replies are read, and DEL does not wait for its
 * reply at all (its answer is read before the next one waited for). While
 * we send, unread replies stay few and small (PENDING_MAX deletes and a
 * batch of puts): they must fit in the socket buffer, or the parent,
 * blocked on a reply, would stop reading while we are blocked sending.
 */
#define PENDING_MAX 32

static int send_req(struct remote *r, uint8_t op, uint8_t flags, const char *id, const void *data,
		    size_t len)
{
	uint8_t hdr[3 + KFS_ID_MAX];
	size_t il = strlen(id);

	if (il > KFS_ID_MAX)
		return kiln_err(EINVAL, "object id too long");
	hdr[0] = op;
	hdr[1] = flags;
	hdr[2] = (uint8_t)il;
	memcpy(hdr + 3, id, il);
	return kfs_wire_send(r->fd, hdr, 3 + il, data, len);
}

/*
 * One reply. Returns a channel failure (the connection is then useless);
 * the parent's answer for this object goes to *st_rc. *out (when given)
 * receives the reply data (malloc'd).
 */
static int recv_rep(struct remote *r, const char *id, int *st_rc, uint8_t **out, size_t *olen)
{
	uint8_t *rep = NULL, st;
	size_t rlen = 0, dlen;
	const uint8_t *d;
	int rc = kfs_wire_recv(r->fd, &rep, &rlen);

	if (rc == 0)
		rc = kfs_wire_rep_decode(rep, rlen, &st, &d, &dlen);
	*st_rc = 0;
	if (rc == 0 && st)
		*st_rc = kiln_err(st, "object %s: the parent's store answered: %s",
				  id[0] ? id : "(sync)", strerror(st));
	if (rc == 0 && !st && out) {
		*out = malloc(dlen ? dlen : 1);
		if (!*out)
			*st_rc = kiln_err(ENOMEM, "object %s: out of memory", id);
		else
			memcpy(*out, d, dlen);
		*olen = dlen;
	}
	free(rep);
	return rc;
}

/* Read the replies of the deletes sent without waiting (a failed delete only leaks). */
static int drain(struct remote *r)
{
	int st, rc = 0;

	for (; r->pending && rc == 0; r->pending--)
		rc = recv_rep(r, "(delete)", &st, NULL, NULL);
	return rc;
}

/* One round trip (the replies to deletes sent before it come first). */
static int call(struct remote *r, uint8_t op, uint8_t flags, const char *id, const void *data,
		size_t len, uint8_t **out, size_t *olen)
{
	int rc = send_req(r, op, flags, id, data, len), st = 0;

	if (rc == 0)
		rc = drain(r);
	if (rc == 0)
		rc = recv_rep(r, id, &st, out, olen);
	return rc < 0 ? rc : st;
}

/* Send every request of a batch, then read every reply. */
static int batch(struct remote *r, uint8_t op, struct kfs_obj *v, size_t n)
{
	size_t sent = 0;
	int rc = n > KFS_BATCH_MAX ? kiln_err(E2BIG, "object batch of %zu", n) : 0, first = 0;

	for (; rc == 0 && sent < n; sent++)
		rc = send_req(r, op, 0, v[sent].id, op == KFS_OP_PUT ? v[sent].buf : NULL,
			      op == KFS_OP_PUT ? v[sent].len : 0);
	if (rc == 0)
		rc = drain(r);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && i < sent)
			rc = recv_rep(r, v[i].id, &v[i].rc, op == KFS_OP_GET ? &v[i].buf : NULL,
				      &v[i].len);
		if (rc < 0)
			v[i].rc = rc;
		if (v[i].rc < 0 && first == 0)
			first = v[i].rc;
	}
	return first;
}

static int r_get(struct kfs_store *s, const char *id, uint8_t **buf, size_t *len)
{
	return call((struct remote *)s, KFS_OP_GET, 0, id, NULL, 0, buf, len);
}

static int r_put(struct kfs_store *s, const char *id, const void *buf, size_t len, unsigned flags)
{
	return call((struct remote *)s, KFS_OP_PUT, (uint8_t)(flags & KFS_PUT_DURABLE), id, buf, len,
		    NULL, NULL);
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
	int rc = r->pending >= PENDING_MAX ? drain(r) : 0;

	if (rc == 0)
		rc = send_req(r, KFS_OP_DEL, 0, id, NULL, 0);
	if (rc == 0)
		r->pending++;
	return rc;
}

static int r_sync(struct kfs_store *s)
{
	return call((struct remote *)s, KFS_OP_SYNC, 0, "", NULL, 0, NULL, NULL);
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
	rc = kfs_id_check(volume, strlen(volume));
	if (rc == 0)
		rc = call(r, KFS_OP_OPEN, 0, volume, NULL, 0, NULL, NULL);
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
