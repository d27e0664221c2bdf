// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The per-connection memory bound (docs/design.md, "Bounded memory per
 * connection" and "Flow control"), with queue_limit = 4 MiB from the config
 * file. Each part sends 256 MiB of pattern in 1 MiB send()s to a receiver
 * that sleeps 3 s before it reads: byte-exact, EOF right after, and the
 * receiver's queued memory (SO_MEMINFO rmem_alloc, what `ss -tm` shows as
 * r, sampled every millisecond) peaks within the limit + one write + the
 * receiver's own TCP buffer (sk_rcvbuf).
 *
 *  0. Flow control, where this kernel loads it (its limit defaults to
 *     queue_limit): the writer goes over TCP (flow_switches_to_tcp) and TCP
 *     carries what was sent while the reader slept.
 *  1. Flow control refused (SOCKACCEL_TEST_REFUSE): the sticky bound; the
 *     writer's direction is marked in sk_state and counted
 *     (directions_fallen_back, msgs_fallback); the rest went over TCP.
 *  2. peer_bound refused too: peer_bound_read (bpf_probe_read_kernel)
 *     bounds the same transfer.
 *  3. Both peer reads refused: sockacceld reports variant base+budget and
 *     names the refusal, and the same transfer is bounded by the budget.
 *  4. Every bound refused: sockacceld exits SA_EXIT_NO_BOUND and names
 *     memory_bound = off; with that set, it runs, says it is unbounded by
 *     configuration, and the same transfer (at most a quarter of tcp_mem)
 *     is byte-exact, never marked, and peaks above what the bound allows
 *     (or the parts above proved nothing).
 *  5. The sticky bound again: 16 connections at once, readers alternately
 *     slow (asleep 2 s, then paced) and fast, writers never waiting for
 *     their reader: all byte-exact; every slow reader's writer fell back,
 *     and each slow receiver's peak is within the same bound.
 *
 * Figures (peaks, sockstat TCP memory) are printed as "FIGURE ..." lines.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcodes.h"
#include "testlib.h"
#include "variant.h"

#define MiB (1ULL << 20)
#define LIMIT (4 * MiB)
#define WRITE (1 * MiB)
#define TOTAL (256 * MiB)
#define SLEEP_MS 3000
#define NCONN 16
#define CONN_LEN (32 * MiB)
#define MAX_FDS NCONN

/* Samples the receive memory of some sockets, and the host's TCP memory. */
struct sampler {
	int fds[MAX_FDS];
	int nfds;
	__u32 peak[MAX_FDS];		/* rmem_alloc */
	__u32 rcvbuf_max[MAX_FDS];	/* largest sk_rcvbuf seen */
	long pages_base, pages_peak;	/* /proc/net/sockstat TCP mem */
	__u64 samples;
	atomic_bool stop;
	pthread_t th;
	bool running;
};

static void *sampler_main(void *arg)
{
	struct sampler *s = arg;

	while (!atomic_load(&s->stop)) {
		long pages;

		for (int i = 0; i < s->nfds; i++) {
			__u32 rmem, rcvbuf;

			if (tl_sock_rmem(s->fds[i], &rmem, &rcvbuf))
				continue;
			if (rmem > s->peak[i])
				s->peak[i] = rmem;
			if (rcvbuf > s->rcvbuf_max[i])
				s->rcvbuf_max[i] = rcvbuf;
		}
		if (tl_tcp_mem_pages(&pages) == 0 && pages > s->pages_peak)
			s->pages_peak = pages;
		s->samples++;
		usleep(1000);
	}
	return NULL;
}

static int sampler_start(struct sampler *s, const int *fds, int n)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->fds, fds, sizeof(int) * (size_t)n);
	s->nfds = n;
	tl_tcp_mem_pages(&s->pages_base);
	s->pages_peak = s->pages_base;
	if (pthread_create(&s->th, NULL, sampler_main, s))
		return -EAGAIN;
	s->running = true;
	return 0;
}

static void sampler_stop(struct sampler *s)
{
	if (!s->running)
		return;
	atomic_store(&s->stop, true);
	pthread_join(s->th, NULL);
	s->running = false;
}

/* What the bound allows a receiver to hold: the limit, the message that
 * crossed it, and TCP's own receive buffer once the direction is on TCP. */
static __u64 allowed(__u32 rcvbuf)
{
	return LIMIT + WRITE + rcvbuf;
}

/*
 * Without a bound the whole transfer sits at the receiver: a quarter of the
 * host's TCP memory limit (tcp_mem's third value) at most, so that a small
 * machine (the 2 GiB qemu guests) shows the queue growing past the bound
 * without every TCP socket of the host running short of memory.
 */
static __u64 unbounded_len(void)
{
	unsigned long lo, pressure, high;
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_mem", "re");
	__u64 len = TOTAL;

	if (f && fscanf(f, "%lu %lu %lu", &lo, &pressure, &high) == 3 &&
	    (__u64)high * 4096 / 4 < len)
		len = ((__u64)high * 4096 / 4) & ~(WRITE - 1);
	if (f)
		fclose(f);
	return len;
}

/*
 * @total bytes to a sleeping receiver. @bounded: the programs loaded carry
 * the bound. *@peak gets the receiver's peak rmem_alloc, *@allow what the
 * bound allowed it.
 */
/* What holds the writer back in a big_transfer(). */
enum holder {
	HOLD_FLOW,	/* flow control: TCP until the reader catches up */
	HOLD_STICKY,	/* the bound: TCP for good */
	HOLD_NONE,	/* memory_bound = off */
};

static bool big_transfer(const char *label, enum holder hold, __u64 *peak, __u64 *allow)
{
	bool bounded = hold != HOLD_NONE;
	__u64 total = bounded ? TOTAL : unbounded_len();
	struct tl_pair_opts o = { .family = TL_INET4 };
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct sampler smp = { .running = false };
	struct tl_stream s;
	struct tl_tcp_bytes cb;
	__u64 before[SA_CNT_MAX], after[SA_CNT_MAX];
	bool ok = false;
	int fb;

	tl_stream_init(&s, label, total, TL_WRITE_SEND);
	s.fixed_writes = true;
	s.max_write = WRITE;
	s.max_ahead = 0;		/* an application that never waits */
	s.read_delay_ms = SLEEP_MS;
	s.stall_ms = 60000;
	tl_log("---- %s: %llu MiB in %llu MiB writes, receiver asleep %d ms, %s", label,
	       (unsigned long long)(total / MiB), (unsigned long long)(WRITE / MiB), SLEEP_MS,
	       bounded ? "queue_limit 4 MiB" : "programs without the bound");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	ASSERT_OK(tl_pair_in_map(&p, &o, pins.sock_hash), "connected pair, both in sock_hash");
	ASSERT_EQ(tl_sock_fallback(p.client), 0, "a new connection has not fallen back");
	ASSERT_OK(tl_counters(&pins, before), "read counters");
	ASSERT_OK(sampler_start(&smp, &p.server, 1), "start the memory sampler");
	ASSERT_OK(tl_stream_start(&s, p.client, p.server), "start the stream");
	ASSERT_OK(tl_stream_join(&s, 150000), "the transfer byte-exact, EOF after the last byte");
	sampler_stop(&smp);
	ASSERT_OK(tl_counters(&pins, after), "read counters");
	tl_counters_log(label, after);
	ASSERT_OK(tl_tcp_bytes(p.client, &cb), "TCP_INFO client");
	fb = tl_sock_fallback(p.client);
	ASSERT_GE(fb, 0, "look the writer up in sk_state");

	*peak = smp.peak[0];
	*allow = allowed(smp.rcvbuf_max[0]);
	tl_log("FIGURE %s: peak queued at the receiver %llu bytes (%.2f MiB; allowed %llu = "
	       "limit %llu + write %llu + sk_rcvbuf %u); host TCP memory %ld -> peak %ld pages "
	       "(+%.1f MiB); %llu of %llu bytes over TCP; %llu samples", label,
	       (unsigned long long)*peak, (double)*peak / MiB, (unsigned long long)*allow,
	       (unsigned long long)LIMIT, (unsigned long long)WRITE, smp.rcvbuf_max[0],
	       smp.pages_base, smp.pages_peak,
	       (double)(smp.pages_peak - smp.pages_base) * 4096 / MiB,
	       (unsigned long long)cb.sent, (unsigned long long)total,
	       (unsigned long long)smp.samples);

	if (hold == HOLD_FLOW) {
		ASSERT_GE(after[SA_CNT_FLOW_TO_TCP] - before[SA_CNT_FLOW_TO_TCP], 1,
			  "the writer went over TCP (flow_switches_to_tcp)");
		ASSERT_GT(after[SA_CNT_MSG_FLOW_TCP] - before[SA_CNT_MSG_FLOW_TCP], 0,
			  "msgs_flow_tcp counts the messages sent over TCP");
		ASSERT_GT(cb.sent, 0, "TCP carried the bytes sent while the reader slept");
		ASSERT_LE(*peak, *allow,
			  "peak queued memory within the limit + one write + TCP's buffer");
	} else if (bounded) {
		ASSERT_EQ(fb, 1, "the writer's direction is marked fallen back in sk_state");
		ASSERT_GE(after[SA_CNT_FALLBACKS] - before[SA_CNT_FALLBACKS], 1,
			  "directions_fallen_back counts it");
		ASSERT_GT(after[SA_CNT_MSG_FALLBACK] - before[SA_CNT_MSG_FALLBACK], 0,
			  "msgs_fallback counts the messages sent over TCP");
		ASSERT_GT(cb.sent, 0, "after the fallback TCP carries the rest");
		ASSERT_LE(*peak, *allow,
			  "peak queued memory within queue_limit + one write + TCP's buffer");
	} else {
		/* the writer's shutdown(SHUT_WR) at the end marks both ends
		 * (the half-close guard); nothing else may */
		__u64 hc = after[SA_CNT_HALFCLOSE_DEMOTED] + after[SA_CNT_HALFCLOSE_BUSY] -
			   before[SA_CNT_HALFCLOSE_DEMOTED] - before[SA_CNT_HALFCLOSE_BUSY];

		tl_log("writer's fallback mark after its half-close: %d", fb);
		ASSERT_LE(after[SA_CNT_FALLBACKS] - before[SA_CNT_FALLBACKS], 2 * hc,
			  "no direction fell back without the bound, but for the half-close");
		ASSERT_LE(cb.sent, TL_BYPASS_MAX(total), "without the bound everything redirected");
		ASSERT_GT(*peak, *allow,
			  "without the bound the receiver holds more than the bound allows");
	}
	ok = true;
cleanup:
	sampler_stop(&smp);
	tl_stream_stop(&s);
	tl_pair_close(&p);
	tl_pins_close(&pins);
	return ok;
}

/* 16 connections at once, every other reader slow. */
static bool many(void)
{
	static const enum tl_write_mode modes[] = { TL_WRITE_SEND, TL_WRITE_SENDFILE,
						    TL_WRITE_SPLICE };
	struct tl_pair_opts o = { .family = TL_INET4 };
	struct tl_pins pins = TL_PINS_INIT;
	struct sampler smp = { .running = false };
	struct tl_pair p[NCONN];
	struct tl_stream s[NCONN];
	int rfds[NCONN];
	__u64 before[SA_CNT_MAX], after[SA_CNT_MAX], worst = 0, total = 0;
	unsigned int slow_fb = 0, fast_fb = 0;
	char name[48], what[128];
	bool ok = false;

	for (int i = 0; i < NCONN; i++) {
		p[i] = (struct tl_pair)TL_PAIR_INIT;
		snprintf(name, sizeof(name), "conn%d %s", i, i % 2 ? "fast" : "slow");
		tl_stream_init(&s[i], name, CONN_LEN, modes[i % 3]);
		s[i].max_ahead = 0;
		s[i].stall_ms = 60000;
		if (i % 2 == 0) {
			s[i].read_delay_ms = 2000;
			s[i].read_pace_us = 2000;
		}
	}
	tl_log("---- %d connections at once, %llu MiB each, readers alternately slow and fast",
	       NCONN, (unsigned long long)(CONN_LEN / MiB));
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	for (int i = 0; i < NCONN; i++) {
		snprintf(what, sizeof(what), "connection %d, both in sock_hash", i);
		ASSERT_OK(tl_pair_in_map(&p[i], &o, pins.sock_hash), what);
		rfds[i] = p[i].server;
	}
	ASSERT_OK(tl_counters(&pins, before), "read counters");
	ASSERT_OK(sampler_start(&smp, rfds, NCONN), "start the memory sampler");
	for (int i = 0; i < NCONN; i++)
		ASSERT_OK(tl_stream_start(&s[i], p[i].client, p[i].server), "start a stream");
	for (int i = 0; i < NCONN; i++) {
		snprintf(what, sizeof(what), "%.47s byte-exact, EOF after it", s[i].name);
		ASSERT_OK(tl_stream_join(&s[i], 150000), what);
		total += s[i].len;
	}
	sampler_stop(&smp);
	ASSERT_OK(tl_counters(&pins, after), "read counters");
	tl_counters_log("after 16 connections", after);
	for (int i = 0; i < NCONN; i++) {
		struct tl_tcp_bytes cb;
		int fb = tl_sock_fallback(p[i].client);

		ASSERT_GE(fb, 0, "look the writer up in sk_state");
		ASSERT_OK(tl_tcp_bytes(p[i].client, &cb), "TCP_INFO");
		tl_log("%s: %s, peak queued %u bytes (sk_rcvbuf up to %u), %llu bytes over TCP",
		       s[i].name, fb ? "fell back" : "stayed redirected", smp.peak[i],
		       smp.rcvbuf_max[i], (unsigned long long)cb.sent);
		if (i % 2 == 0) {
			snprintf(what, sizeof(what), "%.47s: the writer fell back", s[i].name);
			ASSERT_EQ(fb, 1, what);
			snprintf(what, sizeof(what), "%.47s: peak within the bound", s[i].name);
			ASSERT_LE(smp.peak[i], allowed(smp.rcvbuf_max[i]), what);
			if (smp.peak[i] > worst)
				worst = smp.peak[i];
			slow_fb++;
		} else {
			fast_fb += fb;
		}
	}
	ASSERT_GE(after[SA_CNT_FALLBACKS] - before[SA_CNT_FALLBACKS], slow_fb,
		  "directions_fallen_back counts every slow connection");
	tl_log("FIGURE 16 connections: %llu MiB byte-exact; %u slow writers fell back, %u of %d "
	       "fast ones; largest peak at a slow receiver %llu bytes (%.2f MiB); host TCP "
	       "memory peak +%.1f MiB", (unsigned long long)(total / MiB), slow_fb, fast_fb,
	       NCONN / 2, (unsigned long long)worst, (double)worst / MiB,
	       (double)(smp.pages_peak - smp.pages_base) * 4096 / MiB);
	ok = true;
cleanup:
	sampler_stop(&smp);
	for (int i = 0; i < NCONN; i++) {
		tl_stream_stop(&s[i]);
		tl_pair_close(&p[i]);
	}
	tl_pins_close(&pins);
	return ok;
}

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	__u64 peak_b = 0, allow_b = 0, peak_g = 0, allow_g = 0, peak_u = 0, allow_u = 0;
	__u64 peak_r = 0, allow_r = 0, peak_f = 0, allow_f = 0;

	ASSERT_OK(tl_init("membound", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_config_write("queue_limit = 4194304\n"), "write queue_limit to the config");

	/* 0. What this kernel gives: flow control where it loads. */
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_TRUE(tl_daemon_output_contains(&d, "queue limit from queue_limit"),
		    "sockacceld took the queue limit from the config file");
	if (tl_daemon_has_feature(&d, "flow_control")) {
		ASSERT_TRUE(big_transfer("flow", HOLD_FLOW, &peak_f, &allow_f),
			    "with flow control (its limit is queue_limit's by default)");
		ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
		tl_daemon_release(&d);
		/* the rungs below are the sticky bound's */
		ASSERT_OK(tl_daemon_start_variant(&d, "flow_control", "base+"),
			  "sockacceld with flow_control refused");
	}

	/* 1. The sticky in-kernel bound from the receiver's queue. */
	ASSERT_TRUE(big_transfer("bounded", HOLD_STICKY, &peak_b, &allow_b),
		    "with the bound this kernel gives");
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
	tl_daemon_release(&d);

	/* 2. The kfunc refused: the same bound through bpf_probe_read_kernel. */
	ASSERT_OK(tl_daemon_start_variant(&d, "peer_bound,flow_control", "base+peer_bound_read"),
		  "sockacceld with peer_bound refused reads the peer another way");
	ASSERT_TRUE(big_transfer("read", HOLD_STICKY, &peak_r, &allow_r), "with peer_bound_read");
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	tl_daemon_release(&d);

	/* 3. The peer cannot be read at all: the budget bounds it instead. */
	ASSERT_OK(tl_daemon_start_variant(&d, "peer_bound,peer_bound_read", "base+budget"),
		  "sockacceld with both peer reads refused runs the budget");
	ASSERT_TRUE(tl_daemon_output_contains(&d, "peer_bound refused"),
		    "sockacceld names the refused feature");
	ASSERT_TRUE(big_transfer("budget", HOLD_STICKY, &peak_g, &allow_g), "with the budget");
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	tl_daemon_release(&d);

	/* 4. No bound loads at all: refuses to start unless the operator said so. */
	setenv(SA_TEST_REFUSE_ENV, "peer_bound,peer_bound_read,budget", 1);
	ASSERT_OK(tl_daemon_start(&d, NULL, 0), "start sockacceld with both bounds refused");
	unsetenv(SA_TEST_REFUSE_ENV);
	ASSERT_OK(tl_daemon_wait_exit(&d, TL_STOP_MS), "sockacceld exits by itself");
	ASSERT_EXIT(d.status, SA_EXIT_NO_BOUND, "sockacceld without any memory bound");
	ASSERT_TRUE(tl_daemon_output_contains(&d, "memory_bound = off"),
		    "the refusal names the setting that allows it");
	tl_daemon_release(&d);
	ASSERT_OK(tl_config_write("queue_limit = 4194304\nmemory_bound = off\n"),
		  "the operator chooses no bound");
	ASSERT_OK(tl_daemon_start_variant(&d, NULL, "base"), "sockacceld with memory_bound = off");
	ASSERT_TRUE(tl_daemon_output_contains(&d, "memory bound off by configuration"),
		    "sockacceld says it runs unbounded by configuration");
	ASSERT_TRUE(big_transfer("unbounded", HOLD_NONE, &peak_u, &allow_u), "without the bound");
	tl_log("FIGURE peak memory of one slow connection: %.2f MiB without the bound, "
	       "%.2f MiB with flow control, %.2f MiB with the sticky bound, %.2f MiB with "
	       "peer_bound_read, %.2f MiB with the budget (queue_limit 4 MiB)",
	       (double)peak_u / MiB, (double)peak_f / MiB, (double)peak_b / MiB,
	       (double)peak_r / MiB, (double)peak_g / MiB);
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	tl_daemon_release(&d);

	ASSERT_OK(tl_config_write("queue_limit = 4194304\n"), "back to the default bound");
	ASSERT_OK(tl_daemon_start_variant(&d, "flow_control", "base+"),
		  "restart sockacceld with the sticky bound");
	ASSERT_TRUE(many(), "16 connections, slow and fast readers");

	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	unsetenv(SA_TEST_REFUSE_ENV);
	tl_daemon_release(&d);
	return tl_finish();
}
