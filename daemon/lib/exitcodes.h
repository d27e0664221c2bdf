/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_EXITCODES_H
#define SA_EXITCODES_H

/*
 * sockacceld exit statuses. Documented in docs/operations.md and README.md;
 * a new one must be added there too. Preflight failures each have their own
 * so that a script can tell them apart without parsing text.
 */
enum sa_exit {
	SA_EXIT_OK		= 0,	/* clean stop, or pins removed by the operator */
	SA_EXIT_FAILURE		= 1,	/* load, pin or attach failed at run time */
	SA_EXIT_USAGE		= 2,	/* bad command line */
	SA_EXIT_LOCKED		= 3,	/* another sockacceld holds the pin dir */
	SA_EXIT_PINNED_STATE	= 4,	/* pinned state incompatible or not ours */

	SA_EXIT_NO_BPF_SYSCALL	= 10,	/* bpf() not in this kernel */
	SA_EXIT_NO_PRIVILEGE	= 11,	/* missing capabilities */
	SA_EXIT_BPF_DENIED	= 12,	/* lockdown or an LSM refuses bpf() */
	SA_EXIT_NO_SOCKHASH	= 13,	/* SOCKHASH cannot be created */
	SA_EXIT_NO_NETNS_COOKIE	= 14,	/* bpf_get_netns_cookie unusable */
	SA_EXIT_NO_BTF		= 15,	/* no kernel BTF for CO-RE */
	SA_EXIT_NO_CGROUP2	= 16,	/* no cgroup2 mount */
	SA_EXIT_CGROUP_MISSING	= 17,	/* --cgroup does not exist */
	SA_EXIT_CGROUP_NOT_V2	= 18,	/* --cgroup is not on the cgroup2 mount */
	SA_EXIT_NO_BPFFS	= 19,	/* pin dir not on bpffs and not mountable */
	SA_EXIT_VERIFIER	= 20,	/* the verifier refuses even the basic redirect */
	SA_EXIT_NO_BOUND	= 21,	/* no memory bound loads; memory_bound = off not set */
};

#endif
