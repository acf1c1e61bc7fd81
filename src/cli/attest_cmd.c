/* SPDX-License-Identifier: Apache-2.0 */
/* kiln attest: hand over to the attestation CLI (src/attest/cli.c). */
#include "attest/attest.h"
#include "cli/cli.h"

int kiln_cmd_attest(int argc, char **argv)
{
	return kiln_attest_cli(argc, argv);
}
