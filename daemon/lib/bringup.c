// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * preflight -> variant -> attach mode -> load/pin/attach -> policy. One
 * path for sockacceld and sockaccelctl enable, so both give a kernel the
 * same programs, features and policy.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "bringup.h"
#include "exitcodes.h"
#include "log.h"
#include "rtnl.h"

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

void sa_bringup_on_addr(void *arg, const struct sa_cidr *a, bool add)
{
	int err = sa_policy_host_addr(arg, a, add);

	if (err)
		p_warn("can't %s a host address in local_addrs: %s", add ? "add" : "remove",
		       strerror(-err));
}

void sa_bringup_log_variant(const struct sa_variant *v)
{
	struct sa_features rec;
	char desc[256], lines[SA_FEAT_SLOTS + 1][512];
	unsigned int n;

	sa_variant_describe(v->loaded, desc, sizeof(desc));
	sa_variant_record(v, &rec);
	n = sa_features_missing(&rec, lines, SA_FEAT_SLOTS + 1);
	if (!n) {
		p_info("variant %s: every feature this sockacceld has", desc);
		return;
	}
	p_warn("variant %s: running degraded, %u feature%s missing", desc, n, n == 1 ? "" : "s");
	for (unsigned int i = 0; i < n; i++)
		p_warn("  %s", lines[i]);
}

static int choose_variant(const struct sa_bringup_opts *o, struct sa_bringup *b)
{
	struct sa_variant_opts vo = { .object_path = o->object_path,
				      .unbounded_ok = o->config->unbounded };
	int err = sa_variant_choose(&vo, &b->variant);

	if (err == -ENOTSUP) {
		snprintf(b->why, sizeof(b->why), "this kernel's verifier refuses even the basic "
			 "redirect (sockops insertion, sk_msg redirect): %s; nothing was loaded or "
			 "pinned. Report it with 'sockacceld --preflight --verbose' and the kernel "
			 "build (uname -r)", b->variant.base_reason);
		p_err("%s", b->why);
		return SA_EXIT_VERIFIER;
	}
	sa_bringup_log_variant(&b->variant);
	if (err == -ENOSPC) {
		snprintf(b->why, sizeof(b->why), "no memory bound loads on this kernel (peer_bound: "
			 "%s; peer_bound_read: %s; budget: %s); sockacceld will not run unbounded "
			 "unless told to: set memory_bound = off in sockaccel.conf to accelerate "
			 "without one", b->variant.reason[__builtin_ctz(SA_FEAT_PEER_BOUND)],
			 b->variant.reason[__builtin_ctz(SA_FEAT_PEER_READ)],
			 b->variant.reason[__builtin_ctz(SA_FEAT_BUDGET)]);
		p_err("%s", b->why);
		return SA_EXIT_NO_BOUND;
	}
	return 0;
}

static int want_link(const struct sa_bringup_opts *o, struct sa_bringup *b, bool *link)
{
	switch (o->attach) {
	case SA_ATTACH_LINK:
		if (!b->pf.sockmap_link) {
			snprintf(b->why, sizeof(b->why), "--msg-attach link: this kernel has no "
				 "sockmap links (they need kernel >= 6.10); use --msg-attach auto "
				 "or legacy");
			p_err("%s", b->why);
			return SA_EXIT_USAGE;
		}
		*link = true;
		return 0;
	case SA_ATTACH_LEGACY:
		*link = false;
		return 0;
	default:
		*link = b->pf.sockmap_link;
		return 0;
	}
}

/* Policy maps and this host's addresses. */
static int setup_policy(const struct sa_bringup_opts *o, struct sa_bringup *b)
{
	struct sa_fastpath_info fi;
	struct sa_policy_maps m;
	int err;

	sa_fastpath_info(b->fp, &fi);
	m = (struct sa_policy_maps){ .ctl = fi.ctl_fd, .ports = fi.ports_fd,
				     .local_addrs = fi.local_addrs_fd };
	err = sa_policy_new(&m, &b->policy);
	if (!err)
		err = sa_policy_apply_config(b->policy, o->config);
	if (err)
		return err;
	b->rtnl_fd = sa_rtnl_open();
	if (b->rtnl_fd < 0) {
		p_err("can't open an rtnetlink socket for address changes: %s",
		      strerror(-b->rtnl_fd));
		return b->rtnl_fd;
	}
	err = sa_rtnl_dump_sync(b->rtnl_fd, sa_bringup_on_addr, b->policy, 2000);
	if (err) {
		p_err("can't read this host's addresses: %s", strerror(-err));
		return err;
	}
	/* drop what an earlier run or config left and nobody wants now */
	err = sa_policy_sync(b->policy);
	if (err)
		p_err("can't update the local_addrs map: %s", strerror(-err));
	return err;
}

int sa_bringup(const struct sa_bringup_opts *o, struct sa_bringup *b)
{
	struct sa_preflight_opts po = {
		.cgroup = o->config->cgroup[0] ? o->config->cgroup : NULL,
		.pin_dir = o->config->pin_dir,
	};
	struct sa_fastpath_opts fo = {};
	const struct sa_check *failed;
	int code;

	memset(b, 0, sizeof(*b));
	b->rtnl_fd = -1;
	sa_preflight_run(&po, &b->pf);
	failed = sa_preflight_first_failure(&b->pf);
	if (failed) {
		snprintf(b->why, sizeof(b->why), "preflight: %s: %s; fix: %s", failed->title,
			 failed->detail, failed->fix);
		p_err("preflight: %s: %s", failed->title, failed->detail);
		p_err("fix: %s", failed->fix);
		return failed->exit_code;
	}
	fo.pin_dir = o->config->pin_dir;
	fo.cgroup = b->pf.cgroup;
	fo.max_conns = o->config->max_conns;
	fo.object_path = o->object_path;
	fo.variant = &b->variant;
	code = want_link(o, b, &fo.sockmap_link);
	if (!code)
		code = choose_variant(o, b);
	if (code)
		return code;
	code = sa_fastpath_setup(&fo, &b->fp);
	if (code) {
		snprintf(b->why, sizeof(b->why), "setting up the fast path in %s failed: %s (the "
			 "error lines say which object and the fix)", fo.pin_dir, strerror(-code));
		return exit_code_of(code);
	}
	if (setup_policy(o, b)) {
		snprintf(b->why, sizeof(b->why), "applying the policy failed (the error lines say "
			 "why); the fast path is pinned and attached");
		sa_bringup_release(b);
		return SA_EXIT_FAILURE;
	}
	return 0;
}

void sa_bringup_release(struct sa_bringup *b)
{
	if (b->rtnl_fd >= 0)
		close(b->rtnl_fd);
	b->rtnl_fd = -1;
	sa_policy_free(b->policy);
	b->policy = NULL;
	sa_fastpath_close(b->fp);
	b->fp = NULL;
}
