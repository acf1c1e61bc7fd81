/* SPDX-License-Identifier: Apache-2.0 */
/* Launch an EIF on AWS Nitro Enclaves through /dev/nitro_enclaves, without nitro-cli. */
#ifndef KILN_NITRO_NITRO_H
#define KILN_NITRO_NITRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

/*
 * How a launch works (the kernel uapi linux/nitro_enclaves.h, as nitro-cli
 * does it in src/enclave_proc/resource_manager.rs):
 *
 *   1. check the request: memory a multiple of 2 MiB and >= 4 x EIF size;
 *   2. open /dev/nitro_enclaves, NE_CREATE_VM -> enclave fd + slot uid,
 *      close the device fd (the enclave fd lives on its own);
 *   3. NE_GET_IMAGE_LOAD_INFO {flags NE_EIF_IMAGE} -> memory_offset;
 *   4. mmap hugepages until the memory is covered: every size the host
 *      lists in sysfs (>= 2 MiB), largest first, then smallest first for the
 *      rest; sort the regions largest first and unmap those not needed
 *      (nitro-cli's ResourceAllocator::allocate);
 *   5. copy the whole EIF into the regions, taken back to back in the order
 *      they are handed to the driver, starting at memory_offset;
 *   6. NE_SET_USER_MEMORY_REGION {0, size, addr} per region;
 *   7. NE_ADD_VCPU per CPU (id 0: the driver picks from the CPU pool);
 *   8. listen on vsock port 9000, then NE_START_ENCLAVE {flags, cid} -> cid;
 *   9. accept the enclave's heartbeat (it sends 0xB7, we echo it) within
 *      nitro-cli's timeout: 90 s per started 6 GiB of EIF plus 90 s per
 *      started 100 GiB of enclave memory.
 * Any failure closes the enclave fd (which terminates the enclave) and unmaps
 * the memory. On success the enclave runs for as long as the caller keeps
 * the enclave fd and the memory, i.e. until kiln_nitro_terminate() or exit.
 *
 * Every system call goes through struct kiln_nitro_ops so that unit tests
 * drive this exact sequence against a fake device.
 */

#define KILN_NITRO_DEVICE "/dev/nitro_enclaves"
#define KILN_NITRO_HEARTBEAT_PORT 9000u
#define KILN_NITRO_HEARTBEAT_BYTE 0xB7
#define KILN_NITRO_CONSOLE_PORT_OFFSET 10000u
#define KILN_NITRO_EIF_MEM_RATIO 4u
#define KILN_NITRO_PAGE_2M (UINT64_C(2) << 20)
#define KILN_NITRO_PAGE_1G (UINT64_C(1) << 30)
/* nitro-cli's console connect timeout (src/utils.rs CONSOLE_CONNECT_TIMEOUT);
 * the kernel's default for AF_VSOCK is 2 s. */
#define KILN_NITRO_CONSOLE_CONNECT_TIMEOUT_MS 20000
/* More hugepage sizes than any architecture registers. */
#define KILN_NITRO_MAX_PAGE_SIZES 16

/*
 * The system underneath a launch. Each call returns 0 (or a count / fd where
 * said) or a negative errno; none records a message, the caller does.
 * ctx is passed back untouched (NULL for the real ops).
 */
struct kiln_nitro_ops {
	void *ctx;
	/* The sysfs root whose hugepage directories list the page sizes to try
	 * ("/sys"; NULL reads as "/sys"). */
	const char *sysfs;
	/* Open /dev/nitro_enclaves read-write. */
	int (*open_dev)(void *ctx, int *fd);
	/* ioctl(2): the non-negative result or -errno (NE_ERR_* included). */
	int (*ioctl)(void *ctx, int fd, unsigned long request, void *arg);
	/* Map one anonymous hugepage of page_size bytes (a power of two >= 2 MiB). */
	int (*map_hugepage)(void *ctx, uint64_t page_size, void **addr);
	int (*unmap)(void *ctx, void *addr, uint64_t len);
	int (*close)(void *ctx, int fd);
	/* Listening vsock stream socket bound to (cid, port). */
	int (*vsock_listen)(void *ctx, uint32_t cid, uint32_t port, int *fd);
	/* Wait up to timeout_ms for a connection: 0, -ETIMEDOUT or -errno. */
	int (*vsock_accept)(void *ctx, int lfd, int timeout_ms, int *fd, uint32_t *peer_cid);
	/* Connect with SO_VM_SOCKETS_CONNECT_TIMEOUT set to timeout_ms first. */
	int (*vsock_connect)(void *ctx, uint32_t cid, uint32_t port, int timeout_ms, int *fd);
	/* Read up to len bytes within timeout_ms: count (0 = EOF), -ETIMEDOUT, -errno. */
	ssize_t (*read)(void *ctx, int fd, void *buf, size_t len, int timeout_ms);
	ssize_t (*write)(void *ctx, int fd, const void *buf, size_t len);
	/* A monotonic clock in milliseconds. */
	uint64_t (*now_ms)(void *ctx);
};

extern const struct kiln_nitro_ops kiln_nitro_real_ops;

struct kiln_nitro_enclave;

struct kiln_nitro_launch {
	const char *eif_path;
	uint64_t memory_mib;	    /* multiple of 2, >= 4 x EIF size */
	unsigned cpus;		    /* vCPUs, >= 1 */
	const uint32_t *cpu_ids;    /* NULL: the driver picks; else cpus ids */
	bool debug;		    /* NE_ENCLAVE_DEBUG_MODE: console, zero PCRs */
	uint64_t cid;		    /* 0: the hypervisor picks */
	uint32_t heartbeat_timeout_ms; /* 0: nitro-cli's rule */
	/*
	 * Optional: called once NE_START_ENCLAVE has returned the CID, before
	 * the heartbeat wait (kiln run registers the enclave with kilnd here,
	 * so that kilnd knows the CID, and the memory it really got, before
	 * kiln-init connects). A negative return (message set) terminates the
	 * enclave and fails the launch.
	 */
	int (*started)(void *arg, const struct kiln_nitro_enclave *enc);
	void *started_arg;
};

struct kiln_nitro_region {
	void *addr;
	uint64_t size;
};

/* A running enclave and everything that keeps it alive. */
struct kiln_nitro_enclave {
	int enclave_fd;		/* -1 when not running */
	uint64_t cid;
	uint64_t slot_uid;
	uint64_t memory_mib;	/* what the regions add up to: the memory it has */
	unsigned ncpus;
	uint32_t *cpu_ids;	/* as chosen by the driver */
	struct kiln_nitro_region *regions;
	size_t nregions;
	const struct kiln_nitro_ops *ops;
};

/* 0 when /dev/nitro_enclaves can be opened read-write; else -errno and why. */
int kiln_nitro_available(void) KILN_MUST;

/*
 * Run req->eif_path as an enclave and wait until it has booted. On success
 * *out owns the enclave; on failure nothing is left behind and *out reads as
 * not running. Errors may be -NE_ERR_* (>= 256) straight from the driver.
 */
int kiln_nitro_launch(const struct kiln_nitro_ops *ops, const struct kiln_nitro_launch *req,
		      struct kiln_nitro_enclave *out) KILN_MUST;

/* Close the enclave fd (the driver stops the enclave) and free its memory.
 * Safe on a zeroed or already terminated enclave. */
int kiln_nitro_terminate(struct kiln_nitro_enclave *enc);

/* Connect to a debug-mode enclave's console: vsock CID 0, port cid + 10000,
 * waiting up to KILN_NITRO_CONSOLE_CONNECT_TIMEOUT_MS as nitro-cli does. */
int kiln_nitro_console_connect(const struct kiln_nitro_ops *ops, uint64_t cid, int *fd) KILN_MUST;

/* Copy a console connection to out until the enclave closes it (0) or an
 * error (-errno, message set); out is flushed after every read. */
int kiln_nitro_console_copy(int fd, FILE *out) KILN_MUST;

/*
 * The heartbeat half of a launch, on its own so that a test drives it over
 * any vsock (the guest lab's loopback, where the enclave is CID 1):
 * listen on vsock ANY:9000 (an error naming why: port in use, no AF_VSOCK),
 * then accept connections until one from cid arrives, read its 0xB7 and echo
 * it, within timeout_ms. A connection from another CID is closed and named in
 * the timeout's message. kiln_nitro_launch() applies its CID rule before.
 */
int kiln_nitro_heartbeat_listen(const struct kiln_nitro_ops *ops, int *fd) KILN_MUST;
int kiln_nitro_heartbeat_wait(const struct kiln_nitro_ops *ops, int lfd, uint64_t cid,
			      uint32_t timeout_ms) KILN_MUST;

/* Set SO_VM_SOCKETS_CONNECT_TIMEOUT (a struct timeval, level AF_VSOCK) on a
 * vsock socket: 0 or -errno (no message). The real vsock_connect's seam. */
int kiln_nitro_vsock_connect_timeout(int fd, int timeout_ms);

/*
 * The enclave CID rule of NE_START_ENCLAVE (drivers/virt/nitro_enclaves/
 * ne_misc_dev.c): 0 lets the hypervisor choose; 1 and 2 (VMADDR_CID_LOCAL,
 * VMADDR_CID_HOST) are well known, 3 is the parent VM's, U32_MAX is
 * VMADDR_CID_ANY and larger ones do not fit the vsock device. 0 or -EINVAL
 * with a message naming which.
 */
int kiln_nitro_check_cid(uint64_t cid) KILN_MUST;

/*
 * The hugepage sizes to try, largest first, into sizes[0..max): those the
 * kernel lists under SYSFS/kernel/mm/hugepages and
 * SYSFS/devices/system/node/nodeN/hugepages that the driver accepts (a
 * power of two >= 2 MiB); when sysfs lists none, every size nitro-cli tries.
 * Returns the count. sysfs NULL: "/sys".
 */
/* Whether enclave memory can come from hugepages of this many bytes. */
bool kiln_nitro_page_size_usable(uint64_t size);
size_t kiln_nitro_hugepage_sizes(const char *sysfs, uint64_t *sizes, size_t max);

/* --- run.c: kiln run --nitro, the process that keeps an enclave alive --- */

struct kiln_nitro_run {
	const char *eif_path;
	const char *name;	/* the kilnd name (checked again here) */
	const char *state_dir;	/* kilnd's; NULL: run without kilnd */
	uint64_t memory_mib;	/* 0: the EIF's default, else 4 x EIF size */
	unsigned cpus;		/* 0: the EIF's default, else 2 */
	uint64_t cid;		/* 0: the hypervisor picks */
	bool debug;
	/* -p specs ([HOSTIP:]HOSTPORT:PORT, net/portmap.h); none: the host ports
	 * of the EIF config's network.ingress, as the sim does. Need kilnd. */
	const char *const *ports;
	size_t n_ports;
	/* -v: volume name -> host directory, sent to kilnd as "volumes" (it
	 * serves them on vsock port 7003 by CID). Need kilnd. */
	const char *const *vol_names, *const *vol_hosts;
	const bool *vol_plain; /* -v ...:plain (NULL: none) */
	size_t n_volumes;
	/* Foreground: the app's stdout and stderr lines (from kilnd's log of
	 * the enclave) are written here; NULL: not shown. */
	FILE *out, *err;
	int report_fd;		/* >= 0 (-d): notices, then "ok ID\n" once booted
				 * or "error MSG\n"; closed after "ok" */
};

/*
 * Launch r->eif_path, register it with kilnd as mode "nitro" with its CID
 * and published ports (from the started hook: before the heartbeat), report
 * the heartbeat, follow the enclave's log in kilnd, and hold the enclave fd
 * and memory until the enclave ends (POLLHUP on the enclave fd). The first
 * SIGTERM/SIGINT/SIGHUP becomes a kilnd stop with that signal when
 * kiln-init's control channel is up (the app is signalled, as the sim
 * forwards it to PID 1); a second one, a signal with no control channel, or
 * kilnd's stop timeout (KILN_NITRO_KILL_SIGNAL) terminates the enclave at once.
 * Returns the app's exit code (128 + signal when killed) as kiln-init
 * reported it through kilnd; 128 + signal when terminated by one; 0 without
 * kilnd (unknown); or a negative errno with the message set (also when the
 * enclave ended without reporting a status).
 */
int kiln_nitro_run(const struct kiln_nitro_ops *ops, const struct kiln_nitro_run *r) KILN_MUST;

/* The signal kilnd sends the runtime when a stop times out (SIGRTMIN + 2). */
#define KILN_NITRO_KILL_SIGNAL (SIGRTMIN + 2)

/* nitro-cli's boot timeout: 90 s for every started 6 GiB of EIF plus 90 s
 * for every started 100 GiB of enclave memory (both in bytes). */
uint32_t kiln_nitro_heartbeat_timeout_ms(uint64_t eif_size, uint64_t memory);

/* A readable explanation (with the fix, where there is one) of an NE_ERR_*
 * code, or NULL for anything else. */
const char *kiln_nitro_strerror(int ne_err);

#endif
