// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Restarts and kills under load. While 200 connections stream verified
 * patterns, short connections are opened back to back and sockaccelctl
 * status/stats/conns runs in a loop, sockacceld is stopped and started 60
 * times: 50 clean stops (SIGTERM and SIGINT alternating) and 10 kill -9,
 * each followed by a start that must become ready.
 *  - no byte is lost or reordered, every stream ends with EOF right after
 *    its last byte, and every stream stayed accelerated;
 *  - every short connection, whenever it was opened (with or without a
 *    daemon), was accelerated and exchanged its bytes intact;
 *  - every sockaccelctl run succeeded (status: healthy, exit 0);
 *  - after every start: the same sock_hash, the same links, one sockops
 *    program on the cgroup, one sk_msg program on the map.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "exitcodes.h"
#include "stress.h"

#define NCONN 200
#define RESTARTS 60		/* every 6th is a kill -9 */

/* The data path fails the test at once; sockaccelctl (@ctl, may be NULL)
 * is judged at the end, so that one bad run does not hide the rest. */
static bool load_ok(struct st_streams *st, struct st_churn *ch, struct st_ctl *ctl)
{
	bool ok = false;

	if (atomic_load(&st->failures))
		FAIL("streams: %s", st->why);
	if (atomic_load(&ch->failures))
		FAIL("short connections: %s", ch->why);
	if (ctl && atomic_load(&ctl->failures))
		FAIL("sockaccelctl: %d of %lu runs failed; the first: %s",
		     atomic_load(&ctl->failures),
		     atomic_load(&ctl->runs[0]) + atomic_load(&ctl->runs[1]) +
		     atomic_load(&ctl->runs[2]), ctl->why);
	ok = true;
cleanup:
	return ok;
}

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_child cs = { .pid = -1 }, cc = { .pid = -1 }, ck = { .pid = -1 };
	struct tl_ctx in_cg = {}, outside = { .outside_cgroup = true };
	struct st_streams *st = NULL;
	struct st_churn *ch = NULL;
	struct st_ctl *ctl = NULL;
	struct tl_fastpath first, now;
	unsigned int kills = 0, stops = 0;
	unsigned long made0;
	__u32 entries = 0;
	__u64 c[SA_CNT_MAX];
	int status;
	long long t0;

	ASSERT_OK(tl_init("stress_restarts", TL_BUDGET_S), "tl_init");
	st = tl_shared_alloc(sizeof(*st));
	ch = tl_shared_alloc(sizeof(*ch));
	ctl = tl_shared_alloc(sizeof(*ctl));
	ASSERT_TRUE(st && ch && ctl, "shared memory");

	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_fastpath_read(&first), "read the pinned fast path");
	tl_fastpath_log("at start", &first);
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");

	st->nconn = NCONN;
	st->window = 256 << 10;
	st->expect_accel = true;
	ASSERT_OK(tl_child_start(&cs, &in_cg, st_streams_main, st), "start the streams");
	ASSERT_TRUE(TL_WAIT_FOR(atomic_load(&st->up) == NCONN || atomic_load(&st->done), 60000),
		    "connections made");
	ch->expect_accel = true;
	ASSERT_OK(tl_child_start(&cc, &in_cg, st_churn_main, ch), "start short connections");
	ctl->status_ok = 0;
	ASSERT_OK(tl_child_start(&ck, &outside, st_ctl_main, ctl), "start the sockaccelctl loop");
	ASSERT_TRUE(load_ok(st, ch, NULL), "load running");

	t0 = tl_now_ms();
	for (int i = 1; i <= RESTARTS; i++) {
		int sig = i % 6 == 0 ? SIGKILL : i % 2 ? SIGTERM : SIGINT;

		made0 = atomic_load(&ch->made);
		tl_sleep_ms(50 + 37 * (unsigned int)(i % 5));	/* load with a daemon */
		ASSERT_OK(tl_daemon_stop(&d, sig, TL_STOP_MS), "stop sockacceld");
		if (sig == SIGKILL) {
			ASSERT_TRUE(WIFSIGNALED(d.status) && WTERMSIG(d.status) == SIGKILL,
				    "sockacceld killed by SIGKILL");
			kills++;
		} else {
			ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM/SIGINT");
			stops++;
		}
		tl_daemon_release(&d);
		/* load without a daemon: the fast path does not need it */
		ASSERT_TRUE(TL_WAIT_FOR(atomic_load(&ch->made) > made0 + 20 ||
					atomic_load(&ch->done), 30000),
			    "short connections go on while no sockacceld runs");
		ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld again");
		ASSERT_OK(tl_fastpath_read(&now), "read the pinned fast path");
		ASSERT_EQ(now.map_id, first.map_id, "sock_hash keeps its map id");
		ASSERT_EQ(now.link_sockops, first.link_sockops, "the sockops link is reused");
		ASSERT_EQ(now.link_msg, first.link_msg, "the sk_msg link is reused");
		ASSERT_EQ(now.cg_progs, 1, "one sockops program on the cgroup");
		ASSERT_EQ(now.msg_progs, 1, "one sk_msg program on the map");
		ASSERT_TRUE(load_ok(st, ch, NULL), "load going on");
		if (i % 10 == 0)
			tl_log("%d restarts (%u kill -9) in %lld ms; %llu MiB streamed and verified, "
			       "%lu short connections, sockaccelctl runs %lu/%lu/%lu", i, kills,
			       tl_now_ms() - t0,
			       (unsigned long long)(atomic_load(&st->verified) / ST_MiB),
			       atomic_load(&ch->made), atomic_load(&ctl->runs[0]),
			       atomic_load(&ctl->runs[1]), atomic_load(&ctl->runs[2]));
	}

	atomic_store(&ch->stop, 1);
	atomic_store(&ctl->stop, 1);
	atomic_store(&st->stop, 1);
	ASSERT_OK(tl_child_wait(&cs, 120000, &status), "the streams end");
	ASSERT_OK(tl_child_wait(&cc, 60000, NULL), "the short connections end");
	ASSERT_OK(tl_child_wait(&ck, 60000, NULL), "the sockaccelctl loop ends");
	ASSERT_TRUE(load_ok(st, ch, NULL), "the data path had no failure");
	ASSERT_EXIT(status, 0, "the streams child");
	ASSERT_EQ(st->eofs, NCONN, "every reader got EOF right after the last byte");
	ASSERT_EQ(st->accelerated, NCONN, "every stream stayed accelerated");
	ASSERT_EQ(atomic_load(&st->verified), st->written, "every byte written was verified");
	ASSERT_EQ(atomic_load(&ch->accelerated), atomic_load(&ch->made),
		  "every short connection accelerated");
	tl_log("FIGURE stress: %u clean restarts and %u kill -9 survived under load: %d "
	       "connections streamed %llu MiB byte-exact, %lu short connections all accelerated, "
	       "sockaccelctl status %lu / stats %lu / conns %lu runs, failed %lu/%lu/%lu",
	       stops, kills, NCONN, (unsigned long long)(st->written / ST_MiB),
	       atomic_load(&ch->made), atomic_load(&ctl->runs[0]), atomic_load(&ctl->runs[1]),
	       atomic_load(&ctl->runs[2]), atomic_load(&ctl->failed[0]), atomic_load(&ctl->failed[1]),
	       atomic_load(&ctl->failed[2]));

	ASSERT_TRUE(TL_WAIT_FOR(tl_map_count(pins.sock_hash, &entries) == 0 && entries == 0,
				20000), "sock_hash is empty once every connection closed");
	ASSERT_TRUE(load_ok(st, ch, ctl), "every sockaccelctl run succeeded during the restarts");
	ASSERT_OK(tl_counters(&pins, c), "read counters");
	tl_counters_log("at the end", c);
	ASSERT_EQ(c[SA_CNT_INSERT_FULL] + c[SA_CNT_INSERT_BUSY] + c[SA_CNT_INSERT_EXIST] +
		  c[SA_CNT_INSERT_OTHER], 0, "no insertion failed across the restarts");

	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	if (st)
		atomic_store(&st->stop, 1);
	if (ch)
		atomic_store(&ch->stop, 1);
	if (ctl)
		atomic_store(&ctl->stop, 1);
	if (cs.pid > 0)
		tl_child_wait(&cs, 30000, NULL);
	if (cc.pid > 0)
		tl_child_wait(&cc, 30000, NULL);
	if (ck.pid > 0)
		tl_child_wait(&ck, 30000, NULL);
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	tl_shared_free(st, sizeof(*st));
	tl_shared_free(ch, sizeof(*ch));
	tl_shared_free(ctl, sizeof(*ctl));
	return tl_finish();
}
