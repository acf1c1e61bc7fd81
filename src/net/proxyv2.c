/* SPDX-License-Identifier: Apache-2.0 */
/* PROXY protocol v2 header builder. */
#include "net/proxyv2.h"

#include <string.h>

static const uint8_t signature[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
				       0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

static void as_v6(const struct kiln_ip *in, uint8_t out[16])
{
	if (in->family == 6) {
		memcpy(out, in->a, 16);
		return;
	}
	memset(out, 0, 10);
	out[10] = out[11] = 0xFF;
	memcpy(out + 12, in->a, 4);
}

int kiln_proxyv2_build(const struct kiln_ip *src, uint16_t sport, const struct kiln_ip *dst,
		       uint16_t dport, uint8_t *out, size_t cap, size_t *len)
{
	bool v4 = src && src->family == 4 && dst->family == 4;
	size_t alen = !src ? 0 : v4 ? 12 : 36, o = 16;

	if (src && ((src->family != 4 && src->family != 6) || (dst->family != 4 && dst->family != 6)))
		return kiln_err(EINVAL, "PROXY v2: bad address family");
	if (cap < 16 + alen)
		return kiln_err(ENOBUFS, "PROXY v2 header needs %zu bytes", 16 + alen);
	memcpy(out, signature, sizeof(signature));
	out[12] = src ? 0x21 : 0x20;
	out[13] = !src ? 0x00 : v4 ? 0x11 : 0x21;
	out[14] = (uint8_t)(alen >> 8);
	out[15] = (uint8_t)alen;
	if (src && v4) {
		memcpy(out + o, src->a, 4);
		memcpy(out + o + 4, dst->a, 4);
		o += 8;
	} else if (src) {
		as_v6(src, out + o);
		as_v6(dst, out + o + 16);
		o += 32;
	}
	if (src) {
		out[o++] = (uint8_t)(sport >> 8);
		out[o++] = (uint8_t)sport;
		out[o++] = (uint8_t)(dport >> 8);
		out[o++] = (uint8_t)dport;
	}
	*len = o;
	return 0;
}
