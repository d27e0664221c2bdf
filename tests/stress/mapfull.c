// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A full map. sockacceld with --max-conns 64 (room for 32 connections), 100
 * connections streaming at once and short connections opened back to back:
 *  - sock_hash never holds more than 64 sockets; the rest are counted in
 *    insert_full;
 *  - every connection works: every stream arrives byte-exact with EOF, every
 *    short connection exchanges its bytes intact; the fully inserted
 *    connections are accelerated, the others stay on TCP;
 *  - sockaccelctl status says so: exit 1, "degraded", the map is full (64 of
 *    64) and insert failures are rising; sockaccelctl stats shows
 *    insert_full;
 *  - once the connections close, the map is empty, a new connection is
 *    accelerated and status is healthy again.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "stress.h"

#define MAX_CONNS 64
#define NCONN 100

/* Run sockaccelctl @a [@b]; output in *@out (free it). */
static int ctl_run(const char *a, const char *b, int *status, char **out)
{
	char *argv[] = { (char *)tl_ctl_path(), "--pin-dir", tl_env.pin_dir, (char *)a,
			 (char *)b, NULL };
	char *err = NULL;
	int r = tl_run_capture(argv, 30000, status, out, &err);

	if (err && err[0])
		tl_log("sockaccelctl %s %s stderr: %s", a, b ? b : "", err);
	free(err);
	return r;
}

int main(void)
{
	const char *args[] = { "--max-conns", "64", NULL };
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_child cs = { .pid = -1 }, cc = { .pid = -1 };
	struct tl_ctx in_cg = {};
	struct st_streams *st = NULL;
	struct st_churn *ch = NULL;
	__u64 c0[SA_CNT_MAX], c1[SA_CNT_MAX];
	__u32 entries = 0;
	char *out = NULL, *line;
	unsigned long long full = 0;
	int status;

	ASSERT_OK(tl_init("stress_mapfull", TL_BUDGET_S), "tl_init");
	st = tl_shared_alloc(sizeof(*st));
	ch = tl_shared_alloc(sizeof(*ch));
	ASSERT_TRUE(st && ch, "shared memory");
	ASSERT_OK(tl_daemon_start_ready(&d, args, 0), "start sockacceld --max-conns 64");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	ASSERT_OK(tl_counters(&pins, c0), "read counters");

	st->nconn = NCONN;
	st->window = 256 << 10;
	st->expect_accel = false;
	ASSERT_OK(tl_child_start(&cs, &in_cg, st_streams_main, st), "start the streams");
	ASSERT_TRUE(TL_WAIT_FOR(atomic_load(&st->up) == NCONN || atomic_load(&st->done), 60000),
		    "connections made");
	if (atomic_load(&st->failures))
		FAIL("streams: %s", st->why);
	tl_log("%d connections: %u sockets in sock_hash, %u connections fully inserted", NCONN,
	       st->in_map, st->fully_in_map);
	ASSERT_LE(st->in_map, MAX_CONNS, "no more sockets in sock_hash than --max-conns");
	ASSERT_OK(tl_map_count(pins.sock_hash, &entries), "count sock_hash entries");
	ASSERT_LE(entries, MAX_CONNS, "sock_hash entries");
	ASSERT_GE(entries, MAX_CONNS - 1, "sock_hash is full");

	ch->expect_accel = false;
	ASSERT_OK(tl_child_start(&cc, &in_cg, st_churn_main, ch), "start short connections");
	ASSERT_TRUE(TL_WAIT_FOR(atomic_load(&ch->made) > 100 || atomic_load(&ch->done), 30000),
		    "short connections under way");

	/* what sockaccelctl says meanwhile */
	ASSERT_OK(ctl_run("status", NULL, &status, &out), "sockaccelctl status");
	tl_log("sockaccelctl status (%d):\n%s", WEXITSTATUS(status), out);
	ASSERT_EXIT(status, 1, "sockaccelctl status on a full map: degraded");
	ASSERT_TRUE(strstr(out, "sockaccel: degraded") != NULL, "status says degraded");
	ASSERT_TRUE(strstr(out, "100% full (64 of 64)") != NULL ||
		    strstr(out, "full (63 of 64)") != NULL, "status says the map is full");
	ASSERT_TRUE(strstr(out, "insert failures are rising") != NULL,
		    "status says insert failures are rising");
	free(out);
	out = NULL;
	ASSERT_OK(ctl_run("--json", "status", &status, &out), "sockaccelctl --json status");
	ASSERT_EXIT(status, 1, "sockaccelctl --json status on a full map");
	ASSERT_TRUE(strstr(out, "\"verdict\":\"degraded\"") != NULL, "JSON verdict degraded");
	ASSERT_TRUE(strstr(out, "raise --max-conns") != NULL, "JSON reason: raise --max-conns");
	free(out);
	out = NULL;
	ASSERT_OK(ctl_run("stats", NULL, &status, &out), "sockaccelctl stats");
	ASSERT_EXIT(status, 0, "sockaccelctl stats");
	line = strstr(out, "insert_full");
	ASSERT_TRUE(line && sscanf(line, "insert_full %llu", &full) == 1, "stats shows insert_full");
	tl_log("sockaccelctl stats: insert_full %llu", full);
	ASSERT_GT(full, 0, "insert_full counts the refused insertions");
	free(out);
	out = NULL;

	tl_sleep_ms(5000);	/* more data through both kinds of connection */
	atomic_store(&ch->stop, 1);
	atomic_store(&st->stop, 1);
	ASSERT_OK(tl_child_wait(&cc, 60000, NULL), "the short connections end");
	ASSERT_OK(tl_child_wait(&cs, 120000, &status), "the streams end");
	if (atomic_load(&st->failures))
		FAIL("streams: %s", st->why);
	if (atomic_load(&ch->failures))
		FAIL("short connections: %s", ch->why);
	ASSERT_EXIT(status, 0, "the streams child");
	ASSERT_EQ(st->eofs, NCONN, "every stream arrived byte-exact with EOF");
	ASSERT_EQ(atomic_load(&st->verified), st->written, "every byte written was verified");
	ASSERT_EQ(st->accelerated, st->fully_in_map,
		  "exactly the fully inserted connections were accelerated, the rest used TCP");
	ASSERT_OK(tl_counters(&pins, c1), "read counters");
	tl_counters_log("on the full map", c1);
	ASSERT_GT(c1[SA_CNT_INSERT_FULL] - c0[SA_CNT_INSERT_FULL], 0, "insert_full rose");
	tl_log("FIGURE stress: full map (--max-conns %d): %d streams, %u accelerated, %u on TCP, "
	       "%llu MiB byte-exact; %lu short connections, %lu of them accelerated, all intact; "
	       "insert_full %llu", MAX_CONNS, NCONN, st->accelerated, NCONN - st->accelerated,
	       (unsigned long long)(st->written / ST_MiB), atomic_load(&ch->made),
	       atomic_load(&ch->accelerated),
	       (unsigned long long)(c1[SA_CNT_INSERT_FULL] - c0[SA_CNT_INSERT_FULL]));

	ASSERT_TRUE(TL_WAIT_FOR(tl_map_count(pins.sock_hash, &entries) == 0 && entries == 0,
				20000), "sock_hash is empty once every connection closed");
	ASSERT_TRUE(tl_new_conn_accelerated("after c2s", TL_INET4, 4 * ST_MiB, TL_WRITE_SEND), "a new connection is accelerated again");
	ASSERT_OK(ctl_run("status", NULL, &status, &out), "sockaccelctl status");
	tl_log("sockaccelctl status afterwards (%d):\n%s", WEXITSTATUS(status), out);
	ASSERT_EXIT(status, 0, "sockaccelctl status once the map has room: healthy");

	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	free(out);
	if (st)
		atomic_store(&st->stop, 1);
	if (ch)
		atomic_store(&ch->stop, 1);
	if (cs.pid > 0)
		tl_child_wait(&cs, 30000, NULL);
	if (cc.pid > 0)
		tl_child_wait(&cc, 30000, NULL);
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	tl_shared_free(st, sizeof(*st));
	tl_shared_free(ch, sizeof(*ch));
	return tl_finish();
}
