/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_VERDICT_H
#define SA_VERDICT_H

#include "state.h"

enum sa_verdict {
	SA_VERDICT_HEALTHY,
	SA_VERDICT_DEGRADED,
	SA_VERDICT_OFF,
	SA_VERDICT_UNKNOWN,	/* cannot tell: no permission, no bpffs */
};

#define SA_VERDICT_LINES 16
#define SA_VERDICT_LINE_LEN 512
#define SA_VERDICT_MAP_FULL_PCT 90

struct sa_verdict_report {
	enum sa_verdict verdict;
	unsigned int n_reasons;		/* why degraded or unknown */
	char reasons[SA_VERDICT_LINES][SA_VERDICT_LINE_LEN];
	unsigned int n_notes;		/* worth knowing, not a fault */
	char notes[SA_VERDICT_LINES][SA_VERDICT_LINE_LEN];
};

/*
 * Judge @now. @earlier, when not NULL, is a picture taken a moment before:
 * insert failures that rose in between make the fast path degraded.
 * Pure: no system access, so it is unit-tested on made-up states.
 */
void sa_verdict_judge(const struct sa_state *now, const struct sa_state *earlier,
		      struct sa_verdict_report *r);

const char *sa_verdict_name(enum sa_verdict v);
/* The failure counters summed: what "insert failures rising" compares. */
__u64 sa_insert_failures(const struct sa_state *st);

#endif
