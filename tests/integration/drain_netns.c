// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockaccelctl disable with a connection inside another network namespace.
 * sock_diag answers only for the caller's netns, so the drain
 * (daemon/lib/drain.c, drain_pass) enters each netns that holds entries,
 * found by its cookie among running processes:
 *  - a process in the test cgroup lives in a new netns and holds a loopback
 *    connection there, both ends in sock_hash under that netns's cookie,
 *    256 KiB redirected to its receiver and not read; an idle connection in
 *    the host netns beside it;
 *  - with sockacceld stopped, `disable --timeout 20` deletes the entries
 *    that hold nothing, the netns sender's included (the netns was
 *    visited), keeps the receiver's, and waits; once the receiver in the
 *    netns read every byte, in order, it exits 0 with 4 drained;
 *  - sock_hash is empty then (a drain that skipped the netns would time out
 *    with exit 5 and leave its two entries), no pin is left, nothing is
 *    attached, and the map and both programs are freed;
 *  - both connections go on over TCP, both ways, byte-exact.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "exitcodes.h"
#include "key.h"
#include "testlib.h"

#define HELD_BYTES	(256 * 1024)	/* redirected to the netns receiver, unread */
#define AFTER_BYTES	(1 << 20)	/* each way on each connection after the disable */
#define XFER_MS		20000
#define DISABLE_S	"20"		/* disable --timeout */
#define DISABLE_MS	60000		/* what the disable may take in all */
#define WAITING_MS	1000		/* the disable must still wait after this long */

/* What the test asks of the process in the netns, and its answer. */
enum ns_op { NS_READ = 1, NS_WRITE, NS_EXIT };

struct ns_cmd {
	int op;
	__u64 seed;
	__u64 len;
};

struct ns_reply {
	int err;
};

/*
 * The process in the new netns (and the test cgroup): makes a loopback
 * connection there, hands both ends to the test, then reads or writes
 * pattern bytes on the accepted end when told, and stays in the netns until
 * told to exit, so that the drain can find the netns by its cookie.
 */
static int netns_child(void *arg, int ctl)
{
	struct tl_pair_opts po = { .family = TL_INET4 };	/* made here, in this netns */
	struct tl_pair p = TL_PAIR_INIT;
	struct ns_reply rep = {};
	struct ns_cmd cmd;
	int fds[2], err;

	(void)arg;
	rep.err = tl_pair_make(&p, &po);
	fds[0] = p.client;
	fds[1] = p.server;
	err = tl_send_msg(ctl, &rep, sizeof(rep), fds, rep.err ? 0 : 2);
	if (rep.err || err)
		goto cleanup;
	for (;;) {
		err = tl_recv_msg(ctl, &cmd, sizeof(cmd), NULL, 0, NULL, 2 * DISABLE_MS);
		if (err || cmd.op == NS_EXIT)
			break;
		rep.err = tl_xfer(p.server, cmd.op == NS_WRITE, cmd.seed, cmd.len, XFER_MS);
		if (rep.err)
			tl_log("netns receiver: %s %llu bytes: %s",
			       cmd.op == NS_WRITE ? "writing" : "reading and checking",
			       (unsigned long long)cmd.len, strerror(-rep.err));
		err = tl_send_msg(ctl, &rep, sizeof(rep), NULL, 0);
		if (err)
			break;
	}
cleanup:
	if (err)
		tl_log("netns receiver: the channel to the test: %s", strerror(-err));
	tl_pair_close(&p);
	return rep.err ? rep.err : err;
}

/* Send @op to the netns process; it starts at once. */
static int ns_ask(int ctl, enum ns_op op, __u64 seed, __u64 len)
{
	struct ns_cmd cmd = { .op = op, .seed = seed, .len = len };

	return tl_send_msg(ctl, &cmd, sizeof(cmd), NULL, 0);
}

/* Its answer to the last ns_ask: 0 or its -errno. */
static int ns_answer(int ctl)
{
	struct ns_reply rep;
	int err = tl_recv_msg(ctl, &rep, sizeof(rep), NULL, 0, NULL, XFER_MS + 10000);

	return err ? err : rep.err;
}

/* `sockaccelctl disable`, run by a thread so that the test acts meanwhile. */
struct disable_run {
	pthread_t thread;
	bool started;
	atomic_bool done;
	int ret;
	int status;
	char *out, *err;
	long long t_end;
};

static void *disable_thread(void *arg)
{
	struct disable_run *r = arg;
	char *argv[] = { (char *)tl_ctl_path(), "--pin-dir", tl_env.pin_dir, "disable",
			 "--timeout", DISABLE_S, NULL };

	r->ret = tl_run_capture(argv, DISABLE_MS, &r->status, &r->out, &r->err);
	r->t_end = tl_now_ms();
	atomic_store(&r->done, true);
	return NULL;
}

/* Does program @id still exist (freeing is deferred)? */
static bool prog_exists(__u32 id)
{
	int fd = bpf_prog_get_fd_by_id(id);

	if (fd >= 0)
		close(fd);
	return fd >= 0 || errno != ENOENT;
}

/* @len bytes of @seed from @w to @r over TCP: byte-exact, and @w's TCP
 * carried them all. */
static int tcp_both_ends(int w, int r, __u64 seed, size_t len)
{
	struct tl_tcp_bytes b0, b1;
	int err;

	err = tl_tcp_bytes(w, &b0);
	if (!err)
		err = tl_xfer(w, true, seed, len, XFER_MS);
	if (!err)
		err = tl_xfer(r, false, seed, len, XFER_MS);
	if (!err)
		err = tl_tcp_bytes(w, &b1);
	if (!err && b1.sent - b0.sent < len) {
		tl_log("only %llu of %zu bytes went over TCP",
		       (unsigned long long)(b1.sent - b0.sent), len);
		err = -EPROTO;
	}
	return err;
}

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_pair_opts po = { .family = TL_INET4 };
	struct tl_pair idle = TL_PAIR_INIT, ns = TL_PAIR_INIT;
	struct tl_ctx in_netns = { .netns = true };
	struct tl_child nc = { .pid = -1, .ctl = -1, .pidfd = -1 };
	struct disable_run dr = {};
	struct tl_fastpath fp;
	struct tl_tcp_bytes tb;
	struct sa_sock_key k_ns, k_host;
	struct ns_reply rep = {};
	__u64 c0[SA_CNT_MAX], c1[SA_CNT_MAX];
	__u64 seed_held = tl_seed("netns held"), seed_c2s = tl_seed("netns c2s after"),
	      seed_s2c = tl_seed("netns s2c after");
	__u32 n = 0, rmem = 0;
	long long t_disable, t_read;
	static const char *const end_names[4] = { "netns client in sock_hash",
						  "netns server in sock_hash",
						  "host client in sock_hash",
						  "host server in sock_hash" };
	int fds[2] = { -1, -1 }, ends[4], nfds = 0, status;
	char sbuf[64];

	ASSERT_OK(tl_init("drain_netns", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");

	/* 1. a connection in a new netns, an idle one here; the netns process
	 * is forked first, so that it holds no copy of the test's map fds and
	 * sockets (it lives on until the end) */
	ASSERT_OK(tl_child_start(&nc, &in_netns, netns_child, NULL),
		  "a process in the test cgroup and a new netns");
	ASSERT_OK(tl_recv_msg(nc.ctl, &rep, sizeof(rep), fds, 2, &nfds, 20000),
		  "the netns process's connection");
	ns.client = fds[0];
	ns.server = fds[1];
	ASSERT_OK(rep.err, "a loopback connection inside the netns");
	ASSERT_EQ(nfds, 2, "both ends of the netns connection handed over");
	ASSERT_OK(tl_pair_make(&idle, &po), "the idle connection in the host netns");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	ASSERT_OK(tl_fastpath_read(&fp), "read the pinned fast path");
	ASSERT_OK(sa_key_of_socket(ns.client, &k_ns), "key of the netns client");
	ASSERT_OK(sa_key_of_socket(idle.client, &k_host), "key of the host client");
	tl_log("netns cookies: host %llu, new netns %llu", (unsigned long long)k_host.netns,
	       (unsigned long long)k_ns.netns);
	ASSERT_NEQ(k_ns.netns, k_host.netns, "the connection is in another netns");
	ends[0] = ns.client;
	ends[1] = ns.server;
	ends[2] = idle.client;
	ends[3] = idle.server;
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(tl_sock_map_state(pins.sock_hash, ends[i]), TL_IN_MAP, end_names[i]);
	ASSERT_OK(tl_map_count(pins.sock_hash, &n), "count sock_hash entries");
	ASSERT_EQ(n, 4, "sock_hash entries: two connections");

	/* 2. 256 KiB redirected to the netns receiver, not read */
	ASSERT_OK(tl_counters(&pins, c0), "counters");
	ASSERT_OK(tl_xfer(ns.client, true, seed_held, HELD_BYTES, XFER_MS),
		  "write 256 KiB to the netns receiver");
	ASSERT_OK(tl_counters(&pins, c1), "counters");
	tl_counters_log("after the held bytes", c1);
	ASSERT_GE(c1[SA_CNT_BYTES_REDIRECTED] - c0[SA_CNT_BYTES_REDIRECTED], HELD_BYTES,
		  "the 256 KiB were redirected");
	ASSERT_OK(tl_tcp_bytes(ns.client, &tb), "TCP_INFO of the netns client");
	ASSERT_LE(tb.sent, TL_BYPASS_MAX(HELD_BYTES), "TCP carried ~0 of the 256 KiB");
	ASSERT_OK(tl_sock_rmem(ns.server, &rmem, NULL), "SO_MEMINFO of the netns receiver");
	tl_log("the netns receiver holds rmem_alloc %u", rmem);
	ASSERT_GT(rmem, 0, "the netns receiver holds the unread bytes");

	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");

	/* 3. disable waits for the netns receiver */
	t_disable = tl_now_ms();
	ASSERT_OK(pthread_create(&dr.thread, NULL, disable_thread, &dr),
		  "pthread_create (sockaccelctl disable)");
	dr.started = true;
	ASSERT_TRUE(TL_WAIT_FOR(tl_sock_map_state(pins.sock_hash, ns.client) == TL_NOT_IN_MAP,
				10000),
		    "the drain entered the netns: the netns sender's entry was deleted");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, idle.client), TL_NOT_IN_MAP,
		  "host client drained");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, idle.server), TL_NOT_IN_MAP,
		  "host server drained");
	while (tl_now_ms() - t_disable < WAITING_MS && !atomic_load(&dr.done))
		tl_sleep_ms(10);
	ASSERT_FALSE(atomic_load(&dr.done),
		     "disable still waits while the netns receiver holds unread bytes");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, ns.server), TL_IN_MAP,
		  "the netns receiver keeps its entry while it holds bytes");
	t_read = tl_now_ms();
	ASSERT_OK(ns_ask(nc.ctl, NS_READ, seed_held, HELD_BYTES), "ask the netns receiver to read");
	ASSERT_OK(ns_answer(nc.ctl), "the netns receiver reads all 256 KiB, in order");
	ASSERT_OK(pthread_join(dr.thread, NULL), "pthread_join (sockaccelctl disable)");
	dr.started = false;
	ASSERT_OK(dr.ret, "run sockaccelctl disable");
	if (!tl_exited_with(dr.status, 0))
		FAIL("sockaccelctl disable --timeout " DISABLE_S " %s; stdout: %s; stderr: %s",
		     tl_status_str(dr.status, sbuf, sizeof(sbuf)), dr.out, dr.err);
	tl_log("disable took %lld ms, returned %lld ms after the receiver began to read: %.*s",
	       dr.t_end - t_disable, dr.t_end - t_read, (int)strcspn(dr.out, "\n"), dr.out);
	ASSERT_GE(dr.t_end, t_read, "disable returned only after the receiver read");
	ASSERT_TRUE(strstr(dr.out, "disabled: 4 sockets drained") != NULL,
		    "disable drained all 4 sockets");
	ASSERT_TRUE(strstr(dr.out, "still hold") == NULL, "disable left no socket behind");

	/* 4. nothing left */
	ASSERT_OK(tl_map_count(pins.sock_hash, &n), "count sock_hash entries (held fd)");
	ASSERT_EQ(n, 0, "sock_hash empty after the disable: the netns entries were deleted");
	ASSERT_FALSE(access(tl_env.pin_dir, F_OK) == 0, "no pin dir after the disable");
	ASSERT_OK(tl_wait_cgroup_detached(&n, 5000), "no sockops program on the cgroup");
	if (fp.msg_attach == SA_MSG_ATTACH_LINK)
		ASSERT_OK(tl_wait_map_detached(pins.sock_hash, &n, 5000),
			  "no sk_msg program on the map");
	else	/* a legacy attachment lives as long as the map: step 6 */
		tl_log("legacy sk_msg attach (no sockmap links): the program leaves with the map");

	/* 5. both connections go on over TCP */
	ASSERT_OK(tl_counters(&pins, c0), "counters");
	ASSERT_OK(tl_tcp_bytes(ns.client, &tb), "TCP_INFO of the netns client");
	ASSERT_OK(ns_ask(nc.ctl, NS_READ, seed_c2s, AFTER_BYTES), "ask the netns receiver to read");
	ASSERT_OK(tl_xfer(ns.client, true, seed_c2s, AFTER_BYTES, XFER_MS),
		  "write 1 MiB into the netns after the disable");
	ASSERT_OK(ns_answer(nc.ctl), "the netns receiver reads it, byte-exact");
	{
		struct tl_tcp_bytes tb1;

		ASSERT_OK(tl_tcp_bytes(ns.client, &tb1), "TCP_INFO of the netns client");
		ASSERT_GE(tb1.sent - tb.sent, AFTER_BYTES, "TCP carried the netns 1 MiB");
	}
	ASSERT_OK(ns_ask(nc.ctl, NS_WRITE, seed_s2c, AFTER_BYTES), "ask the netns end to write");
	ASSERT_OK(tl_xfer(ns.client, false, seed_s2c, AFTER_BYTES, XFER_MS),
		  "1 MiB out of the netns after the disable, byte-exact");
	ASSERT_OK(ns_answer(nc.ctl), "the netns end wrote 1 MiB");
	ASSERT_OK(tcp_both_ends(idle.client, idle.server, tl_seed("host c2s after"), AFTER_BYTES),
		  "host connection, client to server, over TCP");
	ASSERT_OK(tcp_both_ends(idle.server, idle.client, tl_seed("host s2c after"), AFTER_BYTES),
		  "host connection, server to client, over TCP");
	ASSERT_OK(tl_counters(&pins, c1), "counters");
	ASSERT_EQ(c1[SA_CNT_BYTES_REDIRECTED], c0[SA_CNT_BYTES_REDIRECTED],
		  "nothing redirected after the disable");

	/* 6. the map and the programs are freed with the last reference */
	tl_pins_close(&pins);
	ASSERT_OK(tl_map_id_wait_gone(fp.map_id, 5000), "sock_hash freed");
	ASSERT_TRUE(TL_WAIT_FOR(!prog_exists(fp.prog_sockops) && !prog_exists(fp.prog_msg), 5000),
		    "the sockops and sk_msg programs freed");

	ASSERT_OK(ns_ask(nc.ctl, NS_EXIT, 0, 0), "tell the netns process to exit");
	ASSERT_OK(tl_child_wait(&nc, 10000, &status), "the netns process exits");
	ASSERT_EXIT(status, 0, "the netns process");
cleanup:
	if (dr.started)
		pthread_join(dr.thread, NULL);	/* bounded by DISABLE_MS */
	if (tl_failures()) {
		tl_daemon_dump(&d);
		if (dr.out || dr.err)
			tl_log("sockaccelctl disable: stdout: %s; stderr: %s",
			       dr.out ? dr.out : "", dr.err ? dr.err : "");
	}
	free(dr.out);
	free(dr.err);
	if (nc.pid > 0) {
		kill(nc.pid, SIGKILL);
		tl_child_wait(&nc, 5000, NULL);
	}
	tl_pair_close(&ns);
	tl_pair_close(&idle);
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	return tl_finish();
}
