/* SPDX-License-Identifier: Apache-2.0 */
/* AWS credentials: static ones, or IMDSv2 (token PUT, role GET, credentials GET) with refresh. */
#include "aws/creds.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/https.h"
#include "util/secure.h"

static int set_creds(struct aws_creds *c, const char *akid, const char *secret, const char *tok)
{
	if (!akid || !*akid || strlen(akid) >= sizeof(c->access_key_id))
		return kiln_err(EINVAL, "AWS credentials: bad or missing access key id");
	if (!secret || !*secret || strlen(secret) >= sizeof(c->secret_access_key))
		return kiln_err(EINVAL, "AWS credentials: bad or missing secret access key");
	for (const char *p = akid; *p; p++)
		if (*p <= ' ' || *p == '/' || *p == ',' || (unsigned char)*p >= 0x7f)
			return kiln_err(EINVAL, "AWS credentials: bad character in the access key id");
	snprintf(c->access_key_id, sizeof(c->access_key_id), "%s", akid);
	snprintf(c->secret_access_key, sizeof(c->secret_access_key), "%s", secret);
	c->session_token = NULL;
	if (tok && *tok) {
		for (const char *p = tok; *p; p++)
			if (*p < ' ' || (unsigned char)*p >= 0x7f)
				return kiln_err(EINVAL, "AWS credentials: bad session token");
		c->session_token = strdup(tok);
		if (!c->session_token)
			return kiln_err(ENOMEM, "out of memory");
	}
	return 0;
}

static void init(struct aws_creds_src *s, enum aws_creds_kind kind)
{
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	pthread_mutex_init(&s->mu, NULL);
}

int aws_creds_src_static(struct aws_creds_src *s, const char *akid, const char *secret,
			 const char *session_token)
{
	init(s, AWS_CREDS_STATIC);
	int rc = set_creds(&s->cur, akid, secret, session_token);
	if (rc < 0)
		aws_creds_src_free(s);
	return rc;
}

int aws_creds_src_env(struct aws_creds_src *s)
{
	const char *akid = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
	if (!akid || !sk)
		return kiln_err(ENOENT, "no AWS credentials: set AWS_ACCESS_KEY_ID and "
					"AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN if temporary)");
	return aws_creds_src_static(s, akid, sk, getenv("AWS_SESSION_TOKEN"));
}

int aws_creds_src_imds(struct aws_creds_src *s, const char *base_url)
{
	struct aws_url u;
	const char *base = base_url && *base_url ? base_url : "http://169.254.169.254";
	int rc = aws_url_parse(base, &u);
	if (rc == 0 && u.tls)
		rc = kiln_err(EINVAL, "IMDS endpoint %s: IMDS is plain http://", base);
	if (rc < 0)
		return rc;
	init(s, AWS_CREDS_IMDS);
	snprintf(s->imds, sizeof(s->imds), "%s", base);
	size_t l = strlen(s->imds);
	while (l && s->imds[l - 1] == '/')
		s->imds[--l] = '\0';
	return 0;
}

void aws_creds_src_free(struct aws_creds_src *s)
{
	aws_creds_clear(&s->cur);
	pthread_mutex_destroy(&s->mu);
}

static int copy(const struct aws_creds *from, struct aws_creds *to)
{
	*to = *from;
	to->session_token = NULL;
	if (from->session_token && !(to->session_token = strdup(from->session_token))) {
		aws_creds_clear(to);
		return kiln_err(ENOMEM, "out of memory");
	}
	return 0;
}

/* One IMDS request; body_out gets the answer (caller frees via resp). */
static int imds_req(struct aws_http_client *h, const struct aws_url *u, const char *method,
		    const char *path, const char *extra, int64_t deadline, struct aws_http_resp *r)
{
	char head[1024];
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: kiln\r\nContent-Length: 0\r\n"
			 "%s\r\n",
			 method, path, u->host, u->port, extra);
	if (n < 0 || (size_t)n >= sizeof(head))
		return kiln_err(EINVAL, "IMDS request too long");
	int rc = aws_http_roundtrip(h, head, NULL, 0, deadline, r);
	kiln_wipe(head, sizeof(head)); /* it may carry the IMDS token */
	if (rc < 0)
		return kiln_err_wrap(rc, "IMDS %s %s", method, path);
	if (r->status != 200) {
		int st = r->status;
		aws_http_resp_free(r);
		return kiln_err(st == 404 ? ENOENT : st == 401 || st == 403 ? EACCES : EIO,
				"IMDS %s %s: HTTP %d%s", method, path, st,
				st == 404 && strstr(path, "security-credentials")
					? " (no instance role attached?)"
					: "");
	}
	return 0;
}

static int parse_time(const char *s, time_t *t)
{
	struct tm tm = { 0 };
	const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!end || (*end != 'Z' && *end != '+' && *end != '.'))
		return kiln_err(EBADMSG, "IMDS credentials: bad Expiration");
	*t = timegm(&tm);
	return 0;
}

/* Role credentials JSON: {"Code":"Success","AccessKeyId":..,"SecretAccessKey":..,"Token":..,"Expiration":..}. */
static int parse_role_creds(const char *body, size_t len, struct aws_creds *c)
{
	json_error_t e;
	json_t *j = json_loadb(body, len, 0, &e);
	if (!json_is_object(j)) {
		json_decref(j);
		return kiln_err(EBADMSG, "IMDS credentials: not a JSON object");
	}
	const char *code = json_string_value(json_object_get(j, "Code"));
	int rc = 0;
	if (code && strcmp(code, "Success") != 0)
		rc = kiln_err(EACCES, "IMDS credentials: Code %.40s", code);
	if (rc == 0)
		rc = set_creds(c, json_string_value(json_object_get(j, "AccessKeyId")),
			       json_string_value(json_object_get(j, "SecretAccessKey")),
			       json_string_value(json_object_get(j, "Token")));
	if (rc == 0)
		rc = parse_time(json_string_value(json_object_get(j, "Expiration")), &c->expiration);
	/* jansson keeps its own copy of the secret: scrub it before freeing. */
	json_t *sk = json_object_get(j, "SecretAccessKey");
	if (json_is_string(sk))
		kiln_wipe((char *)json_string_value(sk), json_string_length(sk));
	json_decref(j);
	if (rc < 0)
		aws_creds_clear(c);
	return rc;
}

static int imds_fetch(struct aws_creds_src *s, int64_t deadline, struct aws_creds *out)
{
	struct aws_url u;
	struct aws_http_client *h = NULL;
	struct aws_http_resp r = { 0 };
	char extra[256], path[400], role[128];
	const char *base = "/latest/meta-data/iam/security-credentials/";

	int rc = aws_url_parse(s->imds, &u);
	if (rc == 0)
		rc = aws_http_client_new(&u, NULL, &h);
	if (rc == 0) {
		snprintf(extra, sizeof(extra), "X-aws-ec2-metadata-token-ttl-seconds: %d\r\n",
			 AWS_IMDS_TOKEN_TTL_S);
		rc = imds_req(h, &u, "PUT", "/latest/api/token", extra, deadline, &r);
	}
	if (rc == 0 && (r.body_len == 0 || r.body_len > 200 || strpbrk(r.body, "\r\n")))
		rc = kiln_err(EBADMSG, "IMDS token: malformed");
	if (rc == 0)
		snprintf(extra, sizeof(extra), "X-aws-ec2-metadata-token: %s\r\n", r.body);
	aws_http_resp_free(&r);
	if (rc == 0)
		rc = imds_req(h, &u, "GET", base, extra, deadline, &r);
	if (rc == 0) {
		size_t l = strcspn(r.body, "\r\n");
		if (l == 0 || l >= sizeof(role) || strspn(r.body, "abcdefghijklmnopqrstuvwxyz"
					"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-") != l)
			rc = kiln_err(EBADMSG, "IMDS: malformed role name");
		else
			snprintf(role, sizeof(role), "%.*s", (int)l, r.body);
		aws_http_resp_free(&r);
	}
	if (rc == 0) {
		snprintf(path, sizeof(path), "%s%s", base, role);
		rc = imds_req(h, &u, "GET", path, extra, deadline, &r);
	}
	if (rc == 0)
		rc = parse_role_creds(r.body, r.body_len, out);
	aws_http_resp_free(&r);
	kiln_wipe(extra, sizeof(extra));
	aws_http_client_free(h);
	return rc;
}

int aws_creds_get(struct aws_creds_src *s, int64_t deadline, struct aws_creds *out)
{
	int rc = 0;
	memset(out, 0, sizeof(*out)); /* safe to aws_creds_clear() whatever happens */
	pthread_mutex_lock(&s->mu);
	if (s->kind == AWS_CREDS_IMDS &&
	    (!s->cur.access_key_id[0] || time(NULL) + AWS_CREDS_REFRESH_S >= s->cur.expiration)) {
		struct aws_creds fresh = { 0 };
		rc = imds_fetch(s, deadline, &fresh);
		s->fetches++;
		if (rc == 0) {
			aws_creds_clear(&s->cur);
			s->cur = fresh;
		} else if (s->cur.access_key_id[0] && time(NULL) < s->cur.expiration) {
			rc = 0; /* a failed early refresh: the old ones are still good */
		}
	}
	if (rc == 0)
		rc = copy(&s->cur, out);
	pthread_mutex_unlock(&s->mu);
	return rc;
}
