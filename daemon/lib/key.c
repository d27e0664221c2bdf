// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "key.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

static int fill_side(const struct sockaddr *sa, __u32 ip[4], __u32 *port, __u32 *family)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		*family = SA_AF_INET;
		ip[0] = in->sin_addr.s_addr;
		*port = ntohs(in->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		*port = ntohs(in6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			*family = SA_AF_INET;
			memcpy(&ip[0], &in6->sin6_addr.s6_addr[12], 4);
		} else {
			*family = SA_AF_INET6;
			memcpy(ip, &in6->sin6_addr, 16);
		}
		return 0;
	}
	return -EAFNOSUPPORT;
}

int sa_key_from_addrs(const struct sockaddr *local, const struct sockaddr *remote,
		      __u64 netns_cookie, struct sa_sock_key *k)
{
	__u32 lfam = 0, rfam = 0;
	int err;

	memset(k, 0, sizeof(*k));
	err = fill_side(local, k->sip, &k->sport, &lfam);
	if (!err)
		err = fill_side(remote, k->dip, &k->dport, &rfam);
	if (err)
		return err;
	if (lfam != rfam)
		return -EAFNOSUPPORT;
	k->family = lfam;
	k->netns = netns_cookie;
	return 0;
}

int sa_key_of_socket(int fd, struct sa_sock_key *k)
{
	struct sockaddr_storage l, r;
	socklen_t ll = sizeof(l), rl = sizeof(r), cl = sizeof(__u64);
	__u64 cookie;

	if (getsockname(fd, (struct sockaddr *)&l, &ll) < 0 ||
	    getpeername(fd, (struct sockaddr *)&r, &rl) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &cl) < 0)
		return -errno;
	return sa_key_from_addrs((struct sockaddr *)&l, (struct sockaddr *)&r, cookie, k);
}

void sa_key_mirror(const struct sa_sock_key *k, struct sa_sock_key *peer)
{
	memset(peer, 0, sizeof(*peer));
	peer->family = k->family;
	peer->netns = k->netns;
	memcpy(peer->sip, k->dip, sizeof(peer->sip));
	memcpy(peer->dip, k->sip, sizeof(peer->dip));
	peer->sport = k->dport;
	peer->dport = k->sport;
}
