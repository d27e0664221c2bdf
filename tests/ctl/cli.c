// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockaccelctl's command line: arguments and exit codes, without a daemon.
 *  - A table of command lines, each run plain and with --json: unknown
 *    commands and options, options without their value or with a value out
 *    of range, a relative or empty --pin-dir (2, usage); the fast path off
 *    (status 3, stats/conns 1); a pin dir not on bpffs (status 4, "cannot
 *    tell"). Plain: the message on stderr, nothing on stdout. --json: stdout
 *    is exactly one JSON value, {"error": "..."} for errors.
 *  - No permission: with the fast path set up by `enable`, status run as
 *    uid 65534 and as uid 0 without capabilities says "cannot tell" (4) and
 *    names the cause; stats and conns fail (1) naming it; disable and enable
 *    refuse (1) and change nothing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl_helpers.h"

#define ARGS_MAX 8

static char missing_cg[PATH_MAX];	/* filled in main() */

enum expect {
	E_ERROR,	/* message on stderr / {"error": "<needle>"} */
	E_OUTPUT,	/* needle on stdout / some JSON value */
};

struct cli_case {
	const char *args[ARGS_MAX];
	bool raw;		/* no --pin-dir <private pin dir> in front */
	int code;
	enum expect expect;
	const char *needle;	/* plain: in stderr (E_ERROR) or stdout (E_OUTPUT) */
	const char *verdict;	/* --json status: expected "verdict" */
	int json_code;		/* with --json, if not 0: another exit code... */
	const char *json_needle;	/* ...and error text */
};

/* CASE(exit code, expectation, needle, JSON verdict or NULL, args...) */
#define CASE(c, e, n, vd, ...) \
	{ .args = { __VA_ARGS__ }, .code = (c), .expect = (e), .needle = (n), .verdict = (vd) }
#define CASE_RAW(c, e, n, vd, ...) \
	{ .args = { __VA_ARGS__ }, .raw = true, .code = (c), .expect = (e), .needle = (n), \
	  .verdict = (vd) }

static const struct cli_case cases[] = {
	/* global options and the command */
	CASE(CTL_USAGE, E_ERROR, "no command given", NULL),
	CASE(CTL_USAGE, E_ERROR, "unknown command 'frobnicate'", NULL, "frobnicate"),
	CASE(CTL_USAGE, E_ERROR, "unknown command 'STATUS'", NULL, "STATUS"),
	CASE(CTL_USAGE, E_ERROR, "unknown option '--bogus'", NULL, "--bogus", "status"),
	CASE_RAW(CTL_USAGE, E_ERROR, "'--pin-dir' needs a value", NULL, "--pin-dir"),
	CASE_RAW(CTL_USAGE, E_ERROR, "'relative/pins' is not an absolute path", NULL,
	     "--pin-dir", "relative/pins", "status"),
	CASE_RAW(CTL_USAGE, E_ERROR, "'pins' is not an absolute path", NULL,
	     "-p", "pins", "status"),
	CASE_RAW(CTL_USAGE, E_ERROR, "is not an absolute path", NULL, "--pin-dir", "", "status"),
	/* global options go before the command */
	CASE(CTL_USAGE, E_ERROR, "unknown option '--json'", NULL, "status", "--json"),
	/* status */
	CASE(CTL_USAGE, E_ERROR, "status: unknown option '--bogus'", NULL, "status", "--bogus"),
	CASE(CTL_USAGE, E_ERROR, "status: unknown option", NULL, "status", "--probe=yes"),
	CASE(CTL_USAGE, E_ERROR, "unexpected argument 'extra'", NULL, "status", "extra"),
	CASE(CTL_USAGE, E_ERROR, "unexpected argument 'extra'", NULL,
	     "status", "--probe", "extra"),
	/* stats */
	CASE(CTL_USAGE, E_ERROR, "option '--watch' needs a value", NULL, "stats", "--watch"),
	CASE(CTL_USAGE, E_ERROR, "--watch: '0'", NULL, "stats", "--watch", "0"),
	CASE(CTL_USAGE, E_ERROR, "--watch: '3601'", NULL, "stats", "--watch", "3601"),
	CASE(CTL_USAGE, E_ERROR, "--watch: 'abc'", NULL, "stats", "--watch", "abc"),
	CASE(CTL_USAGE, E_ERROR, "--watch: '-1'", NULL, "stats", "--watch", "-1"),
	CASE(CTL_USAGE, E_ERROR, "--watch: '1s'", NULL, "stats", "--watch", "1s"),
	CASE(CTL_USAGE, E_ERROR, "--watch: ''", NULL, "stats", "--watch", ""),
	CASE(CTL_USAGE, E_ERROR, "option '--count' needs a value", NULL, "stats", "--count"),
	CASE(CTL_USAGE, E_ERROR, "--count needs --watch", NULL, "stats", "--count", "2"),
	CASE(CTL_USAGE, E_ERROR, "--count: '0'", NULL, "stats", "--watch", "1", "--count", "0"),
	CASE(CTL_USAGE, E_ERROR, "--count: 'x'", NULL, "stats", "--watch", "1", "--count", "x"),
	CASE(CTL_USAGE, E_ERROR, "--prometheus goes without --watch", NULL,
	     "stats", "--prometheus", "--watch", "1"),
	CASE(CTL_USAGE, E_ERROR, "stats: unknown option '--bogus'", NULL, "stats", "--bogus"),
	CASE(CTL_USAGE, E_ERROR, "unexpected argument 'extra'", NULL, "stats", "extra"),
	/* conns */
	CASE(CTL_USAGE, E_ERROR, "unexpected argument 'extra'", NULL, "conns", "extra"),
	CASE(CTL_USAGE, E_ERROR, "'--bogus'", NULL, "conns", "--bogus"),
	/* disable */
	CASE(CTL_USAGE, E_ERROR, "option '--timeout' needs a value", NULL,
	     "disable", "--timeout"),
	CASE(CTL_USAGE, E_ERROR, "--timeout: '-1'", NULL, "disable", "--timeout", "-1"),
	CASE(CTL_USAGE, E_ERROR, "--timeout: 'abc'", NULL, "disable", "--timeout", "abc"),
	CASE(CTL_USAGE, E_ERROR, "--timeout: '86401'", NULL, "disable", "--timeout", "86401"),
	CASE(CTL_USAGE, E_ERROR, "--timeout: '1.5'", NULL, "disable", "--timeout", "1.5"),
	CASE(CTL_USAGE, E_ERROR, "disable: unknown option '--bogus'", NULL, "disable", "--bogus"),
	CASE(CTL_USAGE, E_ERROR, "unexpected argument 'extra'", NULL, "disable", "extra"),
	/* enable */
	CASE(CTL_USAGE, E_ERROR, "--max-conns: '1'", NULL, "enable", "--max-conns", "1"),
	CASE(CTL_USAGE, E_ERROR, "--max-conns: '4194305'", NULL,
	     "enable", "--max-conns", "4194305"),
	CASE(CTL_USAGE, E_ERROR, "--max-conns: 'abc'", NULL, "enable", "--max-conns", "abc"),
	CASE(CTL_USAGE, E_ERROR, "option '--max-conns' needs a value", NULL,
	     "enable", "--max-conns"),
	CASE(CTL_USAGE, E_ERROR, "option '--cgroup' needs a value", NULL, "enable", "--cgroup"),
	CASE(CTL_USAGE, E_ERROR, "enable: unknown option '--bogus'", NULL, "enable", "--bogus"),
	CASE(CTL_USAGE, E_ERROR, "unexpected argument 'extra'", NULL, "enable", "extra"),
	/* preflight, version */
	CASE(CTL_USAGE, E_ERROR, "option '--cgroup' needs a value", NULL,
	     "preflight", "--cgroup"),
	CASE(CTL_USAGE, E_ERROR, "preflight: unknown option '--bogus'", NULL,
	     "preflight", "--bogus"),
	CASE(CTL_USAGE, E_ERROR, "unexpected argument 'extra'", NULL, "preflight", "extra"),
	CASE(CTL_USAGE, E_ERROR, "unexpected argument 'extra'", NULL, "version", "extra"),
	CASE(CTL_USAGE, E_ERROR, "'--bogus'", NULL, "version", "--bogus"),
	/* not usage errors: the private pin dir does not exist yet */
	CASE(CTL_OK, E_OUTPUT, "Usage:", NULL, "help"),
	CASE_RAW(CTL_OK, E_OUTPUT, "Usage:", NULL, "--help"),
	CASE(CTL_OK, E_OUTPUT, "layout", NULL, "version"),
	CASE(CTL_OFF, E_OUTPUT, "sockaccel: off", "off", "status"),
	CASE(CTL_FAIL, E_ERROR, "the fast path is off", NULL, "stats"),
	/* --prometheus is text: with --json, a usage error */
	{ .args = { "stats", "--prometheus" }, .code = CTL_FAIL, .expect = E_ERROR,
	  .needle = "the fast path is off", .json_code = CTL_USAGE,
	  .json_needle = "--prometheus goes without" },
	CASE(CTL_FAIL, E_ERROR, "the fast path is off", NULL, "conns"),
	CASE(CTL_OK, E_OUTPUT, "already off", NULL, "disable"),
	CASE(CTL_FAIL, E_ERROR, "preflight", NULL, "enable", "--cgroup", missing_cg),
	CASE(CTL_FAIL, E_OUTPUT, "FAIL", NULL, "preflight", "--cgroup", missing_cg),
	/* a pin dir not on bpffs: nothing can be told */
	CASE_RAW(CTL_UNKNOWN, E_OUTPUT, "not on bpffs", "unknown",
	     "--pin-dir", tl_env.tmp, "status"),
};

static void describe(const struct cli_case *c, bool json, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "sockaccelctl%s%s", json ? " --json" : "",
				    c->raw ? "" : " --pin-dir <pins>");

	for (int i = 0; i < ARGS_MAX && c->args[i] && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, " '%s'", c->args[i]);
}

static bool run_case(const struct cli_case *c, bool json)
{
	const char *args[ARGS_MAX + 4];
	struct ctl_out o = CTL_OUT_INIT;
	struct cj *v = NULL;
	char what[512];
	bool ok = false;
	int n = 0;

	describe(c, json, what, sizeof(what));
	if (json)
		args[n++] = "--json";
	if (!c->raw) {
		args[n++] = "--pin-dir";
		args[n++] = tl_env.pin_dir;
	}
	for (int i = 0; i < ARGS_MAX && c->args[i]; i++)
		args[n++] = c->args[i];
	args[n] = NULL;

	ASSERT_CTL(ctl_exec(&o, NULL, args), &o, json && c->json_code ? c->json_code : c->code,
		   what);
	if (!json && c->expect == E_ERROR) {
		ASSERT_ERR_HAS(&o, c->needle, what);
		if (o.out_len) {
			ctl_fail_out(__FILE__, __LINE__, what, &o, "an error printed to stdout");
			goto cleanup;
		}
	} else if (!json) {
		ASSERT_OUT_HAS(&o, c->needle, what);
	} else if (c->expect == E_ERROR) {
		ASSERT_JSON_ERROR(&o, c->json_needle ? c->json_needle : c->needle, what);
	} else {
		ASSERT_JSON(&o, CJ_OBJ, v, what);
		if (c->verdict)
			ASSERT_JSON_STR(v, "verdict", c->verdict, what);
	}
	ok = true;
cleanup:
	cj_free(v);
	ctl_out_free(&o);
	return ok;
}

/* One command without permission: exit @code; an error names @cause (in
 * stdout for status, else in stderr; in the JSON error or reasons with
 * --json). A command that may run (@code 0) prints its normal output. */
static bool perm_case(const struct ctl_opts *who, const char *cause, int code, bool json,
		      const char *const *cmd)
{
	const char *args[12];
	struct ctl_out o = CTL_OUT_INIT;
	struct cj *v = NULL;
	bool status = strcmp(cmd[0], "status") == 0, ok = false;
	char what[256];
	int n = 0;

	args[n++] = "--pin-dir";
	args[n++] = tl_env.pin_dir;
	if (json)
		args[n++] = "--json";
	for (int i = 0; cmd[i] && n < 11; i++)
		args[n++] = cmd[i];
	args[n] = NULL;
	snprintf(what, sizeof(what), "%s%s as %s", cmd[0], json ? " --json" : "",
		 who->priv == CTL_AS_NOBODY ? "uid 65534" : "uid 0 without capabilities");

	ASSERT_CTL(ctl_exec(&o, who, args), &o, code, what);
	if (code == CTL_OK && json) {
		ASSERT_JSON(&o, strcmp(cmd[0], "conns") == 0 ? CJ_ARR : CJ_OBJ, v, what);
	} else if (code == CTL_OK) {
		ASSERT_TRUE(o.out_len > 0, "output on stdout");
	} else if (status && !json) {
		ASSERT_OUT_HAS(&o, "sockaccel: unknown", what);
		ASSERT_OUT_HAS(&o, cause, what);
	} else if (status) {
		ASSERT_JSON(&o, CJ_OBJ, v, what);
		ASSERT_JSON_STR(v, "verdict", "unknown", what);
		if (!cj_array_has_substr(cj_get(v, "reasons"), cause)) {
			ctl_fail_out(__FILE__, __LINE__, what, &o, "no reason names the cause \"%s\"",
				     cause);
			goto cleanup;
		}
	} else if (json) {
		ASSERT_JSON_ERROR(&o, cause, what);
	} else {
		ASSERT_ERR_HAS(&o, cause, what);
	}
	ok = true;
cleanup:
	cj_free(v);
	ctl_out_free(&o);
	return ok;
}

/* The fast path is as enable left it. */
static bool unchanged(const char *after)
{
	struct ctl_out o = CTL_OUT_INIT;
	struct cj *v = NULL;
	char link[PATH_MAX], what[128];
	__u32 cnt = 0;
	bool ok = false;

	snprintf(what, sizeof(what), "status as root after %s", after);
	ASSERT_OK(tl_pin_path(link, "link_sockops"), "link_sockops path");
	ASSERT_TRUE(ctl_exists(link), "link_sockops still pinned");
	ASSERT_OK(tl_cgroup_prog_count(BPF_CGROUP_SOCK_OPS, &cnt), "bpf_prog_query(test cgroup)");
	ASSERT_EQ(cnt, 1, "sockops programs on the cgroup");
	ASSERT_CTL(ctl_cmd(&o, "--json", "status", NULL), &o, CTL_OK, what);
	ASSERT_JSON(&o, CJ_OBJ, v, what);
	ASSERT_JSON_STR(v, "verdict", "healthy", what);
	ASSERT_JSON_STR(v, "redirect", "on", what);
	ok = true;
cleanup:
	cj_free(v);
	ctl_out_free(&o);
	return ok;
}

/*
 * The permission cases: with the fast path set up, commands run as uid 65534
 * (the private pin dir is out of its reach: EACCES) and as uid 0 without
 * capabilities (the pins are its own files, so it may open them and read
 * the maps, but BPF_PROG_QUERY and creating maps need capabilities: EPERM).
 * Each failure is reported and the others still run.
 */
static bool no_permission(void)
{
	static const struct ctl_opts nobody = { .priv = CTL_AS_NOBODY };
	static const struct ctl_opts nocaps = { .priv = CTL_AS_ROOT_NO_CAPS };
	static const struct {
		const struct ctl_opts *who;
		const char *cmd[6];
		int code;
		const char *cause;
	} perm_cases[] = {
		{ &nobody, { "status" }, CTL_UNKNOWN, "Permission denied" },
		{ &nobody, { "stats" }, CTL_FAIL, "Permission denied" },
		{ &nobody, { "conns" }, CTL_FAIL, "Permission denied" },
		/* refused, and nothing changes */
		{ &nobody, { "disable", "--timeout", "1" }, CTL_FAIL, "Permission denied" },
		{ &nobody, { "enable", "--cgroup", tl_env.cgroup }, CTL_FAIL, "CAP_BPF" },
		/* status needs BPF_PROG_QUERY to tell whether sockops is attached */
		{ &nocaps, { "status" }, CTL_UNKNOWN, "Operation not permitted" },
		/* reading the maps is allowed to their owner */
		{ &nocaps, { "stats" }, CTL_OK, NULL },
		{ &nocaps, { "conns" }, CTL_OK, NULL },
		{ &nocaps, { "enable", "--cgroup", tl_env.cgroup }, CTL_FAIL, "CAP_BPF" },
	};
	struct ctl_out o = CTL_OUT_INIT;
	unsigned int failed = 0;
	bool ok = false;

	ASSERT_CTL(ctl_cmd(&o, "enable", "--cgroup", tl_env.cgroup, "--max-conns", "1024", NULL),
		   &o, CTL_OK, "enable (as root) for the permission cases");
	ASSERT_TRUE(unchanged("enable"), "healthy after enable");

	for (unsigned int i = 0; i < sizeof(perm_cases) / sizeof(perm_cases[0]); i++) {
		for (int json = 0; json <= 1; json++) {
			if (!perm_case(perm_cases[i].who, perm_cases[i].cause, perm_cases[i].code,
				       json, perm_cases[i].cmd))
				failed++;
			if (!unchanged(perm_cases[i].cmd[0])) {
				tl_log("the fast path changed; stopping the permission cases");
				goto cleanup;
			}
		}
	}
	ASSERT_EQ(failed, 0, "permission cases that failed (each reported above)");
	ok = true;
cleanup:
	ctl_out_free(&o);
	return ok;
}

/* Undo the enable as root, whatever happened. */
static bool disable_as_root(void)
{
	struct ctl_out o = CTL_OUT_INIT;
	__u32 cnt = 0;
	bool ok = false;

	ASSERT_CTL(ctl_cmd(&o, "disable", NULL), &o, CTL_OK, "disable as root");
	ASSERT_FALSE(ctl_exists(tl_env.pin_dir), "pin dir gone after disable");
	ASSERT_OK(tl_wait_cgroup_detached(&cnt, 2000), "no sockops program on the cgroup after disable");
	ok = true;
cleanup:
	ctl_out_free(&o);
	return ok;
}

int main(void)
{
	unsigned int failed = 0, total = 0;
	bool perm_ok;

	ASSERT_OK(tl_init("ctl_cli", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_pathf(missing_cg, "%s/sockaccel-test-%d-missing", tl_env.cgroup2,
			   (int)getpid()), "missing cgroup path");

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int json = 0; json <= 1; json++) {
			total++;
			if (!run_case(&cases[i], json))
				failed++;	/* reported; go on with the others */
		}
	}
	tl_log("%u of %u command lines behaved as expected", total - failed, total);
	ASSERT_FALSE(ctl_exists(tl_env.pin_dir), "the table's commands pinned nothing");

	perm_ok = no_permission();
	ASSERT_TRUE(disable_as_root(), "disable as root after the permission cases");
	ASSERT_TRUE(perm_ok, "without permission: cannot tell, and nothing changes");
cleanup:
	return tl_finish();
}
