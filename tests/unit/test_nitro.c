/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the Nitro launch sequence, driven against a fake /dev/nitro_enclaves. */
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/nitro_enclaves.h>
#include <linux/vm_sockets.h>

#include "nitro/nitro.h"
#include "t.h"

#define MIB (UINT64_C(1) << 20)
/* The last recorded message contains s. */
#define CHECK_MSG(s) CHECK(strstr(kiln_errmsg(), (s)) != NULL)

/*
 * The fake device. It records every call with its arguments as they arrive,
 * behaves like the driver (fds, slot uid, load offset, vCPU ids, CID), keeps
 * the memory it hands out in ordinary anonymous mappings, and can fail the
 * nth call of a kind with a chosen errno. Fds and mappings are counted so
 * that a test can assert nothing leaked.
 */
enum kind { OPEN, IOCTL, MAP, UNMAP, CLOSE, LISTEN, ACCEPT, CONNECT, READ, WRITE };

struct call {
	enum kind kind;
	int fd;
	unsigned long req;  /* ioctl request, or page size for MAP */
	uint64_t a, b, c;   /* arguments on entry (see each op) */
};

struct conn {
	uint32_t cid;
	int byte;	    /* -1: EOF, -2: silent until the read times out */
};

#define FAKE_FD0 1000
#define MAX_CALLS 512
#define MAX_FDS 64
#define MAX_MAPS 64

struct fake {
	struct call calls[MAX_CALLS];
	size_t ncalls;
	/* failure injection: the nth call matching (kind, req) returns -err */
	enum kind fail_kind;
	unsigned long fail_req;
	unsigned fail_nth, fail_seen;
	int fail_err;
	/* driver behaviour */
	uint64_t slot_uid, load_offset, auto_cid;
	uint32_t next_vcpu;
	/* hugepage pools: pages of each size left (-1: unlimited); a size
	 * without a pool fails to map, as one the kernel lacks */
	struct { uint64_t size; int left; } pools[8];
	size_t npools;
	size_t nregions, nvcpus;
	/* heartbeat script */
	struct conn conns[4];
	size_t nconns, next_conn;
	uint64_t clock;
	uint8_t echoed[4];
	size_t nechoed;
	/* resources */
	bool fd_open[MAX_FDS];
	int conn_of_fd[MAX_FDS];
	int dev_fd, enclave_fd;
	struct { void *addr; uint64_t len; } maps[MAX_MAPS];
	size_t nmaps;
};

static struct fake F;
static struct kiln_nitro_ops fake_ops;

/*
 * Fake sysfs trees, as the kernel lays out its hugepage sizes, made in main:
 * x86_64 (2M, 1G), arm64 with 4K pages (64K, 2M, 32M, 1G), arm64 with 64K
 * pages (2M, 512M, 16G), one listing sizes only per NUMA node (with names
 * that are not sizes), and an empty one.
 */
static char sysfs_x86[64], sysfs_arm64[64], sysfs_arm64_64k[64], sysfs_nodes[64],
	sysfs_empty[64];

static const char *const tree_x86[] = {
	"kernel/mm/hugepages/hugepages-2048kB", "kernel/mm/hugepages/hugepages-1048576kB",
	"devices/system/node/node0/hugepages/hugepages-2048kB",
	"devices/system/node/node0/hugepages/hugepages-1048576kB", NULL,
};
static const char *const tree_arm64[] = {
	"kernel/mm/hugepages/hugepages-64kB", "kernel/mm/hugepages/hugepages-2048kB",
	"kernel/mm/hugepages/hugepages-32768kB", "kernel/mm/hugepages/hugepages-1048576kB",
	"devices/system/node/node0/hugepages/hugepages-32768kB", NULL,
};
static const char *const tree_arm64_64k[] = {
	"kernel/mm/hugepages/hugepages-2048kB", "kernel/mm/hugepages/hugepages-524288kB",
	"kernel/mm/hugepages/hugepages-16777216kB", NULL,
};
static const char *const tree_nodes[] = {
	"devices/system/node/node0/hugepages/hugepages-32768kB",
	"devices/system/node/node1/hugepages/hugepages-2048kB",
	"devices/system/node/node1/hugepages/hugepages-3072kB",	 /* not a power of two */
	"devices/system/node/node1/hugepages/hugepages-1024kB",	 /* < 2 MiB */
	"devices/system/node/node1/hugepages/hugepages-kB",
	"devices/system/node/node1/hugepages/hugepages-4096kBx",
	"devices/system/node/node1/hugepages/hugepages-99999999999999kB",
	"devices/system/node/nodes/hugepages/hugepages-8192kB",	 /* not a node */
	"devices/system/node/node2x/hugepages/hugepages-8192kB", /* not a node */
	NULL,
};

static void mkdir_p(const char *root, const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	mkdir(path, 0755);
}

static void make_tree(char *root, const char *const *dirs)
{
	snprintf(root, 64, "/tmp/kiln-test-sysfs-XXXXXX");
	if (!mkdtemp(root)) {
		fprintf(stderr, "cannot make a sysfs tree\n");
		exit(1);
	}
	for (size_t i = 0; dirs && dirs[i]; i++)
		mkdir_p(root, dirs[i]);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void remove_tree(const char *root)
{
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Pages of size left in the fake's pool (-1: unlimited, 0: none). */
static void fake_pool(uint64_t size, int left)
{
	for (size_t i = 0; i < F.npools; i++)
		if (F.pools[i].size == size) {
			F.pools[i].left = left;
			return;
		}
	F.pools[F.npools].size = size;
	F.pools[F.npools++].left = left;
}

static void fake_reset(void)
{
	memset(&F, 0, sizeof(F));
	F.slot_uid = 0x1234;
	F.load_offset = 8 * MIB;
	F.auto_cid = 16;
	F.next_vcpu = 2;
	F.pools[F.npools++].size = 2 * MIB; /* 2 MiB pages, unlimited */
	F.pools[0].left = -1;
	F.dev_fd = F.enclave_fd = -1;
	F.clock = 1000;
	fake_ops.sysfs = sysfs_x86;
}

static void fake_fail(enum kind k, unsigned long req, unsigned nth, int err)
{
	F.fail_kind = k;
	F.fail_req = req;
	F.fail_nth = nth;
	F.fail_err = err;
}

static void fake_conn(uint32_t cid, int byte)
{
	F.conns[F.nconns++] = (struct conn){ .cid = cid, .byte = byte };
}

static struct call *record(enum kind k, int fd, unsigned long req, uint64_t a, uint64_t b,
			   uint64_t c)
{
	struct call *cl = &F.calls[F.ncalls < MAX_CALLS ? F.ncalls++ : MAX_CALLS - 1];

	*cl = (struct call){ .kind = k, .fd = fd, .req = req, .a = a, .b = b, .c = c };
	return cl;
}

static int injected(enum kind k, unsigned long req)
{
	if (!F.fail_nth || F.fail_kind != k || F.fail_req != req)
		return 0;
	return ++F.fail_seen == F.fail_nth ? -F.fail_err : 0;
}

static int new_fd(void)
{
	for (int i = 0; i < MAX_FDS; i++)
		if (!F.fd_open[i]) {
			F.fd_open[i] = true;
			F.conn_of_fd[i] = -1;
			return FAKE_FD0 + i;
		}
	return -EMFILE;
}

static bool fd_is_open(int fd)
{
	return fd >= FAKE_FD0 && fd < FAKE_FD0 + MAX_FDS && F.fd_open[fd - FAKE_FD0];
}

static size_t open_fds(void)
{
	size_t n = 0;

	for (int i = 0; i < MAX_FDS; i++)
		n += F.fd_open[i];
	return n;
}

static int f_open_dev(void *ctx, int *fd)
{
	int rc = injected(OPEN, 0);

	record(OPEN, -1, 0, 0, 0, 0);
	if (rc)
		return rc;
	*fd = F.dev_fd = new_fd();
	return 0;
}

static bool is_mapping(uint64_t addr, uint64_t len)
{
	for (size_t i = 0; i < F.nmaps; i++)
		if ((uintptr_t)F.maps[i].addr == addr && F.maps[i].len == len)
			return true;
	return false;
}

static int f_ioctl_enclave(unsigned long req, void *arg)
{
	struct ne_image_load_info *li = arg;
	struct ne_user_memory_region *mr = arg;
	struct ne_enclave_start_info *si = arg;
	uint32_t *vcpu = arg;

	switch (req) {
	case NE_GET_IMAGE_LOAD_INFO:
		if (li->flags != NE_EIF_IMAGE)
			return -NE_ERR_INVALID_FLAG_VALUE;
		li->memory_offset = F.load_offset;
		return 0;
	case NE_SET_USER_MEMORY_REGION:
		if (mr->flags != NE_DEFAULT_MEMORY_REGION)
			return -NE_ERR_INVALID_FLAG_VALUE;
		if (mr->memory_size % (2 * MIB))
			return -NE_ERR_INVALID_MEM_REGION_SIZE;
		if (!is_mapping(mr->userspace_addr, mr->memory_size))
			return -NE_ERR_INVALID_MEM_REGION_ADDR;
		F.nregions++;
		return 0;
	case NE_ADD_VCPU:
		if (*vcpu == 0)
			*vcpu = F.next_vcpu++;
		F.nvcpus++;
		return 0;
	case NE_START_ENCLAVE:
		if (!F.nregions)
			return -NE_ERR_NO_MEM_REGIONS_ADDED;
		if (!F.nvcpus)
			return -NE_ERR_NO_VCPUS_ADDED;
		if (si->enclave_cid == 0)
			si->enclave_cid = F.auto_cid;
		return 0;
	default:
		return -ENOTTY;
	}
}

static int f_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
	int rc = injected(IOCTL, req);
	uint64_t *u = arg;

	/* record the arguments as they arrive */
	switch (req) {
	case NE_CREATE_VM:
	case NE_ADD_VCPU:
		record(IOCTL, fd, req, req == NE_ADD_VCPU ? *(uint32_t *)arg : 0, 0, 0);
		break;
	default:
		record(IOCTL, fd, req, u[0], u[1], req == NE_SET_USER_MEMORY_REGION ? u[2] : 0);
		break;
	}
	if (rc)
		return rc;
	if (req == NE_CREATE_VM) {
		if (fd != F.dev_fd || !fd_is_open(fd))
			return -EBADF;
		*u = F.slot_uid;
		return F.enclave_fd = new_fd();
	}
	if (fd != F.enclave_fd || !fd_is_open(fd))
		return -EBADF;
	return f_ioctl_enclave(req, arg);
}

static int f_map(void *ctx, uint64_t page, void **addr)
{
	struct call *cl = record(MAP, -1, page, 0, 0, 0);
	int *budget = NULL;
	void *p;

	for (size_t i = 0; i < F.npools; i++)
		if (F.pools[i].size == page)
			budget = &F.pools[i].left;
	if (injected(MAP, page))
		return -F.fail_err;
	if (!budget || *budget == 0 || F.nmaps == MAX_MAPS)
		return -ENOMEM;
	p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (*budget > 0)
		(*budget)--;
	F.maps[F.nmaps].addr = p;
	F.maps[F.nmaps++].len = page;
	cl->c = (uintptr_t)p;
	*addr = p;
	return 0;
}

static int f_unmap(void *ctx, void *addr, uint64_t len)
{
	record(UNMAP, -1, len, 0, 0, (uintptr_t)addr);
	for (size_t i = 0; i < F.nmaps; i++)
		if (F.maps[i].addr == addr && F.maps[i].len == len) {
			munmap(addr, len);
			F.maps[i] = F.maps[--F.nmaps];
			return 0;
		}
	return -EINVAL;
}

static int f_close(void *ctx, int fd)
{
	record(CLOSE, fd, 0, 0, 0, 0);
	if (!fd_is_open(fd))
		return -EBADF;
	F.fd_open[fd - FAKE_FD0] = false;
	return 0;
}

static int f_listen(void *ctx, uint32_t cid, uint32_t port, int *fd)
{
	int rc = injected(LISTEN, 0);

	record(LISTEN, -1, 0, cid, port, 0);
	if (rc)
		return rc;
	*fd = new_fd();
	return 0;
}

static int f_accept(void *ctx, int lfd, int timeout_ms, int *fd, uint32_t *peer)
{
	record(ACCEPT, lfd, 0, (uint64_t)timeout_ms, 0, 0);
	if (!fd_is_open(lfd))
		return -EBADF;
	if (F.next_conn == F.nconns) {
		F.clock += (uint64_t)timeout_ms;
		return -ETIMEDOUT;
	}
	*fd = new_fd();
	F.conn_of_fd[*fd - FAKE_FD0] = (int)F.next_conn;
	*peer = F.conns[F.next_conn++].cid;
	F.clock += 5;
	return 0;
}

static int f_connect(void *ctx, uint32_t cid, uint32_t port, int timeout_ms, int *fd)
{
	int rc = injected(CONNECT, 0);

	record(CONNECT, -1, 0, cid, port, (uint64_t)timeout_ms);
	if (rc)
		return rc;
	*fd = new_fd();
	return 0;
}

static ssize_t f_read(void *ctx, int fd, void *buf, size_t len, int timeout_ms)
{
	struct conn *c;

	record(READ, fd, 0, len, (uint64_t)timeout_ms, 0);
	if (!fd_is_open(fd) || F.conn_of_fd[fd - FAKE_FD0] < 0)
		return -EBADF;
	c = &F.conns[F.conn_of_fd[fd - FAKE_FD0]];
	if (c->byte == -1)
		return 0;
	if (c->byte == -2) {
		F.clock += (uint64_t)timeout_ms;
		return -ETIMEDOUT;
	}
	*(uint8_t *)buf = (uint8_t)c->byte;
	return 1;
}

static ssize_t f_write(void *ctx, int fd, const void *buf, size_t len)
{
	record(WRITE, fd, 0, len, *(const uint8_t *)buf, 0);
	if (!fd_is_open(fd))
		return -EBADF;
	if (F.nechoed < sizeof(F.echoed))
		F.echoed[F.nechoed++] = *(const uint8_t *)buf;
	return (ssize_t)len;
}

static uint64_t f_now(void *ctx)
{
	return F.clock;
}

/* Set per test (fake_reset: the x86_64 tree). */
static struct kiln_nitro_ops fake_ops = {
	.ctx = &F,
	.open_dev = f_open_dev,
	.ioctl = f_ioctl,
	.map_hugepage = f_map,
	.unmap = f_unmap,
	.close = f_close,
	.vsock_listen = f_listen,
	.vsock_accept = f_accept,
	.vsock_connect = f_connect,
	.read = f_read,
	.write = f_write,
	.now_ms = f_now,
};

/* ---- an EIF-like file: ".eif" then a position-dependent byte pattern ---- */

#define EIF_SIZE (4 * MIB + 777) /* odd; 4 x size needs 18 MiB */

static char eif_path[64];
static uint8_t *eif_bytes;
static uint64_t eif_len;

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)((i * 2654435761u) >> 13) ^ (uint8_t)(i >> 16);
}

static void write_eif(uint64_t size)
{
	int fd;

	if (eif_path[0])
		unlink(eif_path);
	free(eif_bytes);
	snprintf(eif_path, sizeof(eif_path), "/tmp/kiln-test-nitro-XXXXXX");
	fd = mkstemp(eif_path);
	eif_bytes = malloc(size);
	eif_len = size;
	for (uint64_t i = 0; i < size; i++)
		eif_bytes[i] = pattern(i);
	memcpy(eif_bytes, ".eif", 4);
	if (fd < 0 || write(fd, eif_bytes, size) != (ssize_t)size) {
		fprintf(stderr, "cannot write %s\n", eif_path);
		exit(1);
	}
	close(fd);
}

static struct kiln_nitro_launch base_req(void)
{
	return (struct kiln_nitro_launch){
		.eif_path = eif_path, .memory_mib = 18, .cpus = 2, .debug = true,
	};
}

/* Launch with the healthy heartbeat scripted. */
static int launch(struct kiln_nitro_launch *req, struct kiln_nitro_enclave *out)
{
	return kiln_nitro_launch(&fake_ops, req, out);
}

static size_t count(enum kind k, unsigned long req)
{
	size_t n = 0;

	for (size_t i = 0; i < F.ncalls; i++)
		n += F.calls[i].kind == k && (k != IOCTL || F.calls[i].req == req);
	return n;
}

/* Nothing left: no fake fd open, no mapping alive, out reads as stopped. */
static void check_released(const struct kiln_nitro_enclave *out)
{
	CHECK(open_fds() == 0);
	CHECK(F.nmaps == 0);
	CHECK(out->enclave_fd == -1);
	CHECK(out->regions == NULL && out->cpu_ids == NULL);
}

/* ---- the happy sequence, call by call ---- */

/* Check call i, then move on. */
#define STEP(cond)                                  \
	do {                                        \
		CHECK(i < F.ncalls && (cond));       \
		i++;                                \
	} while (0)

TEST(test_happy_sequence)
{
	struct kiln_nitro_launch req = base_req();
	struct kiln_nitro_enclave enc;
	const struct call *c = F.calls;
	int dev, efd, lfd, cfd;
	size_t i = 0;

	fake_reset();
	fake_conn(16, 0xB7);
	CHECK(launch(&req, &enc) == 0);
	dev = FAKE_FD0;
	efd = FAKE_FD0 + 1;

	STEP(c[i].kind == OPEN);
	STEP(c[i].kind == IOCTL && c[i].fd == dev && c[i].req == NE_CREATE_VM);
	STEP(c[i].kind == CLOSE && c[i].fd == dev);
	STEP(c[i].kind == IOCTL && c[i].fd == efd && c[i].req == NE_GET_IMAGE_LOAD_INFO &&
	      c[i].a == NE_EIF_IMAGE);
	for (int r = 0; r < 9; r++)
		STEP(c[i].kind == MAP && c[i].req == 2 * MIB);
	for (int r = 0; r < 9; r++)
		STEP(c[i].kind == IOCTL && c[i].fd == efd && c[i].req == NE_SET_USER_MEMORY_REGION &&
		      c[i].a == 0 && c[i].b == 2 * MIB && c[i].c == c[4 + r].c);
	for (int v = 0; v < 2; v++)
		STEP(c[i].kind == IOCTL && c[i].fd == efd && c[i].req == NE_ADD_VCPU && c[i].a == 0);
	STEP(c[i].kind == LISTEN && c[i].a == VMADDR_CID_ANY && c[i].b == 9000);
	STEP(c[i].kind == IOCTL && c[i].fd == efd && c[i].req == NE_START_ENCLAVE &&
	      c[i].a == NE_ENCLAVE_DEBUG_MODE && c[i].b == 0);
	lfd = FAKE_FD0;	 /* the device fd number was free again */
	/* nitro-cli's boot timeout: 90 s for the EIF's first 6 GiB plus 90 s
	 * for the memory's first 100 GiB (before 1.3.2 the memory's 90 s was
	 * missing) */
	STEP(c[i].kind == ACCEPT && c[i].fd == lfd && c[i].a == 180000);
	cfd = FAKE_FD0 + 2;
	STEP(c[i].kind == READ && c[i].fd == cfd && c[i].a == 1);
	STEP(c[i].kind == WRITE && c[i].fd == cfd && c[i].b == 0xB7);
	STEP(c[i].kind == CLOSE && c[i].fd == cfd);
	STEP(c[i].kind == CLOSE && c[i].fd == lfd);
	CHECK(F.ncalls == i);

	CHECK(enc.enclave_fd == efd);
	CHECK(enc.cid == 16);
	CHECK(enc.slot_uid == 0x1234);
	CHECK(enc.memory_mib == 18);
	CHECK(enc.nregions == 9);
	CHECK(enc.ncpus == 2 && enc.cpu_ids[0] == 2 && enc.cpu_ids[1] == 3);
	CHECK(F.nechoed == 1 && F.echoed[0] == 0xB7);
	CHECK(open_fds() == 1 && F.nmaps == 9); /* the enclave fd and its memory */

	i = F.ncalls;
	CHECK(kiln_nitro_terminate(&enc) == 0);
	CHECK(c[i].kind == CLOSE && c[i].fd == efd);
	CHECK(count(UNMAP, 0) == 9);
	check_released(&enc);
	CHECK(kiln_nitro_terminate(&enc) == 0); /* twice is harmless */
}

TEST(test_production_mode_fixed_cid_and_cpu_ids)
{
	static const uint32_t ids[] = { 5, 7 };
	struct kiln_nitro_launch req = base_req();
	struct kiln_nitro_enclave enc;
	size_t start = 0;

	fake_reset();
	req.debug = false;
	req.cid = 42;
	req.cpu_ids = ids;
	fake_conn(42, 0xB7);
	CHECK(launch(&req, &enc) == 0);
	for (size_t i = 0, v = 0; i < F.ncalls; i++) {
		if (F.calls[i].kind == IOCTL && F.calls[i].req == NE_ADD_VCPU)
			CHECK(F.calls[i].a == ids[v++]);
		if (F.calls[i].kind == IOCTL && F.calls[i].req == NE_START_ENCLAVE)
			start = i;
	}
	CHECK(F.calls[start].a == NE_ENCLAVE_PRODUCTION_MODE && F.calls[start].b == 42);
	CHECK(enc.cid == 42 && enc.cpu_ids[0] == 5 && enc.cpu_ids[1] == 7);
	CHECK(kiln_nitro_terminate(&enc) == 0);
	check_released(&enc);
}

/* ---- memory layout ---- */

/* The byte at a logical enclave memory position, through the regions. */
static uint8_t mem_at(const struct kiln_nitro_enclave *enc, uint64_t pos)
{
	for (size_t i = 0; i < enc->nregions; pos -= enc->regions[i++].size)
		if (pos < enc->regions[i].size)
			return ((const uint8_t *)enc->regions[i].addr)[pos];
	return 0xEE;
}

/* Every byte up to a page past the image is the EIF at off, or zero. The
 * rest is left alone: reading all of a 1 GiB fake page would be slow. */
static bool image_in_memory(const struct kiln_nitro_enclave *enc, uint64_t off)
{
	uint64_t upto = off + eif_len + 4096, pos = 0;

	for (size_t i = 0; i < enc->nregions && pos < upto; i++) {
		const uint8_t *p = enc->regions[i].addr;

		for (uint64_t j = 0; j < enc->regions[i].size && pos < upto; j++, pos++) {
			uint8_t want = pos >= off && pos - off < eif_len ? eif_bytes[pos - off] : 0;

			if (p[j] != want)
				return false;
		}
	}
	return pos == upto;
}

TEST(test_layout_odd_offset_across_regions)
{
	const uint64_t off = MIB + 4097; /* odd, inside region 0 */
	struct kiln_nitro_launch req = base_req();
	struct kiln_nitro_enclave enc;

	fake_reset();
	F.load_offset = off;
	fake_conn(16, 0xB7);
	CHECK(launch(&req, &enc) == 0);
	CHECK(enc.nregions == 9);
	for (size_t i = 0; i < enc.nregions; i++)
		CHECK(enc.regions[i].size == 2 * MIB);
	/* start, both region boundaries it crosses, end */
	CHECK(mem_at(&enc, off - 1) == 0);
	CHECK(mem_at(&enc, off) == '.' && mem_at(&enc, off + 3) == 'f');
	CHECK(mem_at(&enc, 2 * MIB - 1) == eif_bytes[2 * MIB - 1 - off]);
	CHECK(mem_at(&enc, 2 * MIB) == eif_bytes[2 * MIB - off]);
	CHECK(((uint8_t *)enc.regions[1].addr)[0] == eif_bytes[2 * MIB - off]);
	CHECK(((uint8_t *)enc.regions[0].addr)[2 * MIB - 1] == eif_bytes[2 * MIB - 1 - off]);
	CHECK(mem_at(&enc, 4 * MIB - 1) == eif_bytes[4 * MIB - 1 - off]);
	CHECK(((uint8_t *)enc.regions[2].addr)[0] == eif_bytes[4 * MIB - off]);
	CHECK(mem_at(&enc, off + eif_len - 1) == eif_bytes[eif_len - 1]);
	CHECK(mem_at(&enc, off + eif_len) == 0);
	CHECK(image_in_memory(&enc, off));
	CHECK(kiln_nitro_terminate(&enc) == 0);
	check_released(&enc);
}

TEST(test_layout_driver_offset)
{
	struct kiln_nitro_launch req = base_req();
	struct kiln_nitro_enclave enc;

	fake_reset(); /* 8 MiB, what the driver returns */
	fake_conn(16, 0xB7);
	CHECK(launch(&req, &enc) == 0);
	CHECK(((uint8_t *)enc.regions[4].addr)[0] == '.');
	CHECK(image_in_memory(&enc, 8 * MIB));
	CHECK(kiln_nitro_terminate(&enc) == 0);
	check_released(&enc);
}

TEST(test_image_does_not_fit_after_offset)
{
	struct kiln_nitro_launch req = base_req();
	struct kiln_nitro_enclave enc;

	fake_reset();
	F.load_offset = 16 * MIB;
	CHECK_ERR(launch(&req, &enc), "EIF does not fit: load offset 16777216");
	CHECK(count(MAP, 0) == 0);
	check_released(&enc);
}

TEST(test_gigantic_pages_first_and_fallback)
{
	struct kiln_nitro_launch req = base_req();
	struct kiln_nitro_enclave enc;

	/* 1 GiB + 4 MiB from one 1 GiB page and two 2 MiB pages */
	fake_reset();
	fake_pool(KILN_NITRO_PAGE_1G, 4);
	req.memory_mib = 1028;
	fake_conn(16, 0xB7);
	CHECK(launch(&req, &enc) == 0);
	CHECK(enc.nregions == 3 && enc.memory_mib == 1028);
	CHECK(enc.regions[0].size == (UINT64_C(1) << 30) && enc.regions[2].size == 2 * MIB);
	CHECK(image_in_memory(&enc, 8 * MIB));
	CHECK(kiln_nitro_terminate(&enc) == 0);
	check_released(&enc);

	/* 2 MiB pages run out after one: a second 1 GiB page covers the rest,
	 * the 2 MiB page it makes surplus is given back (nitro-cli's
	 * ResourceAllocator::allocate drains the smallest regions not needed),
	 * and the regions go to the driver largest first */
	fake_reset();
	fake_pool(KILN_NITRO_PAGE_1G, 4);
	fake_pool(2 * MIB, 1);
	req.memory_mib = 1030;
	fake_conn(16, 0xB7);
	CHECK(launch(&req, &enc) == 0);
	CHECK(enc.nregions == 2 && enc.memory_mib == 2048);
	CHECK(enc.regions[0].size == (UINT64_C(1) << 30) &&
	      enc.regions[1].size == (UINT64_C(1) << 30));
	CHECK(count(UNMAP, 0) == 1 && count(IOCTL, NE_SET_USER_MEMORY_REGION) == 2);
	for (size_t i = 0, r = 0; i < F.ncalls; i++)
		if (F.calls[i].kind == IOCTL && F.calls[i].req == NE_SET_USER_MEMORY_REGION)
			CHECK(F.calls[i].c == (uintptr_t)enc.regions[r++].addr);
	CHECK(image_in_memory(&enc, 8 * MIB));
	CHECK(kiln_nitro_terminate(&enc) == 0);
	check_released(&enc);
}

/* ---- hugepage sizes from sysfs, every pool size, surplus given back ---- */

#define GIB (UINT64_C(1) << 30)

static bool sizes_are(const char *root, const uint64_t *want, size_t n)
{
	uint64_t got[KILN_NITRO_MAX_PAGE_SIZES];
	size_t k = kiln_nitro_hugepage_sizes(root, got, KILN_NITRO_MAX_PAGE_SIZES);
	bool eq = k == n;

	for (size_t i = 0; eq && i < n; i++)
		eq = got[i] == want[i];
	if (!eq) {
		fprintf(stderr, "    %s: got", root);
		for (size_t i = 0; i < k; i++)
			fprintf(stderr, " %" PRIu64 "M", got[i] / MIB);
		fprintf(stderr, "\n");
	}
	return eq;
}

TEST(test_hugepage_sizes_from_sysfs)
{
	static const uint64_t x86[] = { GIB, 2 * MIB };
	/* 64K is registered (contiguous PTEs) but below the driver's 2 MiB */
	static const uint64_t arm64[] = { GIB, 32 * MIB, 2 * MIB };
	static const uint64_t arm64_64k[] = { 16 * GIB, 512 * MIB, 2 * MIB };
	static const uint64_t nodes[] = { 32 * MIB, 2 * MIB };
	/* nothing listed: every size nitro-cli's HUGE_PAGE_MAP tries */
	static const uint64_t fallback[] = { 16 * GIB, 2 * GIB, GIB, 512 * MIB, 256 * MIB,
					     32 * MIB, 16 * MIB, 8 * MIB, 2 * MIB };
	uint64_t two[2];

	CHECK(sizes_are(sysfs_x86, x86, 2));
	CHECK(sizes_are(sysfs_arm64, arm64, 3));
	CHECK(sizes_are(sysfs_arm64_64k, arm64_64k, 3));
	CHECK(sizes_are(sysfs_nodes, nodes, 2));
	CHECK(sizes_are(sysfs_empty, fallback, 9));
	CHECK(sizes_are("/nonexistent", fallback, 9));
	/* a short buffer keeps the largest */
	CHECK(kiln_nitro_hugepage_sizes(sysfs_arm64, two, 2) == 2 && two[0] == GIB &&
	      two[1] == 32 * MIB);
}

/* Each hugepage size asked of the fake, in call order, as "1024 32 32 ..." (MiB). */
static const char *maps_asked(void)
{
	static char buf[512];
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < F.ncalls && n < sizeof(buf) - 16; i++)
		if (F.calls[i].kind == MAP)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%lu", n ? " " : "",
					      F.calls[i].req >> 20);
	return buf;
}

static bool regions_all(const struct kiln_nitro_enclave *enc, size_t n, uint64_t size)
{
	size_t set = 0;

	for (size_t i = 0; i < F.ncalls; i++)
		if (F.calls[i].kind == IOCTL && F.calls[i].req == NE_SET_USER_MEMORY_REGION) {
			if (set >= enc->nregions || F.calls[i].b != size ||
			    F.calls[i].c != (uintptr_t)enc->regions[set].addr)
				return false;
			set++;
		}
	if (enc->nregions != n || set != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (enc->regions[i].size != size)
			return false;
	return true;
}

/* Graviton, 4K pages: the allocator reserved 32 MiB pages only. */
TEST(test_arm64_32m_pages_only)
{
	struct kiln_nitro_launch req = base_req();
	struct kiln_nitro_enclave enc;

	fake_reset();
	fake_ops.sysfs = sysfs_arm64;
	fake_pool(2 * MIB, 0);
	fake_pool(32 * MIB, 16);
	req.memory_mib = 512;
	fake_conn(16, 0xB7);
	CHECK(launch(&req, &enc) == 0);
	/* 1 GiB does not fit in 512 MiB: never asked for; 64K never either */
	CHECK(!strcmp(maps_asked(), "32 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32"));
	CHECK(enc.memory_mib == 512);
	CHECK(regions_all(&enc, 16, 32 * MIB));
	CHECK(image_in_memory(&enc, 8 * MIB));
	CHECK(kiln_nitro_terminate(&enc) == 0);
	check_released(&enc);

	/* a 32 MiB pool one page short: 2 MiB pages cover the rest */
	fake_reset();
	fake_ops.sysfs = sysfs_arm64;
	fake_pool(32 * MIB, 15);
	req.memory_mib = 512;
	fake_conn(16, 0xB7);
	CHECK(launch(&req, &enc) == 0);
	CHECK(enc.memory_mib == 512 && enc.nregions == 15 + 16);
	CHECK(enc.regions[14].size == 32 * MIB && enc.regions[15].size == 2 * MIB);
	CHECK(kiln_nitro_terminate(&enc) == 0);
	check_released(&enc);

	/* and none: the message names the sizes the host offers */
	fake_reset();
	fake_ops.sysfs = sysfs_arm64;
	fake_pool(2 * MIB, 0);
	req.memory_mib = 512;
	CHECK_ERR(launch(&req, &enc), "not enough hugepages: got 0 of 512 MiB in pages of 1G, "
				      "32M, 2M");
	check_released(&enc);
}

/* arm64 with 64K pages: 512 MiB and 16 GiB pages besides 2 MiB. */
TEST(test_arm64_64k_512m_pages)
{
	struct kiln_nitro_launch req = base_req();
	struct kiln_nitro_enclave enc;

	fake_reset();
	fake_ops.sysfs = sysfs_arm64_64k;
	fake_pool(512 * MIB, 2);
	req.memory_mib = 1028;
	fake_conn(16, 0xB7);
	CHECK(launch(&req, &enc) == 0);
	CHECK(!strcmp(maps_asked(), "512 512 2 2")); /* 16G never fits */
	CHECK(enc.memory_mib == 1028 && enc.nregions == 4);
	CHECK(enc.regions[1].size == 512 * MIB && enc.regions[2].size == 2 * MIB);
	CHECK(kiln_nitro_terminate(&enc) == 0);
	check_released(&enc);
}

/*
 * The case: 512 MiB asked, ten 2 MiB pages and 1 GiB pages free.
 * nitro-cli takes the ten, then one 1 GiB page, and gives the ten back
 * (sort largest first, drain what is not needed): 1024 MiB in one region,
 * not 1044 MiB in eleven.
 */
TEST(test_surplus_pages_given_back)
{
	struct kiln_nitro_launch req = base_req();
	struct kiln_nitro_enclave enc;
	size_t first_set = 0, last_unmap = 0;

	fake_reset();
	fake_pool(2 * MIB, 10);
	fake_pool(KILN_NITRO_PAGE_1G, 2);
	req.memory_mib = 512;
	fake_conn(16, 0xB7);
	CHECK(launch(&req, &enc) == 0);
	CHECK(!strcmp(maps_asked(), "2 2 2 2 2 2 2 2 2 2 2 2 1024"));
	CHECK(enc.memory_mib == 1024);
	CHECK(regions_all(&enc, 1, KILN_NITRO_PAGE_1G));
	CHECK(count(UNMAP, 0) == 10);
	for (size_t i = 0; i < F.ncalls; i++) {
		if (F.calls[i].kind == UNMAP)
			last_unmap = i;
		if (!first_set && F.calls[i].kind == IOCTL &&
		    F.calls[i].req == NE_SET_USER_MEMORY_REGION)
			first_set = i;
	}
	CHECK(last_unmap < first_set); /* given back before the driver sees any */
	CHECK(F.nmaps == 1);
	CHECK(image_in_memory(&enc, 8 * MIB));
	CHECK(kiln_nitro_terminate(&enc) == 0);
	check_released(&enc);
}

/* ---- request rules: refused before the device is touched ---- */

TEST(test_memory_rules)
{
	struct kiln_nitro_launch req = base_req();
	struct kiln_nitro_enclave enc;

	fake_reset();
	req.memory_mib = 16;
	CHECK_ERR(launch(&req, &enc), "EIF memory too small: 16 MiB requested, need >= 4 x EIF "
				      "size = 18 MiB");
	req.memory_mib = 19;
	CHECK_ERR(launch(&req, &enc), "multiple of 2 MiB");
	req.memory_mib = 0;
	CHECK_ERR(launch(&req, &enc), "multiple of 2 MiB");
	req.memory_mib = UINT64_MAX - 1;
	CHECK_ERR(launch(&req, &enc), "is too large");
	CHECK(F.ncalls == 0);
	check_released(&enc);

	/* exactly 4 x 1 MiB is enough; one byte more needs the next 2 MiB */
	write_eif(MIB);
	req.memory_mib = 4;
	F.load_offset = 0;
	fake_conn(16, 0xB7);
	CHECK(launch(&req, &enc) == 0);
	CHECK(kiln_nitro_terminate(&enc) == 0);
	write_eif(MIB + 1);
	CHECK_ERR(launch(&req, &enc), "need >= 4 x EIF size = 6 MiB");
	write_eif(EIF_SIZE);
}

TEST(test_request_rules)
{
	struct kiln_nitro_launch req = base_req();
	struct kiln_nitro_enclave enc;
	char notes[] = "/tmp/kiln-test-nitro-XXXXXX";
	int fd = mkstemp(notes);

	fake_reset();
	req.cpus = 0;
	CHECK_ERR(launch(&req, &enc), "at least one vCPU");
	req = base_req();
	/* the driver's NE_START_ENCLAVE rule (ne_misc_dev.c): 1 and 2 well
	 * known, 3 the parent's, U32_MAX VMADDR_CID_ANY, above: 64-bit */
	req.cid = 1;
	CHECK_ERR(launch(&req, &enc), "enclave CID 1 is a well-known vsock CID (1 local, 2 host): "
				      "use 4 .. 4294967294, or 0 to let the hypervisor choose");
	req.cid = 2;
	CHECK_ERR(launch(&req, &enc), "enclave CID 2 is a well-known vsock CID");
	req.cid = 3;
	CHECK_ERR(launch(&req, &enc), "enclave CID 3 is the parent instance's");
	req.cid = VMADDR_CID_ANY;
	CHECK_ERR(launch(&req, &enc), "enclave CID 4294967295 is VMADDR_CID_ANY");
	req.cid = UINT64_C(1) << 32;
	CHECK_ERR(launch(&req, &enc), "enclave CID 4294967296 does not fit 32 bits");
	CHECK(kiln_nitro_check_cid(0) == 0);
	CHECK(kiln_nitro_check_cid(4) == 0);
	CHECK(kiln_nitro_check_cid(VMADDR_CID_ANY - 1) == 0);
	req = base_req();
	req.eif_path = "/nonexistent/app.eif";
	CHECK_ERR(launch(&req, &enc), "EIF /nonexistent/app.eif: No such file");
	CHECK(fd >= 0 && write(fd, "not an eif at all", 17) == 17);
	close(fd);
	req.eif_path = notes;
	CHECK_ERR(launch(&req, &enc), "no .eif magic");
	req.eif_path = "/tmp";
	CHECK_ERR(launch(&req, &enc), "not a regular file");
	unlink(notes);
	CHECK(F.ncalls == 0);
	check_released(&enc);
}

/* ---- every step failing: a readable message and nothing left behind ---- */

static void fail_case(enum kind k, unsigned long req_code, unsigned nth, int err, const char *want)
{
	struct kiln_nitro_launch req = base_req();
	struct kiln_nitro_enclave enc;

	fake_reset();
	fake_conn(16, 0xB7);
	fake_fail(k, req_code, nth, err);
	CHECK_ERR(launch(&req, &enc), want);
	check_released(&enc);
}

TEST(test_fail_open_and_create_vm)
{
	fail_case(OPEN, 0, 1, ENOENT, "no /dev/nitro_enclaves: this machine is not a Nitro");
	fail_case(OPEN, 0, 1, EACCES, "permission denied");
	fail_case(IOCTL, NE_CREATE_VM, 1, EBUSY, "NE_CREATE_VM: Device or resource busy");
	fail_case(IOCTL, NE_CREATE_VM, 1, NE_ERR_NO_CPUS_AVAIL_IN_POOL,
		  "NE_CREATE_VM: no free CPUs in the enclave CPU pool");
	CHECK(count(MAP, 0) == 0);
}

TEST(test_fail_image_load_info)
{
	fail_case(IOCTL, NE_GET_IMAGE_LOAD_INFO, 1, NE_ERR_NOT_IN_INIT_STATE,
		  "NE_GET_IMAGE_LOAD_INFO: the enclave is no longer being set up");
	fail_case(IOCTL, NE_GET_IMAGE_LOAD_INFO, 1, EFAULT, "NE_GET_IMAGE_LOAD_INFO: Bad address");
	CHECK(count(CLOSE, 0) == 2); /* device, then enclave */
}

TEST(test_fail_hugepages)
{
	struct kiln_nitro_launch req = base_req();
	struct kiln_nitro_enclave enc;

	/* only 5 of the 9 pages reserved */
	fake_reset();
	fake_pool(2 * MIB, 5);
	CHECK_ERR(launch(&req, &enc), "not enough hugepages: got 10 of 18 MiB");
	CHECK_MSG("in pages of 1G, 2M (Cannot allocate memory)");
	CHECK_MSG("allocator.yaml");
	CHECK_MSG("nr_hugepages");
	CHECK(count(UNMAP, 0) == 5);
	CHECK(count(IOCTL, NE_SET_USER_MEMORY_REGION) == 0);
	check_released(&enc);

	/* an mmap failing once on the 3rd page: the second pass (smallest
	 * pages first) tries 2 MiB pages again, as nitro-cli does */
	fake_reset();
	fake_fail(MAP, 2 * MIB, 3, ENOMEM);
	fake_conn(16, 0xB7);
	CHECK(launch(&req, &enc) == 0);
	CHECK(count(MAP, 0) == 10 && enc.nregions == 9 && enc.memory_mib == 18);
	CHECK(kiln_nitro_terminate(&enc) == 0);
	check_released(&enc);
}

TEST(test_fail_set_memory_region_each_code)
{
	static const int codes[] = {
		NE_ERR_INVALID_MEM_REGION_SIZE, NE_ERR_INVALID_MEM_REGION_ADDR,
		NE_ERR_UNALIGNED_MEM_REGION_ADDR, NE_ERR_MEM_REGION_ALREADY_USED,
		NE_ERR_MEM_NOT_HUGE_PAGE, NE_ERR_MEM_DIFFERENT_NUMA_NODE,
		NE_ERR_MEM_MAX_REGIONS, NE_ERR_INVALID_PAGE_SIZE,
		NE_ERR_INVALID_FLAG_VALUE, NE_ERR_NOT_IN_INIT_STATE, EINVAL,
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *why = kiln_nitro_strerror(codes[i]);

		fail_case(IOCTL, NE_SET_USER_MEMORY_REGION, 3, codes[i],
			  "NE_SET_USER_MEMORY_REGION (region 3 of 9, 2 MiB): ");
		CHECK_MSG(why ? why : "Invalid argument");
		CHECK(count(UNMAP, 0) == 9);
		CHECK(count(IOCTL, NE_ADD_VCPU) == 0);
	}
	fail_case(IOCTL, NE_SET_USER_MEMORY_REGION, 1, NE_ERR_MEM_NOT_HUGE_PAGE,
		  "not backed by contiguous hugepages: reserve hugepages in "
		  "/etc/nitro_enclaves/allocator.yaml");
	fail_case(IOCTL, NE_SET_USER_MEMORY_REGION, 1, NE_ERR_MEM_DIFFERENT_NUMA_NODE, "NUMA node");
	fail_case(IOCTL, NE_SET_USER_MEMORY_REGION, 1, NE_ERR_MEM_MAX_REGIONS, "1 GiB hugepages");
}

TEST(test_fail_add_vcpu)
{
	fail_case(IOCTL, NE_ADD_VCPU, 2, NE_ERR_VCPU_NOT_IN_CPU_POOL,
		  "NE_ADD_VCPU (vCPU 2 of 2): invalid CPU: the CPU pool is not configured");
	CHECK_MSG("nitro-enclaves-allocator");
	CHECK(count(LISTEN, 0) == 0);
	fail_case(IOCTL, NE_ADD_VCPU, 1, NE_ERR_NO_CPUS_AVAIL_IN_POOL, "no free CPUs");
	fail_case(IOCTL, NE_ADD_VCPU, 1, NE_ERR_VCPU_ALREADY_USED, "already used");
	fail_case(IOCTL, NE_ADD_VCPU, 1, NE_ERR_VCPU_INVALID_CPU_CORE, "core");
	fail_case(IOCTL, NE_ADD_VCPU, 1, NE_ERR_INVALID_VCPU, "outside the instance's CPUs");
}

TEST(test_fail_listen_and_start)
{
	fail_case(LISTEN, 0, 1, EADDRINUSE, "vsock port 9000 is in use");
	CHECK(count(IOCTL, NE_START_ENCLAVE) == 0);
	fail_case(LISTEN, 0, 1, EAFNOSUPPORT, "no AF_VSOCK");
	fail_case(IOCTL, NE_START_ENCLAVE, 1, NE_ERR_ENCLAVE_MEM_MIN_SIZE,
		  "NE_START_ENCLAVE: enclave memory is below the driver's minimum (64 MiB)");
	CHECK(count(ACCEPT, 0) == 0);
	fail_case(IOCTL, NE_START_ENCLAVE, 1, NE_ERR_FULL_CORES_NOT_USED, "full CPU cores");
	fail_case(IOCTL, NE_START_ENCLAVE, 1, NE_ERR_INVALID_ENCLAVE_CID, "invalid enclave CID");
	/* 0 is not reserved: it asks the hypervisor to choose */
	CHECK(!strstr(kiln_errmsg(), "0-3"));
	CHECK_MSG("1 and 2 are well-known vsock CIDs, 3 is the parent instance's, 4294967295 "
		  "and above do not fit; use 4 .. 4294967294, or 0 to let the hypervisor choose");
	fail_case(IOCTL, NE_START_ENCLAVE, 1, NE_ERR_NO_VCPUS_ADDED, "no vCPUs were added");
	fail_case(IOCTL, NE_START_ENCLAVE, 1, NE_ERR_NO_MEM_REGIONS_ADDED, "no memory regions");
}

/* ---- the boot heartbeat ---- */

static void heartbeat_case(const char *want)
{
	struct kiln_nitro_launch req = base_req();
	struct kiln_nitro_enclave enc;

	CHECK_ERR(launch(&req, &enc), want);
	CHECK_MSG("enclave CID 16 did not boot and was terminated");
	CHECK(count(IOCTL, NE_START_ENCLAVE) == 1);
	check_released(&enc);
}

TEST(test_heartbeat_timeout)
{
	fake_reset();
	heartbeat_case("no boot heartbeat on vsock port 9000 within 180.0 s");
	CHECK(F.clock == 1000 + 180000);
	CHECK(F.nechoed == 0);
}

TEST(test_heartbeat_wrong_byte_eof_silent)
{
	fake_reset();
	fake_conn(16, 0x42);
	heartbeat_case("heartbeat byte 0x42, want 0xb7");
	CHECK(F.nechoed == 0);

	fake_reset();
	fake_conn(16, -1);
	heartbeat_case("closed the heartbeat connection without a byte");

	fake_reset();
	fake_conn(16, -2);
	heartbeat_case("connected but sent no heartbeat byte in time");
	CHECK(F.clock == 1000 + 180000);
}

TEST(test_heartbeat_wrong_cid)
{
	struct kiln_nitro_launch req = base_req();
	struct kiln_nitro_enclave enc;

	/* a stray connection is dropped; the deadline still holds */
	fake_reset();
	fake_conn(99, 0xB7);
	heartbeat_case("ignored a connection from CID 99, expected CID 16");
	CHECK(F.nechoed == 0);
	CHECK(count(ACCEPT, 0) == 2);
	CHECK(F.clock == 1000 + 180000);

	/* and when the enclave does connect afterwards, it boots */
	fake_reset();
	fake_conn(99, 0xB7);
	fake_conn(16, 0xB7);
	CHECK(launch(&req, &enc) == 0);
	CHECK(F.nechoed == 1);
	CHECK(kiln_nitro_terminate(&enc) == 0);
	check_released(&enc);
}

TEST(test_heartbeat_timeout_rule)
{
	struct kiln_nitro_launch req = base_req();
	struct kiln_nitro_enclave enc;
	const uint64_t gib = UINT64_C(1) << 30;

	/* nitro-cli's calculate_necessary_timeout(eif_size, allocated_memory)
	 * (src/enclave_proc/resource_manager.rs, 1.3.2): 90 s per started
	 * 6 GiB of EIF plus 90 s per started 100 GiB of memory */
	CHECK(kiln_nitro_heartbeat_timeout_ms(1, 2 * MIB) == 180000);
	CHECK(kiln_nitro_heartbeat_timeout_ms(2 * gib, 8 * gib) == 180000);
	CHECK(kiln_nitro_heartbeat_timeout_ms(6 * gib, 100 * gib) == 180000);
	CHECK(kiln_nitro_heartbeat_timeout_ms(6 * gib + 1, 100 * gib) == 270000);
	CHECK(kiln_nitro_heartbeat_timeout_ms(6 * gib, 100 * gib + 1) == 270000);
	CHECK(kiln_nitro_heartbeat_timeout_ms(6 * gib + 1, 100 * gib + 1) == 360000);
	CHECK(kiln_nitro_heartbeat_timeout_ms(10 * gib, 300 * gib) == 450000);
	CHECK(kiln_nitro_heartbeat_timeout_ms(0, 0) == 180000);
	CHECK(kiln_nitro_heartbeat_timeout_ms(UINT64_MAX, 0) == INT32_MAX);
	CHECK(kiln_nitro_heartbeat_timeout_ms(0, UINT64_MAX) == INT32_MAX);

	fake_reset();
	req.heartbeat_timeout_ms = 5000;
	CHECK_ERR(launch(&req, &enc), "within 5.0 s");
	CHECK(F.clock == 1000 + 5000);
}

/* ---- console, messages, the real machine ---- */

TEST(test_console_connect)
{
	int fd = -1;

	fake_reset();
	CHECK(kiln_nitro_console_connect(&fake_ops, 16, &fd) == 0);
	/* with nitro-cli's 20 s connect timeout (src/utils.rs CONSOLE_CONNECT_TIMEOUT) */
	CHECK(F.calls[0].kind == CONNECT && F.calls[0].a == VMADDR_CID_HYPERVISOR &&
	      F.calls[0].b == 10016 && F.calls[0].c == 20000);
	CHECK(fd_is_open(fd));
	fake_fail(CONNECT, 0, 1, ECONNRESET);
	CHECK_ERR(kiln_nitro_console_connect(&fake_ops, 16, &fd), "not started with --debug");
	CHECK_ERR(kiln_nitro_console_connect(&fake_ops, 3, &fd), "has no console port");
	CHECK_ERR(kiln_nitro_console_connect(&fake_ops, UINT32_MAX, &fd), "has no console port");
}

/* kiln console's reader: everything the console sends, until it closes. */
TEST(test_console_copy)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	int p[2];

	CHECK(out && pipe(p) == 0);
	CHECK(write(p[1], "boot\nline 2", 11) == 11);
	close(p[1]);
	CHECK(kiln_nitro_console_copy(p[0], out) == 0);
	CHECK(len == 11 && !memcmp(text, "boot\nline 2", 11));
	CHECK_ERR(kiln_nitro_console_copy(p[1], out), "console: Bad file descriptor");
	close(p[0]);
	fclose(out);
	free(text);
}

/* The real connect's socket option: SO_VM_SOCKETS_CONNECT_TIMEOUT, level
 * AF_VSOCK, a struct timeval of 20 s (the kernel's default is 2 s). */
TEST(test_console_connect_timeout_sockopt)
{
	struct timeval tv = { 0 };
	socklen_t len = sizeof(tv);
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	CHECK(kiln_nitro_vsock_connect_timeout(null, 20000) == -ENOTSOCK);
	close(null);
	if (fd < 0) {
		fprintf(stderr, "    (no AF_VSOCK here: %s; the option is not read back)\n",
			strerror(errno));
		return;
	}
	CHECK(getsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, &len) == 0);
	CHECK(tv.tv_sec == 2); /* the default kiln used to connect with */
	CHECK(kiln_nitro_vsock_connect_timeout(fd, KILN_NITRO_CONSOLE_CONNECT_TIMEOUT_MS) == 0);
	CHECK(getsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, &len) == 0);
	CHECK(len == sizeof(tv) && tv.tv_sec == 20 && tv.tv_usec == 0);
	CHECK(kiln_nitro_vsock_connect_timeout(fd, 1500) == 0);
	CHECK(getsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, &len) == 0);
	CHECK(tv.tv_sec == 1 && tv.tv_usec == 500000);
	close(fd);
}

TEST(test_strerror_covers_every_code)
{
	for (int e = NE_ERR_VCPU_ALREADY_USED; e <= NE_ERR_INVALID_ENCLAVE_CID; e++)
		CHECK(kiln_nitro_strerror(e) != NULL);
	CHECK(kiln_nitro_strerror(0) == NULL);
	CHECK(kiln_nitro_strerror(EBUSY) == NULL);
	CHECK(kiln_nitro_strerror(NE_ERR_INVALID_ENCLAVE_CID + 1) == NULL);
}

TEST(test_available_here)
{
	int rc = kiln_nitro_available();

	if (access(KILN_NITRO_DEVICE, F_OK) == 0) {
		fprintf(stderr, "    (this machine has %s; rc %d)\n", KILN_NITRO_DEVICE, rc);
		CHECK(rc == 0 || rc == -EACCES);
		return;
	}
	CHECK_ERR(rc, "no /dev/nitro_enclaves: this machine is not a Nitro Enclaves parent "
		      "instance (");
	CHECK(rc == -ENOENT);
}

TEST(test_real_ops_fail_cleanly)
{
	const struct kiln_nitro_ops *o = &kiln_nitro_real_ops;
	uint64_t t0 = o->now_ms(NULL);
	uint64_t slot = 0;
	void *p = NULL;
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC), rc;

	CHECK(o->ioctl(NULL, fd, NE_CREATE_VM, &slot) == -ENOTTY);
	CHECK(o->close(NULL, fd) == 0);
	CHECK(o->map_hugepage(NULL, 4096, &p) == -EINVAL);
	CHECK(o->map_hugepage(NULL, 3 * MIB, &p) == -EINVAL); /* not a page size */
	rc = o->map_hugepage(NULL, 32 * MIB, &p); /* arm64's size: EINVAL where unregistered */
	CHECK(rc == 0 || rc == -ENOMEM || rc == -EINVAL);
	if (rc == 0)
		CHECK(o->unmap(NULL, p, 32 * MIB) == 0);
	rc = o->map_hugepage(NULL, 2 * MIB, &p); /* succeeds only with reserved hugepages */
	CHECK(rc == 0 || rc == -ENOMEM || rc == -EINVAL);
	if (rc == 0)
		CHECK(o->unmap(NULL, p, 2 * MIB) == 0);
	CHECK(o->now_ms(NULL) >= t0);
}

int main(void)
{
	make_tree(sysfs_x86, tree_x86);
	make_tree(sysfs_arm64, tree_arm64);
	make_tree(sysfs_arm64_64k, tree_arm64_64k);
	make_tree(sysfs_nodes, tree_nodes);
	make_tree(sysfs_empty, NULL);
	write_eif(EIF_SIZE);
	RUN(test_happy_sequence);
	RUN(test_production_mode_fixed_cid_and_cpu_ids);
	RUN(test_layout_odd_offset_across_regions);
	RUN(test_layout_driver_offset);
	RUN(test_image_does_not_fit_after_offset);
	RUN(test_gigantic_pages_first_and_fallback);
	RUN(test_hugepage_sizes_from_sysfs);
	RUN(test_arm64_32m_pages_only);
	RUN(test_arm64_64k_512m_pages);
	RUN(test_surplus_pages_given_back);
	RUN(test_memory_rules);
	RUN(test_request_rules);
	RUN(test_fail_open_and_create_vm);
	RUN(test_fail_image_load_info);
	RUN(test_fail_hugepages);
	RUN(test_fail_set_memory_region_each_code);
	RUN(test_fail_add_vcpu);
	RUN(test_fail_listen_and_start);
	RUN(test_heartbeat_timeout);
	RUN(test_heartbeat_wrong_byte_eof_silent);
	RUN(test_heartbeat_wrong_cid);
	RUN(test_heartbeat_timeout_rule);
	RUN(test_console_connect);
	RUN(test_console_copy);
	RUN(test_console_connect_timeout_sockopt);
	RUN(test_strerror_covers_every_code);
	RUN(test_available_here);
	RUN(test_real_ops_fail_cleanly);
	unlink(eif_path);
	free(eif_bytes);
	remove_tree(sysfs_x86);
	remove_tree(sysfs_arm64);
	remove_tree(sysfs_arm64_64k);
	remove_tree(sysfs_nodes);
	remove_tree(sysfs_empty);
	return t_done();
}
