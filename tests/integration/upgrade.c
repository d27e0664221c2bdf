// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Live upgrade under load: sockacceld runs the built-in programs, one
 * connection streams both ways, and a child in the cgroup opens new
 * connections back to back (connect, 64 KiB each way, check, close) the
 * whole time. Then sockacceld is restarted with sockaccel_testv2.bpf.o
 * (--bpf-object; it counts every program run in counter slot
 * SA_CNT_TEST_VARIANT) and back again with the built-in programs.
 *  - The stream loses nothing and stays accelerated.
 *  - Every connection opened at any moment, restarts included, is
 *    accelerated: both sockets in sock_hash with their own cookie, TCP
 *    carried none of the exchange. The test-variant counter says which
 *    version handled it: every connection opened while testv2 was in place
 *    ran testv2, every one opened before it or after the way back ran the
 *    built-in programs.
 *  - sock_hash keeps its map id, the links keep their ids, the programs in
 *    them change (tags of testv2, then the built-in tags again), and there is
 *    always exactly one sockops program on the cgroup and one sk_msg program
 *    on the map.
 * Five such cycles. Then a pinned layout of another version: rewriting the pinned layout
 * map's version makes sockacceld exit 4, saying how to migrate
 * (sockaccelctl disable), with nothing changed; the right version starts.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <bpf/bpf.h>

#include "exitcodes.h"
#include "pins.h"
#include "testlib.h"

#define MiB (1ULL << 20)
#define STREAM_LEN (64 * MiB)
#define XCHG (64 << 10)
#define PER_PHASE 100		/* connections each steady phase must see */
#define CYCLES 5		/* built-in -> testv2 -> built-in */

enum phase {
	PH_BUILTIN,		/* built-in programs, before the upgrade */
	PH_TO_V2,		/* restarting into testv2 */
	PH_V2,			/* testv2 in place */
	PH_TO_V1,		/* restarting back */
	PH_BACK,		/* built-in programs again */
	PH_STOP,
	PH_N = PH_STOP,
};

static const char *const phase_names[PH_N] = {
	"built-in", "restart into testv2", "testv2", "restart back", "built-in again",
};

struct opener {
	atomic_int phase;
	struct {
		_Atomic __u64 opened, accelerated, v2, v1;
	} ph[PH_N];
	atomic_int failures;
	char why[512];
};

/* One connection: open, check, exchange, check, close. */
static int one_connection(struct opener *op, int lfd, __u16 port, const struct tl_pins *pins,
			  unsigned int n, char *why, size_t wlen)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 10 };
	int ph = atomic_load(&op->phase), c = -1, a = -1, err = 0;
	__u64 before = 0, after = 0, seed = tl_seed("upgrade opener") + n;
	struct tl_tcp_bytes cb, ab;
	int cs, as;

	if (tl_counter_slot(pins, SA_CNT_TEST_VARIANT, &before))
		return -EIO;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		err = -errno;
		snprintf(why, wlen, "connection %u: connect: %s", n, strerror(errno));
		goto out;
	}
	a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (a < 0) {
		err = -errno;
		snprintf(why, wlen, "connection %u: accept: %s", n, strerror(errno));
		goto out;
	}
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(a, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cs = tl_sock_map_state(pins->sock_hash, c);
	as = tl_sock_map_state(pins->sock_hash, a);
	if ((err = tl_warm_up(c, a)) ||
	    (err = tl_xfer(c, true, seed, XCHG, 10000)) ||
	    (err = tl_xfer(a, false, seed, XCHG, 10000)) ||
	    (err = tl_xfer(a, true, ~seed, XCHG, 10000)) ||
	    (err = tl_xfer(c, false, ~seed, XCHG, 10000))) {
		snprintf(why, wlen, "connection %u (opened during \"%s\"): the 64 KiB exchange "
			 "failed: %s", n, phase_names[ph], strerror(-err));
		goto out;
	}
	if (tl_tcp_bytes(c, &cb) || tl_tcp_bytes(a, &ab)) {
		err = -EIO;
		goto out;
	}
	atomic_fetch_add(&op->ph[ph].opened, 1);
	if (cs != TL_IN_MAP || as != TL_IN_MAP || cb.sent > TL_BYPASS_MAX(XCHG) ||
	    ab.sent > TL_BYPASS_MAX(XCHG)) {
		err = -ENOENT;
		snprintf(why, wlen, "connection %u (opened during \"%s\") not accelerated: client "
			 "%s, server %s, TCP carried %llu and %llu bytes", n, phase_names[ph],
			 tl_map_state_name(cs), tl_map_state_name(as),
			 (unsigned long long)cb.sent, (unsigned long long)ab.sent);
		goto out;
	}
	atomic_fetch_add(&op->ph[ph].accelerated, 1);
out:
	if (c >= 0)
		close(c);
	if (a >= 0)
		close(a);
	if (!err && tl_counter_slot(pins, SA_CNT_TEST_VARIANT, &after) == 0)
		atomic_fetch_add(after > before ? &op->ph[ph].v2 : &op->ph[ph].v1, 1);
	return err;
}

/* The child: connections back to back until PH_STOP. */
static int opener_main(void *arg, int ctl)
{
	struct opener *op = arg;
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	struct tl_pins pins = TL_PINS_INIT;
	char why[512];
	int lfd, err;

	(void)ctl;
	if (tl_pins_open(&pins))
		return 1;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(lfd, 64) < 0 || getsockname(lfd, (struct sockaddr *)&sin, &sl) < 0)
		return 1;
	for (unsigned int n = 0; atomic_load(&op->phase) != PH_STOP; n++) {
		err = one_connection(op, lfd, ntohs(sin.sin_port), &pins, n, why, sizeof(why));
		if (err && atomic_fetch_add(&op->failures, 1) == 0)
			snprintf(op->why, sizeof(op->why), "%s", why);
	}
	close(lfd);
	tl_pins_close(&pins);
	return 0;
}

static struct tl_stream c2s, s2c;
static unsigned int steps;

/* The stream goes on in steps, so that bytes are in flight in every phase. */
static void set_phase(struct opener *op, enum phase ph)
{
	__u64 upto = (__u64)++steps * (STREAM_LEN / (4 * CYCLES + 2));

	tl_stream_allow(&c2s, upto);
	tl_stream_allow(&s2c, upto);
	atomic_store(&op->phase, (int)ph);
	tl_log("---- phase: %s", ph < PH_N ? phase_names[ph] : "stop");
}

/* Let the opener complete PER_PHASE more connections in the current phase. */
static int wait_phase_conns(struct opener *op, struct tl_daemon *d)
{
	int ph = atomic_load(&op->phase);
	__u64 from = atomic_load(&op->ph[ph].opened);

	return TL_WAIT_FOR((tl_daemon_poll(d), atomic_load(&op->ph[ph].opened) >= from + PER_PHASE ||
			    atomic_load(&op->failures) > 0), 60000) ? 0 : -ETIMEDOUT;
}

struct tags {
	__u8 sockops[BPF_TAG_SIZE], msg[BPF_TAG_SIZE];
	__u32 sockops_id, msg_id;
};

static int read_tags(struct tags *t)
{
	int err = tl_pin_prog_tag(SA_PIN_PROG_SOCKOPS, t->sockops, &t->sockops_id);

	return err ? err : tl_pin_prog_tag(SA_PIN_PROG_MSG, t->msg, &t->msg_id);
}

static bool same_tag(const __u8 *a, const __u8 *b)
{
	return memcmp(a, b, BPF_TAG_SIZE) == 0;
}

/* One attachment, same map and links, programs @want (or not @unwant). */
static bool check_fastpath(const char *label, const struct tl_fastpath *first,
			   const struct tags *want, const struct tags *unwant)
{
	struct tl_fastpath now;
	struct tags t;
	bool ok = false;

	ASSERT_OK(tl_fastpath_read(&now), "read the pinned fast path");
	tl_fastpath_log(label, &now);
	ASSERT_EQ(now.map_id, first->map_id, "sock_hash map id unchanged");
	ASSERT_EQ(now.link_sockops, first->link_sockops, "sockops link updated in place");
	ASSERT_EQ(now.link_msg, first->link_msg, "sk_msg link updated in place");
	ASSERT_EQ(now.cg_progs, 1, "one sockops program on the cgroup");
	ASSERT_EQ(now.msg_progs, 1, "one sk_msg program on the map");
	ASSERT_OK(read_tags(&t), "read the pinned programs' tags");
	ASSERT_EQ(now.prog_sockops, t.sockops_id, "the sockops link runs the pinned program");
	ASSERT_EQ(now.prog_msg, t.msg_id, "the sk_msg link runs the pinned program");
	if (want) {
		ASSERT_TRUE(same_tag(t.sockops, want->sockops), "sockops program is the expected build");
		ASSERT_TRUE(same_tag(t.msg, want->msg), "sk_msg program is the expected build");
	}
	if (unwant) {
		ASSERT_FALSE(same_tag(t.sockops, unwant->sockops), "sockops program was replaced");
		ASSERT_FALSE(same_tag(t.msg, unwant->msg), "sk_msg program was replaced");
	}
	ok = true;
cleanup:
	return ok;
}

static bool restart(struct tl_daemon *d, const char *const *args, const char *what)
{
	bool ok = false;

	ASSERT_OK(tl_daemon_stop(d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d->status, SA_EXIT_OK, "sockacceld after SIGTERM");
	tl_daemon_release(d);
	ASSERT_OK(tl_daemon_start_ready(d, args, 0), what);
	ok = true;
cleanup:
	return ok;
}

/* Rewrite the pinned layout's version; returns the old value in *old. */
static int layout_set_version(__u32 version, struct sa_layout *old)
{
	char path[PATH_MAX];
	struct sa_layout l;
	__u32 zero = 0;
	int fd, err = 0;

	if (tl_pin_path(path, SA_PIN_LAYOUT))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	if (bpf_map_lookup_elem(fd, &zero, &l) < 0) {
		err = -errno;
		goto out;
	}
	if (old)
		*old = l;
	l.version = version;
	if (bpf_map_update_elem(fd, &zero, &l, BPF_ANY) < 0)
		err = -errno;
out:
	close(fd);
	return err;
}

static bool foreign_layout(struct tl_daemon *d, const struct tl_fastpath *first)
{
	struct sa_layout old, now;
	struct tl_fastpath fp;
	char want[PATH_MAX + 128];
	bool ok = false;

	tl_log("---- a pinned layout of another version");
	ASSERT_OK(tl_daemon_stop(d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	tl_daemon_release(d);
	ASSERT_OK(layout_set_version(SA_LAYOUT_VERSION + 1, &old), "rewrite the layout version");
	ASSERT_EQ(old.version, SA_LAYOUT_VERSION, "the pinned layout had our version");
	ASSERT_OK(tl_daemon_start(d, NULL, 0), "start sockacceld");
	ASSERT_OK(tl_daemon_wait_exit(d, TL_READY_MS), "sockacceld exits");
	ASSERT_EXIT(d->status, SA_EXIT_PINNED_STATE, "sockacceld on a pinned layout of version 2");
	tl_daemon_log_lines(d, "error:");
	snprintf(want, sizeof(want), "has layout version %u, this sockacceld uses %u",
		 SA_LAYOUT_VERSION + 1, SA_LAYOUT_VERSION);
	ASSERT_TRUE(tl_daemon_output_contains(d, want), "the message names both versions");
	snprintf(want, sizeof(want), "sockaccelctl --pin-dir %s disable", tl_env.pin_dir);
	ASSERT_TRUE(tl_daemon_output_contains(d, "migrate"), "the message says how to migrate");
	ASSERT_TRUE(tl_daemon_output_contains(d, want),
		    "the message names the command that drains the old fast path");
	tl_daemon_release(d);

	/* nothing was changed: the layout still says version 2, same map */
	ASSERT_OK(layout_set_version(SA_LAYOUT_VERSION, &now), "restore the layout version");
	ASSERT_EQ(now.version, SA_LAYOUT_VERSION + 1, "the refused start left the layout alone");
	ASSERT_OK(tl_fastpath_read(&fp), "read the pinned fast path");
	ASSERT_EQ(fp.map_id, first->map_id, "the refused start left sock_hash alone");
	ASSERT_EQ(fp.cg_progs, 1, "still one sockops program on the cgroup");
	ASSERT_OK(tl_daemon_start_ready(d, NULL, 0), "start with the layout restored");
	ok = true;
cleanup:
	return ok;
}

int main(void)
{
	struct tl_pair_opts o = { .family = TL_INET4 };
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_child opener = { .pid = -1, .ctl = -1, .pidfd = -1 };
	struct tl_ctx in_cg = {};
	struct tl_fastpath first;
	struct tl_tcp_bytes cb, sb;
	struct tags builtin, v2;
	struct opener *op = NULL;
	char testv2[PATH_MAX];
	const char *v2_args[] = { "--bpf-object", testv2, NULL };
	__u64 var0 = 0, var1 = 0, total = 0;
	int status;

	tl_stream_init(&c2s, "upgrade c2s", STREAM_LEN, TL_WRITE_SEND);
	tl_stream_init(&s2c, "upgrade s2c", STREAM_LEN, TL_WRITE_SPLICE);
	ASSERT_OK(tl_init("upgrade", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_bpf_object_path(testv2, "sockaccel_testv2.bpf.o"), "testv2 object path");
	ASSERT_OK(access(testv2, R_OK), testv2);
	op = tl_shared_alloc(sizeof(*op));
	ASSERT_TRUE(op != NULL, "shared memory for the opener");

	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_fastpath_read(&first), "read the pinned fast path");
	ASSERT_OK(read_tags(&builtin), "tags of the built-in programs");
	ASSERT_TRUE(check_fastpath("built-in", &first, &builtin, NULL), "initial state");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");

	/* the stream, inserted with the built-in programs */
	ASSERT_OK(tl_pair_in_map(&p, &o, pins.sock_hash), "connected pair, both in sock_hash");
	c2s.pace_us = s2c.pace_us = 2000;
	c2s.gated = s2c.gated = true;
	ASSERT_OK(tl_stream_start(&c2s, p.client, p.server), "start client->server stream");
	ASSERT_OK(tl_stream_start(&s2c, p.server, p.client), "start server->client stream");

	set_phase(op, PH_BUILTIN);
	ASSERT_OK(tl_child_start(&opener, &in_cg, opener_main, op), "start the connection opener");
	ASSERT_OK(wait_phase_conns(op, &d), "connections with the built-in programs");

	set_phase(op, PH_TO_V2);
	ASSERT_TRUE(restart(&d, v2_args, "restart sockacceld with sockaccel_testv2.bpf.o"),
		    "upgrade to testv2");

	for (int cycle = 1; cycle <= CYCLES; cycle++) {
		tl_log("==== upgrade cycle %d/%d", cycle, CYCLES);
		if (cycle > 1) {
			set_phase(op, PH_TO_V2);
			ASSERT_TRUE(restart(&d, v2_args,
					    "restart sockacceld with sockaccel_testv2.bpf.o"),
				    "upgrade to testv2");
		}
		ASSERT_OK(tl_counter_slot(&pins, SA_CNT_TEST_VARIANT, &var0),
			  "test-variant counter");
		set_phase(op, PH_V2);
		ASSERT_OK(read_tags(&v2), "tags of the testv2 programs");
		ASSERT_TRUE(check_fastpath("testv2", &first, NULL, &builtin), "after the upgrade");
		ASSERT_OK(wait_phase_conns(op, &d), "connections with testv2");
		ASSERT_OK(tl_counter_slot(&pins, SA_CNT_TEST_VARIANT, &var1),
			  "test-variant counter");
		tl_log("test-variant counter %llu -> %llu while testv2 is in place",
		       (unsigned long long)var0, (unsigned long long)var1);
		ASSERT_GT(var1, var0, "testv2 runs for the new connections");

		set_phase(op, PH_TO_V1);
		ASSERT_TRUE(restart(&d, NULL, "restart sockacceld with the built-in programs"),
			    "back to the built-in programs");
		set_phase(op, PH_BACK);
		ASSERT_TRUE(check_fastpath("built-in again", &first, &builtin, &v2),
			    "after going back");
		ASSERT_OK(wait_phase_conns(op, &d), "connections with the built-in programs again");
	}

	set_phase(op, PH_STOP);
	ASSERT_OK(tl_child_wait(&opener, 30000, &status), "the opener stops");
	ASSERT_EXIT(status, 0, "the opener");
	for (int ph = 0; ph < PH_N; ph++) {
		tl_log("FIGURE upgrade: during \"%s\": %llu connections opened, %llu accelerated "
		       "(%llu by testv2, %llu by the built-in programs)", phase_names[ph],
		       (unsigned long long)op->ph[ph].opened,
		       (unsigned long long)op->ph[ph].accelerated,
		       (unsigned long long)op->ph[ph].v2, (unsigned long long)op->ph[ph].v1);
		total += op->ph[ph].opened;
	}
	if (atomic_load(&op->failures))
		FAIL("%d of the connections opened during the upgrade failed; the first: %s",
		     atomic_load(&op->failures), op->why);
	for (int ph = 0; ph < PH_N; ph++)
		ASSERT_EQ(op->ph[ph].accelerated, op->ph[ph].opened,
			  "every connection accelerated by one version or the other");
	ASSERT_EQ(op->ph[PH_V2].v2, op->ph[PH_V2].opened,
		  "every connection opened while testv2 was in place ran testv2");
	ASSERT_EQ(op->ph[PH_BUILTIN].v1, op->ph[PH_BUILTIN].opened,
		  "connections before the upgrade ran the built-in programs");
	ASSERT_EQ(op->ph[PH_BACK].v1, op->ph[PH_BACK].opened,
		  "connections after the way back ran the built-in programs");

	tl_stream_allow(&c2s, STREAM_LEN);
	tl_stream_allow(&s2c, STREAM_LEN);
	ASSERT_OK(tl_stream_join(&c2s, 120000), "client->server stream byte-exact across upgrades");
	ASSERT_OK(tl_stream_join(&s2c, 120000), "server->client stream byte-exact across upgrades");
	ASSERT_OK(tl_tcp_bytes(p.client, &cb), "TCP_INFO client");
	ASSERT_OK(tl_tcp_bytes(p.server, &sb), "TCP_INFO server");
	ASSERT_LE(cb.sent, TL_BYPASS_MAX(STREAM_LEN), "the stream stayed accelerated (client)");
	ASSERT_LE(sb.sent, TL_BYPASS_MAX(STREAM_LEN), "the stream stayed accelerated (server)");
	tl_log("FIGURE upgrade: 2 x %llu MiB streamed byte-exact across %d upgrades and %d "
	       "downgrades; %llu connections opened meanwhile, all accelerated",
	       (unsigned long long)(STREAM_LEN / MiB), CYCLES, CYCLES, (unsigned long long)total);

	ASSERT_TRUE(foreign_layout(&d, &first), "pinned layout of another version");
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	if (op)
		atomic_store(&op->phase, PH_STOP);
	if (opener.pid > 0)
		tl_child_wait(&opener, 10000, NULL);
	tl_stream_stop(&c2s);
	tl_stream_stop(&s2c);
	tl_pair_close(&p);
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	tl_shared_free(op, sizeof(*op));
	return tl_finish();
}
