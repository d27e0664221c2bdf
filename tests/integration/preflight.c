// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Scenario 1: preflight.
 *  - `sockacceld --preflight` with the test cgroup and a pin dir on bpffs
 *    exits 0 and attaches/pins nothing;
 *  - a cgroup on a cgroup v1 hierarchy (our own named one) gives 18,
 *    a cgroup that does not exist 17, a pin dir not on bpffs 19, each with
 *    a message naming the problem;
 *  - the daemon proper (no --preflight) refuses those with the same codes
 *    and never becomes ready.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "exitcodes.h"
#include "testlib.h"

/* Run sockacceld with @args (no env args added) to its exit. */
static int run_to_exit(struct tl_daemon *d, const char *const *args)
{
	int err = tl_daemon_start(d, args, TL_D_RAW_ARGS);

	if (err)
		return err;
	err = tl_daemon_wait_exit(d, 30000);
	if (err)
		tl_daemon_release(d);
	return err;
}

static int preflight(struct tl_daemon *d, const char *cgroup, const char *pin_dir)
{
	const char *args[] = { "--preflight", "--cgroup", cgroup, "--pin-dir", pin_dir, NULL };

	return run_to_exit(d, args);
}

/* The daemon proper must fail the same way, before READY=1. */
static int daemon_refuses(struct tl_daemon *d, const char *cgroup, const char *pin_dir)
{
	const char *args[] = { "--cgroup", cgroup, "--pin-dir", pin_dir, NULL };

	return run_to_exit(d, args);
}

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	char v1[PATH_MAX], missing[PATH_MAX], plain[PATH_MAX], plain_pins[PATH_MAX];
	char v1_opts[64];
	struct stat sb;
	__u32 cnt = 0;
	bool v1_mounted = false;

	ASSERT_OK(tl_init("preflight", TL_BUDGET_S), "tl_init");

	/* 1. Everything in order. */
	ASSERT_OK(preflight(&d, tl_env.cgroup, tl_env.pin_dir), "run sockacceld --preflight");
	ASSERT_EXIT(d.status, SA_EXIT_OK,
		    "--preflight with the test cgroup and a pin dir on bpffs");
	ASSERT_FALSE(d.ready, "--preflight must not report READY=1");
	ASSERT_OK(tl_cgroup_prog_count(BPF_CGROUP_SOCK_OPS, &cnt), "bpf_prog_query(test cgroup)");
	ASSERT_EQ(cnt, 0, "sockops programs attached to the cgroup after --preflight");
	ASSERT_TRUE(stat(tl_env.pin_dir, &sb) < 0 || rmdir(tl_env.pin_dir) == 0,
		    "pin dir absent or empty after --preflight");
	tl_daemon_release(&d);

	/* 2. A cgroup on a cgroup v1 hierarchy: our own named hierarchy. */
	ASSERT_OK(tl_tmp_path(v1, "v1"), "v1 path");
	ASSERT_OK(mkdir(v1, 0700), "mkdir v1 mount point");
	snprintf(v1_opts, sizeof(v1_opts), "none,name=satest%d", (int)getpid());
	ASSERT_OK(mount("cgroup", v1, "cgroup", 0, v1_opts),
		  "mount -t cgroup -o none,name=satest<pid>");
	v1_mounted = true;
	ASSERT_OK(tl_track_mount(v1), "tl_track_mount");

	ASSERT_OK(preflight(&d, v1, tl_env.pin_dir), "run sockacceld --preflight --cgroup <v1>");
	ASSERT_EXIT(d.status, SA_EXIT_CGROUP_NOT_V2, "--preflight with a cgroup on a v1 hierarchy");
	ASSERT_TRUE(tl_daemon_output_contains(&d, v1), "the report names the v1 cgroup path");
	ASSERT_TRUE(tl_daemon_output_contains(&d, "cgroup v1"), "the report says it is cgroup v1");
	tl_daemon_release(&d);

	ASSERT_OK(daemon_refuses(&d, v1, tl_env.pin_dir), "run sockacceld --cgroup <v1>");
	ASSERT_EXIT(d.status, SA_EXIT_CGROUP_NOT_V2, "sockacceld with a cgroup on a v1 hierarchy");
	ASSERT_FALSE(d.ready, "sockacceld with a v1 cgroup must not report READY=1");
	ASSERT_TRUE(tl_daemon_output_contains(&d, "cgroup v1"), "the error says it is cgroup v1");
	tl_daemon_release(&d);

	/* not lazily: the named hierarchy goes away with its last mount */
	ASSERT_OK(umount2(v1, 0), "umount v1 hierarchy");
	v1_mounted = false;
	tl_untrack_mount(v1);

	/* 3. A cgroup that does not exist. */
	ASSERT_OK(tl_pathf(missing, "%s/sockaccel-test-%d-nonexistent", tl_env.cgroup2,
			   (int)getpid()), "missing cgroup path");
	ASSERT_OK(preflight(&d, missing, tl_env.pin_dir),
		  "run sockacceld --preflight --cgroup <missing>");
	ASSERT_EXIT(d.status, SA_EXIT_CGROUP_MISSING, "--preflight with a non-existent cgroup");
	ASSERT_TRUE(tl_daemon_output_contains(&d, missing), "the report names the missing cgroup");
	ASSERT_TRUE(tl_daemon_output_contains(&d, "No such file or directory"),
		    "the report says the cgroup does not exist");
	tl_daemon_release(&d);

	ASSERT_OK(daemon_refuses(&d, missing, tl_env.pin_dir), "run sockacceld --cgroup <missing>");
	ASSERT_EXIT(d.status, SA_EXIT_CGROUP_MISSING, "sockacceld with a non-existent cgroup");
	ASSERT_FALSE(d.ready, "sockacceld with a missing cgroup must not report READY=1");
	tl_daemon_release(&d);

	/* 4. A pin dir not on bpffs. */
	ASSERT_OK(tl_tmp_path(plain, "plain"), "plain path");
	ASSERT_OK(mkdir(plain, 0700), "mkdir plain");
	ASSERT_OK(tl_pathf(plain_pins, "%s/pins", plain), "plain pin dir path");
	ASSERT_OK(preflight(&d, tl_env.cgroup, plain_pins),
		  "run sockacceld --preflight --pin-dir <plain>");
	ASSERT_EXIT(d.status, SA_EXIT_NO_BPFFS, "--preflight with a pin dir not on bpffs");
	ASSERT_TRUE(tl_daemon_output_contains(&d, plain_pins), "the report names the pin dir");
	ASSERT_TRUE(tl_daemon_output_contains(&d, "not on bpffs"),
		    "the report says 'not on bpffs'");
	tl_daemon_release(&d);

	ASSERT_OK(daemon_refuses(&d, tl_env.cgroup, plain_pins),
		  "run sockacceld --pin-dir <plain>");
	ASSERT_EXIT(d.status, SA_EXIT_NO_BPFFS, "sockacceld with a pin dir not on bpffs");
	ASSERT_FALSE(d.ready, "sockacceld with a non-bpffs pin dir must not report READY=1");
	ASSERT_OK(tl_cgroup_prog_count(BPF_CGROUP_SOCK_OPS, &cnt), "bpf_prog_query(test cgroup)");
	ASSERT_EQ(cnt, 0, "sockops programs attached after the refused starts");
	tl_daemon_release(&d);

cleanup:
	tl_daemon_release(&d);
	if (v1_mounted && umount2(v1, 0) == 0)
		tl_untrack_mount(v1);
	return tl_finish();
}
