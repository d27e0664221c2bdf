// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Scenario 2: IPv4, IPv6 and dual-stack ([::] listener, IPv4 client)
 * connections in the cgroup are accelerated:
 *  - both sockets are in sock_hash under their own key, holding their own
 *    socket cookie;
 *  - msgs_redirected rises and bytes_redirected covers every byte sent;
 *  - TCP_INFO shows the bytes bypassed TCP (tcpi_bytes_sent ~0), while a
 *    plain connection outside the cgroup shows all of them;
 *  - streams in both directions at once arrive byte-exact with EOF right
 *    after the last byte: 256 MiB in all, writes of 1 B .. 1 MiB through
 *    send(2), sendfile(2) and splice(2).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"
#include "testlib.h"

#define MiB (1ULL << 20)

struct dir_spec {
	__u64 len;
	enum tl_write_mode mode;
};

static const struct {
	enum tl_family family;
	struct dir_spec c2s, s2c;
} cases[] = {
	{ TL_INET4, { 64 * MiB, TL_WRITE_SEND }, { 32 * MiB, TL_WRITE_SENDFILE } },
	{ TL_INET6, { 48 * MiB, TL_WRITE_SPLICE }, { 32 * MiB, TL_WRITE_SEND } },
	{ TL_DUAL, { 48 * MiB, TL_WRITE_SENDFILE }, { 32 * MiB, TL_WRITE_SPLICE } },
};

static bool run_case(const struct tl_pins *pins, unsigned int i, __u64 *total)
{
	struct tl_pair_opts o = { .family = cases[i].family };
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_stream c2s, s2c;
	struct tl_tcp_bytes cb, sb;
	__u64 before[SA_CNT_MAX], after[SA_CNT_MAX];
	const char *fam = tl_family_name(cases[i].family);
	char name[48], what[128];
	bool ok = false;

	tl_stream_init(&c2s, "", 0, TL_WRITE_SEND);
	tl_stream_init(&s2c, "", 0, TL_WRITE_SEND);
	tl_log("---- %s connection in the cgroup", fam);
	snprintf(what, sizeof(what), "%s pair, both sockets in sock_hash", fam);
	ASSERT_OK(tl_pair_in_map(&p, &o, pins->sock_hash), what);
	ASSERT_OK(tl_counters(pins, before), "read counters");

	snprintf(name, sizeof(name), "%s c2s", fam);
	tl_stream_init(&c2s, name, cases[i].c2s.len, cases[i].c2s.mode);
	snprintf(name, sizeof(name), "%s s2c", fam);
	tl_stream_init(&s2c, name, cases[i].s2c.len, cases[i].s2c.mode);
	ASSERT_OK(tl_stream_start(&c2s, p.client, p.server), "start client->server stream");
	ASSERT_OK(tl_stream_start(&s2c, p.server, p.client), "start server->client stream");
	ASSERT_OK(tl_stream_join(&c2s, 120000), "client->server stream byte-exact, EOF after it");
	ASSERT_OK(tl_stream_join(&s2c, 120000), "server->client stream byte-exact, EOF after it");
	*total += c2s.len + s2c.len;

	ASSERT_OK(tl_counters(pins, after), "read counters");
	tl_counters_log(fam, after);
	ASSERT_GT(after[SA_CNT_MSG_REDIRECTED], before[SA_CNT_MSG_REDIRECTED],
		  "msgs_redirected rose");
	ASSERT_GE(after[SA_CNT_BYTES_REDIRECTED] - before[SA_CNT_BYTES_REDIRECTED],
		  c2s.len + s2c.len, "bytes_redirected covers both streams");

	ASSERT_OK(tl_tcp_bytes(p.client, &cb), "TCP_INFO client");
	ASSERT_OK(tl_tcp_bytes(p.server, &sb), "TCP_INFO server");
	tl_log("%s TCP_INFO: client sent %llu acked %llu; server sent %llu acked %llu", fam,
	       (unsigned long long)cb.sent, (unsigned long long)cb.acked,
	       (unsigned long long)sb.sent, (unsigned long long)sb.acked);
	ASSERT_LE(cb.sent, TL_BYPASS_MAX(c2s.len),
		  "client tcpi_bytes_sent ~0 (bytes bypassed TCP)");
	ASSERT_LE(sb.sent, TL_BYPASS_MAX(s2c.len),
		  "server tcpi_bytes_sent ~0 (bytes bypassed TCP)");
	ASSERT_LE(sb.received, TL_BYPASS_MAX(c2s.len), "server tcpi_bytes_received ~0");
	ASSERT_LE(cb.received, TL_BYPASS_MAX(s2c.len), "client tcpi_bytes_received ~0");
	ok = true;
cleanup:
	tl_stream_stop(&c2s);
	tl_stream_stop(&s2c);
	tl_pair_close(&p);
	return ok;
}

/* The same measurement on plain TCP, so that "~0" above means something. */
static bool plain_control(const struct tl_pins *pins)
{
	struct tl_pair_opts o = { .family = TL_INET4,
				  .server = { .outside_cgroup = true },
				  .client = { .outside_cgroup = true } };
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_stream s;
	struct tl_tcp_bytes cb;
	bool ok = false;

	tl_stream_init(&s, "plain c2s", 4 * MiB, TL_WRITE_SEND);
	tl_log("---- control: a connection outside the cgroup");
	ASSERT_OK(tl_pair_make(&p, &o), "tl_pair_make outside the cgroup");
	ASSERT_EQ(tl_sock_map_state(pins->sock_hash, p.client), TL_NOT_IN_MAP,
		  "client outside the cgroup not in sock_hash");
	ASSERT_OK(tl_stream_start(&s, p.client, p.server), "start plain stream");
	ASSERT_OK(tl_stream_join(&s, 60000), "plain stream byte-exact");
	ASSERT_OK(tl_tcp_bytes(p.client, &cb), "TCP_INFO plain client");
	tl_log("plain TCP_INFO: client sent %llu", (unsigned long long)cb.sent);
	ASSERT_GE(cb.sent, s.len, "plain client: tcpi_bytes_sent is the full size");
	ok = true;
cleanup:
	tl_stream_stop(&s);
	tl_pair_close(&p);
	return ok;
}

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	__u64 total = 0;

	ASSERT_OK(tl_init("accel", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");

	ASSERT_TRUE(plain_control(&pins), "plain TCP control");
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ASSERT_TRUE(run_case(&pins, i, &total), tl_family_name(cases[i].family));
	tl_log("%llu MiB of pattern verified through accelerated connections",
	       (unsigned long long)(total / MiB));
	ASSERT_GE(total, 256 * MiB, "pattern volume of this test");

	tl_pins_close(&pins);
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	return tl_finish();
}
