// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Scenario 7: two network namespaces, each with a connection
 * 127.0.0.1:47002 -> 127.0.0.1:47001 (identical 4-tuples), both open at
 * once and both in the cgroup:
 *  - the two connections' keys differ only in the netns cookie;
 *  - all four sockets are in sock_hash, each under its own key;
 *  - four streams at once (each direction of each connection, each with its
 *    own pattern seed) arrive byte-exact: each side receives only its own
 *    data, never the other namespace's;
 *  - every byte bypassed TCP.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"
#include "key.h"
#include "testlib.h"

#define MiB (1ULL << 20)
#define SERVER_PORT 47001
#define CLIENT_PORT 47002

int main(void)
{
	struct tl_pair_opts o = {
		.family = TL_INET4,
		.server = { .netns = true },	/* one fresh netns per connection */
		.server_port = SERVER_PORT,
		.client_port = CLIENT_PORT,
	};
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_pair a = TL_PAIR_INIT, b = TL_PAIR_INIT;
	struct tl_stream s[4];
	struct sa_sock_key ka, kb;
	__u64 before[SA_CNT_MAX], after[SA_CNT_MAX], total = 0;
	__u32 entries = 0;
	int fds[4][2];
	const char *names[4] = { "netns A c2s", "netns A s2c", "netns B c2s", "netns B s2c" };

	for (int i = 0; i < 4; i++)
		tl_stream_init(&s[i], names[i], 32 * MiB, (enum tl_write_mode)(i % 3));
	ASSERT_OK(tl_init("netns", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");

	ASSERT_OK(tl_pair_make(&a, &o), "connection in netns A");
	ASSERT_OK(tl_pair_make(&b, &o), "connection in netns B");
	ASSERT_OK(sa_key_of_socket(a.client, &ka), "key of A's client");
	ASSERT_OK(sa_key_of_socket(b.client, &kb), "key of B's client");
	tl_log("A: netns cookie %llu, B: netns cookie %llu, ports %u -> %u",
	       (unsigned long long)ka.netns, (unsigned long long)kb.netns, ka.sport, ka.dport);
	ASSERT_EQ(ka.sport, CLIENT_PORT, "A's client port");
	ASSERT_EQ(ka.dport, SERVER_PORT, "A's server port");
	ASSERT_NEQ(ka.netns, kb.netns, "the netns cookies differ");
	kb.netns = ka.netns;
	ASSERT_EQ(memcmp(&ka, &kb, sizeof(ka)), 0, "apart from the netns, the keys are identical");

	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, a.client), TL_IN_MAP,
		  "A's client in sock_hash");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, a.server), TL_IN_MAP,
		  "A's server in sock_hash");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, b.client), TL_IN_MAP,
		  "B's client in sock_hash");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, b.server), TL_IN_MAP,
		  "B's server in sock_hash");
	ASSERT_OK(tl_map_count(pins.sock_hash, &entries), "count sock_hash entries");
	ASSERT_EQ(entries, 4, "sock_hash entries: four sockets, four keys");

	ASSERT_OK(tl_counters(&pins, before), "read counters");
	fds[0][0] = a.client, fds[0][1] = a.server;
	fds[1][0] = a.server, fds[1][1] = a.client;
	fds[2][0] = b.client, fds[2][1] = b.server;
	fds[3][0] = b.server, fds[3][1] = b.client;
	for (int i = 0; i < 4; i++)
		ASSERT_OK(tl_stream_start(&s[i], fds[i][0], fds[i][1]), "start stream");
	for (int i = 0; i < 4; i++) {
		ASSERT_OK(tl_stream_join(&s[i], 120000), names[i]);
		total += s[i].len;
	}

	ASSERT_OK(tl_counters(&pins, after), "read counters");
	tl_counters_log("after the streams", after);
	ASSERT_GE(after[SA_CNT_BYTES_REDIRECTED] - before[SA_CNT_BYTES_REDIRECTED], total,
		  "bytes_redirected covers all four streams");
	for (int i = 0; i < 4; i++) {
		struct tl_tcp_bytes tb;

		ASSERT_OK(tl_tcp_bytes(fds[i][0], &tb), "TCP_INFO");
		ASSERT_LE(tb.sent, TL_BYPASS_MAX(s[i].len), names[i]);
	}

	tl_pins_close(&pins);
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	for (int i = 0; i < 4; i++)
		tl_stream_stop(&s[i]);
	tl_pair_close(&a);
	tl_pair_close(&b);
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	return tl_finish();
}
