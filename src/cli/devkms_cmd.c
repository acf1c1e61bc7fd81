/* SPDX-License-Identifier: Apache-2.0 */
/* kiln dev-kms: run the local KMS (src/devkms/) in the foreground. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "devkms/devkms.h"

static const char usage_text[] =
	"usage: kiln dev-kms --listen ADDR:PORT --state-dir DIR\n"
	"                    [--access-key-id ID --secret-access-key KEY] [--root PEM ...]\n"
	"\n"
	"A local AWS KMS for sim and CI: the KMS JSON API over HTTPS (CA in DIR/ca.pem),\n"
	"SigV4 with the given credentials (default: the test pair in docs/dev-kms.md),\n"
	"keys in DIR/keys, key policies with kms:RecipientAttestation conditions checked\n"
	"against attestation documents from the AWS root or a --root (e.g. the sim CA).\n"
	"Runs in the foreground until SIGINT or SIGTERM.\n";

int kiln_cmd_dev_kms(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "access-key-id", required_argument, NULL, 'a' },
		{ "secret-access-key", required_argument, NULL, 'k' },
		{ "root", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = NULL, *dir = NULL, *akid = NULL, *secret = NULL;
	const char *roots[KILN_DEVKMS_MAX_ROOTS + 1];
	size_t nroots = 0;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 's': dir = optarg; break;
		case 'a': akid = optarg; break;
		case 'k': secret = optarg; break;
		case 'r':
			if (nroots == KILN_DEVKMS_MAX_ROOTS) {
				fprintf(stderr, "kiln: dev-kms: at most %d --root\n", KILN_DEVKMS_MAX_ROOTS);
				return 2;
			}
			roots[nroots++] = optarg;
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (!listen || !dir || optind != argc) {
		fprintf(stderr, "kiln: dev-kms: %s\n%s",
			optind != argc ? "unexpected argument" : "--listen and --state-dir are required",
			usage_text);
		return 2;
	}
	struct kiln_devkms d;
	int rc = kiln_devkms_init(&d, dir, akid, secret, roots, nroots);
	if (rc == 0)
		rc = kiln_devkms_serve(&d, listen);
	if (rc < 0) {
		kiln_devkms_free(&d);
		return kiln_cli_fail("dev-kms");
	}
	kiln_devkms_free(&d);
	return 0;
}
