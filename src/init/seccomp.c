/* SPDX-License-Identifier: Apache-2.0 */
/* The app's isolation from the parent's channels: a classic-BPF seccomp filter and a smaller capability set. */
#include "init/seccomp.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

/*
 * How this works. On Nitro the parent tells enclaves apart by CID only, so
 * any process in the enclave that can open AF_VSOCK can speak to the
 * parent's channels as kiln-init does (egress without the allowlist, a
 * forged HELLO). The app's tree therefore must not create AF_VSOCK sockets.
 * The filter looks at the architecture first (a syscall number means
 * something else in each ABI), then at the syscall number and, for socket()
 * and socketpair(), at the low 32 bits of the first argument (the kernel
 * reads the domain as an int). Per ABI the checks are the same 12
 * instructions, with numbers from its own table; a number an ABI lacks is
 * NONE, which no syscall has.
 */

#define NONE 0xFFFFFFFFu
#define X32_BIT 0x40000000u /* __X32_SYSCALL_BIT */
#define ABI_LEN 12	    /* instructions in abi_block() */

struct abi {
	uint32_t arch;
	uint32_t first_bad; /* numbers from here on are refused (x32), or NONE */
	uint32_t socket, socketpair, socketcall, io_uring_setup;
};

#if defined(__x86_64__)
static const struct abi native = { AUDIT_ARCH_X86_64, X32_BIT, 41, 53, NONE, 425 };
/* i386 on x86_64: socket and socketpair exist beside socketcall, whose
 * arguments sit in memory where a filter cannot read them: socketcall gets
 * ENOSYS, so a 32-bit program that makes its sockets through it needs
 * app.allow_vsock. */
static const struct abi compat = { AUDIT_ARCH_I386, NONE, 359, 360, 102, 425 };
#elif defined(__aarch64__)
static const struct abi native = { AUDIT_ARCH_AARCH64, NONE, 198, 199, NONE, 425 };
/* AArch32 EABI has no socketcall. */
static const struct abi compat = { AUDIT_ARCH_ARM, NONE, 281, 288, NONE, 425 };
#else
#error "kiln-init's seccomp filter knows x86_64 and aarch64 only"
#endif

#define LD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define JEQ(k, jt, jf) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (jt), (jf))
#define JGE(k, jt, jf) BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (k), (jt), (jf))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))

/* Little-endian (both ABIs): the low word of args[0] comes first. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "ARG0_LO assumes little-endian");
#define ARG0_LO offsetof(struct seccomp_data, args[0])

/* The checks for one ABI, entered with its architecture matched. */
static size_t abi_block(const struct abi *a, struct sock_filter *f)
{
	const struct sock_filter b[ABI_LEN] = {
		/* 0 */ LD(offsetof(struct seccomp_data, nr)),
		/* 1 */ JGE(a->first_bad, 9, 0),		/* -> 11 */
		/* 2 */ JEQ(a->socket, 4, 0),			/* -> 7 */
		/* 3 */ JEQ(a->socketpair, 3, 0),		/* -> 7 */
		/* 4 */ JEQ(a->io_uring_setup, 6, 0),		/* -> 11 */
		/* 5 */ JEQ(a->socketcall, 5, 0),		/* -> 11 */
		/* 6 */ RET(SECCOMP_RET_ALLOW),
		/* 7 */ LD(ARG0_LO),
		/* 8 */ JEQ(AF_VSOCK, 0, 1),
		/* 9 */ RET(SECCOMP_RET_ERRNO | EPERM),
		/* 10 */ RET(SECCOMP_RET_ALLOW),
		/* 11 */ RET(SECCOMP_RET_ERRNO | ENOSYS),
	};

	memcpy(f, b, sizeof(b));
	return ABI_LEN;
}

int kiln_seccomp_deny_vsock(void)
{
	struct sock_filter f[2 * (ABI_LEN + 1) + 2];
	struct sock_fprog prog = { .filter = f };
	size_t n = 0;

	f[n++] = (struct sock_filter)LD(offsetof(struct seccomp_data, arch));
	f[n++] = (struct sock_filter)JEQ(native.arch, 0, ABI_LEN);
	n += abi_block(&native, f + n);
	/* A still holds the arch here */
	f[n++] = (struct sock_filter)JEQ(compat.arch, 0, ABI_LEN);
	n += abi_block(&compat, f + n);
	f[n++] = (struct sock_filter)RET(SECCOMP_RET_KILL_PROCESS);
	prog.len = (unsigned short)n;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
		return kiln_err(errno, "seccomp filter against AF_VSOCK: %s%s", strerror(errno),
				errno == EACCES ? " (kiln-init lacks CAP_SYS_ADMIN)" : "");
	return 0;
}

/* Out of the inheritable set too: a root app's permitted set after exec is
 * its bounding set plus its inheritable set. */
static int drop_ptrace_cap(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (prctl(PR_CAPBSET_DROP, CAP_SYS_PTRACE, 0, 0, 0) < 0)
		return kiln_err(errno, "dropping CAP_SYS_PTRACE from the bounding set: %s",
				strerror(errno));
	if (syscall(SYS_capget, &h, d) < 0)
		return kiln_err(errno, "capget: %s", strerror(errno));
	d[CAP_TO_INDEX(CAP_SYS_PTRACE)].inheritable &= ~CAP_TO_MASK(CAP_SYS_PTRACE);
	if (syscall(SYS_capset, &h, d) < 0)
		return kiln_err(errno, "capset: %s", strerror(errno));
	return 0;
}

int kiln_isolate_app(void)
{
	int rc = drop_ptrace_cap();

	return rc < 0 ? rc : kiln_seccomp_deny_vsock();
}
