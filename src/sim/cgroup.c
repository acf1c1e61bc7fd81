/* SPDX-License-Identifier: Apache-2.0 */
/* CPU and memory limits of a sim enclave: a cgroup child kiln/NAME, v2 or v1. */
#include "sim/sim.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"

/*
 * cgroup v2 is used when its mount offers the cpu and memory controllers
 * (a pure v2 host); otherwise the v1 hierarchies of cpu, cpuset and memory
 * (a v1 or hybrid host, where the unified mount has no controllers). The
 * hierarchies are found in /proc/self/mountinfo, not assumed at
 * /sys/fs/cgroup/<name>, so co-mounted controllers ("cpu,cpuacct") work.
 */
#define CFS_PERIOD_US 100000ull
#define STALE_AFTER_S 60

static const char *const v1_ctrls[] = { "cpu", "cpuset", "memory" };

/*
 * CPU weight. On Nitro an enclave's vCPUs are its own; in sim its
 * processes share the host's cores, and a cgroup of the default weight
 * counts as one busy task against everything else, so under load
 * kiln-init and the app together got one task's share whatever the vCPU
 * count. An enclave's group weighs what its vCPUs would as busy tasks
 * (cpus x the default weight, clamped to the kernel's maximum), and the
 * shared kiln/ parent weighs the sum of its children: kiln/ as a whole
 * then takes what its enclaves would side by side at the top, neither one
 * share for all of them nor more than their due.
 */
struct cg_weight {
	const char *file;
	unsigned long per_cpu, max;
};
static const struct cg_weight v2_weight = { "cpu.weight", 100, 10000 };
static const struct cg_weight v1_weight = { "cpu.shares", 1024, 262144 };

/* buf = a/b, or -ENAMETOOLONG. */
static int join(char *buf, size_t len, const char *a, const char *b)
{
	int n = snprintf(buf, len, "%s/%s", a, b);

	if (n < 0 || (size_t)n >= len)
		return kiln_err(ENAMETOOLONG, "cgroup path too long: %s/%s", a, b);
	return 0;
}

static int write_file(const char *dir, const char *file, const char *val)
{
	char path[sizeof(((struct kiln_sim_cgroup *)0)->dirs[0]) + 64];
	_cleanup_close_ int fd = -1;
	size_t len = strlen(val);

	if (join(path, sizeof(path), dir, file) < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC); /* a test's plain file, too */
	if (fd < 0 || write(fd, val, len) != (ssize_t)len)
		return kiln_err(errno, "write %s to %s: %s", val, path, strerror(errno));
	return 0;
}

static int read_line(const char *dir, const char *file, char *buf, size_t len)
{
	char path[sizeof(((struct kiln_sim_cgroup *)0)->dirs[0]) + 64];
	_cleanup_fclose_ FILE *f = NULL;

	if (join(path, sizeof(path), dir, file) < 0)
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f || !fgets(buf, (int)len, f))
		return kiln_err(errno ? errno : EIO, "read %s: %s", path, strerror(errno));
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* True when the comma-separated list has word. */
static bool has_word(const char *list, const char *word, const char *seps)
{
	size_t n = strlen(word);

	for (const char *p = list; *p;) {
		size_t m = strcspn(p, seps);

		if (m == n && !strncmp(p, word, n))
			return true;
		p += m;
		p += *p != '\0';
	}
	return false;
}

/*
 * The mount point of the cgroup hierarchy with fstype (cgroup or cgroup2)
 * and, for v1, controller ctrl among its super options.
 */
static int find_mount(const char *fstype, const char *ctrl, char *out, size_t len)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];

	if (!f)
		return kiln_err(errno, "/proc/self/mountinfo: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char mnt[2048], type[64], opts[1024];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %*s %2047s", mnt) != 1 ||
		    sscanf(sep + 3, "%63s %*s %1023s", type, opts) != 2)
			continue;
		if (strcmp(type, fstype) || (ctrl && !has_word(opts, ctrl, ",")))
			continue;
		snprintf(out, len, "%s", mnt);
		return 0;
	}
	return -ENOENT;
}

/*
 * Remove the cgroups of enclaves whose monitor died without removing them
 * (SIGKILL, a crash): every directory under kiln/ made more than
 * STALE_AFTER_S ago that rmdir accepts, which the kernel does only for a
 * cgroup with no processes and no children. Younger ones are left alone:
 * a monitor makes its cgroup a moment before the enclave moves in.
 */
static void sweep_stale(const char *parent)
{
	_cleanup_close_ int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	time_t now = time(NULL);
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd)))
		return;
	fd = -1; /* the DIR owns it */
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISDIR(st.st_mode) || now - st.st_mtime < STALE_AFTER_S)
			continue;
		(void)unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

static unsigned long weight_of(unsigned cpus, const struct cg_weight *w)
{
	unsigned long v = (unsigned long)cpus * w->per_cpu;

	return v < w->max ? v : w->max;
}

/* The weight in dir/name/w->file, or 0 when it cannot be read. */
static unsigned long child_weight(int dir, const char *name, const struct cg_weight *w)
{
	char path[512], buf[32];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (snprintf(path, sizeof(path), "%s/%s", name, w->file) >= (int)sizeof(path))
		return 0;
	fd = openat(dir, path, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtoul(buf, NULL, 10);
}

/* The sum of the weights of the groups in the open directory fd. */
static unsigned long children_weight(int fd, const struct cg_weight *w)
{
	int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	unsigned long sum = 0;
	struct dirent *de;
	DIR *d;

	if (dup_fd < 0 || !(d = fdopendir(dup_fd))) {
		if (dup_fd >= 0)
			close(dup_fd);
		return 0;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && de->d_type == DT_DIR)
			sum += child_weight(dirfd(d), de->d_name, w);
	closedir(d);
	return sum;
}

/*
 * Set parent's weight to the sum of its children's (the default when none
 * is left), holding an exclusive flock on parent: monitors creating or
 * removing enclaves at once would otherwise each write a sum missing the
 * other's change.
 */
static int weigh_parent(const char *parent, const struct cg_weight *w)
{
	_cleanup_close_ int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	unsigned long sum;
	char v[32];

	if (fd < 0 || flock(fd, LOCK_EX) < 0)
		return kiln_err(errno, "cgroup %s: %s", parent, strerror(errno));
	sum = children_weight(fd, w);
	if (sum == 0)
		sum = w->per_cpu;
	snprintf(v, sizeof(v), "%lu", sum < w->max ? sum : w->max);
	return write_file(parent, w->file, v); /* closing fd unlocks */
}

/* Give dir cpus' worth of weight, then its parent the sum of its children's. */
static int weigh(const char *parent, const char *dir, unsigned cpus, const struct cg_weight *w)
{
	char v[32];
	int rc;

	snprintf(v, sizeof(v), "%lu", weight_of(cpus, w));
	rc = write_file(dir, w->file, v);
	return rc ? rc : weigh_parent(parent, w);
}

/* Make a directory of cg; recorded first so a later failure removes it. */
static int cg_mkdir(struct kiln_sim_cgroup *cg, const char *base, const char *name)
{
	char *dir = cg->dirs[cg->ndirs];
	char parent[sizeof(cg->dirs[0])];

	if (join(parent, sizeof(parent), base, "kiln") < 0 ||
	    join(dir, sizeof(cg->dirs[0]), parent, name) < 0)
		return -ENAMETOOLONG;
	if (mkdir(parent, 0755) < 0 && errno != EEXIST)
		return kiln_err(errno, "cgroup %s: %s", parent, strerror(errno));
	sweep_stale(parent);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return kiln_err(errno, "cgroup %s: %s", dir, strerror(errno));
	cg->ndirs++;
	return 0;
}

/* The first n CPUs of a cpuset list such as "0-3,8". */
static void first_cpus(const char *list, unsigned n, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (const char *p = list; *p && n;) {
		char *end;
		unsigned long lo = strtoul(p, &end, 10), hi = lo;

		if (*end == '-')
			hi = strtoul(end + 1, &end, 10);
		for (unsigned long c = lo; c <= hi && n; c++, n--)
			used += (size_t)snprintf(out + used, len - used, "%s%lu", used ? "," : "",
						 c);
		p = *end == ',' ? end + 1 : end + strlen(end);
		if (used >= len)
			break;
	}
}

/* v1 cpuset: a new group starts with no CPUs or memory nodes; copy them down. */
static int cpuset_init(const char *base, const char *dir, unsigned cpus)
{
	char parent[sizeof(((struct kiln_sim_cgroup *)0)->dirs[0])], mems[1024], all[1024],
		some[1024];
	int rc = join(parent, sizeof(parent), base, "kiln");

	if (rc == 0)
		rc = read_line(base, "cpuset.mems", mems, sizeof(mems));
	if (rc == 0)
		rc = read_line(base, "cpuset.cpus", all, sizeof(all));
	if (rc == 0)
		rc = write_file(parent, "cpuset.mems", mems);
	if (rc == 0)
		rc = write_file(parent, "cpuset.cpus", all);
	if (rc < 0)
		return rc;
	first_cpus(all, cpus, some, sizeof(some));
	rc = write_file(dir, "cpuset.mems", mems);
	return rc ? rc : write_file(dir, "cpuset.cpus", some);
}

static int v1_limits(const char *ctrl, const char *base, const char *dir, unsigned cpus,
		     uint64_t memory_mib)
{
	char v[64];
	int rc;

	if (!strcmp(ctrl, "cpu")) {
		char parent[sizeof(((struct kiln_sim_cgroup *)0)->dirs[0])];

		snprintf(v, sizeof(v), "%llu", CFS_PERIOD_US);
		rc = write_file(dir, "cpu.cfs_period_us", v);
		snprintf(v, sizeof(v), "%llu", cpus * CFS_PERIOD_US);
		if (rc == 0)
			rc = write_file(dir, "cpu.cfs_quota_us", v);
		if (rc == 0)
			rc = join(parent, sizeof(parent), base, "kiln");
		return rc ? rc : weigh(parent, dir, cpus, &v1_weight);
	}
	if (!strcmp(ctrl, "cpuset"))
		return cpuset_init(base, dir, cpus);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)(memory_mib << 20));
	return write_file(dir, "memory.limit_in_bytes", v);
}

int kiln_sim_cgroup_v1_at(const char *const base[KILN_SIM_CG_MAX], const char *name,
			  unsigned cpus, uint64_t memory_mib, struct kiln_sim_cgroup *cg)
{
	cg->kind = KILN_SIM_CG_V1;
	for (unsigned i = 0; i < KILN_SIM_CG_MAX; i++) {
		int rc;

		if (!base[i][0])
			continue;
		rc = cg_mkdir(cg, base[i], name);
		cg->weighted |= rc == 0 && i == 0; /* the cpu hierarchy comes first */
		if (rc == 0)
			rc = v1_limits(v1_ctrls[i], base[i], cg->dirs[cg->ndirs - 1], cpus,
				       memory_mib);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int setup_v1(const char *name, unsigned cpus, uint64_t memory_mib,
		    struct kiln_sim_cgroup *cg)
{
	char base[KILN_SIM_CG_MAX][2048];
	const char *bases[KILN_SIM_CG_MAX];
	unsigned found = 0;

	for (unsigned i = 0; i < KILN_SIM_CG_MAX; i++) {
		base[i][0] = '\0';
		found += find_mount("cgroup", v1_ctrls[i], base[i], sizeof(base[i])) == 0;
		bases[i] = base[i];
	}
	if (!found)
		return kiln_err(ENOENT, "no cgroup v1 cpu, cpuset or memory hierarchy is mounted");
	return kiln_sim_cgroup_v1_at(bases, name, cpus, memory_mib, cg);
}

int kiln_sim_cgroup_v2_at(const char *base, const char *name, unsigned cpus,
			  uint64_t memory_mib, struct kiln_sim_cgroup *cg)
{
	char parent[sizeof(cg->dirs[0])], v[64];
	int rc = join(parent, sizeof(parent), base, "kiln");

	if (rc < 0)
		return rc;
	cg->kind = KILN_SIM_CG_V2;
	/* Already enabled is fine; a real failure shows when the limits are written. */
	(void)!write_file(base, "cgroup.subtree_control", "+cpu +memory");
	rc = cg_mkdir(cg, base, name);
	cg->weighted = rc == 0;
	if (rc == 0)
		(void)!write_file(parent, "cgroup.subtree_control", "+cpu +memory");
	if (rc == 0) {
		snprintf(v, sizeof(v), "%llu %llu", cpus * CFS_PERIOD_US, CFS_PERIOD_US);
		rc = write_file(cg->dirs[0], "cpu.max", v);
	}
	if (rc == 0) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)(memory_mib << 20));
		rc = write_file(cg->dirs[0], "memory.max", v);
	}
	return rc == 0 ? weigh(parent, cg->dirs[0], cpus, &v2_weight) : rc;
}

bool kiln_sim_cgroup_v2_here(char *base, size_t len)
{
	char ctrls[1024];

	if (find_mount("cgroup2", NULL, base, len) == 0 &&
	    read_line(base, "cgroup.controllers", ctrls, sizeof(ctrls)) == 0 &&
	    has_word(ctrls, "cpu", " ") && has_word(ctrls, "memory", " "))
		return true;
	base[0] = '\0';
	return false;
}

int kiln_sim_cgroup_create(const char *v2_base, const char *name, unsigned cpus,
			   uint64_t memory_mib, struct kiln_sim_cgroup *cg)
{
	int rc;

	memset(cg, 0, sizeof(*cg));
	if (v2_base[0])
		rc = kiln_sim_cgroup_v2_at(v2_base, name, cpus, memory_mib, cg);
	else
		rc = setup_v1(name, cpus, memory_mib, cg);
	if (rc < 0) {
		kiln_sim_cgroup_remove(cg);
		cg->kind = KILN_SIM_CG_NONE;
	}
	return rc;
}

/* Write val to file in every directory of cg. */
static int write_each(const struct kiln_sim_cgroup *cg, const char *file, const char *val)
{
	for (unsigned i = 0; i < cg->ndirs; i++) {
		int rc = write_file(cg->dirs[i], file, val);

		if (rc < 0)
			return rc;
	}
	return 0;
}

int kiln_sim_cgroup_add(const struct kiln_sim_cgroup *cg, pid_t pid)
{
	char v[32];

	snprintf(v, sizeof(v), "%d", (int)pid);
	return write_each(cg, "cgroup.procs", v);
}

int kiln_sim_cgroup_join_self(const struct kiln_sim_cgroup *cg)
{
	return cg->kind == KILN_SIM_CG_V1 ? write_each(cg, "tasks", "0") : 0;
}

int kiln_sim_cgroup_dirfd(const struct kiln_sim_cgroup *cg)
{
	if (cg->kind != KILN_SIM_CG_V2 || !cg->ndirs)
		return -1;
	return open(cg->dirs[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

void kiln_sim_cgroup_remove(struct kiln_sim_cgroup *cg)
{
	const struct timespec tick = { 0, 10 * 1000 * 1000 };

	for (unsigned i = 0; i < cg->ndirs; i++)
		for (int tries = 0; rmdir(cg->dirs[i]) < 0 && errno == EBUSY && tries < 200;
		     tries++)
			nanosleep(&tick, NULL);
	if (cg->weighted && cg->ndirs) {
		char *slash = strrchr(cg->dirs[0], '/');

		if (slash) {
			*slash = '\0'; /* dirs[0] becomes the parent kiln/ */
			(void)!weigh_parent(cg->dirs[0], cg->kind == KILN_SIM_CG_V1 ?
								&v1_weight : &v2_weight);
		}
	}
	cg->weighted = false;
	cg->ndirs = 0;
}
