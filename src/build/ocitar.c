/* SPDX-License-Identifier: Apache-2.0 */
/* A deterministic ustar writer over a gzip-and-digest sink (OCI layers, docker-archive). */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "build/ociout.h"
#include "util/io.h"

/*
 * Reproducibility: every header field that could vary (owner names, device
 * numbers, mtime) is fixed by the caller or zero; gzip's header carries no
 * time or name (zlib's defaults), so the same inputs give the same bytes.
 */
struct kiln_osink {
	int fd;
	int gzip;
	z_stream z;
	EVP_MD_CTX *plain, *out;
	uint64_t out_size;
	unsigned char buf[65536];
};

int kiln_osink_open(int fd, int gzip, struct kiln_osink **out)
{
	struct kiln_osink *s = calloc(1, sizeof(*s));

	if (!s)
		return kiln_err(ENOMEM, "out of memory");
	s->fd = fd;
	s->gzip = gzip;
	s->plain = EVP_MD_CTX_new();
	s->out = EVP_MD_CTX_new();
	if (!s->plain || !s->out || !EVP_DigestInit_ex(s->plain, EVP_sha256(), NULL) ||
	    !EVP_DigestInit_ex(s->out, EVP_sha256(), NULL)) {
		kiln_osink_free(s);
		return kiln_err(ENOMEM, "sha256 context");
	}
	if (gzip && deflateInit2(&s->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		s->gzip = 0;
		kiln_osink_free(s);
		return kiln_err(ENOMEM, "zlib deflateInit2 failed");
	}
	*out = s;
	return 0;
}

void kiln_osink_free(struct kiln_osink *s)
{
	if (!s)
		return;
	if (s->gzip)
		deflateEnd(&s->z);
	EVP_MD_CTX_free(s->plain);
	EVP_MD_CTX_free(s->out);
	free(s);
}

static int emit(struct kiln_osink *s, const void *p, size_t n)
{
	int rc = kiln_write_all(s->fd, p, n, -1, "image output");

	if (rc == 0) {
		EVP_DigestUpdate(s->out, p, n);
		s->out_size += n;
	}
	return rc;
}

static int deflate_step(struct kiln_osink *s, int flush)
{
	int zr;

	do {
		s->z.next_out = s->buf;
		s->z.avail_out = sizeof(s->buf);
		zr = deflate(&s->z, flush);
		if (zr == Z_STREAM_ERROR)
			return kiln_err(EIO, "zlib deflate failed");
		if (emit(s, s->buf, sizeof(s->buf) - s->z.avail_out) < 0)
			return -EIO;
	} while (s->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	return 0;
}

static int sink_write(struct kiln_osink *s, const void *p, size_t n)
{
	EVP_DigestUpdate(s->plain, p, n);
	if (!s->gzip)
		return emit(s, p, n);
	s->z.next_in = (unsigned char *)p;
	s->z.avail_in = (uInt)n;
	return deflate_step(s, Z_NO_FLUSH);
}

static void hex(const unsigned char *d, char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

int kiln_osink_close(struct kiln_osink *s, char out_hex[65], char plain_hex[65],
		     uint64_t *out_size)
{
	unsigned char d[32];
	unsigned len;

	if (s->gzip && deflate_step(s, Z_FINISH) < 0)
		return -EIO;
	EVP_DigestFinal_ex(s->out, d, &len);
	hex(d, out_hex);
	EVP_DigestFinal_ex(s->plain, d, &len);
	if (plain_hex)
		hex(d, plain_hex);
	*out_size = s->out_size;
	return 0;
}

/* ---- ustar ---- */

static void octal(char *field, size_t width, uint64_t v)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "%0*llo", (int)width - 1, (unsigned long long)v);
	memcpy(field, tmp, width - 1); /* the caller bounds v to width - 1 digits */
}

static int header(struct kiln_osink *s, const char *path, char type, unsigned mode,
		  int64_t mtime, uint64_t size)
{
	char h[512];
	size_t n = strlen(path);
	unsigned sum = 0;

	if (n > 100)
		return kiln_err(ENAMETOOLONG, "tar: path %s longer than 100 bytes", path);
	if (size >= (UINT64_C(1) << 33))
		return kiln_err(EFBIG, "tar: %s is 8 GiB or more", path);
	memset(h, 0, sizeof(h));
	memcpy(h, path, n);
	octal(h + 100, 8, mode);
	octal(h + 108, 8, 0);
	octal(h + 116, 8, 0);
	octal(h + 124, 12, size);
	octal(h + 136, 12, (uint64_t)(mtime < 0 ? 0 : mtime));
	memset(h + 148, ' ', 8);
	h[156] = type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (size_t i = 0; i < sizeof(h); i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	return sink_write(s, h, sizeof(h));
}

static int pad(struct kiln_osink *s, uint64_t size)
{
	static const char zero[512];
	size_t r = (size_t)(size % 512);

	return r ? sink_write(s, zero, 512 - r) : 0;
}

int kiln_tar_dir(struct kiln_osink *s, const char *path, unsigned mode, int64_t mtime)
{
	return header(s, path, '5', mode, mtime, 0);
}

int kiln_tar_file_mem(struct kiln_osink *s, const char *path, unsigned mode, int64_t mtime,
		      const void *data, size_t len)
{
	int rc = header(s, path, '0', mode, mtime, len);

	if (rc == 0)
		rc = sink_write(s, data, len);
	return rc < 0 ? rc : pad(s, len);
}

int kiln_tar_file_fd(struct kiln_osink *s, const char *path, unsigned mode, int64_t mtime,
		     int fd)
{
	static __thread char buf[1 << 16];
	struct stat st;
	uint64_t left;
	int rc;

	if (fstat(fd, &st) < 0)
		return kiln_err(errno, "tar: %s: %s", path, strerror(errno));
	rc = header(s, path, '0', mode, mtime, (uint64_t)st.st_size);
	for (left = (uint64_t)st.st_size; rc == 0 && left;) {
		ssize_t n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));

		if (n <= 0)
			return kiln_err(n < 0 ? errno : EIO, "tar: reading %s: %s", path,
					n < 0 ? strerror(errno) : "file shrank");
		rc = sink_write(s, buf, (size_t)n);
		left -= (uint64_t)n;
	}
	return rc < 0 ? rc : pad(s, (uint64_t)st.st_size);
}

int kiln_tar_end(struct kiln_osink *s)
{
	static const char zero[1024];

	return sink_write(s, zero, sizeof(zero));
}
