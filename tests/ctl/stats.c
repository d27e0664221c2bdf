// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockaccelctl stats:
 *  - --prometheus is valid text exposition: every sample has a # HELP and a
 *    # TYPE before it, names match [a-zA-Z_:][a-zA-Z0-9_:]*, values are
 *    numbers, counters end in _total; every counter of the programs is
 *    there, with the value the counters map holds;
 *  - the counts rise with traffic: a stream in the cgroup between two
 *    readings raises sockets_inserted by 2 and msgs/bytes_redirected by at
 *    least the stream;
 *  - --json gives the same numbers; --watch 1 --count 2 --json gives
 *    exactly 2 JSON lines of rates; plain --watch a header and 2 lines;
 *  - with the pins gone, --prometheus fails (1) and prints no metrics.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "counters.h"
#include "ctl_helpers.h"
#include "exitcodes.h"

#define MiB (1ULL << 20)

/* stats --prometheus, parsed; every counter present and equal to @want
 * (NULL: not compared; the map may move between the two readings). */
static bool prometheus(struct prom *p, const __u64 want[SA_CNT_MAX], const char *what)
{
	static const char *const gauges[] = { "sockaccel_map_entries", "sockaccel_map_max_entries",
					      "sockaccel_draining" };
	struct ctl_out o = CTL_OUT_INIT;
	char err[512], name[128];
	bool ok = false;

	prom_free(p);
	ASSERT_CTL(ctl_cmd(&o, "stats", "--prometheus", NULL), &o, CTL_OK, what);
	if (prom_parse(o.out, o.out_len, p, err, sizeof(err))) {
		ctl_fail_out(__FILE__, __LINE__, what, &o, "not valid Prometheus text: %s", err);
		goto cleanup;
	}
	tl_log("%s: %zu samples, valid", what, p->n);
	for (int i = 0; i < SA_CNT_MAX; i++) {
		const struct prom_sample *s;

		snprintf(name, sizeof(name), "sockaccel_%s_total", sa_counter_descs[i].name);
		s = prom_find(p, name);
		if (!s)
			FAIL("%s: no sample %s", what, name);
		if (strcmp(s->type, "counter") != 0)
			FAIL("%s: %s has type %s, expected counter", what, name, s->type);
		if (want && s->value != (double)want[i])
			FAIL("%s: %s is %.0f, the counters map holds %llu", what, name, s->value,
			     (unsigned long long)want[i]);
	}
	for (unsigned int i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++) {
		const struct prom_sample *s = prom_find(p, gauges[i]);

		if (!s || strcmp(s->type, "gauge") != 0)
			FAIL("%s: no gauge %s", what, gauges[i]);
	}
	ok = true;
cleanup:
	ctl_out_free(&o);
	return ok;
}

static double value(const struct prom *p, const char *counter)
{
	char name[128];
	const struct prom_sample *s;

	snprintf(name, sizeof(name), "sockaccel_%s_total", counter);
	s = prom_find(p, name);
	return s ? s->value : -1;
}

int main(void)
{
	struct tl_pair_opts po = { .family = TL_INET4 };
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_pair p = TL_PAIR_INIT;
	struct ctl_out o = CTL_OUT_INIT;
	struct prom before = {}, after = {};
	struct tl_stream c2s, s2c;
	struct cj *v = NULL, **lines = NULL;
	__u64 cnt[SA_CNT_MAX], x = 0;
	size_t nlines = 0;
	char err[512];
	unsigned int nl = 0;

	tl_stream_init(&c2s, "stats c2s", 8 * MiB, TL_WRITE_SEND);
	tl_stream_init(&s2c, "stats s2c", 4 * MiB, TL_WRITE_SENDFILE);
	/* no shutdown(SHUT_WR): a half-closing socket leaves the map (the
	 * half-close guard), and the map gauge is read with both still in */
	c2s.shutdown = s2c.shutdown = false;
	ASSERT_OK(tl_init("ctl_stats", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");

	/* 1. a first reading, equal to the map's counters (nothing runs) */
	ASSERT_OK(ctl_counters(&pins, cnt, "before traffic"), "read counters");
	ASSERT_TRUE(prometheus(&before, cnt, "stats --prometheus before traffic"),
		    "valid Prometheus text before traffic");
	ASSERT_TRUE(prom_find(&before, "sockaccel_map_entries")->value == 0,
		    "sockaccel_map_entries 0 before any connection");
	ASSERT_TRUE(prom_find(&before, "sockaccel_draining")->value == 0,
		    "sockaccel_draining 0 while running");

	/* 2. traffic in the cgroup */
	ASSERT_OK(tl_pair_make(&p, &po), "tl_pair_make");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, p.client), TL_IN_MAP, "client in sock_hash");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, p.server), TL_IN_MAP, "server in sock_hash");
	ASSERT_OK(tl_stream_start(&c2s, p.client, p.server), "start client->server stream");
	ASSERT_OK(tl_stream_start(&s2c, p.server, p.client), "start server->client stream");
	ASSERT_OK(tl_stream_join(&c2s, 60000), "client->server stream byte-exact");
	ASSERT_OK(tl_stream_join(&s2c, 60000), "server->client stream byte-exact");

	/* 3. the second reading: the counts rose */
	ASSERT_OK(ctl_counters(&pins, cnt, "after traffic"), "read counters");
	ASSERT_TRUE(prometheus(&after, cnt, "stats --prometheus after traffic"),
		    "valid Prometheus text after traffic");
	ASSERT_EQ((long long)(value(&after, "sockets_inserted") - value(&before, "sockets_inserted")),
		  2, "sockaccel_sockets_inserted_total rose by the connection's 2 sockets");
	ASSERT_GT((long long)value(&after, "msgs_redirected"),
		  (long long)value(&before, "msgs_redirected"),
		  "sockaccel_msgs_redirected_total rose");
	ASSERT_GE((long long)(value(&after, "bytes_redirected") - value(&before, "bytes_redirected")),
		  (long long)(c2s.len + s2c.len), "sockaccel_bytes_redirected_total covers the streams");
	ASSERT_TRUE(prom_find(&after, "sockaccel_map_entries")->value == 2,
		    "sockaccel_map_entries is the open connection's 2 sockets");

	/* 4. --json: the same numbers */
	ASSERT_CTL(ctl_cmd(&o, "--json", "stats", NULL), &o, CTL_OK, "stats --json");
	ASSERT_JSON(&o, CJ_OBJ, v, "stats --json");
	ASSERT_EQ(v->n, SA_CNT_MAX, "stats --json: one member per counter");
	for (int i = 0; i < SA_CNT_MAX; i++) {
		ASSERT_JSON_U64(v, sa_counter_descs[i].name, &x, "stats --json counter");
		ASSERT_EQ(x, cnt[i], sa_counter_descs[i].name);
	}
	ASSERT_CTL(ctl_cmd(&o, "stats", NULL), &o, CTL_OK, "stats (plain)");
	ASSERT_OUT_HAS(&o, "msgs_redirected", "stats (plain) lists msgs_redirected");

	/* 5. --watch: JSON Lines, one object per interval */
	ASSERT_CTL(ctl_cmd(&o, "--json", "stats", "--watch", "1", "--count", "2", NULL), &o,
		   CTL_OK, "stats --watch 1 --count 2 --json");
	if (cj_parse_lines(o.out, o.out_len, &lines, &nlines, err, sizeof(err))) {
		ctl_fail_out(__FILE__, __LINE__, "stats --watch --json", &o,
			     "not JSON Lines: %s", err);
		goto cleanup;
	}
	ASSERT_EQ(nlines, 2, "stats --watch 1 --count 2 --json: number of JSON lines");
	for (size_t i = 0; i < nlines; i++) {
		const struct cj *iv = cj_get(lines[i], "interval_s");
		char key[96];

		ASSERT_TRUE(lines[i]->type == CJ_OBJ, "each JSON line is an object");
		ASSERT_TRUE(iv && iv->type == CJ_NUM && iv->d > 0, "interval_s is a positive number");
		for (int c = 0; c < SA_CNT_MAX; c++) {
			const struct cj *r;

			snprintf(key, sizeof(key), "%s_per_s", sa_counter_descs[c].name);
			r = cj_get(lines[i], key);
			if (!r || r->type != CJ_NUM || r->d < 0)
				FAIL("stats --watch --json line %zu: %s is not a rate", i + 1, key);
		}
	}
	ASSERT_CTL(ctl_cmd(&o, "stats", "--watch", "1", "--count", "2", NULL), &o, CTL_OK,
		   "stats --watch 1 --count 2");
	for (const char *c = o.out; c && *c; c++)
		nl += *c == '\n';
	ASSERT_EQ(nl, 3, "stats --watch 1 --count 2: a header and 2 lines");
	ASSERT_OUT_HAS(&o, "msgs/s", "stats --watch header");

	/* 6. the pins gone: an error, and no partial metrics */
	tl_pair_close(&p);
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
	ASSERT_OK(tl_rm_rf(tl_env.pin_dir), "rm -r <pin dir>");
	ASSERT_CTL(ctl_cmd(&o, "stats", "--prometheus", NULL), &o, CTL_FAIL,
		   "stats --prometheus with the pins gone");
	ASSERT_EQ(o.out_len, 0, "stats --prometheus with the pins gone prints no metrics");
	ASSERT_ERR_HAS(&o, "the fast path is off", "stats --prometheus says why");
cleanup:
	tl_stream_stop(&c2s);
	tl_stream_stop(&s2c);
	cj_lines_free(lines, nlines);
	cj_free(v);
	prom_free(&before);
	prom_free(&after);
	ctl_out_free(&o);
	tl_pair_close(&p);
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	return tl_finish();
}
