/* SPDX-License-Identifier: Apache-2.0 */
/* util/io.h whole reads on a real pipe: up to EOF or a bound, exactly n bytes, errors. */
#include "t.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/io.h"

TEST(read_upto_stops_at_eof_or_bound)
{
	char buf[16];
	size_t got;
	int p[2];

	CHECK(pipe(p) == 0);
	CHECK(write(p[1], "hello", 5) == 5 && write(p[1], " world", 6) == 6);
	close(p[1]);
	CHECK(kiln_read_upto(p[0], buf, sizeof(buf), &got, "pipe") == 0 && got == 11);
	CHECK(!memcmp(buf, "hello world", 11));
	close(p[0]);
	CHECK(pipe(p) == 0);
	CHECK(write(p[1], "0123456789", 10) == 10);
	CHECK(kiln_read_upto(p[0], buf, 4, &got, "pipe") == 0 && got == 4); /* the bound */
	CHECK(!memcmp(buf, "0123", 4));
	close(p[0]);
	close(p[1]);
	CHECK_ERR(kiln_read_upto(-1, buf, 4, &got, "nothing"), "nothing: read:");
	CHECK(got == 0);
}

TEST(read_exact_needs_every_byte)
{
	char buf[8];
	int p[2];

	CHECK(pipe(p) == 0);
	CHECK(write(p[1], "abcdefgh", 8) == 8);
	CHECK(kiln_read_exact(p[0], buf, 8, "pipe") == 0 && !memcmp(buf, "abcdefgh", 8));
	CHECK(write(p[1], "abc", 3) == 3);
	close(p[1]);
	CHECK(kiln_read_exact(p[0], buf, 8, "go") == -EPIPE);
	CHECK_ERR(kiln_read_exact(p[0], buf, 8, "go"), "go: 0 of 8 bytes before the end");
	close(p[0]);
}

/* Whole small files: at most max bytes, NUL-terminated, errors without the path. */
TEST(read_file_bounded)
{
	char path[] = "/tmp/kiln-test-readfile-XXXXXX", *text = (char *)"x";
	int fd = mkstemp(path);
	size_t len = 99;

	CHECK(fd >= 0);
	CHECK(kiln_read_file(path, 4, &text, &len) == 0 && len == 0 && !strcmp(text, ""));
	free(text);
	CHECK(write(fd, "abcd", 4) == 4);
	CHECK(kiln_read_file(path, 4, &text, &len) == 0 && len == 4 && !strcmp(text, "abcd"));
	free(text);
	CHECK(kiln_read_file(path, 4, &text, NULL) == 0 && !strcmp(text, "abcd"));
	free(text);
	CHECK_ERR(kiln_read_file(path, 3, &text, &len), "larger than 3 bytes");
	CHECK(text == NULL);
	close(fd);
	unlink(path);
	CHECK_ERR(kiln_read_file(path, 4, &text, &len), "No such file");
	CHECK(text == NULL && !strstr(kiln_errmsg(), path));
	CHECK_ERR(kiln_read_file("/", 4, &text, &len), "read error");
}

int main(void)
{
	RUN(read_upto_stops_at_eof_or_bound);
	RUN(read_exact_needs_every_byte);
	RUN(read_file_bounded);
	return t_done();
}
