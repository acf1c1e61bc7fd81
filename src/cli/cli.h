/* SPDX-License-Identifier: Apache-2.0 */
/* The kiln subcommands: each takes argv from its own name on, returns an exit code. */
#ifndef KILN_CLI_CLI_H
#define KILN_CLI_CLI_H

int kiln_cmd_build(int argc, char **argv);
int kiln_cmd_describe_eif(int argc, char **argv);
int kiln_cmd_pcr(int argc, char **argv);
int kiln_cmd_attest(int argc, char **argv);
int kiln_cmd_secret(int argc, char **argv);
int kiln_cmd_run(int argc, char **argv);
int kiln_cmd_ps(int argc, char **argv);
int kiln_cmd_logs(int argc, char **argv);
int kiln_cmd_stop(int argc, char **argv);
int kiln_cmd_rm(int argc, char **argv);
int kiln_cmd_console(int argc, char **argv);
int kiln_cmd_doctor(int argc, char **argv);
int kiln_cmd_launch(int argc, char **argv);

/* Print "kiln: CMD: <last error>" and return exit code 1. */
int kiln_cli_fail(const char *cmd);

#endif
