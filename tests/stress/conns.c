// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Many connections against one sockacceld:
 *  1. 2,000 accelerated connections at once (RLIMIT_NOFILE raised in the
 *     child that holds them; sock_hash has room for 4,000 sockets), each
 *     client streaming its own verified pattern to its server for 60 s,
 *     then EOF: every byte verified, EOF right after the last one, every
 *     connection accelerated from start to end (TCP carried ~0).
 *  2. 20,000 short connections (connect, 1 KiB each way, verified, close)
 *     from two processes as fast as the machine allows, every one of them
 *     accelerated.
 *  3. sockaccelctl status/stats/conns in a loop all the while: no error,
 *     status healthy.
 * Afterwards sock_hash is empty again, and sockacceld holds as many fds as
 * before and (almost) the same memory: it does nothing per connection.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "exitcodes.h"
#include "stress.h"

#define NCONN 2000
#define STREAM_S 60
#define SHORT_TOTAL 20000
#define RSS_NOISE_KB 1024

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_child cs = { .pid = -1 }, cc[2] = { { .pid = -1 }, { .pid = -1 } },
			ck = { .pid = -1 };
	struct tl_ctx in_cg = {}, outside = { .outside_cgroup = true };
	struct st_streams *st = NULL;
	struct st_churn *ch[2] = { NULL, NULL };
	struct st_ctl *ctl = NULL;
	struct tl_fastpath fp;
	long rss0, rss1;
	int fds0, fds1, status;
	__u32 entries = 0;
	__u64 c0[SA_CNT_MAX], c1[SA_CNT_MAX];
	unsigned long made = 0, accel = 0;
	long long t;

	ASSERT_OK(tl_init("stress_conns", TL_BUDGET_S), "tl_init");
	st = tl_shared_alloc(sizeof(*st));
	ch[0] = tl_shared_alloc(sizeof(*ch[0]));
	ch[1] = tl_shared_alloc(sizeof(*ch[1]));
	ctl = tl_shared_alloc(sizeof(*ctl));
	ASSERT_TRUE(st && ch[0] && ch[1] && ctl, "shared memory");

	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_fastpath_read(&fp), "read the pinned fast path");
	tl_fastpath_log("at start", &fp);
	ASSERT_GE(fp.max_entries, 2 * NCONN, "--max-conns leaves room for 2 sockets per connection");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	ASSERT_OK(tl_counters(&pins, c0), "read counters");
	tl_sleep_ms(200);
	tl_daemon_poll(&d);
	ASSERT_OK(tl_proc_usage(d.pid, &rss0, &fds0), "sockacceld's memory and fds");
	tl_log("sockacceld before: VmRSS %ld KiB, %d fds", rss0, fds0);

	ctl->status_ok = 0;
	ASSERT_OK(tl_child_start(&ck, &outside, st_ctl_main, ctl), "start the sockaccelctl loop");

	/* 1. 2,000 streams for 60 s */
	st->nconn = NCONN;
	st->window = 64 << 10;
	st->expect_accel = true;
	ASSERT_OK(tl_child_start(&cs, &in_cg, st_streams_main, st), "start the streams");
	t = tl_now_ms();
	ASSERT_TRUE(TL_WAIT_FOR((tl_daemon_poll(&d), atomic_load(&st->up) == NCONN ||
				 atomic_load(&st->done)), 120000), "connections made");
	if (atomic_load(&st->failures))
		FAIL("streams: %s", st->why);
	tl_log("%d connections up in %lld ms, %u sockets in sock_hash", NCONN, tl_now_ms() - t,
	       st->in_map);
	ASSERT_EQ(st->fully_in_map, NCONN, "every connection has both sockets in sock_hash");
	ASSERT_OK(tl_map_count(pins.sock_hash, &entries), "count sock_hash entries");
	ASSERT_GE(entries, 2 * NCONN, "sock_hash holds them all");
	for (int s = 0; s < STREAM_S && !atomic_load(&st->done); s += 10) {
		tl_sleep_ms(10000);
		tl_daemon_poll(&d);
		tl_log("streaming: %llu MiB verified so far; sockaccelctl runs %lu/%lu/%lu",
		       (unsigned long long)(atomic_load(&st->verified) / ST_MiB),
		       atomic_load(&ctl->runs[0]), atomic_load(&ctl->runs[1]),
		       atomic_load(&ctl->runs[2]));
	}
	atomic_store(&st->stop, 1);
	ASSERT_OK(tl_child_wait(&cs, 120000, &status), "the streams end");
	if (atomic_load(&st->failures))
		FAIL("streams: %s", st->why);
	ASSERT_EXIT(status, 0, "the streams child");
	ASSERT_EQ(st->eofs, NCONN, "every reader got EOF right after the last byte");
	ASSERT_EQ(st->accelerated, NCONN, "every connection stayed accelerated");
	ASSERT_EQ(atomic_load(&st->verified), st->written, "every byte written was verified");
	tl_log("FIGURE stress: %d concurrent accelerated connections held %d s, %llu MiB "
	       "verified byte-exact (%.0f MiB/s)", NCONN, STREAM_S,
	       (unsigned long long)(st->written / ST_MiB),
	       (double)st->written / ST_MiB / STREAM_S);

	/* 2. 20,000 short connections from two processes */
	for (int i = 0; i < 2; i++) {
		ch[i]->max = SHORT_TOTAL / 2;
		ch[i]->expect_accel = true;
		ASSERT_OK(tl_child_start(&cc[i], &in_cg, st_churn_main, ch[i]),
			  "start short connections");
	}
	t = tl_now_ms();
	for (int i = 0; i < 2; i++) {
		ASSERT_OK(tl_child_wait(&cc[i], 150000, &status), "the short connections end");
		if (atomic_load(&ch[i]->failures))
			FAIL("short connections: %d failures, the first: %s",
			     atomic_load(&ch[i]->failures), ch[i]->why);
		ASSERT_EXIT(status, 0, "a short-connection child");
		made += atomic_load(&ch[i]->made);
		accel += atomic_load(&ch[i]->accelerated);
	}
	tl_log("FIGURE stress: %lu short connections in %lld ms (%.0f/s), %lu accelerated, each "
	       "1 KiB verified both ways", made, tl_now_ms() - t,
	       (double)made * 1000 / (double)(tl_now_ms() - t + 1), accel);
	ASSERT_EQ(made, SHORT_TOTAL, "every short connection completed");
	ASSERT_EQ(accel, SHORT_TOTAL, "every short connection accelerated");

	atomic_store(&ctl->stop, 1);
	ASSERT_OK(tl_child_wait(&ck, 60000, &status), "the sockaccelctl loop ends");
	tl_log("FIGURE stress: sockaccelctl status %lu, stats %lu, conns %lu runs meanwhile, %d "
	       "failed", atomic_load(&ctl->runs[0]), atomic_load(&ctl->runs[1]),
	       atomic_load(&ctl->runs[2]), atomic_load(&ctl->failures));
	if (atomic_load(&ctl->failures))
		FAIL("sockaccelctl: %s", ctl->why);
	ASSERT_GT(atomic_load(&ctl->runs[2]), 0, "sockaccelctl ran during the load");

	/* 3. everything closed: map empty, daemon unchanged */
	ASSERT_TRUE(TL_WAIT_FOR(tl_map_count(pins.sock_hash, &entries) == 0 && entries == 0,
				20000), "sock_hash is empty once every connection closed");
	ASSERT_OK(tl_counters(&pins, c1), "read counters");
	tl_counters_log("after the load", c1);
	ASSERT_GE(c1[SA_CNT_INSERTED] - c0[SA_CNT_INSERTED], 2ULL * (NCONN + SHORT_TOTAL),
		  "sockets_inserted counts every socket");
	ASSERT_EQ(c1[SA_CNT_INSERT_FULL] + c1[SA_CNT_INSERT_BUSY] + c1[SA_CNT_INSERT_EXIST] +
		  c1[SA_CNT_INSERT_OTHER], 0, "no insertion failed");
	tl_daemon_poll(&d);
	ASSERT_FALSE(d.exited, "sockacceld still running");
	ASSERT_OK(tl_proc_usage(d.pid, &rss1, &fds1), "sockacceld's memory and fds");
	tl_log("FIGURE stress: sockacceld VmRSS %ld -> %ld KiB, fds %d -> %d across %d + %d "
	       "connections", rss0, rss1, fds0, fds1, NCONN, SHORT_TOTAL);
	ASSERT_EQ(fds1, fds0, "sockacceld holds no more fds than before");
	ASSERT_LE(rss1, rss0 + RSS_NOISE_KB, "sockacceld's memory did not grow (1 MiB noise)");

	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	if (st)
		atomic_store(&st->stop, 1);
	for (int i = 0; i < 2; i++)
		if (ch[i])
			atomic_store(&ch[i]->stop, 1);
	if (ctl)
		atomic_store(&ctl->stop, 1);
	if (cs.pid > 0)
		tl_child_wait(&cs, 30000, NULL);
	for (int i = 0; i < 2; i++)
		if (cc[i].pid > 0)
			tl_child_wait(&cc[i], 30000, NULL);
	if (ck.pid > 0)
		tl_child_wait(&ck, 30000, NULL);
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	tl_shared_free(st, sizeof(*st));
	tl_shared_free(ch[0], sizeof(*ch[0]));
	tl_shared_free(ch[1], sizeof(*ch[1]));
	tl_shared_free(ctl, sizeof(*ctl));
	return tl_finish();
}
