// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Receivers that are not plain recv() callers, on accelerated connections.
 *
 * splice: the receiver moves the data socket -> pipe -> file with splice(2)
 * (what a proxy, a file server or Go's io.Copy between TCP connections
 * does): 4 MiB (below the queue limit), 64 MiB (beyond it), and 64 MiB
 * alternating splice(2) and recv(2). The file must hold the stream
 * byte-exact, followed by EOF; every chunk is checked as it arrives, so a
 * failure says which stream offset splice returned instead of the expected
 * one.
 *
 * The kernel cannot do this by itself: tcp_splice_read() reads only the TCP
 * receive queue, never the psock's ingress_msg, so splice does not see
 * redirected bytes (docs/kernel-behaviours.md, splice_misses_redirected).
 * sockaccel's splice guard (SA_FEAT_SPLICE, with flow control) works around
 * it: every new direction starts on TCP until its receiver has read
 * everything with recvmsg, and a socket read by anything else (splice) moves
 * its connection to TCP for good (counter splice_stepaside), before a byte
 * was redirected where splice cannot see it. The test, in this order:
 *  1. the supported setup without the guard: with the server's port in
 *     exclude_ports the connection stays on TCP and all three receivers
 *     get the stream byte-exact with EOF after it;
 *  2. kTLS (below);
 *  3. the splice guard: on accelerated connections (both sockets in
 *     sock_hash) all three receivers get the stream byte-exact with EOF
 *     after it, TCP carried it, and splice_stepaside rose. The default
 *     variant must have splice_guard and flow_control (the harness runs
 *     this where both load): without splice_guard the test fails; with
 *     splice_guard but without flow_control it prints "SKIP" (receivers are
 *     then not kept off the fast path until their first recvmsg). It runs
 *     after 1 and 2 because the guard remembers this process as a splicer
 *     and keeps its later connections on TCP (splice_learned);
 *  4. the kernel behaviour, with sockacceld restarted with splice_guard
 *     refused (SOCKACCEL_TEST_REFUSE): on an accelerated connection a 4 MiB
 *     splice receiver does NOT get the stream (if it does, the kernel was
 *     fixed: update the docs and this test).
 *
 * kTLS: with CONFIG_TLS unset (/proc/config.gz) the test prints
 * "SKIP kTLS: CONFIG_TLS is not set on this kernel". Otherwise it sets
 * TCP_ULP "tls" on an inserted socket: the kernel may refuse it (the socket
 * has a psock) or accept it, and either way the connection must go on
 * carrying the stream byte-exact.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <endian.h>
#include <zlib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "exitcodes.h"
#include "testlib.h"

#define MiB (1ULL << 20)
#define STALL_MS 10000

struct writer {
	int fd;
	__u64 seed, len;
	pthread_t th;
	int err;
	char why[256];
};

/* The pattern to @w->fd with send(2), then shutdown(SHUT_WR). */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	size_t cap = 256 << 10;
	unsigned char *buf = malloc(cap);
	__u64 off = 0;

	if (!buf) {
		w->err = -ENOMEM;
		return NULL;
	}
	while (off < w->len) {
		size_t n = w->len - off < cap ? (size_t)(w->len - off) : cap;
		struct pollfd p = { .fd = w->fd, .events = POLLOUT };
		ssize_t r;

		tl_pattern_fill(buf, w->seed, off, n);
		r = send(w->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r > 0) {
			off += (__u64)r;
			continue;
		}
		if (r < 0 && errno != EAGAIN && errno != EINTR) {
			w->err = -errno;
			snprintf(w->why, sizeof(w->why), "send at offset %llu: %s",
				 (unsigned long long)off, strerror(errno));
			break;
		}
		if (poll(&p, 1, STALL_MS) == 0) {
			w->err = -ETIMEDOUT;
			snprintf(w->why, sizeof(w->why), "socket not writable for %d ms at %llu",
				 STALL_MS, (unsigned long long)off);
			break;
		}
	}
	if (!w->err && shutdown(w->fd, SHUT_WR) < 0)
		w->err = -errno;
	free(buf);
	return NULL;
}

/*
 * The @n bytes just written to @file at @off must be the stream's bytes
 * there; if not, say which offset they came from.
 */
static int check_chunk(int file, __u64 seed, __u64 off, size_t n, const char *how, char *why,
		       size_t wlen)
{
	static unsigned char buf[1 << 20];
	size_t bad;
	__u64 w = 0;

	if (n > sizeof(buf) || pread(file, buf, n, (off_t)off) != (ssize_t)n) {
		snprintf(why, wlen, "can't read back %zu bytes at %llu", n, (unsigned long long)off);
		return -EIO;
	}
	bad = tl_pattern_check(buf, seed, off, n);
	if (bad == n)
		return 0;
	/* the first whole 8-byte word of the chunk names its stream offset */
	for (size_t i = 0; i + 8 <= n; i++) {
		if ((off + i) % 8 == 0) {
			memcpy(&w, buf + i, 8);
			w = (le64toh(w) ^ seed) * 8 - i;
			break;
		}
	}
	snprintf(why, wlen, "%s returned %zu bytes for stream offset %llu that differ from the "
		 "stream at offset %llu; they look like the bytes of stream offset %llu "
		 "(data out of order: redirected bytes skipped)", how, n,
		 (unsigned long long)off, (unsigned long long)(off + bad), (unsigned long long)w);
	return -EILSEQ;
}

/*
 * Receive @len bytes and EOF from @sock into @file at offset 0 through a
 * pipe with splice(2); with @mixed, every other step reads with recv(2)
 * and write(2)s instead. Returns 0, or -errno with @why filled in.
 */
static int splice_receive(int sock, int file, __u64 seed, __u64 len, bool mixed,
			  __u64 *by_splice, char *why, size_t wlen)
{
	static unsigned char buf[65536];
	int pfd[2] = { -1, -1 }, err = 0;
	long long last = tl_now_ms();
	loff_t foff = 0;
	__u64 got = 0;
	bool eof = false;

	*by_splice = 0;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20);
	for (unsigned long step = 0; !eof; step++) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		ssize_t n;

		if (tl_now_ms() - last > STALL_MS) {
			__u32 rmem = 0;

			tl_sock_rmem(sock, &rmem, NULL);
			snprintf(why, wlen, "no progress for %d ms after %llu of %llu bytes; "
				 "the receiver holds %u bytes (SO_MEMINFO rmem_alloc) that "
				 "%s does not return", STALL_MS, (unsigned long long)got,
				 (unsigned long long)len, rmem, mixed ? "splice/recv" : "splice");
			err = -ETIMEDOUT;
			break;
		}
		if (poll(&p, 1, 100) == 0)
			continue;
		if (mixed && step % 2) {
			n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT);
			if (n > 0 && pwrite(file, buf, (size_t)n, foff) != n) {
				err = -EIO;
				snprintf(why, wlen, "write to the file failed");
				break;
			}
		} else {
			n = splice(sock, NULL, pfd[1], NULL, 1 << 20,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			for (ssize_t left = n; left > 0;) {
				ssize_t m = splice(pfd[0], NULL, file, &foff, (size_t)left,
						   SPLICE_F_MOVE);

				if (m <= 0) {
					err = m < 0 ? -errno : -EIO;
					snprintf(why, wlen, "splice pipe -> file: %s",
						 m < 0 ? strerror(errno) : "returned 0");
					goto cleanup;
				}
				left -= m;	/* splice advanced foff */
			}
			if (n > 0)
				*by_splice += (__u64)n;
		}
		if (n == 0) {
			eof = true;
			break;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			err = -errno;
			snprintf(why, wlen, "%s from the socket at %llu: %s",
				 mixed && step % 2 ? "recv" : "splice", (unsigned long long)got,
				 strerror(errno));
			break;
		}
		if (mixed && step % 2)
			foff += n;
		if (check_chunk(file, seed, got, (size_t)n, mixed && step % 2 ? "recv" : "splice",
				why, wlen)) {
			err = -EILSEQ;
			break;
		}
		got += (__u64)n;
		if ((__u64)foff != got) {
			err = -EIO;
			snprintf(why, wlen, "file offset %lld after %llu bytes", (long long)foff,
				 (unsigned long long)got);
			break;
		}
		last = tl_now_ms();
	}
	if (!err && got != len) {
		__u32 rmem = 0;

		tl_sock_rmem(sock, &rmem, NULL);
		err = -EPIPE;
		snprintf(why, wlen, "EOF after %llu of %llu bytes, while %u bytes were still "
			 "queued for the receiver (SO_MEMINFO rmem_alloc): data lost to the "
			 "application", (unsigned long long)got, (unsigned long long)len, rmem);
	}
cleanup:
	close(pfd[0]);
	close(pfd[1]);
	return err;
}

/* The file must hold exactly the pattern of @seed, @len bytes. */
static int check_file(int file, __u64 seed, __u64 len, char *why, size_t wlen)
{
	static unsigned char buf[1 << 20];
	struct stat sb;

	if (fstat(file, &sb) < 0)
		return -errno;
	if ((__u64)sb.st_size != len) {
		snprintf(why, wlen, "the file holds %lld bytes, expected %llu",
			 (long long)sb.st_size, (unsigned long long)len);
		return -EIO;
	}
	for (__u64 off = 0; off < len;) {
		size_t n = len - off < sizeof(buf) ? (size_t)(len - off) : sizeof(buf), bad;

		if (pread(file, buf, n, (off_t)off) != (ssize_t)n)
			return -EIO;
		bad = tl_pattern_check(buf, seed, off, n);
		if (bad < n) {
			snprintf(why, wlen, "the file differs from the stream at offset %llu",
				 (unsigned long long)(off + bad));
			return -EILSEQ;
		}
		off += n;
	}
	return 0;
}

#define SPLICE_PORT 47123
#define SPLICE_PORT_STR "47123"

/* What carries a connection of splice_case(). */
enum route {
	ROUTE_EXCLUDED,		/* port in exclude_ports: not in sock_hash, on TCP */
	ROUTE_GUARDED,		/* in sock_hash, the splice guard keeps it on TCP */
	ROUTE_REDIRECTED,	/* in sock_hash, the bytes bypass TCP */
};

/* @port: the server's port (0: ephemeral); @route: where the stream must
 * go. Returns whether the file held the stream byte-exact; the map/TCP
 * expectations are asserted. */
static bool splice_case(const struct tl_pins *pins, const char *label, __u64 len, bool mixed,
			__u16 port, enum route route)
{
	bool excluded = route == ROUTE_EXCLUDED;
	/* a guarded receiver splices from its first byte: no recv() warm-up */
	struct tl_pair_opts o = { .family = TL_INET4, .server_port = port,
				  .no_warm_up = route == ROUTE_GUARDED };
	struct tl_pair p = TL_PAIR_INIT;
	struct writer w = { .len = len };
	struct tl_tcp_bytes cb;
	char path[PATH_MAX], why[512] = "";
	__u64 by_splice = 0;
	int file = -1;
	bool started = false, ok = false;

	tl_log("---- %s: %llu MiB, receiver %s", label, (unsigned long long)(len / MiB),
	       mixed ? "alternating splice(2) and recv(2)" : "splice(2) socket -> pipe -> file");
	ASSERT_OK(tl_pair_make(&p, &o), "tl_pair_make");
	ASSERT_EQ(tl_sock_map_state(pins->sock_hash, p.client), excluded ? TL_NOT_IN_MAP : TL_IN_MAP,
		  excluded ? "client of an excluded port not in sock_hash" : "client in sock_hash");
	ASSERT_EQ(tl_sock_map_state(pins->sock_hash, p.server), excluded ? TL_NOT_IN_MAP : TL_IN_MAP,
		  excluded ? "server of an excluded port not in sock_hash" : "server in sock_hash");
	ASSERT_OK(tl_tmp_path(path, label), "file path");
	file = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_FD(file, "open the receiver's file");

	w.fd = p.client;
	w.seed = tl_seed(label);
	ASSERT_OK(-pthread_create(&w.th, NULL, writer_main, &w), "start the writer");
	started = true;
	if (splice_receive(p.server, file, w.seed, len, mixed, &by_splice, why, sizeof(why))) {
		tl_log("%s: the receiver did not get the stream: %s", label, why);
		goto cleanup;	/* ok stays false: the caller decides what that means */
	}
	pthread_join(w.th, NULL);
	started = false;
	if (w.err)
		FAIL("%s: writer: %s", label, w.why);
	if (check_file(file, w.seed, len, why, sizeof(why))) {
		tl_log("%s: %s", label, why);
		goto cleanup;
	}
	tl_log("%s: %llu bytes byte-exact in the file (%llu moved by splice), EOF after them",
	       label, (unsigned long long)len, (unsigned long long)by_splice);
	ASSERT_GT(by_splice, 0, "splice(2) moved data");
	ASSERT_OK(tl_tcp_bytes(p.client, &cb), "TCP_INFO client");
	tl_log("%s: TCP carried %llu of %llu bytes", label, (unsigned long long)cb.sent,
	       (unsigned long long)len);
	if (route == ROUTE_EXCLUDED)
		ASSERT_GE(cb.sent, len, "TCP carried the whole stream (excluded port)");
	else if (route == ROUTE_GUARDED)
		ASSERT_GE(cb.sent, len, "TCP carried the whole stream (the splice guard kept the "
			  "connection on TCP)");
	else
		ASSERT_LE(cb.sent, TL_BYPASS_MAX(len), "the stream bypassed TCP (accelerated)");
	ok = true;
cleanup:
	if (started) {
		shutdown(p.client, SHUT_RDWR);
		pthread_join(w.th, NULL);
	}
	if (file >= 0)
		close(file);
	tl_pair_close(&p);
	return ok;
}

/* 1: CONFIG_TLS is y or m, 0: not set, -errno: cannot tell. */
static int kernel_has_tls(void)
{
	char line[256];
	gzFile f = gzopen("/proc/config.gz", "rb");
	int ret = -ENOENT;

	if (!f)
		return -errno ? -errno : -ENOENT;
	while (gzgets(f, line, sizeof(line))) {
		if (strncmp(line, "CONFIG_TLS=", 11) == 0)
			ret = 1;
		else if (strncmp(line, "# CONFIG_TLS is not set", 23) == 0)
			ret = 0;
	}
	gzclose(f);
	return ret < 0 ? 0 : ret;	/* absent from the config: not built */
}

/* TCP_ULP "tls" on an inserted socket, then the stream both ways. */
static bool ktls_case(const struct tl_pins *pins)
{
	struct tl_pair_opts o = { .family = TL_INET4 };
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_stream c2s, s2c;
	bool ok = false;
	int r;

	tl_stream_init(&c2s, "ktls c2s", 8 * MiB, TL_WRITE_SEND);
	tl_stream_init(&s2c, "ktls s2c", 8 * MiB, TL_WRITE_SEND);
	ASSERT_OK(tl_pair_make(&p, &o), "tl_pair_make");
	ASSERT_EQ(tl_sock_map_state(pins->sock_hash, p.client), TL_IN_MAP, "client in sock_hash");
	r = setsockopt(p.client, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls"));
	if (r < 0)
		tl_log("kTLS: TCP_ULP \"tls\" on an inserted socket refused: %s", strerror(errno));
	else
		tl_log("kTLS: TCP_ULP \"tls\" on an inserted socket accepted");
	ASSERT_OK(tl_stream_start(&c2s, p.client, p.server), "start client->server");
	ASSERT_OK(tl_stream_start(&s2c, p.server, p.client), "start server->client");
	ASSERT_OK(tl_stream_join(&c2s, 60000), "kTLS socket: client->server byte-exact");
	ASSERT_OK(tl_stream_join(&s2c, 60000), "kTLS socket: server->client byte-exact");
	ok = true;
cleanup:
	tl_stream_stop(&c2s);
	tl_stream_stop(&s2c);
	tl_pair_close(&p);
	return ok;
}

/* Counter @i of @after minus @before. */
#define DELTA(after, before, i) ((after)[i] - (before)[i])

/*
 * 3. The splice guard: the three receivers on accelerated connections get
 * the stream, and splice_stepaside rose. Each case runs whatever the others
 * did, so the log shows all three.
 */
static bool guarded_cases(const struct tl_pins *pins)
{
	__u64 before[SA_CNT_MAX], after[SA_CNT_MAX];
	bool ok_small, ok_big, ok_mixed, ok = false;

	ASSERT_OK(tl_counters(pins, before), "read the counters before");
	ok_small = splice_case(pins, "guarded-splice-4MiB", 4 * MiB, false, 0, ROUTE_GUARDED);
	ok_big = splice_case(pins, "guarded-splice-64MiB", 64 * MiB, false, 0, ROUTE_GUARDED);
	ok_mixed = splice_case(pins, "guarded-splice+recv-64MiB", 64 * MiB, true, 0,
			       ROUTE_GUARDED);
	ASSERT_OK(tl_counters(pins, after), "read the counters after");
	tl_counters_log("after the splice guard cases", after);
	tl_log("splice guard: directions_started_on_tcp +%llu, splice_stepaside +%llu, "
	       "splice_learned +%llu, splice_stranded +%llu",
	       (unsigned long long)DELTA(after, before, SA_CNT_STARTS_ON_TCP),
	       (unsigned long long)DELTA(after, before, SA_CNT_SPLICE_STEPASIDE),
	       (unsigned long long)DELTA(after, before, SA_CNT_SPLICE_LEARNED),
	       (unsigned long long)DELTA(after, before, SA_CNT_SPLICE_STRANDED));
	ASSERT_TRUE(ok_small, "splice receiver on an accelerated connection with the splice "
		    "guard, 4 MiB");
	ASSERT_TRUE(ok_big, "splice receiver on an accelerated connection with the splice "
		    "guard, 64 MiB");
	ASSERT_TRUE(ok_mixed, "alternating splice/recv receiver on an accelerated connection "
		    "with the splice guard, 64 MiB");
	ASSERT_GT(DELTA(after, before, SA_CNT_SPLICE_STEPASIDE), 0,
		  "splice_stepaside rose: the guard moved the splice receivers' connections "
		  "to TCP");
	ok = true;
cleanup:
	return ok;
}

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	bool ok_kernel, ok_small, ok_big, ok_mixed, ok_tls = true, ok_guard = true;
	bool has_splice, has_flow;
	char variant[256] = "?";
	int tls;

	ASSERT_OK(tl_init("ktls_splice", TL_BUDGET_S), "tl_init");
	/* the setup without the guard: a splicing server's port is excluded */
	ASSERT_OK(tl_config_write("exclude_ports = " SPLICE_PORT_STR "\n"), "write config");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters");
	tl_daemon_variant(&d, variant, sizeof(variant));
	has_splice = tl_daemon_has_feature(&d, "splice_guard");
	has_flow = tl_daemon_has_feature(&d, "flow_control");
	tl_log("sockacceld runs variant %s", variant);

	/* 1. excluded by port: on TCP, byte-exact; each case runs whatever the
	 * others did, so the log shows all three */
	ok_small = splice_case(&pins, "excluded-splice-4MiB", 4 * MiB, false, SPLICE_PORT,
			       ROUTE_EXCLUDED);
	ok_big = splice_case(&pins, "excluded-splice-64MiB", 64 * MiB, false, SPLICE_PORT,
			     ROUTE_EXCLUDED);
	ok_mixed = splice_case(&pins, "excluded-splice+recv-64MiB", 64 * MiB, true, SPLICE_PORT,
			       ROUTE_EXCLUDED);
	/* 2. kTLS, before this process is known as a splicer (3) */
	tls = kernel_has_tls();
	if (tls == 0)
		tl_log("SKIP kTLS: CONFIG_TLS is not set on this kernel");
	else
		ok_tls = ktls_case(&pins);

	/* 3. the splice guard, on accelerated connections; a missing feature
	 * fails (or skips) this part only, 4 still runs */
	if (!has_splice)
		tl_fail_msg(__FILE__, __LINE__, "sockacceld runs variant %s without splice_guard%s: "
			    "the splice guard is missing, splice receivers on accelerated "
			    "connections cannot be checked (sockacceld's log says why it was "
			    "refused)", variant, has_flow ? "" : " and without flow_control");
	else if (!has_flow)
		tl_log("SKIP the splice guard on accelerated connections: flow_control not "
		       "loaded: receivers are not kept off the fast path until their first "
		       "recvmsg (variant %s)", variant);
	else
		ok_guard = guarded_cases(&pins);
	ASSERT_TRUE(ok_small, "splice receiver on an excluded port, 4 MiB");
	ASSERT_TRUE(ok_big, "splice receiver on an excluded port, 64 MiB");
	ASSERT_TRUE(ok_mixed, "alternating splice/recv receiver on an excluded port, 64 MiB");
	ASSERT_TRUE(ok_tls, "kTLS on an inserted socket");
	ASSERT_TRUE(ok_guard, "splice receivers on accelerated connections with the splice guard");

	tl_pins_close(&pins);
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
	tl_daemon_release(&d);

	/* 4. the kernel behaviour, on an accelerated connection without the
	 * guard */
	ASSERT_OK(tl_daemon_start_variant(&d, "splice_guard", "base+"),
		  "start sockacceld with splice_guard refused");
	ASSERT_FALSE(tl_daemon_has_feature(&d, "splice_guard"),
		     "sockacceld runs without splice_guard when it is refused");
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash and counters again");
	ok_kernel = splice_case(&pins, "unguarded-splice-4MiB", 4 * MiB, false, 0,
				ROUTE_REDIRECTED);
	ASSERT_FALSE(ok_kernel, "a splice(2) receiver on an accelerated connection misses the "
		     "redirected bytes on this kernel; if it now gets them, the kernel fixed "
		     "splice_misses_redirected: update docs/kernel-behaviours.md and this test");

	tl_pins_close(&pins);
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	tl_pins_close(&pins);
	tl_daemon_release(&d);
	return tl_finish();
}
