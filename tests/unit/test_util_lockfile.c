/* SPDX-License-Identifier: Apache-2.0 */
/* util/lockfile.h: created 0600, exclusive against a second holder, never through a symlink. */
#include "t.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/lockfile.h"

TEST(lock_exclusive_and_shared)
{
	char dir[] = "/tmp/kiln-lockfile-XXXXXX";
	int d, a = -1, b = -1, c = -1;
	struct stat st;

	CHECK(mkdtemp(dir) != NULL);
	d = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(kiln_lockfile_at(d, "x.lock", LOCK_EX | LOCK_NB, &a) == 0);
	CHECK(fstatat(d, "x.lock", &st, 0) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(kiln_lockfile_at(d, "x.lock", LOCK_EX | LOCK_NB, &b) == -EWOULDBLOCK && b == -1);
	CHECK(kiln_lockfile_at(d, "x.lock", LOCK_SH | LOCK_NB, &b) == -EWOULDBLOCK);
	close(a);
	CHECK(kiln_lockfile_at(d, "x.lock", LOCK_SH | LOCK_NB, &b) == 0);
	CHECK(kiln_lockfile_at(d, "x.lock", LOCK_SH | LOCK_NB, &c) == 0); /* shared */
	close(b);
	close(c);
	CHECK(symlinkat("x.lock", d, "link.lock") == 0);
	CHECK_ERR(kiln_lockfile_at(d, "link.lock", LOCK_EX | LOCK_NB, &a), "link.lock:");
	CHECK(unlinkat(d, "link.lock", 0) == 0 && unlinkat(d, "x.lock", 0) == 0);
	close(d);
	CHECK(rmdir(dir) == 0);
}

int main(void)
{
	RUN(lock_exclusive_and_shared);
	return t_done();
}
