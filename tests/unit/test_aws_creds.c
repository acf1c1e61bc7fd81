/* SPDX-License-Identifier: Apache-2.0 */
/* AWS credentials: environment, and IMDSv2 against a real local HTTP server (python3). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aws/creds.h"
#include "aws/https.h"
#include "t.h"

/*
 * A stand-in for the instance metadata service: IMDSv2 only (a GET without
 * the session token from PUT /latest/api/token gets 401, a PUT without the
 * TTL header 400). The first credentials it hands out expire in 100 s (inside
 * the refresh window), the next ones in an hour. It prints its port.
 */
static const char imds_py[] =
	"import http.server, json, sys, datetime\n"
	"TOKEN = 'tok-123'\n"
	"n = [0]\n"
	"class H(http.server.BaseHTTPRequestHandler):\n"
	"    def log_message(self, *a): pass\n"
	"    def reply(self, code, body):\n"
	"        b = body.encode()\n"
	"        self.send_response(code)\n"
	"        self.send_header('Content-Length', str(len(b)))\n"
	"        self.end_headers()\n"
	"        self.wfile.write(b)\n"
	"    def do_PUT(self):\n"
	"        if self.path != '/latest/api/token' or not self.headers.get('X-aws-ec2-metadata-token-ttl-seconds'):\n"
	"            return self.reply(400, 'bad')\n"
	"        self.reply(200, TOKEN)\n"
	"    def do_GET(self):\n"
	"        if self.headers.get('X-aws-ec2-metadata-token') != TOKEN:\n"
	"            return self.reply(401, '')\n"
	"        base = '/latest/meta-data/iam/security-credentials/'\n"
	"        if self.path == base:\n"
	"            return self.reply(200, 'kiln-role\\n')\n"
	"        if self.path != base + 'kiln-role':\n"
	"            return self.reply(404, '')\n"
	"        n[0] += 1\n"
	"        ttl = 100 if n[0] == 1 else 3600\n"
	"        exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=ttl)\n"
	"        self.reply(200, json.dumps({'Code': 'Success', 'Type': 'AWS-HMAC',\n"
	"            'AccessKeyId': 'ASIAFETCH%d' % n[0], 'SecretAccessKey': 'sk%d' % n[0],\n"
	"            'Token': 'session-token-%d' % n[0],\n"
	"            'Expiration': exp.strftime('%Y-%m-%dT%H:%M:%SZ')}))\n"
	"s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
	"print(s.server_address[1], flush=True)\n"
	"s.serve_forever()\n";

static pid_t imds_pid = -1;

static int start_imds(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	imds_pid = fork();
	if (imds_pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		/* Debian's python3, not whatever shim comes first in PATH. */
		execl("/usr/bin/python3", "python3", "-c", imds_py, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char buf[16] = "";
	size_t got = 0;
	while (got < sizeof(buf) - 1 && !strchr(buf, '\n')) {
		ssize_t n = read(p[0], buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	/* The read end stays open: python3 keeps a working stdout. */
	return atoi(buf) > 0 ? atoi(buf) : -1;
}

TEST(test_imds)
{
	int port = start_imds();
	char url[64];
	struct aws_creds_src s;
	struct aws_creds c;
	CHECK(port > 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	CHECK(aws_creds_src_imds(&s, url) == 0);
	int64_t dl = aws_now_ms() + 10000;
	/* First: fetched; it expires within the refresh window ... */
	CHECK(aws_creds_get(&s, dl, &c) == 0);
	CHECK(strcmp(c.access_key_id, "ASIAFETCH1") == 0 && strcmp(c.secret_access_key, "sk1") == 0);
	CHECK(c.session_token && strcmp(c.session_token, "session-token-1") == 0);
	CHECK(c.expiration > time(NULL) && c.expiration <= time(NULL) + 101);
	aws_creds_clear(&c);
	/* ... so the next use refreshes; those last an hour and are kept. */
	CHECK(aws_creds_get(&s, dl, &c) == 0 && strcmp(c.access_key_id, "ASIAFETCH2") == 0);
	aws_creds_clear(&c);
	CHECK(aws_creds_get(&s, dl, &c) == 0 && strcmp(c.access_key_id, "ASIAFETCH2") == 0);
	aws_creds_clear(&c);
	CHECK(s.fetches == 2);
	aws_creds_src_free(&s);
	/* IMDS gone: a clear error naming the step. */
	kill(imds_pid, SIGTERM);
	waitpid(imds_pid, NULL, 0);
	CHECK(aws_creds_src_imds(&s, url) == 0);
	memset(&c, 0xaa, sizeof(c)); /* whatever the caller had: cleared even on failure */
	CHECK_ERR(aws_creds_get(&s, aws_now_ms() + 3000, &c), "IMDS PUT /latest/api/token");
	CHECK(c.session_token == NULL && c.access_key_id[0] == '\0');
	aws_creds_clear(&c);
	aws_creds_src_free(&s);
	CHECK_ERR(aws_creds_src_imds(&s, "https://169.254.169.254"), "plain http");
}

TEST(test_env)
{
	struct aws_creds_src s;
	struct aws_creds c;
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SESSION_TOKEN");
	setenv("AWS_SECRET_ACCESS_KEY", "x", 1);
	CHECK_ERR(aws_creds_src_env(&s), "AWS_ACCESS_KEY_ID");
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	CHECK(aws_creds_src_env(&s) == 0);
	CHECK(aws_creds_get(&s, aws_now_ms() + 1000, &c) == 0);
	CHECK(strcmp(c.access_key_id, "AKIDENV") == 0 && !c.session_token && c.expiration == 0);
	aws_creds_clear(&c);
	aws_creds_src_free(&s);
	setenv("AWS_SESSION_TOKEN", "tok", 1);
	CHECK(aws_creds_src_env(&s) == 0 && s.cur.session_token &&
	      strcmp(s.cur.session_token, "tok") == 0);
	aws_creds_src_free(&s);
	setenv("AWS_ACCESS_KEY_ID", "AK ID", 1);
	CHECK_ERR(aws_creds_src_env(&s), "bad character");
}

int main(void)
{
	RUN(test_env);
	if (access("/usr/bin/python3", X_OK) == 0)
		RUN(test_imds);
	else
		fprintf(stderr, "  skip test_imds: no /usr/bin/python3 (scripts/deps installs it)\n");
	if (imds_pid > 0) {
		kill(imds_pid, SIGTERM);
		waitpid(imds_pid, NULL, 0);
	}
	return t_done();
}
