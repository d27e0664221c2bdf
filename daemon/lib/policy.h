/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_POLICY_H
#define SA_POLICY_H

#include <stdbool.h>
#include <linux/types.h>

#include "config.h"

/* The pinned maps the policy lives in (not owned). */
struct sa_policy_maps {
	int ctl;
	int ports;
	int local_addrs;
};

/*
 * The daemon's side of the policy maps. It keeps the wanted content of
 * local_addrs itself, with the source(s) of each prefix, because an LPM
 * lookup answers with the longest match, not the entry asked for.
 */
struct sa_policy;

int sa_policy_new(const struct sa_policy_maps *m, struct sa_policy **out);
void sa_policy_free(struct sa_policy *p);

/*
 * Make the maps say what @c says: port rules, the IPv6 switch, and the
 * local_cidrs prefixes (replacing those of the config applied before).
 * Programs, links and accelerated sockets are not touched.
 */
int sa_policy_apply_config(struct sa_policy *p, const struct sa_config *c);

/* An address of this host appeared (@add) or went away. */
int sa_policy_host_addr(struct sa_policy *p, const struct sa_cidr *a, bool add);

/* local_addrs := the wanted content; entries nobody wants are deleted
 * (left from an earlier run, or from before a reload). */
int sa_policy_sync(struct sa_policy *p);

/* net.ipv4.tcp_rmem's maximum: the most TCP lets one socket hold, and the
 * default per-connection queue limit of redirected bytes. */
__u32 sa_tcp_rmem_max(void);

/* How many prefixes local_addrs should hold. */
unsigned int sa_policy_local_count(const struct sa_policy *p);

#endif
