/* SPDX-License-Identifier: Apache-2.0 */
/* Plain volumes' wire format (paths, requests, replies) and the enclave client facing a hostile host. */
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "fs/plain.h"
#include "fs/plain_wire.h"
#include "t.h"

static int path_ok(const char *p)
{
	return kfs_plain_path_check(p, strlen(p), false);
}

TEST(paths)
{
	char longname[300], longpath[4200];

	CHECK(path_ok("a") == 0);
	CHECK(path_ok("a/b/c.txt") == 0);
	CHECK(path_ok("..a/b..") == 0);
	CHECK(kfs_plain_path_check("", 0, true) == 0);
	CHECK_ERR(path_ok(""), "empty path");
	CHECK_ERR(path_ok("/etc/passwd"), "bad path");
	CHECK_ERR(path_ok(".."), "bad path");
	CHECK_ERR(path_ok("a/../../b"), "bad path");
	CHECK_ERR(path_ok("a/./b"), "bad path");
	CHECK_ERR(path_ok("a//b"), "bad path");
	CHECK_ERR(path_ok("a/"), "bad path");
	CHECK_ERR(kfs_plain_path_check("a\0b", 3, false), "NUL");
	memset(longname, 'x', 256);
	longname[256] = '\0';
	CHECK_ERR(path_ok(longname), "bad path");
	longname[255] = '\0';
	CHECK(path_ok(longname) == 0);
	for (size_t i = 0; i < sizeof(longpath) - 1; i++)
		longpath[i] = i % 2 ? '/' : 'a';
	longpath[sizeof(longpath) - 2] = 'a';
	longpath[sizeof(longpath) - 1] = '\0';
	CHECK_ERR(path_ok(longpath), "too long");
}

/* Encode r, decode it back: 0 or the decoder's error. */
static int roundtrip(struct kfs_plain_req *r, struct kfs_plain_req *out)
{
	static uint8_t buf[2 * KFS_PLAIN_PATH_MAX + 64];
	size_t len;

	r->l1 = r->s1 ? strlen(r->s1) : 0;
	r->l2 = r->s2 ? strlen(r->s2) : 0;
	if (kfs_plain_req_encode(r, buf, sizeof(buf), &len) < 0)
		return -1;
	return kfs_plain_req_decode(buf, len, out);
}

TEST(requests)
{
	static struct kfs_plain_req out;
	struct kfs_plain_req r = { .op = KFS_POP_RENAME, .s1 = "a/b", .s2 = "c", .flags = KFS_PF_NOREPLACE };

	CHECK(roundtrip(&r, &out) == 0 && out.op == KFS_POP_RENAME && !strcmp(out.s1, "a/b") &&
	      !strcmp(out.s2, "c") && out.flags == KFS_PF_NOREPLACE);
	r = (struct kfs_plain_req){ .op = KFS_POP_READ, .handle = 0x100000001ull, .a = 7, .b = 4096 };
	CHECK(roundtrip(&r, &out) == 0 && out.handle == 0x100000001ull && out.a == 7 && out.b == 4096);
	r = (struct kfs_plain_req){ .op = KFS_POP_OPEN, .s1 = "../etc/passwd" };
	CHECK_ERR(roundtrip(&r, &out), "bad path");
	r = (struct kfs_plain_req){ .op = KFS_POP_GETATTR, .s1 = "/etc" };
	CHECK_ERR(roundtrip(&r, &out), "bad path");
	r = (struct kfs_plain_req){ .op = 99 };
	CHECK_ERR(roundtrip(&r, &out), "unknown op");
	r = (struct kfs_plain_req){ .op = KFS_POP_UNLINK, .s1 = "a", .flags = KFS_PF_WRITE };
	CHECK_ERR(roundtrip(&r, &out), "bad flags");
	r = (struct kfs_plain_req){ .op = KFS_POP_UNLINK, .s1 = "a", .mode = 0644 };
	CHECK_ERR(roundtrip(&r, &out), "bad mode");
	r = (struct kfs_plain_req){ .op = KFS_POP_MKDIR, .s1 = "a", .mode = 010000 };
	CHECK_ERR(roundtrip(&r, &out), "bad mode");
	r = (struct kfs_plain_req){ .op = KFS_POP_READ, .b = 10 };
	CHECK_ERR(roundtrip(&r, &out), "handle missing");
	r = (struct kfs_plain_req){ .op = KFS_POP_READ, .handle = 1, .b = KFS_PLAIN_IO_MAX + 1 };
	CHECK_ERR(roundtrip(&r, &out), "over the cap");
	r = (struct kfs_plain_req){ .op = KFS_POP_CHMOD, .s1 = "a", .handle = 5,
				    .flags = KFS_PF_BY_HANDLE };
	CHECK_ERR(roundtrip(&r, &out), "both a handle and a path");
	/* by handle, the second name is still checked (found by fuzz_fs_plain) */
	r = (struct kfs_plain_req){ .op = KFS_POP_TRUNCATE, .s2 = "x", .handle = 5,
				    .flags = KFS_PF_BY_HANDLE };
	CHECK_ERR(roundtrip(&r, &out), "unexpected name");
	r = (struct kfs_plain_req){ .op = KFS_POP_SYMLINK, .s1 = "l", .s2 = "/anything/../at/all" };
	CHECK(roundtrip(&r, &out) == 0); /* a target is text the host stores, never follows */
	r = (struct kfs_plain_req){ .op = KFS_POP_VOLUME, .s1 = "../x" };
	CHECK(roundtrip(&r, &out) < 0);
	r = (struct kfs_plain_req){ .op = KFS_POP_RENAME, .s1 = "a", .s2 = "b", .flags = KFS_PF_EXCHANGE };
	CHECK(roundtrip(&r, &out) == 0 && out.flags == KFS_PF_EXCHANGE);
	r.flags = KFS_PF_EXCHANGE | KFS_PF_NOREPLACE;
	CHECK_ERR(roundtrip(&r, &out), "both NOREPLACE and EXCHANGE");
	r = (struct kfs_plain_req){ .op = KFS_POP_GETXATTR, .s1 = "a", .s2 = "user.k" };
	CHECK(roundtrip(&r, &out) == 0 && !strcmp(out.s2, "user.k"));
	r.s2 = "trusted.k"; /* only the user namespace reaches the parent */
	CHECK_ERR(roundtrip(&r, &out), "user.*");
	r.s2 = "user.";
	CHECK_ERR(roundtrip(&r, &out), "user.*");
	r = (struct kfs_plain_req){ .op = KFS_POP_LISTXATTR, .s1 = "a", .s2 = "user.k" };
	CHECK_ERR(roundtrip(&r, &out), "unexpected name");
	r = (struct kfs_plain_req){ .op = KFS_POP_MKFIFO, .s1 = "q", .mode = 0640 };
	CHECK(roundtrip(&r, &out) == 0 && out.mode == 0640);
	r.mode = S_IFCHR | 0640; /* the type is the op's, never the mode's */
	CHECK_ERR(roundtrip(&r, &out), "bad mode");
	{
		static uint8_t big[64 + KFS_XATTR_VALUE_MAX + 1];
		size_t hl;
		r = (struct kfs_plain_req){ .op = KFS_POP_SETXATTR, .s1 = "a", .s2 = "user.k", .l1 = 1, .l2 = 6 };
		CHECK(kfs_plain_req_encode(&r, big, sizeof(big), &hl) == 0);
		CHECK(kfs_plain_req_decode(big, hl + KFS_XATTR_VALUE_MAX, &out) == 0 &&
		      out.len == KFS_XATTR_VALUE_MAX);
		CHECK_ERR(kfs_plain_req_decode(big, hl + KFS_XATTR_VALUE_MAX + 1, &out), "over the cap");
	}

	uint8_t raw[40] = { KFS_POP_STATFS };
	CHECK(kfs_plain_req_decode(raw, 33, &out) < 0); /* truncated second string length */
	CHECK(kfs_plain_req_decode(raw, 34, &out) == 0);
	CHECK_ERR(kfs_plain_req_decode(raw, 35, &out), "trailing bytes");
	raw[30] = 0xff;
	raw[31] = 0xff; /* a name longer than the message */
	CHECK(kfs_plain_req_decode(raw, 40, &out) < 0);
}

TEST(replies)
{
	struct kfs_attr a = { .ino = 9, .mode = S_IFREG | 0644, .nlink = 1, .size = 5, .mtime_ns = -3 }, b;
	uint8_t buf[KFS_PLAIN_ATTR_LEN + 1], dir[512];
	struct kfs_plain_dirent e = { .cookie = 3, .ino = 4, .mode = S_IFDIR }, got;
	size_t off = 0;

	uint64_t dev;

	kfs_plain_attr_encode(&a, 77, buf);
	CHECK(kfs_plain_attr_decode(buf, KFS_PLAIN_ATTR_LEN, &b, &dev) == 0 && b.size == 5 &&
	      b.mode == (S_IFREG | 0644) && b.mtime_ns == -3 && b.ino == 9 && dev == 77);
	CHECK_ERR(kfs_plain_attr_decode(buf, KFS_PLAIN_ATTR_LEN - 1, &b, &dev), "attributes of 55 bytes");
	CHECK(kfs_plain_attr_decode(buf, KFS_PLAIN_ATTR_LEN + 1, &b, &dev) == -EIO);
	a.mode = S_IFIFO | 0600; /* FIFOs are served */
	kfs_plain_attr_encode(&a, 77, buf);
	CHECK(kfs_plain_attr_decode(buf, KFS_PLAIN_ATTR_LEN, &b, &dev) == 0 && S_ISFIFO(b.mode));
	a.mode = S_IFCHR | 0666; /* devices and sockets are not */
	kfs_plain_attr_encode(&a, 77, buf);
	CHECK(kfs_plain_attr_decode(buf, KFS_PLAIN_ATTR_LEN, &b, &dev) == -EIO);
	a.mode = S_IFSOCK | 0666;
	kfs_plain_attr_encode(&a, 77, buf);
	CHECK(kfs_plain_attr_decode(buf, KFS_PLAIN_ATTR_LEN, &b, &dev) == -EIO);

	snprintf(e.name, sizeof(e.name), "sub");
	CHECK(kfs_plain_dirent_encode(&e, dir, sizeof(dir), &off) == 0);
	snprintf(e.name, sizeof(e.name), "..");
	CHECK(kfs_plain_dirent_encode(&e, dir, sizeof(dir), &off) == 0);
	CHECK(kfs_plain_dirent_encode(&e, dir, 10, &(size_t){ 0 }) == 1);
	size_t r = 0;
	CHECK(kfs_plain_dirent_decode(dir, off, &r, &got) == 0 && !strcmp(got.name, "sub") &&
	      got.cookie == 3);
	CHECK_ERR(kfs_plain_dirent_decode(dir, off, &r, &got), "bad directory entry"); /* ".." */
	r = 0;
	CHECK_ERR(kfs_plain_dirent_decode(dir, 10, &r, &got), "truncated");
	kfs_plain_put_be64(dir, 2); /* cookies 0-2 belong to the frontend */
	r = 0;
	CHECK(kfs_plain_dirent_decode(dir, off, &r, &got) == -EIO);

	/* xattr lists: NUL-terminated user.* names only */
	CHECK(kfs_plain_xlist_check((const uint8_t *)"user.a\0user.bb\0", 15) == 0);
	CHECK(kfs_plain_xlist_check((const uint8_t *)"", 0) == 0);
	CHECK_ERR(kfs_plain_xlist_check((const uint8_t *)"user.a", 6), "unterminated");
	CHECK_ERR(kfs_plain_xlist_check((const uint8_t *)"user.a\0\0", 8), "bad xattr name");
	CHECK_ERR(kfs_plain_xlist_check((const uint8_t *)"security.selinux\0", 17), "bad xattr name");
}

/* A hostile host: answers VOLUME, then every request with the canned reply. */
static const uint8_t *canned;
static size_t canned_len;

static void *liar(void *arg)
{
	int fd = *(int *)arg;
	uint8_t *buf, ok = 0;
	size_t len;

	if (kfs_wire_recv(fd, &buf, &len) == 0 && kfs_wire_send(fd, &ok, 1, NULL, 0) == 0) {
		free(buf);
		while (kfs_wire_recv(fd, &buf, &len) == 0) {
			free(buf);
			if (kfs_wire_send(fd, canned, canned_len, NULL, 0) < 0)
				break;
		}
	}
	close(fd);
	return NULL;
}

static struct kfs *mount_liar_max(pthread_t *t, int *srv, size_t max)
{
	int sv[2];
	struct kfs *fs = NULL;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	*srv = sv[1];
	pthread_create(t, NULL, liar, srv);
	CHECK(kfs_plain_mount_max(sv[0], "data", 1000, 1000, max, &fs) == 0);
	return fs;
}

static struct kfs *mount_liar(pthread_t *t, int *srv)
{
	return mount_liar_max(t, srv, KFS_PLAIN_NODES_MAX);
}

/* Sizes and types that disagree with the request are EIO, never trusted or a crash. */
TEST(hostile_host)
{
	static uint8_t rep[KFS_PLAIN_IO_MAX + 2];
	struct kfs_attr a;
	pthread_t t;
	int srv;
	char buf[64];
	struct kfs *fs = mount_liar(&t, &srv);

	canned = rep;
	canned_len = 1 + KFS_PLAIN_ATTR_LEN - 1; /* status 0, attributes one byte short */
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "f", &a) == -EIO);
	a = (struct kfs_attr){ .mode = S_IFREG | 0644, .size = 10, .nlink = 1 };
	kfs_plain_attr_encode(&a, 1, rep + 1);
	canned_len = 1 + KFS_PLAIN_ATTR_LEN;
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "f", &a) == 0 && a.uid == 1000 && a.size == 10 && a.ino > 1);
	/* OPEN answered with bare attributes (no handle): EIO */
	CHECK(kfs_open(fs, a.ino) == -EIO);
	/* a READ of 16 bytes answered with 64 */
	canned_len = 1 + 8 + KFS_PLAIN_ATTR_LEN;
	CHECK(kfs_open(fs, a.ino) == 0);
	canned_len = 65;
	CHECK(kfs_read(fs, a.ino, 0, buf, 16) == -EIO);
	/* a WRITE "done" for more bytes than were sent */
	kfs_plain_put_be32(rep + 1, 1000);
	canned_len = 5;
	CHECK(kfs_write(fs, a.ino, 0, "abc", 3) == -EIO);
	/* a readlink target with a NUL, a statfs of the wrong size */
	memcpy(rep + 1, "a\0b", 3);
	canned_len = 4;
	CHECK(kfs_readlink(fs, a.ino, buf, sizeof(buf)) == -EIO);
	CHECK(kfs_statfs(fs, &(struct kfs_statfs){ 0 }) == -EIO);
	/* an error status with data is a malformed reply */
	rep[0] = ENOENT;
	canned_len = 2;
	CHECK(kfs_getattr(fs, a.ino, &a) == -EIO);
	canned_len = 1;
	CHECK(kfs_getattr(fs, a.ino, &a) == -ENOENT);
	rep[0] = 0;
	/* an xattr value over the cap, a list that is not user.* names */
	canned_len = 1 + KFS_XATTR_VALUE_MAX + 1;
	CHECK(kfs_getxattr(fs, a.ino, "user.k", NULL, 0) == -EIO);
	memcpy(rep + 1, "trusted.x\0", 10);
	canned_len = 11;
	CHECK(kfs_listxattr(fs, a.ino, buf, sizeof(buf)) == -EIO);
	memcpy(rep + 1, "user.x", 6);
	canned_len = 7;
	CHECK(kfs_listxattr(fs, a.ino, NULL, 0) == -EIO);
	CHECK(kfs_unmount(fs) == 0);
	pthread_join(t, NULL);
}

/*
 * A host that lies about (st_dev, st_ino): every file the same one. Names
 * merge into one inode, in this volume's view only: paths stay ones the
 * enclave made, and the table stays bounded and consistent.
 */
TEST(lying_keys)
{
	static uint8_t rep[1 + KFS_PLAIN_ATTR_LEN];
	struct kfs_attr a, b, d;
	char name[16];
	pthread_t t;
	int srv;
	struct kfs *fs = mount_liar(&t, &srv);

	canned = rep;
	canned_len = sizeof(rep);
	a = (struct kfs_attr){ .mode = S_IFREG | 0644, .ino = 42, .nlink = 1 };
	kfs_plain_attr_encode(&a, 7, rep + 1);
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "x", &a) == 0);
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "y", &b) == 0 && b.ino == a.ino); /* merged: a lie believed */
	/* a directory is known by its name, whatever key the host gives it */
	d = (struct kfs_attr){ .mode = S_IFDIR | 0755, .ino = 42, .nlink = 2 };
	kfs_plain_attr_encode(&d, 7, rep + 1);
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "x", &d) == 0 && d.ino != a.ino && S_ISDIR(d.mode));
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "x", &b) == 0 && b.ino == d.ino);
	/* a file under that directory with the same key: still one inode, many names */
	kfs_plain_attr_encode(&(struct kfs_attr){ .mode = S_IFREG | 0644, .ino = 42, .nlink = 1 }, 7, rep + 1);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		CHECK(kfs_lookup(fs, d.ino, name, &b) == 0 && b.ino == a.ino);
	}
	CHECK(kfs_getattr(fs, a.ino, &b) == 0); /* by its newest name, "x/n99" */
	CHECK(kfs_rename(fs, d.ino, "n5", d.ino, "n6", 0) == 0); /* two names of one file: nothing */
	CHECK(kfs_unlink(fs, d.ino, "n99") == 0 && kfs_getattr(fs, a.ino, &b) == 0);
	/* the directory's own inode given to a name under it: no loop, no crash */
	kfs_plain_attr_encode(&(struct kfs_attr){ .mode = S_IFDIR | 0755, .ino = 42, .nlink = 2 }, 7, rep + 1);
	CHECK(kfs_rename(fs, KFS_ROOT_INO, "x", d.ino, "loop", 0) == 0);
	CHECK(kfs_getattr(fs, d.ino, &b) == -ENAMETOOLONG); /* loop/loop/...: bounded, no path */
	CHECK(kfs_unmount(fs) == 0);
	pthread_join(t, NULL);
}

/* Names count against the table too: one file given every name by the host is bounded as well. */
TEST(lying_keys_bounded)
{
	static uint8_t rep[1 + KFS_PLAIN_ATTR_LEN];
	struct kfs_attr a, b;
	char name[16];
	pthread_t t;
	int srv, ok = 0, full = 0;
	struct kfs *fs = mount_liar_max(&t, &srv, 8);

	canned = rep;
	canned_len = sizeof(rep);
	kfs_plain_attr_encode(&(struct kfs_attr){ .mode = S_IFREG | 0644, .ino = 42, .nlink = 1 }, 7, rep + 1);
	kfs_count_lookups(fs); /* FUSE's way: the kernel holds every entry until it forgets */
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		int rc = kfs_lookup(fs, KFS_ROOT_INO, name, i ? &b : &a);
		ok += rc == 0;
		full += rc == -ENFILE;
	}
	CHECK(ok == 8 && full == 92);
	kfs_forget(fs, a.ino, 8); /* given back: the node and its names can go */
	CHECK(kfs_lookup(fs, KFS_ROOT_INO, "again", &b) == 0);
	CHECK(kfs_unmount(fs) == 0);
	pthread_join(t, NULL);
}

int main(void)
{
	RUN(paths);
	RUN(requests);
	RUN(replies);
	RUN(hostile_host);
	RUN(lying_keys);
	RUN(lying_keys_bounded);
	return t_done();
}
