/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_PREFLIGHT_H
#define SA_PREFLIGHT_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

struct sa_preflight_opts {
	const char *cgroup;	/* NULL: the cgroup2 mount's root */
	const char *pin_dir;
};

enum sa_check_state {
	SA_CHECK_PASS,
	SA_CHECK_FAIL,
	SA_CHECK_INFO,		/* not a requirement; reports what was found */
	SA_CHECK_SKIP,		/* could not run because an earlier check failed */
};

struct sa_check {
	const char *id;		/* stable identifier, e.g. "sockhash" */
	const char *title;
	enum sa_check_state state;
	int exit_code;		/* enum sa_exit, when FAIL */
	char detail[512];	/* what was found */
	char fix[512];		/* what to do, when FAIL */
};

#define SA_CHECKS_MAX 12

struct sa_preflight {
	struct sa_check checks[SA_CHECKS_MAX];
	unsigned int n;
	/* What later steps need to know */
	bool sockmap_link;		/* BPF_LINK_TYPE_SOCKMAP works (>= 6.10) */
	char cgroup2_mount[PATH_MAX];
	char cgroup[PATH_MAX];		/* the resolved --cgroup */
};

/*
 * Run every check against the real kernel; changes nothing on the system
 * (probe maps and programs are created and closed). Returns 0 when all
 * requirements hold, else the exit code of the first failure.
 */
int sa_preflight_run(const struct sa_preflight_opts *opts, struct sa_preflight *pf);

const struct sa_check *sa_preflight_first_failure(const struct sa_preflight *pf);

/* @state's name in JSON: "pass", "fail", "info" or "skip". */
const char *sa_check_state_name(enum sa_check_state state);

/* A report, one check a line, with the fix under each failure. */
void sa_preflight_print(const struct sa_preflight *pf, FILE *out);

#endif
