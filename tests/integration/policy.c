// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The port and IPv6 policy, as the sockops program applies it (policy_allows
 * in bpf/sockaccel.bpf.c, fed by sockaccel.conf through the pinned ctl and
 * ports maps). sockops cannot run under BPF_PROG_TEST_RUN, so each rule is
 * driven with loopback connections in the test cgroup, and the answer read
 * from sock_hash:
 *  - no port keys: every connection is inserted;
 *  - ports: a connection is inserted when either end's port is listed,
 *    whether the listed port is the server's or the client's;
 *  - exclude_ports: a connection is left out when either end's port is
 *    excluded, and an exclusion wins over a listing;
 *  - ipv6 = no: IPv6 connections are left out, IPv4 ones still inserted.
 * Every connection left out by the policy raises skipped_policy.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"
#include "testlib.h"

/*
 * Fixed ports below the ephemeral range (32768-60999 by default): a port
 * some other connection used as its ephemeral one would leave TIME_WAIT
 * sockets there that make listen() fail with EADDRINUSE.
 */
#define P_LISTED	23411
#define P_OTHER		23412
#define P_EXCLUDED	23413
#define P_CLIENT_BASE	23420	/* client ports: one per connection, no TIME_WAIT clash */

struct conn_case {
	const char *what;
	enum tl_family family;
	__u16 server_port;
	__u16 client_port;	/* 0: ephemeral */
	bool inserted;
};

struct policy_case {
	const char *name;
	const char *config;
	const struct conn_case *conns;
	unsigned int n;
};

static __u16 next_client_port = P_CLIENT_BASE;

/* One connection: both of its sockets are in sock_hash, or neither is. */
static bool check_conn(const struct tl_pins *pins, const struct conn_case *cc)
{
	struct tl_pair_opts o = {
		.family = cc->family,
		.server_port = cc->server_port,
		.client_port = cc->client_port == 1 ? next_client_port++ : cc->client_port,
	};
	int want = cc->inserted ? TL_IN_MAP : TL_NOT_IN_MAP;
	struct tl_pair p = TL_PAIR_INIT;
	bool ok = false;

	ASSERT_OK(tl_pair_make(&p, &o), cc->what);
	ASSERT_EQ(tl_sock_map_state(pins->sock_hash, p.client), want, cc->what);
	ASSERT_EQ(tl_sock_map_state(pins->sock_hash, p.server), want, cc->what);
	ok = true;
cleanup:
	tl_pair_close(&p);
	return ok;
}

static bool run_case(const struct policy_case *pc)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	__u64 before[SA_CNT_MAX], after[SA_CNT_MAX];
	unsigned int left_out = 0;
	bool ok = false;

	tl_log("---- %s: %s", pc->name, pc->config[0] ? pc->config : "(no policy keys)\n");
	ASSERT_OK(tl_config_write(pc->config), "write the policy to the config");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	ASSERT_OK(tl_counters(&pins, before), "read counters");
	for (unsigned int i = 0; i < pc->n; i++) {
		if (!check_conn(&pins, &pc->conns[i]))
			goto cleanup;
		left_out += !pc->conns[i].inserted;
	}
	ASSERT_OK(tl_counters(&pins, after), "read counters");
	/* both ends of each connection left out are counted */
	ASSERT_EQ(after[SA_CNT_SKIP_POLICY] - before[SA_CNT_SKIP_POLICY], 2ull * left_out,
		  "skipped_policy counts both sockets of each connection left out");
	tl_pins_close(&pins);
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
	ok = true;
cleanup:
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	return ok;
}

/* client_port 1: the next free fixed client port */
static const struct conn_case no_keys[] = {
	{ "no keys: any server port", TL_INET4, P_OTHER, 0, true },
	{ "no keys: IPv6", TL_INET6, P_OTHER, 0, true },
};
static const struct conn_case include[] = {
	{ "ports: listed server port", TL_INET4, P_LISTED, 1, true },
	{ "ports: listed client port", TL_INET4, P_OTHER, P_LISTED, true },
	{ "ports: neither port listed", TL_INET4, P_OTHER, 1, false },
	{ "ports: listed server port, IPv6", TL_INET6, P_LISTED, 0, true },
};
static const struct conn_case exclude[] = {
	{ "exclude_ports: excluded server port", TL_INET4, P_EXCLUDED, 0, false },
	{ "exclude_ports: excluded client port", TL_INET4, P_OTHER, P_EXCLUDED, false },
	{ "exclude_ports: neither port excluded", TL_INET4, P_OTHER, 1, true },
};
static const struct conn_case both[] = {
	{ "ports and exclude_ports: listed", TL_INET4, P_LISTED, 1, true },
	{ "ports and exclude_ports: listed and excluded", TL_INET4, P_EXCLUDED, 0, false },
	{ "ports and exclude_ports: listed server, excluded client", TL_INET4, P_LISTED,
	  P_EXCLUDED, false },
	{ "ports and exclude_ports: not listed", TL_INET4, P_OTHER, 1, false },
};
static const struct conn_case no_ipv6[] = {
	{ "ipv6 = no: IPv6 left out", TL_INET6, P_OTHER, 0, false },
	{ "ipv6 = no: IPv4 still inserted", TL_INET4, P_OTHER, 0, true },
};

#define CASE(name, config, conns) { name, config, conns, sizeof(conns) / sizeof(conns[0]) }

int main(void)
{
	static const struct policy_case cases[] = {
		CASE("default", "", no_keys),
		CASE("include", "ports = 23411\n", include),
		CASE("exclude", "exclude_ports = 23413\n", exclude),
		CASE("include and exclude", "ports = 23411, 23413\nexclude_ports = 23413\n", both),
		CASE("IPv6 off", "ipv6 = no\n", no_ipv6),
	};

	ASSERT_OK(tl_init("policy", TL_BUDGET_S), "tl_init");
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ASSERT_TRUE(run_case(&cases[i]), cases[i].name);
cleanup:
	return tl_finish();
}
