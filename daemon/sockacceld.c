// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockacceld: preflight, then load/pin/attach (or take over) the fast path,
 * then watch it until told to stop. See sockacceld(8).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "sockaccel.h"
#include "daemon_opts.h"
#include "exitcodes.h"
#include "fastpath.h"
#include "log.h"
#include "loop.h"
#include "preflight.h"

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

int main(int argc, char **argv)
{
	struct sa_fastpath_opts fo = {};
	struct sa_preflight_opts po = {};
	struct sa_fastpath *fp = NULL;
	struct sa_fastpath_info fi;
	struct sa_daemon_opts o;
	struct sa_preflight pf;
	const struct sa_check *failed;
	sigset_t set;
	int err;

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

	/* Signals wait in the signalfd until setup is complete, so a stop
	 * request never interrupts pinning half-way. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	po.cgroup = o.cgroup[0] ? o.cgroup : NULL;
	po.pin_dir = o.pin_dir;
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

	fo.pin_dir = o.pin_dir;
	fo.cgroup = pf.cgroup;
	fo.max_conns = o.max_conns;
	switch (o.msg_attach) {
	case SA_MSG_ATTACH_OPT_AUTO:
		fo.sockmap_link = pf.sockmap_link;
		break;
	case SA_MSG_ATTACH_OPT_LINK:
		if (!pf.sockmap_link) {
			p_err("--msg-attach link: this kernel has no sockmap links (they need "
			      "kernel >= 6.10); use --msg-attach auto or legacy");
			return SA_EXIT_USAGE;
		}
		fo.sockmap_link = true;
		break;
	case SA_MSG_ATTACH_OPT_LEGACY:
		fo.sockmap_link = false;
		break;
	}
	err = sa_fastpath_setup(&fo, &fp);
	if (err)
		return exit_code_of(err);

	sa_fastpath_info(fp, &fi);
	p_info("ready: accelerating cgroup %s; pins in %s; sock_hash map id %u (max %u); "
	       "sockops prog id %u via link id %u; sk_msg prog id %u via %s id %u",
	       pf.cgroup, o.pin_dir, fi.map_id, fi.max_entries, fi.sockops_prog_id,
	       fi.sockops_link_id, fi.msg_prog_id, fi.msg_legacy ? "legacy attach to map" : "link",
	       fi.msg_legacy ? fi.map_id : fi.msg_link_id);
	sd_notify(0, "READY=1");

	err = sa_daemon_loop(fp, o.pin_dir, pf.cgroup);
	sa_fastpath_close(fp);
	return err;
}
