/* SPDX-License-Identifier: Apache-2.0 */
/* Plain volumes' remote-file protocol on the storage channel: messages and their bounds-checked decoders. */
#ifndef KILN_FS_PLAIN_WIRE_H
#define KILN_FS_PLAIN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/fs.h"
#include "fs/wire.h"

/*
 * Framed like the object protocol (fs/wire.h: be32 length, body), on the
 * same channel; a connection whose first request is PLAIN_VOLUME speaks
 * this protocol until EOF. A request body is
 *   u8 op | u8 flags | be32 mode | be64 handle | be64 a | be64 b |
 *   be16 len1 | s1 | be16 len2 | s2 | data (WRITE only)
 * and a reply is u8 status (0 or a positive errno) | data, as fs/wire.h.
 * Files are named by path relative to the volume's root: components
 * joined by '/', none empty, "." or "..", no NUL, each at most 255 bytes,
 * at most KFS_PLAIN_PATH_MAX in all; "" is the root. Open files are named
 * by a handle the host issued (hostile input to the host: validated).
 * One request in flight per connection.
 */
#define KFS_PLAIN_PATH_MAX 4095
#define KFS_PLAIN_IO_MAX (1u << 20)	 /* READ and WRITE sizes */
#define KFS_PLAIN_DIR_MAX (64u << 10)	 /* a READDIR reply */
#define KFS_PLAIN_ATTR_LEN 56	 /* kfs_attr and the host's st_dev */
#define KFS_PLAIN_XLIST_MAX (64u << 10) /* a LISTXATTR reply */
#define KFS_PLAIN_STATFS_LEN 48

enum kfs_plain_op {
	KFS_POP_VOLUME = 32,   /* s1: volume name */
	KFS_POP_GETATTR = 33,  /* s1 (or handle with BY_HANDLE) -> attr */
	KFS_POP_READDIR = 34,  /* s1, a: cookie (0: start), b: reply budget -> entries ("" at the end) */
	KFS_POP_OPEN = 35,     /* s1, mode, flags CREATE|EXCL|TRUNC|WRITE -> be64 handle, attr */
	KFS_POP_CLOSE = 36,    /* handle */
	KFS_POP_READ = 37,     /* handle, a: offset, b: size -> bytes (short only at EOF) */
	KFS_POP_WRITE = 38,    /* handle, a: offset, data -> be32 written */
	KFS_POP_TRUNCATE = 39, /* s1 or handle, a: size -> attr */
	KFS_POP_RENAME = 40,   /* s1 -> s2, flags NOREPLACE */
	KFS_POP_UNLINK = 41,   /* s1 */
	KFS_POP_MKDIR = 42,    /* s1, mode -> attr */
	KFS_POP_RMDIR = 43,    /* s1 */
	KFS_POP_SYMLINK = 44,  /* s1: the link, s2: its target (stored, never followed) -> attr */
	KFS_POP_READLINK = 45, /* s1 -> target */
	KFS_POP_CHMOD = 46,    /* s1 or handle, mode -> attr */
	KFS_POP_UTIMENS = 47,  /* s1 or handle, a: atime ns, b: mtime ns, flags ATIME|MTIME -> attr */
	KFS_POP_FSYNC = 48,    /* handle (0: every file of the volume) */
	KFS_POP_STATFS = 49,   /* -> statfs */
	KFS_POP_LINK = 50,     /* s1: existing file, s2: new name -> attr */
	KFS_POP_MKFIFO = 51,   /* s1, mode -> attr (no device nodes: the parent's, not the app's) */
	KFS_POP_GETXATTR = 52, /* s1, s2: a user.* name -> the value (at most KFS_XATTR_VALUE_MAX) */
	KFS_POP_SETXATTR = 53, /* s1, s2: a user.* name, data: the value, flags XCREATE|XREPLACE */
	KFS_POP_LISTXATTR = 54, /* s1 -> the user.* names, each NUL-terminated */
	KFS_POP_REMOVEXATTR = 55, /* s1, s2: a user.* name */
};
#define KFS_POP_FIRST KFS_POP_VOLUME
#define KFS_POP_LAST KFS_POP_REMOVEXATTR

/* Request flags (which ones an op takes is checked by the decoder). */
#define KFS_PF_DURABLE 0x01   /* fsync the change (and its directory) before answering */
#define KFS_PF_BY_HANDLE 0x02 /* GETATTR/TRUNCATE/CHMOD/UTIMENS: the handle, not s1 */
#define KFS_PF_CREATE 0x04
#define KFS_PF_EXCL 0x08
#define KFS_PF_TRUNC 0x10
#define KFS_PF_WRITE 0x20     /* OPEN for writing (else read only) */
#define KFS_PF_NOREPLACE 0x04 /* RENAME */
#define KFS_PF_EXCHANGE 0x08  /* RENAME: swap the two (never with NOREPLACE) */
#define KFS_PF_XCREATE 0x04   /* SETXATTR: fail if it exists */
#define KFS_PF_XREPLACE 0x08  /* SETXATTR: fail unless it exists */
#define KFS_PF_ATIME 0x04     /* UTIMENS: set atime */
#define KFS_PF_MTIME 0x08     /* UTIMENS: set mtime */

struct kfs_plain_req {
	uint8_t op, flags;
	uint32_t mode;
	uint64_t handle, a, b;
	const char *s1, *s2; /* NUL-terminated copies in the decoder's scratch */
	size_t l1, l2;
	const uint8_t *data; /* WRITE only; points into the decoded buffer */
	size_t len;
	char buf1[KFS_PLAIN_PATH_MAX + 1], buf2[KFS_PLAIN_PATH_MAX + 1];
};

struct kfs_plain_statfs {
	uint64_t bsize, blocks, bfree, bavail, files, ffree;
};

struct kfs_plain_dirent {
	uint64_t cookie, ino;
	uint32_t mode; /* type bits */
	char name[KFS_NAME_MAX + 1];
};

/* 0 when p (len bytes) is a volume-relative path as above; allow_root admits "". */
int kfs_plain_path_check(const char *p, size_t len, bool allow_root) KILN_MUST;
/* One path component: 1..255 bytes, no '/' or NUL, not "." or "..". */
int kfs_plain_name_check(const char *n, size_t len) KILN_MUST;

/* Header (everything but WRITE's data) into out (cap bytes); *len its size. */
int kfs_plain_req_encode(const struct kfs_plain_req *r, uint8_t *out, size_t cap,
			 size_t *len) KILN_MUST;
/* Checks the op, its flags, its paths and its sizes; strings are copied into r. */
int kfs_plain_req_decode(const uint8_t *buf, size_t len, struct kfs_plain_req *r) KILN_MUST;
/* The first request of a connection is PLAIN_VOLUME? (a cheap peek, no validation) */
bool kfs_plain_is_volume_req(const uint8_t *buf, size_t len);

/* An extended attribute name a plain volume serves: "user." and 1..250 more bytes, no NUL. */
int kfs_plain_xattr_name_check(const char *n, size_t len) KILN_MUST;

/*
 * Reply payloads: encoders for the host, exact-length decoders for the
 * enclave. Attributes carry the host's st_dev (dev) beside its st_ino
 * (a->ino): the enclave's hint that two names are one file (hard links).
 */
void kfs_plain_attr_encode(const struct kfs_attr *a, uint64_t dev, uint8_t out[KFS_PLAIN_ATTR_LEN]);
int kfs_plain_attr_decode(const uint8_t *d, size_t len, struct kfs_attr *a, uint64_t *dev) KILN_MUST;
/* A LISTXATTR reply: NUL-terminated user.* names, none empty; -EIO otherwise. */
int kfs_plain_xlist_check(const uint8_t *d, size_t len) KILN_MUST;
void kfs_plain_statfs_encode(const struct kfs_plain_statfs *s, uint8_t out[KFS_PLAIN_STATFS_LEN]);
int kfs_plain_statfs_decode(const uint8_t *d, size_t len, struct kfs_plain_statfs *s) KILN_MUST;
/* A directory entry appended at *off (cap bytes); 1 when it does not fit. */
int kfs_plain_dirent_encode(const struct kfs_plain_dirent *e, uint8_t *out, size_t cap, size_t *off);
/* The entry at *off of a READDIR reply; 1 at its end. A bad name or a truncated entry is -EIO. */
int kfs_plain_dirent_decode(const uint8_t *d, size_t len, size_t *off,
			    struct kfs_plain_dirent *e) KILN_MUST;

void kfs_plain_put_be32(uint8_t *p, uint32_t v);
void kfs_plain_put_be64(uint8_t *p, uint64_t v);

#endif
