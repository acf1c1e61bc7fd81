/* SPDX-License-Identifier: Apache-2.0 */
/* AWS credentials: static (environment or config) or the instance role through IMDSv2. */
#ifndef KILN_AWS_CREDS_H
#define KILN_AWS_CREDS_H

#include <pthread.h>
#include <stdint.h>

#include "aws/sigv4.h"

/* Refresh this long before the role credentials' Expiration. */
#define AWS_CREDS_REFRESH_S 300
#define AWS_IMDS_TOKEN_TTL_S 21600

enum aws_creds_kind { AWS_CREDS_STATIC, AWS_CREDS_IMDS };

struct aws_creds_src {
	enum aws_creds_kind kind;
	char imds[256]; /* base URL, http://169.254.169.254 */
	pthread_mutex_t mu;
	struct aws_creds cur; /* static, or the last fetched (expiration set) */
	int fetches;	      /* IMDS fetches so far (tests) */
};

/* Static credentials; session_token may be NULL. Nothing is logged. */
int aws_creds_src_static(struct aws_creds_src *s, const char *akid, const char *secret,
			 const char *session_token) KILN_MUST;
/* From AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optional AWS_SESSION_TOKEN. */
int aws_creds_src_env(struct aws_creds_src *s) KILN_MUST;
/* The instance role through IMDSv2 at base_url (NULL: http://169.254.169.254). */
int aws_creds_src_imds(struct aws_creds_src *s, const char *base_url) KILN_MUST;
/*
 * A copy of the current credentials (aws_creds_clear() it), fetched or
 * refreshed first when they expire within AWS_CREDS_REFRESH_S of now.
 * Thread safe.
 */
int aws_creds_get(struct aws_creds_src *s, int64_t deadline, struct aws_creds *out) KILN_MUST;
void aws_creds_src_free(struct aws_creds_src *s);

#endif
