/* SPDX-License-Identifier: Apache-2.0 */
/* A plain volume's inode table in the enclave: inode numbers, the names that reach them, trimming. */
#ifndef KILN_FS_PLAIN_NODES_H
#define KILN_FS_PLAIN_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/fs.h"

/*
 * How this works. An inode number is a slot and that slot's generation
 * (gen << 32 | slot + 1; the root is 1). A slot's first use has gen 0
 * (a small number), each reuse a new one, so a number once freed names no
 * other file until 2^31 reuses of its slot. A node has the names (parent
 * inode, name) it was last seen under, the first being the one requests
 * use. Directories are known by name only (they have no hard links);
 * other files also by the host's (st_dev, st_ino), so two names of one
 * host file are one inode. That key is the host's word: a lie merges or
 * splits files in this volume's view, nothing more (every name and
 * inode number is checked against the table before use).
 *
 * A node is freed when nothing holds it: no name, no open file, no
 * lookup the frontend has not forgotten (FUSE FORGET; only counted once
 * pn_count_lookups). When the table is full, nodes without opens,
 * lookups or children are trimmed (those NFS handles go stale: the slot's
 * generation moves on). So file churn never fills the table.
 */
struct pn_name {
	uint64_t parent, ino;
	char *name;
	struct pn_name *hnext; /* the hash chain of (parent, name) */
	struct pn_name *nnext; /* the node's next name */
};

struct pn_node {
	uint32_t gen;
	uint32_t type; /* S_IFMT bits; 0: a free slot */
	uint32_t opens, children;
	uint64_t nlookup;
	uint64_t handle; /* the host's, while open */
	uint64_t dev, hino;
	bool keyed;
	uint32_t knext; /* the hash chain of (dev, hino): slot + 1 */
	uint32_t free_next;
	struct pn_name *names;
};

#define PN_BUCKETS 65536

struct pn_table {
	struct pn_node *n;
	size_t nn, cap, max; /* slots in use or freed, allocated, the cap */
	size_t live, names;
	uint32_t free_head, hand;
	bool counted;
	struct pn_name *nhash[PN_BUCKETS];
	uint32_t khash[PN_BUCKETS];
};

/* The root (inode 1) in a table of at most max nodes (and as many names). */
int pn_init(struct pn_table *t, size_t max) KILN_MUST;
void pn_free(struct pn_table *t);
/* The live node of ino, else NULL (pointers last until the next call that adds). */
struct pn_node *pn_get(struct pn_table *t, uint64_t ino);
/* The inode parent/name is known as, else 0. */
uint64_t pn_find(struct pn_table *t, uint64_t parent, const char *name);
/*
 * The host says parent/name is a file of type (and key dev, hino): its
 * inode, the one already known by that name or key, else a new one. The
 * name becomes the node's first. -ENFILE when the table is full of held nodes.
 */
int pn_resolve(struct pn_table *t, uint64_t parent, const char *name, uint32_t type, uint64_t dev,
	       uint64_t hino, uint64_t *ino) KILN_MUST;
/* parent/name is gone (unlinked, or the host says ENOENT). */
void pn_unname(struct pn_table *t, uint64_t parent, const char *name);
/* A rename that the host made (exchange: the two swapped). */
int pn_rename(struct pn_table *t, uint64_t odir, const char *oname, uint64_t ndir, const char *nname,
	      bool exchange) KILN_MUST;
/* The volume-relative path of ino into out ("" for the root). */
int pn_path(struct pn_table *t, uint64_t ino, char out[]) KILN_MUST;
/* The parent of directory ino (the root's is the root). */
int pn_parent(struct pn_table *t, uint64_t ino, uint64_t *parent) KILN_MUST;
/* Lookups: counted from now on (FUSE); one more for ino; n fewer. */
void pn_count_lookups(struct pn_table *t);
void pn_ref(struct pn_table *t, uint64_t ino);
void pn_forget(struct pn_table *t, uint64_t ino, uint64_t n);
/* Free ino if nothing holds it any more (after a close). */
void pn_collect(struct pn_table *t, uint64_t ino);

#endif
