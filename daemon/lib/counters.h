/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_COUNTERS_H
#define SA_COUNTERS_H

#include "sockaccel.h"

struct sa_counter_desc {
	const char *name;	/* snake_case, stable: used in metrics and JSON */
	const char *help;
};

extern const struct sa_counter_desc sa_counter_descs[SA_CNT_MAX];

/* Sum the per-CPU counters map (fd of the pinned "counters") into @out. */
int sa_counters_read(int map_fd, __u64 out[SA_CNT_MAX]);

#endif
