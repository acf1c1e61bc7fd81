/* SPDX-License-Identifier: Apache-2.0 */
/* A plain volume's inode table: slots with generations, names, host keys for hard links, trimming. */
#include "fs/plain_nodes.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/plain_wire.h"

#define GEN_MAX 0x7fffffffu /* bit 63 of an inode number marks readdir's unknown entries */

static uint64_t ino_of(const struct pn_table *t, uint32_t slot)
{
	return (uint64_t)t->n[slot].gen << 32 | (slot + 1);
}

struct pn_node *pn_get(struct pn_table *t, uint64_t ino)
{
	uint32_t slot = (uint32_t)ino - 1, gen = (uint32_t)(ino >> 32);

	if ((uint32_t)ino == 0 || slot >= t->nn || t->n[slot].gen != gen || !t->n[slot].type)
		return NULL;
	return &t->n[slot];
}

static struct pn_name **name_bucket(struct pn_table *t, uint64_t parent, const char *name)
{
	uint64_t h = parent * 0x9E3779B97F4A7C15ull;

	for (const char *c = name; *c; c++)
		h = (h ^ (uint8_t)*c) * 0x100000001B3ull;
	return &t->nhash[h % PN_BUCKETS];
}

static uint32_t *key_bucket(struct pn_table *t, uint64_t dev, uint64_t hino)
{
	return &t->khash[((dev * 0x9E3779B97F4A7C15ull) ^ hino) * 0x100000001B3ull % PN_BUCKETS];
}

static struct pn_name *name_find(struct pn_table *t, uint64_t parent, const char *name)
{
	struct pn_name *m = *name_bucket(t, parent, name);

	while (m && (m->parent != parent || strcmp(m->name, name)))
		m = m->hnext;
	return m;
}

uint64_t pn_find(struct pn_table *t, uint64_t parent, const char *name)
{
	struct pn_name *m = name_find(t, parent, name);

	return m ? m->ino : 0;
}

/* A non-directory node of this type known by the host's key, else 0. */
static uint64_t key_find(struct pn_table *t, uint32_t type, uint64_t dev, uint64_t hino)
{
	for (uint32_t s = *key_bucket(t, dev, hino); s; s = t->n[s - 1].knext) {
		struct pn_node *x = &t->n[s - 1];
		if (x->dev == dev && x->hino == hino && x->type == type)
			return ino_of(t, s - 1);
	}
	return 0;
}

static void key_del(struct pn_table *t, uint32_t slot)
{
	struct pn_node *x = &t->n[slot];
	uint32_t *l = key_bucket(t, x->dev, x->hino);

	while (*l && *l != slot + 1)
		l = &t->n[*l - 1].knext;
	if (*l)
		*l = x->knext;
	x->keyed = false;
}

/* Unhook name m from the hash and its node's list, and free it. */
static void name_del(struct pn_table *t, struct pn_name *m)
{
	struct pn_name **l = name_bucket(t, m->parent, m->name);
	struct pn_node *x = pn_get(t, m->ino), *dir = pn_get(t, m->parent);

	while (*l != m)
		l = &(*l)->hnext;
	*l = m->hnext;
	if (x) {
		for (l = &x->names; *l && *l != m; l = &(*l)->nnext)
			;
		if (*l)
			*l = m->nnext;
	}
	if (dir && dir->children)
		dir->children--;
	t->names--;
	free(m->name);
	free(m);
}

static void slot_free(struct pn_table *t, uint32_t slot)
{
	struct pn_node *x = &t->n[slot];

	while (x->names)
		name_del(t, x->names);
	if (x->keyed)
		key_del(t, slot);
	x->type = 0;
	x->gen = x->gen >= GEN_MAX ? 1 : x->gen + 1;
	x->free_next = t->free_head;
	t->free_head = slot + 1;
	t->live--;
}

/* A handle with no opens is a file made by mknod, kept for its first open: held too. */
static bool held(const struct pn_node *x)
{
	return x->opens || x->nlookup || x->children || x->handle;
}

void pn_collect(struct pn_table *t, uint64_t ino)
{
	struct pn_node *x = pn_get(t, ino);

	if (x && ino != KFS_ROOT_INO && !x->names && !held(x))
		slot_free(t, (uint32_t)ino - 1);
}

/* The table is full: free up to an eighth of it, never keep nor a held node; 0 if any went. */
static int trim(struct pn_table *t, uint64_t keep)
{
	size_t want = t->max / 8 ? t->max / 8 : 1, gone = 0;

	for (size_t i = 0; i < t->nn && gone < want; i++) {
		uint32_t s = t->hand;
		t->hand = (uint32_t)((t->hand + 1) % t->nn);
		if (s == 0 || !t->n[s].type || held(&t->n[s]) || ino_of(t, s) == keep)
			continue;
		slot_free(t, s);
		gone++;
	}
	return gone ? 0 : kiln_err(ENFILE, "plain volume: more than %zu files in use", t->max);
}

/* Room for one more node and name (a lying host can give one node any number of names). */
static int room(struct pn_table *t, uint64_t keep)
{
	if (t->live < t->max && t->names < t->max)
		return 0;
	return trim(t, keep) < 0 || t->names >= t->max ? -ENFILE : 0;
}

static int slot_new(struct pn_table *t, uint32_t type, uint64_t keep, uint32_t *slot)
{
	if (room(t, keep) < 0)
		return -ENFILE;
	if (t->free_head) {
		*slot = t->free_head - 1;
		t->free_head = t->n[*slot].free_next;
	} else {
		if (t->nn == t->cap) {
			size_t cap = t->cap * 2 < t->max ? t->cap * 2 : t->max;
			struct pn_node *n = realloc(t->n, cap * sizeof(*n));
			if (!n)
				return kiln_err(ENOMEM, "plain volume: out of memory");
			t->n = n;
			t->cap = cap;
		}
		*slot = (uint32_t)t->nn++;
		t->n[*slot].gen = 0; /* a slot's first inode number is small: slot + 1 */
	}
	t->n[*slot] = (struct pn_node){ .gen = t->n[*slot].gen, .type = type };
	t->live++;
	return 0;
}

/* parent/name as ino's first name (parent/name is not in the table). */
static int name_add(struct pn_table *t, uint64_t parent, const char *name, uint64_t ino)
{
	struct pn_name *m = calloc(1, sizeof(*m));
	struct pn_node *x = pn_get(t, ino), *dir = pn_get(t, parent);
	struct pn_name **b = name_bucket(t, parent, name);

	if (!m || !(m->name = strdup(name))) {
		free(m);
		return kiln_err(ENOMEM, "plain volume: out of memory");
	}
	m->parent = parent;
	m->ino = ino;
	m->hnext = *b;
	*b = m;
	m->nnext = x->names;
	x->names = m;
	if (dir)
		dir->children++;
	t->names++;
	return 0;
}

int pn_init(struct pn_table *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->max = max < 2 ? 2 : max;
	t->cap = t->max < 1024 ? t->max : 1024;
	t->n = calloc(t->cap, sizeof(*t->n));
	if (!t->n)
		return kiln_err(ENOMEM, "plain volume: out of memory");
	t->n[0] = (struct pn_node){ .gen = 0, .type = S_IFDIR };
	t->nn = t->live = 1;
	return 0;
}

void pn_free(struct pn_table *t)
{
	for (uint32_t s = 0; s < t->nn; s++)
		while (t->n[s].type && t->n[s].names)
			name_del(t, t->n[s].names);
	free(t->n);
	t->n = NULL;
}

/* The node the host's answer names: by name for a directory, by key for any other file. */
static int node_for(struct pn_table *t, struct pn_name *m, uint64_t parent, uint32_t type,
		    uint64_t dev, uint64_t hino, uint64_t *ino)
{
	struct pn_node *cur = m ? pn_get(t, m->ino) : NULL;
	uint32_t s = 0;
	int rc;

	*ino = type == S_IFDIR ? (cur && cur->type == S_IFDIR ? m->ino : 0) : key_find(t, type, dev, hino);
	if (*ino)
		return 0;
	rc = slot_new(t, type, parent, &s);
	if (rc < 0)
		return rc;
	*ino = ino_of(t, s);
	if (type != S_IFDIR) {
		uint32_t *b = key_bucket(t, dev, hino);
		t->n[s].dev = dev;
		t->n[s].hino = hino;
		t->n[s].keyed = true;
		t->n[s].knext = *b;
		*b = s + 1;
	}
	return 0;
}

int pn_resolve(struct pn_table *t, uint64_t parent, const char *name, uint32_t type, uint64_t dev,
	       uint64_t hino, uint64_t *ino)
{
	uint64_t old = 0;
	struct pn_name *m = name_find(t, parent, name);
	int rc = m ? 0 : room(t, parent); /* a new name */

	if (rc == 0)
		rc = node_for(t, m, parent, type, dev, hino, ino);
	if (rc < 0)
		return rc;
	m = name_find(t, parent, name); /* again: trimming may have taken it */
	if (m && m->ino == *ino && pn_get(t, *ino)->names == m)
		return 0;
	if (m) {
		old = m->ino;
		name_del(t, m);
	}
	rc = name_add(t, parent, name, *ino);
	if (old != *ino)
		pn_collect(t, old);
	if (rc < 0)
		pn_collect(t, *ino);
	return rc;
}

void pn_unname(struct pn_table *t, uint64_t parent, const char *name)
{
	struct pn_name *m = name_find(t, parent, name);
	uint64_t ino = m ? m->ino : 0;

	if (!m)
		return;
	name_del(t, m);
	pn_collect(t, ino);
}

int pn_rename(struct pn_table *t, uint64_t odir, const char *oname, uint64_t ndir, const char *nname,
	      bool exchange)
{
	struct pn_name *a = name_find(t, odir, oname), *b = name_find(t, ndir, nname);
	uint64_t ai = a ? a->ino : 0, bi = b ? b->ino : 0;
	int rc = 0;

	if (ai && ai == bi)
		return 0; /* two names of one file: rename does nothing */
	/* the nodes stay held by their names while moved: keep them from pn_collect meanwhile */
	if (ai)
		pn_get(t, ai)->opens++;
	if (bi)
		pn_get(t, bi)->opens++;
	if (a)
		name_del(t, a);
	if (b)
		name_del(t, b);
	if (ai)
		rc = name_add(t, ndir, nname, ai);
	if (bi && exchange && rc == 0)
		rc = name_add(t, odir, oname, bi);
	for (int i = 0; i < 2; i++) {
		uint64_t x = i ? bi : ai;
		if (x) {
			pn_get(t, x)->opens--;
			pn_collect(t, x);
		}
	}
	return rc;
}

int pn_path(struct pn_table *t, uint64_t ino, char out[])
{
	size_t end = KFS_PLAIN_PATH_MAX, steps = 0;
	char tmp[KFS_PLAIN_PATH_MAX + 1];

	tmp[end] = '\0';
	while (ino != KFS_ROOT_INO) {
		struct pn_node *x = pn_get(t, ino);
		size_t l;
		if (!x || !x->names || ++steps > KFS_PLAIN_PATH_MAX / 2)
			return kiln_err(ENOENT, "plain volume: inode %#llx is gone", (unsigned long long)ino);
		l = strlen(x->names->name);
		if (l + (end < KFS_PLAIN_PATH_MAX) > end)
			return kiln_err(ENAMETOOLONG, "plain volume: path too long");
		if (end < KFS_PLAIN_PATH_MAX)
			tmp[--end] = '/';
		end -= l;
		memcpy(tmp + end, x->names->name, l);
		ino = x->names->parent;
	}
	memcpy(out, tmp + end, KFS_PLAIN_PATH_MAX + 1 - end);
	return 0;
}

int pn_parent(struct pn_table *t, uint64_t ino, uint64_t *parent)
{
	struct pn_node *x = pn_get(t, ino);

	if (ino == KFS_ROOT_INO) {
		*parent = KFS_ROOT_INO;
		return 0;
	}
	if (!x || !x->names)
		return kiln_err(ENOENT, "plain volume: directory %#llx is gone", (unsigned long long)ino);
	*parent = x->names->parent;
	return 0;
}

void pn_count_lookups(struct pn_table *t)
{
	t->counted = true;
}

void pn_ref(struct pn_table *t, uint64_t ino)
{
	struct pn_node *x = pn_get(t, ino);

	if (x && t->counted)
		x->nlookup++;
}

void pn_forget(struct pn_table *t, uint64_t ino, uint64_t n)
{
	struct pn_node *x = pn_get(t, ino);

	if (!x)
		return;
	x->nlookup = n < x->nlookup ? x->nlookup - n : 0;
	pn_collect(t, ino);
}
