// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockaccelctl --json: the stdout of every command is exactly one JSON
 * value (JSON Lines for stats --watch), in success and in error, through
 * the life of a fast path set up by `enable` (no daemon), handed to
 * sockacceld, and turned off by `disable`:
 *   status, status --probe, stats, stats --watch, conns, disable, enable,
 *   preflight, selftest, version, and an error case of each (usage errors,
 *   the fast path off, sockacceld holding the pin dir, a missing cgroup).
 * The documents hold what they should (verdicts, counters, entries).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "counters.h"
#include "ctl_helpers.h"
#include "exitcodes.h"
#include "sockaccel.h"

/* An error case: exit @code, stdout {"error": "...@needle..."}. */
#define JSON_ERROR(o, code, needle, what, ...) do {				\
	ASSERT_CTL(ctl_cmd((o), "--json", __VA_ARGS__, NULL), (o), (code), (what)); \
	ASSERT_JSON_ERROR((o), (needle), (what));				\
} while (0)

static int count_selftest_leftovers(void)
{
	char buf[256];
	int a = ctl_dir_entries(tl_env.cgroup2, "sockaccel-selftest-", buf, sizeof(buf));
	int b = ctl_dir_entries("/tmp", "sockaccel-selftest.", buf, sizeof(buf));

	return (a > 0 ? a : 0) + (b > 0 ? b : 0);
}

int main(void)
{
	struct tl_pair_opts po = { .family = TL_INET4 };
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pair p = TL_PAIR_INIT;
	struct ctl_out o = CTL_OUT_INIT;
	struct cj *v = NULL, **lines = NULL;
	char missing[PATH_MAX], err[256];
	const struct cj *e;
	size_t nlines = 0;
	__u64 x = 0, map_id = 0;
	int leftovers;

	ASSERT_OK(tl_init("ctl_json", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_pathf(missing, "%s/sockaccel-test-%d-missing", tl_env.cgroup2, (int)getpid()),
		  "missing cgroup path");

	/* ---- nothing pinned yet */
	ASSERT_CTL(ctl_cmd(&o, "--json", "version", NULL), &o, CTL_OK, "version --json");
	ASSERT_JSON(&o, CJ_OBJ, v, "version --json");
	ASSERT_NO_STDERR(&o, "version --json");
	ASSERT_TRUE(cj_str(cj_get(v, "sockaccel")) && cj_str(cj_get(v, "libbpf")) &&
		    cj_str(cj_get(v, "kernel")), "version --json: the version strings");
	ASSERT_JSON_U64(v, "layout", &x, "version --json: layout");
	ASSERT_EQ(x, SA_LAYOUT_VERSION, "version --json: layout");
	ASSERT_TRUE(cj_get(v, "pinned_layout") && cj_get(v, "pinned_layout")->type == CJ_NULL,
		    "version --json: pinned_layout null with nothing pinned");
	JSON_ERROR(&o, CTL_USAGE, "unexpected argument", "version --json, extra argument",
		   "version", "extra");

	ASSERT_CTL(ctl_cmd(&o, "--json", "preflight", "--cgroup", tl_env.cgroup, NULL), &o, CTL_OK,
		   "preflight --json");
	ASSERT_JSON(&o, CJ_OBJ, v, "preflight --json");
	ASSERT_NO_STDERR(&o, "preflight --json");
	ASSERT_JSON_BOOL(v, "passed", true, "preflight --json: passed");
	ASSERT_TRUE(cj_get(v, "checks") && cj_get(v, "checks")->type == CJ_ARR &&
		    cj_get(v, "checks")->n > 0, "preflight --json: a non-empty checks array");
	ASSERT_CTL(ctl_cmd(&o, "--json", "preflight", "--cgroup", missing, NULL), &o, CTL_FAIL,
		   "preflight --json, missing cgroup");
	ASSERT_JSON(&o, CJ_OBJ, v, "preflight --json, missing cgroup");
	ASSERT_NO_STDERR(&o, "preflight --json, missing cgroup");
	ASSERT_JSON_BOOL(v, "passed", false, "preflight --json, missing cgroup: passed");
	ASSERT_JSON_U64(v, "daemon_exit_code", &x, "preflight --json: daemon_exit_code");
	ASSERT_EQ(x, SA_EXIT_CGROUP_MISSING, "preflight --json: the daemon's exit code");
	JSON_ERROR(&o, CTL_USAGE, "unknown option", "preflight --json --bogus", "preflight",
		   "--bogus");

	ASSERT_CTL(ctl_cmd(&o, "--json", "status", NULL), &o, CTL_OFF, "status --json, off");
	ASSERT_JSON(&o, CJ_OBJ, v, "status --json, off");
	ASSERT_NO_STDERR(&o, "status --json, off");
	ASSERT_JSON_STR(v, "verdict", "off", "status --json, off: verdict");
	JSON_ERROR(&o, CTL_USAGE, "unknown option", "status --json --bogus", "status", "--bogus");
	ASSERT_CTL(ctl_cmd(&o, "--json", "status", "--probe", NULL), &o, CTL_OFF,
		   "status --probe --json, off");
	ASSERT_JSON(&o, CJ_OBJ, v, "status --probe --json, off");
	ASSERT_NO_STDERR(&o, "status --probe --json, off");
	ASSERT_JSON_BOOL(v, "probe.passed", false, "status --probe --json, off: probe.passed");
	JSON_ERROR(&o, CTL_USAGE, "unexpected argument", "status --probe --json, extra argument",
		   "status", "--probe", "extra");

	JSON_ERROR(&o, CTL_FAIL, "the fast path is off", "stats --json, off", "stats");
	JSON_ERROR(&o, CTL_FAIL, "the fast path is off", "stats --watch --json, off", "stats",
		   "--watch", "1", "--count", "1");
	JSON_ERROR(&o, CTL_USAGE, "--watch", "stats --json --watch 0", "stats", "--watch", "0");
	JSON_ERROR(&o, CTL_FAIL, "the fast path is off", "conns --json, off", "conns");
	JSON_ERROR(&o, CTL_USAGE, "unexpected argument", "conns --json, extra argument", "conns",
		   "extra");

	ASSERT_CTL(ctl_cmd(&o, "--json", "disable", NULL), &o, CTL_OK, "disable --json, off");
	ASSERT_JSON(&o, CJ_OBJ, v, "disable --json, off");
	ASSERT_NO_STDERR(&o, "disable --json, off");
	ASSERT_JSON_BOOL(v, "was_off", true, "disable --json, off: was_off");
	JSON_ERROR(&o, CTL_USAGE, "--timeout", "disable --json --timeout x", "disable", "--timeout",
		   "x");

	JSON_ERROR(&o, CTL_USAGE, "--max-conns", "enable --json --max-conns 1", "enable",
		   "--max-conns", "1");
	JSON_ERROR(&o, CTL_FAIL, missing, "enable --json, missing cgroup", "enable", "--cgroup",
		   missing);
	ASSERT_FALSE(ctl_exists(tl_env.pin_dir), "nothing pinned after the refused enable");

	/* selftest: its own private setup, removed afterwards */
	leftovers = count_selftest_leftovers();
	ASSERT_OK(ctl_exec(&o, &(struct ctl_opts){ .timeout_ms = 60000 },
			   (const char *const[]){ "--json", "selftest", NULL }), "run selftest --json");
	ASSERT_TRUE(o.code == 0 || o.code == 7, "selftest --json exits 0 or 7");
	ASSERT_JSON(&o, CJ_OBJ, v, "selftest --json");
	ASSERT_NO_STDERR(&o, "selftest --json");
	ASSERT_TRUE(cj_get(v, "behaviours") && cj_get(v, "behaviours")->type == CJ_ARR,
		    "selftest --json: a behaviours array");
	ASSERT_EQ(count_selftest_leftovers(), leftovers,
		  "selftest leaves no sockaccel-selftest-* cgroup or temp dir");
	JSON_ERROR(&o, CTL_USAGE, "unexpected argument", "selftest --json, extra argument",
		   "selftest", "extra");

	/* ---- enable: the fast path without a daemon */
	ASSERT_CTL(ctl_cmd(&o, "--json", "enable", "--cgroup", tl_env.cgroup, "--max-conns",
			   "4096", NULL), &o, CTL_OK, "enable --json");
	ASSERT_JSON(&o, CJ_OBJ, v, "enable --json");
	ASSERT_NO_STDERR(&o, "enable --json");
	ASSERT_JSON_STR(v, "cgroup", tl_env.cgroup, "enable --json: cgroup");
	ASSERT_JSON_U64(v, "map_id", &map_id, "enable --json: map_id");
	ASSERT_TRUE(cj_str(cj_get(v, "msg_attach")) != NULL, "enable --json: msg_attach");

	ASSERT_CTL(ctl_cmd(&o, "--json", "status", NULL), &o, CTL_OK, "status --json, enabled");
	ASSERT_JSON(&o, CJ_OBJ, v, "status --json, enabled");
	ASSERT_NO_STDERR(&o, "status --json, enabled");
	ASSERT_JSON_STR(v, "verdict", "healthy", "status --json, enabled: verdict");
	ASSERT_JSON_U64(v, "map.id", &x, "status --json: map.id");
	ASSERT_EQ(x, map_id, "status --json shows the map enable made");
	ASSERT_JSON_U64(v, "map.max_entries", &x, "status --json: map.max_entries");
	ASSERT_EQ(x, 4096, "status --json: max_entries is enable's --max-conns");
	ASSERT_CTL(ctl_cmd(&o, "--json", "status", "--probe", NULL), &o, CTL_OK,
		   "status --probe --json, enabled");
	ASSERT_JSON(&o, CJ_OBJ, v, "status --probe --json, enabled");
	ASSERT_NO_STDERR(&o, "status --probe --json, enabled");
	ASSERT_JSON_BOOL(v, "probe.passed", true, "status --probe --json: probe.passed");

	ASSERT_OK(tl_pair_make(&p, &po), "tl_pair_make");
	ASSERT_CTL(ctl_cmd(&o, "--json", "stats", NULL), &o, CTL_OK, "stats --json, enabled");
	ASSERT_JSON(&o, CJ_OBJ, v, "stats --json, enabled");
	ASSERT_NO_STDERR(&o, "stats --json, enabled");
	for (int i = 0; i < SA_CNT_MAX; i++)
		ASSERT_JSON_U64(v, sa_counter_descs[i].name, &x, "stats --json: every counter");
	ASSERT_JSON_U64(v, "sockets_inserted", &x, "stats --json: sockets_inserted");
	ASSERT_EQ(x, 2, "stats --json: the test connection's 2 sockets inserted");
	ASSERT_JSON_U64(v, "probe_sockets_inserted", &x, "stats --json: probe_sockets_inserted");
	ASSERT_EQ(x, 2, "stats --json: the probe's 2 sockets");
	ASSERT_CTL(ctl_cmd(&o, "--json", "stats", "--watch", "1", "--count", "1", NULL), &o, CTL_OK,
		   "stats --watch 1 --count 1 --json");
	if (cj_parse_lines(o.out, o.out_len, &lines, &nlines, err, sizeof(err)))
		FAIL("stats --watch --json is not JSON Lines: %s", err);
	ASSERT_EQ(nlines, 1, "stats --watch 1 --count 1 --json: one line");

	ASSERT_CTL(ctl_cmd(&o, "--json", "conns", NULL), &o, CTL_OK, "conns --json, enabled");
	ASSERT_JSON(&o, CJ_ARR, v, "conns --json, enabled");
	ASSERT_NO_STDERR(&o, "conns --json, enabled");
	ASSERT_EQ(v->n, 2, "conns --json: the test connection's 2 sockets");
	e = v->items[0];
	ASSERT_TRUE(cj_str(cj_get(e, "family")) && cj_str(cj_get(e, "local")) &&
		    cj_str(cj_get(e, "remote")) && cj_get(e, "netns_cookie") &&
		    cj_get(e, "socket_cookie"), "conns --json: entry members");

	ASSERT_CTL(ctl_cmd(&o, "--json", "version", NULL), &o, CTL_OK, "version --json, enabled");
	ASSERT_JSON(&o, CJ_OBJ, v, "version --json, enabled");
	ASSERT_NO_STDERR(&o, "version --json, enabled");
	ASSERT_JSON_U64(v, "pinned_layout", &x, "version --json: pinned_layout");
	ASSERT_EQ(x, SA_LAYOUT_VERSION, "version --json: pinned_layout");

	/* ---- sockacceld takes the pins over: enable and disable refuse */
	ASSERT_OK(tl_daemon_start_ready(&d, (const char *const[]){ "--max-conns", "4096", NULL }, 0),
		  "start sockacceld (--max-conns as enable's), wait for READY=1");
	JSON_ERROR(&o, CTL_BUSY, "sockacceld", "enable --json while sockacceld runs", "enable",
		   "--cgroup", tl_env.cgroup);
	JSON_ERROR(&o, CTL_BUSY, "stop it first", "disable --json while sockacceld runs",
		   "disable");
	ASSERT_CTL(ctl_cmd(&o, "--json", "status", NULL), &o, CTL_OK,
		   "status --json, sockacceld running");
	ASSERT_JSON(&o, CJ_OBJ, v, "status --json, sockacceld running");
	ASSERT_NO_STDERR(&o, "status --json, sockacceld running");
	ASSERT_JSON_BOOL(v, "daemon.running", true, "status --json: daemon.running");
	ASSERT_JSON_U64(v, "map.id", &x, "status --json: map.id");
	ASSERT_EQ(x, map_id, "sockacceld reused the map enable made");
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");

	/* ---- disable */
	ASSERT_CTL(ctl_cmd(&o, "--json", "disable", NULL), &o, CTL_OK, "disable --json");
	ASSERT_JSON(&o, CJ_OBJ, v, "disable --json");
	ASSERT_NO_STDERR(&o, "disable --json");
	ASSERT_JSON_BOOL(v, "was_off", false, "disable --json: was_off");
	ASSERT_JSON_U64(v, "entries", &x, "disable --json: entries");
	ASSERT_EQ(x, 2, "disable --json: entries");
	ASSERT_JSON_U64(v, "drained", &x, "disable --json: drained");
	ASSERT_EQ(x, 2, "disable --json: drained");
	ASSERT_JSON_U64(v, "remaining", &x, "disable --json: remaining");
	ASSERT_EQ(x, 0, "disable --json: remaining");
	ASSERT_CTL(ctl_cmd(&o, "--json", "status", "--probe", NULL), &o, CTL_OFF,
		   "status --probe --json after disable");
	ASSERT_JSON(&o, CJ_OBJ, v, "status --probe --json after disable");
	ASSERT_NO_STDERR(&o, "status --probe --json after disable");
	ASSERT_JSON_STR(v, "verdict", "off", "status --json after disable: verdict");
cleanup:
	cj_lines_free(lines, nlines);
	cj_free(v);
	ctl_out_free(&o);
	tl_pair_close(&p);
	tl_daemon_release(&d);
	return tl_finish();
}
