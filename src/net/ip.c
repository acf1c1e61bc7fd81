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
