// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Scenario 3: stop sockacceld with SIGTERM and start it again, 20 times,
 * while one connection streams data both ways (paced, so that bytes are in
 * flight while the daemon stops and starts, and also while none runs).
 * After every restart:
 *  - no byte lost: the readers verify everything sent so far, in order;
 *  - the connection stays accelerated: both sockets still in sock_hash,
 *    msgs_redirected keeps rising, tcpi_bytes_sent stays ~0;
 *  - the pinned sock_hash keeps its map id, the pinned links their ids
 *    (programs are replaced inside them), and exactly one sockops program is
 *    attached to the cgroup and one sk_msg program to the map.
 * SIGINT, which must act like SIGTERM, stops every other round. Every fifth
 * round a new connection made while no daemon runs must be accelerated: the
 * fast path does not need the daemon. At the end a new connection is
 * accelerated by the restarted daemon.
 *
 * kill9.c and kill9_startup.c build this file with SIGKILL (scenario 4).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "exitcodes.h"
#include "pins.h"
#include "testlib.h"

#ifndef RESTART_SIG
#define RESTART_SIG SIGTERM
#define RESTART_NAME "restart"
#define RESTART_ROUNDS 20
#endif
/* Delays (ms) after spawning at which a start-up is killed before the
 * next daemon comes up; only with RESTART_STARTUP_KILLS. */
#ifdef RESTART_STARTUP_KILLS
static const unsigned int startup_kill_ms[] = { 0, 2, 5, 10, 20, 40, 80, 150, 300 };
#endif

#define MiB (1ULL << 20)
#define STREAM_LEN (96 * MiB)
#define STEP_ACTIVE (2 * MiB)	/* allowed right before the stop */
#define STEP_IDLE (1 * MiB)	/* allowed while no daemon runs */

struct conn {
	struct tl_pair p;
	struct tl_stream c2s, s2c;
	__u64 allowed;
};

static void allow(struct conn *c, __u64 more)
{
	c->allowed += more;
	tl_stream_allow(&c->c2s, c->allowed);
	tl_stream_allow(&c->s2c, c->allowed);
}

static int wait_caught_up(struct conn *c)
{
	__u64 c2s = c->allowed < c->c2s.len ? c->allowed : c->c2s.len;
	__u64 s2c = c->allowed < c->s2c.len ? c->allowed : c->s2c.len;
	int err = tl_stream_wait_verified(&c->c2s, c2s, 60000);

	return err ? err : tl_stream_wait_verified(&c->s2c, s2c, 60000);
}

/*
 * Everything scenario 3 promises after a restart. @open: the connection is
 * still open both ways (once both sides have sent FIN the kernel drops the
 * sockets from the map by itself).
 */
static bool check_after_restart(const char *label, const struct tl_fastpath *first,
			       struct tl_fastpath *prev, struct conn *c, bool open)
{
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_fastpath now;
	struct tl_tcp_bytes cb, sb;
	bool ok = false;

	ASSERT_OK(wait_caught_up(c), "every byte sent so far arrived, in order");
	ASSERT_OK(tl_fastpath_read(&now), "read the pinned fast path");
	tl_fastpath_log(label, &now);
	ASSERT_EQ(now.map_id, first->map_id, "sock_hash map id unchanged by the restart");
	ASSERT_EQ(now.link_sockops, first->link_sockops, "sockops link reused (same link id)");
	ASSERT_EQ(now.link_msg, first->link_msg, "sk_msg link reused (same link id)");
	ASSERT_EQ(now.cg_progs, 1, "sockops programs attached to the cgroup");
	ASSERT_EQ(now.msg_progs, 1, "sk_msg programs attached to sock_hash");
	ASSERT_GT(now.cnt[SA_CNT_MSG_REDIRECTED], prev->cnt[SA_CNT_MSG_REDIRECTED],
		  "msgs_redirected keeps rising across the restart");
	ASSERT_GE(now.cnt[SA_CNT_BYTES_REDIRECTED], prev->cnt[SA_CNT_BYTES_REDIRECTED],
		  "bytes_redirected never goes back");

	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash");
	if (open) {
		ASSERT_EQ(tl_sock_map_state(pins.sock_hash, c->p.client), TL_IN_MAP,
			  "streaming client still in sock_hash");
		ASSERT_EQ(tl_sock_map_state(pins.sock_hash, c->p.server), TL_IN_MAP,
			  "streaming server still in sock_hash");
	}
	ASSERT_OK(tl_tcp_bytes(c->p.client, &cb), "TCP_INFO client");
	ASSERT_OK(tl_tcp_bytes(c->p.server, &sb), "TCP_INFO server");
	ASSERT_LE(cb.sent, TL_BYPASS_MAX(atomic_load(&c->c2s.written)),
		  "client tcpi_bytes_sent ~0: still accelerated");
	ASSERT_LE(sb.sent, TL_BYPASS_MAX(atomic_load(&c->s2c.written)),
		  "server tcpi_bytes_sent ~0: still accelerated");
	*prev = now;
	ok = true;
cleanup:
	tl_pins_close(&pins);
	return ok;
}

/* Stop @d with @sig and check how it ended. */
static bool stop_daemon(struct tl_daemon *d, int sig)
{
	bool ok = false;

	ASSERT_OK(tl_daemon_stop(d, sig, TL_STOP_MS), "stop sockacceld");
	if (sig == SIGKILL)
		ASSERT_TRUE(WIFSIGNALED(d->status) && WTERMSIG(d->status) == SIGKILL,
			    "sockacceld killed by SIGKILL");
	else
		ASSERT_EXIT(d->status, SA_EXIT_OK, "sockacceld after SIGTERM/SIGINT");
	ok = true;
cleanup:
	tl_daemon_release(d);
	return ok;
}

int main(void)
{
	struct tl_pair_opts o = { .family = TL_INET4 };
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_fastpath first, prev;
	struct conn c = { .p = TL_PAIR_INIT };
	char label[64];

	tl_stream_init(&c.c2s, "c2s", STREAM_LEN, TL_WRITE_SEND);
	tl_stream_init(&c.s2c, "s2c", STREAM_LEN, TL_WRITE_SPLICE);
	ASSERT_OK(tl_init(RESTART_NAME, TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_fastpath_read(&first), "read the pinned fast path");
	tl_fastpath_log("at start", &first);
	ASSERT_EQ(first.cg_progs, 1, "sockops programs attached to the cgroup");
	ASSERT_EQ(first.msg_progs, 1, "sk_msg programs attached to sock_hash");
	prev = first;

	ASSERT_OK(tl_pair_make(&c.p, &o), "tl_pair_make");
	c.c2s.gated = c.s2c.gated = true;
	c.c2s.pace_us = c.s2c.pace_us = 5000;
	ASSERT_OK(tl_stream_start(&c.c2s, c.p.client, c.p.server), "start client->server stream");
	ASSERT_OK(tl_stream_start(&c.s2c, c.p.server, c.p.client), "start server->client stream");
	allow(&c, STEP_ACTIVE);
	ASSERT_TRUE(check_after_restart("before any restart", &first, &prev, &c, true),
		  "initial state");

	for (int round = 1; round <= RESTART_ROUNDS; round++) {
		int sig = RESTART_SIG == SIGTERM && round % 2 == 0 ? SIGINT : RESTART_SIG;

		tl_log("---- round %d/%d: %s during the transfer", round, RESTART_ROUNDS,
		       strsignal(sig));
		allow(&c, STEP_ACTIVE);
		tl_sleep_ms(5 * (unsigned int)(round % 4));	/* vary the moment */
		ASSERT_TRUE(stop_daemon(&d, sig), "stop sockacceld mid-transfer");
		allow(&c, STEP_IDLE);
		if (round % 5 == 0)
			ASSERT_TRUE(tl_new_conn_accelerated("new c2s", TL_INET4, 8 * MiB, TL_WRITE_SEND),
				    "a new connection made while no sockacceld runs");
		ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0),
			  "restart sockacceld, wait for READY=1");
		snprintf(label, sizeof(label), "after restart %d", round);
		ASSERT_TRUE(check_after_restart(label, &first, &prev, &c, true), label);
	}

#ifdef RESTART_STARTUP_KILLS
	for (unsigned int i = 0; i < sizeof(startup_kill_ms) / sizeof(startup_kill_ms[0]); i++) {
		tl_log("---- SIGKILL %u ms into a start-up, then start again", startup_kill_ms[i]);
		allow(&c, STEP_ACTIVE);
		ASSERT_TRUE(stop_daemon(&d, SIGKILL), "stop the running sockacceld");
		ASSERT_OK(tl_daemon_start(&d, NULL, 0), "start sockacceld");
		tl_sleep_ms(startup_kill_ms[i]);
		ASSERT_OK(tl_daemon_stop(&d, SIGKILL, TL_STOP_MS),
			  "SIGKILL sockacceld in start-up");
		tl_daemon_release(&d);
		allow(&c, STEP_IDLE);
		ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0),
			  "start sockacceld after a start-up was killed, wait for READY=1");
		snprintf(label, sizeof(label), "after start-up kill at %u ms", startup_kill_ms[i]);
		ASSERT_TRUE(check_after_restart(label, &first, &prev, &c, true), label);
	}
#endif

	allow(&c, STREAM_LEN);
	ASSERT_OK(tl_stream_join(&c.c2s, 120000), "client->server stream byte-exact, EOF after it");
	ASSERT_OK(tl_stream_join(&c.s2c, 120000), "server->client stream byte-exact, EOF after it");
	ASSERT_TRUE(check_after_restart("after the streams", &first, &prev, &c, false),
		  "final state");
	ASSERT_TRUE(tl_new_conn_accelerated("new c2s", TL_INET4, 8 * MiB, TL_WRITE_SEND), "a new connection after the restarts");

	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	tl_stream_stop(&c.c2s);
	tl_stream_stop(&c.s2c);
	tl_pair_close(&c.p);
	tl_daemon_release(&d);
	return tl_finish();
}
