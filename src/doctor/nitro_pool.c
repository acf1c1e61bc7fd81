/* SPDX-License-Identifier: Apache-2.0 */
/* kiln doctor: the enclave pool: allocator.yaml, the CPUs in ne_cpus, the hugepages reserved and free. */
#include "doctor/doctor.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nitro/nitro.h"
#include "util/cleanup.h"
#include "util/io.h"

/*
 * nitro-cli's allocator service reads allocator.yaml, reserves memory_mib
 * as hugepages and writes the CPU pool to the driver's ne_cpus parameter.
 * What counts is what the kernel has, so both are read back; the file only
 * says what was asked for. kiln launches from every hugepage size the
 * driver takes (src/nitro/hugepages.c: 2 MiB and up, a power of two);
 * smaller ones (arm64's 64 kB) are reported as unusable.
 */
#define ALLOC_YAML "/etc/nitro_enclaves/allocator.yaml"
#define NE_CPUS "/sys/module/nitro_enclaves/parameters/ne_cpus"
#define HP_DIR "/sys/kernel/mm/hugepages"
#define NODE_DIR "/sys/devices/system/node"
#define YAML_MAX (64 * 1024)
#define MAX_SIZES 8
#define MAX_NODES 64
#define FIX_ALLOC                                                                           \
	"set memory_mib and cpu_count in " ALLOC_YAML ", then systemctl enable --now "      \
	"nitro-enclaves-allocator"
#define FIX_RESTART                                                                         \
	"systemctl restart nitro-enclaves-allocator (1 GiB pages may need a reboot once "   \
	"memory is fragmented)"

/* Copy the value of "key:" (comment, spaces and quotes gone) into out. */
static bool yaml_value(const char *line, const char *key, char *out, size_t len)
{
	size_t k = strlen(key), n;

	if (strncmp(line, key, k) || line[k] != ':')
		return false;
	line += k + 1;
	line += strspn(line, " \t\"'");
	n = strcspn(line, "#\"'\r");
	while (n && isspace((unsigned char)line[n - 1]))
		n--;
	if (n >= len)
		n = len - 1;
	memcpy(out, line, n);
	out[n] = '\0';
	return true;
}

static int yaml_uint(const char *key, const char *v, uint64_t max, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(v, &end, 10);
	if (!isdigit((unsigned char)v[0]) || *end || errno || *out > max)
		return kiln_err(EINVAL, "%s: \"%s\" is not a number up to %llu", key, v,
				(unsigned long long)max);
	return 0;
}

int kiln_doc_parse_allocator(const char *text, struct kiln_doc_alloc *a)
{
	char line[512], v[256];
	uint64_t u;
	int rc = 0;

	*a = (struct kiln_doc_alloc){ 0 };
	for (const char *p = text; *p && rc == 0;) {
		size_t n = strcspn(p, "\n");

		snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1),
			 p);
		p += n + (p[n] == '\n');
		if (yaml_value(line, "memory_mib", v, sizeof(v))) {
			rc = yaml_uint("memory_mib", v, UINT64_C(1) << 32, &u);
			a->memory_mib = u;
		} else if (yaml_value(line, "cpu_count", v, sizeof(v))) {
			rc = yaml_uint("cpu_count", v, 65536, &u);
			a->cpu_count = (unsigned)u;
		} else if (yaml_value(line, "cpu_pool", v, sizeof(v)) && v[0]) {
			rc = kiln_doc_cpu_count(v, &a->cpu_count);
		}
	}
	return rc;
}

int kiln_doc_nitro_allocator(struct kiln_doc *d)
{
	char path[4200];
	_cleanup_free_ char *text = NULL;
	struct kiln_doc_alloc a;
	int rc;

	if (kiln_doc_path(d, ALLOC_YAML, path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	rc = kiln_read_file(path, YAML_MAX, &text, NULL);
	if (rc < 0)
		return kiln_doc_add(d, "nitro.allocator", KILN_DOC_NITRO, KILN_DOC_WARN,
				    "install aws-nitro-enclaves-cli, then " FIX_ALLOC,
				    "%s: %s (the allocator service's input; the pool itself is read "
				    "from sysfs below)", path, kiln_errmsg());
	rc = kiln_doc_parse_allocator(text, &a);
	if (rc < 0)
		return kiln_doc_add(d, "nitro.allocator", KILN_DOC_NITRO, KILN_DOC_FAIL,
				    "fix the file, then systemctl restart nitro-enclaves-allocator",
				    "%s: %s", path, kiln_errmsg());
	d->want_mib = a.memory_mib;
	d->want_cpus = a.cpu_count;
	return kiln_doc_add(d, "nitro.allocator", KILN_DOC_NITRO, KILN_DOC_OK, NULL,
			    "%s: asks for %llu MiB and %u CPUs", path,
			    (unsigned long long)a.memory_mib, a.cpu_count);
}

int kiln_doc_nitro_cpus(struct kiln_doc *d)
{
	char path[4200], list[1024];
	unsigned n;

	if (kiln_doc_path(d, NE_CPUS, path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	if (kiln_doc_read_line(path, list, sizeof(list)) < 0)
		return kiln_doc_add(d, "nitro.cpus", KILN_DOC_NITRO, KILN_DOC_SKIP, NULL,
				    "CPU pool: %s is unreadable (no nitro_enclaves driver)", path);
	if (kiln_doc_cpu_count(list, &n) < 0)
		return kiln_doc_add(d, "nitro.cpus", KILN_DOC_NITRO, KILN_DOC_FAIL, FIX_RESTART,
				    "CPU pool: %s: %s", path, kiln_errmsg());
	if (n == 0)
		return kiln_doc_add(d, "nitro.cpus", KILN_DOC_NITRO, KILN_DOC_FAIL, FIX_ALLOC,
				    "CPU pool: empty (%s): no CPU is offered to enclaves", path);
	if (d->want_cpus && n != d->want_cpus)
		return kiln_doc_add(d, "nitro.cpus", KILN_DOC_NITRO, KILN_DOC_WARN, FIX_RESTART,
				    "CPU pool: %u CPUs (%s), but allocator.yaml asks for %u", n,
				    list, d->want_cpus);
	return kiln_doc_add(d, "nitro.cpus", KILN_DOC_NITRO, KILN_DOC_OK, NULL,
			    "CPU pool: %u CPUs (%s)", n, list);
}

/* ---- hugepages ---- */

struct hp_size {
	uint64_t kb, nr, free;
};

struct hp_sum {
	struct hp_size s[MAX_SIZES];
	size_t n;
};

static bool usable_kb(uint64_t kb)
{
	return kiln_nitro_page_size_usable(kb << 10);
}

/* The hugepages-<N>kB directories under dir, with their counters. */
static int hp_scan(const char *dir, struct hp_sum *sum)
{
	DIR *dp = opendir(dir);
	struct dirent *de;

	sum->n = 0;
	if (!dp)
		return -errno;
	while ((de = readdir(dp)) && sum->n < MAX_SIZES) {
		struct hp_size *h = &sum->s[sum->n];
		char path[4400], *end;

		if (strncmp(de->d_name, "hugepages-", 10) || !isdigit((unsigned char)de->d_name[10]))
			continue;
		h->kb = strtoull(de->d_name + 10, &end, 10);
		if (strcmp(end, "kB"))
			continue;
		snprintf(path, sizeof(path), "%s/%s/nr_hugepages", dir, de->d_name);
		if (kiln_doc_read_u64(path, &h->nr) < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s/free_hugepages", dir, de->d_name);
		if (kiln_doc_read_u64(path, &h->free) < 0)
			h->free = 0;
		sum->n++;
	}
	closedir(dp);
	return 0;
}

static uint64_t hp_mib(const struct hp_sum *sum, bool free_only)
{
	uint64_t mib = 0;

	for (size_t i = 0; i < sum->n; i++)
		if (usable_kb(sum->s[i].kb))
			mib += (free_only ? sum->s[i].free : sum->s[i].nr) * (sum->s[i].kb / 1024);
	return mib;
}

/* "512 x 2048 kB, 1 x 1048576 kB" of the sizes that are (usable) or are not. */
static void hp_desc(const struct hp_sum *sum, bool usable, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sum->n && off < len; i++) {
		int n;

		if (usable_kb(sum->s[i].kb) != usable || !sum->s[i].nr)
			continue;
		n = snprintf(buf + off, len - off, "%s%llu x %llu kB", off ? ", " : "",
			     (unsigned long long)sum->s[i].nr, (unsigned long long)sum->s[i].kb);
		off += n > 0 ? (size_t)n : 0;
	}
}

/* The NUMA nodes holding usable hugepages: their count and "node0 1024 MiB, ...". */
static unsigned hp_nodes(const struct kiln_doc *d, char *buf, size_t len)
{
	char dir[4200];
	DIR *dp = NULL;
	struct dirent *de;
	unsigned nodes = 0;
	size_t off = 0;

	buf[0] = '\0';
	if (kiln_doc_path(d, NODE_DIR, dir, sizeof(dir)) < 0 || !(dp = opendir(dir)))
		return 0;
	while ((de = readdir(dp)) && nodes < MAX_NODES) {
		char sub[4500];
		struct hp_sum s;
		uint64_t mib;
		int n;

		if (strncmp(de->d_name, "node", 4) || !isdigit((unsigned char)de->d_name[4]))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s/hugepages", dir, de->d_name);
		if (hp_scan(sub, &s) < 0 || !(mib = hp_mib(&s, false)))
			continue;
		nodes++;
		if (off >= len)
			continue;
		n = snprintf(buf + off, len - off, "%s%s %llu MiB", off ? ", " : "", de->d_name,
			     (unsigned long long)mib);
		off += n > 0 ? (size_t)n : 0;
	}
	closedir(dp);
	return nodes;
}

static int hp_numa(struct kiln_doc *d)
{
	char where[512];
	unsigned nodes = hp_nodes(d, where, sizeof(where));

	if (nodes <= 1)
		return 0;
	return kiln_doc_add(d, "nitro.numa", KILN_DOC_NITRO, KILN_DOC_WARN,
			    "reserve them on the CPU pool's node only (the allocator service "
			    "does): " FIX_RESTART,
			    "hugepages on %u NUMA nodes (%s): an enclave's memory must all come "
			    "from its CPUs' node", nodes, where);
}

int kiln_doc_nitro_hugepages(struct kiln_doc *d)
{
	char dir[4200], have[256], other[256];
	struct hp_sum sum;
	uint64_t mib, free_mib;
	int rc;

	if (kiln_doc_path(d, HP_DIR, dir, sizeof(dir)) < 0)
		return -ENAMETOOLONG;
	if (hp_scan(dir, &sum) < 0)
		return kiln_doc_add(d, "nitro.hugepages", KILN_DOC_NITRO, KILN_DOC_FAIL,
				    "a kernel with CONFIG_HUGETLBFS (every enclave-capable AWS "
				    "kernel has it)", "hugepages: %s is missing", dir);
	mib = hp_mib(&sum, false);
	free_mib = hp_mib(&sum, true);
	hp_desc(&sum, true, have, sizeof(have));
	hp_desc(&sum, false, other, sizeof(other));
	if (!mib)
		rc = kiln_doc_add(d, "nitro.hugepages", KILN_DOC_NITRO, KILN_DOC_FAIL,
				  FIX_ALLOC " (or: echo PAGES > " HP_DIR
				  "/hugepages-2048kB/nr_hugepages)",
				  "hugepages: no pages of 2 MiB or more reserved for enclaves%s%s%s",
				  other[0] ? " (" : "", other, other[0] ? " are, which enclaves "
				  "cannot use)" : "");
	else if (d->want_mib && mib < d->want_mib)
		rc = kiln_doc_add(d, "nitro.hugepages", KILN_DOC_NITRO, KILN_DOC_FAIL, FIX_RESTART,
				  "hugepages: %llu MiB reserved (%s), fewer than the %llu MiB "
				  "allocator.yaml asks for", (unsigned long long)mib, have,
				  (unsigned long long)d->want_mib);
	else if (!free_mib)
		rc = kiln_doc_add(d, "nitro.hugepages", KILN_DOC_NITRO, KILN_DOC_FAIL,
				  "stop an enclave (kiln ps, kiln stop NAME), or raise memory_mib "
				  "in " ALLOC_YAML " and " FIX_RESTART,
				  "hugepages: %llu MiB reserved (%s), none free",
				  (unsigned long long)mib, have);
	else
		rc = kiln_doc_add(d, "nitro.hugepages", KILN_DOC_NITRO, KILN_DOC_OK, NULL,
				  "hugepages: %llu MiB reserved (%s), %llu MiB free",
				  (unsigned long long)mib, have, (unsigned long long)free_mib);
	return rc < 0 ? rc : hp_numa(d);
}
