/* SPDX-License-Identifier: Apache-2.0 */
/* No kiln-init digest: programs other than kiln, which links the Makefile's build/gen/init_digest.o. */
/*
 * Alone in its file on purpose: kiln's link names the generated object
 * before libkiln.a, so this archive member is never pulled into kiln.
 */
const char kiln_sim_builtin_init_sha256[] = "";
