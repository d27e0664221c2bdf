// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "sockdiag.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

int sa_sockdiag_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	return fd < 0 ? -errno : fd;
}

static int query(int fd, int family, const struct sa_sock_key *k, __u64 cookie, __u32 *rmem)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST },
		.req = { .sdiag_family = (__u8)family, .sdiag_protocol = IPPROTO_TCP,
			 .idiag_ext = 1 << (INET_DIAG_SKMEMINFO - 1), .idiag_states = ~0u },
	};
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *h;
	ssize_t n;

	msg.req.id.idiag_sport = htons((__u16)k->sport);
	msg.req.id.idiag_dport = htons((__u16)k->dport);
	msg.req.id.idiag_cookie[0] = (__u32)cookie;
	msg.req.id.idiag_cookie[1] = (__u32)(cookie >> 32);
	if (family == AF_INET) {
		msg.req.id.idiag_src[0] = k->sip[0];
		msg.req.id.idiag_dst[0] = k->dip[0];
	} else if (k->family == SA_AF_INET) {
		/* an AF_INET6 socket with v4-mapped addresses, stored as AF_INET */
		msg.req.id.idiag_src[2] = htonl(0xffff);
		msg.req.id.idiag_src[3] = k->sip[0];
		msg.req.id.idiag_dst[2] = htonl(0xffff);
		msg.req.id.idiag_dst[3] = k->dip[0];
	} else {
		memcpy(msg.req.id.idiag_src, k->sip, 16);
		memcpy(msg.req.id.idiag_dst, k->dip, 16);
	}
	if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&nl, sizeof(nl)) < 0)
		return -errno;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return -errno;
	for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		struct inet_diag_msg *m;
		struct rtattr *a;
		int len;

		if (h->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(h);

			return e->error ? e->error : -ENOENT;
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
			continue;
		m = NLMSG_DATA(h);
		len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
		for (a = (struct rtattr *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
			if (a->rta_type == INET_DIAG_SKMEMINFO &&
			    RTA_PAYLOAD(a) >= (int)sizeof(__u32) * (SK_MEMINFO_RMEM_ALLOC + 1)) {
				*rmem = ((__u32 *)RTA_DATA(a))[SK_MEMINFO_RMEM_ALLOC];
				return 0;
			}
		}
		return -ENODATA;
	}
	return -ENOENT;
}

int sa_sock_rmem(int diag_fd, const struct sa_sock_key *k, __u64 cookie, __u32 *rmem)
{
	int err;

	if (k->family == SA_AF_INET6)
		return query(diag_fd, AF_INET6, k, cookie, rmem);
	err = query(diag_fd, AF_INET, k, cookie, rmem);
	if (err == -ENOENT)	/* a dual-stack listener's child */
		err = query(diag_fd, AF_INET6, k, cookie, rmem);
	return err;
}

int sa_netns_cookie_self(__u64 *cookie)
{
	socklen_t len = sizeof(*cookie);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len) < 0)
		err = -errno;
	close(fd);
	return err;
}

int sa_netns_enter(__u64 cookie)
{
	char path[300];
	struct dirent *de;
	DIR *proc;
	int err = -ENOENT;
	/* netns inodes already tried; most processes share a few namespaces */
	ino_t seen[256];
	unsigned int nseen = 0;

	proc = opendir("/proc");
	if (!proc)
		return -errno;
	while (err == -ENOENT && (de = readdir(proc))) {
		struct stat st;
		__u64 c;
		int fd, orig;
		bool dup = false;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		if (stat(path, &st) < 0)
			continue;
		for (unsigned int i = 0; i < nseen; i++)
			dup |= seen[i] == st.st_ino;
		if (dup)
			continue;
		if (nseen < sizeof(seen) / sizeof(seen[0]))
			seen[nseen++] = st.st_ino;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (orig >= 0 && setns(fd, CLONE_NEWNET) == 0) {
			if (sa_netns_cookie_self(&c) == 0 && c == cookie)
				err = 0;	/* stay here */
			else if (setns(orig, CLONE_NEWNET) < 0)
				err = -errno;
		}
		if (orig >= 0)
			close(orig);
		close(fd);
	}
	closedir(proc);
	return err;
}
