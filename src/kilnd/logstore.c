/* SPDX-License-Identifier: Apache-2.0 */
/* Per-enclave log files: JSON-lines records, size-capped with one rotated file. */
#include "kilnd/internal.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * STATE/logs/NAME.log holds one JSON object per line:
 *   {"ts":NS,"seq":N,"stream":"stdout"|"stderr"|"kiln-init","line":"..."[,"partial":true]}
 *   {"ts":NS,"stream":"kilnd","event":"...","line":"..."}   (kilnd's own notes)
 * When appending would pass the cap, NAME.log becomes NAME.log.1 (replacing
 * the previous one) and a new NAME.log starts: at most twice the cap on disk.
 */

int kd_logs_paths(struct kd *d, const char *name, char *cur, char *old, size_t len)
{
	int n = snprintf(cur, len, "%s/logs/%s.log", d->state_dir, name);

	if (n < 0 || (size_t)n + 2 >= len)
		return kiln_err(ENAMETOOLONG, "log path for %s too long", name);
	snprintf(old, len, "%s.1", cur);
	return 0;
}

static int open_cur(struct kd *d, struct kd_enclave *e)
{
	char cur[PATH_MAX + 80], old[PATH_MAX + 80];
	struct stat st;
	int rc = kd_logs_paths(d, e->name, cur, old, sizeof(cur));

	if (rc < 0)
		return rc;
	e->log_fd = open(cur, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (e->log_fd < 0)
		return kiln_err(errno, "%s: %s", cur, strerror(errno));
	e->log_size = fstat(e->log_fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return 0;
}

/* A record cut short by a crash must not glue onto the next one. */
static void end_torn_line(struct kd_enclave *e)
{
	char last = '\n';

	if (e->log_size && pread(e->log_fd, &last, 1, (off_t)e->log_size - 1) == 1 &&
	    last != '\n' && write(e->log_fd, "\n", 1) == 1)
		e->log_size++;
}

#define SEQ_SCAN (256 * 1024) /* the tail searched for the last seq: many records */

/* The highest "seq" among the whole records in path's last SEQ_SCAN bytes; 0: none. */
static uint64_t file_last_seq(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char *buf = fd < 0 ? NULL : malloc(SEQ_SCAN);
	off_t size = fd < 0 ? 0 : lseek(fd, 0, SEEK_END);
	off_t off = size > SEQ_SCAN ? size - SEQ_SCAN : 0;
	ssize_t n = buf ? pread(fd, buf, SEQ_SCAN, off) : -1;
	uint64_t last = 0;
	char *p = buf, *end = buf + (n > 0 ? n : 0), *nl;

	if (off > 0 && n > 0 && (nl = memchr(p, '\n', (size_t)(end - p))))
		p = nl + 1; /* the first line may be a record's tail */
	while (n > 0 && p < end && (nl = memchr(p, '\n', (size_t)(end - p)))) {
		json_t *o = json_loadb(p, (size_t)(nl - p), 0, NULL);
		json_t *seq = json_object_get(o, "seq");

		if (json_is_integer(seq) && json_integer_value(seq) > 0 &&
		    (uint64_t)json_integer_value(seq) > last)
			last = (uint64_t)json_integer_value(seq);
		json_decref(o);
		p = nl + 1;
	}
	free(buf);
	if (fd >= 0)
		close(fd);
	return last;
}

/*
 * kilnd killed (SIGKILL, a crash) persists last_seq only with the state
 * file, at HELLO: the records it stored since are in the log. kiln-init
 * resends from the seq kilnd acknowledges on reconnecting, so that seq must
 * be the log's, or the lines stored before the kill would be stored twice.
 */
void kd_logs_recover_seq(struct kd *d, struct kd_enclave *e)
{
	char cur[PATH_MAX + 80], old[PATH_MAX + 80];
	uint64_t seq;

	if (kd_logs_paths(d, e->name, cur, old, sizeof(cur)) < 0)
		return;
	seq = file_last_seq(cur);
	if (!seq)
		seq = file_last_seq(old); /* rotated just before the kill */
	if (seq > e->last_seq)
		e->last_seq = seq;
}

int kd_logs_open(struct kd *d, struct kd_enclave *e)
{
	int rc = open_cur(d, e);

	if (rc == 0)
		end_torn_line(e);
	return rc;
}

void kd_logs_close(struct kd_enclave *e)
{
	if (e->log_fd >= 0)
		close(e->log_fd);
	e->log_fd = -1;
}

static void rotate(struct kd *d, struct kd_enclave *e)
{
	char cur[PATH_MAX + 80], old[PATH_MAX + 80];

	if (kd_logs_paths(d, e->name, cur, old, sizeof(cur)) < 0)
		return;
	kd_logs_close(e);
	if (rename(cur, old) < 0)
		kd_log("enclave %s: rotate %s: %s", e->name, cur, strerror(errno));
	if (open_cur(d, e) < 0) {
		kd_log("%s", kiln_errmsg());
		return;
	}
	kd_api_rotated(d, e, cur);
}

void kd_logs_append(struct kd *d, struct kd_enclave *e, json_t *rec)
{
	char *text = rec ? json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	size_t n;

	json_decref(rec);
	if (!text) {
		kd_log("enclave %s: cannot serialise a log record", e->name);
		return;
	}
	n = strlen(text);
	text[n++] = '\n'; /* replaces the NUL: the record is written with its newline */
	if (e->log_size && e->log_size + n > d->log_max)
		rotate(d, e);
	if (e->log_fd >= 0) {
		if (write(e->log_fd, text, n) == (ssize_t)n)
			e->log_size += n;
		else
			kd_log("enclave %s: log write: %s", e->name, strerror(errno));
	}
	kd_api_push(d, e, text, n);
	free(text);
}

void kd_logs_event(struct kd *d, struct kd_enclave *e, const char *event, json_t *extra,
		   const char *fmt, ...)
{
	json_t *rec = json_pack("{s:I,s:s,s:s}", "ts", (json_int_t)kd_now_ns(), "stream", "kilnd",
				"event", event);
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (rec) {
		json_object_set_new(rec, "line", json_string(line));
		if (extra)
			json_object_update(rec, extra);
	}
	json_decref(extra);
	kd_logs_append(d, e, rec);
}

/* ---- bytes -> valid UTF-8 JSON string ---- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		len = 2, cp = p[0] & 0x1F;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		len = 3, cp = p[0] & 0x0F;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

json_t *kd_json_bytes(const uint8_t *p, size_t n)
{
	char *out = malloc(n * 3 + 1);
	size_t o = 0;
	json_t *s;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_len(p + i, n - i);

		if (l == 0) {
			memcpy(out + o, "\xEF\xBF\xBD", 3); /* U+FFFD */
			o += 3;
			i++;
			continue;
		}
		memcpy(out + o, p + i, l);
		o += l;
		i += l;
	}
	s = json_stringn(out, o);
	free(out);
	return s;
}

json_t *kd_logs_record(const struct kiln_log *l, uint16_t flags)
{
	json_t *rec = json_pack("{s:I,s:I,s:s}", "ts", (json_int_t)l->ts_ns, "seq",
				(json_int_t)l->seq, "stream",
				l->stream == KILN_STREAM_STDERR ? "stderr" :
				l->stream == KILN_STREAM_INIT	? "kiln-init" : "stdout");

	if (!rec)
		return NULL;
	json_object_set_new(rec, "line", kd_json_bytes(l->line, l->len));
	if (flags & KILN_LOG_PARTIAL)
		json_object_set_new(rec, "partial", json_true());
	return rec;
}
