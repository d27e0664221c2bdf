/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_KEY_H
#define SA_KEY_H

#include <sys/socket.h>
#include "sockaccel.h"

/*
 * The SOCKHASH key a socket with these addresses is stored under, built by
 * the same rules as the BPF side: zeroed, IPv4-mapped IPv6 normalised to
 * AF_INET, ports host order, addresses network order. -EAFNOSUPPORT for
 * other families.
 */
int sa_key_from_addrs(const struct sockaddr *local, const struct sockaddr *remote,
		      __u64 netns_cookie, struct sa_sock_key *k);

/* The key of connected TCP socket @fd (getsockname, getpeername and
 * SO_NETNS_COOKIE). */
int sa_key_of_socket(int fd, struct sa_sock_key *k);

/* The key its peer socket is stored under: the mirror image. */
void sa_key_mirror(const struct sa_sock_key *k, struct sa_sock_key *peer);

#endif
