// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Flow control (docs/design.md, "Flow control"): a sender whose receiver
 * falls behind is held back as TCP would hold it, and goes back to
 * redirecting once the receiver caught up, without reordering a byte.
 *
 *  1. A reader that does not read: non-blocking send()s of 64 KiB until
 *     EAGAIN (after a short wait for room, as TCP frees some). An
 *     accelerated connection accepts at most twice what a plain one does
 *     (made before sockacceld started, so never inserted), and its
 *     direction went to TCP. Then the reader reads everything byte-exact,
 *     and 16 MiB more are redirected again.
 *  2. SO_SNDTIMEO: a blocking send() to a reader that does not read times
 *     out with EAGAIN, as on TCP, instead of being accepted.
 *  3. Ordering while switching, flow_limit at its minimum (64 KiB): two
 *     connections at once (the machine's CPUs), writers sending bursts of
 *     1 B .. 512 KiB and mostly waiting for their reader in between,
 *     readers mixing MSG_WAITALL and plain reads of random sizes and
 *     pausing at random: every byte verified, the direction switched back
 *     and forth hundreds of times, never for good; the switch rate and the
 *     share of bytes redirected are printed as FIGURE lines.
 *
 * Where this kernel refuses flow_control (6.1 has no sock_recv_length
 * tracepoint), sockacceld must say so; the sticky bound it runs instead is
 * integration.membound's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "exitcodes.h"
#include "testlib.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define CHUNK (64 * KiB)
#define ROOM_WAIT_MS 300	/* how long "no more room" must last */
#define FLOW_LIMIT "2097152"	/* parts 1 and 2 */
#define STRESS_LEN (128 * MiB)
#define STRESS_FLOW_LIMIT "65536"	/* the smallest: a switch at every stall */
#define STRESS_CONNS 2
#define MAX_IO (256 * KiB)

static int set_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -errno : fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ? -errno : 0;
}

/* Bytes a non-blocking writer gets accepted before there is no room for
 * ROOM_WAIT_MS. Pattern @seed from offset 0. */
static __u64 fill_until_full(int fd, __u64 seed)
{
	static unsigned char buf[CHUNK];
	__u64 off = 0;

	for (;;) {
		ssize_t n;

		tl_pattern_fill(buf, seed, off, sizeof(buf));
		n = send(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			off += (__u64)n;
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			if (poll(&p, 1, ROOM_WAIT_MS) == 1 && (p.revents & POLLOUT))
				continue;
			return off;
		}
		return off;	/* an error: the caller's checks catch it */
	}
}

/* The bytes a never-reading receiver lets a writer queue, on @p. Sends a
 * pattern that the caller may read back (offset 0..*@accepted). */
static bool stalled_reader(const char *label, struct tl_pair *p, __u64 seed, __u64 *accepted)
{
	*accepted = fill_until_full(p->client, seed);
	tl_log("%s: a reader that does not read let the writer queue %llu bytes (%.2f MiB) "
	       "before EAGAIN", label, (unsigned long long)*accepted, (double)*accepted / MiB);
	return *accepted > 0;
}

static bool backpressure(struct tl_pair *plain)
{
	struct tl_pair_opts o = { .family = TL_INET4 };
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	__u64 before[SA_CNT_MAX], mid[SA_CNT_MAX], after[SA_CNT_MAX];
	__u64 plain_bytes = 0, accel_bytes = 0, seed = tl_seed("flowctl-eagain");
	struct tl_stream more;
	bool ok = false;

	tl_stream_init(&more, "after", 16 * MiB, TL_WRITE_SEND);
	tl_log("---- 1. a reader that does not read: EAGAIN as on TCP");
	ASSERT_TRUE(stalled_reader("plain TCP", plain, seed, &plain_bytes), "plain connection");
	ASSERT_OK(tl_xfer(plain->server, false, seed, plain_bytes, 20000),
		  "plain: the reader gets every byte");

	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	ASSERT_OK(tl_pair_in_map(&p, &o, pins.sock_hash), "connected pair, both in sock_hash");
	ASSERT_OK(tl_counters(&pins, before), "read counters");
	ASSERT_TRUE(stalled_reader("accelerated", &p, seed, &accel_bytes), "accelerated connection");
	ASSERT_OK(tl_counters(&pins, mid), "read counters");
	tl_counters_log("after filling", mid);
	tl_log("FIGURE queued before EAGAIN: plain TCP %.2f MiB, accelerated %.2f MiB (%.2fx)",
	       (double)plain_bytes / MiB, (double)accel_bytes / MiB,
	       (double)accel_bytes / (double)plain_bytes);
	ASSERT_GE(mid[SA_CNT_FLOW_TO_TCP] - before[SA_CNT_FLOW_TO_TCP], 1,
		  "the direction went to TCP (flow_switches_to_tcp)");
	ASSERT_LE(accel_bytes, 2 * plain_bytes,
		  "the writer is held back within twice what plain TCP lets it queue");
	ASSERT_TRUE(tl_sock_fallback(p.client) == 0, "flow control is not the sticky fallback");

	ASSERT_OK(set_blocking(p.server), "blocking reader");
	ASSERT_OK(tl_xfer(p.server, false, seed, accel_bytes, 20000),
		  "the reader gets every byte, in order");
	ASSERT_OK(set_blocking(p.client), "blocking writer");
	/* more traffic, now that the reader caught up: redirected again */
	ASSERT_OK(tl_stream_start(&more, p.client, p.server), "start 16 MiB more");
	ASSERT_OK(tl_stream_join(&more, 30000), "16 MiB more, byte-exact");
	ASSERT_OK(tl_counters(&pins, after), "read counters");
	tl_counters_log("after catching up", after);
	ASSERT_GE(after[SA_CNT_FLOW_TO_REDIRECT] - before[SA_CNT_FLOW_TO_REDIRECT], 1,
		  "once the reader caught up the writer redirects again");
	ASSERT_GE(after[SA_CNT_BYTES_REDIRECTED] - mid[SA_CNT_BYTES_REDIRECTED], 15 * MiB,
		  "the 16 MiB after it went redirected");
	ok = true;
cleanup:
	tl_stream_stop(&more);
	tl_pair_close(&p);
	tl_pins_close(&pins);
	return ok;
}

static bool send_timeout(void)
{
	struct tl_pair_opts o = { .family = TL_INET6 };
	struct tl_pair p = TL_PAIR_INIT;
	struct timeval tv = { .tv_usec = 200 * 1000 };
	static unsigned char buf[CHUNK];
	long long t0, waited = -1;
	__u64 sent = 0;
	bool ok = false;

	tl_log("---- 2. SO_SNDTIMEO: a blocking send to a reader that does not read times out");
	ASSERT_OK(tl_pair_make(&p, &o), "tl_pair_make");
	ASSERT_OK(set_blocking(p.client), "blocking writer");
	ASSERT_OK(setsockopt(p.client, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), "SO_SNDTIMEO");
	memset(buf, 'x', sizeof(buf));
	while (sent < 1024 * MiB) {
		ssize_t n;

		t0 = tl_now_ms();
		n = send(p.client, buf, sizeof(buf), MSG_NOSIGNAL);
		if (n < 0) {
			waited = tl_now_ms() - t0;
			ASSERT_EQ(errno, EAGAIN, "the timed-out send says EAGAIN");
			break;
		}
		sent += (__u64)n;
	}
	tl_log("the blocking writer timed out after %llu bytes (%.2f MiB), waiting %lld ms",
	       (unsigned long long)sent, (double)sent / MiB, waited);
	ASSERT_GE(waited, 150, "the send blocked about as long as SO_SNDTIMEO");
	ASSERT_LE(sent, 64 * MiB, "the writer was held back, not left to queue without end");
	ok = true;
cleanup:
	tl_pair_close(&p);
	return ok;
}

/* ---- 3. ordering while switching ---------------------------------------- */

struct stress {
	struct tl_pair p;
	__u64 seed;
	unsigned int rnd;
	pthread_t wt, rt;
	int werr, rerr;
	char rwhy[256];
	_Atomic __u64 written, read;
	atomic_bool stop;
};

static unsigned int next_rand(unsigned int *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Bursts of 1 B .. 512 KiB in sends of 1 B .. 128 KiB; after most bursts
 * the writer waits until the reader has read everything, so its next
 * message finds the receiver caught up (the switch back); after some it
 * does not, so TCP phases overlap. */
static void *stress_writer(void *arg)
{
	struct stress *x = arg;
	static __thread unsigned char buf[MAX_IO];
	unsigned int rnd = x->rnd ^ 0x5a5a5a5au;
	__u64 off = 0;

	while (off < STRESS_LEN && !x->stop) {
		__u64 burst = 1 + next_rand(&rnd) % (2 * MAX_IO), end = off + burst;

		if (end > STRESS_LEN)
			end = STRESS_LEN;
		while (off < end) {
			size_t n = 1 + next_rand(&rnd) % (MAX_IO / 2);
			ssize_t w;

			if (n > end - off)
				n = (size_t)(end - off);
			tl_pattern_fill(buf, x->seed, off, n);
			w = send(x->p.client, buf, n, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EINTR || errno == EAGAIN)
					continue;
				x->werr = -errno;
				return NULL;
			}
			off += (__u64)w;
			x->written = off;
		}
		if (next_rand(&rnd) % 4)
			while (x->read < off && !x->stop)
				usleep(10);
	}
	shutdown(x->p.client, SHUT_WR);
	return NULL;
}

/* Reads of 1 B .. 256 KiB, with MSG_WAITALL when that much is already
 * written (so that it cannot wait for a burst the writer holds back),
 * every byte checked; now and then it falls behind. */
static void *stress_reader(void *arg)
{
	struct stress *x = arg;
	static __thread unsigned char buf[MAX_IO];
	unsigned int rnd = x->rnd;
	long long last = tl_now_ms();
	__u64 got = 0;

	while (got < STRESS_LEN && !x->stop) {
		size_t want = 1 + next_rand(&rnd) % MAX_IO, bad;
		int flags = 0;
		ssize_t r;

		if (want > STRESS_LEN - got)
			want = (size_t)(STRESS_LEN - got);
		if (next_rand(&rnd) % 2 && x->written - got >= want)
			flags = MSG_WAITALL;
		r = recv(x->p.server, buf, want, flags);
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			/* SO_RCVTIMEO, or tcp_bpf's spurious wake-up */
			if (tl_now_ms() - last > 20000) {
				x->rerr = -ETIMEDOUT;
				snprintf(x->rwhy, sizeof(x->rwhy), "no data for 20 s at offset %llu",
					 (unsigned long long)got);
				return NULL;
			}
			continue;
		}
		if (r <= 0) {
			x->rerr = r ? -errno : -EPIPE;
			snprintf(x->rwhy, sizeof(x->rwhy), "%s at offset %llu",
				 r ? strerror(errno) : "EOF", (unsigned long long)got);
			return NULL;
		}
		bad = tl_pattern_check(buf, x->seed, got, (size_t)r);
		if (bad != (size_t)r) {
			x->rerr = -EILSEQ;
			snprintf(x->rwhy, sizeof(x->rwhy), "wrong byte at offset %llu (read of %zd "
				 "with%s MSG_WAITALL)", (unsigned long long)(got + bad), r,
				 flags ? "" : "out");
			return NULL;
		}
		got += (__u64)r;
		x->read = got;
		last = tl_now_ms();
		if (next_rand(&rnd) % 256 == 0)
			usleep(200 + next_rand(&rnd) % 2000);
	}
	return NULL;
}

static bool switching(void)
{
	struct tl_pair_opts o = { .family = TL_INET4 };
	struct tl_pins pins = TL_PINS_INIT;
	struct stress x[STRESS_CONNS] = {};
	struct timeval tv = { .tv_sec = 1 };
	__u64 before[SA_CNT_MAX], after[SA_CNT_MAX], to_tcp, back, redir, via_tcp;
	long long t0, ms;
	bool ok = false;
	int started = 0;

	tl_log("---- 3. %d connections at once, %llu MiB each, flow_limit %s, writers with no "
	       "window, readers mixing MSG_WAITALL and plain reads and falling behind at random",
	       STRESS_CONNS, (unsigned long long)(STRESS_LEN / MiB), STRESS_FLOW_LIMIT);
	for (int i = 0; i < STRESS_CONNS; i++) {
		x[i].p = (struct tl_pair)TL_PAIR_INIT;
		x[i].rnd = 0x1234567u * (unsigned int)(i + 1);
	}
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	for (int i = 0; i < STRESS_CONNS; i++) {
		char label[32];

		snprintf(label, sizeof(label), "flowctl-stress-%d", i);
		x[i].seed = tl_seed(label);
		ASSERT_OK(tl_pair_make(&x[i].p, &o), "tl_pair_make");
		ASSERT_EQ(tl_sock_map_state(pins.sock_hash, x[i].p.client), TL_IN_MAP,
			  "client in sock_hash");
		ASSERT_OK(set_blocking(x[i].p.client), "blocking writer");
		ASSERT_OK(set_blocking(x[i].p.server), "blocking reader");
		ASSERT_OK(setsockopt(x[i].p.server, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)),
			  "SO_RCVTIMEO on the reader");
	}
	ASSERT_OK(tl_counters(&pins, before), "read counters");
	t0 = tl_now_ms();
	for (; started < STRESS_CONNS; started++) {
		ASSERT_OK(pthread_create(&x[started].rt, NULL, stress_reader, &x[started]), "reader");
		if (pthread_create(&x[started].wt, NULL, stress_writer, &x[started])) {
			pthread_cancel(x[started].rt);
			pthread_join(x[started].rt, NULL);
			FAIL("can't start a writer thread");
		}
	}
	for (int i = 0; i < started; i++) {
		pthread_join(x[i].wt, NULL);
		pthread_join(x[i].rt, NULL);
	}
	ms = tl_now_ms() - t0;
	started = 0;
	ASSERT_OK(tl_counters(&pins, after), "read counters");
	tl_counters_log("after the stress", after);
	for (int i = 0; i < STRESS_CONNS; i++) {
		if (x[i].werr)
			FAIL("connection %d: the writer failed: %s", i, strerror(-x[i].werr));
		if (x[i].rerr)
			FAIL("connection %d: the reader failed: %s", i, x[i].rwhy);
	}
	to_tcp = after[SA_CNT_FLOW_TO_TCP] - before[SA_CNT_FLOW_TO_TCP];
	back = after[SA_CNT_FLOW_TO_REDIRECT] - before[SA_CNT_FLOW_TO_REDIRECT];
	redir = after[SA_CNT_BYTES_REDIRECTED] - before[SA_CNT_BYTES_REDIRECTED];
	via_tcp = after[SA_CNT_BYTES_FLOW_TCP] - before[SA_CNT_BYTES_FLOW_TCP];
	tl_log("FIGURE switching: %d x %llu MiB byte-exact in %lld ms; %llu switches to TCP and "
	       "%llu back (%.0f per second); %.1f%% of the bytes redirected", STRESS_CONNS,
	       (unsigned long long)(STRESS_LEN / MiB), ms, (unsigned long long)to_tcp,
	       (unsigned long long)back, (double)(to_tcp + back) * 1000.0 / (double)(ms ? ms : 1),
	       100.0 * (double)redir / (double)(redir + via_tcp ? redir + via_tcp : 1));
	ASSERT_GE(to_tcp, 300, "the writers went to TCP again and again");
	ASSERT_GE(back, 300, "and back to redirecting again and again");
	/* but for the half-close at each stream's end (two ends each) */
	ASSERT_LE(after[SA_CNT_FALLBACKS] - before[SA_CNT_FALLBACKS],
		  2 * (after[SA_CNT_HALFCLOSE_DEMOTED] + after[SA_CNT_HALFCLOSE_BUSY] -
		       before[SA_CNT_HALFCLOSE_DEMOTED] - before[SA_CNT_HALFCLOSE_BUSY]),
		  "nothing fell back for good");
	ok = true;
cleanup:
	for (int i = 0; i < started; i++) {
		x[i].stop = true;
		shutdown(x[i].p.client, SHUT_RDWR);
		shutdown(x[i].p.server, SHUT_RDWR);
		pthread_join(x[i].wt, NULL);
		pthread_join(x[i].rt, NULL);
	}
	for (int i = 0; i < STRESS_CONNS; i++)
		tl_pair_close(&x[i].p);
	tl_pins_close(&pins);
	return ok;
}

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pair_opts o = { .family = TL_INET4 };
	struct tl_pair plain = TL_PAIR_INIT;

	ASSERT_OK(tl_init("flowctl", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_config_write("flow_limit = " FLOW_LIMIT "\n"), "flow_limit 2 MiB");
	/* made before sockacceld attaches: never inserted, plain TCP */
	ASSERT_OK(tl_pair_make(&plain, &o), "the plain TCP connection");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	if (!tl_daemon_has_feature(&d, "flow_control")) {
		/* the documented rung below: the sticky bound (integration.membound) */
		ASSERT_TRUE(tl_daemon_output_contains(&d, "flow_control refused"),
			    "without flow control sockacceld names the refusal and its reason");
		tl_log("this kernel refused flow_control (the reason is in sockacceld's log); "
		       "its connections get the sticky bound, which integration.membound tests");
		ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
		goto cleanup;
	}
	ASSERT_TRUE(backpressure(&plain), "a reader that does not read");
	ASSERT_TRUE(send_timeout(), "SO_SNDTIMEO");
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	tl_daemon_release(&d);
	ASSERT_OK(tl_config_write("flow_limit = " STRESS_FLOW_LIMIT "\n"),
		  "the smallest flow limit, to switch as often as possible");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "restart sockacceld");
	ASSERT_TRUE(switching(), "ordering while switching");
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	tl_pair_close(&plain);
	tl_daemon_release(&d);
	return tl_finish();
}
