/* SPDX-License-Identifier: Apache-2.0 */
/* The enclave namespace's lo: up, a default route and an address (ioctl, raw rtnetlink), its TCP congestion control. */
#include "net/redirect.h"

#include <fcntl.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "util/cleanup.h"

#define TCP_CC_SYSCTL "/proc/sys/net/ipv4/tcp_congestion_control"

int kiln_lo_up(void)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };

	if (s < 0)
		return kiln_err(errno, "socket: %s", strerror(errno));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return kiln_err(errno, "lo: SIOCGIFFLAGS: %s", strerror(errno));
	if (ifr.ifr_flags & IFF_UP)
		return 0;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return kiln_err(errno, "lo: SIOCSIFFLAGS: %s", strerror(errno));
	return 0;
}

struct route_req {
	struct nlmsghdr nh;
	struct rtmsg rt;
	struct rtattr oif_attr;
	int oif;
};

/* Send one request and read its ack; returns the kernel's errno as -errno. */
static int nl_request(int s, void *req, size_t len)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	union {
		struct nlmsghdr nh;
		char buf[1024];
	} ack;
	ssize_t n;

	if (sendto(s, req, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	n = recv(s, &ack, sizeof(ack), 0);
	if (n < 0)
		return -errno;
	if ((size_t)n < NLMSG_LENGTH(sizeof(struct nlmsgerr)) || ack.nh.nlmsg_type != NLMSG_ERROR)
		return -EPROTO;
	return ((struct nlmsgerr *)NLMSG_DATA(&ack.nh))->error;
}

int kiln_route_default_lo(int family)
{
	_cleanup_close_ int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	struct route_req req;
	unsigned idx = if_nametoindex("lo");
	int rc;

	if (family != 4 && family != 6)
		return kiln_err(EINVAL, "route: bad family %d", family);
	if (s < 0)
		return kiln_err(errno, "netlink socket: %s", strerror(errno));
	if (!idx)
		return kiln_err(ENODEV, "route: no lo interface");
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = RTM_NEWROUTE;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
	req.nh.nlmsg_seq = 1;
	req.rt.rtm_family = family == 4 ? AF_INET : AF_INET6;
	req.rt.rtm_table = RT_TABLE_MAIN;
	req.rt.rtm_protocol = RTPROT_BOOT;
	req.rt.rtm_scope = family == 4 ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
	req.rt.rtm_type = RTN_UNICAST;
	req.oif_attr.rta_len = RTA_LENGTH(sizeof(int));
	req.oif_attr.rta_type = RTA_OIF;
	req.oif = (int)idx;
	rc = nl_request(s, &req, sizeof(req));
	if (rc == -EEXIST)
		return 0;
	if (rc < 0)
		return kiln_err(-rc, "route: default dev lo (IPv%d): %s", family, strerror(-rc));
	return 0;
}

struct addr_req {
	struct nlmsghdr nh;
	struct ifaddrmsg ifa;
	struct rtattr local_attr;
	uint8_t local[16];
};

int kiln_lo_addr_add(const struct kiln_ip *ip)
{
	_cleanup_close_ int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	struct addr_req req;
	unsigned idx = if_nametoindex("lo");
	size_t alen = kiln_ip_len(ip);
	int rc;

	if (ip->family != 4 && ip->family != 6)
		return kiln_err(EINVAL, "address: bad family %d", ip->family);
	if (s < 0)
		return kiln_err(errno, "netlink socket: %s", strerror(errno));
	if (!idx)
		return kiln_err(ENODEV, "address: no lo interface");
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifa)) + RTA_LENGTH(alen);
	req.nh.nlmsg_type = RTM_NEWADDR;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
	req.nh.nlmsg_seq = 1;
	req.ifa.ifa_family = ip->family == 4 ? AF_INET : AF_INET6;
	req.ifa.ifa_prefixlen = (uint8_t)(alen * 8);
	req.ifa.ifa_flags = ip->family == 6 ? IFA_F_NODAD : 0;
	req.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
	req.ifa.ifa_index = idx;
	req.local_attr.rta_len = (unsigned short)RTA_LENGTH(alen);
	req.local_attr.rta_type = IFA_LOCAL;
	memcpy(req.local, ip->a, alen);
	rc = nl_request(s, &req, req.nh.nlmsg_len);
	if (rc == -EEXIST)
		return 0;
	if (rc < 0)
		return kiln_err(-rc, "address: add to lo: %s", strerror(-rc));
	return 0;
}

int kiln_tcp_cc_default_unpaced(void)
{
	static const char *const names[] = { "cubic", "reno" };
	_cleanup_close_ int fd = open(TCP_CC_SYSCTL, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return kiln_err(errno, "%s: %s", TCP_CC_SYSCTL, strerror(errno));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (write(fd, names[i], strlen(names[i])) >= 0)
			return 0;
	return kiln_err(errno, "%s: neither cubic nor reno: %s", TCP_CC_SYSCTL, strerror(errno));
}
