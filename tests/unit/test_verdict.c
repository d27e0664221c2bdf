// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The status verdict policy, on made-up kernel pictures. */
#include <stdio.h>
#include <string.h>

#include "pins.h"
#include "verdict.h"
#include "unit.h"

/* A healthy instance: every pin there, everything attached. */
static void healthy(struct sa_state *st)
{
	memset(st, 0, sizeof(*st));
	strcpy(st->pin_dir, "/sys/fs/bpf/sockaccel");
	st->pin_dir_exists = st->pin_dir_bpffs = true;
	for (unsigned int i = 0; i < sa_pins_cnt; i++) {
		st->pins[i].name = sa_pins[i].name;
		st->pins[i].present = st->pins[i].right_kind = true;
		st->pins[i].id = 10 + i;
	}
	st->n_pins = st->n_present = sa_pins_cnt;
	st->layout.state = SA_LAYOUT_CURRENT;
	st->layout.read = true;
	st->layout.layout.magic = SA_LAYOUT_MAGIC;
	st->layout.layout.version = SA_LAYOUT_VERSION;
	st->sockops_attached = true;
	st->cgroup_sockops_progs = 1;
	strcpy(st->cgroup, "/sys/fs/cgroup");
	st->msg_attached = true;
	st->max_entries = 100;
	st->entries = 10;
	st->ctl_read = st->counters_read = true;
	st->daemon_pid = 42;
	st->bpf_stats_enabled = 1;
	st->features_read = true;
	st->features.wanted = st->features.loaded = SA_FEAT_PEER_BOUND | SA_FEAT_DEMOTE |
						     SA_FEAT_TFO | SA_FEAT_PROBE_MARK;
}

static struct sa_pin_state *pin(struct sa_state *st, const char *name)
{
	for (unsigned int i = 0; i < st->n_pins; i++)
		if (strcmp(st->pins[i].name, name) == 0)
			return &st->pins[i];
	fprintf(stderr, "no pin %s\n", name);
	return &st->pins[0];
}

static bool has(const struct sa_verdict_report *r, const char *text)
{
	for (unsigned int i = 0; i < r->n_reasons; i++)
		if (strstr(r->reasons[i], text))
			return true;
	return false;
}

static bool has_note(const struct sa_verdict_report *r, const char *text)
{
	for (unsigned int i = 0; i < r->n_notes; i++)
		if (strstr(r->notes[i], text))
			return true;
	return false;
}

int main(void)
{
	struct sa_verdict_report r;
	struct sa_state st, before;

	healthy(&st);
	sa_verdict_judge(&st, NULL, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_HEALTHY, "all attached");
	CHECK_EQ(r.n_reasons, 0, "no reasons");
	CHECK_EQ(r.n_notes, 0, "no notes");

	/* a feature replaced by its _read twin is not a problem */
	st.features.loaded = (st.features.loaded & ~SA_FEAT_PEER_BOUND) | SA_FEAT_PEER_READ;
	st.features.refused = SA_FEAT_PEER_BOUND;
	strcpy(st.features.reason[0], "R0 invalid mem access 'scalar'");
	sa_verdict_judge(&st, NULL, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_HEALTHY, "peer_bound_read stands in for peer_bound");

	/* a refused feature with nothing in its place degrades, named with why */
	st.features.loaded &= ~(SA_FEAT_PEER_READ | SA_FEAT_DEMOTE);
	st.features.loaded |= SA_FEAT_BUDGET;
	st.features.refused = SA_FEAT_PEER_BOUND | SA_FEAT_PEER_READ | SA_FEAT_DEMOTE;
	strcpy(st.features.reason[2], "sa_sockops: invalid kernel function call");
	sa_verdict_judge(&st, NULL, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_DEGRADED, "refused features degrade");
	CHECK(has(&r, "peer_bound refused") && has(&r, "queue_limit bytes in all"),
	      "peer_bound named with what the budget costs");
	CHECK(has(&r, "R0 invalid mem access"), "the verifier's words");
	CHECK(has(&r, "demote refused") && has(&r, "invalid kernel function call"),
	      "demote named with the verifier's words");

	/* no bound at all by the operator's choice: said, not held against it */
	healthy(&st);
	st.features.loaded &= ~SA_FEAT_PEER_BOUND;
	st.features.flags = SA_FEATURES_UNBOUNDED_BY_CONFIG;
	sa_verdict_judge(&st, NULL, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_HEALTHY, "memory_bound = off is the operator's choice");
	CHECK(has_note(&r, "memory_bound = off"), "and status says so");
	healthy(&st);

	healthy(&st);
	st.daemon_pid = 0;
	st.bpf_stats_enabled = 0;
	sa_verdict_judge(&st, NULL, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_HEALTHY, "no daemon is a note, not a fault");
	CHECK(has_note(&r, "not running"), "daemon note");
	CHECK(has_note(&r, "bpf_stats_enabled=1"), "how to turn stats on");

	healthy(&st);
	pin(&st, "link_sockops")->present = false;	/* removed by hand */
	st.sockops_attached = false;
	sa_verdict_judge(&st, NULL, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_DEGRADED, "cgroup link removed");
	CHECK(has(&r, "link_sockops is missing"), "names the pin");
	CHECK(has(&r, "sockops is not attached"), "says what it means");

	healthy(&st);
	st.msg_attached = false;
	sa_verdict_judge(&st, NULL, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_DEGRADED, "sk_msg detached");

	healthy(&st);
	st.msg_legacy = true;
	pin(&st, "link_msg")->present = false;	/* legacy attach pins no link */
	sa_verdict_judge(&st, NULL, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_HEALTHY, "legacy without link_msg is fine");

	healthy(&st);
	st.entries = 91;
	sa_verdict_judge(&st, NULL, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_DEGRADED, "91% full");
	CHECK(has(&r, "91% full"), "percentage");
	st.entries = 90;
	sa_verdict_judge(&st, NULL, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_HEALTHY, "90% is not more than 90%");

	healthy(&st);
	before = st;
	st.counters[SA_CNT_INSERT_FULL] = 3;
	before.counters[SA_CNT_INSERT_FULL] = 3;
	sa_verdict_judge(&st, &before, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_HEALTHY, "old failures that stopped");
	st.counters[SA_CNT_INSERT_FULL] = 5;
	sa_verdict_judge(&st, &before, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_DEGRADED, "failures rising");
	CHECK(has(&r, "rising (+2)"), "by how much");

	healthy(&st);
	st.cgroup_sockops_progs = 2;
	sa_verdict_judge(&st, NULL, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_DEGRADED, "two sockops programs");

	healthy(&st);
	st.draining = true;
	sa_verdict_judge(&st, NULL, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_DEGRADED, "draining");

	healthy(&st);
	st.layout.state = SA_LAYOUT_OTHER;
	st.layout.layout.version = SA_LAYOUT_VERSION + 1;
	sa_verdict_judge(&st, NULL, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_DEGRADED, "other layout");

	healthy(&st);
	st.pin_dir_exists = false;
	sa_verdict_judge(&st, NULL, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_OFF, "no pin dir");
	healthy(&st);
	st.n_present = 0;
	sa_verdict_judge(&st, NULL, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_OFF, "empty pin dir");

	healthy(&st);
	st.pin_dir_bpffs = false;
	sa_verdict_judge(&st, NULL, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_UNKNOWN, "not bpffs");
	healthy(&st);
	st.err = -1;
	strcpy(st.err_what, "x");
	sa_verdict_judge(&st, NULL, &r);
	CHECK_EQ(r.verdict, SA_VERDICT_UNKNOWN, "no permission");
	CHECK_STR(sa_verdict_name(SA_VERDICT_DEGRADED), "degraded", "name");
	return unit_done("test_verdict");
}
