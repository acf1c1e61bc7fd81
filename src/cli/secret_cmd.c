/* SPDX-License-Identifier: Apache-2.0 */
/* kiln secret encrypt: a value from stdin -> KMS Encrypt with the host's credentials -> base64. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/creds.h"
#include "aws/kms.h"
#include "cli/cli.h"
#include "util/secure.h"

#define SECRET_MAX 4096 /* KMS Encrypt's plaintext limit */
#define TIMEOUT_DEFAULT_S 30

static int secret_usage(FILE *f)
{
	fputs("usage: kiln secret encrypt --key-id K [--region R] [--endpoint URL]\n"
	      "                           [--ca-bundle PEM] [--timeout S]\n"
	      "  Reads a value (1 to 4096 bytes, taken as is: no newline is removed) from\n"
	      "  stdin, encrypts it with AWS KMS and prints the ciphertext in base64, for a\n"
	      "  kiln.yaml secrets[].kms_ciphertext. Credentials come from AWS_ACCESS_KEY_ID,\n"
	      "  AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.\n"
	      "  -k, --key-id K      key id, ARN or alias/NAME\n"
	      "  -r, --region R      default: AWS_REGION, then AWS_DEFAULT_REGION\n"
	      "  -e, --endpoint URL  default: https://kms.REGION.amazonaws.com (e.g. kiln dev-kms)\n"
	      "  -c, --ca-bundle PEM trust these CAs instead of the system's (kiln dev-kms: its ca.pem)\n"
	      "  -t, --timeout S     overall time for the call, retries included (default 30)\n"
	      "Example: printf %s \"$DB_PASSWORD\" | kiln secret encrypt --key-id alias/app\n",
	      f);
	return f == stderr ? 2 : 0;
}

/* All of stdin, 1..SECRET_MAX bytes, into buf. */
static int read_value(uint8_t *buf, size_t *n)
{
	*n = 0;
	for (;;) {
		ssize_t r = read(STDIN_FILENO, buf + *n, SECRET_MAX + 1 - *n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kiln_err(errno, "reading stdin: %s", strerror(errno));
		if (r == 0)
			break;
		*n += (size_t)r;
		if (*n > SECRET_MAX)
			return kiln_err(EFBIG, "the value on stdin is larger than %d bytes (KMS's "
					       "limit)", SECRET_MAX);
	}
	if (*n == 0)
		return kiln_err(EINVAL, "stdin is empty: pipe the value in");
	return 0;
}

struct enc_opts {
	const char *key_id, *region, *endpoint, *ca_bundle;
	long timeout_s;
};

static int encrypt_value(const struct enc_opts *o)
{
	struct aws_creds_src creds;
	struct aws_kms *k = NULL;
	struct aws_http_client *c = NULL;
	uint8_t *buf = malloc(SECRET_MAX + 1);
	size_t n = 0;
	char *ct = NULL;

	if (!buf)
		return kiln_err(ENOMEM, "out of memory");
	int rc = aws_creds_src_env(&creds);
	if (rc == 0) {
		struct aws_kms_opts ko = { o->region, o->endpoint, o->ca_bundle,
					   (int)o->timeout_s * 1000 };
		rc = aws_kms_new(&ko, &creds, &k);
		if (rc == 0)
			rc = aws_kms_conn(k, &c);
		if (rc == 0)
			rc = read_value(buf, &n);
		if (rc == 0)
			rc = aws_kms_encrypt(k, c, o->key_id, buf, n, &ct);
		aws_http_client_free(c);
		aws_kms_free(k);
		aws_creds_src_free(&creds);
	}
	kiln_free_secret(buf, SECRET_MAX + 1);
	if (rc < 0)
		return rc;
	printf("%s\n", ct);
	free(ct);
	return fflush(stdout) == 0 ? 0 : kiln_err(EIO, "writing stdout failed");
}

static int cmd_encrypt(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key-id", required_argument, NULL, 'k' },
		{ "region", required_argument, NULL, 'r' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "ca-bundle", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct enc_opts o = { .timeout_s = TIMEOUT_DEFAULT_S };
	char *end;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "k:r:e:c:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k': o.key_id = optarg; break;
		case 'r': o.region = optarg; break;
		case 'e': o.endpoint = optarg; break;
		case 'c': o.ca_bundle = optarg; break;
		case 't':
			o.timeout_s = strtol(optarg, &end, 10);
			if (*end || end == optarg || o.timeout_s < 1 || o.timeout_s > 600) {
				fprintf(stderr, "kiln: secret encrypt: --timeout \"%s\": not a number "
						"of seconds in [1, 600]\n", optarg);
				return 2;
			}
			break;
		case 'h': return secret_usage(stdout);
		default: return secret_usage(stderr);
		}
	}
	if (optind != argc || !o.key_id || !*o.key_id) {
		fprintf(stderr, "kiln: secret encrypt: %s\n",
			optind != argc ? "unexpected argument" : "--key-id is required");
		return secret_usage(stderr);
	}
	if (!o.region)
		o.region = getenv("AWS_REGION");
	if (!o.region)
		o.region = getenv("AWS_DEFAULT_REGION");
	if (!o.region) {
		fprintf(stderr, "kiln: secret encrypt: no region: give --region or set AWS_REGION\n");
		return 2;
	}
	if (encrypt_value(&o) < 0)
		return kiln_cli_fail("secret encrypt");
	return 0;
}

int kiln_cmd_secret(int argc, char **argv)
{
	if (argc < 2)
		return secret_usage(stderr);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
		return secret_usage(stdout);
	if (!strcmp(argv[1], "encrypt"))
		return cmd_encrypt(argc - 1, argv + 1);
	fprintf(stderr, "kiln: secret: unknown subcommand '%s'\n", argv[1]);
	return secret_usage(stderr);
}
