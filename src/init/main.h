/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init's whole program, callable where its code is linked in. */
#ifndef KILN_INIT_MAIN_H
#define KILN_INIT_MAIN_H

/*
 * kiln-init [CONFIG]: run the image's process under supervision and return
 * the exit status it should end with (see src/init/main.c). Called by
 * cmd/kiln-init's main, and by the sim's first process when the EIF
 * carries this very kiln-init (sim/init_inproc.c).
 */
int kiln_init_main(int argc, char **argv);

#endif
