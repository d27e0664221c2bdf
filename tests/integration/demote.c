// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Demotion (docs/design.md, "Demotion"): a connection whose receiver went
 * over the queue limit continues on TCP for good (the sticky bound: flow
 * control is refused through the test switch here), and each of its sockets leaves the
 * SOCKHASH once its own redirected queue has been read. queue_limit = 4 MiB.
 *
 *  1. Bulk: 128 MiB in 1 MiB send()s to a receiver asleep 1 s: byte-exact;
 *     both sockets are marked; the writer left the map (sockets_demoted).
 *  2. Both ways at once, both readers slow: both streams byte-exact, and
 *     both sockets left the map (each sends over TCP, so each gets ACKs).
 *  3. Never at the cost of data: the client holds 1 MiB redirected by the
 *     server and unread when its own stream falls back. While that 1 MiB is
 *     unread the client must stay in the map (leaving would purge it), even
 *     long after the grace; once it is read byte-exact, the client's next
 *     TCP traffic demotes it, and that traffic arrives in order.
 *  4. The same bulk stream with the peer reads refused (SOCKACCEL_TEST_REFUSE):
 *     the budget's marks demote the writer just the same.
 *  5. The kfunc refused: demote_read (bpf_probe_read_kernel) passes 2 and 3.
 *  6. Both refused, or a kernel that refuses both: the connection still
 *     falls back byte-exact, and both sockets stay in the map.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "exitcodes.h"
#include "testlib.h"

#define MiB (1ULL << 20)
#define WRITE (1 * MiB)
#define HELD (1 * MiB)		/* scenario 3: redirected to the client, unread */
#define TAIL (8 * MiB)		/* scenario 3: client traffic after the read */
#define SEED_HELD 0x5eed0001ULL
#define SEED_TAIL 0x5eed0002ULL

/* A writer that never waits for its reader, to a reader that sleeps first. */
static void bulk_init(struct tl_stream *s, const char *name, __u64 len, unsigned int delay_ms)
{
	tl_stream_init(s, name, len, TL_WRITE_SEND);
	s->fixed_writes = true;
	s->max_write = WRITE;
	s->max_ahead = 0;
	s->read_delay_ms = delay_ms;
	s->stall_ms = 60000;
}

static bool wait_demoted(int map_fd, int fd, const char *who)
{
	bool gone = TL_WAIT_FOR(tl_sock_map_state(map_fd, fd) == TL_NOT_IN_MAP, 5000);

	tl_log("%s: %s", who, gone ? "left sock_hash" : "still in sock_hash after 5 s");
	return gone;
}

/* Does the daemon under test demote? Set from the variant it reports. */
static bool demote_on;

static bool bulk(void)
{
	struct tl_pair_opts o = { .family = TL_INET4 };
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_stream s;
	struct tl_tcp_bytes cb;
	__u64 before[SA_CNT_MAX], after[SA_CNT_MAX];
	bool ok = false;

	tl_log("---- 1. bulk: 128 MiB, receiver asleep 1 s");
	bulk_init(&s, "bulk", 128 * MiB, 1000);
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	ASSERT_OK(tl_pair_in_map(&p, &o, pins.sock_hash), "connected pair, both in sock_hash");
	ASSERT_OK(tl_counters(&pins, before), "read counters");
	ASSERT_OK(tl_stream_start(&s, p.client, p.server), "start the stream");
	ASSERT_OK(tl_stream_join(&s, 120000), "128 MiB byte-exact, EOF after the last byte");
	ASSERT_OK(tl_counters(&pins, after), "read counters");
	tl_counters_log("after the bulk stream", after);
	ASSERT_OK(tl_tcp_bytes(p.client, &cb), "TCP_INFO client");
	tl_log("client sent %llu of %llu bytes over TCP", (unsigned long long)cb.sent,
	       (unsigned long long)s.len);
	ASSERT_EQ(tl_sock_fallback(p.client), 1, "the writer is marked fallen back");
	ASSERT_EQ(tl_sock_fallback(p.server), 1, "its peer is marked too (no redirect back)");
	ASSERT_GE(after[SA_CNT_FALLBACKS] - before[SA_CNT_FALLBACKS], 2,
		  "directions_fallen_back counts both sockets");
	ASSERT_GT(cb.sent, 0, "TCP carried the rest");
	if (demote_on) {
		ASSERT_TRUE(wait_demoted(pins.sock_hash, p.client, "writer"),
			    "the writer left the map");
		ASSERT_OK(tl_counters(&pins, after), "read counters");
		ASSERT_GE(after[SA_CNT_DEMOTED] - before[SA_CNT_DEMOTED], 1,
			  "sockets_demoted counts it");
	} else {
		usleep(500 * 1000);	/* five times the grace */
		ASSERT_EQ(tl_sock_map_state(pins.sock_hash, p.client), TL_IN_MAP,
			  "without demote the writer stays in the map");
		ASSERT_OK(tl_counters(&pins, after), "read counters");
		ASSERT_EQ(after[SA_CNT_DEMOTED] - before[SA_CNT_DEMOTED], 0,
			  "nothing counted as demoted");
	}
	ok = true;
cleanup:
	tl_stream_stop(&s);
	tl_pair_close(&p);
	tl_pins_close(&pins);
	return ok;
}

static bool both_ways(void)
{
	struct tl_pair_opts o = { .family = TL_INET6 };
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_stream c2s, s2c;
	__u64 before[SA_CNT_MAX], after[SA_CNT_MAX];
	bool ok = false;

	tl_log("---- 2. both ways at once over IPv6, 64 MiB each, both readers asleep 1 s");
	bulk_init(&c2s, "c2s", 64 * MiB, 1000);
	bulk_init(&s2c, "s2c", 64 * MiB, 1000);
	s2c.seed ^= 0xa5a5;
	/* keep the connection open: a socket that closes leaves the map anyway */
	c2s.shutdown = false;
	s2c.shutdown = false;
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	ASSERT_OK(tl_pair_in_map(&p, &o, pins.sock_hash), "connected pair, both in sock_hash");
	ASSERT_OK(tl_counters(&pins, before), "read counters");
	ASSERT_OK(tl_stream_start(&c2s, p.client, p.server), "start client->server");
	ASSERT_OK(tl_stream_start(&s2c, p.server, p.client), "start server->client");
	ASSERT_OK(tl_stream_join(&c2s, 120000), "client->server byte-exact");
	ASSERT_OK(tl_stream_join(&s2c, 120000), "server->client byte-exact");
	ASSERT_TRUE(wait_demoted(pins.sock_hash, p.client, "client"), "the client left the map");
	ASSERT_TRUE(wait_demoted(pins.sock_hash, p.server, "server"), "the server left the map");
	ASSERT_OK(tl_counters(&pins, after), "read counters");
	tl_counters_log("after both ways", after);
	ASSERT_GE(after[SA_CNT_DEMOTED] - before[SA_CNT_DEMOTED], 2, "sockets_demoted counts both");
	ok = true;
cleanup:
	tl_stream_stop(&c2s);
	tl_stream_stop(&s2c);
	tl_pair_close(&p);
	tl_pins_close(&pins);
	return ok;
}

static bool unread_data_keeps_the_socket(void)
{
	struct tl_pair_opts o = { .family = TL_INET4 };
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_stream c2s, tail;
	__u32 rmem = 0, rcvbuf = 0;
	bool ok = false;

	tl_log("---- 3. the client holds 1 MiB unread when its own stream falls back");
	bulk_init(&c2s, "c2s", 64 * MiB, 1000);
	c2s.shutdown = false;		/* the client sends more afterwards */
	tl_stream_init(&tail, "tail", TAIL, TL_WRITE_SEND);
	tail.seed = SEED_TAIL;
	tail.shutdown = false;
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	ASSERT_OK(tl_pair_make(&p, &o), "tl_pair_make");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, p.client), TL_IN_MAP, "client in sock_hash");
	ASSERT_OK(tl_xfer(p.server, true, SEED_HELD, HELD, 10000), "server sends 1 MiB, redirected");
	ASSERT_OK(tl_sock_rmem(p.client, &rmem, &rcvbuf), "client's receive memory");
	ASSERT_GE(rmem, HELD, "the 1 MiB waits in the client's redirected queue");

	ASSERT_OK(tl_stream_start(&c2s, p.client, p.server), "start client->server");
	ASSERT_OK(tl_stream_join(&c2s, 120000), "client->server byte-exact");
	ASSERT_EQ(tl_sock_fallback(p.client), 1, "the client's stream fell back");
	/* the stream ran on TCP for far longer than the grace, with ACKs */
	tl_sleep_ms(300);
	ASSERT_OK(tl_xfer(p.client, true, SEED_TAIL, 64 * 1024, 10000),
		  "client sends 64 KiB more (ACKs)");
	ASSERT_OK(tl_xfer(p.server, false, SEED_TAIL, 64 * 1024, 10000), "server reads them");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, p.client), TL_IN_MAP,
		  "with redirected bytes unread the client stays in the map");

	ASSERT_OK(tl_xfer(p.client, false, SEED_HELD, HELD, 10000),
		  "the client reads its 1 MiB byte-exact");
	ASSERT_OK(tl_stream_start(&tail, p.client, p.server), "client sends 8 MiB more");
	ASSERT_OK(tl_stream_join(&tail, 60000), "the server reads them byte-exact, in order");
	ASSERT_TRUE(wait_demoted(pins.sock_hash, p.client, "client"),
		    "once its queue is read the client leaves the map");
	ok = true;
cleanup:
	tl_stream_stop(&c2s);
	tl_stream_stop(&tail);
	tl_pair_close(&p);
	tl_pins_close(&pins);
	return ok;
}

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;

	ASSERT_OK(tl_init("demote", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_config_write("queue_limit = 4194304\n"), "write queue_limit to the config");
	/* demotion follows the sticky fallback; flow control would bring these
	 * connections back to redirecting instead (integration.flowctl) */
	ASSERT_OK(tl_daemon_start_variant(&d, "flow_control", "base+"),
		  "start sockacceld with flow_control refused");
	demote_on = tl_daemon_has_feature(&d, "demote") ||
		    tl_daemon_has_feature(&d, "demote_read");
	if (demote_on) {
		ASSERT_TRUE(bulk(), "bulk stream");
		ASSERT_TRUE(both_ways(), "both ways");
		ASSERT_TRUE(unread_data_keeps_the_socket(), "unread redirected data");
	} else {
		tl_log("this kernel refused demote (sockacceld's log says why): checking that "
		       "fallback without demotion loses nothing");
		ASSERT_TRUE(bulk(), "bulk stream without demotion");
	}
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
	tl_daemon_release(&d);

	if (demote_on) {
		tl_log("---- 4. the peer cannot be read: the budget's marks demote too");
		ASSERT_OK(tl_daemon_start_variant(&d, "peer_bound,peer_bound_read,flow_control",
						  "base+budget+"),
			  "sockacceld with both peer reads refused");
		ASSERT_TRUE(tl_daemon_output_contains(&d, "+demote"), "it demotes");
		ASSERT_TRUE(bulk(), "bulk stream under the budget");
		ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
		tl_daemon_release(&d);
	}

	tl_log("---- 5. the kfunc refused: demote_read (bpf_probe_read_kernel) demotes");
	ASSERT_OK(tl_daemon_start_variant(&d, "demote,flow_control", "base+"),
		  "sockacceld with demote refused");
	demote_on = tl_daemon_has_feature(&d, "demote_read");
	if (demote_on) {
		ASSERT_TRUE(both_ways(), "both ways with demote_read");
		ASSERT_TRUE(unread_data_keeps_the_socket(), "unread data with demote_read");
	} else {
		tl_log("this kernel refused demote_read too (sockacceld's log says why)");
	}
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	tl_daemon_release(&d);

	tl_log("---- 6. no way to demote: fallback alone, nothing lost");
	ASSERT_OK(tl_daemon_start_variant(&d, "demote,demote_read,flow_control", "base+"),
		  "sockacceld with both demotes refused");
	ASSERT_TRUE(tl_daemon_output_contains(&d, "demote refused"),
		    "sockacceld names the refused feature");
	demote_on = false;
	ASSERT_TRUE(bulk(), "bulk stream without demotion");
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	tl_daemon_release(&d);
	return tl_finish();
}
