// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockacceld notices a change of its configuration file by itself and
 * reloads as on SIGHUP (daemon/lib/confwatch.h):
 *  - a Kubernetes ConfigMap volume's update, i.e. an atomic rename of a new
 *    `..data` symlink over the old one, applies the new policy;
 *  - events that leave the file's bytes alone reload nothing;
 *  - an invalid new version is refused with its reason in the log, and the
 *    old policy stays in force;
 *  - a valid version after it applies again;
 *  - an editor's rename of a temp file over the name, and an in-place
 *    write, are noticed too.
 * The policy in force is read the way tests/integration/policy.c does: is a
 * new connection on port P_WATCHED in sock_hash?
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "exitcodes.h"
#include "testlib.h"

/* below the ephemeral range, apart from policy.c's */
#define P_WATCHED	23441
#define RELOAD_MS	10000

static struct tl_configmap cm;

#define WAIT_LINES(d, needle, n) \
	TL_WAIT_FOR(tl_daemon_count_lines(d, needle) >= (n), RELOAD_MS)

#define CHANGED "reload (the configuration file changed): policy updated"

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	const char *args[] = { "--config", cm.conf, NULL };
	char path[PATH_MAX], tmp[PATH_MAX];

	ASSERT_OK(tl_init("config_watch", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_configmap_create(&cm, "# version 1: no policy keys\n"), "ConfigMap-like layout");
	ASSERT_OK(tl_daemon_start_ready(&d, args, TL_D_NO_CONFIG), "start sockacceld --config "
		  "<configmap>/sockaccel.conf");
	ASSERT_OK(tl_pins_open(&pins), "open the pinned sock_hash");
	ASSERT_EQ(tl_port_map_state(&pins, P_WATCHED), TL_IN_MAP, "port P accelerated under version 1");

	/* 1. a ..data swap applies the new policy, once */
	ASSERT_OK(tl_configmap_update(&cm, "exclude_ports = 23441\n"), "swap ..data to version 2");
	ASSERT_TRUE(WAIT_LINES(&d, CHANGED " (0 port rules, 1 excluded", 1),
		    "the ..data swap reloaded the policy");
	ASSERT_EQ(tl_port_map_state(&pins, P_WATCHED), TL_NOT_IN_MAP, "port P excluded under version 2");

	/* 2. events that leave the bytes alone: no reload, no loop */
	ASSERT_OK(tl_pathf(path, "%s/unrelated", cm.dir), "path");
	ASSERT_OK(tl_write_file(path, "x\n"), "a file beside the config");
	/* the kubelet swaps ..data for a ConfigMap change that leaves this key's
	 * bytes alone (another key, its metadata) */
	ASSERT_OK(tl_configmap_update(&cm, "exclude_ports = 23441\n"), "swap ..data to the same bytes");
	tl_sleep_ms(1500);
	ASSERT_EQ(tl_daemon_count_lines(&d, "policy updated"), 1, "one reload so far: no loop, no "
		  "reload for an unchanged file");

	/* 3. an invalid version: refused with its reason, the old policy kept */
	ASSERT_OK(tl_configmap_update(&cm, "exclude_ports = 0\n"), "swap ..data to an invalid version 3");
	ASSERT_TRUE(WAIT_LINES(&d, "previous policy stays in force", 1),
		    "the invalid version was refused");
	ASSERT_EQ(tl_daemon_count_lines(&d, "key 'exclude_ports': '0' is not a port"), 1,
		  "the log names the file's line, the key and what is wrong");
	ASSERT_EQ(tl_port_map_state(&pins, P_WATCHED), TL_NOT_IN_MAP, "port P still excluded");
	tl_sleep_ms(1500);
	ASSERT_EQ(tl_daemon_count_lines(&d, "previous policy stays in force"), 1,
		  "the invalid version was tried once, not in a loop");

	/* 4. a valid version again */
	ASSERT_OK(tl_configmap_update(&cm, "# version 4: no exclusion\n"), "swap ..data to version 4");
	ASSERT_TRUE(WAIT_LINES(&d, CHANGED " (0 port rules, 0 excluded", 1),
		    "version 4 reloaded the policy");
	ASSERT_EQ(tl_port_map_state(&pins, P_WATCHED), TL_IN_MAP, "port P accelerated again");

	/* 5. an editor: a temp file renamed over the name, then an in-place write */
	ASSERT_OK(tl_pathf(tmp, "%s/.sockaccel.conf.swp", cm.dir), "path");
	ASSERT_OK(tl_write_file(tmp, "exclude_ports = 23441\n"), "editor's temp file");
	ASSERT_OK(rename(tmp, cm.conf), "rename the temp file over sockaccel.conf");
	ASSERT_TRUE(WAIT_LINES(&d, CHANGED " (0 port rules, 1 excluded", 2),
		    "the editor's rename reloaded the policy");
	ASSERT_EQ(tl_port_map_state(&pins, P_WATCHED), TL_NOT_IN_MAP, "port P excluded after the rename");
	ASSERT_OK(tl_write_file(cm.conf, "ipv6 = yes\n"), "write sockaccel.conf in place");
	ASSERT_TRUE(WAIT_LINES(&d, CHANGED " (0 port rules, 0 excluded", 2),
		    "the in-place write reloaded the policy");
	ASSERT_EQ(tl_port_map_state(&pins, P_WATCHED), TL_IN_MAP, "port P accelerated after the write");

	ASSERT_EQ(tl_daemon_log_lines(&d, "error:"), 1, "the refused version is the only error");
	tl_pins_close(&pins);
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	if (tl_failures())
		tl_daemon_dump(&d);
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	return tl_finish();
}
