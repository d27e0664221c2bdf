/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_BRINGUP_H
#define SA_BRINGUP_H

#include "config.h"
#include "fastpath.h"
#include "policy.h"
#include "preflight.h"
#include "variant.h"

/*
 * The one bring-up, for sockacceld and for "sockaccelctl enable": preflight,
 * the variant this kernel accepts, the sk_msg attach mode, then load, pin,
 * attach, and the policy (configuration and this host's addresses).
 */
enum sa_attach_choice {
	SA_ATTACH_AUTO,		/* a link where the kernel has sockmap links */
	SA_ATTACH_LINK,
	SA_ATTACH_LEGACY,
};

struct sa_bringup_opts {
	const struct sa_config *config;	/* cgroup, pin_dir, max_conns, policy */
	enum sa_attach_choice attach;
	const char *object_path;	/* NULL: built-in; a .bpf.o for upgrade tests */
};

struct sa_bringup {
	struct sa_preflight pf;
	struct sa_variant variant;
	struct sa_fastpath *fp;
	struct sa_policy *policy;
	int rtnl_fd;		/* address events, after the first dump; -1 if none */
	char why[1536];		/* on failure: what failed and the fix, one line */
};

/*
 * Everything up to "ready". Returns 0 or the enum sa_exit to leave with;
 * every failure is logged with the object, the reason and the fix. On
 * failure @b holds nothing to release, and what was pinned stays
 * consistent (see sa_fastpath_setup).
 */
int sa_bringup(const struct sa_bringup_opts *o, struct sa_bringup *b);

/* Close fds and free; pins, links and attachments stay. */
void sa_bringup_release(struct sa_bringup *b);

/* Log which variant runs and every feature it lacks, with what that costs. */
void sa_bringup_log_variant(const struct sa_variant *v);

/* Host address callback for sa_rtnl_read(): @arg is the struct sa_policy. */
void sa_bringup_on_addr(void *arg, const struct sa_cidr *a, bool add);

#endif
