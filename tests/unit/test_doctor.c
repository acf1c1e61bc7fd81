/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kiln doctor's Nitro checks against fake /sys, /dev and /etc trees: the
 * lines (status and words) each situation gives, and the small parsers
 * (CPU lists, allocator.yaml) and the device permission rule under them.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "doctor/doctor.h"
#include "util/dirtree.h"
#include "t.h"

static char tmp[80];

static void put(const char *rel, const char *val)
{
	char p[512], d[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	snprintf(d, sizeof(d), "%s", p);
	CHECK(kiln_mkdir_p(dirname(d), 0755) == 0);
	f = fopen(p, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(val, f);
		fclose(f);
	}
}

static void fresh(struct kiln_doc *d)
{
	char cmd[128];

	kiln_doc_free(d);
	if (tmp[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
		CHECK(system(cmd) == 0);
	}
	snprintf(tmp, sizeof(tmp), "/tmp/kiln-doctor-test.XXXXXX");
	CHECK(mkdtemp(tmp) != NULL);
	*d = (struct kiln_doc){ .modes = KILN_DOC_NITRO, .uid = geteuid() };
	snprintf(d->root, sizeof(d->root), "%s", tmp);
	snprintf(d->blobs, sizeof(d->blobs), "%s/usr/share/nitro_enclaves/blobs", tmp);
}

/* The only line with id: its status, and its message contains want. */
static void expect(const struct kiln_doc *d, const char *id, enum kiln_doc_status st,
		   const char *want)
{
	const struct kiln_doc_line *l = NULL;

	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->lines[i].id, id))
			l = &d->lines[i];
	CHECK(l != NULL);
	if (!l)
		return;
	CHECK(l->status == st);
	CHECK(strstr(l->msg, want) != NULL);
	if (l->status != st || !strstr(l->msg, want))
		fprintf(stderr, "    %s: %s: %s (fix: %s)\n", id, kiln_doc_status_name(l->status),
			l->msg, l->fix);
	/* Every failure says what to run. */
	CHECK(l->status != KILN_DOC_FAIL || l->fix[0]);
}

static void hugepages(const char *size, const char *nr, const char *free_)
{
	char p[128];

	snprintf(p, sizeof(p), "sys/kernel/mm/hugepages/hugepages-%s/nr_hugepages", size);
	put(p, nr);
	snprintf(p, sizeof(p), "sys/kernel/mm/hugepages/hugepages-%s/free_hugepages", size);
	put(p, free_);
}

TEST(may_rw)
{
	gid_t ne[] = { 100, 4242 }, none[] = { 100 };

	CHECK(kiln_doc_may_rw(0, none, 1, 0600, 1, 1));
	CHECK(kiln_doc_may_rw(1000, ne, 2, 0660, 0, 4242));
	CHECK(!kiln_doc_may_rw(1000, none, 1, 0660, 0, 4242));
	CHECK(!kiln_doc_may_rw(1000, ne, 2, 0640, 0, 4242));	/* read only */
	CHECK(kiln_doc_may_rw(1000, none, 1, 0666, 0, 4242));
	CHECK(kiln_doc_may_rw(1000, none, 1, 0600, 1000, 0));
	/* the owner's bits decide for the owner, even when others may */
	CHECK(!kiln_doc_may_rw(1000, none, 1, 0066, 1000, 0));
}

TEST(cpu_lists)
{
	unsigned n;

	CHECK(kiln_doc_cpu_count("0-3,8,10-11", &n) == 0 && n == 7);
	CHECK(kiln_doc_cpu_count("1,3", &n) == 0 && n == 2);
	CHECK(kiln_doc_cpu_count("", &n) == 0 && n == 0);
	CHECK_ERR(kiln_doc_cpu_count("3-1", &n), "malformed CPU list");
	CHECK_ERR(kiln_doc_cpu_count("1,,2", &n), "malformed CPU list");
	CHECK_ERR(kiln_doc_cpu_count("x", &n), "malformed CPU list");
	CHECK_ERR(kiln_doc_cpu_count("99999999999", &n), "malformed CPU list");
}

TEST(allocator_yaml)
{
	struct kiln_doc_alloc a;

	CHECK(kiln_doc_parse_allocator("---\n# Enclave configuration file.\n#\n"
				       "# How much memory to allocate for enclaves (in MiB).\n"
				       "memory_mib: 3072 # three\n#\n# cpu_count: 9\ncpu_count: 2\n"
				       "#cpu_pool: 2,3\n", &a) == 0);
	CHECK(a.memory_mib == 3072 && a.cpu_count == 2);
	CHECK(kiln_doc_parse_allocator("memory_mib: \"512\"\ncpu_pool: 1-3,7\n", &a) == 0);
	CHECK(a.memory_mib == 512 && a.cpu_count == 4);
	CHECK_ERR(kiln_doc_parse_allocator("memory_mib: lots\n", &a), "memory_mib: \"lots\"");
	CHECK_ERR(kiln_doc_parse_allocator("cpu_pool: 1-\n", &a), "malformed CPU list");
}

/* A parent as the allocator leaves it: 2 CPUs, 1 GiB in 2 MiB pages, blobs. */
static void ready_tree(void)
{
	put("etc/nitro_enclaves/allocator.yaml", "---\nmemory_mib: 1024\ncpu_count: 2\n");
	put("sys/module/nitro_enclaves/parameters/ne_cpus", "1,3\n");
	hugepages("2048kB", "512\n", "512\n");
	hugepages("1048576kB", "0\n", "0\n");
	put("sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages", "512\n");
	put("sys/devices/system/node/node0/hugepages/hugepages-2048kB/free_hugepages", "512\n");
	put("sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages", "0\n");
	for (const char *const *f = (const char *const[]){ "bzImage", "bzImage.config", "cmdline",
							   "init", "nsm.ko", NULL };
	     *f; f++) {
		char p[128];

		snprintf(p, sizeof(p), "usr/share/nitro_enclaves/blobs/%s", *f);
		put(p, "x");
	}
}

static void run_pool(struct kiln_doc *d)
{
	CHECK(kiln_doc_nitro_allocator(d) == 0);
	CHECK(kiln_doc_nitro_cpus(d) == 0);
	CHECK(kiln_doc_nitro_hugepages(d) == 0);
	CHECK(kiln_doc_nitro_blobs(d) == 0);
}

TEST(pool_ready)
{
	struct kiln_doc d = { 0 };

	fresh(&d);
	ready_tree();
	run_pool(&d);
	expect(&d, "nitro.allocator", KILN_DOC_OK, "asks for 1024 MiB and 2 CPUs");
	expect(&d, "nitro.cpus", KILN_DOC_OK, "2 CPUs (1,3)");
	expect(&d, "nitro.hugepages", KILN_DOC_OK, "1024 MiB reserved (512 x 2048 kB), 1024 MiB free");
	expect(&d, "nitro.blobs", KILN_DOC_OK, "EIFs built here boot on Nitro");
	CHECK(!kiln_doc_mode_failed(&d, KILN_DOC_NITRO));
	CHECK(d.n == 4); /* one NUMA node with pages: no NUMA line */
	kiln_doc_free(&d);
}

TEST(pool_problems)
{
	struct kiln_doc d = { 0 };

	/* too few pages for what allocator.yaml asks; a CPU pool of another size */
	fresh(&d);
	ready_tree();
	hugepages("2048kB", "128\n", "128\n");
	put("sys/module/nitro_enclaves/parameters/ne_cpus", "1\n");
	run_pool(&d);
	expect(&d, "nitro.hugepages", KILN_DOC_FAIL, "256 MiB reserved (128 x 2048 kB), fewer "
		"than the 1024 MiB allocator.yaml asks for");
	expect(&d, "nitro.cpus", KILN_DOC_WARN, "1 CPUs (1), but allocator.yaml asks for 2");
	CHECK(kiln_doc_mode_failed(&d, KILN_DOC_NITRO));

	/* pages of a size enclaves cannot use only */
	fresh(&d);
	ready_tree();
	hugepages("2048kB", "0\n", "0\n");
	hugepages("64kB", "8\n", "8\n");
	run_pool(&d);
	expect(&d, "nitro.hugepages", KILN_DOC_FAIL, "no pages of 2 MiB or more reserved for "
		"enclaves (8 x 64 kB are, which enclaves cannot use)");

	/* arm64 with 4K pages: a pool of 32 MiB pages only is usable */
	fresh(&d);
	ready_tree();
	hugepages("2048kB", "0\n", "0\n");
	hugepages("32768kB", "32\n", "32\n");
	run_pool(&d);
	expect(&d, "nitro.hugepages", KILN_DOC_OK, "1024 MiB reserved (32 x 32768 kB), 1024 MiB free");

	/* all in use; an empty CPU pool; a broken allocator.yaml */
	fresh(&d);
	ready_tree();
	hugepages("2048kB", "512\n", "0\n");
	put("sys/module/nitro_enclaves/parameters/ne_cpus", "\n");
	put("etc/nitro_enclaves/allocator.yaml", "memory_mib: -1\n");
	run_pool(&d);
	expect(&d, "nitro.hugepages", KILN_DOC_FAIL, "1024 MiB reserved (512 x 2048 kB), none free");
	expect(&d, "nitro.cpus", KILN_DOC_FAIL, "empty");
	expect(&d, "nitro.allocator", KILN_DOC_FAIL, "memory_mib: \"-1\" is not a number");

	/* pages on two NUMA nodes */
	fresh(&d);
	ready_tree();
	put("sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages", "4\n");
	run_pool(&d);
	expect(&d, "nitro.numa", KILN_DOC_WARN, "on 2 NUMA nodes");
	expect(&d, "nitro.hugepages", KILN_DOC_OK, "1024 MiB reserved");
	kiln_doc_free(&d);
}

TEST(blobs)
{
	struct kiln_doc d = { 0 };
	char p[256];

	fresh(&d);
	CHECK(kiln_doc_nitro_blobs(&d) == 0);
	expect(&d, "nitro.blobs", KILN_DOC_FAIL, "none in ");
	CHECK(!kiln_doc_blobs_usable(&d));

	fresh(&d);
	ready_tree();
	snprintf(p, sizeof(p), "%s/usr/share/nitro_enclaves/blobs/nsm.ko", tmp);
	CHECK(unlink(p) == 0);
	CHECK(kiln_doc_nitro_blobs(&d) == 0);
	expect(&d, "nitro.blobs", KILN_DOC_FAIL, "lacks nsm.ko");

	fresh(&d);
	ready_tree();
	snprintf(p, sizeof(p), "%s/usr/share/nitro_enclaves/blobs/bzImage.config", tmp);
	CHECK(unlink(p) == 0);
	CHECK(kiln_doc_nitro_blobs(&d) == 0);
	expect(&d, "nitro.blobs", KILN_DOC_WARN, "lacks bzImage.config");
	CHECK(kiln_doc_blobs_usable(&d));
	kiln_doc_free(&d);
}

TEST(device)
{
	struct kiln_doc d = { 0 };

	fresh(&d);
	CHECK(kiln_doc_nitro_device(&d) == 0);
	expect(&d, "nitro.device", KILN_DOC_FAIL, "missing: not a Nitro Enclaves parent");

	fresh(&d);
	put("sys/module/nitro_enclaves/parameters/ne_cpus", "\n");
	CHECK(kiln_doc_nitro_device(&d) == 0);
	expect(&d, "nitro.device", KILN_DOC_FAIL, "missing, though the nitro_enclaves driver is loaded");

	fresh(&d);
	put("dev/nitro_enclaves", "");
	CHECK(kiln_doc_nitro_device(&d) == 0);
	expect(&d, "nitro.device", KILN_DOC_FAIL, "not a character device");
	kiln_doc_free(&d);
}

int main(void)
{
	RUN(may_rw);
	RUN(cpu_lists);
	RUN(allocator_yaml);
	RUN(pool_ready);
	RUN(pool_problems);
	RUN(blobs);
	RUN(device);
	if (tmp[0]) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
		CHECK(system(cmd) == 0);
	}
	return t_done();
}
