// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The path choice (bpf/sockaccel.h, SA_SMALL_STREAK): a sender that keeps
 * writing messages of at most SA_SMALL_MSG while its receiver already holds
 * SA_SMALL_QUEUED or more goes to TCP for good after SA_SMALL_STREAK such
 * messages in a row (loopback TCP coalesces them; sockmap hands them over
 * one by one), and demotes. It runs with flow_control only (before 6.5,
 * sendfile into a socket ran the program per page, so message sizes said
 * nothing of the writes there). Default config (flow_limit 2 MiB).
 *
 *  1. Small writes, no window: 4 KiB send()s to a reader asleep 200 ms,
 *     16 MiB: byte-exact; small_write_streams +1 exactly, both directions
 *     fallen back (directions_fallen_back +2 or more), and the writer
 *     leaves the map (sockets_demoted).
 *  2. Ping-pong: 5000 round trips of 4 KiB each way, every byte verified:
 *     small_write_streams unchanged, every message redirected, both sockets
 *     still in the map.
 *  3. Large writes: 64 KiB send()s, a 1 MiB window, 64 MiB, the reader
 *     keeping up: byte-exact, small_write_streams unchanged.
 *  4. The boundary: SA_SMALL_MSG-byte writes to a reader asleep 200 ms
 *     trigger (+1); SA_SMALL_MSG + 1 bytes with a 1 MiB window (under
 *     flow_limit, and far under the sticky bound's queue_limit without flow
 *     control) to a reader asleep 200 ms do not, and nothing falls back.
 *  5. flow_control refused (SOCKACCEL_TEST_REFUSE): the rule cannot run,
 *     and scenario 1's stream leaves small_write_streams at 0. A kernel
 *     without flow control (6.1) gets this check in scenarios 1 and 4a.
 *
 * Each scenario has its own connection; one that fails does not stop the
 * others, so a broken rule shows in every scenario it breaks.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "exitcodes.h"
#include "testlib.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define SMALL (SA_SMALL_MSG / 2)	/* 4 KiB: small, and alone under SA_SMALL_QUEUED */
#define LARGE (64 * KiB)
#define WINDOW (1 * MiB)		/* an application window, under flow_limit */
#define SMALL_LEN (16 * MiB)	/* SA_SMALL_STREAK small messages many times over */
#define LARGE_LEN (64 * MiB)
#define ASLEEP_MS 200
#define ROUNDS 5000

_Static_assert(SMALL <= SA_SMALL_MSG && SMALL < SA_SMALL_QUEUED,
	       "a ping-pong message is small, but alone it never fills the receiver");
_Static_assert(LARGE > SA_SMALL_MSG, "scenario 3's writes are not small");
_Static_assert(WINDOW + SA_SMALL_MSG + 1 < SA_FLOW_LIMIT_DEFAULT,
	       "the window keeps the receiver under flow_limit");

/* What a stream must do to small_write_streams. */
enum expect {
	TRIGGERS,	/* +1; the connection fell back for good and demotes */
	STAYS,		/* unchanged, and nothing fell back */
	NO_RULE,	/* the rule cannot run (no flow control): stays 0 */
};

struct shape {
	const char *name;	/* also the stream's seed */
	enum tl_family family;
	size_t write;		/* every send() this size */
	__u64 len;
	__u64 window;		/* max_ahead; 0: none */
	unsigned int read_delay_ms;
	enum expect expect;
};

/* Set from the variant of the daemon under test. */
static bool rule_on, demote_on;

static void stream_case(const struct shape *sh)
{
	struct tl_pair_opts o = { .family = sh->family };
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_stream s;
	struct tl_tcp_bytes cb;
	__u64 before[SA_CNT_MAX], after[SA_CNT_MAX], small, fell;

	tl_log("---- %s: %zu-byte send()s, %llu MiB, window %llu KiB (0: none), reader asleep "
	       "%u ms", sh->name, sh->write, (unsigned long long)(sh->len / MiB),
	       (unsigned long long)(sh->window / KiB), sh->read_delay_ms);
	tl_stream_init(&s, sh->name, sh->len, TL_WRITE_SEND);
	s.fixed_writes = true;
	s.max_write = sh->write;
	s.max_ahead = sh->window;
	s.read_delay_ms = sh->read_delay_ms;
	/* no half-close: it would move the connection to TCP and out of the
	 * map by itself (the half-close guard) */
	s.shutdown = false;
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	ASSERT_OK(tl_pair_in_map(&p, &o, pins.sock_hash), "connected pair, both in sock_hash");
	ASSERT_OK(tl_counters(&pins, before), "read counters");
	ASSERT_OK(tl_stream_start(&s, p.client, p.server), "start the stream");
	ASSERT_OK(tl_stream_join(&s, 60000), "the stream arrives byte-exact");
	ASSERT_OK(tl_counters(&pins, after), "read counters");
	tl_counters_log(sh->name, after);
	ASSERT_OK(tl_tcp_bytes(p.client, &cb), "TCP_INFO client");
	small = after[SA_CNT_SMALL_STREAMS] - before[SA_CNT_SMALL_STREAMS];
	fell = after[SA_CNT_FALLBACKS] - before[SA_CNT_FALLBACKS];
	tl_log("%s: small_write_streams +%llu, directions_fallen_back +%llu, %llu of %llu "
	       "bytes over TCP", sh->name, (unsigned long long)small, (unsigned long long)fell,
	       (unsigned long long)cb.sent, (unsigned long long)sh->len);

	switch (sh->expect) {
	case TRIGGERS:
		ASSERT_EQ(small, 1, "small_write_streams counts the connection once");
		ASSERT_GE(fell, 2, "directions_fallen_back counts both directions");
		ASSERT_EQ(tl_sock_fallback(p.client), 1, "the writer is marked fallen back");
		ASSERT_EQ(tl_sock_fallback(p.server), 1, "its peer is marked too");
		ASSERT_GT(cb.sent, 0, "TCP carried the rest");
		if (!demote_on) {
			tl_log("%s: this variant cannot demote: the writer stays in the map",
			       sh->name);
			break;
		}
		ASSERT_TRUE(TL_WAIT_FOR(tl_sock_map_state(pins.sock_hash, p.client) ==
					TL_NOT_IN_MAP, 5000),
			    "the writer left sock_hash within 5 s");
		ASSERT_OK(tl_counters(&pins, after), "read counters");
		ASSERT_GE(after[SA_CNT_DEMOTED] - before[SA_CNT_DEMOTED], 1,
			  "sockets_demoted counts it");
		break;
	case STAYS:
		ASSERT_EQ(small, 0, "small_write_streams unchanged");
		ASSERT_EQ(fell, 0, "directions_fallen_back unchanged");
		ASSERT_EQ(tl_sock_fallback(p.client), 0, "the writer is not fallen back");
		ASSERT_EQ(tl_sock_map_state(pins.sock_hash, p.client), TL_IN_MAP,
			  "the writer is still in sock_hash");
		break;
	case NO_RULE:
		ASSERT_EQ(small, 0, "without flow control small_write_streams stays 0");
		break;
	}
cleanup:
	tl_stream_stop(&s);
	tl_pair_close(&p);
	tl_pins_close(&pins);
}

/* Request and response of SMALL bytes, ROUNDS times, each verified before
 * the next is sent: the receiver never holds more than one message. */
static void ping_pong(void)
{
	struct tl_pair_opts o = { .family = TL_INET6 };
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	__u64 before[SA_CNT_MAX], after[SA_CNT_MAX];
	__u64 req = tl_seed("small-ping"), resp = tl_seed("small-pong");
	int err = 0, r;

	tl_log("---- 2. ping-pong: %d round trips of %d bytes each way", ROUNDS, (int)SMALL);
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	ASSERT_OK(tl_pair_in_map(&p, &o, pins.sock_hash), "connected pair, both in sock_hash");
	ASSERT_OK(tl_counters(&pins, before), "read counters");
	/* another seed every round: a message of the wrong round shows */
	for (r = 0; r < ROUNDS && !err; r++) {
		err = tl_xfer(p.client, true, req ^ (__u64)r, SMALL, 5000);
		if (!err)
			err = tl_xfer(p.server, false, req ^ (__u64)r, SMALL, 5000);
		if (!err)
			err = tl_xfer(p.server, true, resp ^ (__u64)r, SMALL, 5000);
		if (!err)
			err = tl_xfer(p.client, false, resp ^ (__u64)r, SMALL, 5000);
	}
	if (err)
		FAIL("ping-pong round %d: %s", r - 1, strerror(-err));
	ASSERT_OK(tl_counters(&pins, after), "read counters");
	tl_counters_log("after the ping-pong", after);
	ASSERT_EQ(after[SA_CNT_SMALL_STREAMS] - before[SA_CNT_SMALL_STREAMS], 0,
		  "ping-pong never counts as a small-write stream");
	ASSERT_GE(after[SA_CNT_MSG_REDIRECTED] - before[SA_CNT_MSG_REDIRECTED], 2 * ROUNDS,
		  "every request and response was redirected");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, p.client), TL_IN_MAP,
		  "the client is still in sock_hash");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, p.server), TL_IN_MAP,
		  "the server is still in sock_hash");
cleanup:
	tl_pair_close(&p);
	tl_pins_close(&pins);
}

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	char variant[256] = "?";
	struct shape small_writes = {
		.name = "1. small writes", .family = TL_INET4, .write = SMALL,
		.len = SMALL_LEN, .window = 0, .read_delay_ms = ASLEEP_MS, .expect = TRIGGERS,
	};
	const struct shape large_writes = {
		.name = "3. large writes", .family = TL_INET4, .write = LARGE,
		.len = LARGE_LEN, .window = WINDOW, .read_delay_ms = 0, .expect = STAYS,
	};
	struct shape at_limit = {
		.name = "4a. writes of SA_SMALL_MSG", .family = TL_INET6, .write = SA_SMALL_MSG,
		.len = SMALL_LEN, .window = 0, .read_delay_ms = ASLEEP_MS, .expect = TRIGGERS,
	};
	const struct shape over_limit = {
		.name = "4b. writes of SA_SMALL_MSG + 1", .family = TL_INET4,
		.write = SA_SMALL_MSG + 1, .len = SMALL_LEN, .window = WINDOW,
		.read_delay_ms = ASLEEP_MS, .expect = STAYS,
	};

	ASSERT_OK(tl_init("small_streams", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_daemon_variant(&d, variant, sizeof(variant)), "the daemon's variant");
	rule_on = tl_daemon_has_feature(&d, "flow_control");
	demote_on = tl_daemon_has_feature(&d, "demote") ||
		    tl_daemon_has_feature(&d, "demote_read");
	tl_log("variant %s: the rule %s", variant,
	       rule_on ? "runs (flow_control)"
		       : "cannot run (no flow_control): checking that small_write_streams stays 0");
	if (!rule_on) {
		small_writes.expect = NO_RULE;
		at_limit.expect = NO_RULE;
	}
	/* each on its own connection: a failure is counted and the next runs */
	stream_case(&small_writes);
	ping_pong();
	stream_case(&large_writes);
	stream_case(&at_limit);
	stream_case(&over_limit);
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
	tl_daemon_release(&d);

	if (rule_on) {
		tl_log("---- 5. flow_control refused: the rule cannot run");
		ASSERT_OK(tl_daemon_start_variant(&d, "flow_control", "base+"),
			  "sockacceld with flow_control refused");
		ASSERT_FALSE(tl_daemon_has_feature(&d, "flow_control"), "no flow_control in the variant");
		small_writes.name = "5. small writes, no flow control";
		small_writes.expect = NO_RULE;
		stream_case(&small_writes);
		ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
		ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
	}
cleanup:
	tl_daemon_release(&d);
	return tl_finish();
}
