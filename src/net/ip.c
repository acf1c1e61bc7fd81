/* SPDX-License-Identifier: Apache-2.0 */
/* IPv4/IPv6 address value type. */
#include "net/ip.h"

#include <arpa/inet.h>
#include <string.h>

int kiln_ip_parse(const char *s, struct kiln_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (strchr(s, ':')) {
		if (inet_pton(AF_INET6, s, ip->a) != 1)
			return kiln_err(EINVAL, "'%s' is not an IPv6 address", s);
		ip->family = 6;
		return 0;
	}
	/* inet_pton(AF_INET) accepts only the strict dotted quad. */
	if (inet_pton(AF_INET, s, ip->a) != 1)
		return kiln_err(EINVAL, "'%s' is not an IPv4 address", s);
	ip->family = 4;
	return 0;
}

void kiln_ip_format(const struct kiln_ip *ip, char buf[KILN_IP_STRLEN])
{
	if (!inet_ntop(ip->family == 4 ? AF_INET : AF_INET6, ip->a, buf, KILN_IP_STRLEN))
		strcpy(buf, "?");
}

void kiln_ip_from_bytes(struct kiln_ip *ip, int family, const uint8_t *bytes)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = family == 4 ? 4 : 6;
	memcpy(ip->a, bytes, kiln_ip_len(ip));
}

bool kiln_ip_equal(const struct kiln_ip *x, const struct kiln_ip *y)
{
	return x->family == y->family && !memcmp(x->a, y->a, sizeof(x->a));
}

bool kiln_ip_in_prefix(const struct kiln_ip *ip, const struct kiln_ip *prefix, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (ip->family != prefix->family || bits > kiln_ip_len(ip) * 8)
		return false;
	if (memcmp(ip->a, prefix->a, full))
		return false;
	if (!rest)
		return true;
	return ((ip->a[full] ^ prefix->a[full]) & (uint8_t)(0xFF00 >> rest)) == 0;
}

static const uint8_t mapped_pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };

bool kiln_ip_unmap(struct kiln_ip *ip)
{
	uint8_t v4[4];

	if (ip->family != 6 || memcmp(ip->a, mapped_pfx, sizeof(mapped_pfx)))
		return false;
	memcpy(v4, ip->a + 12, 4);
	kiln_ip_from_bytes(ip, 4, v4);
	return true;
}

bool kiln_ip_embedded_v4(const struct kiln_ip *ip, struct kiln_ip *v4)
{
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xFF, 0x9B };
	static const uint8_t zero[12];
	bool compat;

	if (ip->family != 6)
		return false;
	compat = !memcmp(ip->a, zero, 12) && (ip->a[12] | ip->a[13] | ip->a[14] || ip->a[15] > 1);
	if (!compat && memcmp(ip->a, nat64, 12))
		return false;
	kiln_ip_from_bytes(v4, 4, ip->a + 12);
	return true;
}
