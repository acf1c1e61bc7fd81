/* SPDX-License-Identifier: Apache-2.0 */
/* kiln doctor: what the sim does in its namespaces, tried for real in a throwaway child. */
#include "doctor/doctor.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/redirect.h"
#include "sim/sim.h"

/* As src/sim/run.c: an ordinary user's enclave also gets a user namespace. */
#define SIM_NS (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC)
#define REDIRECT_PORT 9 /* any port: the rule lives and dies with the child's namespace */
/* A probe that could not even make its namespace: the namespaces line says why. */
#define NO_NS "no namespace: "

static bool no_ns(void)
{
	return !strncmp(kiln_errmsg(), NO_NS, strlen(NO_NS));
}

static unsigned long user_flag(void)
{
	return geteuid() == 0 ? 0 : CLONE_NEWUSER;
}

static int try_unshare(void *arg)
{
	unsigned long flags = *(unsigned long *)arg;

	if (unshare((int)flags) < 0)
		return kiln_sim_ns_explain(flags, errno);
	return 0;
}

int kiln_doc_sim_namespaces(struct kiln_doc *d)
{
	unsigned long flags = SIM_NS | user_flag();

	if (kiln_doc_in_child(try_unshare, &flags) < 0)
		return kiln_doc_add(d, "sim.namespaces", KILN_DOC_SIM, KILN_DOC_FAIL,
				    geteuid() ? "sysctl -w kernel.unprivileged_userns_clone=1 "
				    "user.max_user_namespaces=15000, or run kiln as root" :
				    "run kiln on the host or in a privileged container (CAP_SYS_ADMIN, "
				    "no seccomp filter on unshare)",
				    "namespaces: %s", kiln_errmsg());
	return kiln_doc_add(d, "sim.namespaces", KILN_DOC_SIM, KILN_DOC_OK, NULL,
			    "namespaces: %smount, PID, network, UTS and IPC can be created",
			    user_flag() ? "user, " : "");
}

/* kiln-init's egress path: the nat REDIRECT rule, installed in a fresh network namespace. */
static int try_redirect(void *arg)
{
	int *family = arg, rc;

	if (unshare((int)(CLONE_NEWNET | user_flag())) < 0)
		return kiln_err(errno, NO_NS "%s", strerror(errno));
	rc = kiln_redirect_install(*family, REDIRECT_PORT);
	return rc < 0 ? rc : 0;
}

int kiln_doc_sim_iptables(struct kiln_doc *d)
{
	int v4 = 4, v6 = 6, rc = kiln_doc_in_child(try_redirect, &v4);
	char why6[256];

	if (rc < 0 && no_ns())
		return kiln_doc_add(d, "sim.iptables", KILN_DOC_SIM, KILN_DOC_SKIP, NULL,
				    "iptables-legacy nat: not tried (%s)", kiln_errmsg());
	if (rc < 0)
		return kiln_doc_add(d, "sim.iptables", KILN_DOC_SIM, KILN_DOC_FAIL,
				    rc == -ENOENT ? "modprobe iptable_nat (legacy xtables: "
				    "CONFIG_IP_NF_NAT)" : "kiln-init needs CAP_NET_ADMIN in its "
				    "namespace: run on the host or in a privileged container",
				    "iptables-legacy nat (egress REDIRECT): %s", kiln_errmsg());
	if (kiln_doc_in_child(try_redirect, &v6) < 0) {
		snprintf(why6, sizeof(why6), "%s", kiln_errmsg());
		return kiln_doc_add(d, "sim.iptables", KILN_DOC_SIM, KILN_DOC_WARN,
				    "modprobe ip6table_nat",
				    "iptables-legacy nat: IPv4 works; IPv6: %s (IPv6 egress is not "
				    "intercepted)", why6);
	}
	return kiln_doc_add(d, "sim.iptables", KILN_DOC_SIM, KILN_DOC_OK, NULL,
			    "iptables-legacy nat (egress REDIRECT): IPv4 and IPv6 work in a "
			    "namespace");
}

/* The rootfs cache's mount: an overlay with an upper layer on tmpfs, in a private mount namespace. */
static int try_overlay(void *arg)
{
	const char *dir = arg;
	char opts[512];
	static const char *const subs[] = { "l", "u", "w", "m" };

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return kiln_err(errno, NO_NS "%s", strerror(errno));
	if (mount("kiln-doctor", dir, "tmpfs", MS_NODEV, "size=1m") < 0 || chdir(dir) < 0)
		return kiln_err(errno, "tmpfs: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (mkdir(subs[i], 0755) < 0)
			return kiln_err(errno, "mkdir: %s", strerror(errno));
	snprintf(opts, sizeof(opts), "lowerdir=%s/l,upperdir=%s/u,workdir=%s/w", dir, dir, dir);
	if (mount("kiln-doctor", "m", "overlay", MS_NODEV, opts) < 0)
		return kiln_err(errno, "mount: %s", strerror(errno));
	return 0;
}

int kiln_doc_sim_overlay(struct kiln_doc *d)
{
	char dir[] = "/tmp/kiln-doctor.XXXXXX";
	int rc;

	if (geteuid() != 0)
		return kiln_doc_add(d, "sim.overlayfs", KILN_DOC_SIM, KILN_DOC_SKIP, NULL,
				    "overlayfs: not needed (the rootfs cache is root's only)");
	if (!mkdtemp(dir))
		return kiln_doc_add(d, "sim.overlayfs", KILN_DOC_SIM, KILN_DOC_WARN, NULL,
				    "overlayfs: not tried (mkdtemp in /tmp: %s)", strerror(errno));
	rc = kiln_doc_in_child(try_overlay, dir);
	rmdir(dir);
	if (rc < 0 && no_ns())
		return kiln_doc_add(d, "sim.overlayfs", KILN_DOC_SIM, KILN_DOC_SKIP, NULL,
				    "overlayfs: not tried (%s)", kiln_errmsg());
	if (rc < 0)
		return kiln_doc_add(d, "sim.overlayfs", KILN_DOC_SIM, KILN_DOC_WARN,
				    "modprobe overlay",
				    "overlayfs: %s: no rootfs cache, each run copies the EIF's "
				    "files", kiln_errmsg());
	return kiln_doc_add(d, "sim.overlayfs", KILN_DOC_SIM, KILN_DOC_OK, NULL,
			    "overlayfs: works (the rootfs cache)");
}
