/* SPDX-License-Identifier: Apache-2.0 */
/* Blobs: byte ranges read with pread, sha256 digests, temporary files. */
#include "image/internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/cleanup.h"

int img_digest_check(const char *s)
{
	size_t i;

	if (!s || strncmp(s, "sha256:", 7) != 0)
		return kiln_err(ENOTSUP, "unsupported digest \"%.80s\" (only sha256)",
				s ? s : "(none)");
	for (i = 7; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			break;
	if (i != IMG_DIGEST_LEN || s[i])
		return kiln_err(EBADMSG, "malformed digest \"%.80s\"", s);
	return 0;
}

void img_digest_hex(const unsigned char md[32], img_digest out)
{
	static const char hex[] = "0123456789abcdef";

	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[IMG_DIGEST_LEN] = '\0';
}

const char *img_digest_short(const char *digest, char buf[20])
{
	snprintf(buf, 20, "%.19s", digest ? digest : "sha256:?");
	return buf;
}

int img_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_err(errno, "read: %s", strerror(errno));
		if (n == 0)
			return kiln_err(EBADMSG, "unexpected end of file");
		done += (size_t)n;
	}
	return 0;
}

int img_blob_slurp(const struct img_blob *b, char **out, img_digest digest)
{
	unsigned char md[32];
	_cleanup_free_ char *buf = NULL;
	int rc;

	if (b->size > IMG_JSON_MAX)
		return kiln_err(EFBIG, "blob too large (%llu bytes)", (unsigned long long)b->size);
	buf = malloc(b->size + 1);
	if (!buf)
		return kiln_err(ENOMEM, "out of memory");
	rc = img_pread_full(b->fd, buf, b->size, b->off);
	if (rc < 0)
		return rc;
	buf[b->size] = '\0';
	if (!EVP_Digest(buf, b->size, md, NULL, EVP_sha256(), NULL))
		return kiln_err(EIO, "sha256 failed");
	img_digest_hex(md, digest);
	*out = KILN_STEAL_PTR(buf);
	return 0;
}

int img_tmpfile(const char *tmpdir)
{
	char tmpl[4200];
	int fd;

	if (!tmpdir)
		tmpdir = getenv("TMPDIR");
	if (!tmpdir || !*tmpdir)
		tmpdir = "/tmp";
	fd = open(tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC | O_EXCL, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR)
		return kiln_err(errno, "staging file in %s: %s", tmpdir, strerror(errno));
	/* Filesystems without O_TMPFILE: create, then unlink at once. */
	if (snprintf(tmpl, sizeof(tmpl), "%s/kiln-stage-XXXXXX", tmpdir) >= (int)sizeof(tmpl))
		return kiln_err(ENAMETOOLONG, "tmpdir path too long");
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0)
		return kiln_err(errno, "staging file in %s: %s", tmpdir, strerror(errno));
	unlink(tmpl);
	return fd;
}
