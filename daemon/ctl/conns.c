// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sockaccelctl conns: one line per socket in the SOCKHASH. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "sockaccel.h"
#include "ctl.h"
#include "pins.h"

static void addr_str(const struct sa_sock_key *k, const __u32 ip[4], __u32 port, char *buf,
		     size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (k->family == SA_AF_INET) {
		inet_ntop(AF_INET, ip, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, port);
	} else {
		inet_ntop(AF_INET6, ip, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, port);
	}
}

int do_conns(struct ctl *c, int argc, char **argv)
{
	struct sa_sock_key key, next;
	char why[SA_PIN_WHY_LEN], l[64], r[64];
	unsigned int n = 0;
	void *prev = NULL;
	int fd;

	if (ctl_no_args(c, argc, argv))
		return SA_CTL_USAGE;
	fd = sa_pin_open(c->pin_dir, SA_PIN_SOCK_HASH, why, sizeof(why));
	if (fd < 0) {
		ctl_err(c, "%s", why);
		return SA_CTL_FAIL;
	}
	if (c->json)
		jsonw_start_array(c->jw);
	else
		printf("%-6s %-46s %-46s %-12s %s\n", "family", "local", "remote", "netns",
		       "cookie");
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		__u64 cookie = 0;

		key = next;
		prev = &key;
		/* ENOENT: the socket closed between the two calls */
		if (bpf_map_lookup_elem(fd, &key, &cookie) < 0)
			continue;
		addr_str(&key, key.sip, key.sport, l, sizeof(l));
		addr_str(&key, key.dip, key.dport, r, sizeof(r));
		n++;
		if (c->json) {
			jsonw_start_object(c->jw);
			jsonw_string_field(c->jw, "family", key.family == SA_AF_INET ? "ipv4" : "ipv6");
			jsonw_string_field(c->jw, "local", l);
			jsonw_string_field(c->jw, "remote", r);
			jsonw_uint_field(c->jw, "netns_cookie", key.netns);
			jsonw_uint_field(c->jw, "socket_cookie", cookie);
			jsonw_end_object(c->jw);
		} else {
			printf("%-6s %-46s %-46s %-12llu %llu\n",
			       key.family == SA_AF_INET ? "ipv4" : "ipv6", l, r,
			       (unsigned long long)key.netns, (unsigned long long)cookie);
		}
	}
	close(fd);
	if (c->json)
		jsonw_end_array(c->jw);
	else
		printf("%u sockets\n", n);
	return SA_CTL_OK;
}
