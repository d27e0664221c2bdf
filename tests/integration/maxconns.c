// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Scenario 6: `--max-conns 4` and 10 connections open at once.
 *  - sock_hash has room for 4 sockets and never holds more;
 *  - every socket is either inserted or counted in insert_full, and
 *    insert_full > 0;
 *  - all 10 connections carry data both ways byte-exact, accelerated or not
 *    (a failed insertion, even of one side only, leaves the connection on
 *    TCP), and nothing hangs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"
#include "testlib.h"

#define NCONN 10
#define MAX_CONNS 4
#define MiB (1ULL << 20)

int main(void)
{
	const char *args[] = { "--max-conns", "4", NULL };
	struct tl_pair_opts o = { .family = TL_INET4 };
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_pair p[NCONN];
	struct tl_stream c2s[NCONN], s2c[NCONN];
	int cstate[NCONN], sstate[NCONN];
	struct tl_fastpath fp;
	__u64 before[SA_CNT_MAX], after[SA_CNT_MAX];
	__u32 in_map = 0, entries = 0;
	char name[48], what[96];

	for (int i = 0; i < NCONN; i++) {
		p[i] = (struct tl_pair)TL_PAIR_INIT;
		snprintf(name, sizeof(name), "conn%d c2s", i);
		tl_stream_init(&c2s[i], name, 4 * MiB, (enum tl_write_mode)(i % 3));
		snprintf(name, sizeof(name), "conn%d s2c", i);
		tl_stream_init(&s2c[i], name, 4 * MiB, (enum tl_write_mode)((i + 1) % 3));
	}
	ASSERT_OK(tl_init("maxconns", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_daemon_start_ready(&d, args, 0), "start sockacceld --max-conns 4");
	ASSERT_OK(tl_fastpath_read(&fp), "read the pinned fast path");
	ASSERT_EQ(fp.max_entries, MAX_CONNS, "sock_hash max_entries set by --max-conns");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	ASSERT_OK(tl_counters(&pins, before), "read counters");

	for (int i = 0; i < NCONN; i++) {
		snprintf(what, sizeof(what), "connection %d", i);
		ASSERT_OK(tl_pair_make(&p[i], &o), what);
	}
	for (int i = 0; i < NCONN; i++) {
		cstate[i] = tl_sock_map_state(pins.sock_hash, p[i].client);
		sstate[i] = tl_sock_map_state(pins.sock_hash, p[i].server);
		ASSERT_GE(cstate[i], 0, "look up a client socket");
		ASSERT_GE(sstate[i], 0, "look up a server socket");
		tl_log("connection %d: client %s, server %s", i, tl_map_state_name(cstate[i]),
		       tl_map_state_name(sstate[i]));
		in_map += (cstate[i] == TL_IN_MAP) + (sstate[i] == TL_IN_MAP);
	}
	ASSERT_LE(in_map, MAX_CONNS, "our sockets in sock_hash");
	ASSERT_OK(tl_map_count(pins.sock_hash, &entries), "count sock_hash entries");
	ASSERT_LE(entries, MAX_CONNS, "sock_hash entries");

	ASSERT_OK(tl_counters(&pins, after), "read counters");
	tl_counters_log("after 10 connections", after);
	ASSERT_GT(after[SA_CNT_INSERT_FULL] - before[SA_CNT_INSERT_FULL], 0,
		  "insert_full counts the refused insertions");
	ASSERT_LE(after[SA_CNT_INSERTED] - before[SA_CNT_INSERTED], MAX_CONNS, "sockets_inserted");
	ASSERT_EQ(after[SA_CNT_INSERTED] - before[SA_CNT_INSERTED] +
		  after[SA_CNT_INSERT_FULL] - before[SA_CNT_INSERT_FULL], 2 * NCONN,
		  "every socket counted as inserted or refused (map full)");

	for (int i = 0; i < NCONN; i++) {
		ASSERT_OK(tl_stream_start(&c2s[i], p[i].client, p[i].server),
			  "start client->server");
		ASSERT_OK(tl_stream_start(&s2c[i], p[i].server, p[i].client),
			  "start server->client");
	}
	for (int i = 0; i < NCONN; i++) {
		struct tl_tcp_bytes cb, sb;

		snprintf(what, sizeof(what), "connection %d client->server byte-exact", i);
		ASSERT_OK(tl_stream_join(&c2s[i], 120000), what);
		snprintf(what, sizeof(what), "connection %d server->client byte-exact", i);
		ASSERT_OK(tl_stream_join(&s2c[i], 120000), what);
		ASSERT_OK(tl_tcp_bytes(p[i].client, &cb), "TCP_INFO client");
		ASSERT_OK(tl_tcp_bytes(p[i].server, &sb), "TCP_INFO server");
		tl_log("connection %d: TCP carried %llu of %llu client bytes, %llu of %llu server bytes",
		       i, (unsigned long long)cb.sent, (unsigned long long)c2s[i].len,
		       (unsigned long long)sb.sent, (unsigned long long)s2c[i].len);
		if (cstate[i] == TL_IN_MAP && sstate[i] == TL_IN_MAP) {
			ASSERT_LE(cb.sent, TL_BYPASS_MAX(c2s[i].len),
				  "fully inserted: client bypassed TCP");
			ASSERT_LE(sb.sent, TL_BYPASS_MAX(s2c[i].len),
				  "fully inserted: server bypassed TCP");
		} else {
			/* a side without psock sends on TCP; one with a psock
			 * finds no peer to redirect to and passes to TCP */
			ASSERT_GE(cb.sent, c2s[i].len, "not fully inserted: client data on TCP");
			ASSERT_GE(sb.sent, s2c[i].len, "not fully inserted: server data on TCP");
		}
	}
	ASSERT_OK(tl_counters(&pins, after), "read counters");
	tl_counters_log("after the streams", after);

	tl_pins_close(&pins);
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	for (int i = 0; i < NCONN; i++) {
		tl_stream_stop(&c2s[i]);
		tl_stream_stop(&s2c[i]);
		tl_pair_close(&p[i]);
	}
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	return tl_finish();
}
