// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sockaccelctl stats: the counters, as a table, as rates, or for Prometheus. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "sockaccel.h"
#include "counters.h"
#include "ctl.h"
#include "metrics.h"
#include "parse.h"
#include "pins.h"

struct stats_opts {
	__u32 watch_s;		/* 0: one reading */
	__u32 count;		/* 0: forever */
	bool prometheus;
};

static int read_counters(struct ctl *c, __u64 out[SA_CNT_MAX])
{
	char why[SA_PIN_WHY_LEN];
	int fd, err;

	fd = sa_pin_open(c->pin_dir, SA_PIN_COUNTERS, why, sizeof(why));
	if (fd < 0) {
		ctl_err(c, "%s", why);
		return fd;
	}
	err = sa_counters_read(fd, out);
	close(fd);
	if (err)
		ctl_err(c, "can't read the counters '%s/%s': %s", c->pin_dir, SA_PIN_COUNTERS,
			strerror(-err));
	return err;
}

/* The same text as sockacceld's /metrics (metrics.h). */
static int prometheus(struct ctl *c)
{
	char why[SA_PIN_WHY_LEN];
	struct sa_metrics m;

	if (sa_metrics_read(c->pin_dir, &m, why, sizeof(why))) {
		ctl_err(c, "%s", why);
		return SA_CTL_FAIL;
	}
	sa_metrics_print(stdout, &m);
	return SA_CTL_OK;
}

static void print_once(struct ctl *c, const __u64 cnt[SA_CNT_MAX])
{
	if (c->json) {
		jsonw_start_object(c->jw);
		for (int i = 0; i < SA_CNT_MAX; i++)
			jsonw_uint_field(c->jw, sa_counter_descs[i].name, cnt[i]);
		jsonw_end_object(c->jw);
		return;
	}
	for (int i = 0; i < SA_CNT_MAX; i++)
		printf("%-24s %llu\n", sa_counter_descs[i].name, (unsigned long long)cnt[i]);
}

/* --watch: one line (or one JSON object per line) of per-second rates. */
static int watch(struct ctl *c, const struct stats_opts *so)
{
	__u64 prev[SA_CNT_MAX], cur[SA_CNT_MAX];
	struct timespec t0, t1;
	int err;

	err = read_counters(c, prev);
	if (err)
		return SA_CTL_FAIL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!c->json)
		printf("%-10s %14s %14s %14s %12s %12s\n", "time", "msgs/s", "bytes/s",
		       "passed/s", "inserts/s", "failures/s");
	for (__u32 n = 0; !so->count || n < so->count; n++) {
		double dt;

		sleep(so->watch_s);
		if (read_counters(c, cur))
			return SA_CTL_FAIL;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (c->json) {
			/* JSON Lines: one complete object per interval */
			json_writer_t *jw = jsonw_new(stdout);

			jsonw_start_object(jw);
			jsonw_name(jw, "interval_s");
			jsonw_float(jw, dt);
			for (int i = 0; i < SA_CNT_MAX; i++) {
				char name[64];

				snprintf(name, sizeof(name), "%s_per_s", sa_counter_descs[i].name);
				jsonw_name(jw, name);
				jsonw_float(jw, (double)(cur[i] - prev[i]) / dt);
			}
			jsonw_end_object(jw);
			jsonw_destroy(&jw);
		} else {
			char when[16];
			time_t now = time(NULL);
			struct tm tm;
			__u64 fail = 0;

			for (int i = SA_CNT_INSERT_FULL; i <= SA_CNT_INSERT_OTHER; i++)
				fail += cur[i] - prev[i];
			localtime_r(&now, &tm);
			strftime(when, sizeof(when), "%H:%M:%S", &tm);
			printf("%-10s %14.0f %14.0f %14.0f %12.0f %12.0f\n", when,
			       (double)(cur[SA_CNT_MSG_REDIRECTED] - prev[SA_CNT_MSG_REDIRECTED]) / dt,
			       (double)(cur[SA_CNT_BYTES_REDIRECTED] - prev[SA_CNT_BYTES_REDIRECTED]) / dt,
			       (double)(cur[SA_CNT_MSG_PASSED] - prev[SA_CNT_MSG_PASSED]) / dt,
			       (double)(cur[SA_CNT_INSERTED] - prev[SA_CNT_INSERTED]) / dt,
			       (double)fail / dt);
		}
		fflush(stdout);
		memcpy(prev, cur, sizeof(prev));
		t0 = t1;
	}
	return SA_CTL_OK;
}

int do_stats(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "watch", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		{ "prometheus", no_argument, NULL, 'P' },
		{},
	};
	struct stats_opts so = {};
	__u64 cnt[SA_CNT_MAX];
	int opt;

	while ((opt = ctl_getopt(c, argc, argv, longopts)) != -1) {
		switch (opt) {
		case 'w':
			if (sa_parse_u32(optarg, 1, 3600, &so.watch_s)) {
				ctl_err(c, "stats --watch: '%s' is not a number of seconds from 1 to 3600",
					optarg);
				return SA_CTL_USAGE;
			}
			break;
		case 'n':
			if (sa_parse_u32(optarg, 1, 1000000, &so.count)) {
				ctl_err(c, "stats --count: '%s' is not a number from 1 to 1000000",
					optarg);
				return SA_CTL_USAGE;
			}
			break;
		case 'P':
			so.prometheus = true;
			break;
		default:
			return SA_CTL_USAGE;
		}
	}
	if (so.prometheus && (so.watch_s || c->json)) {
		ctl_err(c, "stats --prometheus goes without --watch and --json");
		return SA_CTL_USAGE;
	}
	if (so.count && !so.watch_s) {
		ctl_err(c, "stats --count needs --watch");
		return SA_CTL_USAGE;
	}
	if (so.watch_s) {
		/* each interval prints its own object; the shared writer is unused */
		jsonw_destroy(&c->jw);
		return watch(c, &so);
	}
	if (so.prometheus)
		return prometheus(c);
	if (read_counters(c, cnt))
		return SA_CTL_FAIL;
	print_once(c, cnt);
	return SA_CTL_OK;
}
