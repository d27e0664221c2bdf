/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_STATE_H
#define SA_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>
#include <linux/types.h>

#include "sockaccel.h"
#include "pins.h"
#include "stepaside.h"

/*
 * A read-only picture of one sockaccel instance, taken from the kernel
 * alone: the pins, BPF_PROG_QUERY on the cgroup and on the map, link and
 * program info, the counters, /proc/locks. No file the daemon wrote.
 */
struct sa_pin_state {
	const char *name;
	bool present;
	bool right_kind;	/* the kind of object sockaccel pins there */
	__u32 id;		/* map, program or link id */
};

#define SA_PINS_MAX 24
#define SA_STATE_STEPASIDE_MAX 16

struct sa_state {
	char pin_dir[PATH_MAX];
	int err;			/* negative errno when the picture is incomplete
					 * for reasons outside the fast path (no permission) */
	char err_what[PATH_MAX + 64];
	bool pin_dir_exists;
	bool pin_dir_bpffs;
	struct sa_pin_state pins[SA_PINS_MAX];
	unsigned int n_pins;
	unsigned int n_present;

	struct sa_layout_check layout;	/* .read: .layout holds the pinned value */

	/* sockops */
	bool sockops_attached;		/* link attached and the prog in the cgroup's query */
	__u32 sockops_link_id;
	__u32 sockops_prog_id;
	__u64 cgroup_id;		/* 0: the link is detached */
	char cgroup[PATH_MAX];		/* "" when not found */
	__u32 cgroup_sockops_progs;	/* sockops programs attached to that cgroup */

	/* sk_msg */
	bool msg_attached;
	bool msg_legacy;
	__u32 msg_link_id;
	__u32 msg_prog_id;

	/* the map */
	__u32 map_id;
	__u32 max_entries;
	__u32 entries;

	bool ctl_read;
	bool draining;

	bool features_read;		/* the "features" map: what the programs run with */
	struct sa_features features;

	bool counters_read;
	__u64 counters[SA_CNT_MAX];

	/* the splice guard's step-asides, oldest first (stepaside.h) */
	struct sa_stepaside_entry stepaside[SA_STATE_STEPASIDE_MAX];
	unsigned int n_stepaside;

	struct sa_prog_stats {
		const char *pin;
		__u32 id;
		char name[16];
		__u64 load_time_ns;	/* CLOCK_BOOTTIME, as the kernel reports it */
		__u64 run_cnt;
		__u64 run_time_ns;
	} progs[2];
	int bpf_stats_enabled;		/* kernel.bpf_stats_enabled, -1 unknown */

	pid_t daemon_pid;		/* holder of the pin dir lock, 0 none */
};

int sa_state_read(const char *pin_dir, struct sa_state *st);
/* Only the map's fill (map_id, max_entries, entries) and the redirect
 * switch (ctl_read, draining): no cgroup walk, no program queries. */
int sa_state_read_gauges(const char *pin_dir, struct sa_state *st);

#endif
