// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A connection to another host is never inserted: the server and the
 * client live in two network namespaces joined by a veth pair (each its own
 * "host", addresses 198.18.0.1 and .2), both processes in the test cgroup.
 * sockops sees both sockets, finds the peer is not local, and leaves them
 * out: neither socket in sock_hash, skipped_remote rises by 2, TCP carries
 * every byte, the streams are byte-exact. Control: a loopback pair in the
 * same cgroup is accelerated.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "exitcodes.h"
#include "testlib.h"

#define MiB (1ULL << 20)
#define SERVER_ADDR "198.18.0.1"
#define CLIENT_ADDR "198.18.0.2"
#define PORT 7000

struct peer_arg {
	bool server;
};

/* In a child with its own netns: wait for "go" (the veth is ready), then
 * listen and accept, or connect; hand the socket to the parent. */
static int peer_child(void *arg, int ctl)
{
	const struct peer_arg *a = arg;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	char go;
	int fd, s, one = 1;

	if (tl_send_msg(ctl, "r", 1, NULL, 0) || tl_recv_msg(ctl, &go, 1, NULL, 0, NULL, 30000))
		return 1;
	inet_pton(AF_INET, SERVER_ADDR, &sin.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1;
	if (a->server) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(fd, 1) ||
		    tl_send_msg(ctl, "l", 1, NULL, 0))
			return 1;
		s = accept(fd, NULL, NULL);
	} else {
		s = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) ? -1 : fd;
	}
	if (s < 0 || tl_send_msg(ctl, "s", 1, &s, 1))
		return 1;
	/* stay until the parent has the socket */
	tl_recv_msg(ctl, &go, 1, NULL, 0, NULL, 30000);
	return 0;
}

static int ip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int ip(const char *fmt, ...)
{
	char cmd[256];
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	va_list ap;
	int status = 0;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (tl_run_cmd(argv, 10000, &status) || !tl_exited_with(status, 0)) {
		tl_log("command failed: %s", cmd);
		return -1;
	}
	return 0;
}

int main(void)
{
	struct tl_child srv = { .pid = -1, .ctl = -1, .pidfd = -1 };
	struct tl_child cli = { .pid = -1, .ctl = -1, .pidfd = -1 };
	struct peer_arg sa = { .server = true }, ca = { .server = false };
	const struct tl_ctx in_netns = { .netns = true };
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_pair_opts lo = { .family = TL_INET4 };
	struct tl_stream c2s, s2c;
	struct tl_tcp_bytes cb, sb;
	__u64 before[SA_CNT_MAX], after[SA_CNT_MAX];
	char va[16], vb[16], m;
	int cfd = -1, sfd = -1, n, status;
	bool veth = false;

	tl_stream_init(&c2s, "remote c2s", 8 * MiB, TL_WRITE_SEND);
	tl_stream_init(&s2c, "remote s2c", 8 * MiB, TL_WRITE_SEND);
	snprintf(va, sizeof(va), "sav%da", (int)getpid());
	snprintf(vb, sizeof(vb), "sav%db", (int)getpid());

	ASSERT_OK(tl_init("remote_peer", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	ASSERT_OK(tl_counters(&pins, before), "read counters");

	/* two "hosts": each child its own netns, joined by a veth pair */
	ASSERT_OK(tl_child_start(&srv, &in_netns, peer_child, &sa), "start the server host");
	ASSERT_OK(tl_child_start(&cli, &in_netns, peer_child, &ca), "start the client host");
	ASSERT_OK(tl_recv_msg(srv.ctl, &m, 1, NULL, 0, NULL, 10000), "server host ready");
	ASSERT_OK(tl_recv_msg(cli.ctl, &m, 1, NULL, 0, NULL, 10000), "client host ready");
	ASSERT_OK(ip("ip link add %s type veth peer name %s", va, vb), "ip link add veth");
	veth = true;
	ASSERT_OK(ip("ip link set %s netns %d && ip link set %s netns %d", va, (int)srv.pid, vb,
		     (int)cli.pid), "move the veth ends into the two netns");
	veth = false;	/* gone with the namespaces from here on */
	ASSERT_OK(ip("nsenter -t %d -n sh -c 'ip addr add %s/30 dev %s && ip link set %s up'",
		     (int)srv.pid, SERVER_ADDR, va, va), "configure the server host");
	ASSERT_OK(ip("nsenter -t %d -n sh -c 'ip addr add %s/30 dev %s && ip link set %s up'",
		     (int)cli.pid, CLIENT_ADDR, vb, vb), "configure the client host");

	ASSERT_OK(tl_send_msg(srv.ctl, "g", 1, NULL, 0), "tell the server to listen");
	ASSERT_OK(tl_recv_msg(srv.ctl, &m, 1, NULL, 0, NULL, 10000), "server listening");
	ASSERT_OK(tl_send_msg(cli.ctl, "g", 1, NULL, 0), "tell the client to connect");
	ASSERT_OK(tl_recv_msg(cli.ctl, &m, 1, &cfd, 1, &n, 20000), "client socket");
	ASSERT_OK(tl_recv_msg(srv.ctl, &m, 1, &sfd, 1, &n, 20000), "server socket");

	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, cfd), TL_NOT_IN_MAP,
		  "client socket to another host is not in sock_hash");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, sfd), TL_NOT_IN_MAP,
		  "server socket from another host is not in sock_hash");
	ASSERT_OK(tl_stream_start(&c2s, cfd, sfd), "start client->server");
	ASSERT_OK(tl_stream_start(&s2c, sfd, cfd), "start server->client");
	ASSERT_OK(tl_stream_join(&c2s, 60000), "client->server byte-exact");
	ASSERT_OK(tl_stream_join(&s2c, 60000), "server->client byte-exact");
	ASSERT_OK(tl_tcp_bytes(cfd, &cb), "TCP_INFO client");
	ASSERT_OK(tl_tcp_bytes(sfd, &sb), "TCP_INFO server");
	ASSERT_GE(cb.sent, c2s.len, "TCP carried every client byte");
	ASSERT_GE(sb.sent, s2c.len, "TCP carried every server byte");
	ASSERT_OK(tl_counters(&pins, after), "read counters");
	tl_counters_log("remote", after);
	ASSERT_EQ(after[SA_CNT_SKIP_REMOTE] - before[SA_CNT_SKIP_REMOTE], 2,
		  "skipped_remote counts both sockets");
	ASSERT_EQ(after[SA_CNT_INSERTED], before[SA_CNT_INSERTED], "nothing inserted");
	tl_send_msg(srv.ctl, "q", 1, NULL, 0);
	tl_send_msg(cli.ctl, "q", 1, NULL, 0);
	ASSERT_OK(tl_child_wait(&srv, 10000, &status), "server host exits");
	ASSERT_OK(tl_child_wait(&cli, 10000, &status), "client host exits");

	/* control: a local pair in the same cgroup is accelerated */
	ASSERT_OK(tl_pair_in_map(&p, &lo, pins.sock_hash),
		  "control: loopback pair, both in sock_hash");

	tl_pins_close(&pins);
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	tl_stream_stop(&c2s);
	tl_stream_stop(&s2c);
	tl_pair_close(&p);
	if (cfd >= 0)
		close(cfd);
	if (sfd >= 0)
		close(sfd);
	if (srv.pid > 0)
		tl_child_wait(&srv, 1000, &status);
	if (cli.pid > 0)
		tl_child_wait(&cli, 1000, &status);
	if (veth)
		ip("ip link del %s", va);
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	return tl_finish();
}
