// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sabench: the benchmark suite's load generator. The server and the client
 * are separate processes (bench/run.sh places both in the benchmark cgroup
 * and pins them with taskset); they talk over one loopback TCP connection
 * or an AF_UNIX stream socket.
 *
 *   sabench server --test T [--unix PATH] [--ready-file F] [--size N] [--window B]
 *   sabench client --test T (--port P | --unix PATH) [--size N] [--window B]
 *                  [--duration-ms MS] [--warmup-ms MS] [--hist-file F]
 *
 * Tests:
 *   rr      ping-pong of --size bytes: round trips/s, latency percentiles
 *   stream  the client writes --size bytes per write for --duration-ms; the
 *           server checks every byte against a counter pattern and reports
 *           the rate of verified bytes. With --window the server
 *           acknowledges what it has read and the client stays at most that
 *           many bytes ahead (an application-level window; sockmap redirects
 *           have no flow control of their own)
 *   crr     connect, one --size exchange, close: connections/s
 *
 * At the end the server sends its own figures (bytes verified, its sockets'
 * tcpi_bytes_sent) over the connection; the client prints one line of
 * key=value fields on stdout, including tcp_bytes: what TCP itself carried
 * in both directions (tcpi_bytes_sent of every socket), which is ~0 when
 * sockmap redirected the traffic.
 *
 * Exit status: 0 done and verified, 1 failed (I/O error, timeout, a wrong
 * byte, a byte count mismatch), 2 usage.
 */
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#define SZ_MAX		(16u << 20)	/* largest --size */
#define RX_BUF		(256u << 10)	/* stream receiver's read size */
#define CRR_QUIT	'Q'		/* first byte of the crr control request */
#define RESULT_MAGIC	0x5341424e43485231ull	/* "SABNCHR1" */

/* Stream pattern: the stream is a sequence of little-endian u64 words, word
 * i holding i mod PAT_K. PAT_K is prime (2^17 - 1), so a lost or repeated
 * run of power-of-two writes goes unnoticed only if it is a multiple of
 * PAT_K writes long; and the sender can send straight out of one
 * precomputed buffer of a period plus one write. */
#define PAT_K		131071u
#define PAT_PERIOD	((size_t)PAT_K * 8)

enum test { T_RR, T_STREAM, T_CRR };
static const char *const test_names[] = { "rr", "stream", "crr" };

struct env {
	bool server;
	enum test test;
	const char *unix_path;		/* AF_UNIX instead of TCP */
	const char *host;		/* TCP address, default 127.0.0.1 */
	unsigned port;			/* client: server's port; server: 0 = any */
	const char *ready_file;		/* server: gets the port once listening */
	size_t size;
	unsigned duration_ms;
	unsigned warmup_ms;
	unsigned timeout_ms;		/* every blocking call, and the whole run */
	const char *hist_file;		/* client: latency histogram (ns, count) */
	uint64_t window;		/* stream: bytes the writer may be ahead of the
					 * reader's acknowledgements; 0: no limit */
};

static struct env env = {
	.test = T_RR,
	.host = "127.0.0.1",
	.size = 64,
	.duration_ms = 3000,
	.warmup_ms = 300,
	.timeout_ms = 10000,
};

/* The server's figures, sent to the client at the end. Both ends are this
 * binary on this host, so a plain struct is fine. */
struct result {
	uint64_t magic;
	uint64_t rx_bytes;		/* stream: bytes received and verified */
	uint64_t rx_meas_bytes;	/* stream: of those, after the warm-up */
	uint64_t rx_meas_ns;		/* stream: length of that window */
	uint64_t tcp_bytes_sent;	/* sum over the server's sockets */
	uint64_t conns;			/* crr: connections served */
	uint64_t eagain;		/* spurious EAGAIN on blocking calls */
};

/* Spurious EAGAIN: a blocking recv()/send() that returned EAGAIN before its
 * timeout (tcp_bpf_recvmsg wakes and gives up; see docs/design.md). */
static uint64_t eagain_spurious;

static void p_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void p_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sabench %s: ", env.server ? "server" : "client");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------------- */
/* Latency histogram: log-linear, 1/64 relative resolution, up to ~2^40 ns */

#define H_SUB_BITS	6
#define H_SUB		(1u << H_SUB_BITS)
#define H_BUCKETS	(41u * H_SUB)

struct hist {
	uint64_t n[H_BUCKETS];
	uint64_t count;
};

static unsigned h_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < H_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	if (msb > 39)
		return H_BUCKETS - 1;
	shift = msb - H_SUB_BITS;
	return (shift + 1) * H_SUB + (unsigned)((v >> shift) & (H_SUB - 1));
}

/* Upper edge of bucket @i (the value reported for it). */
static uint64_t h_value(unsigned i)
{
	unsigned shift;

	if (i < H_SUB)
		return i;
	shift = i / H_SUB - 1;
	return ((uint64_t)(H_SUB + i % H_SUB + 1) << shift) - 1;
}

static void h_add(struct hist *h, uint64_t v)
{
	h->n[h_index(v)]++;
	h->count++;
}

static uint64_t h_pct(const struct hist *h, double pct)
{
	uint64_t want = (uint64_t)((double)h->count * pct / 100.0 + 0.5), seen = 0;

	if (want == 0)
		want = 1;
	for (unsigned i = 0; i < H_BUCKETS; i++) {
		seen += h->n[i];
		if (seen >= want)
			return h_value(i);
	}
	return 0;
}

static int h_write(const struct hist *h, const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f) {
		p_err("can't write the histogram '%s': %s", path, strerror(errno));
		return -1;
	}
	fprintf(f, "# ns\tcount\n");
	for (unsigned i = 0; i < H_BUCKETS; i++)
		if (h->n[i])
			fprintf(f, "%" PRIu64 "\t%" PRIu64 "\n", h_value(i), h->n[i]);
	if (fclose(f)) {
		p_err("can't write the histogram '%s': %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Sockets */

static int set_timeouts(int fd)
{
	struct timeval tv = {
		.tv_sec = env.timeout_ms / 1000,
		.tv_usec = (env.timeout_ms % 1000) * 1000,
	};

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv))) {
		p_err("setsockopt(SO_RCVTIMEO/SO_SNDTIMEO): %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int make_addr(struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (env.unix_path) {
		struct sockaddr_un *a = (struct sockaddr_un *)ss;

		if (strlen(env.unix_path) >= sizeof(a->sun_path)) {
			p_err("unix socket path too long: %s", env.unix_path);
			return -1;
		}
		a->sun_family = AF_UNIX;
		strcpy(a->sun_path, env.unix_path);
		*len = sizeof(*a);
		return 0;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	if (inet_pton(AF_INET, env.host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)env.port);
		*len = sizeof(*a4);
	} else if (inet_pton(AF_INET6, env.host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)env.port);
		*len = sizeof(*a6);
	} else {
		p_err("--host '%s' is not an IPv4 or IPv6 address", env.host);
		return -1;
	}
	return 0;
}

/* TCP bytes this socket sent through the TCP stack (0 for AF_UNIX). */
static uint64_t tcp_bytes_sent(int fd)
{
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);

	if (env.unix_path)
		return 0;
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl))
		return 0;
	return ti.tcpi_bytes_sent;
}

/*
 * A blocking call that fails with EAGAIN has either timed out (SO_RCVTIMEO)
 * or woken up without data, which tcp_bpf_recvmsg does: the latter is
 * counted and retried, the former is an error.
 */
static bool eagain_retry(uint64_t started, const char *what)
{
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		return false;
	if (now_ns() - started < (uint64_t)env.timeout_ms * 1000000ull * 9 / 10) {
		eagain_spurious++;
		return true;
	}
	p_err("%s: no progress for %u ms", what, env.timeout_ms);
	errno = ETIMEDOUT;
	return false;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	uint64_t t0 = 0;

	while (len) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (!t0)
				t0 = now_ns();
			if (eagain_retry(t0, "send"))
				continue;
			p_err("send: %s", strerror(errno));
			return -1;
		}
		p += w;
		len -= (size_t)w;
		t0 = 0;
	}
	return 0;
}

/* Read exactly @len bytes. 1: EOF before the first byte, 0: done, -1: error. */
static int recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;
	uint64_t t0 = 0;

	while (got < len) {
		ssize_t r = recv(fd, p + got, len - got, 0);

		if (r > 0) {
			got += (size_t)r;
			t0 = 0;
			continue;
		}
		if (r == 0) {
			if (got == 0)
				return 1;
			p_err("recv: EOF after %zu of %zu bytes", got, len);
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (!t0)
			t0 = now_ns();
		if (eagain_retry(t0, "recv"))
			continue;
		p_err("recv: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Wait for the peer's EOF: 0 on EOF, -1 on error or unexpected data. */
static int recv_eof(int fd)
{
	char c;
	int r = recv_all(fd, &c, 1);

	if (r == 1)
		return 0;
	if (r == 0)
		p_err("unexpected data instead of EOF");
	return -1;
}

static int listen_socket(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (make_addr(&ss, &len))
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		p_err("socket: %s", strerror(errno));
		return -1;
	}
	if (env.unix_path)
		unlink(env.unix_path);
	else
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 128)) {
		p_err("bind/listen on %s: %s", env.unix_path ? env.unix_path : env.host,
		      strerror(errno));
		goto fail;
	}
	if (set_timeouts(fd))	/* SO_RCVTIMEO bounds accept() */
		goto fail;
	if (env.ready_file) {
		char tmp[PATH_MAX];
		unsigned port = 0;
		FILE *f;

		if (!env.unix_path) {
			len = sizeof(ss);
			if (getsockname(fd, (struct sockaddr *)&ss, &len)) {
				p_err("getsockname: %s", strerror(errno));
				goto fail;
			}
			port = ntohs(ss.ss_family == AF_INET ?
				     ((struct sockaddr_in *)&ss)->sin_port :
				     ((struct sockaddr_in6 *)&ss)->sin6_port);
		}
		snprintf(tmp, sizeof(tmp), "%s.tmp", env.ready_file);
		f = fopen(tmp, "we");
		if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) ||
		    rename(tmp, env.ready_file)) {
			p_err("can't write '%s': %s", env.ready_file, strerror(errno));
			goto fail;
		}
	}
	return fd;
fail:
	close(fd);
	return -1;
}

static int accept_one(int lfd)
{
	uint64_t t0 = now_ns();

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd >= 0) {
			if (set_timeouts(fd)) {
				close(fd);
				return -1;
			}
			return fd;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (eagain_retry(t0, "accept"))
			continue;
		p_err("accept: %s", strerror(errno));
		return -1;
	}
}

static int connect_one(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (make_addr(&ss, &len))
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		p_err("socket: %s", strerror(errno));
		return -1;
	}
	if (set_timeouts(fd) || connect(fd, (struct sockaddr *)&ss, len)) {
		p_err("connect to %s port %u: %s", env.unix_path ? env.unix_path : env.host,
		      env.port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int send_result(int fd, struct result *res)
{
	res->magic = RESULT_MAGIC;
	res->eagain = eagain_spurious;
	return send_all(fd, res, sizeof(*res));
}

/* The result follows any stream acknowledgements (8-byte totals) still
 * queued; the magic tells them apart. */
static int recv_result(int fd, struct result *res)
{
	do {
		if (recv_all(fd, &res->magic, sizeof(res->magic)) != 0)
			goto fail;
	} while (res->magic != RESULT_MAGIC);
	if (recv_all(fd, (char *)res + sizeof(res->magic), sizeof(*res) - sizeof(res->magic)))
		goto fail;
	return 0;
fail:
	p_err("no result from the server");
	return -1;
}

/* ---------------------------------------------------------------------- */
/* Stream pattern */

static void pattern_fill(unsigned char *buf, size_t len)
{
	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t w = htole64((uint64_t)((i / 8) % PAT_K));

		memcpy(buf + i, &w, 8);
	}
}

static unsigned char pattern_byte(uint64_t off)
{
	return (unsigned char)(((off / 8) % PAT_K) >> ((off % 8) * 8));
}

/* Check @len bytes at stream offset @off. Returns the offset of the first
 * wrong byte, or UINT64_MAX when all are right. */
static uint64_t pattern_check(const unsigned char *p, size_t len, uint64_t off)
{
	size_t i = 0;

	while (i < len && (off + i) % 8) {
		if (p[i] != pattern_byte(off + i))
			return off + i;
		i++;
	}
	uint64_t idx = ((off + i) / 8) % PAT_K;

	while (len - i >= 8) {
		size_t words = (len - i) / 8, seg = PAT_K - idx;
		uint64_t bad = 0;

		if (seg > words)
			seg = words;
		/* a branch-free run the compiler can vectorise */
		for (size_t j = 0; j < seg; j++) {
			uint64_t w;

			memcpy(&w, p + i + j * 8, 8);
			bad |= le64toh(w) ^ (idx + j);
		}
		if (bad) {
			for (size_t j = 0; j < seg * 8; j++)
				if (p[i + j] != pattern_byte(off + i + j))
					return off + i + j;
		}
		i += seg * 8;
		idx += seg;
		if (idx == PAT_K)
			idx = 0;
	}
	for (; i < len; i++)
		if (p[i] != pattern_byte(off + i))
			return off + i;
	return UINT64_MAX;
}

/* ---------------------------------------------------------------------- */
/* Server side */

static int serve_rr(int fd)
{
	struct result res = {};
	char *buf = malloc(env.size);
	int r, rc = -1;

	if (!buf)
		return -1;
	for (;;) {
		r = recv_all(fd, buf, env.size);
		if (r == 1)
			break;
		if (r < 0 || send_all(fd, buf, env.size))
			goto out;
	}
	res.tcp_bytes_sent = tcp_bytes_sent(fd);
	rc = send_result(fd, &res);
out:
	free(buf);
	return rc;
}

static int serve_stream(int fd)
{
	struct result res = {};
	unsigned char *buf = aligned_alloc(4096, RX_BUF);
	uint64_t off = 0, first = 0, win_start = 0, win_off = 0, last = 0, t0 = 0, acked = 0;
	uint64_t warm = (uint64_t)env.warmup_ms * 1000000ull;
	int rc = -1;

	if (!buf)
		return -1;
	for (;;) {
		ssize_t r = recv(fd, buf, RX_BUF, 0);

		if (r > 0) {
			uint64_t bad = pattern_check(buf, (size_t)r, off), t = now_ns();

			if (bad != UINT64_MAX) {
				p_err("stream: wrong byte at offset %" PRIu64 ": got 0x%02x, "
				      "want 0x%02x", bad, buf[bad - off], pattern_byte(bad));
				goto out;
			}
			if (!first)
				first = t;
			if (!win_start && t - first >= warm) {
				win_start = t;
				win_off = off + (uint64_t)r;
			}
			off += (uint64_t)r;
			last = t;
			t0 = 0;
			/* the writer's window: acknowledge every eighth of it */
			if (env.window && off - acked >= env.window / 8) {
				if (send_all(fd, &off, sizeof(off)))
					goto out;
				acked = off;
			}
			continue;
		}
		if (r == 0)
			break;
		if (errno == EINTR)
			continue;
		if (!t0)
			t0 = now_ns();
		if (eagain_retry(t0, "recv"))
			continue;
		p_err("stream: recv at offset %" PRIu64 ": %s", off, strerror(errno));
		goto out;
	}
	res.rx_bytes = off;
	if (win_start && last > win_start) {
		res.rx_meas_bytes = off - win_off;
		res.rx_meas_ns = last - win_start;
	} else if (first && last > first) {	/* shorter than the warm-up */
		res.rx_meas_bytes = off;
		res.rx_meas_ns = last - first;
	}
	res.tcp_bytes_sent = tcp_bytes_sent(fd);
	rc = send_result(fd, &res);
out:
	free(buf);
	return rc;
}

static int serve_crr(int lfd)
{
	struct result res = {};
	char *buf = malloc(env.size);

	if (!buf)
		return -1;
	for (;;) {
		int fd = accept_one(lfd);

		if (fd < 0)
			goto fail;
		if (recv_all(fd, buf, env.size) != 0) {
			close(fd);
			goto fail;
		}
		if (buf[0] == CRR_QUIT) {
			int rc = send_result(fd, &res);

			close(fd);
			free(buf);
			return rc;
		}
		if (send_all(fd, buf, env.size) || recv_eof(fd)) {
			close(fd);
			goto fail;
		}
		res.tcp_bytes_sent += tcp_bytes_sent(fd);
		res.conns++;
		close(fd);
	}
fail:
	free(buf);
	return -1;
}

static int run_server(void)
{
	int lfd = listen_socket(), fd, rc;

	if (lfd < 0)
		return 1;
	if (env.test == T_CRR) {
		rc = serve_crr(lfd);
	} else {
		fd = accept_one(lfd);
		if (fd < 0) {
			close(lfd);
			return 1;
		}
		rc = env.test == T_RR ? serve_rr(fd) : serve_stream(fd);
		if (rc == 0)
			rc = recv_eof(fd);
		close(fd);
	}
	close(lfd);
	if (env.unix_path)
		unlink(env.unix_path);
	return rc ? 1 : 0;
}

/* ---------------------------------------------------------------------- */
/* Client side */

static void print_common(uint64_t ops, uint64_t ns)
{
	printf("test=%s size=%zu family=%s ops=%" PRIu64 " secs=%.6f rate=%.1f",
	       test_names[env.test], env.size, env.unix_path ? "unix" : "tcp", ops,
	       (double)ns / 1e9, ns ? (double)ops * 1e9 / (double)ns : 0.0);
}

static void print_lat(const struct hist *h)
{
	printf(" p50_ns=%" PRIu64 " p90_ns=%" PRIu64 " p99_ns=%" PRIu64 " p999_ns=%" PRIu64,
	       h_pct(h, 50), h_pct(h, 90), h_pct(h, 99), h_pct(h, 99.9));
}

static int client_rr(void)
{
	struct hist *h = calloc(1, sizeof(*h));
	char *buf = malloc(env.size);
	struct result res;
	uint64_t end, warm_end, t, prev, ops = 0, all = 0, win_start = 0, tcp;
	int fd = -1, rc = 1;

	if (!h || !buf)
		goto out;
	memset(buf, 'x', env.size);
	fd = connect_one();
	if (fd < 0)
		goto out;
	prev = now_ns();
	warm_end = prev + (uint64_t)env.warmup_ms * 1000000ull;
	end = warm_end + (uint64_t)env.duration_ms * 1000000ull;
	do {
		if (send_all(fd, buf, env.size) || recv_all(fd, buf, env.size) != 0)
			goto out;
		t = now_ns();
		all++;
		/* the first round trip after the warm-up opens the window */
		if (t >= warm_end) {
			if (!win_start) {
				win_start = t;
			} else {
				h_add(h, t - prev);
				ops++;
			}
		}
		prev = t;
	} while (t < end);
	tcp = tcp_bytes_sent(fd);
	if (shutdown(fd, SHUT_WR) || recv_result(fd, &res))
		goto out;
	print_common(ops, t - win_start);
	print_lat(h);
	printf(" app_bytes=%" PRIu64 " tcp_bytes=%" PRIu64 " tcp_bytes_client=%" PRIu64
	       " tcp_bytes_server=%" PRIu64 " eagain=%" PRIu64 "\n",
	       2 * all * env.size, tcp + res.tcp_bytes_sent, tcp, res.tcp_bytes_sent,
	       eagain_spurious + res.eagain);
	rc = env.hist_file && h_write(h, env.hist_file) ? 1 : 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(h);
	return rc;
}

static int client_stream(void)
{
	size_t buflen = PAT_PERIOD + env.size;
	unsigned char *buf = aligned_alloc(4096, (buflen + 4095) & ~(size_t)4095);
	uint64_t sent = 0, acked = 0, start, end, t, tcp, waits = 0;
	struct result res;
	int fd = -1, rc = 1;

	if (!buf)
		goto out;
	pattern_fill(buf, buflen);
	fd = connect_one();
	if (fd < 0)
		goto out;
	start = now_ns();
	end = start + (uint64_t)(env.warmup_ms + env.duration_ms) * 1000000ull;
	do {
		/* at most a window ahead of what the reader acknowledged */
		while (env.window && sent + env.size - acked > env.window) {
			uint64_t v;

			if (recv_all(fd, &v, sizeof(v)) != 0 || v == RESULT_MAGIC || v > sent) {
				p_err("stream: bad acknowledgement from the reader");
				goto out;
			}
			acked = v;
			waits++;
			/* acknowledgements are running totals: take the newest */
			while (recv(fd, &v, sizeof(v), MSG_DONTWAIT | MSG_PEEK) == sizeof(v) &&
			       v != RESULT_MAGIC && v <= sent &&
			       recv(fd, &v, sizeof(v), MSG_DONTWAIT) == sizeof(v))
				acked = v;
		}
		if (send_all(fd, buf + sent % PAT_PERIOD, env.size))
			goto out;
		sent += env.size;
		t = now_ns();
	} while (t < end);
	if (shutdown(fd, SHUT_WR) || recv_result(fd, &res))
		goto out;
	tcp = tcp_bytes_sent(fd);
	if (res.rx_bytes != sent) {
		p_err("stream: sent %" PRIu64 " bytes, the server verified %" PRIu64,
		      sent, res.rx_bytes);
		goto out;
	}
	print_common(res.rx_meas_bytes, res.rx_meas_ns);
	printf(" mbps=%.1f tx_mbps=%.1f window_waits=%" PRIu64 " app_bytes=%" PRIu64
	       " tcp_bytes=%" PRIu64 " tcp_bytes_client=%" PRIu64 " tcp_bytes_server=%" PRIu64
	       " eagain=%" PRIu64 "\n",
	       res.rx_meas_ns ? (double)res.rx_meas_bytes * 1e3 / (double)res.rx_meas_ns : 0.0,
	       (double)sent * 1e3 / (double)(t - start), waits, sent, tcp + res.tcp_bytes_sent,
	       tcp, res.tcp_bytes_sent, eagain_spurious + res.eagain);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

static int client_crr(void)
{
	struct hist *h = calloc(1, sizeof(*h));
	char *buf = malloc(env.size);
	uint64_t start, warm_end, end, t0, t = 0, ops = 0, win_start = 0, tcp = 0;
	struct result res;
	int fd, rc = 1;

	if (!h || !buf)
		goto out;
	memset(buf, 'c', env.size);
	start = now_ns();
	warm_end = start + (uint64_t)env.warmup_ms * 1000000ull;
	end = warm_end + (uint64_t)env.duration_ms * 1000000ull;
	do {
		t0 = now_ns();
		fd = connect_one();
		if (fd < 0)
			goto out;
		if (send_all(fd, buf, env.size) || recv_all(fd, buf, env.size) != 0) {
			close(fd);
			goto out;
		}
		tcp += tcp_bytes_sent(fd);
		close(fd);
		t = now_ns();
		if (t >= warm_end) {
			if (!win_start)
				win_start = t0;
			h_add(h, t - t0);
			ops++;
		}
	} while (t < end);
	/* the control connection: collect the server's figures */
	fd = connect_one();
	if (fd < 0)
		goto out;
	buf[0] = CRR_QUIT;
	if (send_all(fd, buf, env.size) || recv_result(fd, &res)) {
		close(fd);
		goto out;
	}
	close(fd);
	print_common(ops, t - win_start);
	print_lat(h);
	printf(" conns=%" PRIu64 " app_bytes=%" PRIu64 " tcp_bytes=%" PRIu64
	       " tcp_bytes_client=%" PRIu64 " tcp_bytes_server=%" PRIu64 " eagain=%" PRIu64 "\n",
	       res.conns, 2 * res.conns * env.size, tcp + res.tcp_bytes_sent, tcp,
	       res.tcp_bytes_sent, eagain_spurious + res.eagain);
	rc = env.hist_file && h_write(h, env.hist_file) ? 1 : 0;
out:
	free(buf);
	free(h);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Options */

static void usage(FILE *f)
{
	fprintf(f,
"Usage: sabench server|client [OPTIONS]\n"
"The sockaccel benchmark's load generator (see bench/README.md).\n"
"\n"
"  -t, --test rr|stream|crr  what to run (default rr)\n"
"  -s, --size N              message size (rr, crr) or write size (stream), 1..%u\n"
"                            (default 64; crr needs at least 1)\n"
"  -H, --host ADDR           TCP address (default 127.0.0.1; ::1 for IPv6)\n"
"  -p, --port N              client: the server's port; server: default any\n"
"  -u, --unix PATH           use an AF_UNIX stream socket at PATH instead of TCP\n"
"  -r, --ready-file F        server: write the port to F once listening\n"
"  -d, --duration-ms MS      client: measured time, 10..3600000 (default 3000)\n"
"  -w, --warmup-ms MS        client: unmeasured time before it, 0..60000 (default 300)\n"
"  -T, --timeout-ms MS       every blocking call, 100..600000 (default 10000)\n"
"  -o, --hist-file F         client (rr, crr): latency histogram, ns and count\n"
"  -W, --window BYTES        stream, both ends: the writer stays at most BYTES ahead\n"
"                            of the reader's acknowledgements (0: no limit, the default;\n"
"                            at least 65536)\n""  -h, --help                this text\n"
"\n"
"The client prints one line of key=value fields; tcp_bytes is what TCP\n"
"carried (tcpi_bytes_sent of every socket, both ends), ~0 when redirected.\n"
"Exit status: 0 done and verified, 1 failed, 2 usage.\n", SZ_MAX);
}

static int parse_uint(const char *name, const char *s, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "sabench: %s '%s': want an integer in %lu..%lu\n",
			name, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "test", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 's' },
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "unix", required_argument, NULL, 'u' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "duration-ms", required_argument, NULL, 'd' },
		{ "warmup-ms", required_argument, NULL, 'w' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ "hist-file", required_argument, NULL, 'o' },
		{ "window", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	unsigned long v;
	int opt;

	if (argc < 2) {
		usage(stderr);
		return -1;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		exit(0);
	}
	if (!strcmp(argv[1], "server")) {
		env.server = true;
	} else if (strcmp(argv[1], "client")) {
		fprintf(stderr, "sabench: first argument '%s': want server or client\n", argv[1]);
		usage(stderr);
		return -1;
	}
	optind = 2;
	while ((opt = getopt_long(argc, argv, "t:s:H:p:u:r:d:w:T:o:W:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 't':
			for (v = 0; v < 3; v++)
				if (!strcmp(optarg, test_names[v]))
					break;
			if (v == 3) {
				fprintf(stderr, "sabench: --test '%s': want rr, stream or crr\n",
					optarg);
				return -1;
			}
			env.test = (enum test)v;
			break;
		case 's':
			if (parse_uint("--size", optarg, 1, SZ_MAX, &v))
				return -1;
			env.size = v;
			break;
		case 'H':
			env.host = optarg;
			break;
		case 'p':
			if (parse_uint("--port", optarg, 0, 65535, &v))
				return -1;
			env.port = (unsigned)v;
			break;
		case 'u':
			env.unix_path = optarg;
			break;
		case 'r':
			env.ready_file = optarg;
			break;
		case 'd':
			if (parse_uint("--duration-ms", optarg, 10, 3600000, &v))
				return -1;
			env.duration_ms = (unsigned)v;
			break;
		case 'w':
			if (parse_uint("--warmup-ms", optarg, 0, 60000, &v))
				return -1;
			env.warmup_ms = (unsigned)v;
			break;
		case 'T':
			if (parse_uint("--timeout-ms", optarg, 100, 600000, &v))
				return -1;
			env.timeout_ms = (unsigned)v;
			break;
		case 'o':
			env.hist_file = optarg;
			break;
		case 'W':
			if (parse_uint("--window", optarg, 0, 1ul << 30, &v))
				return -1;
			env.window = v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sabench: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!env.server && !env.unix_path && env.port == 0) {
		fprintf(stderr, "sabench: client: --port or --unix is required\n");
		return -1;
	}
	if (env.window && (env.window < 65536 || env.window < env.size)) {
		fprintf(stderr, "sabench: --window %" PRIu64 ": want 0, or at least 65536 and --size\n",
			env.window);
		return -1;
	}
	if (env.test == T_STREAM && env.size % 8) {
		fprintf(stderr, "sabench: --size %zu: stream writes must be a multiple of 8\n",
			env.size);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned budget_s;

	if (parse_args(argc, argv))
		return 2;
	/* Nothing outlives its run: the whole process has a deadline, after
	 * which SIGALRM's default action ends it (the driver sees a failure). */
	budget_s = (env.warmup_ms + env.duration_ms + 3 * env.timeout_ms) / 1000 + 5;
	alarm(budget_s);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (env.server)
		return run_server();
	switch (env.test) {
	case T_RR:
		return client_rr();
	case T_STREAM:
		return client_stream();
	case T_CRR:
		return client_crr();
	}
	return 2;
}
