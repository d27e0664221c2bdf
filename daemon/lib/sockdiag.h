/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_SOCKDIAG_H
#define SA_SOCKDIAG_H

#include <linux/types.h>
#include "sockaccel.h"

/*
 * Receive memory of the socket stored under @k with socket cookie @cookie,
 * in the calling thread's network namespace: inet_diag exact lookup by
 * 4-tuple and cookie, INET_DIAG_SKMEMINFO's SK_MEMINFO_RMEM_ALLOC. It
 * counts redirected bytes queued for the receiver (idiag_rqueue does not).
 * A cookie that does not match (the 4-tuple was reused) gives -ENOENT.
 */
int sa_sock_rmem(int diag_fd, const struct sa_sock_key *k, __u64 cookie, __u32 *rmem);

/* A NETLINK_SOCK_DIAG socket in the calling thread's netns. */
int sa_sockdiag_open(void);

/* The netns cookie of the calling thread's network namespace. */
int sa_netns_cookie_self(__u64 *cookie);

/*
 * Move the calling thread into the network namespace whose cookie is
 * @cookie, found among the namespaces of running processes. Returns 0,
 * or -ENOENT when no process is in it any more.
 */
int sa_netns_enter(__u64 cookie);

#endif
