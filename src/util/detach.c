/* SPDX-License-Identifier: Apache-2.0 */
/* kiln run -d: a background child that reports "ok ID" or "error MSG" to the waiting foreground. */
#include "util/detach.h"
#include "util/io.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define REPORT_MAX 4096
#define SAY_MAX 1024

static void become_background(void)
{
	int null;

	setsid();
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int fd = 0; null >= 0 && fd < 3; fd++)
		dup2(null, fd);
	if (null > 2)
		close(null);
}

static int print_report(int fd, const char *ended)
{
	char buf[REPORT_MAX + 1];
	size_t len;
	int code = KILN_DETACH_FAILED;

	/* A failed read still prints what came before it. */
	(void)!kiln_read_upto(fd, buf, REPORT_MAX, &len, "the report");
	buf[len] = '\0';
	for (char *line = buf, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		if (!strncmp(line, "ok ", 3)) {
			printf("%s\n", line + 3);
			code = 0;
		} else if (!strncmp(line, "error ", 6)) {
			fprintf(stderr, "kiln: run: %s\n", line + 6);
		} else {
			fprintf(stderr, "%s\n", line);
		}
	}
	if (code && !strstr(buf, "error "))
		fprintf(stderr, "kiln: run: %s\n", ended);
	return code;
}

int kiln_detach(int *report_fd, int *code, const char *ended)
{
	int p[2];
	pid_t pid;

	fflush(NULL);
	if (pipe2(p, O_CLOEXEC) < 0)
		return kiln_err(errno, "detach: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(p[0]);
		close(p[1]);
		return kiln_err(e, "detach: %s", strerror(e));
	}
	if (pid == 0) {
		close(p[0]);
		become_background();
		*report_fd = p[1];
		return 0;
	}
	close(p[1]);
	*code = print_report(p[0], ended);
	close(p[0]);
	return 1;
}

void kiln_detach_say(int report_fd, const char *fmt, ...)
{
	char line[SAY_MAX];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	len = (int)strlen(line);
	line[len++] = '\n';
	if (write(report_fd >= 0 ? report_fd : STDERR_FILENO, line, (size_t)len) < 0)
		return; /* nowhere left to say it */
}
