/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the EIF writer, reader, PCRs and nitro-cli signatures. */
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "eif/cbor_out.h"
#include "eif/eif.h"
#include "eif/measure.h"
#include "eif/sign.h"
#include "eif/writer.h"
#include "t.h"

static char tmpdir[] = "/tmp/kiln-eif-XXXXXX";

static char *tpath(const char *name)
{
	static char buf[8][512];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
	return buf[i];
}

static int sh_run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	uint8_t *buf;

	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	if (buf && read(fd, buf, (size_t)st.st_size) != st.st_size) {
		free(buf);
		buf = NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static int memfd_of(const void *buf, size_t len)
{
	int fd = memfd_create("eif", MFD_CLOEXEC);

	if (fd >= 0 && write(fd, buf, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The test image's sections. */
static uint8_t *kernel;
static size_t kernel_len = 3 * 1024 * 1024 + 17; /* larger than the I/O buffers */
static const char cmdline[] = "reboot=k panic=30 pci=off nomodules console=ttyS0";
static const char metadata[] = "{\"ImageName\":\"test\"}";
static uint8_t ramdisk[3][100003];

static void make_data(void)
{
	kernel = malloc(kernel_len);
	for (size_t i = 0; i < kernel_len; i++)
		kernel[i] = (uint8_t)(i * 131 + (i >> 11));
	for (int r = 0; r < 3; r++)
		for (size_t i = 0; i < sizeof(ramdisk[r]); i++)
			ramdisk[r][i] = (uint8_t)(i * (r + 3) + r);
}

/* Build the test EIF; nram ramdisks, optionally signed. */
static int build(const char *path, int nram, const char *key, const char *cert,
		 struct eif_pcrs *pcrs)
{
	struct eif_writer *w = NULL;
	int rc = eif_writer_open(path, &w);

	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_KERNEL, kernel, kernel_len);
	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_CMDLINE, cmdline, strlen(cmdline));
	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_METADATA, metadata, strlen(metadata));
	for (int r = 0; rc == 0 && r < nram; r++) {
		/* ramdisks arrive in small pieces, like cpio output */
		rc = eif_writer_begin(w, EIF_SECTION_RAMDISK);
		for (size_t off = 0; rc == 0 && off < sizeof(ramdisk[r]); off += 1 + off % 13) {
			size_t n = 1 + off % 13;

			if (n > sizeof(ramdisk[r]) - off)
				n = sizeof(ramdisk[r]) - off;
			rc = eif_writer_out(ramdisk[r] + off, n, w);
		}
		if (rc == 0)
			rc = eif_writer_end(w);
	}
	if (rc == 0 && key)
		rc = eif_writer_sign(w, key, cert);
	if (rc == 0)
		rc = eif_writer_commit(w, 512ull << 20, 2, 0, pcrs);
	eif_writer_free(w);
	return rc;
}

/* extend(SHA384(file)) computed by the openssl CLI, hex. */
static void cli_pcr_hex(const char *file, char out[97])
{
	char cmd[2048];
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "(head -c 48 /dev/zero; openssl dgst -sha384 -binary %s) | "
		 "openssl dgst -sha384 -r | cut -c1-96",
		 file);
	p = popen(cmd, "r");
	out[0] = '\0';
	if (p) {
		if (!fgets(out, 97, p))
			out[0] = '\0';
		pclose(p);
	}
}

static void write_file(const char *path, const void *a, size_t alen)
{
	FILE *f = fopen(path, "ab");

	if (f) {
		if (fwrite(a, 1, alen, f) != alen)
			fprintf(stderr, "short write\n");
		fclose(f);
	}
}

static int hex_eq(const uint8_t *pcr, const char *hex)
{
	char h[97];

	kiln_hex(pcr, 48, h);
	return strcmp(h, hex) == 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Recompute the CRC of an EIF image in memory (the plain, two-range way). */
static uint32_t crc_of(const uint8_t *buf, size_t len)
{
	uLong c = crc32(0L, buf, EIF_CRC_OFFSET);

	return (uint32_t)crc32(c, buf + EIF_HEADER_SIZE, (uInt)(len - EIF_HEADER_SIZE));
}

static void fix_crc(uint8_t *buf, size_t len)
{
	put_be32(buf + EIF_CRC_OFFSET, crc_of(buf, len));
}

static int read_mem(const uint8_t *buf, size_t len, struct eif_info *info, struct eif_pcrs *pcrs)
{
	int fd = memfd_of(buf, len), rc;

	if (fd < 0)
		return kiln_err(EIO, "memfd");
	rc = eif_read_info(fd, info, pcrs);
	close(fd);
	return rc;
}

TEST(test_roundtrip)
{
	struct eif_pcrs wp, rp;
	struct eif_info info;
	char hex[97];
	uint8_t *img, *sec = NULL;
	size_t len;
	int fd;

	CHECK(build(tpath("a.eif"), 3, NULL, NULL, &wp) == 0);
	CHECK(!wp.has_pcr8);
	fd = open(tpath("a.eif"), O_RDONLY);
	CHECK(fd >= 0);
	CHECK(eif_read_info(fd, &info, &rp) == 0);
	CHECK(memcmp(&wp, &rp, sizeof(wp)) == 0);
	CHECK(info.version == 4 && info.default_mem == 512ull << 20 && info.default_cpus == 2);
	CHECK(info.num_sections == 6);
	CHECK(info.sections[0].type == EIF_SECTION_KERNEL && info.sections[0].offset == 548 &&
	      info.sections[0].size == kernel_len);
	CHECK(info.sections[1].type == EIF_SECTION_CMDLINE &&
	      info.sections[1].offset == 548 + 12 + kernel_len);
	CHECK(info.sections[2].type == EIF_SECTION_METADATA);
	CHECK(info.sections[5].type == EIF_SECTION_RAMDISK &&
	      info.sections[5].size == sizeof(ramdisk[2]));
	CHECK(eif_read_section(fd, &info, 1, &sec, 4096) == 0);
	CHECK(sec && strcmp((char *)sec, cmdline) == 0);
	free(sec);
	sec = NULL;
	CHECK_ERR(eif_read_section(fd, &info, 0, &sec, 4096), "more than");
	CHECK_ERR(eif_read_section(fd, &info, 6, &sec, 4096), "no section");
	close(fd);

	/* the CRC, computed the plain way */
	img = slurp(tpath("a.eif"), &len);
	CHECK(img && be32(img + EIF_CRC_OFFSET) == crc_of(img, len));
	CHECK(info.crc_stored == info.crc_computed);
	free(img);

	/* PCRs against the openssl CLI over the concatenated sections */
	unlink(tpath("pcr0"));
	write_file(tpath("pcr0"), kernel, kernel_len);
	write_file(tpath("pcr0"), cmdline, strlen(cmdline));
	write_file(tpath("pcr1"), kernel, kernel_len);
	write_file(tpath("pcr1"), cmdline, strlen(cmdline));
	write_file(tpath("pcr1"), ramdisk[0], sizeof(ramdisk[0]));
	for (int r = 0; r < 3; r++)
		write_file(tpath("pcr0"), ramdisk[r], sizeof(ramdisk[r]));
	for (int r = 1; r < 3; r++)
		write_file(tpath("pcr2"), ramdisk[r], sizeof(ramdisk[r]));
	cli_pcr_hex(tpath("pcr0"), hex);
	CHECK(hex_eq(rp.pcr0, hex));
	cli_pcr_hex(tpath("pcr1"), hex);
	CHECK(hex_eq(rp.pcr1, hex));
	cli_pcr_hex(tpath("pcr2"), hex);
	CHECK(hex_eq(rp.pcr2, hex));
}

/*
 * The same EIF with section data read from files (eif_writer_write_fd, as
 * kiln build does for the kernel and image files) is byte-identical: the
 * kernel from an odd offset across many pipe buffers, a ramdisk in file
 * ranges mixed with small in-memory writes, a short read failing cleanly.
 */
TEST(test_write_fd)
{
	struct eif_writer *w = NULL;
	struct eif_pcrs a, b;
	uint8_t *want, *got, *kfile = malloc(kernel_len + 7);
	size_t wl = 0, gl = 0, off = 0;
	int kfd, rfd, rc;

	CHECK(build(tpath("plain.eif"), 2, NULL, NULL, &a) == 0);
	memset(kfile, 0xee, 7);
	memcpy(kfile + 7, kernel, kernel_len);
	kfd = memfd_of(kfile, kernel_len + 7);
	rfd = memfd_of(ramdisk[1], sizeof(ramdisk[1]));
	CHECK(kfd >= 0 && rfd >= 0);
	rc = eif_writer_open(tpath("fd.eif"), &w);
	if (rc == 0)
		rc = eif_writer_begin(w, EIF_SECTION_KERNEL);
	if (rc == 0)
		rc = eif_writer_write_fd(w, kfd, 7, kernel_len);
	if (rc == 0)
		rc = eif_writer_end(w);
	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_CMDLINE, cmdline, strlen(cmdline));
	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_METADATA, metadata, strlen(metadata));
	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_RAMDISK, ramdisk[0], sizeof(ramdisk[0]));
	if (rc == 0)
		rc = eif_writer_begin(w, EIF_SECTION_RAMDISK);
	for (size_t n = 1; rc == 0 && off < sizeof(ramdisk[1]); n = n * 3 % 40000 + 1) {
		if (n > sizeof(ramdisk[1]) - off)
			n = sizeof(ramdisk[1]) - off;
		rc = n % 2 ? eif_writer_write(w, ramdisk[1] + off, n)
			   : eif_writer_write_fd(w, rfd, off, n);
		off += n;
	}
	if (rc == 0)
		rc = eif_writer_end(w);
	if (rc == 0)
		rc = eif_writer_commit(w, 512ull << 20, 2, 0, &b);
	CHECK(rc == 0);
	eif_writer_free(w);
	want = slurp(tpath("plain.eif"), &wl);
	got = slurp(tpath("fd.eif"), &gl);
	CHECK(want && got && wl == gl && memcmp(want, got, wl) == 0);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	free(want);
	free(got);

	/* A file shorter than promised: an error naming the read, nothing published. */
	CHECK(eif_writer_open(tpath("short.eif"), &w) == 0);
	CHECK(eif_writer_begin(w, EIF_SECTION_KERNEL) == 0);
	CHECK_ERR(eif_writer_write_fd(w, rfd, 0, sizeof(ramdisk[1]) + 1),
		  "file shorter than expected");
	eif_writer_free(w);
	CHECK(access(tpath("short.eif"), F_OK) != 0);
	close(kfd);
	close(rfd);
	free(kfile);
}

/* Write sections of the given types and sizes (byte i of section j is (i * 7 + j) & 255). */
static int write_sections(const char *path, int n, const uint16_t *types, const size_t *sizes,
			  struct eif_pcrs *pcrs)
{
	struct eif_writer *w = NULL;
	int rc = eif_writer_open(path, &w);

	for (int j = 0; j < n && rc == 0; j++) {
		uint8_t *d = malloc(sizes[j] ? sizes[j] : 1);

		for (size_t i = 0; d && i < sizes[j]; i++)
			d[i] = (uint8_t)(i * 7 + (size_t)j);
		rc = d ? eif_writer_section(w, types[j], d, sizes[j]) : -ENOMEM;
		free(d);
	}
	if (rc == 0)
		rc = eif_writer_commit(w, 512ull << 20, 2, 0, pcrs);
	eif_writer_free(w);
	return rc;
}

/* The PCR over the sections whose bit is set in pick, in order. */
static void pcr_over(int n, const size_t *sizes, unsigned pick, uint8_t out[KILN_SHA384_LEN])
{
	size_t total = 0, at = 0;
	uint8_t *all;

	for (int j = 0; j < n; j++)
		total += (pick >> j & 1u) ? sizes[j] : 0;
	all = malloc(total ? total : 1);
	for (int j = 0; all && j < n; j++)
		for (size_t i = 0; (pick >> j & 1u) && i < sizes[j]; i++)
			all[at++] = (uint8_t)(i * 7 + (size_t)j);
	CHECK(all && eif_pcr_of(all, total, out) == 0);
	free(all);
}

/*
 * Write sections n of t and sz to name; the writer's PCRs and the reader's
 * must be those over the sections picked (bit j: section j) by pick[0..2].
 */
static void check_fork_case(const char *name, int n, const uint16_t *t, const size_t *sz,
			    const unsigned pick[3])
{
	struct eif_pcrs wp, rp;
	struct eif_info info;
	uint8_t want[3][KILN_SHA384_LEN];
	int fd;

	CHECK(write_sections(tpath(name), n, t, sz, &wp) == 0);
	for (int i = 0; i < 3; i++)
		pcr_over(n, sz, pick[i], want[i]);
	fd = open(tpath(name), O_RDONLY);
	CHECK(fd >= 0 && eif_read_info(fd, &info, &rp) == 0);
	close(fd);
	CHECK(memcmp(wp.pcr0, want[0], KILN_SHA384_LEN) == 0);
	CHECK(memcmp(wp.pcr1, want[1], KILN_SHA384_LEN) == 0);
	CHECK(memcmp(wp.pcr2, want[2], KILN_SHA384_LEN) == 0);
	CHECK(memcmp(&wp, &rp, sizeof(wp)) == 0);
}

/*
 * PCR1 shares PCR0's hashing until the first app ramdisk forks it: the
 * writer and the reader agree with PCRs computed over the concatenated
 * sections, with boot sections before and after the fork (a later cmdline),
 * large enough to cross the writer's buffers, and with no app ramdisk at all.
 */
TEST(test_pcr1_fork)
{
	/* kernel, metadata, ramdisk 0, ramdisk 1, cmdline, ramdisk 2 */
	static const uint16_t t[] = { EIF_SECTION_KERNEL, EIF_SECTION_METADATA,
				      EIF_SECTION_RAMDISK, EIF_SECTION_RAMDISK,
				      EIF_SECTION_CMDLINE, EIF_SECTION_RAMDISK };
	static const size_t sz[] = { 3u << 20, 10, 100000, 1u << 20, 5, 700000 };
	static const unsigned forked[3] = { 1u | 4u | 8u | 16u | 32u, 1u | 4u | 16u, 8u | 32u };
	/* one ramdisk only: PCR1 never forks and equals PCR0; PCR2 is of nothing */
	static const unsigned unforked[3] = { 1u | 4u, 1u | 4u, 0 };

	check_fork_case("fork.eif", 6, t, sz, forked);
	check_fork_case("nofork.eif", 3, t, sz, unforked);
}

TEST(test_measurements_json)
{
	struct eif_pcrs p;
	char *s, want[1024], h0[97], h1[97], h2[97];

	memset(&p, 0, sizeof(p));
	for (int i = 0; i < 48; i++) {
		p.pcr0[i] = (uint8_t)i;
		p.pcr1[i] = (uint8_t)(0xff - i);
		p.pcr2[i] = 0xab;
		p.pcr8[i] = 0x01;
	}
	kiln_hex(p.pcr0, 48, h0);
	kiln_hex(p.pcr1, 48, h1);
	kiln_hex(p.pcr2, 48, h2);
	snprintf(want, sizeof(want),
		 "{\n  \"Measurements\": {\n    \"HashAlgorithm\": \"Sha384 { ... }\",\n"
		 "    \"PCR0\": \"%s\",\n    \"PCR1\": \"%s\",\n    \"PCR2\": \"%s\"\n  }\n}",
		 h0, h1, h2);
	s = eif_measurements_json(&p);
	CHECK(s && strcmp(s, want) == 0);
	free(s);
	p.has_pcr8 = true;
	s = eif_measurements_json(&p);
	CHECK(s && strstr(s, "\"PCR2\": \"abab") && strstr(s, "\n    \"PCR8\": \"0101"));
	free(s);
}

TEST(test_corruption)
{
	static const size_t spots[] = { 7, 9, 20, 543, 545, 548 + 13, 548 + 12 + 1000,
					548 + 12 + 3 * 1024 * 1024 };
	struct eif_info info;
	uint8_t *img;
	size_t len;

	img = slurp(tpath("a.eif"), &len);
	CHECK(img != NULL);
	if (!img)
		return;
	CHECK(read_mem(img, len, &info, NULL) == 0);
	for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
		img[spots[i]] ^= 0x10;
		CHECK_ERR(read_mem(img, len, &info, NULL), "CRC mismatch");
		img[spots[i]] ^= 0x10;
	}
	img[len - 1] ^= 1;
	CHECK_ERR(read_mem(img, len, &info, NULL), "CRC mismatch: stored");
	img[len - 1] ^= 1;

	img[0] = 'x';
	CHECK_ERR(read_mem(img, len, &info, NULL), "bad magic");
	img[0] = '.';
	img[5] = 3;
	CHECK_ERR(read_mem(img, len, &info, NULL), "unsupported EIF version 3");
	img[5] = 4;
	img[27] = 33; /* num_sections */
	CHECK_ERR(read_mem(img, len, &info, NULL), "too many sections");
	img[27] = 5;
	CHECK_ERR(read_mem(img, len, &info, NULL), "set beyond num_sections");
	img[27] = 6;
	img[28 + 8 * 2 + 7] += 1; /* section 2's offset */
	CHECK_ERR(read_mem(img, len, &info, NULL), "section 2 out of bounds");
	img[28 + 8 * 2 + 7] -= 1;
	img[28 + 256 + 8 * 5] = 0x80; /* section 5's size, huge */
	CHECK_ERR(read_mem(img, len, &info, NULL), "section 5 out of bounds");
	img[28 + 256 + 8 * 5] = 0xff;
	CHECK_ERR(read_mem(img, len, &info, NULL), "section 5 out of bounds");
	img[28 + 256 + 8 * 5] = 0;
	img[28 + 256 + 8 * 5 + 7] += 1; /* section 5 one byte longer than the file */
	CHECK_ERR(read_mem(img, len, &info, NULL), "truncated");
	img[28 + 256 + 8 * 5 + 7] -= 1;
	img[28 + 256 + 8 * 1 + 7] += 1; /* table disagrees with section 1's header */
	img[28 + 8 * 2 + 7] += 1;
	img[28 + 8 * 3 + 7] += 1;
	img[28 + 8 * 4 + 7] += 1;
	img[28 + 8 * 5 + 7] += 1;
	img[28 + 256 + 8 * 5 + 7] -= 1;
	CHECK_ERR(read_mem(img, len, &info, NULL), "section 1 out of bounds");
	free(img);

	/* an invalid section type, CRC fixed up */
	img = slurp(tpath("a.eif"), &len);
	img[548 + 1] = 9;
	fix_crc(img, len);
	CHECK_ERR(read_mem(img, len, &info, NULL), "invalid type 9");
	img[548 + 1] = EIF_SECTION_CMDLINE; /* two cmdlines */
	fix_crc(img, len);
	CHECK_ERR(read_mem(img, len, &info, NULL), "more than one section");
	free(img);
}

TEST(test_truncation_and_garbage)
{
	struct eif_info info;
	uint8_t *img, *big;
	size_t len, n = 0;

	img = slurp(tpath("a.eif"), &len);
	CHECK(img != NULL);
	if (!img)
		return;
	for (size_t l = 0; l < len; l += l < 1200 ? 1 : 65521, n++)
		CHECK_ERR(read_mem(img, l, &info, NULL), "truncated");
	CHECK_ERR(read_mem(img, len - 1, &info, NULL), "truncated");
	CHECK(n > 1200);
	big = malloc(len + 5);
	memcpy(big, img, len);
	memset(big + len, 0, 5);
	CHECK_ERR(read_mem(big, len + 5, &info, NULL), "trailing garbage: 5 bytes");
	free(big);
	free(img);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

/* Hand-craft an EIF (table and CRC right) from n sections; returns its length. */
static size_t craft(uint8_t *out, int n, const uint16_t *types, const char *const *data)
{
	size_t pos = EIF_HEADER_SIZE;

	memset(out, 0, EIF_HEADER_SIZE);
	memcpy(out, EIF_MAGIC, 4);
	out[5] = EIF_VERSION;
	out[27] = (uint8_t)n;
	for (int i = 0; i < n; i++) {
		size_t len = strlen(data[i]);

		put_be64(out + 28 + 8 * i, pos);
		put_be64(out + 28 + 256 + 8 * i, len);
		memset(out + pos, 0, 12);
		out[pos + 1] = (uint8_t)types[i];
		put_be64(out + pos + 4, len);
		memcpy(out + pos + 12, data[i], len);
		pos += 12 + len;
	}
	fix_crc(out, pos);
	return pos;
}

TEST(test_crafted)
{
	static const uint16_t t1[] = { EIF_SECTION_KERNEL, EIF_SECTION_SIGNATURE,
				       EIF_SECTION_RAMDISK };
	static const char *const d1[] = { "k", "\x80", "ramdisk data longer than the signature" };
	static const char *const d2[] = { "k", "\x81\xa0", "r" };
	static const char *const d3[] = { "k", "\x81\xa2\x73signing_certificate\x41x\x69signature\x40", "r" };
	struct eif_info info;
	struct eif_pcrs p;
	uint8_t buf[4096];
	size_t len;

	/* the signature section need not be last; nothing after it is kept */
	len = craft(buf, 3, t1, d1);
	CHECK_ERR(read_mem(buf, len, &info, &p), "not a non-empty CBOR array");
	CHECK(read_mem(buf, len, &info, NULL) == 0);
	len = craft(buf, 3, t1, d2);
	CHECK_ERR(read_mem(buf, len, &info, &p), "lacks signing_certificate");
	len = craft(buf, 3, t1, d3);
	CHECK_ERR(read_mem(buf, len, &info, &p), "not a PEM X.509 certificate");
	/* no sections at all is a valid (useless) image */
	len = craft(buf, 0, t1, d1);
	CHECK(read_mem(buf, len, &info, &p) == 0 && info.num_sections == 0 && !p.has_pcr8);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.' || (de->d_name[1] && strcmp(de->d_name, ".."));
	if (d)
		closedir(d);
	return n;
}

TEST(test_writer_atomic_and_misuse)
{
	char dir[600];
	struct eif_writer *w = NULL;
	struct eif_info info;
	struct eif_pcrs p;
	int fd;

	snprintf(dir, sizeof(dir), "%s/atomic", tmpdir);
	CHECK(mkdir(dir, 0755) == 0);
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/out.eif");
	CHECK(eif_writer_open(dir, &w) == 0);
	CHECK(eif_writer_section(w, EIF_SECTION_KERNEL, "k", 1) == 0);
	CHECK(access(dir, F_OK) != 0);
	CHECK(count_entries(tpath("atomic")) == 0);
	CHECK_ERR(eif_writer_begin(w, EIF_SECTION_SIGNATURE), "eif_writer_sign");
	CHECK_ERR(eif_writer_write(w, "x", 1), "outside a section");
	CHECK_ERR(eif_writer_end(w), "no EIF section");
	CHECK(eif_writer_begin(w, EIF_SECTION_RAMDISK) == 0);
	CHECK_ERR(eif_writer_begin(w, EIF_SECTION_RAMDISK), "not ended");
	CHECK_ERR(eif_writer_commit(w, 1, 1, 0, NULL), "not ended");
	eif_writer_free(w);
	CHECK(count_entries(tpath("atomic")) == 0);

	/* replace an existing file */
	fd = open(dir, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0 && write(fd, "old", 3) == 3);
	close(fd);
	CHECK(eif_writer_open(dir, &w) == 0);
	for (int i = 0; i < EIF_MAX_SECTIONS; i++)
		CHECK(eif_writer_section(w, EIF_SECTION_RAMDISK, "r", 1) == 0);
	CHECK_ERR(eif_writer_section(w, EIF_SECTION_RAMDISK, "r", 1), "at most 32");
	CHECK(eif_writer_commit(w, 1, 1, EIF_FLAG_ARM64, &p) == 0);
	CHECK_ERR(eif_writer_section(w, EIF_SECTION_RAMDISK, "r", 1), "committed");
	eif_writer_free(w);
	CHECK(count_entries(tpath("atomic")) == 1);
	fd = open(dir, O_RDONLY);
	CHECK(eif_read_info(fd, &info, NULL) == 0);
	CHECK(info.num_sections == 32 && info.flags == EIF_FLAG_ARM64);
	close(fd);
	CHECK_ERR(eif_writer_open(tpath("nodir/x.eif"), &w), "cannot create");
	CHECK_ERR(eif_writer_open(tpath("atomic/"), &w), "not a file name");
}

/* A fresh EC key and self-signed certificate. */
static void make_key(const char *name, const char *curve)
{
	char cmd[1600];

	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:%s -nodes "
		 "-keyout %s.key -out %s.crt -subj /CN=kiln-test -days 2 2>/dev/null",
		 curve, tpath(name), tpath(name));
	CHECK(sh_run(cmd) == 0);
}

/* Find the signature section's bytes in an image file. */
static uint8_t *sig_section(const char *path, size_t *len, struct eif_pcrs *pcrs)
{
	struct eif_info info;
	uint8_t *sec = NULL;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || eif_read_info(fd, &info, pcrs) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (unsigned i = 0; i < info.num_sections; i++)
		if (info.sections[i].type == EIF_SECTION_SIGNATURE &&
		    eif_read_section(fd, &info, i, &sec, EIF_SIG_MAX) == 0)
			*len = (size_t)info.sections[i].size;
	close(fd);
	return sec;
}

/* Decode a serde Vec<u8> (CBOR array of small uints) at *p; the test's own decoder. */
static size_t u8_array(const uint8_t **p, uint8_t *out, size_t max)
{
	const uint8_t *q = *p;
	size_t n;

	if (q[0] == 0x98)
		n = q[1], q += 2;
	else if (q[0] == 0x99)
		n = (size_t)q[1] << 8 | q[2], q += 3;
	else
		n = q[0] & 31, q += 1;
	for (size_t i = 0; i < n && i < max; i++) {
		if (*q == 0x18)
			out[i] = q[1], q += 2;
		else
			out[i] = *q++;
	}
	*p = q;
	return n;
}

/* Check r||s over Sig_structure with the openssl CLI and the certificate's key. */
static bool cli_verify(const uint8_t *payload, size_t plen, const uint8_t *rs)
{
	static const uint8_t head[] = { 0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1',
					0x44, 0xa1, 0x01, 0x38, 0x22, 0x40, 0x58 };
	uint8_t pl = (uint8_t)plen;
	ECDSA_SIG *sig = ECDSA_SIG_new();
	unsigned char *der = NULL;
	char cmd[2048];
	int der_len;

	ECDSA_SIG_set0(sig, BN_bin2bn(rs, 48, NULL), BN_bin2bn(rs + 48, 48, NULL));
	der_len = i2d_ECDSA_SIG(sig, &der);
	ECDSA_SIG_free(sig);
	unlink(tpath("tbs"));
	unlink(tpath("sig.der"));
	write_file(tpath("tbs"), head, sizeof(head));
	write_file(tpath("tbs"), &pl, 1);
	write_file(tpath("tbs"), payload, plen);
	write_file(tpath("sig.der"), der, (size_t)der_len);
	OPENSSL_free(der);
	snprintf(cmd, sizeof(cmd),
		 "openssl x509 -in %s -pubkey -noout > %s && "
		 "openssl dgst -sha384 -verify %s -signature %s %s >/dev/null",
		 tpath("p384.crt"), tpath("p384.pub"), tpath("p384.pub"), tpath("sig.der"),
		 tpath("tbs"));
	return sh_run(cmd) == 0;
}

TEST(test_sign_p384)
{
	struct eif_pcrs wp, rp;
	char hex[97], cmd[2048];
	uint8_t *sec, pem[8192], cose[1024];
	const uint8_t *q;
	size_t len = 0, pem_len, cose_len, crt_len, plen;
	uint8_t *crt;
	X509 *cert = NULL;
	int fd;

	make_key("p384", "secp384r1");
	CHECK(build(tpath("s.eif"), 2, tpath("p384.key"), tpath("p384.crt"), &wp) == 0);
	CHECK(wp.has_pcr8);
	sec = sig_section(tpath("s.eif"), &len, &rp);
	CHECK(sec != NULL);
	if (!sec)
		return;
	CHECK(memcmp(&wp, &rp, sizeof(wp)) == 0);

	/* PCR8 = extend(DER of the certificate), by the openssl CLI */
	snprintf(cmd, sizeof(cmd), "openssl x509 -in %s -outform DER -out %s", tpath("p384.crt"),
		 tpath("p384.der"));
	CHECK(sh_run(cmd) == 0);
	cli_pcr_hex(tpath("p384.der"), hex);
	CHECK(hex_eq(rp.pcr8, hex));

	/* nitro-cli's layout, decoded by hand */
	crt = slurp(tpath("p384.crt"), &crt_len);
	CHECK(len > 30 && memcmp(sec, "\x81\xa2\x73signing_certificate", 22) == 0);
	q = sec + 22;
	pem_len = u8_array(&q, pem, sizeof(pem));
	CHECK(crt && pem_len == crt_len && memcmp(pem, crt, crt_len) == 0);
	free(crt);
	CHECK(memcmp(q, "\x69signature", 10) == 0);
	q += 10;
	cose_len = u8_array(&q, cose, sizeof(cose));
	CHECK(q == sec + len);
	/* COSE_Sign1: [h'A1013822', {}, payload(138 bytes), r||s (96 bytes)] */
	plen = 34;
	for (int i = 0; i < 48; i++)
		plen += rp.pcr0[i] < 24 ? 1 : 2;
	CHECK(cose_len == 8 + 1 + plen + 2 + 96);
	CHECK(memcmp(cose, "\x84\x44\xa1\x01\x38\x22\xa0\x58", 8) == 0 && cose[8] == plen);
	CHECK(memcmp(cose + 9, "\xa2\x6eregister_index\x00\x6eregister_value\x98\x30", 34) == 0);
	for (int i = 0, at = 9 + 34; i < 48; i++) {
		uint8_t v = rp.pcr0[i];

		CHECK(v < 24 ? cose[at] == v : cose[at] == 0x18 && cose[at + 1] == v);
		at += v < 24 ? 1 : 2;
	}
	CHECK(memcmp(cose + cose_len - 98, "\x58\x60", 2) == 0);
	CHECK(cli_verify(cose + 9, plen, cose + cose_len - 96));
	cose[9 + 40] ^= 1;
	CHECK(!cli_verify(cose + 9, plen, cose + cose_len - 96));

	/* verify */
	fd = open(tpath("s.eif"), O_RDONLY);
	{
		struct eif_info info;

		CHECK(eif_read_info(fd, &info, &rp) == 0);
		CHECK(eif_verify_signature(fd, &info, &rp, &cert) == 0);
		CHECK(cert != NULL);
		X509_free(cert);
	}
	close(fd);
	CHECK(eif_sig_verify(sec, len, rp.pcr0, NULL) == 0);

	/* another image's PCR0 */
	rp.pcr0[3] ^= 1;
	CHECK_ERR(eif_sig_verify(sec, len, rp.pcr0, NULL), "different PCR0");
	rp.pcr0[3] ^= 1;
	/* a flipped signature byte (the last array element, < 24 or 0x18 xx) */
	sec[len - 1] ^= 0x01;
	CHECK_ERR(eif_sig_verify(sec, len, rp.pcr0, NULL), "does not verify");
	sec[len - 1] ^= 0x01;
	CHECK(eif_sig_verify(sec, len, rp.pcr0, NULL) == 0);
	CHECK_ERR(eif_sig_verify(sec, len - 1, rp.pcr0, NULL), "truncated");
	free(sec);
}

TEST(test_sign_curves_and_mismatch)
{
	static const char *curves[] = { "prime256v1", "secp521r1" };
	struct eif_pcrs p;
	uint8_t *sec;
	size_t len = 0;

	for (int i = 0; i < 2; i++) {
		make_key(curves[i], curves[i]);
		char key[600], crt[600];

		snprintf(key, sizeof(key), "%s/%s.key", tmpdir, curves[i]);
		snprintf(crt, sizeof(crt), "%s/%s.crt", tmpdir, curves[i]);
		CHECK(build(tpath("c.eif"), 1, key, crt, &p) == 0);
		sec = sig_section(tpath("c.eif"), &len, &p);
		CHECK(sec && eif_sig_verify(sec, len, p.pcr0, NULL) == 0);
		free(sec);
	}
	/* P-256 key, P-384 certificate */
	CHECK_ERR(build(tpath("m.eif"), 1, tpath("prime256v1.key"), tpath("p384.crt"), &p),
		  "does not match");
	CHECK(access(tpath("m.eif"), F_OK) != 0);
	CHECK_ERR(build(tpath("m.eif"), 1, tpath("nokey"), tpath("p384.crt"), &p), "nokey");
	/* an RSA key */
	{
		char cmd[1600];

		snprintf(cmd, sizeof(cmd),
			 "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s "
			 "-subj /CN=rsa -days 2 2>/dev/null",
			 tpath("rsa.key"), tpath("rsa.crt"));
		CHECK(sh_run(cmd) == 0);
	}
	CHECK_ERR(build(tpath("m.eif"), 1, tpath("rsa.key"), tpath("rsa.crt"), &p), "not an EC key");
}

TEST(test_unsigned_verify)
{
	struct eif_info info;
	struct eif_pcrs p;
	int fd = open(tpath("a.eif"), O_RDONLY);

	CHECK(eif_read_info(fd, &info, &p) == 0);
	CHECK_ERR(eif_verify_signature(fd, &info, &p, NULL), "not signed");
	close(fd);
}

/* Vectors from aws-nitro-enclaves-image-format src/utils/cbor.rs (serde_cbor 0.11 bytes). */
TEST(test_cbor_matches_nitro_cli_vectors)
{
	static const char pcr_info_hex[] =
		"a26e72656769737465725f696e646578006e72656769737465725f76616c75659830000102030405"
		"060708090a0b0c0d0e0f101112131415161718181819181a181b181c181d181e181f182018211822"
		"1823182418251826182718281829182a182b182c182d182e182f";
	static const char sig_hex[] =
		"81a2737369676e696e675f6365727469666963617465983b182d182d182d182d182d184218451847"
		"1849184e182018431845185218541849184618491843184118541845182d182d182d182d182d0a18"
		"4d1849184918420a182d182d182d182d182d1845184e1844182018431845185218541849184618491"
		"843184118541845182d182d182d182d182d0a697369676e61747572658a18d21884184418a1011838"
		"182218a018401840";
	static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
	static const uint8_t cose[] = { 0xd2, 0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, 0x40, 0x40 };
	struct cbor_out o = { 0 };
	uint8_t v[48];
	char *hex;

	for (int i = 0; i < 48; i++)
		v[i] = (uint8_t)i;
	cbor_out_map(&o, 2);
	cbor_out_text(&o, "register_index");
	cbor_out_uint(&o, 0);
	cbor_out_text(&o, "register_value");
	cbor_out_u8_array(&o, v, 48);
	CHECK(cbor_out_error(&o) == 0);
	hex = malloc(2 * o.len + 1);
	kiln_hex(o.buf, o.len, hex);
	CHECK(strcmp(hex, pcr_info_hex) == 0);
	free(hex);
	cbor_out_free(&o);

	cbor_out_array(&o, 1);
	cbor_out_map(&o, 2);
	cbor_out_text(&o, "signing_certificate");
	cbor_out_u8_array(&o, (const uint8_t *)pem, strlen(pem));
	cbor_out_text(&o, "signature");
	cbor_out_u8_array(&o, cose, sizeof(cose));
	CHECK(cbor_out_error(&o) == 0);
	hex = malloc(2 * o.len + 1);
	kiln_hex(o.buf, o.len, hex);
	CHECK(strcmp(hex, sig_hex) == 0);
	free(hex);
	/* the reader parses it up to the (fake) certificate */
	{
		uint8_t pcr8[48];

		CHECK_ERR(eif_sig_pcr8(o.buf, o.len, pcr8), "not a PEM X.509 certificate");
	}
	cbor_out_free(&o);

	cbor_out_int(&o, -35);
	cbor_out_int(&o, -7);
	cbor_out_uint(&o, 65536);
	cbor_out_uint(&o, 1ull << 32);
	CHECK(o.len == 2 + 1 + 5 + 9 && o.buf[0] == 0x38 && o.buf[1] == 0x22 && o.buf[2] == 0x26 &&
	      o.buf[3] == 0x1a && o.buf[8] == 0x1b);
	cbor_out_free(&o);
}

int main(void)
{
	char cmd[128];
	int rc;

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	make_data();
	RUN(test_roundtrip);
	RUN(test_write_fd);
	RUN(test_pcr1_fork);
	RUN(test_measurements_json);
	RUN(test_corruption);
	RUN(test_truncation_and_garbage);
	RUN(test_crafted);
	RUN(test_writer_atomic_and_misuse);
	RUN(test_sign_p384);
	RUN(test_sign_curves_and_mismatch);
	RUN(test_unsigned_verify);
	RUN(test_cbor_matches_nitro_cli_vectors);
	rc = t_done();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(kernel);
	return rc;
}
