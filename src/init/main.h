/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's whole program, callable where its code is linked in. */
#ifndef KILN_INIT_MAIN_H
#define KILN_INIT_MAIN_H

/*
 * kiln-init [CONFIG]: run the image's process under supervision and return
 * the exit status it should end with (see src/init/main.c). Called by
 * cmd/kiln-init's main: the sim too execs the EIF's /.kiln/kiln-init, as
 * Nitro's init does, so PID 1 is the same program in both.
 */
int kiln_init_main(int argc, char **argv);

#endif
