/* SPDX-License-Identifier: Apache-2.0 */
/* kiln run --nitro's wiring against a small fake device: the started hook, holding, signals. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/nitro_enclaves.h>

#include "eif/writer.h"
#include "nitro/nitro.h"
#include "t.h"

#define MIB (UINT64_C(1) << 20)

/*
 * The fake: NE_CREATE_VM hands out the read end of a pipe as the enclave fd,
 * so that poll() on it works; closing the write end is "the enclave ended"
 * (POLLHUP). Only 2 MiB pages exist. Events are logged in order as letters:
 * S start, H started hook, A heartbeat accept, T enclave fd closed.
 */
struct fake {
	char events[32];
	int enclave_rd, enclave_wr;
	uint64_t hook_cid;
	int hook_rc;
	int end_at_heartbeat;	/* 1: close the write end; 2: queue a SIGTERM */
	int maps;
};

static struct fake F;

static void ev(char c)
{
	size_t n = strlen(F.events);

	if (n + 1 < sizeof(F.events))
		F.events[n] = c;
}

static int f_open(void *ctx, int *fd)
{
	*fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	return *fd < 0 ? -errno : 0;
}

static int f_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
	int p[2];

	switch (req) {
	case NE_CREATE_VM:
		if (pipe2(p, O_CLOEXEC) < 0)
			return -errno;
		F.enclave_rd = p[0];
		F.enclave_wr = p[1];
		*(uint64_t *)arg = 7;
		return p[0];
	case NE_GET_IMAGE_LOAD_INFO:
		((struct ne_image_load_info *)arg)->memory_offset = 2 * MIB;
		return 0;
	case NE_START_ENCLAVE:
		ev('S');
		((struct ne_enclave_start_info *)arg)->enclave_cid = 17;
		return 0;
	default:
		return 0;
	}
}

static int f_map(void *ctx, uint64_t size, void **addr)
{
	void *p;

	if (size != KILN_NITRO_PAGE_2M)
		return -ENOMEM;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	F.maps++;
	*addr = p;
	return 0;
}

static int f_unmap(void *ctx, void *addr, uint64_t len)
{
	F.maps--;
	return munmap(addr, len) < 0 ? -errno : 0;
}

static int f_close(void *ctx, int fd)
{
	if (fd == F.enclave_rd) {
		ev('T');
		if (F.enclave_wr >= 0)
			close(F.enclave_wr);
		F.enclave_wr = -1;
	}
	return close(fd) < 0 ? -errno : 0;
}

static int f_listen(void *ctx, uint32_t cid, uint32_t port, int *fd)
{
	return f_open(ctx, fd);
}

static int f_accept(void *ctx, int lfd, int timeout_ms, int *fd, uint32_t *peer)
{
	ev('A');
	*peer = 17;
	return f_open(ctx, fd);
}

static int f_connect(void *ctx, uint32_t cid, uint32_t port, int *fd)
{
	return -ECONNREFUSED;
}

static ssize_t f_read(void *ctx, int fd, void *buf, size_t len, int timeout_ms)
{
	*(uint8_t *)buf = KILN_NITRO_HEARTBEAT_BYTE;
	if (F.end_at_heartbeat == 1) {
		close(F.enclave_wr);
		F.enclave_wr = -1;
	} else if (F.end_at_heartbeat == 2) {
		kill(getpid(), SIGTERM); /* blocked by kiln_nitro_run: stays pending */
	}
	return 1;
}

static ssize_t f_write(void *ctx, int fd, const void *buf, size_t len)
{
	return (ssize_t)len;
}

static uint64_t f_now(void *ctx)
{
	return 1000;
}

static const struct kiln_nitro_ops fake_ops = {
	.open_dev = f_open, .ioctl = f_ioctl, .map_hugepage = f_map, .unmap = f_unmap,
	.close = f_close, .vsock_listen = f_listen, .vsock_accept = f_accept,
	.vsock_connect = f_connect, .read = f_read, .write = f_write, .now_ms = f_now,
};

static char eif_path[64];

static void fake_reset(void)
{
	memset(&F, 0, sizeof(F));
	F.enclave_rd = F.enclave_wr = -1;
}

static int hook(void *arg, uint64_t cid)
{
	ev('H');
	F.hook_cid = cid;
	return F.hook_rc ? kiln_err(-F.hook_rc, "kilnd: name x is in use") : 0;
}

TEST(started_hook_before_heartbeat)
{
	struct kiln_nitro_launch req = { .eif_path = eif_path, .memory_mib = 8, .cpus = 1,
					 .started = hook };
	struct kiln_nitro_enclave enc;

	fake_reset();
	CHECK(kiln_nitro_launch(&fake_ops, &req, &enc) == 0);
	CHECK(!strcmp(F.events, "SHA"));
	CHECK(F.hook_cid == 17 && enc.cid == 17);
	CHECK(kiln_nitro_terminate(&enc) == 0);
	CHECK(F.maps == 0);
}

TEST(started_hook_failure_terminates)
{
	struct kiln_nitro_launch req = { .eif_path = eif_path, .memory_mib = 8, .cpus = 1,
					 .started = hook };
	struct kiln_nitro_enclave enc;

	fake_reset();
	F.hook_rc = -EEXIST;
	CHECK_ERR(kiln_nitro_launch(&fake_ops, &req, &enc),
		  "enclave CID 17 was terminated: kilnd: name x is in use");
	CHECK(!strcmp(F.events, "SHT")); /* no heartbeat wait; the enclave fd closed */
	CHECK(F.maps == 0 && enc.enclave_fd == -1);
}

TEST(run_holds_until_the_enclave_ends)
{
	struct kiln_nitro_run r = { .eif_path = eif_path, .name = "n1", .report_fd = -1 };

	fake_reset();
	F.end_at_heartbeat = 1;
	CHECK(kiln_nitro_run(&fake_ops, &r) == 0); /* no kilnd: exit code unknown, 0 */
	CHECK(!strcmp(F.events, "SAT"));
	CHECK(F.maps == 0);
}

TEST(run_sigterm_terminates)
{
	struct kiln_nitro_run r = { .eif_path = eif_path, .name = "n2", .report_fd = -1 };
	int p[2];
	char buf[32] = "";

	fake_reset();
	F.end_at_heartbeat = 2;
	CHECK(pipe(p) == 0);
	r.report_fd = p[1];
	CHECK(kiln_nitro_run(&fake_ops, &r) == 128 + SIGTERM);
	CHECK(read(p[0], buf, sizeof(buf) - 1) > 0 && !strcmp(buf, "ok -\n"));
	close(p[0]);
	CHECK(!strcmp(F.events, "SAT"));
	CHECK(F.maps == 0);
}

TEST(run_errors)
{
	struct kiln_nitro_run r = { .eif_path = "/nonexistent.eif", .name = "n3",
				    .report_fd = -1 };
	char bad[80];
	int fd;

	CHECK_ERR(kiln_nitro_run(&fake_ops, &r), "EIF /nonexistent.eif: not found");
	snprintf(bad, sizeof(bad), "%s.bad", eif_path);
	fd = open(bad, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, ".eif", 4) == 4);
	close(fd);
	r.eif_path = bad;
	CHECK_ERR(kiln_nitro_run(&fake_ops, &r), "corrupt EIF");
	unlink(bad);
	/* --memory is rounded up to whole 2 MiB pages, then checked by the launch. */
	r.eif_path = eif_path;
	r.memory_mib = 1;
	fake_reset();
	CHECK_ERR(kiln_nitro_run(&fake_ops, &r), "EIF does not fit: load offset 2097152");
	CHECK(!strchr(F.events, 'S')); /* never started */
}

static int make_eif(void)
{
	static const char kernel[4096], cmdline[] = "console=ttyS0";
	static uint8_t ramdisk[8192];
	struct eif_writer *w = NULL;
	int rc = eif_writer_open(eif_path, &w);

	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_KERNEL, kernel, sizeof(kernel));
	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_CMDLINE, cmdline, strlen(cmdline));
	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_METADATA, "{}", 2);
	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_RAMDISK, ramdisk, sizeof(ramdisk));
	if (rc == 0)
		rc = eif_writer_section(w, EIF_SECTION_RAMDISK, ramdisk, sizeof(ramdisk));
	if (rc == 0)
		rc = eif_writer_commit(w, 8 * MIB, 1, 0, NULL);
	eif_writer_free(w);
	return rc;
}

int main(void)
{
	int rc;

	snprintf(eif_path, sizeof(eif_path), "/tmp/kiln-nitro-run-%d.eif", (int)getpid());
	if (make_eif() < 0) {
		fprintf(stderr, "cannot build the test EIF: %s\n", kiln_errmsg());
		return 1;
	}
	RUN(started_hook_before_heartbeat);
	RUN(started_hook_failure_terminates);
	RUN(run_holds_until_the_enclave_ends);
	RUN(run_sigterm_terminates);
	RUN(run_errors);
	rc = t_done();
	unlink(eif_path);
	return rc;
}
