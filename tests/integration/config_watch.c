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

static char cm_dir[PATH_MAX], conf_link[PATH_MAX];
static unsigned int version;

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

/* What the kubelet does: a new timestamped dir with the file, a symlink to
 * it under a temp name, renamed over ..data (atomic), the old dir removed. */
static int configmap_update(const char *text)
{
	char dir[PATH_MAX], file[PATH_MAX], tmp[PATH_MAX], data[PATH_MAX], name[32], old[PATH_MAX];
	int err;

	if (tl_pathf(old, "%s/..2026_%02u", cm_dir, version))
		return -ENAMETOOLONG;
	version++;
	snprintf(name, sizeof(name), "..2026_%02u", version);
	if (tl_pathf(dir, "%s/%s", cm_dir, name) || tl_pathf(file, "%s/sockaccel.conf", dir) ||
	    tl_pathf(tmp, "%s/..data_tmp", cm_dir) || tl_pathf(data, "%s/..data", cm_dir))
		return -ENAMETOOLONG;
	if (mkdir(dir, 0755))
		return -errno;
	err = write_file(file, text);
	if (err)
		return err;
	if (symlink(name, tmp) || rename(tmp, data))
		return -errno;
	tl_log("ConfigMap version %s: %s", name, text);
	return version > 1 ? tl_rm_rf(old) : 0;
}

static int configmap_create(const char *text)
{
	if (tl_tmp_path(cm_dir, "configmap") || tl_pathf(conf_link, "%s/sockaccel.conf", cm_dir))
		return -ENAMETOOLONG;
	if (mkdir(cm_dir, 0755))
		return -errno;
	if (configmap_update(text))
		return -EIO;
	return symlink("..data/sockaccel.conf", conf_link) ? -errno : 0;
}

/* Is a new connection on P_WATCHED (the server's port) in sock_hash? */
static int watched_port_state(const struct tl_pins *pins)
{
	struct tl_pair_opts o = { .family = TL_INET4, .server_port = P_WATCHED };
	struct tl_pair p = TL_PAIR_INIT;
	int a, b;

	if (tl_pair_make(&p, &o))
		return -EIO;
	a = tl_sock_map_state(pins->sock_hash, p.client);
	b = tl_sock_map_state(pins->sock_hash, p.server);
	tl_pair_close(&p);
	return a == b ? a : -EPROTO;
}

/* Lines of its stderr holding @needle; quiet, for polling. */
static int count_lines(struct tl_daemon *d, const char *needle)
{
	FILE *f = fopen(d->err_path, "re");
	char *line = NULL;
	size_t cap = 0;
	int n = 0;

	tl_daemon_poll(d);
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) >= 0)
		n += strstr(line, needle) != NULL;
	free(line);
	fclose(f);
	return n;
}

#define WAIT_LINES(d, needle, n) \
	TL_WAIT_FOR(count_lines(d, needle) >= (n), RELOAD_MS)

#define CHANGED "reload (the configuration file changed): policy updated"

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	const char *args[] = { "--config", conf_link, NULL };
	char path[PATH_MAX], tmp[PATH_MAX];

	ASSERT_OK(tl_init("config_watch", TL_BUDGET_S), "tl_init");
	ASSERT_OK(configmap_create("# version 1: no policy keys\n"), "ConfigMap-like layout");
	ASSERT_OK(tl_daemon_start_ready(&d, args, TL_D_NO_CONFIG), "start sockacceld --config "
		  "<configmap>/sockaccel.conf");
	ASSERT_OK(tl_pins_open(&pins), "open the pinned sock_hash");
	ASSERT_EQ(watched_port_state(&pins), TL_IN_MAP, "port P accelerated under version 1");

	/* 1. a ..data swap applies the new policy, once */
	ASSERT_OK(configmap_update("exclude_ports = 23441\n"), "swap ..data to version 2");
	ASSERT_TRUE(WAIT_LINES(&d, CHANGED " (0 port rules, 1 excluded", 1),
		    "the ..data swap reloaded the policy");
	ASSERT_EQ(watched_port_state(&pins), TL_NOT_IN_MAP, "port P excluded under version 2");

	/* 2. events that leave the bytes alone: no reload, no loop */
	ASSERT_OK(tl_pathf(path, "%s/unrelated", cm_dir), "path");
	ASSERT_OK(write_file(path, "x\n"), "a file beside the config");
	/* the kubelet swaps ..data for a ConfigMap change that leaves this key's
	 * bytes alone (another key, its metadata) */
	ASSERT_OK(configmap_update("exclude_ports = 23441\n"), "swap ..data to the same bytes");
	tl_sleep_ms(1500);
	ASSERT_EQ(count_lines(&d, "policy updated"), 1, "one reload so far: no loop, no "
		  "reload for an unchanged file");

	/* 3. an invalid version: refused with its reason, the old policy kept */
	ASSERT_OK(configmap_update("exclude_ports = 0\n"), "swap ..data to an invalid version 3");
	ASSERT_TRUE(WAIT_LINES(&d, "previous policy stays in force", 1),
		    "the invalid version was refused");
	ASSERT_EQ(count_lines(&d, "key 'exclude_ports': '0' is not a port"), 1,
		  "the log names the file's line, the key and what is wrong");
	ASSERT_EQ(watched_port_state(&pins), TL_NOT_IN_MAP, "port P still excluded");
	tl_sleep_ms(1500);
	ASSERT_EQ(count_lines(&d, "previous policy stays in force"), 1,
		  "the invalid version was tried once, not in a loop");

	/* 4. a valid version again */
	ASSERT_OK(configmap_update("# version 4: no exclusion\n"), "swap ..data to version 4");
	ASSERT_TRUE(WAIT_LINES(&d, CHANGED " (0 port rules, 0 excluded", 1),
		    "version 4 reloaded the policy");
	ASSERT_EQ(watched_port_state(&pins), TL_IN_MAP, "port P accelerated again");

	/* 5. an editor: a temp file renamed over the name, then an in-place write */
	ASSERT_OK(tl_pathf(tmp, "%s/.sockaccel.conf.swp", cm_dir), "path");
	ASSERT_OK(write_file(tmp, "exclude_ports = 23441\n"), "editor's temp file");
	ASSERT_OK(rename(tmp, conf_link), "rename the temp file over sockaccel.conf");
	ASSERT_TRUE(WAIT_LINES(&d, CHANGED " (0 port rules, 1 excluded", 2),
		    "the editor's rename reloaded the policy");
	ASSERT_EQ(watched_port_state(&pins), TL_NOT_IN_MAP, "port P excluded after the rename");
	ASSERT_OK(write_file(conf_link, "ipv6 = yes\n"), "write sockaccel.conf in place");
	ASSERT_TRUE(WAIT_LINES(&d, CHANGED " (0 port rules, 0 excluded", 2),
		    "the in-place write reloaded the policy");
	ASSERT_EQ(watched_port_state(&pins), TL_IN_MAP, "port P accelerated after the write");

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
