/* SPDX-License-Identifier: Apache-2.0 */
/* Remember EIFs that passed a full check, keyed by file identity. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "eif/eif.h"
#include "util/cleanup.h"

/*
 * How this works: a record names the file by (st_dev, st_ino) and holds
 * its size, mtime and ctime in nanoseconds, the stored CRC and the PCRs.
 * Any write to the file changes mtime and ctime, and ctime cannot be set
 * from userspace, so an unchanged identity means unchanged bytes. A hit
 * still re-parses the header and section table. Timestamps tick coarsely
 * (a write in the same tick keeps mtime), so a file changed in the last
 * RACY_S seconds is never recorded: any later write then moves its times. A missing, stale or
 * malformed record just means a full check (and a new record); failing to
 * write a record is not an error. Records live in the caller's own state
 * directory, which only the caller can write.
 */

#define RECORD_MAX 512
#define RACY_S 2

static uint64_t ns_of(struct timespec t)
{
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void record_path(const char *dir, const struct stat *st, char *out, size_t len)
{
	snprintf(out, len, "%s/%" PRIx64 "-%" PRIx64, dir, (uint64_t)st->st_dev,
		 (uint64_t)st->st_ino);
}

static int hex_decode(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return hex[2 * n] == '\0' || hex[2 * n] == '\n' ? 0 : -1;
}

static void identity(const struct stat *st, char *out, size_t len)
{
	snprintf(out, len, "v1 %" PRIu64 " %" PRIu64 " %" PRIu64, (uint64_t)st->st_size,
		 ns_of(st->st_mtim), ns_of(st->st_ctim));
}

/* 0 and *crc/pcrs filled when the record matches st; -1 otherwise. */
static int load_record(const char *path, const struct stat *st, uint32_t *crc,
		       struct eif_pcrs *pcrs)
{
	char buf[RECORD_MAX + 1], id[96], p[4][2 * KILN_SHA384_LEN + 2];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n = fd >= 0 ? read(fd, buf, RECORD_MAX) : -1;
	char *nl;

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	identity(st, id, sizeof(id));
	nl = strchr(buf, '\n');
	if (!nl || (size_t)(nl - buf) != strlen(id) || strncmp(buf, id, strlen(id)))
		return -1;
	if (sscanf(nl + 1, "%" SCNx32 " %97s %97s %97s %97s", crc, p[0], p[1], p[2], p[3]) != 5)
		return -1;
	memset(pcrs, 0, sizeof(*pcrs));
	pcrs->has_pcr8 = strcmp(p[3], "-") != 0;
	if (hex_decode(p[0], pcrs->pcr0, KILN_SHA384_LEN) || hex_decode(p[1], pcrs->pcr1, KILN_SHA384_LEN) ||
	    hex_decode(p[2], pcrs->pcr2, KILN_SHA384_LEN) ||
	    (pcrs->has_pcr8 && hex_decode(p[3], pcrs->pcr8, KILN_SHA384_LEN)))
		return -1;
	return 0;
}

/* Changed too recently for its timestamps to prove later changes. */
static bool racy(const struct stat *st)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return now.tv_sec - st->st_mtim.tv_sec <= RACY_S || now.tv_sec - st->st_ctim.tv_sec <= RACY_S;
}

static void save_record(const char *path, const struct stat *st, uint32_t crc,
			const struct eif_pcrs *pcrs)
{
	char tmp[4200], id[96], h[4][2 * KILN_SHA384_LEN + 1];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	f = fopen(tmp, "wex");
	if (!f)
		return;
	identity(st, id, sizeof(id));
	kiln_hex(pcrs->pcr0, KILN_SHA384_LEN, h[0]);
	kiln_hex(pcrs->pcr1, KILN_SHA384_LEN, h[1]);
	kiln_hex(pcrs->pcr2, KILN_SHA384_LEN, h[2]);
	if (pcrs->has_pcr8)
		kiln_hex(pcrs->pcr8, KILN_SHA384_LEN, h[3]);
	else
		strcpy(h[3], "-");
	fprintf(f, "%s\n%08" PRIx32 " %s %s %s %s\n", id, crc, h[0], h[1], h[2], h[3]);
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		unlink(tmp);
}

int eif_read_info_cached(int fd, const char *cache_dir, struct eif_info *info,
			 struct eif_pcrs *pcrs)
{
	char path[4096];
	struct eif_pcrs cached, fresh;
	struct stat st;
	uint32_t crc;
	int rc;

	if (!cache_dir || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || racy(&st))
		return eif_read_info(fd, info, pcrs);
	record_path(cache_dir, &st, path, sizeof(path));
	if (load_record(path, &st, &crc, &cached) == 0) {
		rc = eif_read_layout(fd, info);
		if (rc == 0 && info->crc_stored == crc) {
			info->crc_computed = crc;
			if (pcrs)
				*pcrs = cached;
			return 1;
		}
	}
	rc = eif_read_info(fd, info, &fresh);
	if (rc < 0)
		return rc;
	if (mkdir(cache_dir, 0700) == 0 || errno == EEXIST)
		save_record(path, &st, info->crc_computed, &fresh);
	if (pcrs)
		*pcrs = fresh;
	return 0;
}
