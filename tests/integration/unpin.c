// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Scenario 5: `rm -r` of the pin dir while an accelerated connection streams
 * data both ways:
 *  - the transfer completes byte-exact, EOF after the last byte;
 *  - sockacceld notices, says acceleration was turned off and exits 0 by
 *    itself;
 *  - nothing is attached to the cgroup any more, and a new connection is not
 *    accelerated (not in the map, TCP carries every byte);
 *  - once the old sockets are closed, the sock_hash map is freed (its id is
 *    gone).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "exitcodes.h"
#include "pins.h"
#include "testlib.h"

#define MiB (1ULL << 20)

int main(void)
{
	struct tl_pair_opts o = { .family = TL_INET4 };
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_pair a = TL_PAIR_INIT, b = TL_PAIR_INIT;
	struct tl_stream c2s, s2c, plain;
	struct tl_tcp_bytes cb, sb;
	__u64 cnt[SA_CNT_MAX];
	__u32 map_id = 0, n = 0;
	struct stat st;
	int status = -1;
	char *rm_argv[] = { "rm", "-r", tl_env.pin_dir, NULL };

	tl_stream_init(&c2s, "c2s", 48 * MiB, TL_WRITE_SEND);
	tl_stream_init(&s2c, "s2c", 48 * MiB, TL_WRITE_SENDFILE);
	tl_stream_init(&plain, "after-rm c2s", 4 * MiB, TL_WRITE_SPLICE);
	ASSERT_OK(tl_init("unpin", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	/* held across the rm, to look at the map afterwards */
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	ASSERT_OK(tl_pin_id(SA_PIN_SOCK_HASH, &map_id), "sock_hash map id");
	tl_log("sock_hash map id %u", map_id);

	ASSERT_OK(tl_pair_in_map(&a, &o, pins.sock_hash), "connected pair, both in sock_hash");
	/* No shutdown: the old sockets stay established until we close them,
	 * so "after the old sockets close" is a moment the test chooses. */
	c2s.shutdown = s2c.shutdown = false;
	c2s.gated = s2c.gated = true;
	c2s.pace_us = s2c.pace_us = 2000;
	ASSERT_OK(tl_stream_start(&c2s, a.client, a.server), "start client->server stream");
	ASSERT_OK(tl_stream_start(&s2c, a.server, a.client), "start server->client stream");
	tl_stream_allow(&c2s, 8 * MiB);
	tl_stream_allow(&s2c, 8 * MiB);
	ASSERT_OK(tl_stream_wait_verified(&c2s, 8 * MiB, 60000), "first 8 MiB client->server");
	ASSERT_OK(tl_stream_wait_verified(&s2c, 8 * MiB, 60000), "first 8 MiB server->client");

	/* rm -r with data in flight */
	tl_stream_allow(&c2s, 24 * MiB);
	tl_stream_allow(&s2c, 24 * MiB);
	tl_log("rm -r %s", tl_env.pin_dir);
	ASSERT_OK(tl_run_cmd(rm_argv, 30000, &status), "run rm -r <pin dir>");
	ASSERT_EXIT(status, 0, "rm -r <pin dir>");
	ASSERT_TRUE(stat(tl_env.pin_dir, &st) < 0, "pin dir gone");

	ASSERT_OK(tl_daemon_wait_exit(&d, 20000), "sockacceld exits by itself after rm -r");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after its pins were removed");
	ASSERT_TRUE(tl_daemon_output_contains(&d, "acceleration turned off"),
		    "sockacceld logs that acceleration was turned off");

	tl_stream_allow(&c2s, c2s.len);
	tl_stream_allow(&s2c, s2c.len);
	ASSERT_OK(tl_stream_join(&c2s, 120000), "client->server stream byte-exact across rm -r");
	ASSERT_OK(tl_stream_join(&s2c, 120000), "server->client stream byte-exact across rm -r");
	ASSERT_OK(tl_tcp_bytes(a.client, &cb), "TCP_INFO client");
	ASSERT_OK(tl_tcp_bytes(a.server, &sb), "TCP_INFO server");
	ASSERT_OK(tl_counters(&pins, cnt), "read counters (held fd)");
	tl_counters_log("after the transfer", cnt);
	tl_log("old connection TCP_INFO: client sent %llu of %llu, server sent %llu of %llu "
	       "(facts: established sockets keep redirecting after the pins go)",
	       (unsigned long long)cb.sent, (unsigned long long)c2s.len,
	       (unsigned long long)sb.sent, (unsigned long long)s2c.len);

	ASSERT_OK(tl_wait_cgroup_detached(&n, 5000), "no sockops program on the cgroup after rm -r");

	ASSERT_OK(tl_pair_make(&b, &o), "tl_pair_make after rm -r");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, b.client), TL_NOT_IN_MAP,
		  "new client not in sock_hash");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, b.server), TL_NOT_IN_MAP,
		  "new server not in sock_hash");
	ASSERT_OK(tl_stream_start(&plain, b.client, b.server),
		  "start stream on the new connection");
	ASSERT_OK(tl_stream_join(&plain, 60000), "new connection's stream byte-exact");
	ASSERT_OK(tl_tcp_bytes(b.client, &cb), "TCP_INFO new client");
	ASSERT_GE(cb.sent, plain.len, "new connection: tcpi_bytes_sent is the full size");

	/* Our fds are the last user references; then only the old sockets'
	 * psocks keep the map alive. */
	tl_pins_close(&pins);
	tl_pair_close(&b);
	tl_log("sock_hash id %u %s while the old sockets are open", map_id,
	       tl_map_id_exists(map_id) ? "still exists" : "is already gone");
	tl_pair_close(&a);
	ASSERT_OK(tl_map_id_wait_gone(map_id, 30000),
		  "sock_hash map id gone after the old sockets closed");
cleanup:
	tl_stream_stop(&c2s);
	tl_stream_stop(&s2c);
	tl_stream_stop(&plain);
	tl_pins_close(&pins);
	tl_pair_close(&a);
	tl_pair_close(&b);
	tl_daemon_release(&d);
	return tl_finish();
}
