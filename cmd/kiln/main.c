/* SPDX-License-Identifier: Apache-2.0 */
/* kiln: the command-line front end (build, describe-eif, pcr, attest). */
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build/build.h"
#include "cli/cli.h"
#include "util/cleanup.h"

static int usage(FILE *f)
{
	fputs("usage: kiln COMMAND [OPTIONS]\n"
	      "\n"
	      "Build and inspect enclave images (EIF):\n"
	      "  build IMAGE -o FILE.eif   container image -> reproducible EIF\n"
	      "  describe-eif FILE         header, sections, CRC, PCRs, metadata (JSON)\n"
	      "  pcr FILE                  recompute the PCRs of an EIF\n"
	      "Run enclaves:\n"
	      "  run [--sim|--nitro] FILE  start an enclave from an EIF\n"
	      "  ps [--all] [--json]       list enclaves (kilnd)\n"
	      "  logs [-f] NAME            an enclave's stdout and stderr\n"
	      "  stop [--timeout S] NAME   stop an enclave (signal, then kill)\n"
	      "  rm NAME                   forget a finished enclave and its logs\n"
	      "  console NAME              a debug-mode enclave's console\n"
	      "  launch [--sim|--nitro]    entrypoint of --output-image images (Pods)\n"
	      "Attestation:\n"
	      "  attest verify DOC         verify an attestation document\n"
	      "  attest show DOC           print a decoded attestation document\n"
	      "Secrets:\n"
	      "  secret encrypt --key-id K value on stdin -> KMS ciphertext (base64)\n"
	      "Host:\n"
	      "  doctor [--sim|--nitro]    check this host for the sim and for Nitro\n"
	      "\n"
	      "IMAGE is docker-archive:FILE or oci:DIR[:TAG].\n"
	      "Run 'kiln COMMAND --help' for a command's options.\n",
	      f);
	return f == stderr ? 2 : 0;
}

static const struct kiln_command {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "build", kiln_cmd_build },
	{ "describe-eif", kiln_cmd_describe_eif },
	{ "pcr", kiln_cmd_pcr },
	{ "attest", kiln_cmd_attest },
	{ "secret", kiln_cmd_secret },
	{ "run", kiln_cmd_run },
	{ "ps", kiln_cmd_ps },
	{ "logs", kiln_cmd_logs },
	{ "stop", kiln_cmd_stop },
	{ "rm", kiln_cmd_rm },
	{ "console", kiln_cmd_console },
	{ "doctor", kiln_cmd_doctor },
	{ "launch", kiln_cmd_launch },
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
		return usage(stdout);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("kiln %s\n", KILN_VERSION);
		return 0;
	}
	for (const struct kiln_command *c = commands; c->name; c++)
		if (!strcmp(c->name, argv[1]))
			return c->fn(argc - 1, argv + 1);
	fprintf(stderr, "kiln: unknown command '%s' (see 'kiln --help')\n", argv[1]);
	return 2;
}
