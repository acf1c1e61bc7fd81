/* SPDX-License-Identifier: Apache-2.0 */
/* kiln-init, the program in the EIF: all of it is kiln_init_main (src/init/main.c). */
#include "init/main.h"

int main(int argc, char **argv)
{
	return kiln_init_main(argc, argv);
}
