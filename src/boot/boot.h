/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-bootstrap's steps as PID 1: the system side of AWS's bootstrap init. */
#ifndef KILN_BOOT_BOOT_H
#define KILN_BOOT_BOOT_H

#include <stddef.h>
#include <sys/types.h>

#include "boot/parse.h"
#include "util/err.h"

#define BOOT_HEARTBEAT_CID 3
#define BOOT_HEARTBEAT_PORT 9000
#define BOOT_HEARTBEAT_BYTE 0xB7
#define BOOT_HEARTBEAT_TIMEOUT_MS 20000
#define BOOT_DEFAULT_PATH "PATH=/sbin:/usr/sbin:/bin:/usr/bin"

/* One line "kiln-bootstrap: ..." on stderr, written with one write(2). */
void boot_log(const char *fmt, ...) KILN_PRINTF(1, 2);

/* early.c: before the switch to /rootfs. */
/* Mount devtmpfs on target (created if missing); EBUSY (already there) is fine. */
int boot_mount_devtmpfs(const char *target) KILN_MUST;
/* stdin, stdout and stderr on /dev/console. */
int boot_console(void) KILN_MUST;
/* The kernel command line, read from a proc mounted for the purpose (malloc'd). */
int boot_read_cmdline(char **buf, size_t *len) KILN_MUST;
/* finit_module() the NSM driver at path and unlink it; absent is fine. */
int boot_load_nsm(const char *path) KILN_MUST;
/* Read a whole file of at most max bytes (malloc'd, not NUL-terminated). */
int boot_read_file(const char *path, size_t max, char **buf, size_t *len) KILN_MUST;

/* heartbeat.c: connect to vsock cid:port, send the byte, expect it back. */
int boot_heartbeat(unsigned int cid, unsigned int port, int timeout_ms) KILN_MUST;

/* rootfs.c: bind-mount dir on itself, move it over /, chroot into it. */
int boot_switch_root(const char *dir) KILN_MUST;
/* In the new root: /dev, /proc, /dev symlinks, /run, /tmp, /dev/shm, /dev/pts, /sys. */
int boot_mount_api_fs(void) KILN_MUST;
/* tmpfs on /sys/fs/cgroup and one v1 hierarchy per enabled controller. */
int boot_mount_cgroups(void) KILN_MUST;

/* launch.c: fork and exec argv with env (PATH looked up in env's PATH). */
int boot_launch(char *const argv[], const struct boot_lines *env, pid_t *pid) KILN_MUST;
/* Reap every child until pid exits; its wait status in *status. */
int boot_reap_until(pid_t pid, int *status) KILN_MUST;

#endif
