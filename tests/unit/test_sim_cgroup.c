/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sim's cgroup limits, v2 and v1, on a copy of the files the kernel
 * provides (this machine is a v1/hybrid host, so the v2 path cannot run on
 * the real hierarchy here): which files get which values, what a missing
 * file does, that the enclave's pid lands in every controller, and that
 * the enclaves' CPU weights add up in their shared parent kiln/.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim.h"
#include "t.h"

static char tmp[80];

static void put(const char *rel, const char *val)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	f = fopen(p, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(val, f);
		fclose(f);
	}
}

static void dir(const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	CHECK(mkdir(p, 0755) == 0);
}

static const char *get(const char *rel)
{
	static char buf[256];
	char p[512];
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	f = fopen(p, "r");
	if (!f)
		return "(missing)";
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* A string check that shows both sides when it fails. */
#define CHECK_STR(got, want)                                                       \
	do {                                                                       \
		const char *g_ = (got), *w_ = (want);                              \
		CHECK(!strcmp(g_, w_));                                            \
		if (strcmp(g_, w_))                                                \
			fprintf(stderr, "    got \"%s\", want \"%s\"\n", g_, w_); \
	} while (0)

static void base(const char *rel, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", tmp, rel);
}

/* A child kiln/name of a cgroup2 mount without memory.max. */
static void fake_v2_child(const char *root, const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/kiln/%s", root, name);
	dir(p);
	snprintf(p, sizeof(p), "%s/kiln/%s/cpu.max", root, name);
	put(p, "");
	snprintf(p, sizeof(p), "%s/kiln/%s/cpu.weight", root, name);
	put(p, "100\n");
	snprintf(p, sizeof(p), "%s/kiln/%s/cgroup.procs", root, name);
	put(p, "");
}

/* A cgroup2 mount as the kernel shows it: control files appear with mkdir. */
static void fake_v2(const char *root, const char *name, bool with_memory)
{
	char p[256];

	dir(root);
	snprintf(p, sizeof(p), "%s/cgroup.subtree_control", root);
	put(p, "");
	snprintf(p, sizeof(p), "%s/kiln", root);
	dir(p);
	snprintf(p, sizeof(p), "%s/kiln/cgroup.subtree_control", root);
	put(p, "");
	snprintf(p, sizeof(p), "%s/kiln/cpu.weight", root);
	put(p, "100\n");
	fake_v2_child(root, name);
	if (with_memory) {
		snprintf(p, sizeof(p), "%s/kiln/%s/memory.max", root, name);
		put(p, "");
	}
}

TEST(v2_limits_and_procs)
{
	struct kiln_sim_cgroup cg = { 0 };
	char b[160];

	fake_v2("v2", "web.1", true);
	base("v2", b, sizeof(b));
	CHECK(kiln_sim_cgroup_v2_at(b, "web.1", 3, 512, &cg) == 0);
	CHECK(cg.kind == KILN_SIM_CG_V2 && cg.ndirs == 1);
	CHECK_STR(get("v2/cgroup.subtree_control"), "+cpu +memory");
	CHECK_STR(get("v2/kiln/cgroup.subtree_control"), "+cpu +memory");
	CHECK_STR(get("v2/kiln/web.1/cpu.max"), "300000 100000"); /* 3 CPUs per 100 ms */
	CHECK_STR(get("v2/kiln/web.1/memory.max"), "536870912");
	CHECK_STR(get("v2/kiln/web.1/cpu.weight"), "300"); /* 3 x the default 100 */
	CHECK_STR(get("v2/kiln/cpu.weight"), "300");	    /* kiln/: the sum of one */
	CHECK(kiln_sim_cgroup_add(&cg, 4321) == 0);
	CHECK_STR(get("v2/kiln/web.1/cgroup.procs"), "4321");
}

TEST(v2_missing_controller_is_an_error)
{
	struct kiln_sim_cgroup cg = { 0 };
	char b[160];

	fake_v2("v2b", "db", false); /* memory not enabled: no memory.max */
	base("v2b", b, sizeof(b));
	CHECK_ERR(kiln_sim_cgroup_v2_at(b, "db", 1, 256, &cg), "memory.max");
}

/* root/rel: a directory (val NULL) or a file holding val. */
static void sub(const char *root, const char *rel, const char *val)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	if (val)
		put(p, val);
	else
		dir(p);
}

/* v1 under root: cpu, cpuset and memory hierarchies; cpuset starts empty below the top. */
static void fake_v1(const char *root)
{
	dir(root);
	sub(root, "cpu", NULL);
	sub(root, "cpu/kiln", NULL);
	sub(root, "cpu/kiln/cpu.shares", "1024\n");
	sub(root, "cpu/kiln/e", NULL);
	sub(root, "cpu/kiln/e/cpu.shares", "1024\n");
	sub(root, "cpu/kiln/e/cpu.cfs_period_us", "");
	sub(root, "cpu/kiln/e/cpu.cfs_quota_us", "");
	sub(root, "cpu/kiln/e/cgroup.procs", "");
	sub(root, "cpuset", NULL);
	sub(root, "cpuset/cpuset.mems", "0\n");
	sub(root, "cpuset/cpuset.cpus", "0-3,8\n");
	sub(root, "cpuset/kiln", NULL);
	sub(root, "cpuset/kiln/cpuset.mems", "");
	sub(root, "cpuset/kiln/cpuset.cpus", "");
	sub(root, "cpuset/kiln/e", NULL);
	sub(root, "cpuset/kiln/e/cpuset.mems", "");
	sub(root, "cpuset/kiln/e/cpuset.cpus", "");
	sub(root, "cpuset/kiln/e/cgroup.procs", "");
	sub(root, "mem", NULL);
	sub(root, "mem/kiln", NULL);
	sub(root, "mem/kiln/e", NULL);
	sub(root, "mem/kiln/e/memory.limit_in_bytes", "");
	sub(root, "mem/kiln/e/cgroup.procs", "");
}

TEST(v1_limits_and_procs)
{
	struct kiln_sim_cgroup cg = { 0 };
	char b[3][160];
	const char *bases[KILN_SIM_CG_MAX] = { b[0], b[1], b[2] };

	fake_v1("v1");
	base("v1/cpu", b[0], sizeof(b[0]));
	base("v1/cpuset", b[1], sizeof(b[1]));
	base("v1/mem", b[2], sizeof(b[2]));
	CHECK(kiln_sim_cgroup_v1_at(bases, "e", 5, 1024, &cg) == 0);
	CHECK(cg.kind == KILN_SIM_CG_V1 && cg.ndirs == 3);
	CHECK_STR(get("v1/cpu/kiln/e/cpu.cfs_period_us"), "100000");
	CHECK_STR(get("v1/cpu/kiln/e/cpu.cfs_quota_us"), "500000");
	CHECK_STR(get("v1/cpu/kiln/e/cpu.shares"), "5120"); /* 5 x the default 1024 */
	CHECK_STR(get("v1/cpu/kiln/cpu.shares"), "5120");
	CHECK_STR(get("v1/cpuset/kiln/cpuset.cpus"), "0-3,8"); /* the parent gets everything */
	CHECK_STR(get("v1/cpuset/kiln/cpuset.mems"), "0");
	CHECK_STR(get("v1/cpuset/kiln/e/cpuset.cpus"), "0,1,2,3,8"); /* the first 5 CPUs */
	CHECK_STR(get("v1/cpuset/kiln/e/cpuset.mems"), "0");
	CHECK_STR(get("v1/mem/kiln/e/memory.limit_in_bytes"), "1073741824");
	CHECK(kiln_sim_cgroup_add(&cg, 99) == 0);
	CHECK_STR(get("v1/cpu/kiln/e/cgroup.procs"), "99");
	CHECK_STR(get("v1/cpuset/kiln/e/cgroup.procs"), "99");
	CHECK_STR(get("v1/mem/kiln/e/cgroup.procs"), "99");
}

TEST(v1_without_cpuset)
{
	struct kiln_sim_cgroup cg = { 0 };
	char b[2][160];
	const char *bases[KILN_SIM_CG_MAX] = { b[0], "", b[1] };

	fake_v1("v1b");
	base("v1b/cpu", b[0], sizeof(b[0]));
	base("v1b/mem", b[1], sizeof(b[1]));
	CHECK(kiln_sim_cgroup_v1_at(bases, "e", 2, 64, &cg) == 0);
	CHECK(cg.ndirs == 2);
	CHECK_STR(get("v1b/cpu/kiln/e/cpu.cfs_quota_us"), "200000");
	CHECK_STR(get("v1b/mem/kiln/e/memory.limit_in_bytes"), "67108864");
	CHECK_STR(get("v1b/cpuset/kiln/e/cpuset.cpus"), ""); /* no cpuset hierarchy: untouched */
}

/* Empty the fake cgroup root/kiln/name of its files, as the kernel's has none to rmdir. */
static void empty(const char *root, const char *name)
{
	static const char *const files[] = { "cpu.max",	   "cpu.weight",	"cgroup.procs",
					     "memory.max", "cpu.cfs_period_us", "cpu.cfs_quota_us",
					     "cpu.shares" };
	char p[512];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s/kiln/%s/%s", tmp, root, name, files[i]);
		(void)unlink(p);
	}
}

/*
 * kiln/ weighs the sum of its enclaves' weights as they come and go (back to
 * the default with none left), so it neither caps them to one task's share
 * nor outweighs them; an enclave's own weight stops at the kernel's maximum.
 */
TEST(v2_parent_weighs_its_enclaves)
{
	struct kiln_sim_cgroup a = { 0 }, b = { 0 }, big = { 0 };
	char root[160];

	fake_v2("v2w", "a", true);
	base("v2w", root, sizeof(root));
	CHECK(kiln_sim_cgroup_v2_at(root, "a", 2, 64, &a) == 0);
	CHECK_STR(get("v2w/kiln/cpu.weight"), "200");
	fake_v2_child("v2w", "b");
	put("v2w/kiln/b/memory.max", "");
	CHECK(kiln_sim_cgroup_v2_at(root, "b", 4, 64, &b) == 0);
	CHECK_STR(get("v2w/kiln/b/cpu.weight"), "400");
	CHECK_STR(get("v2w/kiln/cpu.weight"), "600");
	empty("v2w", "a");
	kiln_sim_cgroup_remove(&a);
	CHECK_STR(get("v2w/kiln/cpu.weight"), "400");
	empty("v2w", "b");
	kiln_sim_cgroup_remove(&b);
	CHECK_STR(get("v2w/kiln/cpu.weight"), "100");
	fake_v2_child("v2w", "big");
	put("v2w/kiln/big/memory.max", "");
	CHECK(kiln_sim_cgroup_v2_at(root, "big", 1000, 64, &big) == 0);
	CHECK_STR(get("v2w/kiln/big/cpu.weight"), "10000"); /* cgroup v2's maximum */
	CHECK_STR(get("v2w/kiln/cpu.weight"), "10000");
}

/* v1: the same with cpu.shares in the cpu hierarchy. */
TEST(v1_parent_weighs_its_enclaves)
{
	struct kiln_sim_cgroup e = { 0 }, f = { 0 };
	char b[160];
	const char *bases[KILN_SIM_CG_MAX] = { b, "", "" };

	fake_v1("v1w");
	sub("v1w", "cpu/kiln/f", NULL);
	sub("v1w", "cpu/kiln/f/cpu.cfs_period_us", "");
	sub("v1w", "cpu/kiln/f/cpu.cfs_quota_us", "");
	sub("v1w", "cpu/kiln/f/cpu.shares", "1024\n");
	base("v1w/cpu", b, sizeof(b));
	CHECK(kiln_sim_cgroup_v1_at(bases, "e", 1, 64, &e) == 0);
	CHECK_STR(get("v1w/cpu/kiln/cpu.shares"), "2048"); /* e's 1024 + f's default */
	CHECK(kiln_sim_cgroup_v1_at(bases, "f", 3, 64, &f) == 0);
	CHECK_STR(get("v1w/cpu/kiln/f/cpu.shares"), "3072");
	CHECK_STR(get("v1w/cpu/kiln/cpu.shares"), "4096");
	empty("v1w/cpu", "f");
	kiln_sim_cgroup_remove(&f);
	CHECK_STR(get("v1w/cpu/kiln/cpu.shares"), "1024");
}

/* Empty cgroups older than a minute under kiln/ go; busy or young ones stay. */
TEST(stale_cgroups_are_swept)
{
	struct timespec old[2] = { { .tv_sec = time(NULL) - 120 }, { .tv_sec = time(NULL) - 120 } };
	struct kiln_sim_cgroup cg = { 0 };
	char b[160], p[256];

	fake_v2("v2s", "new", true);
	dir("v2s/kiln/dead");
	dir("v2s/kiln/busy");
	put("v2s/kiln/busy/cgroup.procs", "77"); /* rmdir fails, as EBUSY would */
	dir("v2s/kiln/young");
	snprintf(p, sizeof(p), "%s/v2s/kiln/dead", tmp);
	CHECK(utimensat(AT_FDCWD, p, old, 0) == 0);
	snprintf(p, sizeof(p), "%s/v2s/kiln/busy", tmp);
	CHECK(utimensat(AT_FDCWD, p, old, 0) == 0);
	base("v2s", b, sizeof(b));
	CHECK(kiln_sim_cgroup_v2_at(b, "new", 1, 64, &cg) == 0);
	snprintf(p, sizeof(p), "%s/v2s/kiln/dead", tmp);
	CHECK(access(p, F_OK) < 0);
	snprintf(p, sizeof(p), "%s/v2s/kiln/busy", tmp);
	CHECK(access(p, F_OK) == 0);
	snprintf(p, sizeof(p), "%s/v2s/kiln/young", tmp);
	CHECK(access(p, F_OK) == 0);
	snprintf(p, sizeof(p), "%s/v2s/kiln/new", tmp);
	CHECK(access(p, F_OK) == 0);
}

int main(void)
{
	char cmd[128];
	int n = snprintf(tmp, sizeof(tmp), "%s/kiln-test-cg.XXXXXX", getenv("TMPDIR") ?: "/tmp");

	if (n < 0 || (size_t)n >= sizeof(tmp) || !mkdtemp(tmp))
		return 1;
	RUN(v2_limits_and_procs);
	RUN(v2_missing_controller_is_an_error);
	RUN(v1_limits_and_procs);
	RUN(v1_without_cpuset);
	RUN(v2_parent_weighs_its_enclaves);
	RUN(v1_parent_weighs_its_enclaves);
	RUN(stale_cgroups_are_swept);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	if (system(cmd) != 0)
		return 1;
	return t_done();
}
