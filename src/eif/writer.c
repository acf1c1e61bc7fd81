/* SPDX-License-Identifier: Apache-2.0 */
/* Streaming EIF writer: sections in, CRC and PCRs on the fly, atomic publish. */
/*
 * How this works. The file is written front to back exactly once: a zeroed
 * header, then each section as a placeholder section header followed by its
 * data. Data passes through the pipe (pipe.h): buffers that file data is
 * read straight into, hashed into the section's two PCRs on two threads,
 * CRC'd and written by the caller. The boot sections (kernel, cmdline,
 * ramdisk 0) open both PCR0 and PCR1, so they are hashed once, into PCR0,
 * and PCR1 starts as a copy of that state when the first app ramdisk begins. When a section ends its real header is
 * patched in (in the open buffer, or with pwrite if already written) and
 * its CRC is folded into the
 * running CRC with crc32_combine(); at commit the same is done for the
 * header, so the file is never read back. Until commit the file has no name
 * (O_TMPFILE) or a hidden temporary one; commit fsyncs it and links it at the
 * output path, replacing an existing file by rename.
 */
#include "eif/writer.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <zlib.h>

#include "eif/measure.h"
#include "eif/pipe.h"
#include "eif/sign.h"
#include "util/cleanup.h"

struct eif_writer {
	int fd;
	char *out_path;
	char *dir;
	char *tmp_path; /* a named temporary file (no O_TMPFILE), unlinked unless committed */
	struct eif_pipe *pipe;
	uint64_t pos;   /* bytes emitted */
	uLong crc;      /* CRC-32 of the finished sections */
	struct eif_measure m;
	uint16_t num;
	uint64_t offsets[EIF_MAX_SECTIONS];
	uint64_t sizes[EIF_MAX_SECTIONS];
	bool in_section;
	uint16_t type;
	uLong sec_crc; /* CRC-32 of the open section's data */
	bool is_signed;
	uint8_t pcr8[KILN_SHA384_LEN];
	bool failed;
	bool committed;
};

static int fail(struct eif_writer *w, int rc)
{
	w->failed = true;
	return rc;
}

static int emit(struct eif_writer *w, const void *buf, size_t len)
{
	int rc = eif_pipe_write(w->pipe, buf, len);

	if (rc < 0)
		return fail(w, rc);
	w->pos += len;
	return 0;
}

/* Overwrite bytes already emitted at file offset off (never hashed ones). */
static int patch(struct eif_writer *w, uint64_t off, const void *buf, size_t len)
{
	uint64_t written = eif_pipe_written(w->pipe);
	size_t open_len;
	uint8_t *open = eif_pipe_open_buf(w->pipe, &open_len);
	int rc;

	if (off >= written) {
		memcpy(open + (off - written), buf, len);
		return 0;
	}
	if (off + len > written) {
		rc = eif_pipe_flush(w->pipe);
		if (rc < 0)
			return fail(w, rc);
	}
	if (pwrite(w->fd, buf, len, (off_t)off) != (ssize_t)len)
		return fail(w, kiln_err(errno ? errno : EIO, "EIF write failed: %s",
					strerror(errno)));
	return 0;
}

static int split_path(struct eif_writer *w, const char *out_path)
{
	const char *slash = strrchr(out_path, '/');

	if (!*out_path || (slash && !slash[1]))
		return kiln_err(EISDIR, "output %s is not a file name", out_path);
	w->out_path = strdup(out_path);
	if (!slash)
		w->dir = strdup(".");
	else if (slash == out_path)
		w->dir = strdup("/");
	else
		w->dir = strndup(out_path, (size_t)(slash - out_path));
	if (!w->out_path || !w->dir)
		return kiln_err(ENOMEM, "out of memory");
	return 0;
}

/* A hidden name beside the output: DIR/.BASE.kiln-RANDOM */
static int temp_name(const struct eif_writer *w, char **out)
{
	const char *slash = strrchr(w->out_path, '/');
	const char *base = slash ? slash + 1 : w->out_path;
	uint8_t rnd[6];
	char hex[13];

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return kiln_err(EIO, "getrandom failed");
	kiln_hex(rnd, sizeof(rnd), hex);
	if (asprintf(out, "%s/.%s.kiln-%s", w->dir, base, hex) < 0)
		return kiln_err(ENOMEM, "out of memory");
	return 0;
}

static int open_file(struct eif_writer *w)
{
	int rc;

	w->fd = open(w->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	if (w->fd >= 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return kiln_err(errno, "cannot create a file in %s: %s", w->dir, strerror(errno));
	rc = temp_name(w, &w->tmp_path);
	if (rc < 0)
		return rc;
	w->fd = open(w->tmp_path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		rc = kiln_err(errno, "cannot create %s: %s", w->tmp_path, strerror(errno));
		free(w->tmp_path);
		w->tmp_path = NULL;
		return rc;
	}
	return 0;
}

int eif_writer_open(const char *out_path, struct eif_writer **wp)
{
	static const uint8_t zero_header[EIF_HEADER_SIZE];
	struct eif_writer *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return kiln_err(ENOMEM, "out of memory");
	w->fd = -1;
	rc = split_path(w, out_path);
	if (rc == 0)
		rc = eif_measure_init(&w->m);
	if (rc == 0)
		rc = open_file(w);
	if (rc == 0)
		rc = eif_pipe_new(w->fd, &w->pipe);
	if (rc == 0)
		rc = emit(w, zero_header, sizeof(zero_header));
	if (rc < 0) {
		eif_writer_free(w);
		return rc;
	}
	*wp = w;
	return 0;
}

static int usable(const struct eif_writer *w)
{
	if (w->committed)
		return kiln_err(EINVAL, "EIF writer already committed");
	if (w->failed)
		return kiln_err(EIO, "EIF writer failed earlier");
	return 0;
}

/* Section data feeds its PCRs and CRC; headers feed nothing. */
static int route(struct eif_writer *w)
{
	EVP_MD_CTX *a = NULL, *b = NULL;
	int rc;

	eif_measure_route(&w->m, &a, &b);
	rc = eif_pipe_route(w->pipe, a, b, &w->sec_crc);
	return rc < 0 ? fail(w, rc) : 0;
}

static int unroute(struct eif_writer *w)
{
	int rc = eif_pipe_route(w->pipe, NULL, NULL, NULL);

	return rc < 0 ? fail(w, rc) : 0;
}

static int begin(struct eif_writer *w, uint16_t type)
{
	static const uint8_t placeholder[EIF_SECTION_HEADER_SIZE];
	int rc = usable(w);

	if (rc < 0)
		return rc;
	if (w->in_section)
		return kiln_err(EINVAL, "EIF section %u not ended", w->num);
	if (w->is_signed)
		return kiln_err(EINVAL, "no EIF section may follow the signature");
	if (w->num >= EIF_MAX_SECTIONS)
		return kiln_err(E2BIG, "an EIF has at most %d sections", EIF_MAX_SECTIONS);
	w->offsets[w->num] = w->pos;
	w->sizes[w->num] = 0;
	w->type = type;
	w->sec_crc = crc32(0L, Z_NULL, 0);
	rc = emit(w, placeholder, sizeof(placeholder));
	if (rc < 0)
		return rc;
	/* A fork copies PCR0's state: the hashing threads must have caught up. */
	if (eif_measure_forks(&w->m, type))
		rc = eif_pipe_sync(w->pipe);
	if (rc == 0)
		rc = eif_measure_begin(&w->m, type);
	if (rc == 0)
		rc = route(w);
	if (rc < 0)
		return fail(w, rc);
	w->in_section = true;
	return 0;
}

int eif_writer_begin(struct eif_writer *w, enum eif_section_type type)
{
	switch (type) {
	case EIF_SECTION_KERNEL:
	case EIF_SECTION_CMDLINE:
	case EIF_SECTION_RAMDISK:
	case EIF_SECTION_METADATA:
		return begin(w, (uint16_t)type);
	case EIF_SECTION_SIGNATURE:
		return kiln_err(EINVAL, "the signature section is written by eif_writer_sign");
	default:
		return kiln_err(EINVAL, "invalid EIF section type %d", (int)type);
	}
}

int eif_writer_write(struct eif_writer *w, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int rc = usable(w);

	if (rc < 0)
		return rc;
	if (!w->in_section)
		return kiln_err(EINVAL, "EIF write outside a section");
	rc = emit(w, p, len);
	if (rc < 0)
		return rc;
	w->sizes[w->num] += len;
	return 0;
}

int eif_writer_write_fd(struct eif_writer *w, int fd, uint64_t off, uint64_t len)
{
	uint64_t done = 0;
	int rc = usable(w);

	if (rc == 0 && !w->in_section)
		rc = kiln_err(EINVAL, "EIF write outside a section");
	while (rc == 0 && done < len) {
		uint8_t *dst;
		size_t room;
		ssize_t n;

		rc = eif_pipe_space(w->pipe, &dst, &room);
		if (rc < 0)
			return fail(w, rc);
		n = pread(fd, dst, len - done < room ? (size_t)(len - done) : room,
			  (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fail(w, kiln_err(n < 0 ? errno : EIO, "read: %s",
						n < 0 ? strerror(errno)
						      : "file shorter than expected"));
		eif_pipe_advance(w->pipe, (size_t)n);
		done += (uint64_t)n;
		w->pos += (uint64_t)n;
		w->sizes[w->num] += (uint64_t)n;
	}
	return rc;
}

int eif_writer_out_fd(int fd, uint64_t off, uint64_t len, void *arg)
{
	return eif_writer_write_fd(arg, fd, off, len);
}

int eif_writer_out(const void *buf, size_t len, void *arg)
{
	return eif_writer_write(arg, buf, len);
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

int eif_writer_end(struct eif_writer *w)
{
	uint8_t hdr[EIF_SECTION_HEADER_SIZE];
	uint64_t size;
	uLong c;
	int rc = usable(w);

	if (rc < 0)
		return rc;
	if (!w->in_section)
		return kiln_err(EINVAL, "no EIF section to end");
	size = w->sizes[w->num];
	put_be(hdr, w->type, 2);
	put_be(hdr + 2, 0, 2);
	put_be(hdr + 4, size, 8);
	rc = unroute(w); /* writes out the section's last bytes: w->sec_crc is final */
	if (rc == 0)
		rc = patch(w, w->offsets[w->num], hdr, sizeof(hdr));
	if (rc < 0)
		return rc;
	c = crc32_combine(crc32(0L, hdr, sizeof(hdr)), w->sec_crc, (z_off_t)size);
	w->crc = crc32_combine(w->crc, c, (z_off_t)(sizeof(hdr) + size));
	w->in_section = false;
	w->num++;
	return 0;
}

int eif_writer_section(struct eif_writer *w, enum eif_section_type type, const void *buf,
		       size_t len)
{
	int rc = eif_writer_begin(w, type);

	if (rc == 0)
		rc = eif_writer_write(w, buf, len);
	if (rc == 0)
		rc = eif_writer_end(w);
	return rc;
}

int eif_writer_sign(struct eif_writer *w, const char *key_pem_path, const char *cert_pem_path)
{
	_cleanup_free_ uint8_t *sec = NULL;
	struct eif_pcrs pcrs;
	size_t len = 0;
	int rc = usable(w);

	if (rc == 0 && w->in_section)
		rc = kiln_err(EINVAL, "EIF section %u not ended", w->num);
	if (rc == 0 && w->is_signed)
		rc = kiln_err(EINVAL, "EIF already signed");
	if (rc == 0)
		rc = eif_pipe_sync(w->pipe);
	if (rc == 0)
		rc = eif_measure_final(&w->m, &pcrs);
	if (rc == 0)
		rc = eif_sig_build(key_pem_path, cert_pem_path, pcrs.pcr0, &sec, &len, w->pcr8);
	if (rc == 0)
		rc = begin(w, EIF_SECTION_SIGNATURE);
	if (rc == 0)
		rc = eif_writer_write(w, sec, len);
	if (rc == 0)
		rc = eif_writer_end(w);
	if (rc == 0)
		w->is_signed = true;
	return rc;
}

static void build_header(const struct eif_writer *w, uint64_t mem, uint64_t cpus, uint16_t flags,
			 uint8_t *h)
{
	uint8_t *p = h;

	memset(h, 0, EIF_HEADER_SIZE);
	memcpy(p, EIF_MAGIC, 4);
	put_be(p + 4, EIF_VERSION, 2);
	put_be(p + 6, flags, 2);
	put_be(p + 8, mem, 8);
	put_be(p + 16, cpus, 8);
	/* reserved u16 at 24 stays 0 */
	put_be(p + 26, w->num, 2);
	for (int i = 0; i < EIF_MAX_SECTIONS; i++) {
		put_be(p + 28 + 8 * i, w->offsets[i], 8);
		put_be(p + 28 + 8 * EIF_MAX_SECTIONS + 8 * i, w->sizes[i], 8);
	}
	/* unused u32 at 540 stays 0; the CRC at 544 is set by the caller */
}

/* Give the file its name: link the unnamed file, replacing by rename. */
static int publish(struct eif_writer *w)
{
	_cleanup_free_ char *tmp = NULL;
	char proc[64];
	int rc;

	if (w->tmp_path) {
		if (rename(w->tmp_path, w->out_path) < 0)
			return kiln_err(errno, "cannot rename to %s: %s", w->out_path,
					strerror(errno));
		free(w->tmp_path);
		w->tmp_path = NULL;
		return 0;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", w->fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, w->out_path, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != EEXIST)
		return kiln_err(errno, "cannot create %s: %s", w->out_path, strerror(errno));
	for (int attempt = 0; attempt < 16; attempt++) {
		free(tmp);
		tmp = NULL;
		rc = temp_name(w, &tmp);
		if (rc < 0)
			return rc;
		if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0)
			break;
		if (errno != EEXIST)
			return kiln_err(errno, "cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		tmp = NULL;
	}
	if (!tmp)
		return kiln_err(EEXIST, "cannot find a free temporary name beside %s",
				w->out_path);
	if (rename(tmp, w->out_path) < 0) {
		rc = kiln_err(errno, "cannot replace %s: %s", w->out_path, strerror(errno));
		unlink(tmp);
		return rc;
	}
	return 0;
}

static int sync_dir(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return kiln_err(errno, "cannot sync directory %s: %s", dir, strerror(errno));
	return 0;
}

int eif_writer_commit(struct eif_writer *w, uint64_t default_mem, uint64_t default_cpus,
		      uint16_t flags, struct eif_pcrs *pcrs)
{
	uint8_t h[EIF_HEADER_SIZE];
	uLong crc;
	int rc = usable(w);

	if (rc == 0 && w->in_section)
		rc = kiln_err(EINVAL, "EIF section %u not ended", w->num);
	if (rc < 0)
		return rc;
	build_header(w, default_mem, default_cpus, flags, h);
	crc = crc32_combine(crc32(0L, h, EIF_CRC_OFFSET), w->crc,
			    (z_off_t)(w->pos - EIF_HEADER_SIZE));
	put_be(h + EIF_CRC_OFFSET, crc, 4);
	rc = patch(w, 0, h, sizeof(h));
	if (rc == 0)
		rc = eif_pipe_sync(w->pipe);
	if (rc == 0 && fsync(w->fd) < 0)
		rc = fail(w, kiln_err(errno, "cannot sync the EIF: %s", strerror(errno)));
	if (rc == 0)
		rc = publish(w);
	if (rc < 0)
		return fail(w, kiln_err_wrap(rc, "writing %s", w->out_path));
	w->committed = true;
	rc = sync_dir(w->dir);
	if (rc == 0 && pcrs) {
		memset(pcrs, 0, sizeof(*pcrs));
		rc = eif_measure_final(&w->m, pcrs);
		memcpy(pcrs->pcr8, w->pcr8, sizeof(pcrs->pcr8));
		pcrs->has_pcr8 = w->is_signed;
	}
	return rc;
}

void eif_writer_free(struct eif_writer *w)
{
	if (!w)
		return;
	eif_pipe_free(w->pipe);
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_path)
		unlink(w->tmp_path);
	eif_measure_free(&w->m);
	free(w->tmp_path);
	free(w->dir);
	free(w->out_path);
	free(w);
}
