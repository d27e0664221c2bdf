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
#include "config.h"
#include "daemon_opts.h"
#include "exitcodes.h"
#include "fastpath.h"
#include "log.h"
#include "loop.h"
#include "policy.h"
#include "preflight.h"
#include "rtnl.h"

#ifndef SA_VERSION
#define SA_VERSION "unknown"
#endif

static int exit_code_of(int err)
{
	switch (err) {
	case -EWOULDBLOCK:
		return SA_EXIT_LOCKED;
	case -EPROTO:
		return SA_EXIT_PINNED_STATE;
	case -ENOTDIR:
		return SA_EXIT_NO_BPFFS;
	default:
		return SA_EXIT_FAILURE;
	}
}

static bool want_link(const struct sa_daemon_opts *o, const struct sa_preflight *pf, int *code)
{
	*code = 0;
	switch (o->msg_attach) {
	case SA_MSG_ATTACH_OPT_LINK:
		if (!pf->sockmap_link) {
			p_err("--msg-attach link: this kernel has no sockmap links (they need "
			      "kernel >= 6.10); use --msg-attach auto or legacy");
			*code = SA_EXIT_USAGE;
		}
		return true;
	case SA_MSG_ATTACH_OPT_LEGACY:
		return false;
	default:
		return pf->sockmap_link;
	}
}

/* Policy maps and this host's addresses, before READY. */
static int setup_policy(struct sa_daemon *d)
{
	struct sa_fastpath_info fi;
	struct sa_policy_maps m;
	int err;

	sa_fastpath_info(d->fp, &fi);
	m = (struct sa_policy_maps){ .ctl = fi.ctl_fd, .ports = fi.ports_fd,
				     .local_addrs = fi.local_addrs_fd };
	err = sa_policy_new(&m, &d->policy);
	if (!err)
		err = sa_policy_apply_config(d->policy, &d->config);
	if (err)
		return err;
	d->rtnl_fd = sa_rtnl_open();
	if (d->rtnl_fd < 0) {
		p_err("can't open an rtnetlink socket for address changes: %s",
		      strerror(-d->rtnl_fd));
		return d->rtnl_fd;
	}
	err = sa_rtnl_dump_sync(d->rtnl_fd, sa_daemon_on_addr, d, 2000);
	if (err) {
		p_err("can't read this host's addresses: %s", strerror(-err));
		return err;
	}
	/* drop what an earlier run or config left and nobody wants now */
	err = sa_policy_sync(d->policy);
	if (err)
		p_err("can't update the local_addrs map: %s", strerror(-err));
	return err;
}

int main(int argc, char **argv)
{
	struct sa_daemon d = { .rtnl_fd = -1 };
	struct sa_fastpath_opts fo = {};
	struct sa_preflight_opts po = {};
	struct sa_fastpath_info fi;
	struct sa_daemon_opts o;
	struct sa_preflight pf;
	const struct sa_check *failed;
	char err_text[PATH_MAX + 512];
	sigset_t set;
	int err, code;

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
	if (sa_daemon_settings(&o, &d.config, err_text, sizeof(err_text))) {
		p_err("%s", err_text);
		return SA_EXIT_USAGE;
	}

	/* Signals wait in the signalfd until setup is complete, so a stop
	 * request never interrupts pinning half-way. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	po.cgroup = d.config.cgroup[0] ? d.config.cgroup : NULL;
	po.pin_dir = d.config.pin_dir;
	err = sa_preflight_run(&po, &pf);
	if (o.preflight_only) {
		sa_preflight_print(&pf, stdout);
		return err;
	}
	failed = sa_preflight_first_failure(&pf);
	if (failed) {
		p_err("preflight: %s: %s", failed->title, failed->detail);
		p_err("fix: %s", failed->fix);
		return failed->exit_code;
	}
	d.cgroup = pf.cgroup;

	fo.pin_dir = d.config.pin_dir;
	fo.cgroup = pf.cgroup;
	fo.max_conns = d.config.max_conns;
	fo.sockmap_link = want_link(&o, &pf, &code);
	fo.mem_bound = pf.mem_bound;
	fo.object_path = o.bpf_object[0] ? o.bpf_object : NULL;
	if (code)
		return code;
	err = sa_fastpath_setup(&fo, &d.fp);
	if (err)
		return exit_code_of(err);
	code = SA_EXIT_FAILURE;
	if (setup_policy(&d))
		goto cleanup;

	sa_fastpath_info(d.fp, &fi);
	p_info("ready: accelerating cgroup %s; pins in %s; sock_hash map id %u (max %u); "
	       "sockops prog id %u via link id %u; sk_msg prog id %u via %s id %u; "
	       "%u local prefixes; queue limit %s", pf.cgroup, d.config.pin_dir, fi.map_id, fi.max_entries,
	       fi.sockops_prog_id, fi.sockops_link_id, fi.msg_prog_id,
	       fi.msg_legacy ? "legacy attach to map" : "link",
	       fi.msg_legacy ? fi.map_id : fi.msg_link_id, sa_policy_local_count(d.policy),
	       !pf.mem_bound ? "unavailable (kernel < 6.2)" :
	       d.config.queue_limit ? "from queue_limit" : "tcp_rmem's maximum");
	sd_notify(0, "READY=1");

	code = sa_daemon_loop(&d);
cleanup:
	if (d.rtnl_fd >= 0)
		close(d.rtnl_fd);
	sa_policy_free(d.policy);
	sa_fastpath_close(d.fp);
	return code;
}
