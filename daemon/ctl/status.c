// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sockaccelctl status: the health check. Everything shown is read from the
 * kernel (sa_state_read); the verdict comes from sa_verdict_judge. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sockaccel.h"
#include "counters.h"
#include "ctl.h"
#include "preflight.h"
#include "state.h"
#include "variant.h"
#include "verdict.h"

/* How long to wait for a second look when insert failures exist. */
#define RISING_WINDOW_US 500000

struct status_opts {
	bool probe;
	bool degraded_ok;	/* a probe's question: is the fast path in place? */
};

static const char *method_sockops(const struct sa_state *st)
{
	return st->sockops_link_id ? "link" : "none";
}

static const char *method_msg(const struct sa_state *st)
{
	if (st->msg_link_id)
		return "link";
	return st->msg_legacy ? "legacy" : "none";
}

/* bpf_prog_info.load_time is CLOCK_BOOTTIME ns; turn it into UTC text. */
static void load_time_str(__u64 boot_ns, char *buf, size_t len)
{
	struct timespec rt, bt;
	time_t t;
	struct tm tm;

	buf[0] = '\0';
	if (!boot_ns)
		return;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_BOOTTIME, &bt);
	t = rt.tv_sec - (time_t)(((__u64)bt.tv_sec * 1000000000ull + (__u64)bt.tv_nsec -
				  boot_ns) / 1000000000ull);
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static double avg_ns(const struct sa_prog_stats *ps)
{
	return ps->run_cnt ? (double)ps->run_time_ns / (double)ps->run_cnt : 0.0;
}

/* What the pinned programs run with: the "features" map. */
static void json_variant(json_writer_t *jw, const struct sa_features *f)
{
	char desc[256];

	sa_variant_describe(f->loaded, desc, sizeof(desc));
	jsonw_start_object(jw);
	jsonw_string_field(jw, "name", desc);
	jsonw_string_field(jw, "kernel", f->kernel);
	jsonw_bool_field(jw, "unbounded_by_config", f->flags & SA_FEATURES_UNBOUNDED_BY_CONFIG);
	jsonw_name(jw, "loaded");
	jsonw_start_array(jw);
	for (__u32 b = 1; b; b <<= 1)
		if (f->loaded & b)
			jsonw_string(jw, sa_feature_name(b));
	jsonw_end_array(jw);
	jsonw_name(jw, "refused");
	jsonw_start_array(jw);
	for (unsigned int i = 0; i < SA_FEAT_SLOTS; i++) {
		__u32 b = 1u << i;

		if (!(f->refused & b))
			continue;
		jsonw_start_object(jw);
		jsonw_string_field(jw, "name", sa_feature_name(b));
		jsonw_string_field(jw, "reason", f->reason[i]);
		jsonw_string_field(jw, "without_it", sa_feature_loss(b));
		jsonw_end_object(jw);
	}
	jsonw_end_array(jw);
	jsonw_end_object(jw);
}

static void print_json(struct ctl *c, const struct sa_state *st, const struct sa_verdict_report *r,
		       const struct sa_preflight *pf, const struct status_opts *so, int probe_rc,
		       const char *probe_detail, int code)
{
	json_writer_t *jw = c->jw;
	char when[64];

	jsonw_start_object(jw);
	jsonw_string_field(jw, "verdict", sa_verdict_name(r->verdict));
	jsonw_int_field(jw, "exit_code", code);
	jsonw_name(jw, "reasons");
	jsonw_start_array(jw);
	for (unsigned int i = 0; i < r->n_reasons; i++)
		jsonw_string(jw, r->reasons[i]);
	jsonw_end_array(jw);
	jsonw_name(jw, "notes");
	jsonw_start_array(jw);
	for (unsigned int i = 0; i < r->n_notes; i++)
		jsonw_string(jw, r->notes[i]);
	jsonw_end_array(jw);
	jsonw_string_field(jw, "pin_dir", st->pin_dir);

	jsonw_name(jw, "daemon");
	jsonw_start_object(jw);
	jsonw_bool_field(jw, "running", st->daemon_pid != 0);
	jsonw_int_field(jw, "pid", st->daemon_pid);
	jsonw_end_object(jw);

	jsonw_name(jw, "pins");
	jsonw_start_array(jw);
	for (unsigned int i = 0; i < st->n_pins; i++) {
		jsonw_start_object(jw);
		jsonw_string_field(jw, "name", st->pins[i].name);
		jsonw_bool_field(jw, "present", st->pins[i].present);
		jsonw_uint_field(jw, "id", st->pins[i].id);
		jsonw_end_object(jw);
	}
	jsonw_end_array(jw);
	if (st->layout.read)
		jsonw_uint_field(jw, "layout_version", st->layout.layout.version);

	jsonw_name(jw, "sockops");
	jsonw_start_object(jw);
	jsonw_bool_field(jw, "attached", st->sockops_attached);
	jsonw_string_field(jw, "method", method_sockops(st));
	jsonw_uint_field(jw, "link_id", st->sockops_link_id);
	jsonw_uint_field(jw, "prog_id", st->sockops_prog_id);
	jsonw_string_field(jw, "cgroup", st->cgroup);
	jsonw_uint_field(jw, "cgroup_id", st->cgroup_id);
	jsonw_uint_field(jw, "programs_on_cgroup", st->cgroup_sockops_progs);
	jsonw_end_object(jw);

	jsonw_name(jw, "sk_msg");
	jsonw_start_object(jw);
	jsonw_bool_field(jw, "attached", st->msg_attached);
	jsonw_string_field(jw, "method", method_msg(st));
	jsonw_uint_field(jw, "link_id", st->msg_link_id);
	jsonw_uint_field(jw, "prog_id", st->msg_prog_id);
	jsonw_end_object(jw);

	jsonw_name(jw, "map");
	jsonw_start_object(jw);
	jsonw_uint_field(jw, "id", st->map_id);
	jsonw_uint_field(jw, "entries", st->entries);
	jsonw_uint_field(jw, "max_entries", st->max_entries);
	jsonw_end_object(jw);

	jsonw_string_field(jw, "redirect", !st->ctl_read ? "unknown" : st->draining ? "draining" : "on");

	jsonw_name(jw, "counters");
	jsonw_start_object(jw);
	for (int i = 0; i < SA_CNT_MAX && st->counters_read; i++)
		jsonw_uint_field(jw, sa_counter_descs[i].name, st->counters[i]);
	jsonw_end_object(jw);

	jsonw_name(jw, "programs");
	jsonw_start_array(jw);
	for (int i = 0; i < 2; i++) {
		const struct sa_prog_stats *ps = &st->progs[i];

		if (!ps->id)
			continue;
		load_time_str(ps->load_time_ns, when, sizeof(when));
		jsonw_start_object(jw);
		jsonw_string_field(jw, "pin", ps->pin);
		jsonw_uint_field(jw, "id", ps->id);
		jsonw_string_field(jw, "name", ps->name);
		jsonw_string_field(jw, "loaded_at", when);
		jsonw_uint_field(jw, "run_cnt", ps->run_cnt);
		jsonw_uint_field(jw, "run_time_ns", ps->run_time_ns);
		jsonw_name(jw, "avg_ns");
		jsonw_float(jw, avg_ns(ps));
		jsonw_end_object(jw);
	}
	jsonw_end_array(jw);
	jsonw_int_field(jw, "bpf_stats_enabled", st->bpf_stats_enabled);

	jsonw_name(jw, "stepaside");
	jsonw_start_array(jw);
	for (unsigned int i = 0; i < st->n_stepaside; i++) {
		const struct sa_stepaside_entry *e = &st->stepaside[i];
		char comm[SA_COMM_LEN + 1], how[64];

		memcpy(comm, e->key.comm, SA_COMM_LEN);
		comm[SA_COMM_LEN] = '\0';
		jsonw_start_object(jw);
		jsonw_string_field(jw, "comm", comm);
		jsonw_uint_field(jw, "pid", e->key.tgid);
		jsonw_uint_field(jw, "cgroup_id", e->key.cgroup_id);
		jsonw_string_field(jw, "read_with", sa_syscall_name(e->val.syscall, how, sizeof(how)));
		jsonw_uint_field(jw, "connections", e->val.splices);
		jsonw_uint_field(jw, "stalled", e->val.stranded);
		jsonw_end_object(jw);
	}
	jsonw_end_array(jw);

	jsonw_name(jw, "variant");
	if (st->features_read)
		json_variant(jw, &st->features);
	else
		jsonw_null(jw);

	jsonw_name(jw, "features");
	jsonw_start_object(jw);
	for (unsigned int i = 0; i < pf->n; i++) {
		jsonw_name(jw, pf->checks[i].id);
		jsonw_start_object(jw);
		jsonw_string_field(jw, "state", sa_check_state_name(pf->checks[i].state));
		jsonw_string_field(jw, "detail", pf->checks[i].detail);
		jsonw_end_object(jw);
	}
	jsonw_end_object(jw);

	if (so->probe) {
		jsonw_name(jw, "probe");
		jsonw_start_object(jw);
		jsonw_bool_field(jw, "passed", probe_rc == 0);
		jsonw_string_field(jw, "detail", probe_detail);
		jsonw_end_object(jw);
	}
	jsonw_end_object(jw);
}

static void print_plain(const struct sa_state *st, const struct sa_verdict_report *r,
			const struct sa_preflight *pf, const struct status_opts *so, int probe_rc,
			const char *probe_detail)
{
	char when[64];

	printf("sockaccel: %s\n", sa_verdict_name(r->verdict));
	for (unsigned int i = 0; i < r->n_reasons; i++)
		printf("  problem:  %s\n", r->reasons[i]);
	if (so->probe)
		printf("  probe:    %s: %s\n", probe_rc == 0 ? "passed" : "FAILED", probe_detail);
	if (st->features_read) {
		char desc[256];

		sa_variant_describe(st->features.loaded, desc, sizeof(desc));
		printf("  variant:  %s (loaded on %s)\n", desc, st->features.kernel);
	}
	printf("  pin dir:  %s", st->pin_dir);
	if (st->layout.read)
		printf(" (layout %u)", st->layout.layout.version);
	printf("\n  daemon:   ");
	if (st->daemon_pid)
		printf("sockacceld running, pid %d\n", (int)st->daemon_pid);
	else
		printf("not running\n");
	if (st->n_present) {
		printf("  pins:    ");
		for (unsigned int i = 0; i < st->n_pins; i++)
			if (st->pins[i].present)
				printf(" %s(%u)", st->pins[i].name, st->pins[i].id);
		printf("\n");
		printf("  sockops:  %s", st->sockops_attached ? "attached to " : "NOT attached");
		if (st->sockops_attached)
			printf("%s via link %u, prog %u (%u sockops program%s on the cgroup)",
			       st->cgroup, st->sockops_link_id, st->sockops_prog_id,
			       st->cgroup_sockops_progs, st->cgroup_sockops_progs == 1 ? "" : "s");
		printf("\n  sk_msg:   %s map %u via %s, prog %u\n",
		       st->msg_attached ? "attached to" : "NOT attached to", st->map_id,
		       method_msg(st), st->msg_prog_id);
		printf("  map:      %u of %u entries\n", st->entries, st->max_entries);
		printf("  redirect: %s\n", !st->ctl_read ? "unknown" : st->draining ? "draining (off)" : "on");
		for (int i = 0; i < 2; i++) {
			const struct sa_prog_stats *ps = &st->progs[i];

			if (!ps->id)
				continue;
			load_time_str(ps->load_time_ns, when, sizeof(when));
			printf("  program:  %s id %u %s, loaded %s", ps->pin, ps->id, ps->name, when);
			if (st->bpf_stats_enabled == 1)
				printf(", %llu runs, %.0f ns/run", (unsigned long long)ps->run_cnt,
				       avg_ns(ps));
			printf("\n");
		}
		for (unsigned int i = 0; i < st->n_stepaside; i++) {
			char line[1024];

			sa_stepaside_describe(&st->stepaside[i], line, sizeof(line));
			printf("  stepped aside: %s\n", line);
		}
		if (st->counters_read) {
			printf("  counters:");
			for (int i = 0; i < SA_CNT_MAX; i++)
				printf("%s %s %llu", i ? "," : "", sa_counter_descs[i].name,
				       (unsigned long long)st->counters[i]);
			printf("\n");
		}
	}
	printf("  kernel:  ");
	for (unsigned int i = 0; i < pf->n; i++)
		if (strcmp(pf->checks[i].id, "cgroup") && strcmp(pf->checks[i].id, "bpffs"))
			printf(" %s %s", pf->checks[i].id,
			       pf->checks[i].state == SA_CHECK_FAIL ? "MISSING" :
			       strcmp(pf->checks[i].id, "sockmap_link") == 0 ?
			       (pf->sockmap_link ? "yes" : "no (legacy attach)") : "ok");
	printf("\n");
	for (unsigned int i = 0; i < r->n_notes; i++)
		printf("  note:     %s\n", r->notes[i]);
}

int do_status(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "probe", no_argument, NULL, 'P' },
		{ "degraded-ok", no_argument, NULL, 'D' },
		{},
	};
	struct sa_preflight_opts po = {};
	struct status_opts so = {};
	struct sa_verdict_report r;
	struct sa_state st, earlier;
	struct sa_preflight pf;
	char probe_detail[512] = "";
	int opt, code, probe_rc = 0;

	while ((opt = ctl_getopt(c, argc, argv, longopts)) != -1) {
		if (opt == '?')
			return SA_CTL_USAGE;
		if (opt == 'P')
			so.probe = true;
		else
			so.degraded_ok = true;
	}

	sa_state_read(c->pin_dir, &earlier);
	st = earlier;
	if (earlier.counters_read && sa_insert_failures(&earlier)) {
		usleep(RISING_WINDOW_US);
		sa_state_read(c->pin_dir, &st);
	}
	sa_verdict_judge(&st, &earlier, &r);

	po.cgroup = st.cgroup[0] ? st.cgroup : NULL;
	po.pin_dir = c->pin_dir;
	sa_preflight_run(&po, &pf);

	if (so.probe && r.verdict != SA_VERDICT_OFF)
		probe_rc = sa_probe_run(c->pin_dir, st.cgroup, probe_detail, sizeof(probe_detail));
	else if (so.probe) {
		probe_rc = -1;
		snprintf(probe_detail, sizeof(probe_detail), "the fast path is off");
	}

	switch (r.verdict) {
	case SA_VERDICT_HEALTHY:
		code = SA_CTL_OK;
		break;
	case SA_VERDICT_DEGRADED:
		/* A kubelet restarts a container whose liveness probe fails; a
		 * kernel that refuses an optional feature is no reason to. */
		code = so.degraded_ok ? SA_CTL_OK : SA_CTL_FAIL;
		break;
	case SA_VERDICT_OFF:
		code = SA_CTL_OFF;
		break;
	default:
		code = SA_CTL_UNKNOWN;
	}
	/* a failed probe on a fast path that looks fine is a fault of its own */
	if (so.probe && probe_rc && code == SA_CTL_OK) {
		code = SA_CTL_FAIL;
		r.verdict = SA_VERDICT_DEGRADED;
		if (r.n_reasons < SA_VERDICT_LINES)
			snprintf(r.reasons[r.n_reasons++], sizeof(r.reasons[0]),
				 "probe failed: %s", probe_detail);
	}
	if (c->json)
		print_json(c, &st, &r, &pf, &so, probe_rc, probe_detail, code);
	else
		print_plain(&st, &r, &pf, &so, probe_rc, probe_detail);
	return code;
}
