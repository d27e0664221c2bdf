/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_METRICS_H
#define SA_METRICS_H

#include <stdio.h>
#include <linux/types.h>

#include "sockaccel.h"
#include "state.h"

/*
 * The Prometheus text exposition (format 0.0.4) of one sockaccel instance:
 * every counter and the gauges. Both `sockaccelctl stats --prometheus` and
 * sockacceld's /metrics print it with these two calls, so the two always
 * carry the same series.
 */
struct sa_metrics {
	__u64 cnt[SA_CNT_MAX];
	struct sa_state gauges;		/* sa_state_read_gauges() */
};

/* Read the counters and gauges pinned in @pin_dir. On error returns a
 * negative errno and says what failed, and why, in @why. */
int sa_metrics_read(const char *pin_dir, struct sa_metrics *m, char *why, size_t len);
/* The exposition text of @m into @out. */
void sa_metrics_print(FILE *out, const struct sa_metrics *m);

#endif
