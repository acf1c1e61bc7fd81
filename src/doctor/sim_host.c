/* SPDX-License-Identifier: Apache-2.0 */
/* kiln doctor: the sim's cgroups, /dev/fuse, the fallback kernel, and the demo's buildah and umoci. */
#include "doctor/doctor.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/sim.h"

/*
 * cgroups: the real thing, as kiln run does it (src/sim/cgroup.c): a child
 * kiln/doctor-PID with a CPU and a memory limit, removed again. Without it
 * enclaves run without limits, which kiln run says; so a warning.
 */
int kiln_doc_sim_cgroups(struct kiln_doc *d)
{
	struct kiln_sim_cgroup cg;
	char base[2048], name[64];
	bool v2 = kiln_sim_cgroup_v2_here(base, sizeof(base));

	snprintf(name, sizeof(name), "doctor-%d", (int)getpid());
	if (kiln_sim_cgroup_create(base, name, 1, 64, &cg) < 0)
		return kiln_doc_add(d, "sim.cgroups", KILN_DOC_SIM, KILN_DOC_WARN,
				    geteuid() ? "run kiln as root (or delegate a cgroup v2 "
				    "subtree to this user)" : "mount the cgroup v2 (or v1 cpu, "
				    "cpuset and memory) hierarchies",
				    "cgroups (%s): %s: enclaves get no CPU or memory limits",
				    v2 ? "v2" : "v1", kiln_errmsg());
	kiln_sim_cgroup_remove(&cg);
	return kiln_doc_add(d, "sim.cgroups", KILN_DOC_SIM, KILN_DOC_OK, NULL,
			    "cgroups (%s): CPU and memory limits work", v2 ? "v2" : "v1");
}

int kiln_doc_sim_fuse(struct kiln_doc *d)
{
	char path[4200];
	struct stat st;

	if (kiln_doc_path(d, "/dev/fuse", path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	if (stat(path, &st) < 0 || !S_ISCHR(st.st_mode))
		return kiln_doc_add(d, "sim.fuse", KILN_DOC_SIM, KILN_DOC_WARN, "modprobe fuse",
				    "%s: missing (only the encrypted storage to come needs it)",
				    path);
	if (access(path, R_OK | W_OK) < 0)
		return kiln_doc_add(d, "sim.fuse", KILN_DOC_SIM, KILN_DOC_WARN,
				    "chmod 0666 /dev/fuse (its usual mode)",
				    "%s: this user may not open it (only the encrypted storage to "
				    "come needs it)", path);
	return kiln_doc_add(d, "sim.fuse", KILN_DOC_SIM, KILN_DOC_OK, NULL, "%s: usable", path);
}

/* kiln build's kernel when there are no blobs (src/build/kernel.c). */
int kiln_doc_sim_kernel(struct kiln_doc *d)
{
	char path[4200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/vmlinuz", d->kernel_dir);
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
		return kiln_doc_add(d, "sim.kernel", KILN_DOC_SIM, KILN_DOC_OK, NULL,
				    "fallback kernel: %s (EIFs built with it run in the sim and "
				    "QEMU)", path);
	if (kiln_doc_blobs_usable(d))
		return kiln_doc_add(d, "sim.kernel", KILN_DOC_SIM, KILN_DOC_OK, NULL,
				    "fallback kernel: none (%s), kiln build uses the AWS blobs in "
				    "%s", path, d->blobs);
	return kiln_doc_add(d, "sim.kernel", KILN_DOC_SIM, KILN_DOC_FAIL,
			    "make deps (as root; it unpacks Debian's cloud kernel there)",
			    "fallback kernel: missing (%s) and no AWS blobs: kiln build has no "
			    "kernel", path);
}

/* An executable named name in $PATH. */
static bool in_path(const char *name)
{
	const char *p = getenv("PATH");

	while (p && *p) {
		size_t n = strcspn(p, ":");
		char path[4200];

		snprintf(path, sizeof(path), "%.*s/%s", (int)n, p, name);
		if (n && access(path, X_OK) == 0)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

int kiln_doc_sim_tools(struct kiln_doc *d)
{
	static const char *const tools[] = { "buildah", "umoci" };

	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
		char id[32];
		int rc;

		snprintf(id, sizeof(id), "sim.%s", tools[i]);
		if (in_path(tools[i]))
			rc = kiln_doc_add(d, id, KILN_DOC_SIM, KILN_DOC_OK, NULL,
					  "%s: found (the demo and tests use it)", tools[i]);
		else
			rc = kiln_doc_add(d, id, KILN_DOC_SIM, KILN_DOC_WARN, "make deps",
					  "%s: not in PATH (only the demo and tests need it)",
					  tools[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}
