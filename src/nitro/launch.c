/* SPDX-License-Identifier: Apache-2.0 */
/* The enclave launch sequence on /dev/nitro_enclaves: memory, vCPUs, start, boot heartbeat. */
#include "nitro/nitro.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/nitro_enclaves.h>
#include <linux/vm_sockets.h>

#include "util/cleanup.h"

#define MIB (UINT64_C(1) << 20)
/*
 * nitro-cli's boot timeout (src/enclave_proc/resource_manager.rs,
 * calculate_necessary_timeout(eif_size, allocated_memory), since 1.3.2 /
 * pull request #633): TIMEOUT_MINUTE_MS (eif_loader: 90 s) for each started
 * 6 GiB of EIF, plus as much again for each started 100 GiB of the memory
 * the enclave was given.
 */
#define HEARTBEAT_STEP_MS UINT64_C(90000)
#define HEARTBEAT_STEP_EIF (UINT64_C(6) << 30)
#define HEARTBEAT_STEP_MEM (UINT64_C(100) << 30)
#define ALLOCATOR_HINT                                                                      \
	"reserve them in /etc/nitro_enclaves/allocator.yaml (memory_mib) and restart "      \
	"nitro-enclaves-allocator, or raise nr_hugepages in "                               \
	"/sys/kernel/mm/hugepages/hugepages-<size>kB/"

static int dev_open_err(int rc)
{
	switch (-rc) {
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return kiln_err(-rc, "no " KILN_NITRO_DEVICE ": this machine is not a Nitro "
				     "Enclaves parent instance (use an EC2 instance launched with "
				     "enclave support and load the nitro_enclaves driver)");
	case EACCES:
	case EPERM:
		return kiln_err(-rc, KILN_NITRO_DEVICE ": permission denied (run as root or "
				     "join the group that owns the device, usually 'ne')");
	default:
		return kiln_err(-rc, KILN_NITRO_DEVICE ": %s", strerror(-rc));
	}
}

/* A failed ioctl: what was asked, then the NE_ERR_* explanation or strerror. */
KILN_PRINTF(2, 3) static int ioctl_err(int rc, const char *fmt, ...)
{
	const char *ne = kiln_nitro_strerror(-rc);
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return kiln_err(-rc, "%s: %s", what, ne ? ne : strerror(-rc));
}

/* Started steps of size step in n: ceil(n / step), at least 1. */
static uint64_t steps(uint64_t n, uint64_t step)
{
	return n ? 1 + (n - 1) / step : 1;
}

uint32_t kiln_nitro_heartbeat_timeout_ms(uint64_t eif_size, uint64_t memory)
{
	uint64_t n = steps(eif_size, HEARTBEAT_STEP_EIF) + steps(memory, HEARTBEAT_STEP_MEM);

	/* nitro-cli saturates at i32::MAX: so does poll()'s timeout here */
	return n > INT_MAX / HEARTBEAT_STEP_MS ? INT_MAX : (uint32_t)(n * HEARTBEAT_STEP_MS);
}

int kiln_nitro_check_cid(uint64_t cid)
{
	if (cid == 0)
		return 0;
	if (cid <= VMADDR_CID_HOST)
		return kiln_err(EINVAL, "enclave CID %" PRIu64 " is a well-known vsock CID (1 local, "
				"2 host): use 4 .. %u, or 0 to let the hypervisor choose", cid,
				VMADDR_CID_ANY - 1);
	if (cid == 3)
		return kiln_err(EINVAL, "enclave CID 3 is the parent instance's: use 4 .. %u, or 0 "
				"to let the hypervisor choose", VMADDR_CID_ANY - 1);
	if (cid == VMADDR_CID_ANY)
		return kiln_err(EINVAL, "enclave CID %" PRIu64 " is VMADDR_CID_ANY: use 4 .. %u, "
				"or 0 to let the hypervisor choose", cid, VMADDR_CID_ANY - 1);
	if (cid > VMADDR_CID_ANY)
		return kiln_err(EINVAL, "enclave CID %" PRIu64 " does not fit 32 bits: use 4 .. %u, "
				"or 0 to let the hypervisor choose", cid, VMADDR_CID_ANY - 1);
	return 0;
}

static int open_eif(const char *path, int *fd, uint64_t *size)
{
	_cleanup_close_ int f = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char magic[4];

	if (f < 0 || fstat(f, &st) < 0)
		return kiln_err(errno, "EIF %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return kiln_err(EINVAL, "EIF %s: not a regular file", path);
	if (pread(f, magic, sizeof(magic), 0) != (ssize_t)sizeof(magic) ||
	    memcmp(magic, ".eif", sizeof(magic)) != 0)
		return kiln_err(EINVAL, "EIF %s: not an enclave image file (no .eif magic)", path);
	*size = (uint64_t)st.st_size;
	*fd = KILN_STEAL_FD(f);
	return 0;
}

static int check_request(const struct kiln_nitro_launch *req, uint64_t eif_size)
{
	/* 4 x size in MiB, rounded up to whole 2 MiB hugepages. */
	uint64_t need = (eif_size + MIB / KILN_NITRO_EIF_MEM_RATIO - 1) / (MIB / KILN_NITRO_EIF_MEM_RATIO);

	need += need & 1;
	if (req->memory_mib == 0 || req->memory_mib % 2)
		return kiln_err(EINVAL, "enclave memory %" PRIu64 " MiB must be a non-zero "
				"multiple of 2 MiB (the hugepage size)", req->memory_mib);
	if (req->memory_mib > (SIZE_MAX >> 21))
		return kiln_err(EINVAL, "enclave memory %" PRIu64 " MiB is too large",
				req->memory_mib);
	if (req->memory_mib < need)
		return kiln_err(EINVAL, "EIF memory too small: %" PRIu64 " MiB requested, need >= "
				"%u x EIF size = %" PRIu64 " MiB", req->memory_mib,
				KILN_NITRO_EIF_MEM_RATIO, need);
	if (req->cpus == 0)
		return kiln_err(EINVAL, "an enclave needs at least one vCPU");
	return kiln_nitro_check_cid(req->cid);
}

/* Everything held so far goes: the enclave fd first (the driver lets go of
 * the pages), then the memory. No message is recorded. */
static int release(struct kiln_nitro_enclave *enc)
{
	const struct kiln_nitro_ops *ops = enc->ops;
	int rc = 0;

	if (ops && enc->enclave_fd >= 0)
		rc = ops->close(ops->ctx, enc->enclave_fd);
	for (size_t i = 0; ops && i < enc->nregions; i++)
		ops->unmap(ops->ctx, enc->regions[i].addr, enc->regions[i].size);
	free(enc->regions);
	free(enc->cpu_ids);
	*enc = (struct kiln_nitro_enclave){ .enclave_fd = -1 };
	return rc;
}

static int create_vm(struct kiln_nitro_enclave *enc)
{
	const struct kiln_nitro_ops *ops = enc->ops;
	int dev = -1, rc;

	rc = ops->open_dev(ops->ctx, &dev);
	if (rc < 0)
		return dev_open_err(rc);
	rc = ops->ioctl(ops->ctx, dev, NE_CREATE_VM, &enc->slot_uid);
	ops->close(ops->ctx, dev);
	if (rc < 0)
		return ioctl_err(rc, "NE_CREATE_VM");
	enc->enclave_fd = rc;
	return 0;
}

static int image_offset(struct kiln_nitro_enclave *enc, uint64_t mem, uint64_t eif_size,
			uint64_t *offset)
{
	const struct kiln_nitro_ops *ops = enc->ops;
	struct ne_image_load_info info = { .flags = NE_EIF_IMAGE };
	int rc;

	rc = ops->ioctl(ops->ctx, enc->enclave_fd, NE_GET_IMAGE_LOAD_INFO, &info);
	if (rc < 0)
		return ioctl_err(rc, "NE_GET_IMAGE_LOAD_INFO");
	if (info.memory_offset > mem || eif_size > mem - info.memory_offset)
		return kiln_err(ENOSPC, "EIF does not fit: load offset %llu + EIF size %" PRIu64
				" bytes > enclave memory %" PRIu64 " MiB",
				(unsigned long long)info.memory_offset, eif_size, mem / MIB);
	*offset = info.memory_offset;
	return 0;
}

static int map_region(struct kiln_nitro_enclave *enc, uint64_t page)
{
	const struct kiln_nitro_ops *ops = enc->ops;
	void *p;
	int rc = ops->map_hugepage(ops->ctx, page, &p);

	if (rc < 0)
		return rc;
	enc->regions[enc->nregions++] = (struct kiln_nitro_region){ .addr = p, .size = page };
	return 0;
}

/* Largest regions first: the order nitro-cli fills and hands them over in. */
static void sort_regions(struct kiln_nitro_region *r, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct kiln_nitro_region x = r[i];
		size_t j = i;

		for (; j > 0 && r[j - 1].size < x.size; j--)
			r[j] = r[j - 1];
		r[j] = x;
	}
}

/* "1G, 32M, 2M": the sizes tried, for the message when they fall short. */
static void format_sizes(const uint64_t *sizes, size_t n, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++) {
		uint64_t m = sizes[i] / MIB;
		int k = m % 1024 ? snprintf(buf + used, len - used, "%s%" PRIu64 "M", i ? ", " : "", m)
				 : snprintf(buf + used, len - used, "%s%" PRIu64 "G", i ? ", " : "",
					    m / 1024);

		used += k > 0 ? (size_t)k : 0;
	}
}

/*
 * Map pages of the given sizes (largest first) until have >= want, as
 * nitro-cli's ResourceAllocator::allocate (src/enclave_proc/
 * resource_manager.rs) does: first each size, largest first, for as long as
 * a page still fits in what is missing; then, when something is missing,
 * each size smallest first until it is covered, overshooting by less than
 * one page. A size whose mmap fails is left for the next. *last: the last
 * mmap error.
 */
static void map_pages(struct kiln_nitro_enclave *enc, const uint64_t *sizes, size_t n,
		      uint64_t want, uint64_t *have, int *last)
{
	for (size_t i = 0; i < n; i++)
		while (want - *have >= sizes[i] && (*last = map_region(enc, sizes[i])) == 0)
			*have += sizes[i];
	for (size_t i = n; i-- > 0 && *have < want;)
		while (*have < want && (*last = map_region(enc, sizes[i])) == 0)
			*have += sizes[i];
}

/*
 * After the second pass a large page may cover what smaller ones already
 * did (512 MiB asked, ten 2 MiB pages then one 1 GiB page: 1044 MiB in 11
 * regions). As nitro-cli: sort the regions largest first, keep the fewest
 * that cover want, unmap the rest. Returns what is kept.
 */
static uint64_t trim_regions(struct kiln_nitro_enclave *enc, uint64_t want)
{
	const struct kiln_nitro_ops *ops = enc->ops;
	uint64_t kept = 0;
	size_t keep = 0;

	sort_regions(enc->regions, enc->nregions);
	while (keep < enc->nregions && kept < want)
		kept += enc->regions[keep++].size;
	for (size_t i = keep; i < enc->nregions; i++)
		ops->unmap(ops->ctx, enc->regions[i].addr, enc->regions[i].size);
	enc->nregions = keep;
	return kept;
}

/*
 * Cover want bytes with hugepages of every size the host offers (sysfs),
 * the enclave getting what the kept regions add up to. Every region is
 * >= 2 MiB and want a multiple of it, so at most want / 2 MiB regions are
 * mapped before want is covered, and one more covers it.
 */
static int alloc_memory(struct kiln_nitro_enclave *enc, uint64_t want)
{
	const struct kiln_nitro_ops *ops = enc->ops;
	uint64_t sizes[KILN_NITRO_MAX_PAGE_SIZES], have = 0;
	size_t n = kiln_nitro_hugepage_sizes(ops->sysfs, sizes, KILN_NITRO_MAX_PAGE_SIZES);
	char tried[128];
	int last = -ENOMEM;

	enc->regions = calloc(want / KILN_NITRO_PAGE_2M + 1, sizeof(*enc->regions));
	if (!enc->regions)
		return kiln_err(ENOMEM, "out of memory");
	map_pages(enc, sizes, n, want, &have, &last);
	if (have < want) {
		format_sizes(sizes, n, tried, sizeof(tried));
		return kiln_err(ENOMEM, "not enough hugepages: got %" PRIu64 " of %" PRIu64
				" MiB in pages of %s (%s); " ALLOCATOR_HINT, have / MIB, want / MIB,
				tried, strerror(-last));
	}
	enc->memory_mib = trim_regions(enc, want) / MIB;
	return 0;
}

static int read_full(int fd, uint8_t *dst, uint64_t len, uint64_t pos)
{
	while (len > 0) {
		ssize_t n = pread(fd, dst, len > (1u << 30) ? (1u << 30) : len, (off_t)pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_err(errno, "reading the EIF: %s", strerror(errno));
		if (n == 0)
			return kiln_err(EIO, "the EIF shrank while it was being loaded");
		dst += n;
		len -= (uint64_t)n;
		pos += (uint64_t)n;
	}
	return 0;
}

/* Copy the whole EIF to [offset, offset + size) of the enclave memory, the
 * regions taken back to back; image_offset() checked that it fits. */
static int load_eif(const struct kiln_nitro_enclave *enc, int fd, uint64_t size, uint64_t offset)
{
	uint64_t base = 0;

	for (size_t i = 0; i < enc->nregions; base += enc->regions[i++].size) {
		uint64_t lo = offset > base ? offset : base;
		uint64_t end = base + enc->regions[i].size;
		uint64_t hi = offset + size < end ? offset + size : end;
		int rc;

		if (lo >= hi)
			continue;
		rc = read_full(fd, (uint8_t *)enc->regions[i].addr + (lo - base), hi - lo,
			       lo - offset);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int set_regions(const struct kiln_nitro_enclave *enc)
{
	const struct kiln_nitro_ops *ops = enc->ops;

	for (size_t i = 0; i < enc->nregions; i++) {
		struct ne_user_memory_region mr = {
			.flags = NE_DEFAULT_MEMORY_REGION,
			.memory_size = enc->regions[i].size,
			.userspace_addr = (uintptr_t)enc->regions[i].addr,
		};
		int rc = ops->ioctl(ops->ctx, enc->enclave_fd, NE_SET_USER_MEMORY_REGION, &mr);

		if (rc < 0)
			return ioctl_err(rc, "NE_SET_USER_MEMORY_REGION (region %zu of %zu, %" PRIu64
					 " MiB)", i + 1, enc->nregions, enc->regions[i].size / MIB);
	}
	return 0;
}

static int add_vcpus(struct kiln_nitro_enclave *enc, const struct kiln_nitro_launch *req)
{
	const struct kiln_nitro_ops *ops = enc->ops;

	enc->cpu_ids = calloc(req->cpus, sizeof(*enc->cpu_ids));
	if (!enc->cpu_ids)
		return kiln_err(ENOMEM, "out of memory");
	for (unsigned i = 0; i < req->cpus; i++) {
		uint32_t id = req->cpu_ids ? req->cpu_ids[i] : 0;
		int rc = ops->ioctl(ops->ctx, enc->enclave_fd, NE_ADD_VCPU, &id);

		if (rc < 0 && req->cpu_ids)
			return ioctl_err(rc, "NE_ADD_VCPU (CPU %u)", req->cpu_ids[i]);
		if (rc < 0)
			return ioctl_err(rc, "NE_ADD_VCPU (vCPU %u of %u)", i + 1, req->cpus);
		enc->cpu_ids[enc->ncpus++] = id;
	}
	return 0;
}

int kiln_nitro_heartbeat_listen(const struct kiln_nitro_ops *ops, int *fd)
{
	int rc = ops->vsock_listen(ops->ctx, VMADDR_CID_ANY, KILN_NITRO_HEARTBEAT_PORT, fd);

	switch (-rc) {
	case 0:
		return 0;
	case EADDRINUSE:
		return kiln_err(EADDRINUSE, "vsock port %u is in use: another enclave is being "
				"launched (nitro-cli or kiln); retry once it has booted",
				KILN_NITRO_HEARTBEAT_PORT);
	case EAFNOSUPPORT:
		return kiln_err(EAFNOSUPPORT, "no AF_VSOCK on this kernel: load the vsock modules");
	default:
		return kiln_err(-rc, "listening on vsock port %u: %s", KILN_NITRO_HEARTBEAT_PORT,
				strerror(-rc));
	}
}

static int start(struct kiln_nitro_enclave *enc, const struct kiln_nitro_launch *req)
{
	const struct kiln_nitro_ops *ops = enc->ops;
	struct ne_enclave_start_info si = {
		.flags = req->debug ? NE_ENCLAVE_DEBUG_MODE : NE_ENCLAVE_PRODUCTION_MODE,
		.enclave_cid = req->cid,
	};
	int rc = ops->ioctl(ops->ctx, enc->enclave_fd, NE_START_ENCLAVE, &si);

	if (rc < 0)
		return ioctl_err(rc, "NE_START_ENCLAVE");
	if (si.enclave_cid <= 3 || si.enclave_cid >= VMADDR_CID_ANY)
		return kiln_err(EPROTO, "NE_START_ENCLAVE returned an unusable CID %llu",
				(unsigned long long)si.enclave_cid);
	enc->cid = si.enclave_cid;
	return 0;
}

static int left_ms(const struct kiln_nitro_ops *ops, uint64_t deadline)
{
	uint64_t now = ops->now_ms(ops->ctx);

	if (now >= deadline)
		return 0;
	return deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
}

/* The enclave's init sends 0xB7 and waits for it back. */
static int echo_heartbeat(const struct kiln_nitro_ops *ops, int fd, uint64_t deadline)
{
	uint8_t b = 0;
	ssize_t n = ops->read(ops->ctx, fd, &b, 1, left_ms(ops, deadline));

	if (n == -ETIMEDOUT)
		return kiln_err(ETIMEDOUT, "the enclave connected but sent no heartbeat byte in time");
	if (n < 0)
		return kiln_err((int)-n, "reading the heartbeat: %s", strerror((int)-n));
	if (n == 0)
		return kiln_err(EPROTO, "the enclave closed the heartbeat connection without a byte");
	if (b != KILN_NITRO_HEARTBEAT_BYTE)
		return kiln_err(EPROTO, "heartbeat byte 0x%02x, want 0x%02x (does the EIF boot "
				"with a Nitro init?)", b, KILN_NITRO_HEARTBEAT_BYTE);
	n = ops->write(ops->ctx, fd, &b, 1);
	if (n != 1)
		return kiln_err(n < 0 ? (int)-n : EIO, "echoing the heartbeat: %s",
				strerror(n < 0 ? (int)-n : EIO));
	return 0;
}

/*
 * Accept connections on the heartbeat port until the enclave's own arrives
 * or the deadline passes. A connection from another CID (a stray enclave) is
 * closed and remembered for the timeout message.
 */
int kiln_nitro_heartbeat_wait(const struct kiln_nitro_ops *ops, int lfd, uint64_t cid,
			       uint32_t timeout_ms)
{
	uint64_t deadline = ops->now_ms(ops->ctx) + timeout_ms;
	char stray[96] = "";

	for (;;) {
		uint32_t peer = 0;
		int fd = -1, rc;

		rc = ops->vsock_accept(ops->ctx, lfd, left_ms(ops, deadline), &fd, &peer);
		if (rc == -EINTR || rc == -EAGAIN) /* the pending connection went away */
			continue;
		if (rc == -ETIMEDOUT)
			return kiln_err(ETIMEDOUT, "no boot heartbeat on vsock port %u within %.1f s%s "
					"(run with --debug and read the console)",
					KILN_NITRO_HEARTBEAT_PORT, timeout_ms / 1000.0, stray);
		if (rc < 0)
			return kiln_err(-rc, "accepting the heartbeat: %s", strerror(-rc));
		if (peer == cid) {
			rc = echo_heartbeat(ops, fd, deadline);
			ops->close(ops->ctx, fd);
			return rc;
		}
		ops->close(ops->ctx, fd);
		snprintf(stray, sizeof(stray), "; ignored a connection from CID %u, expected CID %"
			 PRIu64, peer, cid);
	}
}

int kiln_nitro_launch(const struct kiln_nitro_ops *ops, const struct kiln_nitro_launch *req,
		      struct kiln_nitro_enclave *out)
{
	struct kiln_nitro_enclave enc = { .enclave_fd = -1, .ops = ops };
	_cleanup_close_ int eif = -1;
	uint64_t eif_size = 0, offset = 0, mem;
	int lfd = -1, rc;

	*out = (struct kiln_nitro_enclave){ .enclave_fd = -1 };
	rc = open_eif(req->eif_path, &eif, &eif_size);
	if (rc < 0)
		return rc;
	rc = check_request(req, eif_size);
	if (rc < 0)
		return rc;
	mem = req->memory_mib * MIB;
	rc = create_vm(&enc);
	if (rc == 0)
		rc = image_offset(&enc, mem, eif_size, &offset);
	if (rc == 0)
		rc = alloc_memory(&enc, mem);
	if (rc == 0)
		rc = load_eif(&enc, eif, eif_size, offset);
	if (rc == 0)
		rc = set_regions(&enc);
	if (rc == 0)
		rc = add_vcpus(&enc, req);
	if (rc == 0)
		rc = kiln_nitro_heartbeat_listen(ops, &lfd);
	if (rc == 0)
		rc = start(&enc, req);
	if (rc == 0 && req->started) {
		rc = req->started(req->started_arg, &enc);
		if (rc < 0)
			kiln_err_wrap(rc, "enclave CID %" PRIu64 " was terminated", enc.cid);
	}
	if (rc == 0) {
		uint32_t t = req->heartbeat_timeout_ms ? req->heartbeat_timeout_ms
						       : kiln_nitro_heartbeat_timeout_ms(
							 eif_size, enc.memory_mib * MIB);

		rc = kiln_nitro_heartbeat_wait(ops, lfd, enc.cid, t);
		if (rc < 0)
			kiln_err_wrap(rc, "enclave CID %" PRIu64 " did not boot and was terminated",
				      enc.cid);
	}
	if (lfd >= 0)
		ops->close(ops->ctx, lfd);
	if (rc < 0) {
		release(&enc);
		return rc;
	}
	*out = enc;
	return 0;
}

int kiln_nitro_terminate(struct kiln_nitro_enclave *enc)
{
	int rc = release(enc);

	if (rc < 0)
		return kiln_err(-rc, "closing the enclave fd: %s", strerror(-rc));
	return 0;
}

int kiln_nitro_available(void)
{
	int fd = -1;
	int rc = kiln_nitro_real_ops.open_dev(NULL, &fd);

	if (rc < 0)
		return dev_open_err(rc);
	close(fd);
	return 0;
}
