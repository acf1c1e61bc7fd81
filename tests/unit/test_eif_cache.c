/* SPDX-License-Identifier: Apache-2.0 */
/* eif_read_info_cached: hits skip the data, any change to the file is caught. */
#include "t.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eif/eif.h"
#include "eif/writer.h"

static char dir[] = "/tmp/kiln-eifcache-XXXXXX";

/* Records are only written for files older than 2 s (racy timestamps). */
static void make_eif(const char *path)
{
	struct eif_writer *w = NULL;
	static uint8_t big[300000];

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	CHECK(eif_writer_open(path, &w) == 0);
	CHECK(eif_writer_section(w, EIF_SECTION_KERNEL, big, sizeof(big)) == 0);
	CHECK(eif_writer_section(w, EIF_SECTION_CMDLINE, "console=ttyS0", 13) == 0);
	CHECK(eif_writer_section(w, EIF_SECTION_RAMDISK, big, 1000) == 0);
	CHECK(eif_writer_section(w, EIF_SECTION_RAMDISK, big + 5, 2000) == 0);
	CHECK(eif_writer_commit(w, 1 << 30, 2, 0, NULL) == 0);
	eif_writer_free(w);
}

static int check(const char *eif, const char *cache, struct eif_pcrs *pcrs)
{
	struct eif_info info;
	int fd = open(eif, O_RDONLY | O_CLOEXEC);
	int rc = eif_read_info_cached(fd, cache, &info, pcrs);

	close(fd);
	return rc;
}

TEST(hit_equals_full_check)
{
	char eif[128], cache[128];
	struct eif_pcrs full, first, second;
	struct eif_info info;
	int fd;

	snprintf(eif, sizeof(eif), "%s/a.eif", dir);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	fd = open(eif, O_RDONLY);
	CHECK(eif_read_info(fd, &info, &full) == 0);
	close(fd);
	CHECK(check(eif, cache, &first) == 0); /* 0: a full check */
	CHECK(access(cache, F_OK) == 0); /* a record was written */
	CHECK(check(eif, cache, &second) == 1); /* 1: the record answered */
	CHECK(!memcmp(&full, &first, sizeof(full)));
	CHECK(!memcmp(&full, &second, sizeof(full)));
}

TEST(changed_file_is_checked_again)
{
	char eif[128], cache[128];
	struct eif_pcrs p;
	int fd;

	snprintf(eif, sizeof(eif), "%s/b.eif", dir);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	CHECK(check(eif, cache, &p) == 0);
	fd = open(eif, O_WRONLY);
	CHECK(pwrite(fd, "X", 1, 2000) == 1); /* inside the kernel section */
	close(fd);
	CHECK_ERR(check(eif, cache, &p), "CRC mismatch");
	CHECK_ERR(check(eif, cache, &p), "CRC mismatch");
}

TEST(garbage_record_means_full_check)
{
	char eif[128], cache[128], rec[512], cmd[600];
	struct eif_pcrs a, b;
	struct stat st;
	FILE *f;

	snprintf(eif, sizeof(eif), "%s/c.eif", dir);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	CHECK(check(eif, cache, &a) == 0);
	CHECK(stat(eif, &st) == 0);
	snprintf(rec, sizeof(rec), "%s/%llx-%llx", cache, (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	f = fopen(rec, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("v1 1 2 3\nzz not a record\n", f);
		fclose(f);
	}
	CHECK(check(eif, cache, &b) == 0); /* the garbage did not answer */
	CHECK(!memcmp(&a, &b, sizeof(a)));
	snprintf(cmd, sizeof(cmd), "grep -q '^v1 ' %s", rec);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	char cmd[128];

	if (!mkdtemp(dir))
		return 1;
	for (int i = 0; i < 3; i++) {
		char p[128];

		snprintf(p, sizeof(p), "%s/%c.eif", dir, 'a' + i);
		make_eif(p);
	}
	sleep(3);
	RUN(hit_equals_full_check);
	RUN(changed_file_is_checked_again);
	RUN(garbage_record_means_full_check);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return t_done();
}
