/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_LOOP_H
#define SA_LOOP_H

#include "config.h"
#include "daemon_opts.h"
#include "fastpath.h"
#include "policy.h"

struct sa_metrics_http;

/* What the running daemon works with; owned by main(). */
struct sa_daemon {
	const struct sa_daemon_opts *opts;	/* to re-read the config on reload */
	struct sa_config config;		/* in force */
	const char *cgroup;			/* resolved by preflight */
	struct sa_fastpath *fp;
	struct sa_policy *policy;
	int rtnl_fd;				/* address monitor, dumped once already */
	__u32 features;				/* SA_FEAT_* the programs run with */
	__u64 config_sum;			/* fingerprint of the file @config
						 * came from (confwatch.h) */
	struct sa_metrics_http *metrics;	/* NULL: metrics_listen = off */
};

/*
 * sockacceld's event loop: signals, changes in the pin dir and in the
 * configuration file, this host's addresses, the health check and the
 * systemd watchdog. Returns the exit
 * status (enum sa_exit).
 */
int sa_daemon_loop(struct sa_daemon *d);

#endif
