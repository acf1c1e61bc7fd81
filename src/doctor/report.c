/* SPDX-License-Identifier: Apache-2.0 */
/* kiln doctor's lines: collecting them, helpers the checks share, text and JSON output. */
#include "doctor/doctor.h"

#include <ctype.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"

int kiln_doc_add(struct kiln_doc *d, const char *id, unsigned mode, enum kiln_doc_status st,
		 const char *fix, const char *fmt, ...)
{
	struct kiln_doc_line *l;
	va_list ap;

	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 32;
		void *p = realloc(d->lines, cap * sizeof(*d->lines));

		if (!p)
			return kiln_err(ENOMEM, "out of memory");
		d->lines = p;
		d->cap = cap;
	}
	l = &d->lines[d->n++];
	memset(l, 0, sizeof(*l));
	snprintf(l->id, sizeof(l->id), "%s", id);
	l->mode = mode;
	l->status = st;
	snprintf(l->fix, sizeof(l->fix), "%s", fix ? fix : "");
	va_start(ap, fmt);
	vsnprintf(l->msg, sizeof(l->msg), fmt, ap);
	va_end(ap);
	return 0;
}

int kiln_doc_path(const struct kiln_doc *d, const char *abs, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%s", d->root, abs);

	if (n < 0 || (size_t)n >= len)
		return kiln_err(ENAMETOOLONG, "path too long: %s%s", d->root, abs);
	return 0;
}

int kiln_doc_read_line(const char *path, char *buf, size_t len)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");

	buf[0] = '\0';
	if (!f)
		return kiln_err(errno, "%s: %s", path, strerror(errno));
	if (!fgets(buf, (int)len, f) && ferror(f))
		return kiln_err(EIO, "%s: read error", path);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int kiln_doc_read_u64(const char *path, uint64_t *v)
{
	char line[64], *end;
	int rc = kiln_doc_read_line(path, line, sizeof(line));

	if (rc < 0)
		return rc;
	errno = 0;
	*v = strtoull(line, &end, 10);
	if (!isdigit((unsigned char)line[0]) || *end || errno)
		return kiln_err(EINVAL, "%s: not a number: \"%s\"", path, line);
	return 0;
}

int kiln_doc_in_child(int (*fn)(void *arg), void *arg)
{
	char msg[1024] = "";
	int p[2], status, rc = 0;
	ssize_t got = 0, n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return kiln_err(errno, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		rc = kiln_err(errno, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return rc;
	}
	if (pid == 0) {
		close(p[0]);
		rc = fn(arg);
		snprintf(msg, sizeof(msg), "%d %s", rc, rc < 0 ? kiln_errmsg() : "");
		(void)!write(p[1], msg, strlen(msg));
		_exit(0);
	}
	close(p[1]);
	while (got < (ssize_t)sizeof(msg) - 1 &&
	       ((n = read(p[0], msg + got, sizeof(msg) - 1 - (size_t)got)) > 0 ||
		(n < 0 && errno == EINTR)))
		got += n > 0 ? n : 0;
	msg[got] = '\0';
	close(p[0]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || sscanf(msg, "%d", &rc) != 1)
		return kiln_err(EIO, "the probe process died");
	if (rc < 0)
		return kiln_err(-rc, "%s", strchr(msg, ' ') ? strchr(msg, ' ') + 1 : "failed");
	return 0;
}

/* One CPU number of a list; advances *p. */
static int cpu_num(const char **p, unsigned long *v)
{
	char *end;

	if (!isdigit((unsigned char)**p))
		return -EINVAL;
	errno = 0;
	*v = strtoul(*p, &end, 10);
	if (errno || *v > 65535)
		return -EINVAL;
	*p = end;
	return 0;
}

int kiln_doc_cpu_count(const char *list, unsigned *n)
{
	const char *p = list;

	*n = 0;
	while (*p == ' ')
		p++;
	while (*p) {
		unsigned long a, b;

		if (cpu_num(&p, &a) < 0)
			return kiln_err(EINVAL, "malformed CPU list \"%s\"", list);
		b = a;
		if (*p == '-') {
			p++;
			if (cpu_num(&p, &b) < 0 || b < a)
				return kiln_err(EINVAL, "malformed CPU list \"%s\"", list);
		}
		*n += (unsigned)(b - a + 1);
		if (*p == ',')
			p++;
		else if (*p && *p != ' ')
			return kiln_err(EINVAL, "malformed CPU list \"%s\"", list);
		while (*p == ' ')
			p++;
	}
	return 0;
}

const char *kiln_doc_status_name(enum kiln_doc_status st)
{
	switch (st) {
	case KILN_DOC_OK: return "ok";
	case KILN_DOC_WARN: return "warn";
	case KILN_DOC_FAIL: return "fail";
	case KILN_DOC_SKIP: return "skip";
	default: return "?";
	}
}

static const char *mode_name(unsigned m)
{
	switch (m) {
	case KILN_DOC_SIM: return "sim";
	case KILN_DOC_NITRO: return "nitro";
	case KILN_DOC_BOTH: return "both";
	default: return "?";
	}
}

int kiln_doc_mode_failed(const struct kiln_doc *d, unsigned m)
{
	for (size_t i = 0; i < d->n; i++)
		if ((d->lines[i].mode & m) && d->lines[i].status == KILN_DOC_FAIL)
			return 1;
	return 0;
}

void kiln_doc_free(struct kiln_doc *d)
{
	free(d->lines);
	d->lines = NULL;
	d->n = d->cap = 0;
}

static void print_summary(const struct kiln_doc *d, unsigned m, FILE *f)
{
	size_t fails = 0;

	if (!(d->modes & m))
		return;
	for (size_t i = 0; i < d->n; i++)
		fails += (d->lines[i].mode & m) && d->lines[i].status == KILN_DOC_FAIL;
	if (fails)
		fprintf(f, "%s: not ready (%zu to fix)\n", mode_name(m), fails);
	else
		fprintf(f, "%s: ready\n", mode_name(m));
}

void kiln_doc_print_text(const struct kiln_doc *d, FILE *f)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct kiln_doc_line *l = &d->lines[i];

		fprintf(f, "%-4s  %-5s  %s\n",
			l->status == KILN_DOC_FAIL ? "FAIL" : kiln_doc_status_name(l->status),
			mode_name(l->mode), l->msg);
		if (l->fix[0])
			fprintf(f, "%13sfix: %s\n", "", l->fix);
	}
	print_summary(d, KILN_DOC_SIM, f);
	print_summary(d, KILN_DOC_NITRO, f);
}

static json_t *mode_json(const struct kiln_doc *d, unsigned m)
{
	if (!(d->modes & m))
		return json_null();
	return json_pack("{s:b}", "ready", !kiln_doc_mode_failed(d, m));
}

int kiln_doc_print_json(const struct kiln_doc *d, FILE *f)
{
	json_t *arr = json_array(), *o;
	char *text;

	for (size_t i = 0; i < d->n; i++) {
		const struct kiln_doc_line *l = &d->lines[i];

		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s?}", "id", l->id, "mode",
						     mode_name(l->mode), "status",
						     kiln_doc_status_name(l->status), "message",
						     l->msg, "fix", l->fix[0] ? l->fix : NULL));
	}
	o = json_pack("{s:s,s:o,s:o,s:o}", "version", KILN_VERSION, "sim",
		      mode_json(d, KILN_DOC_SIM), "nitro", mode_json(d, KILN_DOC_NITRO), "checks",
		      arr);
	text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (!text)
		return kiln_err(ENOMEM, "out of memory");
	fprintf(f, "%s\n", text);
	free(text);
	return 0;
}

int kiln_doc_run(struct kiln_doc *d)
{
	static const struct {
		unsigned mode;
		int (*fn)(struct kiln_doc *d);
	} checks[] = {
		{ KILN_DOC_SIM, kiln_doc_sim_namespaces },
		{ KILN_DOC_SIM, kiln_doc_sim_cgroups },
		{ KILN_DOC_SIM, kiln_doc_sim_iptables },
		{ KILN_DOC_SIM, kiln_doc_sim_overlay },
		{ KILN_DOC_SIM, kiln_doc_sim_fuse },
		{ KILN_DOC_SIM, kiln_doc_sim_kernel },
		{ KILN_DOC_SIM, kiln_doc_sim_tools },
		{ KILN_DOC_NITRO, kiln_doc_nitro_device },
		{ KILN_DOC_NITRO, kiln_doc_nitro_allocator },
		{ KILN_DOC_NITRO, kiln_doc_nitro_cpus },
		{ KILN_DOC_NITRO, kiln_doc_nitro_hugepages },
		{ KILN_DOC_NITRO, kiln_doc_nitro_service },
		{ KILN_DOC_NITRO, kiln_doc_nitro_blobs },
		{ KILN_DOC_BOTH, kiln_doc_kilnd },
	};

	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		int rc;

		if (!(checks[i].mode & d->modes))
			continue;
		rc = checks[i].fn(d);
		if (rc < 0)
			return rc;
	}
	return 0;
}
