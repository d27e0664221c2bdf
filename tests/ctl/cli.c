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
};

static const struct cli_case cases[] = {
	/* global options and the command */
	{ { NULL }, false, CTL_USAGE, E_ERROR, "no command given" },
	{ { "frobnicate" }, false, CTL_USAGE, E_ERROR, "unknown command 'frobnicate'" },
	{ { "STATUS" }, false, CTL_USAGE, E_ERROR, "unknown command 'STATUS'" },
	{ { "--bogus", "status" }, false, CTL_USAGE, E_ERROR, "unknown option '--bogus'" },
	{ { "--pin-dir" }, true, CTL_USAGE, E_ERROR, "'--pin-dir' needs a value" },
	{ { "--pin-dir", "relative/pins", "status" }, true, CTL_USAGE, E_ERROR,
	  "'relative/pins' is not an absolute path" },
	{ { "-p", "pins", "status" }, true, CTL_USAGE, E_ERROR, "'pins' is not an absolute path" },
	{ { "--pin-dir", "", "status" }, true, CTL_USAGE, E_ERROR, "is not an absolute path" },
	/* global options go before the command */
	{ { "status", "--json" }, false, CTL_USAGE, E_ERROR, "unknown option '--json'" },

	/* status */
	{ { "status", "--bogus" }, false, CTL_USAGE, E_ERROR, "status: unknown option '--bogus'" },
	{ { "status", "--probe=yes" }, false, CTL_USAGE, E_ERROR, "status: unknown option" },
	{ { "status", "extra" }, false, CTL_USAGE, E_ERROR, "unexpected argument 'extra'" },
	{ { "status", "--probe", "extra" }, false, CTL_USAGE, E_ERROR,
	  "unexpected argument 'extra'" },

	/* stats */
	{ { "stats", "--watch" }, false, CTL_USAGE, E_ERROR, "option '--watch' needs a value" },
	{ { "stats", "--watch", "0" }, false, CTL_USAGE, E_ERROR, "--watch: '0'" },
	{ { "stats", "--watch", "3601" }, false, CTL_USAGE, E_ERROR, "--watch: '3601'" },
	{ { "stats", "--watch", "abc" }, false, CTL_USAGE, E_ERROR, "--watch: 'abc'" },
	{ { "stats", "--watch", "-1" }, false, CTL_USAGE, E_ERROR, "--watch: '-1'" },
	{ { "stats", "--watch", "1s" }, false, CTL_USAGE, E_ERROR, "--watch: '1s'" },
	{ { "stats", "--watch", "" }, false, CTL_USAGE, E_ERROR, "--watch: ''" },
	{ { "stats", "--count" }, false, CTL_USAGE, E_ERROR, "option '--count' needs a value" },
	{ { "stats", "--count", "2" }, false, CTL_USAGE, E_ERROR, "--count needs --watch" },
	{ { "stats", "--watch", "1", "--count", "0" }, false, CTL_USAGE, E_ERROR, "--count: '0'" },
	{ { "stats", "--watch", "1", "--count", "x" }, false, CTL_USAGE, E_ERROR, "--count: 'x'" },
	{ { "stats", "--prometheus", "--watch", "1" }, false, CTL_USAGE, E_ERROR,
	  "--prometheus goes without --watch" },
	{ { "stats", "--bogus" }, false, CTL_USAGE, E_ERROR, "stats: unknown option '--bogus'" },
	{ { "stats", "extra" }, false, CTL_USAGE, E_ERROR, "unexpected argument 'extra'" },

	/* conns */
	{ { "conns", "extra" }, false, CTL_USAGE, E_ERROR, "unexpected argument 'extra'" },
	{ { "conns", "--bogus" }, false, CTL_USAGE, E_ERROR, "'--bogus'" },

	/* disable */
	{ { "disable", "--timeout" }, false, CTL_USAGE, E_ERROR, "option '--timeout' needs a value" },
	{ { "disable", "--timeout", "-1" }, false, CTL_USAGE, E_ERROR, "--timeout: '-1'" },
	{ { "disable", "--timeout", "abc" }, false, CTL_USAGE, E_ERROR, "--timeout: 'abc'" },
	{ { "disable", "--timeout", "86401" }, false, CTL_USAGE, E_ERROR, "--timeout: '86401'" },
	{ { "disable", "--timeout", "1.5" }, false, CTL_USAGE, E_ERROR, "--timeout: '1.5'" },
	{ { "disable", "--bogus" }, false, CTL_USAGE, E_ERROR, "disable: unknown option '--bogus'" },
	{ { "disable", "extra" }, false, CTL_USAGE, E_ERROR, "unexpected argument 'extra'" },

	/* enable */
	{ { "enable", "--max-conns", "1" }, false, CTL_USAGE, E_ERROR, "--max-conns: '1'" },
	{ { "enable", "--max-conns", "4194305" }, false, CTL_USAGE, E_ERROR,
	  "--max-conns: '4194305'" },
	{ { "enable", "--max-conns", "abc" }, false, CTL_USAGE, E_ERROR, "--max-conns: 'abc'" },
	{ { "enable", "--max-conns" }, false, CTL_USAGE, E_ERROR,
	  "option '--max-conns' needs a value" },
	{ { "enable", "--cgroup" }, false, CTL_USAGE, E_ERROR, "option '--cgroup' needs a value" },
	{ { "enable", "--bogus" }, false, CTL_USAGE, E_ERROR, "enable: unknown option '--bogus'" },
	{ { "enable", "extra" }, false, CTL_USAGE, E_ERROR, "unexpected argument 'extra'" },

	/* preflight, version */
	{ { "preflight", "--cgroup" }, false, CTL_USAGE, E_ERROR,
	  "option '--cgroup' needs a value" },
	{ { "preflight", "--bogus" }, false, CTL_USAGE, E_ERROR,
	  "preflight: unknown option '--bogus'" },
	{ { "preflight", "extra" }, false, CTL_USAGE, E_ERROR, "unexpected argument 'extra'" },
	{ { "version", "extra" }, false, CTL_USAGE, E_ERROR, "unexpected argument 'extra'" },
	{ { "version", "--bogus" }, false, CTL_USAGE, E_ERROR, "'--bogus'" },

	/* not usage errors: the private pin dir does not exist yet */
	{ { "help" }, false, CTL_OK, E_OUTPUT, "Usage:" },
	{ { "--help" }, true, CTL_OK, E_OUTPUT, "Usage:" },
	{ { "version" }, false, CTL_OK, E_OUTPUT, "layout" },
	{ { "status" }, false, CTL_OFF, E_OUTPUT, "sockaccel: off", "off" },
	{ { "stats" }, false, CTL_FAIL, E_ERROR, "the fast path is off" },
	{ { "stats", "--prometheus" }, false, CTL_FAIL, E_ERROR, "the fast path is off" },
	{ { "conns" }, false, CTL_FAIL, E_ERROR, "the fast path is off" },
	{ { "disable" }, false, CTL_OK, E_OUTPUT, "already off" },
	{ { "enable", "--cgroup", missing_cg }, false, CTL_FAIL, E_ERROR, "preflight" },
	{ { "preflight", "--cgroup", missing_cg }, false, CTL_FAIL, E_OUTPUT, "FAIL" },
	/* a pin dir not on bpffs: nothing can be told */
	{ { "--pin-dir", tl_env.tmp, "status" }, true, CTL_UNKNOWN, E_OUTPUT, "not on bpffs",
	  "unknown" },
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

	ASSERT_CTL(ctl_exec(&o, NULL, args), &o, c->code, what);
	if (!json && c->expect == E_ERROR) {
		ASSERT_ERR_HAS(&o, c->needle, what);
		if (o.out_len) {
			ctl_fail_out(__FILE__, __LINE__, what, &o, "an error printed to stdout");
			goto cleanup;
		}
	} else if (!json) {
		ASSERT_OUT_HAS(&o, c->needle, what);
	} else if (c->expect == E_ERROR) {
		ASSERT_JSON_ERROR(&o, c->needle, what);
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

/* The permission cases: the fast path is set up and the pins are readable
 * only with privileges. */
static bool no_permission(void)
{
	static const struct ctl_opts nobody = { .priv = CTL_AS_NOBODY };
	static const struct ctl_opts nocaps = { .priv = CTL_AS_ROOT_NO_CAPS };
	static const struct {
		const struct ctl_opts *who;
		const char *cause;	/* strerror of what the kernel says */
	} whos[] = {
		{ &nobody, "Permission denied" },
		{ &nocaps, "Operation not permitted" },
	};
	struct ctl_out o = CTL_OUT_INIT;
	struct cj *v = NULL;
	char link[PATH_MAX];
	__u32 cnt = 0;
	bool ok = false;

	ASSERT_CTL(ctl_cmd(&o, "enable", "--cgroup", tl_env.cgroup, "--max-conns", "1024", NULL),
		   &o, CTL_OK, "enable (as root) for the permission cases");
	ASSERT_CTL(ctl_cmd(&o, "status", NULL), &o, CTL_OK, "status as root after enable");

	for (unsigned int i = 0; i < sizeof(whos) / sizeof(whos[0]); i++) {
		const struct ctl_opts *who = whos[i].who;
		const char *cause = whos[i].cause;

		ASSERT_CTL(ctl_cmd_opts(&o, who, "status", NULL), &o, CTL_UNKNOWN,
			   "status without permission: cannot tell");
		ASSERT_OUT_HAS(&o, "sockaccel: unknown", "status without permission: verdict");
		ASSERT_OUT_HAS(&o, cause, "status without permission names the cause");
		ASSERT_OUT_HAS(&o, "cannot read", "status without permission says what it cannot read");

		ASSERT_CTL(ctl_cmd_opts(&o, who, "--json", "status", NULL), &o, CTL_UNKNOWN,
			   "status --json without permission");
		ASSERT_JSON(&o, CJ_OBJ, v, "status --json without permission");
		ASSERT_JSON_STR(v, "verdict", "unknown", "status --json without permission");
		if (!cj_array_has_substr(cj_get(v, "reasons"), cause)) {
			ctl_fail_out(__FILE__, __LINE__, "status --json without permission", &o,
				     "no reason names the cause \"%s\"", cause);
			goto cleanup;
		}

		ASSERT_CTL(ctl_cmd_opts(&o, who, "stats", NULL), &o, CTL_FAIL,
			   "stats without permission");
		ASSERT_ERR_HAS(&o, cause, "stats without permission names the cause");
		ASSERT_CTL(ctl_cmd_opts(&o, who, "--json", "stats", NULL), &o, CTL_FAIL,
			   "stats --json without permission");
		ASSERT_JSON_ERROR(&o, cause, "stats --json without permission");

		ASSERT_CTL(ctl_cmd_opts(&o, who, "conns", NULL), &o, CTL_FAIL,
			   "conns without permission");
		ASSERT_ERR_HAS(&o, cause, "conns without permission names the cause");
		ASSERT_CTL(ctl_cmd_opts(&o, who, "--json", "conns", NULL), &o, CTL_FAIL,
			   "conns --json without permission");
		ASSERT_JSON_ERROR(&o, cause, "conns --json without permission");

		ASSERT_CTL(ctl_cmd_opts(&o, who, "disable", "--timeout", "1", NULL), &o, CTL_FAIL,
			   "disable without permission fails");
		ASSERT_CTL(ctl_cmd_opts(&o, who, "enable", "--cgroup", tl_env.cgroup, NULL), &o,
			   CTL_FAIL, "enable without permission fails");

		/* and nothing changed */
		ASSERT_OK(tl_pin_path(link, "link_sockops"), "link_sockops path");
		ASSERT_TRUE(ctl_exists(link), "link_sockops still pinned after the refused disable");
		ASSERT_OK(tl_cgroup_prog_count(BPF_CGROUP_SOCK_OPS, &cnt),
			  "bpf_prog_query(test cgroup)");
		ASSERT_EQ(cnt, 1, "sockops programs on the cgroup after the refused commands");
		ASSERT_CTL(ctl_cmd(&o, "--json", "status", NULL), &o, CTL_OK,
			   "status as root after the refused commands");
		ASSERT_JSON(&o, CJ_OBJ, v, "status --json as root");
		ASSERT_JSON_STR(v, "verdict", "healthy", "status --json as root");
		ASSERT_JSON_STR(v, "redirect", "on", "the redirect switch after the refused disable");
	}

	ASSERT_CTL(ctl_cmd(&o, "disable", NULL), &o, CTL_OK, "disable as root");
	ASSERT_FALSE(ctl_exists(tl_env.pin_dir), "pin dir gone after disable");
	ASSERT_OK(tl_cgroup_prog_count(BPF_CGROUP_SOCK_OPS, &cnt), "bpf_prog_query(test cgroup)");
	ASSERT_EQ(cnt, 0, "sockops programs on the cgroup after disable");
	ok = true;
cleanup:
	cj_free(v);
	ctl_out_free(&o);
	return ok;
}

int main(void)
{
	unsigned int failed = 0, total = 0;

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

	ASSERT_TRUE(no_permission(), "without permission: cannot tell, and nothing changes");
cleanup:
	return tl_finish();
}
