/* SPDX-License-Identifier: Apache-2.0 */
/* The receive buffer of a vsock connection: the credit its peer may send ahead of our reads. */
#ifndef KILN_CHAN_VSOCK_BUF_H
#define KILN_CHAN_VSOCK_BUF_H

#include "util/err.h"

/*
 * The storage channel's vsock buffer, on both ends: what kilnd's end gets
 * on AF_UNIX (KD_STORE_SNDBUF, 2 MiB, doubled by the kernel). vsock
 * ignores SO_SNDBUF; a sender may have as many bytes unread as the
 * receiver's buffer (sent in every packet header) allows, so kiln-init's
 * buffer is what lets kilnd answer all the gets it awaits at once, and
 * kilnd's what lets kiln-init's puts go ahead.
 */
#define KILN_STORAGE_VSOCK_BUF (4ull << 20)

/*
 * Set an AF_VSOCK socket's buffer to bytes (its maximum first, which caps
 * the size, 256 KiB by default) and check that it holds. Any other socket
 * is left alone (0). -errno with a message when the kernel refuses or
 * keeps less.
 */
int kiln_chan_vsock_buf(int fd, unsigned long long bytes) KILN_MUST;

#endif
