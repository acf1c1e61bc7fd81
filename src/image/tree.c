/* SPDX-License-Identifier: Apache-2.0 */
/* The flattened filesystem tree: layer entries, whiteouts, sorted walk. */
/*
 * How this works. Every path is a node with a parent, a doubly linked list
 * of children and a name; a seeded hash of (parent, name) finds children in
 * O(1), so a directory with 100k entries costs no more than 100k entries
 * spread out. Nodes hold metadata only; a regular file's bytes live in the
 * layer blob itself (uncompressed layers) or in the staging file, and nodes
 * point at a shared, refcounted extent (fd, offset, size), which is
 * what makes hardlinks survive the deletion of their first path.
 *
 * Entry paths are cleaned lexically (a ".." that leaves the root is an
 * error), then every directory component is resolved in the tree, following
 * symlinks the way a container runtime does: absolute targets start at the
 * image root, and a ".." above the root is an error rather than clamped.
 * The last component is never followed. Missing parents become 0755 dirs.
 *
 * Layers are stamped: `explicit_layer` says which layer's entry set a node,
 * `touched_layer` which layer last set it or anything below it. Duplicates
 * within a layer are explicit==current; opaque dirs and whiteouts only drop
 * nodes with touched < current, so same-layer entries survive whatever
 * their order within the layer.
 */
#include "image/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "util/cleanup.h"

struct img_data {
	int fd;              /* the staging file or a layer blob; the image owns it */
	uint64_t off, size;
	uint32_t refs;       /* live paths sharing these bytes */
	uint64_t group;      /* link_group during a walk, 0 until assigned */
	struct node *last;   /* last path of the group in sorted order */
};

struct node {
	struct node *parent, *first, *next, *prev; /* tree */
	struct node *hnext;                        /* hash chain */
	uint64_t hash;
	uint32_t mode, uid, gid;
	unsigned explicit_layer, touched_layer;
	uint16_t depth, pathlen, namelen;
	char *target;                /* symlinks */
	struct img_data *data;       /* regular files */
	uint32_t rdev_major, rdev_minor; /* char and block devices */
	size_t n_xattrs;
	struct kiln_xattr *xattrs;
	char name[];
};

struct img_tree {
	struct node *root;
	struct node **buckets;
	size_t nbuckets, count;
	uint64_t seed;
	unsigned layer;
};

/* ---- hash of (parent, name) ---- */

static uint64_t hash_of(const struct img_tree *t, const struct node *parent, const char *name,
			size_t len)
{
	uint64_t h = t->seed ^ ((uint64_t)(uintptr_t)parent * 0x9e3779b97f4a7c15ull);

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

static struct node *lookup(const struct img_tree *t, const struct node *parent, const char *name,
			   size_t len)
{
	uint64_t h = hash_of(t, parent, name, len);

	for (struct node *n = t->buckets[h & (t->nbuckets - 1)]; n; n = n->hnext)
		if (n->hash == h && n->parent == parent && n->namelen == len &&
		    memcmp(n->name, name, len) == 0)
			return n;
	return NULL;
}

static int grow(struct img_tree *t)
{
	size_t nb = t->nbuckets * 2;
	struct node **b = calloc(nb, sizeof(*b));

	if (!b)
		return kiln_err(ENOMEM, "out of memory");
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct node *n = t->buckets[i], *next;

		for (; n; n = next) {
			next = n->hnext;
			n->hnext = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
	return 0;
}

static void hash_remove(struct img_tree *t, struct node *n)
{
	struct node **pp = &t->buckets[n->hash & (t->nbuckets - 1)];

	while (*pp != n)
		pp = &(*pp)->hnext;
	*pp = n->hnext;
}

/* ---- node lifetime ---- */

static void xattrs_free(struct kiln_xattr *x, size_t n)
{
	for (size_t i = 0; x && i < n; i++) {
		free(x[i].name);
		free(x[i].value);
	}
	free(x);
}

static int xattrs_dup(const struct kiln_xattr *x, size_t n, struct kiln_xattr **out)
{
	struct kiln_xattr *c = calloc(n ? n : 1, sizeof(*c));

	if (!c)
		return kiln_err(ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		c[i].name = strdup(x[i].name);
		c[i].value = malloc(x[i].len ? x[i].len : 1);
		c[i].len = x[i].len;
		if (!c[i].name || !c[i].value) {
			xattrs_free(c, i + 1);
			return kiln_err(ENOMEM, "out of memory");
		}
		memcpy(c[i].value, x[i].value, x[i].len);
	}
	*out = c;
	return 0;
}

static void data_put(struct img_data *d)
{
	if (d && --d->refs == 0)
		free(d);
}

/* Forget what a node is (content, target, xattrs), keep its place. */
static void node_clear(struct node *n)
{
	data_put(n->data);
	n->data = NULL;
	free(n->target);
	n->target = NULL;
	xattrs_free(n->xattrs, n->n_xattrs);
	n->xattrs = NULL;
	n->n_xattrs = 0;
}

static void node_drop(struct img_tree *t, struct node *n)
{
	while (n->first)
		node_drop(t, n->first);
	if (n->prev)
		n->prev->next = n->next;
	else if (n->parent)
		n->parent->first = n->next;
	if (n->next)
		n->next->prev = n->prev;
	if (n->parent) {
		hash_remove(t, n);
		t->count--;
	}
	node_clear(n);
	free(n);
}

/* A new child of parent, a 0755 root:root directory until told otherwise. */
static int node_new(struct img_tree *t, struct node *parent, const char *name, size_t len,
		    struct node **out)
{
	size_t pathlen = (parent->pathlen ? parent->pathlen + 1u : 0u) + len;
	struct node *n;
	int rc;

	if (len > IMG_NAME_MAX)
		return kiln_err(ENAMETOOLONG, "path component too long");
	if (parent->depth + 1 > IMG_DEPTH_MAX)
		return kiln_err(ELOOP, "path too deep (more than %d components)", IMG_DEPTH_MAX);
	if (pathlen > IMG_PATH_MAX)
		return kiln_err(ENAMETOOLONG, "path too long");
	if (t->count >= IMG_NODES_MAX)
		return kiln_err(EFBIG, "too many entries (limit %d)", IMG_NODES_MAX);
	if (t->count >= t->nbuckets && (rc = grow(t)) < 0)
		return rc;
	n = calloc(1, sizeof(*n) + len + 1);
	if (!n)
		return kiln_err(ENOMEM, "out of memory");
	memcpy(n->name, name, len);
	n->namelen = (uint16_t)len;
	n->depth = (uint16_t)(parent->depth + 1);
	n->pathlen = (uint16_t)pathlen;
	n->mode = S_IFDIR | 0755;
	n->parent = parent;
	n->next = parent->first;
	if (n->next)
		n->next->prev = n;
	parent->first = n;
	n->hash = hash_of(t, parent, name, len);
	n->hnext = t->buckets[n->hash & (t->nbuckets - 1)];
	t->buckets[n->hash & (t->nbuckets - 1)] = n;
	t->count++;
	*out = n;
	return 0;
}

int img_tree_new(struct img_tree **out)
{
	struct img_tree *t = calloc(1, sizeof(*t));

	if (!t)
		return kiln_err(ENOMEM, "out of memory");
	t->nbuckets = 1024;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	t->root = calloc(1, sizeof(*t->root) + 1);
	if (!t->buckets || !t->root) {
		img_tree_free(t);
		return kiln_err(ENOMEM, "out of memory");
	}
	t->root->mode = S_IFDIR | 0755;
	if (getrandom(&t->seed, sizeof(t->seed), 0) != sizeof(t->seed))
		t->seed = (uint64_t)(uintptr_t)t;
	*out = t;
	return 0;
}

void img_tree_free(struct img_tree *t)
{
	if (!t)
		return;
	if (t->root)
		node_drop(t, t->root);
	free(t->buckets);
	free(t);
}

void img_tree_layer(struct img_tree *t, unsigned layer)
{
	t->layer = layer;
}

/* ---- paths ---- */

/*
 * Clean an archive path lexically into out: drop "./", "." and empty
 * components, apply ".." (leaving the root is an error), and reject
 * absolute paths. The result has no leading or trailing '/', "" is the root.
 */
static int clean_path(const char *in, char out[IMG_PATH_MAX + 1])
{
	size_t stack[IMG_DEPTH_MAX + 1], depth = 0, len = 0;
	const char *p = in;

	while (p[0] == '.' && p[1] == '/')
		p += 2;
	if (p[0] == '/')
		return kiln_err(EPERM, "absolute path");
	if (strlen(p) > IMG_PATH_MAX)
		return kiln_err(ENAMETOOLONG, "path too long");
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (depth == 0)
				return kiln_err(EPERM, "path escapes root");
			len = stack[--depth];
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (depth == IMG_DEPTH_MAX)
				return kiln_err(ELOOP, "path too deep (more than %d components)",
						IMG_DEPTH_MAX);
			stack[depth++] = len;
			if (len)
				out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	out[len] = '\0';
	return 0;
}

/* Split a cleaned, non-empty path into its directory part and last name. */
static const char *split_last(char *path)
{
	char *slash = strrchr(path, '/');

	if (!slash)
		return NULL;
	*slash = '\0';
	return slash + 1;
}

static int resolve_dir(struct img_tree *t, struct node *cur, const char *p, bool create,
		       bool via_link, int *hops, struct node **out);

static int follow(struct img_tree *t, struct node *dir, struct node *link, bool create,
		  int *hops, struct node **out)
{
	if (++*hops > IMG_SYMLINK_HOPS)
		return kiln_err(ELOOP, "too many levels of symbolic links");
	return resolve_dir(t, dir, link->target, create, true, hops, out);
}

/*
 * Resolve p (relative to cur, or to the root when absolute) as a directory,
 * following every symlink. With create, missing components become dirs.
 */
static int resolve_dir(struct img_tree *t, struct node *cur, const char *p, bool create,
		       bool via_link, int *hops, struct node **out)
{
	int rc;

	if (*p == '/')
		cur = t->root;
	while (*p) {
		size_t n = strcspn(p, "/");
		struct node *c;

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (cur == t->root)
				return kiln_err(EPERM, via_link ? "path escapes root via symlink"
							       : "path escapes root");
			cur = cur->parent;
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			c = lookup(t, cur, p, n);
			if (!c && !create)
				return kiln_err(ENOENT, "%.*s: no such directory", (int)n, p);
			if (!c && (rc = node_new(t, cur, p, n, &c)) < 0)
				return rc;
			if (S_ISLNK(c->mode) && (rc = follow(t, cur, c, create, hops, &c)) < 0)
				return rc;
			if (!S_ISDIR(c->mode))
				return kiln_err(ENOTDIR, "%.*s: not a directory", (int)n, p);
			cur = c;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	*out = cur;
	return 0;
}

/* Resolve a cleaned path's parent directory and hand back the last name. */
static int resolve_parent(struct img_tree *t, char *clean, bool create, struct node **dir,
			  const char **name)
{
	const char *last = split_last(clean);
	int hops = 0;

	if (!last) {
		*name = clean;
		*dir = t->root;
		return 0;
	}
	*name = last;
	return resolve_dir(t, t->root, clean, create, false, &hops, dir);
}

static void mark_touched(struct img_tree *t, struct node *n)
{
	for (; n && n->touched_layer != t->layer; n = n->parent)
		n->touched_layer = t->layer;
}

/* ---- whiteouts ---- */

/* Drop everything below dir that no entry of the current layer put there. */
static void prune_lower(struct img_tree *t, struct node *dir)
{
	struct node *c = dir->first, *next;

	for (; c; c = next) {
		next = c->next;
		if (c->touched_layer != t->layer)
			node_drop(t, c);
		else if (S_ISDIR(c->mode))
			prune_lower(t, c);
	}
}

static int whiteout(struct img_tree *t, struct node *dir, const char *wh)
{
	const char *name = wh + 4;
	struct node *n;

	if (strcmp(name, ".wh..opq") == 0) {
		prune_lower(t, dir);
		return 0;
	}
	if (strncmp(name, ".wh.", 4) == 0)
		return 0; /* other AUFS metadata (.wh..wh.plnk ...): nothing to apply */
	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return kiln_err(EINVAL, "invalid whiteout name");
	n = lookup(t, dir, name, strlen(name));
	if (!n)
		return 0;
	if (n->touched_layer == t->layer)
		prune_lower(t, n); /* same-layer entries stay; lower ones go */
	else
		node_drop(t, n);
	return 0;
}

static int apply_whiteout(struct img_tree *t, char *clean)
{
	struct node *dir;
	const char *name;
	int rc = resolve_parent(t, clean, false, &dir, &name);

	if (rc == -ENOENT || rc == -ENOTDIR)
		return 0; /* nothing below a missing directory to delete */
	if (rc < 0)
		return rc;
	return whiteout(t, dir, name);
}

/* ---- entries ---- */

/* Everything a new node will own, gathered before the tree changes. */
struct prep {
	uint32_t mode, uid, gid;
	uint32_t rdev_major, rdev_minor;
	struct img_data *data;
	char *target;
	struct kiln_xattr *xattrs;
	size_t n_xattrs;
};

static void prep_free(struct prep *p)
{
	data_put(p->data);
	free(p->target);
	xattrs_free(p->xattrs, p->n_xattrs);
}

/* A hardlink shares its target's inode: metadata, bytes and xattrs. */
static int prep_link(struct img_tree *t, const char *target, struct prep *p)
{
	char clean[IMG_PATH_MAX + 1];
	struct node *dir, *src = NULL;
	const char *name;
	int rc = clean_path(target, clean);

	if (rc < 0)
		return kiln_err_wrap(rc, "hardlink target %.200s", target);
	if (!*clean)
		return kiln_err(EPERM, "hardlink to the root directory");
	rc = resolve_parent(t, clean, false, &dir, &name);
	if (rc == -EPERM || rc == -ELOOP)
		return kiln_err_wrap(rc, "hardlink target %.200s", target);
	if (rc == 0)
		src = lookup(t, dir, name, strlen(name));
	if (!src)
		return kiln_err(ENOENT, "hardlink target %.200s not found", target);
	if (S_ISDIR(src->mode))
		return kiln_err(EPERM, "hardlink target %.200s is a directory", target);
	*p = (struct prep){ .mode = src->mode, .uid = src->uid, .gid = src->gid,
			    .rdev_major = src->rdev_major, .rdev_minor = src->rdev_minor };
	if (src->target && !(p->target = strdup(src->target)))
		return kiln_err(ENOMEM, "out of memory");
	rc = xattrs_dup(src->xattrs, src->n_xattrs, &p->xattrs);
	if (rc < 0)
		return rc;
	p->n_xattrs = src->n_xattrs;
	p->data = src->data;
	if (p->data)
		p->data->refs++;
	return 0;
}

static int prep_entry(struct img_entry *e, struct prep *p)
{
	*p = (struct prep){ .mode = e->mode, .uid = e->uid, .gid = e->gid,
			    .rdev_major = e->rdev_major, .rdev_minor = e->rdev_minor };
	if (S_ISREG(e->mode)) {
		p->data = calloc(1, sizeof(*p->data));
		if (!p->data)
			return kiln_err(ENOMEM, "out of memory");
		*p->data = (struct img_data){ .fd = e->data_fd, .off = e->data_off,
					      .size = e->size, .refs = 1 };
	}
	if (S_ISLNK(e->mode) && !(p->target = strdup(e->link_target)))
		return kiln_err(ENOMEM, "out of memory");
	p->xattrs = KILN_STEAL_PTR(e->xattrs);
	p->n_xattrs = e->n_xattrs;
	return 0;
}

static void node_take(struct img_tree *t, struct node *n, struct prep *p)
{
	node_clear(n);
	n->mode = p->mode;
	n->uid = p->uid;
	n->gid = p->gid;
	n->rdev_major = p->rdev_major;
	n->rdev_minor = p->rdev_minor;
	n->data = KILN_STEAL_PTR(p->data);
	n->target = KILN_STEAL_PTR(p->target);
	n->xattrs = KILN_STEAL_PTR(p->xattrs);
	n->n_xattrs = p->n_xattrs;
	p->n_xattrs = 0;
	n->explicit_layer = t->layer;
	mark_touched(t, n);
}

/* Put p at dir/name: a dir over a dir updates it, anything else replaces. */
static int place(struct img_tree *t, struct node *dir, const char *name, struct prep *p)
{
	size_t len = strlen(name);
	struct node *n = lookup(t, dir, name, len);
	int rc;

	if (n && n->explicit_layer == t->layer)
		return kiln_err(EEXIST, "duplicate entry in one layer");
	if (!(n && S_ISDIR(n->mode) && S_ISDIR(p->mode))) {
		if (n)
			node_drop(t, n);
		rc = node_new(t, dir, name, len, &n);
		if (rc < 0)
			return rc;
	}
	node_take(t, n, p);
	return 0;
}

static const char *last_name(const char *clean)
{
	const char *slash = strrchr(clean, '/');

	return slash ? slash + 1 : clean;
}

int img_tree_apply(struct img_tree *t, struct img_entry *e)
{
	char clean[IMG_PATH_MAX + 1];
	struct prep p = { 0 };
	struct node *dir;
	const char *name;
	int rc = clean_path(e->path, clean);

	if (rc < 0)
		return rc;
	if (!*clean)
		return S_ISDIR(e->mode) && !e->hardlink ? 0
							: kiln_err(EPERM, "entry replaces the root");
	if (strncmp(last_name(clean), ".wh.", 4) == 0)
		return apply_whiteout(t, clean);
	rc = e->hardlink ? prep_link(t, e->hardlink, &p) : prep_entry(e, &p);
	if (rc == 0)
		rc = resolve_parent(t, clean, true, &dir, &name);
	if (rc == 0) {
		mark_touched(t, dir);
		rc = place(t, dir, name, &p);
	}
	prep_free(&p);
	return rc;
}

/* ---- reading the tree ---- */

int img_tree_lookup_data(struct img_tree *t, const char *path, int *fd, uint64_t *off,
			 uint64_t *size)
{
	struct node *n = t->root;
	const char *p = path;

	while (n && *p) {
		size_t len = strcspn(p, "/");

		n = lookup(t, n, p, len);
		p += len;
		if (*p == '/')
			p++;
	}
	if (!n || !n->data)
		return kiln_err(ENOENT, "%s: no such regular file in the image", path);
	*fd = n->data->fd;
	*off = n->data->off;
	*size = n->data->size;
	return 0;
}

/*
 * Bytewise order of whole paths is not plain DFS order ("a", "a-b", "a/c"):
 * each directory child is an event "name" (the path itself) plus an event
 * "name/" (its subtree), and sorting the events of one directory bytewise
 * yields the global order without ever building all paths at once.
 */
struct event {
	const struct node *n;
	bool descend;
};

static int char_at(const struct event *e, size_t i)
{
	if (i < e->n->namelen)
		return (unsigned char)e->n->name[i];
	return i == e->n->namelen && e->descend ? '/' : -1;
}

static int event_cmp(const void *pa, const void *pb)
{
	const struct event *a = pa, *b = pb;
	size_t common = a->n->namelen < b->n->namelen ? a->n->namelen : b->n->namelen;
	int c = memcmp(a->n->name, b->n->name, common);

	if (c)
		return c;
	for (size_t i = common;; i++) {
		int ca = char_at(a, i), cb = char_at(b, i);

		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (ca < 0)
			return 0;
	}
}

struct walk {
	int (*visit)(struct walk *w, const struct node *n);
	int (*fn)(const struct kiln_fs_entry *e, void *arg);
	void *arg;
	uint64_t groups;
	char path[IMG_PATH_MAX + 2];
};

static int walk_dir(struct walk *w, const struct node *dir, size_t plen)
{
	_cleanup_free_ struct event *ev = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	for (const struct node *c = dir->first; c; c = c->next)
		cap += S_ISDIR(c->mode) && c->first ? 2 : 1;
	if (!cap)
		return 0;
	ev = malloc(cap * sizeof(*ev));
	if (!ev)
		return kiln_err(ENOMEM, "out of memory");
	for (const struct node *c = dir->first; c; c = c->next) {
		ev[n++] = (struct event){ c, false };
		if (S_ISDIR(c->mode) && c->first)
			ev[n++] = (struct event){ c, true };
	}
	qsort(ev, n, sizeof(*ev), event_cmp);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct node *c = ev[i].n;

		memcpy(w->path + plen, c->name, c->namelen);
		w->path[plen + c->namelen] = ev[i].descend ? '/' : '\0';
		rc = ev[i].descend ? walk_dir(w, c, plen + c->namelen + 1) : w->visit(w, c);
	}
	return rc;
}

/* First pass: number hardlink groups and find each group's last path. */
static int visit_groups(struct walk *w, const struct node *n)
{
	struct img_data *d = n->data;

	if (d && d->refs > 1) {
		if (!d->group)
			d->group = ++w->groups;
		d->last = (struct node *)n;
	}
	return 0;
}

static int visit_emit(struct walk *w, const struct node *n)
{
	struct kiln_fs_entry e = {
		.path = w->path,
		.mode = n->mode,
		.uid = n->uid,
		.gid = n->gid,
		.size = n->data ? n->data->size : 0,
		.link_target = n->target,
		.rdev_major = n->rdev_major,
		.rdev_minor = n->rdev_minor,
		.link_group = n->data && n->data->refs > 1 ? n->data->group : 0,
		.nlink = n->data ? n->data->refs : 1,
		.data_here = n->data && (n->data->refs == 1 || n->data->last == n),
		.n_xattrs = n->n_xattrs,
		.xattrs = n->xattrs,
	};

	return w->fn(&e, w->arg);
}

static int visit_reset(struct walk *w, const struct node *n)
{
	if (n->data) {
		n->data->group = 0;
		n->data->last = NULL;
	}
	return 0;
}

int img_tree_foreach(struct img_tree *t, int (*fn)(const struct kiln_fs_entry *e, void *arg),
		     void *arg)
{
	struct walk w = { .visit = visit_reset, .fn = fn, .arg = arg };
	int rc = walk_dir(&w, t->root, 0);

	w.visit = visit_groups;
	if (rc == 0)
		rc = walk_dir(&w, t->root, 0);
	w.visit = visit_emit;
	if (rc == 0)
		rc = walk_dir(&w, t->root, 0);
	return rc;
}
