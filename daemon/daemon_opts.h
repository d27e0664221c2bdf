/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_DAEMON_OPTS_H
#define SA_DAEMON_OPTS_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>

enum sa_msg_attach_opt {
	SA_MSG_ATTACH_OPT_AUTO,		/* link when the kernel has sockmap links */
	SA_MSG_ATTACH_OPT_LINK,
	SA_MSG_ATTACH_OPT_LEGACY,
};

struct sa_daemon_opts {
	char config[PATH_MAX];	/* sockaccel.conf to read */
	bool config_set;	/* named on the command line: must exist */
	char cgroup[PATH_MAX];	/* empty: not given */
	char pin_dir[PATH_MAX];
	bool pin_dir_set;
	__u32 max_conns;
	bool max_conns_set;
	enum sa_msg_attach_opt msg_attach;
	char metrics_listen[64];	/* "" = not given; else as metrics_listen */
	char bpf_object[PATH_MAX];	/* "" = built-in; a .bpf.o for upgrade tests */
	bool verbose;
	bool preflight_only;
	bool help;
	bool version;
};

/*
 * Parse sockacceld's command line into @o (defaults first). Prints what was
 * wrong to @err and returns -EINVAL on a usage error; 0 otherwise.
 * Re-entrant enough for unit tests (resets getopt).
 */
int sa_daemon_opts_parse(int argc, char **argv, struct sa_daemon_opts *o, FILE *err);
void sa_daemon_usage(FILE *out, const char *prog);

struct sa_config;
/* The settings in force: the configuration file (o->config; absent is
 * fine unless named with --config), then what the command line gave. */
int sa_daemon_settings(const struct sa_daemon_opts *o, struct sa_config *c, char *err,
		       size_t len);

#endif
