/* SPDX-License-Identifier: Apache-2.0 */
/* Plain volumes' protocol: request rules per op, path checks, reply payload codecs. */
#include "fs/plain_wire.h"

#include <string.h>
#include <sys/stat.h>

#include "util/cursor.h"

#define REQ_FIXED 32

enum { S_NONE, S_PATH, S_PATH_OR_ROOT, S_VOLUME, S_TARGET, S_XATTR };

struct rule {
	uint8_t s1, s2, flags;
	bool mode, handle, data; /* handle: required (non-zero) unless BY_HANDLE decides */
};

#define D KFS_PF_DURABLE
#define H KFS_PF_BY_HANDLE
static const struct rule rules[KFS_POP_LAST - KFS_POP_FIRST + 1] = {
	[KFS_POP_VOLUME - KFS_POP_FIRST] = { S_VOLUME, S_NONE, 0, false, false, false },
	[KFS_POP_GETATTR - KFS_POP_FIRST] = { S_PATH_OR_ROOT, S_NONE, H, false, false, false },
	[KFS_POP_READDIR - KFS_POP_FIRST] = { S_PATH_OR_ROOT, S_NONE, 0, false, false, false },
	[KFS_POP_OPEN - KFS_POP_FIRST] = { S_PATH, S_NONE, D | KFS_PF_CREATE | KFS_PF_EXCL |
					   KFS_PF_TRUNC | KFS_PF_WRITE, true, false, false },
	[KFS_POP_CLOSE - KFS_POP_FIRST] = { S_NONE, S_NONE, 0, false, true, false },
	[KFS_POP_READ - KFS_POP_FIRST] = { S_NONE, S_NONE, 0, false, true, false },
	[KFS_POP_WRITE - KFS_POP_FIRST] = { S_NONE, S_NONE, D, false, true, true },
	[KFS_POP_TRUNCATE - KFS_POP_FIRST] = { S_PATH, S_NONE, D | H, false, false, false },
	[KFS_POP_RENAME - KFS_POP_FIRST] = { S_PATH, S_PATH, D | KFS_PF_NOREPLACE | KFS_PF_EXCHANGE,
					     false, false, false },
	[KFS_POP_UNLINK - KFS_POP_FIRST] = { S_PATH, S_NONE, D, false, false, false },
	[KFS_POP_MKDIR - KFS_POP_FIRST] = { S_PATH, S_NONE, D, true, false, false },
	[KFS_POP_RMDIR - KFS_POP_FIRST] = { S_PATH, S_NONE, D, false, false, false },
	[KFS_POP_SYMLINK - KFS_POP_FIRST] = { S_PATH, S_TARGET, D, false, false, false },
	[KFS_POP_READLINK - KFS_POP_FIRST] = { S_PATH, S_NONE, 0, false, false, false },
	[KFS_POP_CHMOD - KFS_POP_FIRST] = { S_PATH_OR_ROOT, S_NONE, H, true, false, false },
	[KFS_POP_UTIMENS - KFS_POP_FIRST] = { S_PATH_OR_ROOT, S_NONE, H | KFS_PF_ATIME |
					      KFS_PF_MTIME, false, false, false },
	[KFS_POP_FSYNC - KFS_POP_FIRST] = { S_NONE, S_NONE, 0, false, false, false },
	[KFS_POP_STATFS - KFS_POP_FIRST] = { S_NONE, S_NONE, 0, false, false, false },
	[KFS_POP_LINK - KFS_POP_FIRST] = { S_PATH, S_PATH, D, false, false, false },
	[KFS_POP_MKFIFO - KFS_POP_FIRST] = { S_PATH, S_NONE, D, true, false, false },
	[KFS_POP_GETXATTR - KFS_POP_FIRST] = { S_PATH_OR_ROOT, S_XATTR, 0, false, false, false },
	[KFS_POP_SETXATTR - KFS_POP_FIRST] = { S_PATH_OR_ROOT, S_XATTR, KFS_PF_XCREATE | KFS_PF_XREPLACE,
					       false, false, true },
	[KFS_POP_LISTXATTR - KFS_POP_FIRST] = { S_PATH_OR_ROOT, S_NONE, 0, false, false, false },
	[KFS_POP_REMOVEXATTR - KFS_POP_FIRST] = { S_PATH_OR_ROOT, S_XATTR, 0, false, false, false },
};
#undef D
#undef H

void kfs_plain_put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

void kfs_plain_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

int kfs_plain_name_check(const char *n, size_t len)
{
	if (len == 0 || len > KFS_NAME_MAX || memchr(n, '/', len) || memchr(n, 0, len) ||
	    (len == 1 && n[0] == '.') || (len == 2 && n[0] == '.' && n[1] == '.'))
		return kiln_err(EINVAL, "plain volume: bad file name \"%.*s\"", (int)(len > 64 ? 64 : len), n);
	return 0;
}

int kfs_plain_path_check(const char *p, size_t len, bool allow_root)
{
	size_t start = 0;

	if (len == 0)
		return allow_root ? 0 : kiln_err(EINVAL, "plain volume: empty path");
	if (len > KFS_PLAIN_PATH_MAX || memchr(p, 0, len))
		return kiln_err(EINVAL, "plain volume: path too long or with a NUL");
	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] != '/')
			continue;
		if (kfs_plain_name_check(p + start, i - start) < 0)
			return kiln_err(EINVAL, "plain volume: bad path \"%.*s\" (absolute, empty, . or .. "
					"components, or a name over 255 bytes)", (int)(len > 64 ? 64 : len), p);
		start = i + 1;
	}
	return 0;
}

int kfs_plain_xattr_name_check(const char *n, size_t len)
{
	if (len <= 5 || len > KFS_XATTR_NAME_MAX || memcmp(n, "user.", 5) || memchr(n, 0, len))
		return kiln_err(EINVAL, "plain volume: extended attribute names are user.* of at most %d bytes",
				KFS_XATTR_NAME_MAX);
	return 0;
}

static int str_check(uint8_t kind, const char *s, size_t len)
{
	switch (kind) {
	case S_NONE:
		return len ? kiln_err(EBADMSG, "plain request: unexpected name") : 0;
	case S_PATH:
	case S_PATH_OR_ROOT:
		return kfs_plain_path_check(s, len, kind == S_PATH_OR_ROOT);
	case S_VOLUME:
		return kfs_id_check(s, len);
	case S_TARGET:
		return len == 0 || len > KFS_SYMLINK_MAX || memchr(s, 0, len)
			       ? kiln_err(EINVAL, "plain request: bad symlink target") : 0;
	case S_XATTR:
		return kfs_plain_xattr_name_check(s, len);
	default:
		return kiln_err(EBADMSG, "plain request: bad rule");
	}
}

int kfs_plain_req_encode(const struct kfs_plain_req *r, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = REQ_FIXED + r->l1 + 2 + r->l2;

	if (r->l1 > KFS_PLAIN_PATH_MAX || r->l2 > KFS_PLAIN_PATH_MAX || n > cap)
		return kiln_err(EMSGSIZE, "plain request: names too long");
	out[0] = r->op;
	out[1] = r->flags;
	kfs_plain_put_be32(out + 2, r->mode);
	kfs_plain_put_be64(out + 6, r->handle);
	kfs_plain_put_be64(out + 14, r->a);
	kfs_plain_put_be64(out + 22, r->b);
	out[30] = (uint8_t)(r->l1 >> 8);
	out[31] = (uint8_t)r->l1;
	if (r->l1) /* s1 and s2 may be NULL when empty */
		memcpy(out + REQ_FIXED, r->s1, r->l1);
	out[REQ_FIXED + r->l1] = (uint8_t)(r->l2 >> 8);
	out[REQ_FIXED + r->l1 + 1] = (uint8_t)r->l2;
	if (r->l2)
		memcpy(out + REQ_FIXED + r->l1 + 2, r->s2, r->l2);
	*len = n;
	return 0;
}

/* A be16-length string copied NUL-terminated into dst (KFS_PLAIN_PATH_MAX + 1 bytes). */
static int take_str(struct kiln_cursor *c, char *dst, size_t *len)
{
	uint16_t n;
	const uint8_t *p;

	if (kiln_cursor_be16(c, &n) < 0 || n > KFS_PLAIN_PATH_MAX || kiln_cursor_bytes(c, n, &p) < 0)
		return kiln_err(EBADMSG, "plain request: truncated or over-long name");
	memcpy(dst, p, n);
	dst[n] = '\0';
	*len = n;
	return 0;
}

static int check_fields(const struct kfs_plain_req *r, const struct rule *u)
{
	bool by_handle = r->flags & KFS_PF_BY_HANDLE;

	if (r->flags & ~u->flags)
		return kiln_err(EBADMSG, "plain request: bad flags 0x%x for op %u", r->flags, r->op);
	if (u->mode ? r->mode > 07777 : r->mode != 0)
		return kiln_err(EBADMSG, "plain request: bad mode 0%o", r->mode);
	if ((u->handle || by_handle) ? r->handle == 0 : (r->handle && r->op != KFS_POP_FSYNC))
		return kiln_err(EBADMSG, "plain request: handle missing or unexpected");
	if (!u->data && r->len)
		return kiln_err(EBADMSG, "plain request: trailing bytes");
	if (r->op == KFS_POP_RENAME && (r->flags & KFS_PF_EXCHANGE) && (r->flags & KFS_PF_NOREPLACE))
		return kiln_err(EBADMSG, "plain request: both NOREPLACE and EXCHANGE");
	if (r->len > KFS_PLAIN_IO_MAX || (r->op == KFS_POP_SETXATTR && r->len > KFS_XATTR_VALUE_MAX) ||
	    (r->op == KFS_POP_READ && r->b > KFS_PLAIN_IO_MAX) ||
	    (r->op == KFS_POP_READDIR && r->b > KFS_PLAIN_DIR_MAX))
		return kiln_err(EMSGSIZE, "plain request: size over the cap");
	if (by_handle && r->l1)
		return kiln_err(EBADMSG, "plain request: both a handle and a path");
	if ((!by_handle && str_check(u->s1, r->s1, r->l1) < 0) || str_check(u->s2, r->s2, r->l2) < 0)
		return kiln_err_wrap(-EINVAL, "plain request op %u", r->op);
	return 0;
}

int kfs_plain_req_decode(const uint8_t *buf, size_t len, struct kfs_plain_req *r)
{
	struct kiln_cursor c = kiln_cursor_make(buf, len);

	memset(r, 0, offsetof(struct kfs_plain_req, buf1));
	r->buf1[0] = r->buf2[0] = '\0';
	r->s1 = r->buf1;
	r->s2 = r->buf2;
	if (len > KFS_WIRE_MAX || kiln_cursor_u8(&c, &r->op) < 0 || kiln_cursor_u8(&c, &r->flags) < 0 ||
	    kiln_cursor_be32(&c, &r->mode) < 0 || kiln_cursor_be64(&c, &r->handle) < 0 ||
	    kiln_cursor_be64(&c, &r->a) < 0 || kiln_cursor_be64(&c, &r->b) < 0)
		return kiln_err(EBADMSG, "plain request: truncated or too large");
	if (take_str(&c, r->buf1, &r->l1) < 0 || take_str(&c, r->buf2, &r->l2) < 0)
		return -EBADMSG;
	if (r->op < KFS_POP_FIRST || r->op > KFS_POP_LAST)
		return kiln_err(EBADMSG, "plain request: unknown op %u", r->op);
	r->data = buf + c.pos;
	r->len = kiln_cursor_left(&c);
	return check_fields(r, &rules[r->op - KFS_POP_FIRST]);
}

bool kfs_plain_is_volume_req(const uint8_t *buf, size_t len)
{
	return len > 0 && buf[0] == KFS_POP_VOLUME;
}

void kfs_plain_attr_encode(const struct kfs_attr *a, uint64_t dev, uint8_t out[KFS_PLAIN_ATTR_LEN])
{
	kfs_plain_put_be32(out, a->mode);
	kfs_plain_put_be32(out + 4, a->nlink);
	kfs_plain_put_be64(out + 8, a->size);
	kfs_plain_put_be64(out + 16, a->ino);
	kfs_plain_put_be64(out + 24, (uint64_t)a->atime_ns);
	kfs_plain_put_be64(out + 32, (uint64_t)a->mtime_ns);
	kfs_plain_put_be64(out + 40, (uint64_t)a->ctime_ns);
	kfs_plain_put_be64(out + 48, dev);
}

/* Only the types a plain volume serves; anything else from the host is EIO. */
static bool plain_type(uint32_t mode)
{
	return S_ISREG(mode) || S_ISDIR(mode) || S_ISLNK(mode) || S_ISFIFO(mode);
}

int kfs_plain_attr_decode(const uint8_t *d, size_t len, struct kfs_attr *a, uint64_t *dev)
{
	struct kiln_cursor c = kiln_cursor_make(d, len);
	uint64_t at, mt, ct;

	memset(a, 0, sizeof(*a));
	if (len != KFS_PLAIN_ATTR_LEN || kiln_cursor_be32(&c, &a->mode) < 0 ||
	    kiln_cursor_be32(&c, &a->nlink) < 0 || kiln_cursor_be64(&c, &a->size) < 0 ||
	    kiln_cursor_be64(&c, &a->ino) < 0 || kiln_cursor_be64(&c, &at) < 0 ||
	    kiln_cursor_be64(&c, &mt) < 0 || kiln_cursor_be64(&c, &ct) < 0 || kiln_cursor_be64(&c, dev) < 0)
		return kiln_err(EIO, "plain volume: the host sent attributes of %zu bytes", len);
	if (!plain_type(a->mode) || (a->mode & ~(uint32_t)(S_IFMT | 07777)) ||
	    a->size > (uint64_t)INT64_MAX)
		return kiln_err(EIO, "plain volume: the host sent a bad mode 0%o or size", a->mode);
	a->atime_ns = (int64_t)at;
	a->mtime_ns = (int64_t)mt;
	a->ctime_ns = (int64_t)ct;
	return 0;
}

void kfs_plain_statfs_encode(const struct kfs_plain_statfs *s, uint8_t out[KFS_PLAIN_STATFS_LEN])
{
	const uint64_t v[6] = { s->bsize, s->blocks, s->bfree, s->bavail, s->files, s->ffree };

	for (int i = 0; i < 6; i++)
		kfs_plain_put_be64(out + 8 * i, v[i]);
}

int kfs_plain_statfs_decode(const uint8_t *d, size_t len, struct kfs_plain_statfs *s)
{
	struct kiln_cursor c = kiln_cursor_make(d, len);
	uint64_t *v[6] = { &s->bsize, &s->blocks, &s->bfree, &s->bavail, &s->files, &s->ffree };

	if (len != KFS_PLAIN_STATFS_LEN)
		return kiln_err(EIO, "plain volume: the host sent statfs of %zu bytes", len);
	for (int i = 0; i < 6; i++)
		if (kiln_cursor_be64(&c, v[i]) < 0)
			return kiln_err(EIO, "plain volume: short statfs");
	return 0;
}

int kfs_plain_xlist_check(const uint8_t *d, size_t len)
{
	size_t start = 0;

	if (len > KFS_PLAIN_XLIST_MAX || (len && d[len - 1]))
		return kiln_err(EIO, "plain volume: the host sent an xattr list of %zu bytes, unterminated", len);
	for (size_t i = 0; i < len; i++) {
		if (d[i])
			continue;
		if (kfs_plain_xattr_name_check((const char *)d + start, i - start) < 0)
			return kiln_err(EIO, "plain volume: the host listed a bad xattr name");
		start = i + 1;
	}
	return 0;
}

int kfs_plain_dirent_encode(const struct kfs_plain_dirent *e, uint8_t *out, size_t cap, size_t *off)
{
	size_t nl = strlen(e->name), n = 8 + 8 + 4 + 1 + nl;

	if (*off + n > cap)
		return 1;
	kfs_plain_put_be64(out + *off, e->cookie);
	kfs_plain_put_be64(out + *off + 8, e->ino);
	kfs_plain_put_be32(out + *off + 16, e->mode);
	out[*off + 20] = (uint8_t)nl;
	memcpy(out + *off + 21, e->name, nl);
	*off += n;
	return 0;
}

int kfs_plain_dirent_decode(const uint8_t *d, size_t len, size_t *off, struct kfs_plain_dirent *e)
{
	struct kiln_cursor c = kiln_cursor_make(d, len);
	uint8_t nl;

	if (*off >= len)
		return 1;
	c.pos = *off;
	if (kiln_cursor_be64(&c, &e->cookie) < 0 || kiln_cursor_be64(&c, &e->ino) < 0 ||
	    kiln_cursor_be32(&c, &e->mode) < 0 || kiln_cursor_u8(&c, &nl) < 0 ||
	    kiln_cursor_copy(&c, e->name, nl) < 0)
		return kiln_err(EIO, "plain volume: the host sent a truncated directory entry");
	e->name[nl] = '\0';
	if (kfs_plain_name_check(e->name, nl) < 0 || e->cookie < 3 || (e->mode & ~(uint32_t)S_IFMT))
		return kiln_err(EIO, "plain volume: the host sent a bad directory entry");
	*off = c.pos;
	return 0;
}
