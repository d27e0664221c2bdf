// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Splice readers on accelerated connections (the splice guard).
 * tcp_splice_read() reads only the TCP receive queue, never the psock's
 * redirected queue, so a splice reader on a redirected connection stalls or
 * misses bytes. With splice_guard (and flow_control, which keeps each
 * direction on TCP until its receiver has read with recvmsg) sockaccel
 * steps aside by itself:
 *
 *  1. A relay the way Go's io.Copy between two TCP connections and splicing
 *     proxies work: client -> proxy -> backend and back, the proxy splicing
 *     both directions (socket -> pipe -> socket) from its first read, the
 *     client sending RELAY_LEN bytes the moment it is connected, the
 *     backend answering as much. Both hops are accelerated (all four
 *     sockets in sock_hash), both streams arrive byte-exact with EOF, and
 *     splice_stepaside counts the proxy's two sockets; the stepaside hash
 *     names the proxy's process.
 *  2. The window the guard cannot close, measured: a reader that reads a
 *     header with recv(), answers, and then, once the socket polls
 *     readable (as an event-driven proxy does), splices the body its client
 *     sends after the answer. The body is redirected before the first
 *     splice, so splice cannot see it: splice_stranded counts it and the
 *     stepaside hash names the reader. What that reader gets is the
 *     kernel's: here EOF before the body (the client's FIN came over TCP),
 *     or a stall until it reads with recv(); it is logged, not asserted.
 *     The same process's next connection of that kind stays on TCP
 *     (splice_learned) and splices the body byte-exact without a stall.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <bpf/bpf.h>

#include "exitcodes.h"
#include "pins.h"
#include "testlib.h"

#define MiB		(1u << 20)
#define RELAY_LEN	(16 * MiB)
/* below flow_limit (2 MiB): past it the sender would go over TCP, and
 * splice would get those bytes ahead of the queued ones (docs/design.md) */
#define BODY_LEN	(1 * MiB)
#define HEADER_LEN	100
#define STALL_MS	1000
#define CHUNK		(256u << 10)

enum { UP_SEED = 0x31, DOWN_SEED = 0x32, BODY_SEED = 0x33, HDR_SEED = 0x34 };

struct result {
	int in_map;		/* sockets found in sock_hash */
	int ok;			/* streams byte-exact with EOF */
	int stalls;		/* splice made no progress for STALL_MS */
	bool second_ok;		/* 2.: the second body, by splice alone */
	long long splice_ms[2];
	char why[256];
};

static int listen_lo(struct sockaddr_in *sin)
{
	socklen_t sl = sizeof(*sin);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)sin, sl) || listen(l, 8) ||
	    getsockname(l, (struct sockaddr *)sin, &sl))
		return -1;
	return l;
}

static int connect_lo(const struct sockaddr_in *sin)
{
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (c < 0 || connect(c, (const struct sockaddr *)sin, sizeof(*sin)))
		return -1;
	return c;
}

/* @len pattern bytes from @off with send(), optionally then SHUT_WR. */
static int send_pattern(int fd, __u64 seed, __u64 off, __u64 len, bool shut)
{
	static __thread unsigned char buf[CHUNK];

	for (__u64 done = 0; done < len;) {
		size_t n = len - done < CHUNK ? (size_t)(len - done) : CHUNK;
		ssize_t r;

		tl_pattern_fill(buf, seed, off + done, n);
		r = send(fd, buf, n, MSG_NOSIGNAL);
		if (r <= 0)
			return -1;
		done += (__u64)r;
	}
	return shut ? shutdown(fd, SHUT_WR) : 0;
}

/* Read to EOF with recv(): exactly @len pattern bytes from @off. */
static int recv_pattern(int fd, __u64 seed, __u64 off, __u64 len)
{
	static __thread unsigned char buf[CHUNK];
	__u64 got = 0;
	ssize_t r;

	while ((r = recv(fd, buf, CHUNK, 0)) > 0) {
		if (got + (__u64)r > len ||
		    tl_pattern_check(buf, seed, off + got, (size_t)r) != (size_t)r)
			return -EILSEQ;
		got += (__u64)r;
	}
	return r == 0 && got == len ? 0 : -EIO;
}

/*
 * Move everything from @in to @out through a pipe with splice(2), to EOF,
 * then shut @out's write side. With @rescue, non-blocking splice with poll,
 * so that a stall (no byte for STALL_MS) is seen: then the rest is read
 * with recv() and written on. Returns bytes moved or -errno; *@stalled
 * says whether it stalled.
 */
static long long splice_all(int in, int out, bool rescue, bool *stalled)
{
	static __thread unsigned char buf[CHUNK];
	long long moved = 0, last = tl_now_ms();
	int p[2];

	*stalled = false;
	/* SPLICE_F_NONBLOCK covers the pipe only: a socket that must not
	 * block needs its own flag (without @rescue it blocks, as io.Copy's) */
	if ((rescue && fcntl(in, F_SETFL, fcntl(in, F_GETFL) | O_NONBLOCK) < 0) ||
	    pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	for (;;) {
		struct pollfd pf = { .fd = in, .events = POLLIN };
		ssize_t n = splice(in, NULL, p[1], NULL, CHUNK, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);

		if (n == 0)
			break;
		if (n > 0) {
			for (ssize_t left = n; left > 0;) {
				ssize_t m = splice(p[0], NULL, out, NULL, (size_t)left, SPLICE_F_MOVE);

				if (m <= 0) {
					moved = -EIO;
					goto out;
				}
				left -= m;
			}
			moved += n;
			last = tl_now_ms();
			continue;
		}
		if (errno != EAGAIN && errno != EINTR) {
			moved = -errno;
			goto out;
		}
		if (tl_now_ms() - last > STALL_MS) {
			*stalled = true;
			if (!rescue) {
				moved = -ETIMEDOUT;
				goto out;
			}
			/* what a program that gives up on splice does */
			for (long long end = tl_now_ms() + 20000; tl_now_ms() < end;) {
				n = recv(in, buf, CHUNK, MSG_DONTWAIT);
				if (n == 0)
					break;
				if (n < 0 && errno != EAGAIN && errno != EINTR) {
					moved = -errno;
					goto out;
				}
				if (n < 0) {
					poll(&pf, 1, 100);
					continue;
				}
				if (send(out, buf, (size_t)n, MSG_NOSIGNAL) != n) {
					moved = -EIO;
					goto out;
				}
				moved += n;
			}
			break;
		}
		poll(&pf, 1, 10);
	}
	shutdown(out, SHUT_WR);
out:
	close(p[0]);
	close(p[1]);
	return moved;
}

/* --- 1. the relay -------------------------------------------------------- */

struct hop {
	int in, out;
	long long moved;
	bool stalled;
};

static void *hop_main(void *arg)
{
	struct hop *h = arg;

	h->moved = splice_all(h->in, h->out, false, &h->stalled);
	return NULL;
}

struct peer {
	int fd;
	int err;
};

static void *backend_main(void *arg)
{
	struct peer *b = arg;

	b->err = recv_pattern(b->fd, UP_SEED, 0, RELAY_LEN);
	if (!b->err)
		b->err = send_pattern(b->fd, DOWN_SEED, 0, RELAY_LEN, true);
	return NULL;
}

static void *client_main(void *arg)
{
	struct peer *c = arg;

	c->err = send_pattern(c->fd, UP_SEED, 0, RELAY_LEN, true);
	if (!c->err)
		c->err = recv_pattern(c->fd, DOWN_SEED, 0, RELAY_LEN);
	return NULL;
}

static int relay(void *arg, int ctl)
{
	struct result *r = arg;
	struct sockaddr_in ps, bs;
	struct peer client = { .fd = -1 }, backend = { .fd = -1 };
	struct hop up = { .in = -1 }, down = { .in = -1 };
	pthread_t tc, tb, tu, td;
	int lp, lb, map_fd;

	(void)ctl;
	map_fd = tl_pin_open(SA_PIN_SOCK_HASH);
	lp = listen_lo(&ps);
	lb = listen_lo(&bs);
	if (map_fd < 0 || lp < 0 || lb < 0)
		return -1;
	/* the client writes the moment it is connected, before the proxy has
	 * accepted, let alone spliced */
	client.fd = connect_lo(&ps);
	if (client.fd < 0 || pthread_create(&tc, NULL, client_main, &client))
		return -1;
	up.in = accept4(lp, NULL, NULL, SOCK_CLOEXEC);
	up.out = connect_lo(&bs);
	backend.fd = accept4(lb, NULL, NULL, SOCK_CLOEXEC);
	if (up.in < 0 || up.out < 0 || backend.fd < 0)
		return -1;
	r->in_map = (tl_sock_map_state(map_fd, client.fd) == TL_IN_MAP) +
		    (tl_sock_map_state(map_fd, up.in) == TL_IN_MAP) +
		    (tl_sock_map_state(map_fd, up.out) == TL_IN_MAP) +
		    (tl_sock_map_state(map_fd, backend.fd) == TL_IN_MAP);
	down.in = up.out;
	down.out = up.in;
	if (pthread_create(&tb, NULL, backend_main, &backend) ||
	    pthread_create(&tu, NULL, hop_main, &up) || pthread_create(&td, NULL, hop_main, &down))
		return -1;
	pthread_join(tu, NULL);
	pthread_join(td, NULL);
	pthread_join(tb, NULL);
	pthread_join(tc, NULL);
	snprintf(r->why, sizeof(r->why), "proxy moved %lld up%s, %lld down%s; backend %s; client %s",
		 up.moved, up.stalled ? " (stalled)" : "", down.moved,
		 down.stalled ? " (stalled)" : "", backend.err ? strerror(-backend.err) : "exact",
		 client.err ? strerror(-client.err) : "exact");
	r->ok = up.moved == RELAY_LEN && down.moved == RELAY_LEN && !backend.err && !client.err;
	r->stalls = up.stalled + down.stalled;
	close(client.fd);
	close(backend.fd);
	close(up.in);
	close(up.out);
	close(lp);
	close(lb);
	close(map_fd);
	return 0;
}

/* --- 2. recv, answer, then splice --------------------------------------- */

/* One connection: the reader (this process) gets a header with recv(),
 * answers, then splices the body into /dev/null's stand-in, a socketpair
 * drained by a thread that checks it. */
struct sink {
	int fd;
	int err;
};

static void *sink_main(void *arg)
{
	struct sink *s = arg;

	s->err = recv_pattern(s->fd, BODY_SEED, 0, BODY_LEN);
	return NULL;
}

static void *body_writer(void *arg)
{
	struct peer *c = arg;
	unsigned char hdr[HEADER_LEN], ack[2];

	tl_pattern_fill(hdr, HDR_SEED, 0, sizeof(hdr));
	c->err = send(c->fd, hdr, sizeof(hdr), MSG_NOSIGNAL) == (ssize_t)sizeof(hdr) ? 0 : -EIO;
	if (!c->err && recv(c->fd, ack, sizeof(ack), MSG_WAITALL) != (ssize_t)sizeof(ack))
		c->err = -EIO;
	if (!c->err)
		c->err = send_pattern(c->fd, BODY_SEED, 0, BODY_LEN, true);
	return NULL;
}

static int header_then_splice(int l, const struct sockaddr_in *sin, struct result *r, int i)
{
	unsigned char hdr[HEADER_LEN];
	struct peer writer = { .fd = -1 };
	struct sink sink = { .fd = -1 };
	struct pollfd pf;
	pthread_t tw, ts;
	int a, sp[2];
	bool stalled;
	long long t0, moved;

	writer.fd = connect_lo(sin);
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (writer.fd < 0 || a < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) ||
	    pthread_create(&tw, NULL, body_writer, &writer))
		return -1;
	sink.fd = sp[1];
	if (pthread_create(&ts, NULL, sink_main, &sink))
		return -1;
	if (recv(a, hdr, sizeof(hdr), MSG_WAITALL) != (ssize_t)sizeof(hdr) ||
	    tl_pattern_check(hdr, HDR_SEED, 0, sizeof(hdr)) != sizeof(hdr) ||
	    send(a, "ok", 2, MSG_NOSIGNAL) != 2)
		return -1;
	/* as an event-driven proxy does: splice once the socket is readable */
	pf.fd = a;
	pf.events = POLLIN;
	if (poll(&pf, 1, 10000) != 1)
		return -1;
	tl_sleep_ms(20);
	t0 = tl_now_ms();
	moved = splice_all(a, sp[0], true, &stalled);
	r->splice_ms[i] = tl_now_ms() - t0;
	pthread_join(tw, NULL);
	pthread_join(ts, NULL);
	r->stalls += stalled;
	r->ok += moved == BODY_LEN && !writer.err && !sink.err;
	if (i == 1)
		r->second_ok = moved == BODY_LEN && !writer.err && !sink.err && !stalled;
	snprintf(r->why + strlen(r->why), sizeof(r->why) - strlen(r->why),
		 "%sconnection %d: %lld body bytes in %lld ms%s, sink %s", i ? "; " : "", i + 1,
		 moved, r->splice_ms[i], stalled ? " after a splice stall and recv()" : " by splice",
		 sink.err ? strerror(-sink.err) : "exact");
	close(a);
	close(writer.fd);
	close(sp[0]);
	close(sp[1]);
	return 0;
}

static int two_readers(void *arg, int ctl)
{
	struct result *r = arg;
	struct sockaddr_in sin;
	int l = listen_lo(&sin);

	(void)ctl;
	if (l < 0)
		return -1;
	for (int i = 0; i < 2; i++)
		if (header_then_splice(l, &sin, r, i))
			return -1;
	close(l);
	return 0;
}

static int run(tl_child_fn fn, struct result *r)
{
	struct tl_child ch = { .pid = -1 };
	struct tl_ctx ctx = {};
	int status, err;

	memset(r, 0, sizeof(*r));
	err = tl_child_start(&ch, &ctx, fn, r);
	if (!err)
		err = tl_child_wait(&ch, 60000, &status);
	if (err)
		return err;
	return tl_exited_with(status, 0) ? 0 : -ECHILD;
}

/* The stepaside hash's entries (@stranded: only those that found bytes
 * queued), each logged. */
static int stepaside_count(bool stranded)
{
	struct sa_stepaside_key k, next;
	struct sa_stepaside v;
	void *prev = NULL;
	int fd = tl_pin_open(SA_PIN_STEPASIDE), n = 0;

	if (fd < 0)
		return -1;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		char comm[SA_COMM_LEN + 1] = "";

		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, &v))
			continue;
		memcpy(comm, k.comm, SA_COMM_LEN);
		tl_log("stepaside: '%s' pid %u cgroup %llu: %llu connections, %llu stranded", comm,
		       k.tgid, (unsigned long long)k.cgroup_id, (unsigned long long)v.splices,
		       (unsigned long long)v.stranded);
		n += !stranded || v.stranded;
	}
	close(fd);
	return n;
}

static int stepaside_entries(void)
{
	return stepaside_count(false);
}

static int stepaside_stranded(void)
{
	return stepaside_count(true);
}

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	__u64 c0[SA_CNT_MAX], c1[SA_CNT_MAX], c2[SA_CNT_MAX];
	struct result *r = tl_shared_alloc(sizeof(*r));

	ASSERT_OK(tl_init("splice_relay", TL_BUDGET_S), "tl_init");
	ASSERT_TRUE(r != NULL, "shared memory for the results");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_TRUE(tl_daemon_has_feature(&d, "splice_guard"), "the variant has splice_guard");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	ASSERT_OK(tl_counters(&pins, c0), "read counters");
	if (!tl_daemon_has_feature(&d, "flow_control")) {
		/* without it nothing keeps redirected bytes from a receiver
		 * before its first read: the guard acts on the first splice */
		tl_log("SKIP relay: flow_control is not loaded, so receivers are not kept off "
		       "the fast path until their first recvmsg (docs/design.md, splice guard)");
		goto stop;
	}

	tl_log("---- 1. client -> splicing proxy -> backend, %u MiB each way", RELAY_LEN / MiB);
	ASSERT_OK(run(relay, r), "the relay");
	tl_log("relay: %s; %d of 4 sockets in sock_hash", r->why, r->in_map);
	ASSERT_OK(tl_counters(&pins, c1), "read counters");
	tl_counters_log("after the relay", c1);
	ASSERT_EQ(r->in_map, 4, "both hops were accelerated (all four sockets in sock_hash)");
	ASSERT_TRUE(r->ok, "both streams byte-exact through the splicing proxy, EOF after them");
	ASSERT_EQ(r->stalls, 0, "no splice stalled");
	ASSERT_GE(c1[SA_CNT_SPLICE_STEPASIDE] - c0[SA_CNT_SPLICE_STEPASIDE], 1,
		  "splice_stepaside counted the proxy's first splice");
	/* the other hop moved at its first splice, or earlier: the backend
	 * thread, in the proxy's process, read with recv() after the proxy had
	 * spliced (splice_learned) */
	ASSERT_GE(c1[SA_CNT_SPLICE_STEPASIDE] + c1[SA_CNT_SPLICE_LEARNED] -
		  c0[SA_CNT_SPLICE_STEPASIDE] - c0[SA_CNT_SPLICE_LEARNED], 2,
		  "both hops stepped aside");
	ASSERT_EQ(c1[SA_CNT_SPLICE_STRANDED] - c0[SA_CNT_SPLICE_STRANDED], 0,
		  "nothing was stranded");
	ASSERT_GE(c1[SA_CNT_STARTS_ON_TCP] - c0[SA_CNT_STARTS_ON_TCP], 4,
		  "each direction began on TCP until its receiver read");
	ASSERT_GE(stepaside_entries(), 1, "the stepaside hash names the proxy's process");

	tl_log("---- 2. recv() a header, answer, then splice the body, twice in one process");
	ASSERT_OK(run(two_readers, r), "the two readers");
	tl_log("readers: %s", r->why);
	ASSERT_OK(tl_counters(&pins, c2), "read counters");
	tl_counters_log("after the readers", c2);
	/* the first connection is the documented window: what its reader got
	 * (EOF before the body, or a stall and recv()) is logged above */
	ASSERT_EQ(c2[SA_CNT_SPLICE_STRANDED] - c1[SA_CNT_SPLICE_STRANDED], 1,
		  "the first body was redirected before the first splice (splice_stranded)");
	ASSERT_TRUE(r->second_ok, "the second body arrived byte-exact by splice, without a stall");
	ASSERT_GE(c2[SA_CNT_SPLICE_LEARNED] - c1[SA_CNT_SPLICE_LEARNED], 1,
		  "the second connection stayed on TCP: its reader had spliced before");
	ASSERT_GE(stepaside_stranded(), 1, "the stepaside hash names the stranded reader");
stop:
	tl_pins_close(&pins);
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	if (r)
		tl_shared_free(r, sizeof(*r));
	return tl_finish();
}
