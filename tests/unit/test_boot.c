/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for kiln-bootstrap's parsers: cmdline flags, /cmd, /env, /proc/cgroups. */
#include "t.h"

/* src/boot is not in libkiln.a (it only goes into kiln-bootstrap). */
#include "boot/parse.c"

static bool flag(const char *cmdline, bool def)
{
	bool v = !def;

	CHECK(boot_cmdline_bool(cmdline, strlen(cmdline), "kiln.heartbeat", def, &v) == 0);
	return v;
}

TEST(cmdline_flags)
{
	const char *aws = "reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux "
			  "i8042.nomux i8042.nopnp i8042.dumbkbd random.trust_cpu=on";
	bool v;

	CHECK(flag(aws, true) == true);
	CHECK(flag("", true) == true);
	CHECK(flag("kiln.heartbeat=0", true) == false);
	CHECK(flag("console=ttyS0 kiln.heartbeat=off\n", true) == false);
	CHECK(flag("kiln.heartbeat=NO", true) == false);
	CHECK(flag("kiln.heartbeat=1", false) == true);
	CHECK(flag("kiln.heartbeat", false) == true);
	CHECK(flag("kiln.heartbeat=\"0\"", true) == false);
	/* the last occurrence wins */
	CHECK(flag("kiln.heartbeat=0 kiln.heartbeat=1", true) == true);
	CHECK(flag("kiln.heartbeat=1\tkiln.heartbeat=0", true) == false);
	/* look-alikes and quoted text do not count */
	CHECK(flag("kiln.heartbeatx=0 xkiln.heartbeat=0", true) == true);
	CHECK(flag("foo=\"a kiln.heartbeat=0 b\"", true) == true);
	CHECK(flag("foo=\"unterminated kiln.heartbeat=0", true) == true);
	/* after "--" the words belong to init, not the kernel */
	CHECK(flag("quiet -- kiln.heartbeat=0", true) == true);
	CHECK(flag("quiet --x kiln.heartbeat=0", true) == false);
	/* bounds: only len bytes are read, a NUL ends the line */
	CHECK(boot_cmdline_bool("kiln.heartbeat=0", 14, "kiln.heartbeat", false, &v) == 0 && v);
	CHECK(boot_cmdline_bool("a\0kiln.heartbeat=0", 18, "kiln.heartbeat", true, &v) == 0 && v);
	CHECK_ERR(boot_cmdline_bool("kiln.heartbeat=maybe", 20, "kiln.heartbeat", true, &v),
		  "not a boolean");
	CHECK_ERR(boot_cmdline_bool("kiln.heartbeat=", 15, "kiln.heartbeat", true, &v),
		  "kiln.heartbeat");
}

/* kiln.parent_cid=N: where kiln-bootstrap's heartbeat and kiln-init's channels go. */
TEST(cmdline_u32)
{
	const char *k = "kiln.parent_cid";
	uint32_t v = 0;

#define CID(s) (boot_cmdline_u32((s), strlen(s), k, 3, 1, UINT32_MAX - 1, &v) == 0 ? v : 0)
	CHECK(CID("console=ttyS0") == 3);
	CHECK(CID("kiln.parent_cid=1") == 1);
	CHECK(CID("a kiln.parent_cid=7 b kiln.parent_cid=4294967294") == 4294967294u);
	CHECK(CID("kiln.parent_cidx=1 xkiln.parent_cid=1 kiln.parent_cid") == 3);
	CHECK(CID("quiet -- kiln.parent_cid=1") == 3);
#undef CID
	CHECK_ERR(boot_cmdline_u32("kiln.parent_cid=0", 17, k, 3, 1, 9, &v), "not in [1, 9]");
	CHECK_ERR(boot_cmdline_u32("kiln.parent_cid=01", 18, k, 3, 1, 9, &v), "not a number");
	CHECK_ERR(boot_cmdline_u32("kiln.parent_cid=-1", 18, k, 3, 1, 9, &v), "not a number");
	CHECK_ERR(boot_cmdline_u32("kiln.parent_cid=", 16, k, 3, 1, 9, &v), "kiln.parent_cid");
	CHECK_ERR(boot_cmdline_u32("kiln.parent_cid=99999999999", 27, k, 3, 1, UINT32_MAX, &v),
		  "not a number");
	CHECK_ERR(boot_cmdline_u32("kiln.parent_cid=4294967295", 26, k, 3, 1, UINT32_MAX - 1, &v),
		  "not in [1,");
	/* only len bytes are read */
	CHECK(boot_cmdline_u32("kiln.parent_cid=12", 17, k, 3, 1, 9, &v) == 0 && v == 1);
}

static int parse_cmd(const char *s, struct boot_lines *l)
{
	return boot_parse_cmd(s, strlen(s), l);
}

TEST(cmd_lines)
{
	struct boot_lines l;

	CHECK(parse_cmd("/.kiln/kiln-init\n", &l) == 0);
	CHECK(l.n == 1 && strcmp(l.v[0], "/.kiln/kiln-init") == 0 && l.v[1] == NULL);
	boot_lines_free(&l);

	CHECK(parse_cmd("/bin/echo\nhello world\n\n  spaced  \nlast", &l) == 0);
	CHECK(l.n == 5);
	if (l.n == 5) {
		CHECK(strcmp(l.v[1], "hello world") == 0);
		CHECK(strcmp(l.v[2], "") == 0);
		CHECK(strcmp(l.v[3], "  spaced  ") == 0);
		CHECK(strcmp(l.v[4], "last") == 0);
		CHECK(l.v[5] == NULL);
	}
	boot_lines_free(&l);

	/* CR is data, not a line end (AWS's init keeps it too) */
	CHECK(parse_cmd("a\r\nb\n", &l) == 0);
	CHECK(l.n == 2 && strcmp(l.v[0], "a\r") == 0);
	boot_lines_free(&l);

	CHECK_ERR(parse_cmd("", &l), "no command");
	CHECK_ERR(parse_cmd("\n", &l), "empty command name");
	CHECK_ERR(parse_cmd("\nx\n", &l), "empty command name");
	CHECK_ERR(boot_parse_cmd("a\nb\0c\n", 6, &l), "line 2: NUL");
	/* only len bytes count: the NUL after them is not seen */
	CHECK(boot_parse_cmd("ab\0", 2, &l) == 0 && l.n == 1 && strcmp(l.v[0], "ab") == 0);
	boot_lines_free(&l);
}

TEST(cmd_limits)
{
	size_t n = BOOT_LINES_MAX + 1;
	char *buf = malloc(2 * n + 1);
	struct boot_lines l;

	for (size_t i = 0; i < n; i++)
		memcpy(buf + 2 * i, "x\n", 2);
	CHECK(boot_parse_cmd(buf, 2 * BOOT_LINES_MAX, &l) == 0 && l.n == BOOT_LINES_MAX);
	boot_lines_free(&l);
	CHECK_ERR(boot_parse_cmd(buf, 2 * n, &l), "lines, the limit");
	/* an unterminated extra line counts too */
	CHECK_ERR(boot_parse_cmd(buf, 2 * BOOT_LINES_MAX + 1, &l), "lines, the limit");
	free(buf);

	buf = malloc(BOOT_FILE_MAX + 1);
	memset(buf, 'a', BOOT_FILE_MAX + 1);
	CHECK(boot_parse_cmd(buf, BOOT_FILE_MAX, &l) == 0 && l.n == 1);
	CHECK(l.n == 1 && strlen(l.v[0]) == BOOT_FILE_MAX);
	boot_lines_free(&l);
	CHECK_ERR(boot_parse_cmd(buf, BOOT_FILE_MAX + 1, &l), "the limit is");
	free(buf);
}

static int parse_env(const char *s, struct boot_lines *l)
{
	return boot_parse_env(s, strlen(s), l);
}

TEST(env_lines)
{
	struct boot_lines l;

	CHECK(parse_env("A=1\n\nB=\nC=x=y z\n", &l) == 0);
	CHECK(l.n == 3 && l.v[3] == NULL);
	CHECK(boot_env_get(&l, "A") && strcmp(boot_env_get(&l, "A"), "1") == 0);
	CHECK(boot_env_get(&l, "B") && strcmp(boot_env_get(&l, "B"), "") == 0);
	CHECK(boot_env_get(&l, "C") && strcmp(boot_env_get(&l, "C"), "x=y z") == 0);
	CHECK(boot_env_get(&l, "D") == NULL);
	boot_lines_free(&l);

	CHECK(parse_env("", &l) == 0 && l.n == 0 && l.v[0] == NULL);
	boot_lines_free(&l);

	CHECK_ERR(parse_env("A=1\nNOEQUALS\n", &l), "line 2: no '='");
	CHECK_ERR(parse_env("=value\n", &l), "line 1: empty variable name");
	CHECK_ERR(boot_parse_env("A=\0\n", 4, &l), "line 1: NUL");
}

TEST(env_default_path)
{
	struct boot_lines l;

	CHECK(parse_env("TEST_VAR=hi\nPATHX=no\n", &l) == 0);
	CHECK(boot_env_default(&l, "PATH=/bin") == 0);
	CHECK(l.n == 3 && l.v[3] == NULL && strcmp(l.v[2], "PATH=/bin") == 0);
	CHECK(strcmp(l.v[0], "TEST_VAR=hi") == 0);
	/* already set: unchanged */
	CHECK(boot_env_default(&l, "PATH=/other") == 0 && l.n == 3);
	CHECK(strcmp(boot_env_get(&l, "PATH"), "/bin") == 0);
	CHECK_ERR(boot_env_default(&l, "NOEQ"), "bad default");
	boot_lines_free(&l);

	CHECK(parse_env("", &l) == 0);
	CHECK(boot_env_default(&l, "PATH=/sbin:/bin") == 0 && l.n == 1);
	boot_lines_free(&l);
}

TEST(cgroups_file)
{
	const char *f = "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
			"cpuset\t0\t1\t1\n"
			"cpu\t0\t1\t1\n"
			"memory\t0\t1\t0\n"
			"pids\t0\t1\t1\n";
	struct boot_lines l;

	CHECK(boot_parse_cgroups(f, strlen(f), &l) == 0);
	CHECK(l.n == 3 && l.v[3] == NULL);
	if (l.n == 3)
		CHECK(!strcmp(l.v[0], "cpuset") && !strcmp(l.v[1], "cpu") && !strcmp(l.v[2], "pids"));
	boot_lines_free(&l);

	CHECK(boot_parse_cgroups("", 0, &l) == 0 && l.n == 0);
	boot_lines_free(&l);
	CHECK_ERR(boot_parse_cgroups("cpu 0 1\n", 8, &l), "malformed");
	CHECK_ERR(boot_parse_cgroups("cpu 0 1 1 9\n", 12, &l), "malformed");
	CHECK_ERR(boot_parse_cgroups("../x 0 1 1\n", 11, &l), "malformed");
	CHECK_ERR(boot_parse_cgroups("cpu 0 1 yes\n", 12, &l), "malformed");
}

int main(void)
{
	RUN(cmdline_flags);
	RUN(cmdline_u32);
	RUN(cmd_lines);
	RUN(cmd_limits);
	RUN(env_lines);
	RUN(env_default_path);
	RUN(cgroups_file);
	return t_done();
}
