// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockaccelctl disable with one receiver paused: 3 streams with active
 * readers and one connection whose receiver does not read, holding 3 MiB
 * that were redirected to it (not over TCP: under the queue limit and the
 * flow limit, 8 MiB here):
 *  - `disable --timeout 3` drains the others, exits 5 and says 1 socket
 *    remains (7 drained);
 *  - the paused receiver's socket is the one entry left in the (now
 *    unpinned) map, the pins are gone and nothing is attached;
 *  - the active streams are byte-exact to EOF;
 *  - the paused receiver kept its data: once it reads, its stream (the
 *    3 MiB, then 3 MiB more written after the disable) is byte-exact to
 *    EOF; after it closes the map is empty.
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

#define MiB (1ULL << 20)
#define NACTIVE 3
#define STREAM_LEN (12 * MiB)
#define BEFORE_DISABLE (6 * MiB)
#define PAUSED_QUEUED (3 * MiB)
#define PAUSED_LEN (6 * MiB)

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_pair pairs[NACTIVE], paused = TL_PAIR_INIT;
	struct tl_pair_opts po = { .family = TL_INET4 };
	struct tl_stream s[NACTIVE], ps;
	struct ctl_out o = CTL_OUT_INIT;
	struct ctl_opts slow = { .timeout_ms = 60000 };
	struct tl_tcp_bytes tb;
	__u64 c0[SA_CNT_MAX], c1[SA_CNT_MAX];
	__u32 n = 0;

	tl_stream_init(&ps, "paused", PAUSED_LEN, TL_WRITE_SEND);
	ps.start = PAUSED_QUEUED;	/* the first 3 MiB are written by hand */
	for (int i = 0; i < NACTIVE; i++) {
		char name[32];

		pairs[i] = (struct tl_pair)TL_PAIR_INIT;
		snprintf(name, sizeof(name), "active-%d", i);
		tl_stream_init(&s[i], name, STREAM_LEN, i == 1 ? TL_WRITE_SENDFILE : TL_WRITE_SEND);
		s[i].max_write = 64 << 10;
		s[i].pace_us = 4000;
		s[i].gated = true;
	}
	ASSERT_OK(tl_init("ctl_disable_paused", TL_BUDGET_S), "tl_init");
	/* the paused receiver holds 3 MiB, all redirected: above the default
	 * flow limit, flow control would send the last of it over TCP */
	ASSERT_OK(tl_config_write("flow_limit = 8388608\n"), "flow_limit 8 MiB");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	for (int i = 0; i < NACTIVE; i++) {
		ASSERT_OK(tl_pair_make(&pairs[i], &po), "tl_pair_make (active)");
		ASSERT_EQ(tl_sock_map_state(pins.sock_hash, pairs[i].server), TL_IN_MAP,
			  "active server in sock_hash");
	}
	ASSERT_OK(tl_pair_make(&paused, &po), "tl_pair_make (paused)");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, paused.client), TL_IN_MAP,
		  "paused client in sock_hash");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, paused.server), TL_IN_MAP,
		  "paused server in sock_hash");

	/* 1. 3 MiB redirected to a receiver that does not read */
	ASSERT_OK(ctl_counters(&pins, c0, "before the paused data"), "read counters");
	ASSERT_OK(tl_xfer(paused.client, true, ps.seed, PAUSED_QUEUED, 20000),
		  "write 3 MiB to the paused receiver");
	ASSERT_OK(ctl_counters(&pins, c1, "after the paused data"), "read counters");
	ASSERT_GE(c1[SA_CNT_BYTES_REDIRECTED] - c0[SA_CNT_BYTES_REDIRECTED], PAUSED_QUEUED,
		  "the 3 MiB were redirected");
	ASSERT_EQ(c1[SA_CNT_FALLBACKS], c0[SA_CNT_FALLBACKS],
		  "no direction fell back to TCP (the 3 MiB are under the queue limit)");
	ASSERT_OK(tl_tcp_bytes(paused.client, &tb), "TCP_INFO paused client");
	ASSERT_LE(tb.sent, TL_BYPASS_MAX(PAUSED_QUEUED), "TCP carried ~0 of the 3 MiB");

	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");

	/* 2. the active streams flow; disable gives up on the paused one */
	for (int i = 0; i < NACTIVE; i++) {
		ASSERT_OK(tl_stream_start(&s[i], pairs[i].client, pairs[i].server), "start stream");
		tl_stream_allow(&s[i], BEFORE_DISABLE);
	}
	for (int i = 0; i < NACTIVE; i++)
		ASSERT_OK(tl_stream_wait_verified(&s[i], 512 << 10, 30000),
			  "first 512 KiB of each active stream");
	ASSERT_CTL(ctl_cmd_opts(&o, &slow, "disable", "--timeout", "3", NULL), &o,
		   CTL_DRAINED_EXCEPT, "disable --timeout 3 with a paused receiver");
	ASSERT_OUT_HAS(&o, "disabled: 7 sockets drained", "disable says the 7 others drained");
	ASSERT_OUT_HAS(&o, "\n1 sockets still hold", "disable says 1 socket remains");

	ASSERT_OK(tl_map_count(pins.sock_hash, &n), "count map entries (held fd)");
	ASSERT_EQ(n, 1, "map entries after the disable: the paused receiver's");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, paused.server), TL_IN_MAP,
		  "the paused receiver keeps its entry");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, paused.client), TL_NOT_IN_MAP,
		  "the paused connection's sender was drained");
	ASSERT_FALSE(ctl_exists(tl_env.pin_dir), "pin dir gone after the disable");
	ASSERT_OK(tl_wait_cgroup_detached(&n, 2000),
		  "no sockops program on the cgroup after the disable");

	/* 3. the active streams, byte-exact */
	for (int i = 0; i < NACTIVE; i++)
		tl_stream_allow(&s[i], STREAM_LEN);
	for (int i = 0; i < NACTIVE; i++)
		ASSERT_OK(tl_stream_join(&s[i], 60000), "active stream byte-exact across the disable");

	/* 4. the paused receiver reads: its queued 3 MiB first, then the rest */
	ASSERT_OK(tl_stream_start(&ps, paused.client, paused.server), "resume the paused stream");
	ASSERT_OK(tl_stream_join(&ps, 60000), "paused stream byte-exact to EOF after resuming");
	tl_pair_close(&paused);
	ASSERT_TRUE(TL_WAIT_FOR(tl_map_count(pins.sock_hash, &n) == 0 && n == 0, 5000),
		    "the map is empty once the paused connection closed");
cleanup:
	for (int i = 0; i < NACTIVE; i++)
		tl_stream_stop(&s[i]);
	tl_stream_stop(&ps);
	ctl_out_free(&o);
	for (int i = 0; i < NACTIVE; i++)
		tl_pair_close(&pairs[i]);
	tl_pair_close(&paused);
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	return tl_finish();
}
