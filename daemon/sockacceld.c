// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockacceld: settings -> preflight -> load/pin/attach (or take over) the
 * fast path -> policy -> READY -> watch it until told to stop.
 * See sockacceld(8).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "sockaccel.h"
#include "bringup.h"
#include "config.h"
#include "confwatch.h"
#include "daemon_opts.h"
#include "exitcodes.h"
#include "log.h"
#include "loop.h"
#include "metrics_http.h"

#ifndef SA_VERSION
#define SA_VERSION "unknown"
#endif

/* --preflight: every check, then the variant this kernel accepts. */
static int preflight_only(const struct sa_config *c, const char *object_path)
{
	struct sa_preflight_opts po = { .cgroup = c->cgroup[0] ? c->cgroup : NULL,
					.pin_dir = c->pin_dir };
	struct sa_variant_opts vo = { .unbounded_ok = c->unbounded, .object_path = object_path };
	struct sa_preflight pf;
	struct sa_variant v;
	int code, err;

	code = sa_preflight_run(&po, &pf);
	sa_preflight_print(&pf, stdout);
	if (pf.checks[0].state != SA_CHECK_PASS)
		return code;	/* no bpf(): nothing to load */
	err = sa_variant_choose(&vo, &v);
	sa_variant_print(&v, err, stdout);
	if (code)
		return code;
	return err == -ENOTSUP ? SA_EXIT_VERIFIER : err == -ENOSPC ? SA_EXIT_NO_BOUND : 0;
}

static enum sa_attach_choice attach_choice(enum sa_msg_attach_opt o)
{
	return o == SA_MSG_ATTACH_OPT_LINK ? SA_ATTACH_LINK :
	       o == SA_MSG_ATTACH_OPT_LEGACY ? SA_ATTACH_LEGACY : SA_ATTACH_AUTO;
}

/* metrics_listen: /metrics is an extra, so acceleration goes on without it. */
static void start_metrics(struct sa_daemon *d)
{
	char err[PATH_MAX + 512], where[64];

	if (!d->config.metrics_listen.family)
		return;
	sa_listen_format(&d->config.metrics_listen, where, sizeof(where));
	if (sa_metrics_http_start(&d->config.metrics_listen, d->config.pin_dir, &d->metrics, err,
				  sizeof(err)))
		p_err("%s; /metrics is off, acceleration goes on", err);
	else
		p_info("metrics: serving http://%s/metrics", where);
}

int main(int argc, char **argv)
{
	struct sa_daemon d = { .rtnl_fd = -1 };
	struct sa_bringup_opts bo = {};
	struct sa_fastpath_info fi;
	struct sa_daemon_opts o;
	struct sa_bringup b;
	char err_text[PATH_MAX + 512], variant[256];
	sigset_t set;
	int code;

	if (sa_daemon_opts_parse(argc, argv, &o, stderr)) {
		fprintf(stderr, "Try '%s --help'.\n", argv[0]);
		return SA_EXIT_USAGE;
	}
	if (o.help) {
		sa_daemon_usage(stdout, argv[0]);
		return SA_EXIT_OK;
	}
	if (o.version) {
		printf("sockacceld %s (pinned layout %u)\n", SA_VERSION, SA_LAYOUT_VERSION);
		return SA_EXIT_OK;
	}
	sa_log_init("sockacceld", o.verbose, false);
	d.opts = &o;
	/* before the load: see sa_config_fingerprint() */
	d.config_sum = sa_config_fingerprint(o.config);
	if (sa_daemon_settings(&o, &d.config, err_text, sizeof(err_text))) {
		p_err("%s", err_text);
		return SA_EXIT_USAGE;
	}
	if (o.preflight_only)
		return preflight_only(&d.config, o.bpf_object[0] ? o.bpf_object : NULL);

	/* Signals wait in the signalfd until setup is complete, so a stop
	 * request never interrupts pinning half-way. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	bo.config = &d.config;
	bo.attach = attach_choice(o.msg_attach);
	bo.object_path = o.bpf_object[0] ? o.bpf_object : NULL;
	code = sa_bringup(&bo, &b);
	if (code)
		return code;
	d.cgroup = b.pf.cgroup;
	d.fp = b.fp;
	d.policy = b.policy;
	d.rtnl_fd = b.rtnl_fd;
	d.features = b.variant.loaded;

	sa_fastpath_info(d.fp, &fi);
	sa_variant_describe(b.variant.loaded, variant, sizeof(variant));
	p_info("ready: accelerating cgroup %s; pins in %s; sock_hash map id %u (max %u); "
	       "sockops prog id %u via link id %u; sk_msg prog id %u via %s id %u; "
	       "%u local prefixes; variant %s; queue limit %s", d.cgroup, d.config.pin_dir,
	       fi.map_id, fi.max_entries, fi.sockops_prog_id, fi.sockops_link_id, fi.msg_prog_id,
	       fi.msg_legacy ? "legacy attach to map" : "link",
	       fi.msg_legacy ? fi.map_id : fi.msg_link_id, sa_policy_local_count(d.policy),
	       variant,
	       !(b.variant.loaded & SA_FEAT_ANY_BOUND) ? "none (memory_bound = off)" :
	       d.config.queue_limit ? "from queue_limit" : "tcp_rmem's maximum");
	start_metrics(&d);
	sd_notifyf(0, "READY=1\nSTATUS=accelerating %s (variant %s)", d.cgroup, variant);

	code = sa_daemon_loop(&d);
	sa_metrics_http_stop(d.metrics);
	sa_bringup_release(&b);
	return code;
}
