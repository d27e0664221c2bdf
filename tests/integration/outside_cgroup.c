// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Scenario 9: processes outside the cgroup are not accelerated.
 *  - both ends outside: neither socket in sock_hash, nothing inserted or
 *    redirected, TCP carries every byte;
 *  - only the listener (so the accepted socket) in the cgroup, and only the
 *    client in the cgroup: the outside socket is not in the map and TCP
 *    carries every byte both ways (never half a redirect);
 *  - control: both ends in the cgroup are accelerated, so the daemon was
 *    working all along.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"
#include "testlib.h"

#define MiB (1ULL << 20)

/* One connection, streams both ways; checks the map and TCP_INFO. */
static bool run(const struct tl_pins *pins, const char *label, bool server_in, bool client_in)
{
	struct tl_pair_opts o = { .family = TL_INET4,
				  .server = { .outside_cgroup = !server_in },
				  .client = { .outside_cgroup = !client_in } };
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_stream c2s, s2c;
	struct tl_tcp_bytes cb, sb;
	__u64 before[SA_CNT_MAX], after[SA_CNT_MAX];
	bool accel = server_in && client_in;
	char name[64];
	bool ok = false;

	snprintf(name, sizeof(name), "%s c2s", label);
	tl_stream_init(&c2s, name, 8 * MiB, TL_WRITE_SEND);
	snprintf(name, sizeof(name), "%s s2c", label);
	tl_stream_init(&s2c, name, 8 * MiB, TL_WRITE_SPLICE);
	tl_log("---- %s: server %s the cgroup, client %s the cgroup", label,
	       server_in ? "in" : "outside", client_in ? "in" : "outside");

	ASSERT_OK(tl_counters(pins, before), "read counters");
	ASSERT_OK(tl_pair_make(&p, &o), "tl_pair_make");
	ASSERT_EQ(tl_sock_map_state(pins->sock_hash, p.client),
		  client_in ? TL_IN_MAP : TL_NOT_IN_MAP,
		  client_in ? "client in the cgroup is in sock_hash" :
			      "client outside the cgroup is not in sock_hash");
	ASSERT_EQ(tl_sock_map_state(pins->sock_hash, p.server),
		  server_in ? TL_IN_MAP : TL_NOT_IN_MAP,
		  server_in ? "server in the cgroup is in sock_hash" :
			      "server outside the cgroup is not in sock_hash");

	ASSERT_OK(tl_stream_start(&c2s, p.client, p.server), "start client->server");
	ASSERT_OK(tl_stream_start(&s2c, p.server, p.client), "start server->client");
	ASSERT_OK(tl_stream_join(&c2s, 60000), "client->server byte-exact");
	ASSERT_OK(tl_stream_join(&s2c, 60000), "server->client byte-exact");

	ASSERT_OK(tl_counters(pins, after), "read counters");
	tl_counters_log(label, after);
	ASSERT_EQ(after[SA_CNT_INSERTED] - before[SA_CNT_INSERTED], server_in + client_in,
		  "sockets_inserted: exactly the sockets created in the cgroup");
	ASSERT_OK(tl_tcp_bytes(p.client, &cb), "TCP_INFO client");
	ASSERT_OK(tl_tcp_bytes(p.server, &sb), "TCP_INFO server");
	tl_log("%s TCP_INFO: client sent %llu acked %llu; server sent %llu acked %llu", label,
	       (unsigned long long)cb.sent, (unsigned long long)cb.acked,
	       (unsigned long long)sb.sent, (unsigned long long)sb.acked);
	if (accel) {
		ASSERT_GT(after[SA_CNT_MSG_REDIRECTED], before[SA_CNT_MSG_REDIRECTED],
			  "control: msgs_redirected rose");
		ASSERT_LE(cb.sent, TL_BYPASS_MAX(c2s.len), "control: client bypassed TCP");
		ASSERT_LE(sb.sent, TL_BYPASS_MAX(s2c.len), "control: server bypassed TCP");
	} else {
		ASSERT_EQ(after[SA_CNT_MSG_REDIRECTED], before[SA_CNT_MSG_REDIRECTED],
			  "msgs_redirected unchanged");
		ASSERT_GE(cb.sent, c2s.len, "TCP carried every client byte");
		ASSERT_GE(sb.sent, s2c.len, "TCP carried every server byte");
	}
	ok = true;
cleanup:
	tl_stream_stop(&c2s);
	tl_stream_stop(&s2c);
	tl_pair_close(&p);
	return ok;
}

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;

	ASSERT_OK(tl_init("outside_cgroup", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");

	ASSERT_TRUE(run(&pins, "both outside", false, false), "both ends outside the cgroup");
	ASSERT_TRUE(run(&pins, "server inside", true, false), "only the server in the cgroup");
	ASSERT_TRUE(run(&pins, "client inside", false, true), "only the client in the cgroup");
	ASSERT_TRUE(run(&pins, "both inside", true, true), "control: both ends in the cgroup");

	tl_pins_close(&pins);
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	return tl_finish();
}
