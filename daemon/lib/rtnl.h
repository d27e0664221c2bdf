/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_RTNL_H
#define SA_RTNL_H

#include <stdbool.h>
#include "config.h"

/*
 * This host's own addresses from rtnetlink: a socket subscribed to IPv4 and
 * IPv6 address changes, and a dump of the current ones. The answers to the
 * dump and later changes are read by sa_rtnl_read() alike.
 */
int sa_rtnl_open(void);
int sa_rtnl_request_dump(int fd);

typedef void (*sa_addr_cb)(void *arg, const struct sa_cidr *addr, bool add);

/* Handle every message waiting on @fd; loopback addresses are skipped (the
 * programs know them). Returns 1 when the end of a dump was among them,
 * else 0; -ENOBUFS means events were lost: dump again. An error the kernel
 * answered a request with (NLMSG_ERROR) is returned as its negative errno. */
int sa_rtnl_read(int fd, sa_addr_cb cb, void *arg);

/* Dump all addresses now and wait until the dump has been handled. */
int sa_rtnl_dump_sync(int fd, sa_addr_cb cb, void *arg, int timeout_ms);

#endif
