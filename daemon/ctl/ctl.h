/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_CTL_H
#define SA_CTL_H

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>

#include "json_writer.h"

/* sockaccelctl exit statuses; documented in sockaccelctl(8) and docs/. */
enum sa_ctl_exit {
	SA_CTL_OK = 0,		/* done; status: healthy */
	SA_CTL_FAIL = 1,	/* failed; status: degraded */
	SA_CTL_USAGE = 2,
	SA_CTL_OFF = 3,		/* status: the fast path is off */
	SA_CTL_UNKNOWN = 4,	/* status: cannot tell (no permission, no bpffs) */
	SA_CTL_DRAINED_EXCEPT = 5, /* disable: some receivers still hold data */
	SA_CTL_BUSY = 6,	/* disable/enable: sockacceld holds the pin dir */
	SA_CTL_BEHAVIOURS = 7,	/* selftest: known kernel behaviours present */
};

struct ctl {
	const char *prog;
	char pin_dir[PATH_MAX];
	bool json;
	json_writer_t *jw;	/* set in JSON mode */
	bool error_printed;
	char **opt_argv;	/* the argv ctl_getopt() is walking */
};

struct cmd {
	const char *name;
	int (*fn)(struct ctl *c, int argc, char **argv);
	const char *usage;	/* arguments and one-line summary */
};

/* Print an error: {"error": ...} on stdout in JSON mode (once), else
 * "sockaccelctl: error: ..." on stderr. */
void ctl_err(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The error for an option getopt_long did not accept; returns SA_CTL_USAGE. */
int ctl_bad_option(struct ctl *c, int opt, char **argv, const char *cmd);

/*
 * getopt_long over a command's argv (argv[0] is its name), so that no
 * command repeats the checks (as bpftool's REQ_ARGS/BAD_ARG): resets getopt
 * on the first call for an argv, reports an option it refuses and, at the
 * end, an argument left over. Returns the option, -1 at the end, or '?'
 * once it has reported a usage error: the caller returns SA_CTL_USAGE.
 */
int ctl_getopt(struct ctl *c, int argc, char **argv, const struct option *longopts);

/* For a command that takes nothing: SA_CTL_USAGE, reported, when argv
 * holds more than its name; else 0. */
int ctl_no_args(struct ctl *c, int argc, char **argv);

int do_status(struct ctl *c, int argc, char **argv);
int do_stats(struct ctl *c, int argc, char **argv);
int do_conns(struct ctl *c, int argc, char **argv);
int do_disable(struct ctl *c, int argc, char **argv);
int do_enable(struct ctl *c, int argc, char **argv);
int do_preflight(struct ctl *c, int argc, char **argv);
int do_version(struct ctl *c, int argc, char **argv);
int do_selftest(struct ctl *c, int argc, char **argv);

/* status --probe; 0 when a loopback connection inside the cgroup was
 * redirected. @detail says what happened. */
int sa_probe_run(const char *pin_dir, const char *cgroup, char *detail, size_t len);

#endif
