/* SPDX-License-Identifier: Apache-2.0 */
/* The in-memory object store: a small hash table, for unit tests of the core. */
#include <stdlib.h>
#include <string.h>

#include "fs/store.h"

struct mem_obj {
	struct mem_obj *next;
	char id[KFS_ID_MAX + 1];
	uint8_t *buf;
	size_t len;
};

#define MEM_BUCKETS 4096 /* tests reach 70 000 objects: a list made them quadratic */

struct mem_store {
	struct kfs_store ops;
	struct mem_obj *head[MEM_BUCKETS];
};

int kfs_id_check(const char *id, size_t len)
{
	if (len == 0 || len > KFS_ID_MAX || id[0] == '.')
		return kiln_err(EINVAL, "object id \"%.*s\": bad length or leading dot",
				(int)(len > KFS_ID_MAX ? KFS_ID_MAX : len), id);
	for (size_t i = 0; i < len; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return kiln_err(EINVAL, "object id: byte 0x%02x at %zu not allowed",
					(unsigned char)c, i);
	}
	return 0;
}

static struct mem_obj **mem_find(struct mem_store *m, const char *id)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const char *c = id; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	struct mem_obj **p = &m->head[h % MEM_BUCKETS];

	while (*p && strcmp((*p)->id, id))
		p = &(*p)->next;
	return p;
}

static int mem_get(struct kfs_store *s, const char *id, uint8_t **buf, size_t *len)
{
	struct mem_obj *o = *mem_find((struct mem_store *)s, id);

	if (!o)
		return kiln_err(ENOENT, "object %s: missing", id);
	*buf = malloc(o->len ? o->len : 1);
	if (!*buf)
		return kiln_err(ENOMEM, "object %s: out of memory", id);
	memcpy(*buf, o->buf, o->len);
	*len = o->len;
	return 0;
}

static int mem_put(struct kfs_store *s, const char *id, const void *buf, size_t len, unsigned flags)
{
	struct mem_store *m = (struct mem_store *)s;
	struct mem_obj **p = mem_find(m, id), *o = *p;
	uint8_t *copy;
	int rc = kfs_id_check(id, strlen(id));

	if (rc < 0)
		return rc;
	copy = malloc(len ? len : 1);
	if (!copy)
		return kiln_err(ENOMEM, "object %s: out of memory", id);
	memcpy(copy, buf, len);
	if (!o) {
		o = calloc(1, sizeof(*o));
		if (!o) {
			free(copy);
			return kiln_err(ENOMEM, "object %s: out of memory", id);
		}
		strcpy(o->id, id);
		*p = o; /* p is the empty end of the id's bucket */
	}
	free(o->buf);
	o->buf = copy;
	o->len = len;
	return 0;
}

static int mem_del(struct kfs_store *s, const char *id)
{
	struct mem_obj **p = mem_find((struct mem_store *)s, id), *o = *p;

	if (o) {
		*p = o->next;
		free(o->buf);
		free(o);
	}
	return 0;
}

static int mem_sync(struct kfs_store *s)
{
	return 0;
}

static void mem_close(struct kfs_store *s)
{
	struct mem_store *m = (struct mem_store *)s;

	for (size_t b = 0; b < MEM_BUCKETS; b++)
		while (m->head[b]) {
			struct mem_obj *o = m->head[b];
			m->head[b] = o->next;
			free(o->buf);
			free(o);
		}
	free(m);
}

int kfs_store_mem(struct kfs_store **out)
{
	struct mem_store *m = calloc(1, sizeof(*m));

	if (!m)
		return kiln_err(ENOMEM, "memory store: out of memory");
	m->ops = (struct kfs_store){ mem_get, mem_put, mem_del, mem_sync, mem_close, NULL, NULL };
	*out = &m->ops;
	return 0;
}

int kfs_store_mem_raw(struct kfs_store *s, const char *id, uint8_t **buf, size_t **len)
{
	struct mem_obj *o = *mem_find((struct mem_store *)s, id);

	if (!o)
		return kiln_err(ENOENT, "object %s: missing", id);
	*buf = o->buf;
	*len = &o->len;
	return 0;
}
