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
};

/* One round trip; *out (when given) receives the reply data (malloc'd). */
static int call(struct remote *r, uint8_t op, uint8_t flags, const char *id, const void *data,
		size_t len, uint8_t **out, size_t *olen)
{
	uint8_t hdr[3 + KFS_ID_MAX], *rep = NULL, st;
	size_t il = strlen(id), rlen = 0, dlen;
	const uint8_t *d;
	int rc;

	if (il > KFS_ID_MAX)
		return kiln_err(EINVAL, "object id too long");
	hdr[0] = op;
	hdr[1] = flags;
	hdr[2] = (uint8_t)il;
	memcpy(hdr + 3, id, il);
	rc = kfs_wire_send(r->fd, hdr, 3 + il, data, len);
	if (rc == 0)
		rc = kfs_wire_recv(r->fd, &rep, &rlen);
	if (rc == 0)
		rc = kfs_wire_rep_decode(rep, rlen, &st, &d, &dlen);
	if (rc == 0 && st)
		rc = kiln_err(st, "object %s: the parent's store answered: %s", id[0] ? id : "(sync)",
			      strerror(st));
	if (rc == 0 && out) {
		*out = malloc(dlen ? dlen : 1);
		if (!*out)
			rc = kiln_err(ENOMEM, "object %s: out of memory", id);
		else
			memcpy(*out, d, dlen);
		*olen = dlen;
	}
	free(rep);
	return rc;
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

static int r_del(struct kfs_store *s, const char *id)
{
	return call((struct remote *)s, KFS_OP_DEL, 0, id, NULL, 0, NULL, NULL);
}

static int r_sync(struct kfs_store *s)
{
	return call((struct remote *)s, KFS_OP_SYNC, 0, "", NULL, 0, NULL, NULL);
}

static void r_close(struct kfs_store *s)
{
	struct remote *r = (struct remote *)s;

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
	r->ops = (struct kfs_store){ r_get, r_put, r_del, r_sync, r_close };
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
