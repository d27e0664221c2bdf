/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_FASTPATH_H
#define SA_FASTPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "variant.h"

/*
 * The fast path's kernel objects: load, pin, attach, reuse and upgrade in
 * place. Everything it creates outlives the process: closing releases only
 * this process's fds.
 */
struct sa_fastpath_opts {
	const char *pin_dir;
	const char *cgroup;	/* a cgroup2 directory (preflight resolved it) */
	__u32 max_conns;
	bool sockmap_link;	/* preflight found BPF_LINK_TYPE_SOCKMAP */
	const struct sa_variant *variant;	/* sa_variant_choose() */
	const char *object_path;	/* NULL: the built-in object; else a
					 * .bpf.o file (tests of upgrades) */
};

struct sa_fastpath;

/*
 * Take the pin dir lock, reconcile what is pinned there, then load, pin
 * and attach (or update the pinned links in place). Errors are logged with
 * the object, the errno text and the fix. Returns 0 or a negative errno:
 * -EWOULDBLOCK another process holds the pin dir; -EPROTO the pinned state
 * is incompatible or not sockaccel's (nothing was changed).
 */
int sa_fastpath_setup(const struct sa_fastpath_opts *opts, struct sa_fastpath **out);

/* Close our fds; pins, links and attachments stay. NULL is fine. */
void sa_fastpath_close(struct sa_fastpath *fp);

struct sa_fastpath_info {
	__u32 map_id;
	__u32 max_entries;
	__u32 sockops_prog_id;
	__u32 sockops_link_id;
	__u32 msg_prog_id;
	__u32 msg_link_id;	/* 0 with the legacy attach */
	bool msg_legacy;
	int counters_fd;	/* owned by the fast path; do not close */
	int sock_hash_fd;	/* likewise */
	int ctl_fd;
	int ports_fd;
	int local_addrs_fd;
	int stepaside_fd;
};

void sa_fastpath_info(const struct sa_fastpath *fp, struct sa_fastpath_info *info);

/* The first pin this fast path relies on that is no longer there, or NULL. */
const char *sa_fastpath_missing_pin(const struct sa_fastpath *fp);

/*
 * Is everything still attached? 0 when healthy; otherwise a positive count
 * of problems, each described in @why.
 */
int sa_fastpath_check(const struct sa_fastpath *fp, char *why, size_t len);

#endif
