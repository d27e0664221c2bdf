/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_CONFIG_H
#define SA_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>

#define SA_CONFIG_DEFAULT	"/etc/sockaccel/sockaccel.conf"
#define SA_PORT_RANGES_MAX	64
#define SA_CIDRS_MAX		64

struct sa_port_range {
	__u16 lo, hi;		/* inclusive */
};

/* metrics_listen: where /metrics is served; family 0 = off. */
struct sa_listen {
	__u32 family;		/* 0 (off), AF_INET or AF_INET6 */
	__u8 addr[16];		/* network order; IPv4 in the first 4 bytes */
	__u16 port;		/* host order */
};

struct sa_cidr {
	__u32 family;		/* SA_AF_INET or SA_AF_INET6 */
	__u32 addr[4];		/* network order; IPv4 in [0] */
	__u32 prefixlen;	/* 0..32 or 0..128 */
};

/*
 * sockaccel.conf(5): "key = value" lines, '#' comments, every key at most
 * once. Lists are comma-separated.
 */
struct sa_config {
	char cgroup[PATH_MAX];		/* "" = the cgroup2 mount's root */
	char pin_dir[PATH_MAX];
	__u32 max_conns;
	bool ipv6;
	__u32 queue_limit;		/* bytes; 0 (auto): net.ipv4.tcp_rmem's maximum */
	bool unbounded;			/* memory_bound = off: run without any bound */
	__u32 flow_limit;		/* bytes; 0 (auto): SA_FLOW_LIMIT_DEFAULT */
	unsigned int n_ports;		/* 0: every port */
	struct sa_port_range ports[SA_PORT_RANGES_MAX];
	unsigned int n_exclude;
	struct sa_port_range exclude[SA_PORT_RANGES_MAX];
	unsigned int n_cidrs;
	struct sa_cidr cidrs[SA_CIDRS_MAX];
	struct sa_listen metrics_listen;	/* off by default */
};

void sa_config_defaults(struct sa_config *c);

/* Parse a metrics_listen value given outside the file (@origin names where,
 * e.g. the command-line option); errors read like the file's. */
int sa_listen_parse(const char *text, const char *origin, struct sa_listen *l, char *err,
		    size_t len);
/* "127.0.0.1:9465", "[::1]:9465" (the form metrics_listen takes), or "off". */
void sa_listen_format(const struct sa_listen *l, char *buf, size_t len);

/*
 * Parse @f (named @name in messages) into @c, on top of what @c holds.
 * On error returns -EINVAL and writes "FILE:LINE: key 'K': what is wrong;
 * accepted: ..." into @err.
 */
int sa_config_parse(FILE *f, const char *name, struct sa_config *c, char *err, size_t len);

/*
 * Defaults, then @path. A missing file is an error only when @must_exist
 * (named on the command line); the default path may be absent.
 */
int sa_config_load(const char *path, bool must_exist, struct sa_config *c, char *err,
		   size_t len);

#endif
