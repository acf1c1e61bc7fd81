/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the cpio newc writer and reader, cross-checked with GNU cpio. */
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "eif/cpio.h"
#include "eif/cpio_read.h"
#include "t.h"

struct mem {
	uint8_t *buf;
	size_t len, cap;
};

static int mem_out(const void *p, size_t n, void *arg)
{
	struct mem *m = arg;

	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2 + 64;
		m->buf = realloc(m->buf, m->cap);
		if (!m->buf)
			return kiln_err(ENOMEM, "oom");
	}
	memcpy(m->buf + m->len, p, n);
	m->len += n;
	return 0;
}

static const char sh_data[] = "#!/bin/sh\necho hello\n";
static const char passwd_data[] = "root:x:0:0:root:/root:/bin/sh\n";
#define MTIME 1700000000u

/* A small tree: dirs, files, a symlink, a hard-link pair and a device. */
static int build_archive(struct mem *m)
{
	struct cpio_writer *w = NULL;
	uint8_t big[70000];
	int rc;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + (i >> 8));
	rc = cpio_writer_new(mem_out, m, MTIME, &w);
	if (rc < 0)
		return rc;
	struct cpio_entry dot = { .name = ".", .mode = S_IFDIR | 0755 };
	struct cpio_entry bin = { .name = "bin", .mode = S_IFDIR | 0755 };
	struct cpio_entry etc = { .name = "etc", .mode = S_IFDIR | 0755 };
	struct cpio_entry sh = { .name = "bin/sh", .mode = S_IFREG | 0755, .size = strlen(sh_data) };
	struct cpio_entry pw = { .name = "etc/passwd", .mode = S_IFREG | 0644, .uid = 0, .gid = 0,
				 .size = strlen(passwd_data) };
	struct cpio_entry lnk = { .name = "lib", .mode = S_IFLNK | 0777, .size = 7 };
	struct cpio_entry h1 = { .name = "bin/a", .mode = S_IFREG | 0644, .nlink = 2,
				 .size = 5, .link_group = 42 };
	struct cpio_entry h2 = { .name = "bin/b", .mode = S_IFREG | 0644, .nlink = 2,
				 .size = 0, .link_group = 42 };
	struct cpio_entry bg = { .name = "big", .mode = S_IFREG | 0600, .uid = 1000, .gid = 1000,
				 .size = sizeof(big) };
	struct cpio_entry dev = { .name = "console", .mode = S_IFCHR | 0600, .rdevmajor = 5,
				  .rdevminor = 1 };

	rc = cpio_add_bytes(w, &dot, NULL);
	if (rc == 0)
		rc = cpio_add_bytes(w, &bin, NULL);
	if (rc == 0)
		rc = cpio_add_bytes(w, &etc, NULL);
	if (rc == 0)
		rc = cpio_add_bytes(w, &sh, sh_data);
	if (rc == 0)
		rc = cpio_add_bytes(w, &pw, passwd_data);
	if (rc == 0)
		rc = cpio_add_bytes(w, &lnk, "usr/lib");
	if (rc == 0)
		rc = cpio_add_bytes(w, &h1, "hello");
	if (rc == 0)
		rc = cpio_add_bytes(w, &h2, NULL);
	/* stream big in odd pieces */
	if (rc == 0)
		rc = cpio_add_entry(w, &bg);
	for (size_t off = 0; rc == 0 && off < sizeof(big); off += 1237) {
		size_t n = sizeof(big) - off < 1237 ? sizeof(big) - off : 1237;

		rc = cpio_write_data(w, big + off, n);
	}
	if (rc == 0)
		rc = cpio_end_entry(w);
	if (rc == 0)
		rc = cpio_add_bytes(w, &dev, NULL);
	if (rc == 0)
		rc = cpio_finish(w);
	cpio_writer_free(w);
	return rc;
}

static int sh_run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	*len = (size_t)n;
	fclose(f);
	return buf;
}

TEST(test_deterministic_layout)
{
	struct mem a = { 0 }, b = { 0 };

	CHECK(build_archive(&a) == 0);
	CHECK(build_archive(&b) == 0);
	CHECK(a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0);
	CHECK(a.len % 4 == 0);
	/* first entry: ".", inode 1, dir 0755, nlink 2, the fixed mtime, namesize 2 */
	CHECK(a.len > 112 && memcmp(a.buf, "070701" "00000001" "000041ED" "00000000" "00000000"
				      "00000002" "6553F100" "00000000" "00000000" "00000000"
				      "00000000" "00000000" "00000002" "00000000" ".\0",
				    112) == 0);
	free(a.buf);
	free(b.buf);
}

TEST(test_roundtrip_own_reader)
{
	struct mem m = { 0 };
	struct cpio_reader *r = NULL;
	struct cpio_rentry e;
	uint32_t ino_a = 0, ino_b = 1, last_ino = 0;
	int n = 0, rc;

	CHECK(build_archive(&m) == 0);
	CHECK(cpio_reader_new_mem(m.buf, m.len, NULL, &r) == 0);
	while ((rc = cpio_next(r, &e)) == 1) {
		char data[80000];
		size_t got, total = 0;

		n++;
		CHECK(e.mtime == MTIME);
		if (strcmp(e.name, "bin/b") != 0) {
			CHECK(e.ino == last_ino + 1);
			last_ino = e.ino;
		}
		do {
			CHECK(cpio_read_data(r, data + total, 7001, &got) == 0);
			total += got;
		} while (got);
		CHECK(total == e.size);
		if (strcmp(e.name, "bin/sh") == 0)
			CHECK(total == strlen(sh_data) && memcmp(data, sh_data, total) == 0);
		if (strcmp(e.name, "lib") == 0)
			CHECK(S_ISLNK(e.mode) && memcmp(data, "usr/lib", 7) == 0);
		if (strcmp(e.name, "bin/a") == 0)
			ino_a = e.ino;
		if (strcmp(e.name, "bin/b") == 0)
			ino_b = e.ino;
		if (strcmp(e.name, "big") == 0)
			CHECK(e.uid == 1000 && data[69999] == (char)(uint8_t)(69999 * 7 + (69999 >> 8)));
		if (strcmp(e.name, "console") == 0)
			CHECK(S_ISCHR(e.mode) && e.rdevmajor == 5 && e.rdevminor == 1);
	}
	CHECK(rc == 0);
	CHECK(n == 10);
	CHECK(ino_a == ino_b);
	CHECK(cpio_next(r, &e) == 0);
	cpio_reader_free(r);
	free(m.buf);
}

/* Our archive extracted by GNU cpio gives the same tree. */
TEST(test_gnu_cpio_extracts_ours)
{
	char dir[] = "/tmp/kiln-cpio-XXXXXX", cmd[1200], path[512];
	struct mem m = { 0 };
	struct stat sa, sb;
	size_t len;
	char *s;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(build_archive(&m) == 0);
	snprintf(path, sizeof(path), "%s.cpio", dir);
	f = fopen(path, "wb");
	CHECK(f && fwrite(m.buf, 1, m.len, f) == m.len);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cd %s && cpio -idmu --quiet < %s", dir, path);
	CHECK(sh_run(cmd) == 0);
	snprintf(path, sizeof(path), "%s/bin/sh", dir);
	s = slurp(path, &len);
	CHECK(s && len == strlen(sh_data) && memcmp(s, sh_data, len) == 0);
	free(s);
	CHECK(stat(path, &sa) == 0 && (sa.st_mode & 07777) == 0755 && sa.st_mtime == MTIME);
	snprintf(path, sizeof(path), "%s/lib", dir);
	len = (size_t)readlink(path, cmd, sizeof(cmd));
	CHECK(len == 7 && memcmp(cmd, "usr/lib", 7) == 0);
	snprintf(path, sizeof(path), "%s/bin/a", dir);
	CHECK(stat(path, &sa) == 0);
	snprintf(path, sizeof(path), "%s/bin/b", dir);
	CHECK(stat(path, &sb) == 0);
	CHECK(sa.st_ino == sb.st_ino && sa.st_size == 5);
	snprintf(path, sizeof(path), "%s/big", dir);
	CHECK(stat(path, &sa) == 0 && sa.st_size == 70000 && sa.st_uid == 1000);
	snprintf(path, sizeof(path), "%s/console", dir);
	if (geteuid() == 0)
		CHECK(stat(path, &sa) == 0 && S_ISCHR(sa.st_mode) && major(sa.st_rdev) == 5);
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s.cpio", dir, dir);
	CHECK(sh_run(cmd) == 0);
	free(m.buf);
}

/* An archive made by GNU cpio reads back with our reader. */
TEST(test_reads_gnu_cpio)
{
	char dir[] = "/tmp/kiln-cpio-XXXXXX", cmd[1024], path[600];
	struct cpio_reader *r = NULL;
	struct cpio_rentry e;
	int fd, rc, files = 0, links = 0;
	bool saw_hello = false;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && mkdir -p t/sub && printf hello > t/sub/hello && "
		 "head -c 100003 /dev/urandom > t/rand && ln -s sub/hello t/link && "
		 "ln t/rand t/rand2 && mkfifo t/fifo && cd t && "
		 "find . | LC_ALL=C sort | cpio -o -H newc --quiet > ../a.cpio",
		 dir);
	CHECK(sh_run(cmd) == 0);
	snprintf(path, sizeof(path), "%s/a.cpio", dir);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK(cpio_reader_new_fd(fd, 0, (uint64_t)lseek(fd, 0, SEEK_END), NULL, &r) == 0);
	while ((rc = cpio_next(r, &e)) == 1) {
		char buf[4096];
		size_t got, total = 0;

		do {
			CHECK(cpio_read_data(r, buf, sizeof(buf), &got) == 0);
			if (strstr(e.name, "sub/hello") && total == 0 && got)
				saw_hello = got == 5 && !memcmp(buf, "hello", 5);
			total += got;
		} while (got);
		if (S_ISREG(e.mode))
			files++;
		if (S_ISLNK(e.mode))
			links++;
	}
	CHECK(rc == 0);
	CHECK(saw_hello);
	CHECK(files == 3 && links == 1);
	cpio_reader_free(r);
	close(fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(sh_run(cmd) == 0);
}

/* Build one raw newc header + name (+ data) for negative tests. */
static size_t raw_entry(uint8_t *out, const char *magic, uint32_t mode, uint32_t size,
			const char *name, uint32_t namesize)
{
	size_t n = (size_t)sprintf((char *)out,
				   "%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", magic,
				   1u, mode, 0u, 0u, 1u, 0u, size, 0u, 0u, 0u, 0u, namesize, 0u);

	memcpy(out + n, name, strlen(name) + 1);
	n += strlen(name) + 1;
	while (n % 4)
		out[n++] = 0;
	return n;
}

static int read_all(const uint8_t *buf, size_t len, const struct cpio_limits *lim)
{
	struct cpio_reader *r = NULL;
	struct cpio_rentry e;
	int rc = cpio_reader_new_mem(buf, len, lim, &r);

	if (rc < 0)
		return rc;
	while ((rc = cpio_next(r, &e)) == 1) {
		char data[512];
		size_t got;

		do
			rc = cpio_read_data(r, data, sizeof(data), &got);
		while (rc == 0 && got);
		if (rc < 0)
			break;
	}
	cpio_reader_free(r);
	return rc;
}

TEST(test_reader_rejects)
{
	uint8_t buf[20000];
	struct mem m = { 0 };
	struct cpio_limits lim = { .max_file_size = 100 };
	size_t n;

	CHECK(build_archive(&m) == 0);
	CHECK(read_all(m.buf, m.len, NULL) == 0);
	/* every strict prefix is truncated */
	for (size_t len = 0; len < m.len; len += (len < 400 ? 1 : 97))
		CHECK_ERR(read_all(m.buf, len, NULL), "truncated");
	CHECK_ERR(read_all(m.buf, m.len, &lim), "limit");
	free(m.buf);

	n = raw_entry(buf, "070707", S_IFREG | 0644, 0, "x", 2);
	CHECK_ERR(read_all(buf, n, NULL), "bad magic");
	n = raw_entry(buf, "070702", S_IFREG | 0644, 0, "x", 2);
	CHECK_ERR(read_all(buf, n, NULL), "crc");
	n = raw_entry(buf, "070701", S_IFREG | 0644, 0, "../x", 5);
	CHECK_ERR(read_all(buf, n, NULL), "..");
	n = raw_entry(buf, "070701", S_IFREG | 0644, 0, "a/../../x", 10);
	CHECK_ERR(read_all(buf, n, NULL), "..");
	n = raw_entry(buf, "070701", S_IFREG | 0644, 0, "/etc/passwd", 12);
	CHECK_ERR(read_all(buf, n, NULL), "absolute");
	n = raw_entry(buf, "070701", S_IFREG | 0644, 0, "x", 0);
	CHECK_ERR(read_all(buf, n, NULL), "name of 0 bytes");
	n = raw_entry(buf, "070701", S_IFREG | 0644, 0, "x", 100000);
	CHECK_ERR(read_all(buf, n, NULL), "name of");
	n = raw_entry(buf, "070701", S_IFREG | 0644, 0, "xy", 2); /* name lacks its NUL */
	CHECK_ERR(read_all(buf, n, NULL), "NUL");
	n = raw_entry(buf, "070701", S_IFDIR | 0755, 4, "d", 2);
	CHECK_ERR(read_all(buf, n + 4, NULL), "no data");
	n = raw_entry(buf, "070701", 0170644, 0, "x", 2);
	CHECK_ERR(read_all(buf, n, NULL), "unknown file type");
	n = raw_entry(buf, "070701", S_IFLNK | 0777, 5000, "l", 2);
	memset(buf + n, 'a', 5000);
	CHECK_ERR(read_all(buf, n + 5000, NULL), "symlink");
	n = raw_entry(buf, "070701", S_IFREG | 0644, 0xFFFFFFF0u, "big", 4);
	CHECK_ERR(read_all(buf, n, NULL), "truncated");
	n = raw_entry(buf, "070701", S_IFREG | 0644, 0, "x", 2);
	buf[10] = 'g'; /* a non-hex digit in the inode field */
	CHECK_ERR(read_all(buf, n, NULL), "hex");
}

/* A file range as entry data, through the out_fd hook or the bounce buffer. */
static int fd_out(int fd, uint64_t off, uint64_t len, void *arg)
{
	uint8_t *p = malloc(len ? len : 1);
	int rc = p && pread(fd, p, len, (off_t)off) == (ssize_t)len ? mem_out(p, len, arg)
								       : kiln_err(EIO, "short");

	free(p);
	return rc;
}

static void archive_from_fd(int fd, bool hook, uint64_t size, struct mem *m)
{
	struct cpio_entry e = { .name = "f", .mode = S_IFREG | 0644, .size = size };
	struct cpio_writer *w = NULL;

	CHECK(cpio_writer_new(mem_out, m, MTIME, &w) == 0);
	if (!w)
		return;
	if (hook)
		cpio_writer_set_out_fd(w, fd_out);
	CHECK(cpio_add_entry(w, &e) == 0);
	CHECK(cpio_write_fd(w, fd, 3, size - 1000) == 0);
	CHECK(cpio_write_fd(w, fd, 3 + size - 1000, 1000) == 0);
	CHECK_ERR(cpio_write_fd(w, fd, 0, 1), "longer than its declared size");
	CHECK(cpio_end_entry(w) == 0);
	CHECK(cpio_finish(w) == 0);
	cpio_writer_free(w);
}

TEST(test_write_fd)
{
	enum { SIZE = 200003 };
	struct mem a = { 0 }, b = { 0 }, c = { 0 };
	struct cpio_entry e = { .name = "f", .mode = S_IFREG | 0644, .size = SIZE };
	uint8_t *data = malloc(SIZE + 3);
	struct cpio_writer *w = NULL;
	char path[] = "/tmp/kiln-cpio-fd-XXXXXX";
	int fd = mkstemp(path);

	for (size_t i = 0; i < SIZE + 3; i++)
		data[i] = (uint8_t)(i * 13 + (i >> 9));
	CHECK(fd >= 0 && write(fd, data, SIZE + 3) == SIZE + 3);
	unlink(path);
	CHECK(cpio_writer_new(mem_out, &a, MTIME, &w) == 0);
	CHECK(cpio_add_bytes(w, &e, data + 3) == 0);
	CHECK(cpio_finish(w) == 0);
	cpio_writer_free(w);
	archive_from_fd(fd, false, SIZE, &b);
	archive_from_fd(fd, true, SIZE, &c);
	CHECK(a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0);
	CHECK(a.len == c.len && memcmp(a.buf, c.buf, a.len) == 0);
	close(fd);
	free(a.buf);
	free(b.buf);
	free(c.buf);
	free(data);
}

TEST(test_writer_rejects)
{
	struct mem m = { 0 };
	struct cpio_writer *w = NULL;
	struct cpio_entry huge = { .name = "huge", .mode = S_IFREG | 0644, .size = 1ull << 32 };
	struct cpio_entry f = { .name = "f", .mode = S_IFREG | 0644, .size = 3 };
	struct cpio_entry dots = { .name = "a/../b", .mode = S_IFREG | 0644 };
	struct cpio_entry abs = { .name = "/b", .mode = S_IFREG | 0644 };

	CHECK(cpio_writer_new(mem_out, &m, 0, &w) == 0);
	CHECK_ERR(cpio_add_entry(w, &huge), "4 GiB");
	CHECK_ERR(cpio_add_entry(w, &dots), "..");
	CHECK_ERR(cpio_add_entry(w, &abs), "absolute");
	CHECK(cpio_add_entry(w, &f) == 0);
	CHECK_ERR(cpio_write_data(w, "abcd", 4), "longer");
	CHECK(cpio_write_data(w, "ab", 2) == 0);
	CHECK_ERR(cpio_end_entry(w), "short by 1");
	CHECK_ERR(cpio_finish(w), "not ended");
	CHECK(cpio_write_data(w, "c", 1) == 0);
	CHECK(cpio_end_entry(w) == 0);
	CHECK(cpio_finish(w) == 0);
	CHECK_ERR(cpio_add_entry(w, &f), "finished");
	CHECK(m.len % 4 == 0);
	CHECK(read_all(m.buf, m.len, NULL) == 0);
	cpio_writer_free(w);
	free(m.buf);
}

int main(void)
{
	RUN(test_deterministic_layout);
	RUN(test_roundtrip_own_reader);
	RUN(test_gnu_cpio_extracts_ours);
	RUN(test_reads_gnu_cpio);
	RUN(test_reader_rejects);
	RUN(test_writer_rejects);
	RUN(test_write_fd);
	return t_done();
}
