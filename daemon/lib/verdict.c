// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pins.h"
#include "variant.h"
#include "verdict.h"

__attribute__((format(printf, 3, 4)))
static void add(char lines[][SA_VERDICT_LINE_LEN], unsigned int *n, const char *fmt, ...)
{
	va_list ap;

	if (*n >= SA_VERDICT_LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(lines[(*n)++], SA_VERDICT_LINE_LEN, fmt, ap);
	va_end(ap);
}

#define reason(r, ...) add((r)->reasons, &(r)->n_reasons, __VA_ARGS__)
#define note(r, ...) add((r)->notes, &(r)->n_notes, __VA_ARGS__)

const char *sa_verdict_name(enum sa_verdict v)
{
	switch (v) {
	case SA_VERDICT_HEALTHY: return "healthy";
	case SA_VERDICT_DEGRADED: return "degraded";
	case SA_VERDICT_OFF: return "off";
	default: return "unknown";
	}
}

__u64 sa_insert_failures(const struct sa_state *st)
{
	return st->counters[SA_CNT_INSERT_FULL] + st->counters[SA_CNT_INSERT_BUSY] +
	       st->counters[SA_CNT_INSERT_EXIST] + st->counters[SA_CNT_INSERT_OTHER];
}

static bool pin_expected(const struct sa_state *st, const char *name)
{
	const struct sa_pin_desc *d = sa_pin_lookup(name);

	/* a legacy sk_msg attach pins no link */
	if (st->msg_legacy && strcmp(name, SA_PIN_LINK_MSG) == 0)
		return false;
	/* a feature's pins exist only where it was loaded */
	if (d && d->feature && st->features_read && !(st->features.loaded & d->feature))
		return false;
	return true;
}

void sa_verdict_judge(const struct sa_state *st, const struct sa_state *earlier,
		      struct sa_verdict_report *r)
{
	memset(r, 0, sizeof(*r));
	if (st->err) {
		r->verdict = SA_VERDICT_UNKNOWN;
		reason(r, "cannot read %s (run as root, or with CAP_BPF and CAP_SYS_ADMIN)",
		       st->err_what);
		return;
	}
	if (!st->pin_dir_exists || (st->pin_dir_bpffs && st->n_present == 0)) {
		r->verdict = SA_VERDICT_OFF;
		note(r, "nothing is pinned in %s: the fast path is off", st->pin_dir);
		return;
	}
	if (!st->pin_dir_bpffs) {
		r->verdict = SA_VERDICT_UNKNOWN;
		reason(r, "%s is not on bpffs: no sockaccel state can be there", st->pin_dir);
		return;
	}

	for (unsigned int i = 0; i < st->n_pins; i++) {
		const struct sa_pin_state *p = &st->pins[i];

		if (!p->present && pin_expected(st, p->name))
			reason(r, "pin %s is missing", p->name);
		else if (p->present && !p->right_kind)
			reason(r, "pin %s is not the object sockaccel pins there", p->name);
	}
	/* the rule itself is sa_pin_layout_check's, applied by sa_state_read */
	if (st->layout.state == SA_LAYOUT_UNREADABLE)
		reason(r, "the pinned layout cannot be read");
	else if (st->layout.state != SA_LAYOUT_CURRENT)
		reason(r, "%s", st->layout.why);
	if (!st->sockops_attached)
		reason(r, "sockops is not attached to %s: new connections are not accelerated",
		       st->cgroup[0] ? st->cgroup : "any cgroup");
	else if (st->cgroup_sockops_progs > 1)
		reason(r, "%u sockops programs are attached to %s (another accelerator?): "
		       "insertions may fail with EBUSY", st->cgroup_sockops_progs, st->cgroup);
	if (!st->msg_attached)
		reason(r, "sk_msg is not attached to the map: new connections are inserted but "
		       "not redirected");
	if (st->max_entries &&
	    (__u64)st->entries * 100 > (__u64)st->max_entries * SA_VERDICT_MAP_FULL_PCT)
		reason(r, "the map is %llu%% full (%u of %u): new connections fall back to TCP; "
		       "raise --max-conns", (unsigned long long)st->entries * 100 / st->max_entries,
		       st->entries, st->max_entries);
	if (earlier && earlier->counters_read && st->counters_read &&
	    sa_insert_failures(st) > sa_insert_failures(earlier))
		reason(r, "insert failures are rising (+%llu): full %llu, busy %llu, exist %llu, "
		       "other %llu", (unsigned long long)(sa_insert_failures(st) -
							 sa_insert_failures(earlier)),
		       (unsigned long long)st->counters[SA_CNT_INSERT_FULL],
		       (unsigned long long)st->counters[SA_CNT_INSERT_BUSY],
		       (unsigned long long)st->counters[SA_CNT_INSERT_EXIST],
		       (unsigned long long)st->counters[SA_CNT_INSERT_OTHER]);
	if (st->draining)
		reason(r, "the redirect switch is off (draining): messages go over TCP");
	if (st->features_read) {
		char lines[SA_FEAT_SLOTS + 1][512];
		unsigned int n = sa_features_missing(&st->features, lines, SA_FEAT_SLOTS + 1);

		/* a refused feature degrades; no bound by the operator's choice
		 * is what was asked for, said but not held against it */
		for (unsigned int i = 0; i < n; i++) {
			if (strstr(lines[i], "by configuration"))
				note(r, "%s", lines[i]);
			else
				reason(r, "%s", lines[i]);
		}
	}

	for (unsigned int i = 0; i < st->n_stepaside; i++) {
		char line[1024];

		if (!st->stepaside[i].val.stranded)
			continue;
		sa_stepaside_describe(&st->stepaside[i], line, sizeof(line));
		note(r, "splice guard: %s; put its port in exclude_ports", line);
	}
	if (!st->daemon_pid)
		note(r, "sockacceld is not running; the fast path does not need it, but nothing "
		     "watches it (systemctl start sockaccel)");
	if (st->bpf_stats_enabled == 0)
		note(r, "run-time statistics are off: sysctl -w kernel.bpf_stats_enabled=1 "
		     "(small cost per program run)");
	r->verdict = r->n_reasons ? SA_VERDICT_DEGRADED : SA_VERDICT_HEALTHY;
}
