// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockaccelctl status: the verdict and its exit code, plain and --json, in
 * the states an operator meets:
 *  - healthy (0): sockacceld running; the daemon's pid is shown;
 *  - healthy (0) with a note: sockacceld stopped, the fast path pinned;
 *  - degraded (1): link_sockops removed by hand (daemon stopped); a reason
 *    names link_sockops; --degraded-ok (the Kubernetes probes) exits 0 there;
 *  - off (3): the pins are gone, with --degraded-ok too.
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

/* status and status --json, both with exit @code and verdict @verdict;
 * *@v gets the JSON. */
static bool status_is(int code, const char *verdict, struct cj **v, const char *what)
{
	struct ctl_out o = CTL_OUT_INIT;
	char line[64];
	__u64 ec = 0;
	bool ok = false;

	snprintf(line, sizeof(line), "sockaccel: %s\n", verdict);
	ASSERT_CTL(ctl_cmd(&o, "status", NULL), &o, code, what);
	ASSERT_OUT_HAS(&o, line, what);
	ASSERT_CTL(ctl_cmd(&o, "--json", "status", NULL), &o, code, what);
	ASSERT_JSON(&o, CJ_OBJ, *v, what);
	ASSERT_JSON_STR(*v, "verdict", verdict, what);
	ASSERT_JSON_U64(*v, "exit_code", &ec, what);
	ASSERT_EQ(ec, code, "JSON exit_code is the exit status");
	ok = true;
cleanup:
	ctl_out_free(&o);
	return ok;
}

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	struct ctl_out o = CTL_OUT_INIT;
	struct cj *v = NULL;
	char link[PATH_MAX], pid_text[64];
	__u64 pid = 0;
	__u32 cnt = 0;

	ASSERT_OK(tl_init("ctl_status", TL_BUDGET_S), "tl_init");

	/* 1. healthy, sockacceld running */
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_TRUE(status_is(CTL_OK, "healthy", &v, "status with sockacceld running"),
		    "healthy with the daemon");
	ASSERT_JSON_BOOL(v, "daemon.running", true, "status --json: daemon.running");
	ASSERT_JSON_U64(v, "daemon.pid", &pid, "status --json: daemon.pid");
	ASSERT_EQ(pid, d.pid, "status --json: daemon.pid is sockacceld's pid");
	ASSERT_JSON_BOOL(v, "sockops.attached", true, "status --json: sockops.attached");
	ASSERT_JSON_STR(v, "sockops.cgroup", tl_env.cgroup, "status --json: sockops.cgroup");
	ASSERT_JSON_BOOL(v, "sk_msg.attached", true, "status --json: sk_msg.attached");
	ASSERT_JSON_STR(v, "redirect", "on", "status --json: redirect");
	ASSERT_EQ(cj_get(v, "reasons") ? cj_get(v, "reasons")->n : 99, 0,
		  "status --json: no reasons when healthy");
	ASSERT_FALSE(cj_array_has_substr(cj_get(v, "notes"), "not running"),
		     "no 'not running' note while sockacceld runs");
	ASSERT_CTL(ctl_cmd(&o, "status", NULL), &o, CTL_OK, "status (plain)");
	snprintf(pid_text, sizeof(pid_text), "sockacceld running, pid %d", (int)d.pid);
	ASSERT_OUT_HAS(&o, pid_text, "status shows the daemon's pid");

	/* 2. sockacceld stopped: the fast path does not need it */
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
	ASSERT_TRUE(status_is(CTL_OK, "healthy", &v, "status with sockacceld stopped"),
		    "healthy without the daemon");
	ASSERT_JSON_BOOL(v, "daemon.running", false, "status --json: daemon.running");
	ASSERT_TRUE(cj_array_has_substr(cj_get(v, "notes"), "not running"),
		    "status --json with sockacceld stopped: a note says it is not running");
	ASSERT_CTL(ctl_cmd(&o, "status", NULL), &o, CTL_OK, "status (plain), daemon stopped");
	ASSERT_OUT_HAS(&o, "daemon:   not running", "status says the daemon is not running");
	ASSERT_OUT_HAS(&o, "note:", "status prints the note");

	/* 3. the cgroup link removed by hand */
	ASSERT_OK(tl_pin_path(link, SA_PIN_LINK_SOCKOPS), "link_sockops path");
	ASSERT_OK(unlink(link), "unlink <pin dir>/link_sockops");
	/* the link is released when the pin's inode goes, which may lag a little */
	ASSERT_OK(tl_wait_cgroup_detached(&cnt, 5000),
		  "no sockops program on the cgroup after unlinking link_sockops");
	ASSERT_TRUE(status_is(CTL_FAIL, "degraded", &v, "status with link_sockops removed"),
		    "degraded without link_sockops");
	ASSERT_TRUE(cj_array_has_substr(cj_get(v, "reasons"), "link_sockops"),
		    "status --json: a reason names link_sockops");
	ASSERT_JSON_BOOL(v, "sockops.attached", false, "status --json: sockops.attached");
	ASSERT_CTL(ctl_cmd(&o, "status", NULL), &o, CTL_FAIL, "status (plain), link removed");
	ASSERT_OUT_HAS(&o, "problem:  pin link_sockops", "status names link_sockops as a problem");
	/* a Kubernetes probe's question: degraded is in place, off is not */
	ASSERT_CTL(ctl_cmd(&o, "status", "--degraded-ok", NULL), &o, CTL_OK,
		   "status --degraded-ok, degraded");
	ASSERT_OUT_HAS(&o, "problem:  pin link_sockops", "status --degraded-ok still names it");

	/* 4. the pins gone */
	ASSERT_OK(tl_rm_rf(tl_env.pin_dir), "rm -r <pin dir>");
	ASSERT_TRUE(status_is(CTL_OFF, "off", &v, "status with the pins gone"), "off");
	ASSERT_JSON_U64(v, "map.entries", &pid, "status --json: map.entries");
	ASSERT_EQ(pid, 0, "status --json off: no map entries");
	ASSERT_CTL(ctl_cmd(&o, "status", "--degraded-ok", NULL), &o, CTL_OFF,
		   "status --degraded-ok, off");
cleanup:
	cj_free(v);
	ctl_out_free(&o);
	tl_daemon_release(&d);
	return tl_finish();
}
