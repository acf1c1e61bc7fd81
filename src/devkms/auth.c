/* SPDX-License-Identifier: Apache-2.0 */
/* dev-kms authentication: SigV4 (src/aws/sigv4.c) against the configured credentials. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/sigv4.h"
#include "devkms/devkms.h"
#include "util/secure.h"

/*
 * How this works: the Authorization header names the access key, the
 * credential scope (date/region/service) and the signed headers. The key
 * must be the configured one, the service "kms" (any region: ARNs use the
 * region signed), X-Amz-Date within 15 minutes of now, and the signature
 * over the canonical request must match. A session token, when sent, is
 * part of the signature but not checked otherwise (dev-kms has no STS).
 * Errors carry the types AWS uses, so SDKs report them the same way.
 */

#define BAD_SIGNATURE                                                                          \
	"The request signature we calculated does not match the signature you provided. Check " \
	"your AWS Secret Access Key and signing method. Consult the service documentation for " \
	"details."

/* NUL-terminated copies of a span; freed by the caller. */
static char *dup_span(const struct kiln_devkms_span *s)
{
	return s ? strndup(s->p, s->len) : strdup("");
}

/* "YYYYMMDDTHHMMSSZ" -> Unix time; -1 when malformed. */
static time_t parse_amz_date(const char *s)
{
	struct tm tm = { 0 };
	const char *end;

	if (strlen(s) != 16 || !(end = strptime(s, "%Y%m%dT%H%M%SZ", &tm)) || *end)
		return -1;
	return timegm(&tm);
}

static int fail(struct kiln_devkms_resp *out, const char *type, const char *msg)
{
	kiln_devkms_resp_error(out, 400, type, msg);
	return kiln_err(EACCES, "%s: %s", type, msg);
}

/* Headers and the rest of the request as the SigV4 code takes them. */
static int verify(struct kiln_devkms *d, const struct kiln_devkms_req *r,
		  const struct aws_sigv4_authz *a, struct kiln_devkms_resp *out)
{
	struct aws_sigv4_header h[KILN_DEVKMS_MAX_HDRS];
	char *strs[2 * KILN_DEVKMS_MAX_HDRS + 3] = { 0 };
	size_t ns = 0;
	int rc = 0;

	for (size_t i = 0; i < r->nhdr; i++) {
		h[i].name = strs[ns++] = dup_span(&r->hdr[i].name);
		h[i].value = strs[ns++] = dup_span(&r->hdr[i].value);
	}
	char *method = strs[ns++] = dup_span(&r->method);
	char *path = strs[ns++] = dup_span(&r->path);
	char *query = strs[ns++] = dup_span(&r->query);
	for (size_t i = 0; i < ns; i++)
		if (!strs[i])
			rc = kiln_err(ENOMEM, "out of memory");
	struct aws_sigv4_req req = { method, path, query, h, r->nhdr, r->body, r->body_len, NULL };
	if (rc == 0 && aws_sigv4_verify(&req, a, d->secret_key, (time_t)kiln_devkms_now(d),
					KILN_DEVKMS_MAX_SKEW_S) < 0)
		rc = fail(out, "InvalidSignatureException", BAD_SIGNATURE);
	for (size_t i = 0; i < ns; i++)
		free(strs[i]);
	return rc;
}

int kiln_devkms_auth(struct kiln_devkms *d, const struct kiln_devkms_req *r, char *region,
		     size_t region_size, struct kiln_devkms_resp *out)
{
	const struct kiln_devkms_span *authz = kiln_devkms_req_header(r, "authorization");
	const struct kiln_devkms_span *date = kiln_devkms_req_header(r, "x-amz-date");
	struct aws_sigv4_authz a;
	char msg[256];

	if (!authz)
		return fail(out, "MissingAuthenticationTokenException", "Missing Authentication Token");
	char *v = dup_span(authz);
	int rc = v ? aws_sigv4_parse_authz(v, &a) : -ENOMEM;
	free(v);
	if (rc < 0)
		return fail(out, "IncompleteSignatureException", kiln_errmsg());
	if (strlen(a.access_key_id) != strlen(d->access_key_id) ||
	    kiln_ct_memcmp(a.access_key_id, d->access_key_id, strlen(a.access_key_id)))
		return fail(out, "UnrecognizedClientException",
			    "The security token included in the request is invalid.");
	if (strcmp(a.service, "kms")) {
		snprintf(msg, sizeof(msg), "Credential should be scoped to correct service: 'kms'.");
		return fail(out, "InvalidSignatureException", msg);
	}
	char *ds = date ? dup_span(date) : NULL;
	time_t t = ds ? parse_amz_date(ds) : -1;
	int64_t now = kiln_devkms_now(d);
	if (t < 0) {
		free(ds);
		return fail(out, "IncompleteSignatureException", "Authorization header requires existence of X-Amz-Date");
	}
	if (t < now - KILN_DEVKMS_MAX_SKEW_S || t > now + KILN_DEVKMS_MAX_SKEW_S) {
		char now_s[17];
		aws_sigv4_amz_date((time_t)now, now_s);
		snprintf(msg, sizeof(msg), "Signature expired: %s is now earlier than %s (%s - 15 min.)",
			 ds, now_s, now_s);
		if (t > now)
			snprintf(msg, sizeof(msg), "Signature not yet current: %s is still later than %s (%s + 15 min.)",
				 ds, now_s, now_s);
		free(ds);
		return fail(out, "InvalidSignatureException", msg);
	}
	free(ds);
	rc = verify(d, r, &a, out);
	if (rc == 0)
		snprintf(region, region_size, "%s", a.region);
	return rc;
}
