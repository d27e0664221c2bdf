// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockaccelctl conns lists exactly the connections the test opened: 3 IPv4,
 * 2 IPv6 and 1 dual-stack ([::] listener, IPv4 client) connection in the
 * cgroup give 12 entries, each matching one of the test's sockets by
 * family, local and remote address:port, netns cookie and socket cookie
 * (SO_COOKIE); a connection outside the cgroup is not listed. After 2
 * connections close, exactly the other 8 sockets are listed. The plain
 * output names every socket cookie and counts the sockets.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl_helpers.h"
#include "exitcodes.h"

#define NPAIRS 6
#define NSOCKS (2 * NPAIRS)

static const enum tl_family families[NPAIRS] = { TL_INET4, TL_INET6, TL_DUAL, TL_INET4,
						 TL_INET6, TL_INET4 };

struct want {
	char family[8];
	char local[64];
	char remote[64];
	__u64 netns;
	__u64 cookie;
	bool open;
	bool seen;
};

static int describe(int fd, struct want *w)
{
	bool v4 = false, v4_peer = false;
	int err;

	memset(w, 0, sizeof(*w));
	err = ctl_sockaddr_str(fd, false, w->local, sizeof(w->local), &v4);
	if (!err)
		err = ctl_sockaddr_str(fd, true, w->remote, sizeof(w->remote), &v4_peer);
	if (!err)
		err = ctl_sock_cookie(fd, &w->cookie);
	if (!err)
		err = ctl_netns_cookie(fd, &w->netns);
	snprintf(w->family, sizeof(w->family), "%s", v4 ? "ipv4" : "ipv6");
	w->open = true;
	return err;
}

/* conns --json must list exactly the open sockets of @w. */
static bool conns_match(struct want *w, size_t n, const char *what)
{
	struct ctl_out o = CTL_OUT_INIT;
	struct cj *v = NULL;
	size_t want_n = 0;
	bool ok = false;

	for (size_t i = 0; i < n; i++) {
		w[i].seen = false;
		want_n += w[i].open;
	}
	ASSERT_CTL(ctl_cmd(&o, "--json", "conns", NULL), &o, CTL_OK, what);
	ASSERT_JSON(&o, CJ_ARR, v, what);
	for (size_t k = 0; k < v->n; k++) {
		const struct cj *e = v->items[k];
		const char *fam = cj_str(cj_get(e, "family")), *l = cj_str(cj_get(e, "local")),
			   *r = cj_str(cj_get(e, "remote"));
		__u64 cookie = 0, netns = 0;
		bool matched = false;

		if (!fam || !l || !r || cj_u64(cj_get(e, "socket_cookie"), &cookie) ||
		    cj_u64(cj_get(e, "netns_cookie"), &netns)) {
			ctl_fail_out(__FILE__, __LINE__, what, &o,
				     "entry %zu lacks family/local/remote/socket_cookie/netns_cookie", k);
			goto cleanup;
		}
		for (size_t i = 0; i < n && !matched; i++) {
			if (!w[i].open || w[i].cookie != cookie)
				continue;
			if (w[i].seen)
				FAIL("%s: socket cookie %llu listed twice", what,
				     (unsigned long long)cookie);
			if (strcmp(w[i].family, fam) || strcmp(w[i].local, l) ||
			    strcmp(w[i].remote, r) || w[i].netns != netns)
				FAIL("%s: cookie %llu listed as %s %s -> %s netns %llu; the socket is "
				     "%s %s -> %s netns %llu", what, (unsigned long long)cookie, fam, l,
				     r, (unsigned long long)netns, w[i].family, w[i].local,
				     w[i].remote, (unsigned long long)w[i].netns);
			w[i].seen = matched = true;
		}
		if (!matched)
			FAIL("%s: listed %s %s -> %s cookie %llu is none of the test's open sockets",
			     what, fam, l, r, (unsigned long long)cookie);
	}
	for (size_t i = 0; i < n; i++)
		if (w[i].open && !w[i].seen)
			FAIL("%s: socket %s %s -> %s cookie %llu not listed", what, w[i].family,
			     w[i].local, w[i].remote, (unsigned long long)w[i].cookie);
	ASSERT_EQ(v->n, want_n, "conns --json: number of entries");
	tl_log("%s: the %zu listed sockets are exactly the test's", what, v->n);
	ok = true;
cleanup:
	cj_free(v);
	ctl_out_free(&o);
	return ok;
}

int main(void)
{
	struct tl_pair_opts outside = { .family = TL_INET4,
					.server = { .outside_cgroup = true },
					.client = { .outside_cgroup = true } };
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_pair pairs[NPAIRS], plain = TL_PAIR_INIT;
	struct ctl_out o = CTL_OUT_INIT;
	struct want w[NSOCKS];
	char text[64];
	__u32 n = 0;

	for (int i = 0; i < NPAIRS; i++)
		pairs[i] = (struct tl_pair)TL_PAIR_INIT;
	ASSERT_OK(tl_init("ctl_conns", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");

	ASSERT_CTL(ctl_cmd(&o, "--json", "conns", NULL), &o, CTL_OK, "conns --json, no connection");
	ASSERT_OUT_HAS(&o, "[]", "conns --json lists nothing before any connection");

	for (int i = 0; i < NPAIRS; i++) {
		struct tl_pair_opts po = { .family = families[i] };

		ASSERT_OK(tl_pair_make(&pairs[i], &po), tl_family_name(families[i]));
		ASSERT_EQ(tl_sock_map_state(pins.sock_hash, pairs[i].client), TL_IN_MAP,
			  "client in sock_hash");
		ASSERT_EQ(tl_sock_map_state(pins.sock_hash, pairs[i].server), TL_IN_MAP,
			  "server in sock_hash");
		ASSERT_OK(describe(pairs[i].client, &w[2 * i]), "client address and cookies");
		ASSERT_OK(describe(pairs[i].server, &w[2 * i + 1]), "server address and cookies");
		tl_log("%s connection: %s <-> %s, cookies %llu and %llu", tl_family_name(families[i]),
		       w[2 * i].local, w[2 * i].remote, (unsigned long long)w[2 * i].cookie,
		       (unsigned long long)w[2 * i + 1].cookie);
	}
	/* not accelerated, so not listed */
	ASSERT_OK(tl_pair_make(&plain, &outside), "tl_pair_make outside the cgroup");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, plain.client), TL_NOT_IN_MAP,
		  "client outside the cgroup not in sock_hash");

	ASSERT_TRUE(conns_match(w, NSOCKS, "conns --json with 6 connections"),
		    "conns lists exactly the 12 sockets");

	ASSERT_CTL(ctl_cmd(&o, "conns", NULL), &o, CTL_OK, "conns (plain)");
	ASSERT_OUT_HAS(&o, "12 sockets\n", "conns (plain) counts 12 sockets");
	for (int i = 0; i < NSOCKS; i++) {
		snprintf(text, sizeof(text), " %llu\n", (unsigned long long)w[i].cookie);
		ASSERT_OUT_HAS(&o, text, "conns (plain) shows each socket cookie");
	}

	/* two connections close: their sockets leave the list */
	tl_pair_close(&pairs[0]);
	tl_pair_close(&pairs[1]);
	w[0].open = w[1].open = w[2].open = w[3].open = false;
	ASSERT_TRUE(TL_WAIT_FOR(tl_map_count(pins.sock_hash, &n) == 0 && n == 8, 5000),
		    "8 map entries after closing 2 connections");
	ASSERT_TRUE(conns_match(w, NSOCKS, "conns --json after closing 2 connections"),
		    "conns lists exactly the 8 open sockets");
cleanup:
	ctl_out_free(&o);
	for (int i = 0; i < NPAIRS; i++)
		tl_pair_close(&pairs[i]);
	tl_pair_close(&plain);
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	return tl_finish();
}
