/* SPDX-License-Identifier: Apache-2.0 */
/* The sim's first process runs kiln-init's code itself when the EIF carries this kiln's kiln-init. */
/*
 * Why. Every glibc program start on a VM spends ~0.9 ms in CPUID exits (CPU
 * features and cache sizes, ~100 of them at ~8 us each here, before main),
 * and exec'ing /.kiln/kiln-init paid that plus the exec: about a fifth of
 * `kiln run --sim`'s time to the app's first line. The enclave's first
 * process is a copy of the monitor, a glibc program that paid it already.
 *
 * When. Only when the code would be the same: the sha256 of the EIF's
 * /.kiln/kiln-init, computed when its rootfs entered the cache, equals the
 * one of the kiln-init built with this kiln (compiled in by the Makefile),
 * and the EIF's cmd runs it. Anything else, and KILN_SIM_INIT=exec, execs
 * the EIF's file as before.
 *
 * How. What exec would have done for kiln-init is done by hand: fds above
 * 2 closed, caught signals back to default (ignored ones stay ignored, the
 * mask is the child's already), the environment replaced by the EIF's,
 * stdio buffers inherited from the monitor dropped, the name set, and the
 * monitor's argument and environment strings zeroed, so /proc/1/cmdline
 * and /proc/1/environ show no host values. /proc/1/exe still names kiln.
 */
#include "sim/sim.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "eif/eif.h"
#include "init/main.h"
#include "util/cleanup.h"

#define INIT_PATH "/.kiln/kiln-init"
#define INIT_IN_TREE "rootfs/.kiln/kiln-init"
#define HEX_LEN 64

extern char **environ;

/* sha256 of fd's bytes as lowercase hex. */
static int hash_fd(int fd, char hex[HEX_LEN + 1])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32], buf[65536];
	unsigned int mdlen = 0;
	ssize_t n;
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);

	while (ok && (n = read(fd, buf, sizeof(buf))) > 0)
		ok = EVP_DigestUpdate(ctx, buf, (size_t)n);
	ok = ok && n == 0 && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == sizeof(md);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -EIO;
	kiln_hex(md, sizeof(md), hex);
	return 0;
}

void kiln_sim_init_record(int tree)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS };
	_cleanup_close_ int in = -1, out = -1;
	char hex[HEX_LEN + 2];

	/* Whatever the ramdisks put under this name is not ours to trust. */
	if (unlinkat(tree, KILN_SIM_INIT_DIGEST, 0) < 0 && errno != ENOENT)
		return;
	in = (int)syscall(SYS_openat2, tree, INIT_IN_TREE, &how, sizeof(how));
	if (in < 0 || hash_fd(in, hex) < 0)
		return;
	hex[HEX_LEN] = '\n';
	out = openat(tree, KILN_SIM_INIT_DIGEST, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		     O_CLOEXEC, 0444);
	if (out >= 0 && write(out, hex, HEX_LEN + 1) != HEX_LEN + 1)
		unlinkat(tree, KILN_SIM_INIT_DIGEST, 0);
}

bool kiln_sim_init_inproc_ok(int top, const struct kiln_sim_lines *cmd)
{
	const char *mode = getenv("KILN_SIM_INIT");
	_cleanup_close_ int fd = -1;
	char hex[HEX_LEN + 2];

	if ((mode && !strcmp(mode, "exec")) || strlen(kiln_sim_builtin_init_sha256) != HEX_LEN ||
	    strcmp(cmd->v[0], INIT_PATH))
		return false;
	fd = openat(top, KILN_SIM_INIT_DIGEST, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || read(fd, hex, sizeof(hex)) != HEX_LEN + 1 || hex[HEX_LEN] != '\n')
		return false;
	return !memcmp(hex, kiln_sim_builtin_init_sha256, HEX_LEN);
}

int kiln_sim_stat_args(const char *stat, unsigned long *start, unsigned long *end)
{
	const char *p = strrchr(stat, ')');
	unsigned long v[4];
	int field = 2;

	/* Fields after "(comm)" are space separated; arg_start is the 48th. */
	while (p && field < 48) {
		p = strchr(p + 1, ' ');
		field++;
	}
	if (!p || sscanf(p, " %lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3]) != 4 ||
	    v[0] >= v[1] || v[1] > v[2] || v[2] > v[3])
		return -EINVAL;
	*start = v[0];
	*end = v[3]; /* the environment strings follow the arguments */
	return 0;
}

/* Zero the monitor's argv and environ strings, then name ourselves in them. */
static void rewrite_args(void)
{
	char stat[1024];
	unsigned long start, end;
	_cleanup_close_ int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, stat, sizeof(stat) - 1);

	if (n <= 0)
		return;
	stat[n] = '\0';
	if (kiln_sim_stat_args(stat, &start, &end) < 0)
		return;
	memset((void *)start, 0, end - start);
	if (end - start > sizeof(INIT_PATH))
		memcpy((void *)start, INIT_PATH, sizeof(INIT_PATH));
}

_Noreturn void kiln_sim_init_inproc_run(struct kiln_sim_lines *cmd, struct kiln_sim_lines *env)
{
	struct sigaction sa;

	close_range(3, ~0U, 0);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_IGN &&
		    sa.sa_handler != SIG_DFL)
			signal(sig, SIG_DFL);
	__fpurge(stdin);
	__fpurge(stdout);
	__fpurge(stderr);
	rewrite_args();
	prctl(PR_SET_NAME, "kiln-init");
	environ = env->v;
	exit(kiln_init_main((int)cmd->n, cmd->v));
}
