// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockaccelctl disable during 8 concurrent streams with active readers:
 *  - while sockacceld runs it refuses (6), names the daemon's pid and
 *    changes nothing;
 *  - with the daemon stopped, it runs while the streams flow (each stream
 *    has bytes written before and after it), exits 0 and reports 16
 *    entries, 16 drained, 0 remaining;
 *  - afterwards no entry is left in the (held) map, the pin dir is gone,
 *    nothing is attached to the cgroup or the map, and a new connection is
 *    not accelerated;
 *  - every stream is byte-exact to EOF; what was written after the disable
 *    went over TCP.
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
#include "pins.h"

#define MiB (1ULL << 20)
#define NSTREAMS 8
#define STREAM_LEN (16 * MiB)
#define BEFORE_DISABLE (10 * MiB)	/* credit before the disable returns */

static const enum tl_write_mode modes[] = { TL_WRITE_SEND, TL_WRITE_SENDFILE, TL_WRITE_SPLICE };

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_pair pairs[NSTREAMS], fresh = TL_PAIR_INIT;
	struct tl_stream s[NSTREAMS];
	struct ctl_out o = CTL_OUT_INIT;
	struct ctl_opts slow = { .timeout_ms = 60000 };
	struct tl_pair_opts po4 = { .family = TL_INET4 };
	struct tl_tcp_bytes tb;
	struct cj *v = NULL;
	char path[PATH_MAX], text[96];
	__u64 before[NSTREAMS], x = 0;
	__u32 n = 0;

	for (int i = 0; i < NSTREAMS; i++) {
		char name[32];

		pairs[i] = (struct tl_pair)TL_PAIR_INIT;
		snprintf(name, sizeof(name), "disable-%d", i);
		tl_stream_init(&s[i], name, STREAM_LEN, modes[i % 3]);
		/* small paced writes: the streams are still flowing while
		 * disable runs, and the receivers keep up */
		s[i].max_write = 64 << 10;
		s[i].pace_us = 4000;
		s[i].gated = true;
	}
	ASSERT_OK(tl_init("ctl_disable", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	for (int i = 0; i < NSTREAMS; i++) {
		struct tl_pair_opts po = { .family = i % 2 ? TL_INET6 : TL_INET4 };

		ASSERT_OK(tl_pair_make(&pairs[i], &po), "tl_pair_make");
		ASSERT_EQ(tl_sock_map_state(pins.sock_hash, pairs[i].client), TL_IN_MAP,
			  "client in sock_hash");
		ASSERT_EQ(tl_sock_map_state(pins.sock_hash, pairs[i].server), TL_IN_MAP,
			  "server in sock_hash");
	}
	ASSERT_OK(tl_map_count(pins.sock_hash, &n), "count map entries");
	ASSERT_EQ(n, 2 * NSTREAMS, "map entries before the disable");

	/* 1. refused while sockacceld holds the pin dir */
	ASSERT_CTL(ctl_cmd(&o, "disable", "--timeout", "1", NULL), &o, CTL_BUSY,
		   "disable while sockacceld runs");
	snprintf(text, sizeof(text), "sockacceld (pid %d)", (int)d.pid);
	ASSERT_ERR_HAS(&o, text, "disable names the daemon's pid");
	ASSERT_ERR_HAS(&o, "stop it first", "disable says to stop the daemon");
	ASSERT_OK(tl_pin_path(path, SA_PIN_LINK_SOCKOPS), "link_sockops path");
	ASSERT_TRUE(ctl_exists(path), "link_sockops still pinned after the refused disable");
	ASSERT_CTL(ctl_cmd(&o, "status", NULL), &o, CTL_OK, "status after the refused disable");
	ASSERT_OK(tl_map_count(pins.sock_hash, &n), "count map entries");
	ASSERT_EQ(n, 2 * NSTREAMS, "map entries after the refused disable");

	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");

	/* 2. streams flowing, then disable */
	for (int i = 0; i < NSTREAMS; i++) {
		ASSERT_OK(tl_stream_start(&s[i], pairs[i].client, pairs[i].server), "start stream");
		tl_stream_allow(&s[i], BEFORE_DISABLE);
	}
	for (int i = 0; i < NSTREAMS; i++)
		ASSERT_OK(tl_stream_wait_verified(&s[i], 512 << 10, 30000),
			  "first 512 KiB of each stream before the disable");
	for (int i = 0; i < NSTREAMS; i++)
		before[i] = atomic_load(&s[i].written);
	ASSERT_CTL(ctl_cmd_opts(&o, &slow, "--json", "disable", "--timeout", "20", NULL), &o,
		   CTL_OK, "disable during 8 streams");
	for (int i = 0; i < NSTREAMS; i++)
		tl_log("stream %s: %llu bytes written when disable started, %llu when it returned",
		       s[i].name, (unsigned long long)before[i],
		       (unsigned long long)atomic_load(&s[i].written));
	ASSERT_JSON(&o, CJ_OBJ, v, "disable --json");
	ASSERT_JSON_BOOL(v, "was_off", false, "disable --json: was_off");
	ASSERT_JSON_U64(v, "entries", &x, "disable --json: entries");
	ASSERT_EQ(x, 2 * NSTREAMS, "disable --json: entries");
	ASSERT_JSON_U64(v, "drained", &x, "disable --json: drained");
	ASSERT_EQ(x, 2 * NSTREAMS, "disable --json: drained");
	ASSERT_JSON_U64(v, "remaining", &x, "disable --json: remaining");
	ASSERT_EQ(x, 0, "disable --json: remaining");

	/* 3. nothing left */
	ASSERT_OK(tl_map_count(pins.sock_hash, &n), "count map entries (held fd)");
	ASSERT_EQ(n, 0, "map entries after the disable");
	ASSERT_FALSE(ctl_exists(tl_env.pin_dir), "pin dir gone after the disable");
	ASSERT_OK(tl_wait_cgroup_detached(&n, 2000),
		  "no sockops program on the cgroup after the disable");
	ASSERT_OK(tl_wait_map_detached(pins.sock_hash, &n, 2000),
		  "no sk_msg program on the map after the disable");
	ASSERT_CTL(ctl_cmd(&o, "status", NULL), &o, CTL_OFF, "status after the disable");
	ASSERT_OK(tl_pair_make(&fresh, &po4), "tl_pair_make after the disable");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, fresh.client), TL_NOT_IN_MAP,
		  "new client not in sock_hash");

	/* 4. the streams go on over TCP, byte-exact to EOF */
	for (int i = 0; i < NSTREAMS; i++)
		tl_stream_allow(&s[i], STREAM_LEN);
	for (int i = 0; i < NSTREAMS; i++) {
		ASSERT_OK(tl_stream_join(&s[i], 60000), "stream byte-exact across the disable");
		ASSERT_OK(tl_tcp_bytes(pairs[i].client, &tb), "TCP_INFO client");
		tl_log("stream %s: TCP carried %llu of %llu bytes", s[i].name,
		       (unsigned long long)tb.sent, (unsigned long long)STREAM_LEN);
		ASSERT_GE(tb.sent, STREAM_LEN - BEFORE_DISABLE,
			  "what was written after the disable went over TCP");
	}
cleanup:
	for (int i = 0; i < NSTREAMS; i++)
		tl_stream_stop(&s[i]);
	cj_free(v);
	ctl_out_free(&o);
	for (int i = 0; i < NSTREAMS; i++)
		tl_pair_close(&pairs[i]);
	tl_pair_close(&fresh);
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	return tl_finish();
}
