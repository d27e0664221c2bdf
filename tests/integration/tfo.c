// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Scenario 8: a TCP Fast Open connection whose SYN carries the first bytes of
 * the stream (net.ipv4.tcp_fastopen=3, restored afterwards; TCP_FASTOPEN on
 * the listener, sendto(MSG_FASTOPEN) with a cached cookie), then more data
 * both ways:
 *  - the SYN really carried data (TCPI_OPT_SYN_DATA);
 *  - skipped_tfo rose and the TFO child is not in sock_hash;
 *  - both streams arrive intact and in order (redirected data must not
 *    overtake the SYN data in the child's receive queue).
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
#define SYN_LEN 1000

int main(void)
{
	unsigned char syn[SYN_LEN];
	struct tl_pair_opts o = {
		.family = TL_INET4,
		.fastopen = true,
		.syn_data = syn,
		.syn_len = SYN_LEN,
	};
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_stream c2s, s2c;
	__u64 before[SA_CNT_MAX], after[SA_CNT_MAX];
	int cstate;

	tl_stream_init(&c2s, "tfo c2s", 8 * MiB, TL_WRITE_SEND);
	tl_stream_init(&s2c, "tfo s2c", 8 * MiB, TL_WRITE_SEND);
	c2s.start = SYN_LEN;	/* the first bytes go in the SYN */
	tl_pattern_fill(syn, c2s.seed, 0, SYN_LEN);

	ASSERT_OK(tl_init("tfo", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_sysctl_set("/proc/sys/net/ipv4/tcp_fastopen", "3"),
		  "sysctl net.ipv4.tcp_fastopen=3");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	ASSERT_OK(tl_counters(&pins, before), "read counters");

	ASSERT_OK(tl_pair_make(&p, &o), "TFO connection with data in the SYN");
	ASSERT_TRUE(p.syn_data_acked, "the SYN carried data (client TCPI_OPT_SYN_DATA)");
	ASSERT_OK(tl_counters(&pins, after), "read counters");
	tl_counters_log("after the TFO connect", after);
	ASSERT_GE(after[SA_CNT_SKIP_TFO] - before[SA_CNT_SKIP_TFO], 1, "skipped_tfo rose");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, p.server), TL_NOT_IN_MAP,
		  "the TFO child is not in sock_hash");
	cstate = tl_sock_map_state(pins.sock_hash, p.client);
	tl_log("TFO client socket: %s", tl_map_state_name(cstate));

	ASSERT_OK(tl_stream_start(&c2s, p.client, p.server), "start client->server stream");
	ASSERT_OK(tl_stream_start(&s2c, p.server, p.client), "start server->client stream");
	ASSERT_OK(tl_stream_join(&c2s, 60000), "SYN data then the stream, intact and in order");
	ASSERT_OK(tl_stream_join(&s2c, 60000), "server->client stream intact and in order");
	ASSERT_OK(tl_counters(&pins, after), "read counters");
	tl_counters_log("after the streams", after);

	tl_pins_close(&pins);
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	tl_stream_stop(&c2s);
	tl_stream_stop(&s2c);
	tl_pair_close(&p);
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	return tl_finish();
}
