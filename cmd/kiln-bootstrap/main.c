/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-bootstrap: PID 1 of an enclave, doing what AWS's bootstrap init does. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "boot/boot.h"

/*
 * The sequence (what AWS's enclave init does; docs/architecture.md): /dev
 * and the console, the NSM driver, the heartbeat, /env and /cmd, the switch
 * to /rootfs, the API filesystems, then the command, reaped until it exits, then a reboot (which ends the
 * enclave; QEMU with -no-reboot exits). Any failure is fatal the same way:
 * logged, then reboot. The one switch is kiln.heartbeat=0 on the kernel
 * command line, for QEMU and sim where no parent listens on vsock.
 */

static _Noreturn void finish(void)
{
	sync();
	tcdrain(STDOUT_FILENO); /* let the UART send the last lines */
	reboot(RB_AUTOBOOT);
	boot_log("reboot: %s", strerror(errno));
	_exit(1); /* PID 1 exiting panics the kernel, which reboots after panic=N */
}

/* Log the recorded error (after step, when given) and end the enclave. */
static _Noreturn void fatal(const char *step)
{
	if (step)
		boot_log("fatal: %s: %s", step, kiln_errmsg());
	else
		boot_log("fatal: %s", kiln_errmsg());
	finish();
}

static void must(int rc, const char *step)
{
	if (rc < 0)
		fatal(step);
}

/*
 * kiln.heartbeat=0 makes a failed heartbeat a warning; kiln.parent_cid=N
 * (default 3, as AWS's init hardcodes) is where it goes: a guest with only
 * vsock_loopback has its parent at CID 1 (the guest lab). The cmdline is
 * part of the EIF, measured into PCR0, so the parent cannot change either.
 */
static bool heartbeat_required(uint32_t *cid)
{
	char *cmdline = NULL;
	size_t len = 0;
	bool on = true;

	*cid = BOOT_HEARTBEAT_CID;
	if (boot_read_cmdline(&cmdline, &len) < 0 ||
	    boot_cmdline_bool(cmdline, len, "kiln.heartbeat", true, &on) < 0) {
		boot_log("warning: %s; heartbeat stays required", kiln_errmsg());
		on = true;
	}
	if (cmdline && boot_cmdline_u32(cmdline, len, "kiln.parent_cid", BOOT_HEARTBEAT_CID, 1,
					UINT32_MAX - 1, cid) < 0) {
		boot_log("warning: %s; heartbeat to CID %u", kiln_errmsg(), BOOT_HEARTBEAT_CID);
		*cid = BOOT_HEARTBEAT_CID;
	}
	free(cmdline);
	return on;
}

static void heartbeat(void)
{
	uint32_t cid;
	bool required = heartbeat_required(&cid);

	if (boot_heartbeat(cid, BOOT_HEARTBEAT_PORT, BOOT_HEARTBEAT_TIMEOUT_MS) == 0)
		return;
	if (required)
		fatal(NULL); /* AWS's init dies here too; nitro-cli reports it */
	boot_log("%s; continuing (kiln.heartbeat=0)", kiln_errmsg());
}

/* Read and parse /env or /cmd, then remove it as AWS's init does. */
static void read_lines(const char *path, bool is_cmd, struct boot_lines *out)
{
	const char *step = is_cmd ? "command" : "environment";
	char *buf = NULL;
	size_t len = 0;
	int rc = boot_read_file(path, BOOT_FILE_MAX, &buf, &len);

	if (rc == -ENOENT && !is_cmd) {
		boot_log("warning: no %s; the command gets PATH only", path);
		must(boot_parse_env("", 0, out), step);
		return;
	}
	must(rc, step);
	rc = is_cmd ? boot_parse_cmd(buf, len, out) : boot_parse_env(buf, len, out);
	free(buf);
	if (rc < 0) {
		char label[64];

		snprintf(label, sizeof(label), "%s: %s", step, path);
		fatal(label);
	}
	if (unlink(path) < 0)
		boot_log("warning: unlink %s: %s", path, strerror(errno));
}

static void report_exit(const char *cmd, int status)
{
	if (WIFEXITED(status))
		boot_log("%s exited with status %d", cmd, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		boot_log("%s killed by signal %d", cmd, WTERMSIG(status));
	else
		boot_log("%s ended with wait status 0x%x", cmd, status);
}

int main(void)
{
	struct boot_lines env, cmd;
	sigset_t all;
	pid_t pid;
	int status;

	/* PID 1 gets no default signal actions; wait() still sees SIGCHLD. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);

	must(boot_mount_devtmpfs("/dev"), "/dev");
	must(boot_console(), "console");
	must(boot_load_nsm("/nsm.ko"), "nsm driver");
	heartbeat();

	read_lines("/env", false, &env);
	read_lines("/cmd", true, &cmd);
	must(boot_env_default(&env, BOOT_DEFAULT_PATH), "environment");

	must(boot_switch_root("/rootfs"), "switch to /rootfs");
	must(boot_mount_api_fs(), "mounts");
	must(boot_mount_cgroups(), "cgroups");

	must(boot_launch(cmd.v, &env, &pid), "launch");
	must(boot_reap_until(pid, &status), "reap");
	report_exit(cmd.v[0], status);
	finish();
}
