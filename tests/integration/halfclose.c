// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Half-close: a client sends its request, shuts down its write side and
 * reads the reply to EOF with a blocking recv(); the server reads to EOF,
 * waits a little, replies and closes. On plain TCP the client always gets
 * the reply and then EOF. In the map, tcp_bpf_recvmsg returns EAGAIN when
 * its one wait is woken without data, and the ACK of the client's FIN is
 * such a wakeup (it comes late when the server waits past its delayed-ACK
 * timer, hence the 60 ms pauses).
 *
 *  1. With every feature (halfclose_guard): RUNS connections, each inserted
 *     (both sockets in sock_hash before the request), each gets the reply
 *     byte-exact and then EOF, never EAGAIN; halfclose_demoted counts one
 *     per client.
 *  2. Control, with halfclose_guard refused through the test switch: the
 *     same runs must show the kernel's EAGAIN at least once, or this test
 *     could not tell the guard works (if a kernel fixes tcp_bpf_recvmsg,
 *     this part fails and says so: update docs/kernel-behaviours.md).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "exitcodes.h"
#include "pins.h"
#include "testlib.h"

#define RUNS		200
#define REQUEST_LEN	(100 * 1000)
#define REPLY_LEN	1000
#define REQ_SEED	0x11
#define REPLY_SEED	0x22

struct outcome {
	int runs, in_map, eof, eagain, bad;
	char first_bad[256];
};

/* The server side of one connection, in its own process. */
static void serve(int a, int run)
{
	static unsigned char buf[REQUEST_LEN];
	static const unsigned int pause_ms[] = { 0, 60, 5, 60 };
	size_t got = 0;
	ssize_t n;

	while ((n = recv(a, buf + got, sizeof(buf) - got, 0)) > 0) {
		got += (size_t)n;
		if (got == sizeof(buf))
			break;
	}
	if (got != sizeof(buf) || tl_pattern_check(buf, REQ_SEED, 0, got) != got)
		_exit(2);
	while (recv(a, buf, 1, 0) > 0)	/* the client's EOF */
		;
	tl_sleep_ms(pause_ms[run % 4]);
	tl_pattern_fill(buf, REPLY_SEED, 0, REPLY_LEN);
	if (send(a, buf, REPLY_LEN, MSG_NOSIGNAL) != REPLY_LEN)
		_exit(3);
	close(a);
	_exit(0);
}

/* In the test cgroup: RUNS connections; the outcome in shared memory. */
static int client_runs(void *arg, int ctl)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static unsigned char req[REQUEST_LEN], reply[REPLY_LEN + 1];
	struct outcome *o = arg;
	socklen_t sl = sizeof(sin);
	int l, map_fd;

	(void)ctl;
	map_fd = tl_pin_open(SA_PIN_SOCK_HASH);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (map_fd < 0 || l < 0 || bind(l, (struct sockaddr *)&sin, sl) ||
	    listen(l, 16) || getsockname(l, (struct sockaddr *)&sin, &sl))
		return -1;
	tl_pattern_fill(req, REQ_SEED, 0, sizeof(req));
	for (int i = 0; i < RUNS; i++) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), a, status;
		size_t got = 0;
		pid_t srv;
		ssize_t n;

		if (c < 0 || connect(c, (struct sockaddr *)&sin, sl) ||
		    (a = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0)
			return -1;
		o->in_map += tl_sock_map_state(map_fd, c) == TL_IN_MAP &&
			     tl_sock_map_state(map_fd, a) == TL_IN_MAP;
		srv = fork();
		if (srv == 0) {
			close(c);
			serve(a, i);
		}
		close(a);
		if (srv < 0 || send(c, req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req) ||
		    shutdown(c, SHUT_WR))
			return -1;
		for (;;) {	/* blocking, to EOF */
			n = recv(c, reply + got, sizeof(reply) - got, 0);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		o->runs++;
		if (n < 0 && errno == EAGAIN) {
			o->eagain++;
		} else if (n == 0 && got == REPLY_LEN &&
			   tl_pattern_check(reply, REPLY_SEED, 0, got) == got) {
			o->eof++;
		} else {
			if (!o->bad++)
				snprintf(o->first_bad, sizeof(o->first_bad),
					 "run %d: recv returned %zd (%s) after %zu reply bytes", i, n,
					 n < 0 ? strerror(errno) : "EOF", got);
		}
		close(c);
		if (waitpid(srv, &status, 0) != srv || !tl_exited_with(status, 0)) {
			if (!o->bad++)
				snprintf(o->first_bad, sizeof(o->first_bad),
					 "run %d: the server failed (%d)", i, status);
		}
	}
	close(l);
	close(map_fd);
	return 0;
}

static int run_clients(struct outcome *o, const char *label)
{
	struct tl_child ch = { .pid = -1 };
	struct tl_ctx ctx = {};
	long long t0 = tl_now_ms();
	int status, err;

	memset(o, 0, sizeof(*o));
	err = tl_child_start(&ch, &ctx, client_runs, o);
	if (!err)
		err = tl_child_wait(&ch, 120000, &status);
	tl_log("%s: %d runs in %lld ms: %d with both sockets in sock_hash, %d reply+EOF, "
	       "%d EAGAIN, %d other%s%s", label, o->runs, tl_now_ms() - t0, o->in_map, o->eof,
	       o->eagain, o->bad, o->bad ? ": " : "", o->first_bad);
	if (err)
		return err;
	return tl_exited_with(status, 0) ? 0 : -ECHILD;
}

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	__u64 before[SA_CNT_MAX], after[SA_CNT_MAX];
	struct outcome *o = tl_shared_alloc(sizeof(*o));

	ASSERT_OK(tl_init("halfclose", TL_BUDGET_S), "tl_init");
	ASSERT_TRUE(o != NULL, "shared memory for the outcome");

	tl_log("---- 1. with halfclose_guard");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_TRUE(tl_daemon_has_feature(&d, "halfclose_guard"),
		    "the variant has halfclose_guard (needs demote or demote_read)");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	ASSERT_OK(tl_counters(&pins, before), "read counters");
	ASSERT_OK(run_clients(o, "guarded"), "the client runs");
	ASSERT_OK(tl_counters(&pins, after), "read counters");
	tl_counters_log("after the guarded runs", after);
	ASSERT_EQ(o->in_map, RUNS, "every connection was accelerated before its request");
	ASSERT_EQ(o->eagain, 0, "no blocking recv() returned EAGAIN");
	ASSERT_EQ(o->eof, RUNS, "every client got the reply byte-exact, then EOF");
	ASSERT_GE(after[SA_CNT_HALFCLOSE_DEMOTED] - before[SA_CNT_HALFCLOSE_DEMOTED], RUNS,
		  "halfclose_demoted counted each client");
	tl_pins_close(&pins);
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	tl_daemon_release(&d);

	tl_log("---- 2. control: halfclose_guard refused");
	ASSERT_OK(tl_daemon_start_variant(&d, "halfclose_guard", "base+"),
		  "start sockacceld without halfclose_guard");
	ASSERT_FALSE(tl_daemon_has_feature(&d, "halfclose_guard"), "the guard is off");
	ASSERT_OK(run_clients(o, "unguarded"), "the client runs");
	ASSERT_EQ(o->in_map, RUNS, "every connection was accelerated before its request");
	ASSERT_GT(o->eagain, 0, "without the guard the kernel's EAGAIN shows (if not, the "
		  "kernel fixed tcp_bpf_recvmsg: update docs/kernel-behaviours.md and this test)");
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	if (o)
		tl_shared_free(o, sizeof(*o));
	return tl_finish();
}
