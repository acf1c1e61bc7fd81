/* SPDX-License-Identifier: Apache-2.0 */
/* Wiping free and constant-time compare for key material and MACs. */
#ifndef KILN_UTIL_SECURE_H
#define KILN_UTIL_SECURE_H

#include <stddef.h>

/* Overwrite len bytes in a way the compiler may not elide. */
void kiln_wipe(void *p, size_t len);
/* Wipe then free a buffer of len bytes; NULL is fine. */
void kiln_free_secret(void *p, size_t len);
/* 0 when equal; runtime independent of where the buffers differ. */
int kiln_ct_memcmp(const void *a, const void *b, size_t len);

#endif
