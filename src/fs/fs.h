/* SPDX-License-Identifier: Apache-2.0 */
/* The encrypted storage core: inodes, directories and file content over an object store. */
#ifndef KILN_FS_FS_H
#define KILN_FS_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs/seal.h"
#include "fs/store.h"

/*
 * Frontend independent: FUSE (kiln-init) and later NFSv4 call these with
 * inode numbers, as the kernel does. Every call returns 0 (or a byte count)
 * or a negative errno with kiln_err() set. Integrity failures (a tampered,
 * swapped, rolled back or missing object) are -EIO and also go to the log
 * callback naming the object. Changes become durable at kfs_sync(), which is
 * atomic: after a crash the volume is exactly as at the last kfs_sync().
 */
#define KFS_ROOT_INO 1
#define KFS_BLOCK 32768
#define KFS_NAME_MAX 255
#define KFS_SYMLINK_MAX 4095
#define KFS_XATTR_NAME_MAX 255
#define KFS_XATTR_VALUE_MAX 65536
#define KFS_MAX_FILE ((uint64_t)KFS_BLOCK * ((KFS_OBJ_MAX - 4096) / 8))

struct kfs;

struct kfs_attr {
	uint64_t ino;
	uint32_t mode, uid, gid, nlink;
	uint64_t size;
	int64_t atime_ns, mtime_ns, ctime_ns;
};

/* kfs_setattr mask. */
#define KFS_SET_MODE 0x01
#define KFS_SET_UID 0x02
#define KFS_SET_GID 0x04
#define KFS_SET_SIZE 0x08
#define KFS_SET_ATIME 0x10
#define KFS_SET_MTIME 0x20

/*
 * Wraps the volume key for the header (the only copy outside the enclave).
 * unwrap fails with -EKEYREJECTED when the key is not the one that wrapped.
 * A provider that makes keys itself (KMS GenerateDataKey with the
 * attestation document: the plaintext comes back only for this enclave)
 * sets generate instead of wrap: it fills key (KFS_KEY_LEN) and the wrapped
 * form (e.g. the CiphertextBlob); unwrap is then KMS Decrypt with the
 * attestation document as Recipient.
 */
struct kfs_keywrap {
	char name[16]; /* "sim", "kms": recorded in the header */
	int (*wrap)(struct kfs_keywrap *w, const uint8_t *uuid, const uint8_t *key,
		    uint8_t **out, size_t *out_len);
	int (*generate)(struct kfs_keywrap *w, const uint8_t *uuid, uint8_t *key,
			uint8_t **out, size_t *out_len); /* NULL: random key, then wrap */
	int (*unwrap)(struct kfs_keywrap *w, const uint8_t *uuid, const uint8_t *in,
		      size_t in_len, uint8_t *key);
	void (*free)(struct kfs_keywrap *w);
};

/* The sim wrapping key: SHA-256 of a fixed label and secret (not a secret in sim). */
int kfs_keywrap_sim(const char *secret, struct kfs_keywrap **out) KILN_MUST;
/*
 * KMS (fs/keywrap_kms.c): GenerateDataKey / Decrypt of key_id with r's
 * attestation document as Recipient. kms and r are borrowed until
 * kfs_mount returns; a refusal is -EKEYREJECTED with KMS's words.
 */
struct aws_kms;
struct aws_kms_recipient;
int kfs_keywrap_kms(struct aws_kms *kms, const char *key_id, const struct aws_kms_recipient *r,
		    struct kfs_keywrap **out) KILN_MUST;

#define KFS_MOUNT_CREATE 0x01 /* make a new volume when the store is empty */

typedef void (*kfs_log_fn)(void *ctx, const char *line);

/* Takes ownership of store and kw (also on failure). */
int kfs_mount(struct kfs_store *store, struct kfs_keywrap *kw, unsigned flags, kfs_log_fn log,
	      void *log_ctx, struct kfs **out) KILN_MUST;
/* Final kfs_sync() then free everything; returns the sync's result. */
int kfs_unmount(struct kfs *fs);
int kfs_sync(struct kfs *fs) KILN_MUST;
/*
 * The commit nobody waits for (a frontend's background commit): as
 * kfs_sync(), but a block put that the parent refused after its write
 * returned is left for the next kfs_sync() to report, so the app's fsync
 * still sees it.
 */
int kfs_sync_background(struct kfs *fs) KILN_MUST;
/* Anything written or changed since the last kfs_sync()? */
bool kfs_dirty(struct kfs *fs);
/*
 * Would kfs_sync() have nothing to make durable (and no error to report)?
 * True only for an encrypted volume with nothing uncommitted; never for a plain volume,
 * whose sync is the parent's fsync of what was written through.
 */
bool kfs_synced(struct kfs *fs);

int kfs_getattr(struct kfs *fs, uint64_t ino, struct kfs_attr *a) KILN_MUST;
int kfs_setattr(struct kfs *fs, uint64_t ino, unsigned mask, const struct kfs_attr *in,
		struct kfs_attr *out) KILN_MUST;
int kfs_lookup(struct kfs *fs, uint64_t dir, const char *name, struct kfs_attr *a) KILN_MUST;
/* mode carries the type: S_IFREG, S_IFDIR (kfs_mkdir), S_IFLNK (kfs_symlink). */
int kfs_mknod(struct kfs *fs, uint64_t dir, const char *name, uint32_t mode, uint32_t uid,
	      uint32_t gid, struct kfs_attr *a) KILN_MUST;
int kfs_mkdir(struct kfs *fs, uint64_t dir, const char *name, uint32_t mode, uint32_t uid,
	      uint32_t gid, struct kfs_attr *a) KILN_MUST;
int kfs_symlink(struct kfs *fs, uint64_t dir, const char *name, const char *target,
		uint32_t uid, uint32_t gid, struct kfs_attr *a) KILN_MUST;
int kfs_readlink(struct kfs *fs, uint64_t ino, char *buf, size_t len) KILN_MUST;
int kfs_link(struct kfs *fs, uint64_t ino, uint64_t dir, const char *name,
	     struct kfs_attr *a) KILN_MUST;
int kfs_unlink(struct kfs *fs, uint64_t dir, const char *name) KILN_MUST;
int kfs_rmdir(struct kfs *fs, uint64_t dir, const char *name) KILN_MUST;
/* flags: 0 or RENAME_NOREPLACE. */
int kfs_rename(struct kfs *fs, uint64_t odir, const char *oname, uint64_t ndir,
	       const char *nname, unsigned flags) KILN_MUST;

/*
 * Lookup counting, for a volume whose inode numbers live only in memory
 * (plain volumes): after kfs_count_lookups, every entry a lookup, mknod,
 * mkdir, symlink or link returned counts once, and the frontend gives
 * the counts back with kfs_forget (FUSE FORGET) before the number may
 * go. Without it (NFS) numbers go when the table needs room and the
 * frontend sees -ENOENT for them. The encrypted core keeps its inodes in
 * the volume: both are no-ops there.
 */
void kfs_count_lookups(struct kfs *fs);
void kfs_forget(struct kfs *fs, uint64_t ino, uint64_t nlookup);

/* Open handles keep an unlinked inode alive until the last kfs_release(). */
int kfs_open(struct kfs *fs, uint64_t ino) KILN_MUST;
int kfs_release(struct kfs *fs, uint64_t ino);

/*
 * A hint from a frontend holding requests it will serve next (n spans of
 * at most KFS_PREFETCH_SPANS): the gets of the stored blocks they will
 * need are put in flight now, in one batch, so that serving the requests
 * in order waits for one round trip instead of one each. A read needs
 * every block of its span, a write only the blocks it covers in part.
 * Nothing changes but the cache; failures are left to the requests.
 */
struct kfs_span {
	uint64_t ino, off, len;
	bool write;
};
#define KFS_PREFETCH_SPANS 16
void kfs_prefetch(struct kfs *fs, const struct kfs_span *s, size_t n);

/* Returns bytes read (short only at end of file) or -errno. */
ssize_t kfs_read(struct kfs *fs, uint64_t ino, uint64_t off, void *buf, size_t len);
ssize_t kfs_write(struct kfs *fs, uint64_t ino, uint64_t off, const void *buf, size_t len);

/*
 * Directory entries in a stable order after cookie (0: from the start;
 * entries never get cookies 0-2, which frontends use for "." and "..").
 * fill returns non-zero to stop (buffer full). Entries added or removed
 * during iteration do not make others repeat or vanish.
 */
typedef int (*kfs_fill_fn)(void *ctx, const char *name, uint64_t ino, uint32_t mode,
			   uint64_t cookie);
int kfs_readdir(struct kfs *fs, uint64_t dir, uint64_t cookie, kfs_fill_fn fill,
		void *ctx) KILN_MUST;
/* The parent directory's inode (the root's parent is the root). */
int kfs_parent(struct kfs *fs, uint64_t dir, uint64_t *parent) KILN_MUST;

/* flags: 0, XATTR_CREATE or XATTR_REPLACE. get/list return the size or -ERANGE. */
int kfs_setxattr(struct kfs *fs, uint64_t ino, const char *name, const void *val, size_t len,
		 int flags) KILN_MUST;
ssize_t kfs_getxattr(struct kfs *fs, uint64_t ino, const char *name, void *buf, size_t len);
ssize_t kfs_listxattr(struct kfs *fs, uint64_t ino, char *buf, size_t len);
int kfs_removexattr(struct kfs *fs, uint64_t ino, const char *name) KILN_MUST;

/*
 * A 32-byte key derived from the volume key under label (HKDF-SHA256 with
 * the volume uuid as salt), and that uuid (16 bytes): for frontends that
 * need a per-volume secret (the NFS file handle key), not the volume key.
 * -ENOKEY for a volume without a volume key (kfs_alt_new: plain volumes).
 */
int kfs_derive_key(struct kfs *fs, const char *label, uint8_t key[32], uint8_t uuid[16]) KILN_MUST;

struct kfs_statfs {
	uint64_t inodes, bytes; /* in use */
};
int kfs_statfs(struct kfs *fs, struct kfs_statfs *s) KILN_MUST;

/*
 * A volume that is not the encrypted core (plain volumes, fs/plain.h):
 * every kfs_* call above on a kfs made by kfs_alt_new goes to these, with
 * the same arguments and contract; ctx is ops' own. unmount frees ctx.
 */
struct kfs_alt_ops {
	int (*getattr)(void *ctx, uint64_t ino, struct kfs_attr *a);
	int (*setattr)(void *ctx, uint64_t ino, unsigned mask, const struct kfs_attr *in,
		       struct kfs_attr *out);
	int (*lookup)(void *ctx, uint64_t dir, const char *name, struct kfs_attr *a);
	int (*mknod)(void *ctx, uint64_t dir, const char *name, uint32_t mode, uint32_t uid,
		     uint32_t gid, struct kfs_attr *a);
	int (*symlink)(void *ctx, uint64_t dir, const char *name, const char *target, uint32_t uid,
		       uint32_t gid, struct kfs_attr *a);
	int (*readlink)(void *ctx, uint64_t ino, char *buf, size_t len);
	int (*link)(void *ctx, uint64_t ino, uint64_t dir, const char *name, struct kfs_attr *a);
	int (*remove)(void *ctx, uint64_t dir, const char *name, bool is_dir);
	int (*rename)(void *ctx, uint64_t odir, const char *oname, uint64_t ndir, const char *nname,
		      unsigned flags);
	int (*open)(void *ctx, uint64_t ino);
	int (*release)(void *ctx, uint64_t ino);
	ssize_t (*read)(void *ctx, uint64_t ino, uint64_t off, void *buf, size_t len);
	ssize_t (*write)(void *ctx, uint64_t ino, uint64_t off, const void *buf, size_t len);
	int (*readdir)(void *ctx, uint64_t dir, uint64_t cookie, kfs_fill_fn fill, void *fctx);
	int (*parent)(void *ctx, uint64_t dir, uint64_t *parent);
	int (*statfs)(void *ctx, struct kfs_statfs *s);
	int (*sync)(void *ctx);
	int (*unmount)(void *ctx);
	ssize_t (*getxattr)(void *ctx, uint64_t ino, const char *name, void *buf, size_t len);
	int (*setxattr)(void *ctx, uint64_t ino, const char *name, const void *val, size_t len,
			int flags);
	ssize_t (*listxattr)(void *ctx, uint64_t ino, char *buf, size_t len);
	int (*removexattr)(void *ctx, uint64_t ino, const char *name);
	void (*forget)(void *ctx, uint64_t ino, uint64_t nlookup);
	void (*count_lookups)(void *ctx);
};
int kfs_alt_new(const struct kfs_alt_ops *ops, void *ctx, struct kfs **out) KILN_MUST;
/*
 * Can the volume change without the frontend (a plain volume, which the
 * parent writes too)? Then a frontend must not keep file sizes or data as
 * its own (no FUSE writeback cache): the host's attributes are the truth.
 */
bool kfs_changes_behind(const struct kfs *fs);

#endif
