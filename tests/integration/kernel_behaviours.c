// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * docs/kernel-behaviours.md describes four sockmap behaviours of the kernel
 * that sockaccel works around or documents; all four are present on the
 * kernel it was written on (6.18). `sockaccelctl --json selftest` reproduces
 * each in a private setup. This test pins that down: exit 7 (behaviours
 * present) and each of no_backpressure, late_insert_reorder,
 * spurious_eagain and splice_misses_redirected "present". When one is "absent", the kernel fixed it and
 * the failure says to update docs/kernel-behaviours.md. The selftest's own
 * temp dir, bpffs mount and cgroup must be gone afterwards.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#define SELFTEST_EXIT_PRESENT 7	/* sockaccelctl(8): behaviours present */

static const char *const behaviours[] = {
	"no_backpressure", "late_insert_reorder", "spurious_eagain", "splice_misses_redirected",
};

/* The "state" string of behaviour @id in the selftest's JSON, into @state. */
static int state_of(const char *json, const char *id, char *state, size_t len)
{
	char key[96];
	const char *p, *end, *next;
	size_t n;

	snprintf(key, sizeof(key), "\"id\":\"%s\"", id);
	p = strstr(json, key);
	if (!p)
		return -ENOENT;
	next = strstr(p + 1, "\"id\":");	/* stay inside this object */
	p = strstr(p, "\"state\":\"");
	if (!p || (next && p > next))
		return -ENOENT;
	p += strlen("\"state\":\"");
	end = strchr(p, '"');
	if (!end)
		return -EINVAL;
	n = (size_t)(end - p) < len - 1 ? (size_t)(end - p) : len - 1;
	memcpy(state, p, n);
	state[n] = '\0';
	return 0;
}

/* Entries of @dir whose names start with @prefix (logged when @say). */
static int count_entries(const char *dir, const char *prefix, bool say)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			if (say)
				tl_log("present after the selftest: %s/%s", dir, de->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}

int main(void)
{
	char *argv[] = { (char *)tl_ctl_path(), "--json", "selftest", NULL };
	char *out = NULL, *err = NULL, state[32], sbuf[64];
	unsigned int present = 0;
	int status = 0, tmp_before, cg_before;

	ASSERT_OK(tl_init("kernel_behaviours", TL_BUDGET_S), "tl_init");
	ASSERT_OK(access(argv[0], X_OK), argv[0]);
	/* what other runs left is not ours to judge: compare before/after */
	tmp_before = count_entries("/tmp", "sockaccel-selftest.", false);
	cg_before = count_entries(tl_env.cgroup2, "sockaccel-selftest-", false);

	tl_log("running %s --json selftest", argv[0]);
	ASSERT_OK(tl_run_capture(argv, 120000, &status, &out, &err), "sockaccelctl selftest");
	tl_log("selftest %s; stdout: %s", tl_status_str(status, sbuf, sizeof(sbuf)), out);
	if (err[0])
		tl_log("selftest stderr: %s", err);
	for (unsigned int i = 0; i < sizeof(behaviours) / sizeof(behaviours[0]); i++) {
		if (state_of(out, behaviours[i], state, sizeof(state)))
			FAIL("the selftest's JSON has no state for %s", behaviours[i]);
		tl_log("FIGURE kernel behaviour %s: %s", behaviours[i], state);
		if (strcmp(state, "absent") == 0)
			tl_fail_msg(__FILE__, __LINE__, "the kernel fixed %s: update "
				    "docs/kernel-behaviours.md (and what sockaccel does about it)",
				    behaviours[i]);
		else if (strcmp(state, "present") != 0)
			tl_fail_msg(__FILE__, __LINE__, "the selftest could not tell whether %s is "
				    "present (state \"%s\")", behaviours[i], state);
		else
			present++;
	}
	ASSERT_EQ(present, 4, "all four known kernel behaviours present on this kernel");
	ASSERT_TRUE(strstr(out, "\"present\":4") != NULL, "the JSON counts four present");
	ASSERT_EXIT(status, SELFTEST_EXIT_PRESENT, "sockaccelctl selftest with behaviours present");

	/* the selftest cleaned up after itself: temp dir (and the bpffs in it)
	 * and cgroup */
	ASSERT_LE(count_entries("/tmp", "sockaccel-selftest.", true), tmp_before,
		  "no /tmp/sockaccel-selftest.* left by the selftest");
	ASSERT_LE(count_entries(tl_env.cgroup2, "sockaccel-selftest-", true), cg_before,
		  "no sockaccel-selftest-* cgroup left by the selftest");
cleanup:
	free(out);
	free(err);
	return tl_finish();
}
