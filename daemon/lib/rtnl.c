// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "sockaccel.h"
#include "rtnl.h"

int sa_rtnl_open(void)
{
	struct sockaddr_nl sa = {
		.nl_family = AF_NETLINK,
		.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
	};
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int sa_rtnl_request_dump(int fd)
{
	struct {
		struct nlmsghdr nlh;
		struct ifaddrmsg ifa;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETADDR,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.ifa = { .ifa_family = AF_UNSPEC },
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	return sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
}

static bool loopback(const struct sa_cidr *a)
{
	static const __u32 one6[4] = { 0, 0, 0, 0x01000000 };

	if (a->family == SA_AF_INET)
		return (ntohl(a->addr[0]) >> 24) == 127;
	return memcmp(a->addr, one6, sizeof(one6)) == 0;
}

static void handle(struct nlmsghdr *h, sa_addr_cb cb, void *arg)
{
	struct ifaddrmsg *ifa = NLMSG_DATA(h);
	int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifa)));
	struct rtattr *rta;
	struct sa_cidr a = {};
	bool found = false;

	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return;
	for (rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		/* IPv4: IFA_LOCAL is ours (IFA_ADDRESS is the peer on point-to-point);
		 * IPv6 has only IFA_ADDRESS */
		bool want = ifa->ifa_family == AF_INET ? rta->rta_type == IFA_LOCAL :
							  rta->rta_type == IFA_ADDRESS;

		if (!want)
			continue;
		if (ifa->ifa_family == AF_INET && RTA_PAYLOAD(rta) == 4) {
			a.family = SA_AF_INET;
			a.prefixlen = 32;
			memcpy(a.addr, RTA_DATA(rta), 4);
			found = true;
		} else if (ifa->ifa_family == AF_INET6 && RTA_PAYLOAD(rta) == 16) {
			a.family = SA_AF_INET6;
			a.prefixlen = 128;
			memcpy(a.addr, RTA_DATA(rta), 16);
			found = true;
		}
	}
	if (found && !loopback(&a))
		cb(arg, &a, h->nlmsg_type == RTM_NEWADDR);
}

int sa_rtnl_read(int fd, sa_addr_cb cb, void *arg)
{
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	int done = 0, err = 0;

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (n < 0)
			return errno == EAGAIN ? done : -errno;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == RTM_NEWADDR || h->nlmsg_type == RTM_DELADDR) {
				handle(h, cb, arg);
			} else if (h->nlmsg_type == NLMSG_DONE) {
				done = 1;
			} else if (h->nlmsg_type == NLMSG_ERROR && !err) {
				/* a refused dump: say why now, not as a timeout later */
				const struct nlmsgerr *e = NLMSG_DATA(h);

				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					err = -EPROTO;
				else if (e->error)	/* 0 is an acknowledgement */
					err = e->error;
			}
		}
		if (err)
			return err;
	}
}

int sa_rtnl_dump_sync(int fd, sa_addr_cb cb, void *arg, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int err = sa_rtnl_request_dump(fd);

	while (!err) {
		if (poll(&pfd, 1, timeout_ms) != 1)
			return -ETIMEDOUT;
		err = sa_rtnl_read(fd, cb, arg);
		if (err == 1)
			return 0;
	}
	return err;
}
