// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockaccelctl status --probe proves the fast path end to end and leaves no
 * trace:
 *  - with the fast path on it passes (exit 0, probe.passed true);
 *  - afterwards the map holds exactly the entries it held before (a test
 *    connection stays in it, the probe's are gone), nothing named
 *    sockaccel-probe-* is left under the test cgroup, and only the probe_*
 *    counters moved: sockets_inserted, msgs_redirected and bytes_redirected
 *    are unchanged, probe_sockets_inserted rose by 2 and
 *    probe_msgs_redirected by 1;
 *  - with sk_msg detached (link_msg removed, daemon stopped) it fails
 *    (exit 1, probe.passed false) and leaves no trace either;
 *  - with the pins gone it fails (exit 3, probe.passed false).
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
#include "pins.h"

/* The map and the cgroup as they were, and the operator's counters unmoved. */
static bool no_trace(const struct tl_pins *pins, __u32 entries_before,
		     const __u64 before[SA_CNT_MAX], __u64 after[SA_CNT_MAX], const char *what)
{
	static const int unchanged[] = { SA_CNT_INSERTED, SA_CNT_MSG_REDIRECTED,
					 SA_CNT_BYTES_REDIRECTED, SA_CNT_MSG_PASSED,
					 SA_CNT_INSERT_FULL, SA_CNT_INSERT_BUSY,
					 SA_CNT_INSERT_EXIST, SA_CNT_INSERT_OTHER };
	char left[512], msg[256];
	__u32 n = 0;
	bool ok = false;
	int cg;

	/* the probe's sockets close when its child exits; allow for the reaping */
	if (!TL_WAIT_FOR(tl_map_count(pins->sock_hash, &n) == 0 && n == entries_before, 5000))
		tl_log("%s: map holds %u entries, %u before", what, n, entries_before);
	ASSERT_EQ(n, entries_before, "map entries after the probe = before");
	cg = ctl_dir_entries(tl_env.cgroup, "sockaccel-probe-", left, sizeof(left));
	if (cg != 0)
		FAIL("%s: %d probe cgroup(s) left under %s: %s", what, cg, tl_env.cgroup,
		     cg < 0 ? strerror(-cg) : left);
	ASSERT_OK(ctl_counters(pins, after, what), "read counters");
	for (unsigned int i = 0; i < sizeof(unchanged) / sizeof(unchanged[0]); i++) {
		snprintf(msg, sizeof(msg), "%s: counter %s unchanged by the probe", what,
			 sa_counter_descs[unchanged[i]].name);
		ASSERT_EQ(after[unchanged[i]], before[unchanged[i]], msg);
	}
	ok = true;
cleanup:
	return ok;
}

int main(void)
{
	struct tl_pair_opts po = { .family = TL_INET4 };
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_pair ref = TL_PAIR_INIT;
	struct ctl_out o = CTL_OUT_INIT;
	struct cj *v = NULL;
	__u64 before[SA_CNT_MAX], after[SA_CNT_MAX];
	char path[PATH_MAX];
	__u32 entries = 0, cnt = 0;

	ASSERT_OK(tl_init("ctl_probe", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");

	/* an operator's connection, open across the probes */
	ASSERT_OK(tl_pair_make(&ref, &po), "tl_pair_make (the test's own connection)");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, ref.client), TL_IN_MAP, "client in sock_hash");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, ref.server), TL_IN_MAP, "server in sock_hash");
	ASSERT_OK(tl_map_count(pins.sock_hash, &entries), "count map entries");
	ASSERT_EQ(entries, 2, "map entries before the probe");
	ASSERT_OK(ctl_counters(&pins, before, "before the probe"), "read counters");

	/* 1. the fast path on: the probe passes */
	ASSERT_CTL(ctl_cmd(&o, "--json", "status", "--probe", NULL), &o, CTL_OK,
		   "status --probe with the fast path on");
	ASSERT_JSON(&o, CJ_OBJ, v, "status --probe --json");
	ASSERT_JSON_STR(v, "verdict", "healthy", "status --probe --json: verdict");
	ASSERT_JSON_BOOL(v, "probe.passed", true, "status --probe --json: probe.passed");
	ASSERT_TRUE(cj_str(cj_path(v, "probe.detail")) != NULL, "probe.detail is a string");
	tl_log("probe: %s", cj_str(cj_path(v, "probe.detail")));
	ASSERT_TRUE(no_trace(&pins, entries, before, after, "after a passing probe"),
		    "a passing probe leaves no trace");
	ASSERT_EQ(after[SA_CNT_PROBE_INSERTED] - before[SA_CNT_PROBE_INSERTED], 2,
		  "probe_sockets_inserted rose by the probe's 2 sockets");
	ASSERT_EQ(after[SA_CNT_PROBE_MSGS] - before[SA_CNT_PROBE_MSGS], 1,
		  "probe_msgs_redirected rose by the probe's message");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, ref.client), TL_IN_MAP,
		  "the test's client still in sock_hash");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, ref.server), TL_IN_MAP,
		  "the test's server still in sock_hash");

	memcpy(before, after, sizeof(before));
	ASSERT_CTL(ctl_cmd(&o, "status", "--probe", NULL), &o, CTL_OK, "status --probe (plain)");
	ASSERT_OUT_HAS(&o, "probe:    passed", "status --probe says it passed");
	ASSERT_TRUE(no_trace(&pins, entries, before, after, "after a second passing probe"),
		    "a second passing probe leaves no trace");
	ASSERT_GT(after[SA_CNT_PROBE_MSGS], before[SA_CNT_PROBE_MSGS],
		  "probe_msgs_redirected rose again");

	/* 2. sk_msg detached: the probe's message goes over TCP */
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
	ASSERT_OK(tl_pin_path(path, SA_PIN_LINK_MSG), "link_msg path");
	ASSERT_OK(unlink(path), "unlink <pin dir>/link_msg");
	/* the link is released when the pin's inode goes, which may lag a little */
	ASSERT_OK(tl_wait_map_detached(pins.sock_hash, &cnt, 5000),
		  "no sk_msg program on the map after unlinking link_msg");
	memcpy(before, after, sizeof(before));
	ASSERT_CTL(ctl_cmd(&o, "--json", "status", "--probe", NULL), &o, CTL_FAIL,
		   "status --probe with sk_msg detached");
	ASSERT_JSON(&o, CJ_OBJ, v, "status --probe --json, sk_msg detached");
	ASSERT_JSON_STR(v, "verdict", "degraded", "status --probe --json: verdict");
	ASSERT_JSON_BOOL(v, "probe.passed", false, "status --probe --json: probe.passed");
	tl_log("probe: %s", cj_str(cj_path(v, "probe.detail")));
	ASSERT_TRUE(no_trace(&pins, entries, before, after, "after a failing probe"),
		    "a failing probe leaves no trace");
	ASSERT_CTL(ctl_cmd(&o, "status", "--probe", NULL), &o, CTL_FAIL,
		   "status --probe (plain), sk_msg detached");
	ASSERT_OUT_HAS(&o, "probe:    FAILED", "status --probe says it failed");
	ASSERT_TRUE(no_trace(&pins, entries, before, after, "after a second failing probe"),
		    "a second failing probe leaves no trace");

	/* 3. the fast path off */
	ASSERT_OK(tl_rm_rf(tl_env.pin_dir), "rm -r <pin dir>");
	ASSERT_CTL(ctl_cmd(&o, "--json", "status", "--probe", NULL), &o, CTL_OFF,
		   "status --probe with the pins gone");
	ASSERT_JSON(&o, CJ_OBJ, v, "status --probe --json, pins gone");
	ASSERT_JSON_STR(v, "verdict", "off", "status --probe --json: verdict");
	ASSERT_JSON_BOOL(v, "probe.passed", false, "status --probe --json: probe.passed");
	ASSERT_EQ(ctl_dir_entries(tl_env.cgroup, "sockaccel-probe-", path, sizeof(path)), 0,
		  "no probe cgroup with the fast path off");
cleanup:
	if (ctl_remove_probe_cgroups() > 0)
		tl_log("removed probe cgroups a probe left behind");
	cj_free(v);
	ctl_out_free(&o);
	tl_pair_close(&ref);
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	return tl_finish();
}
