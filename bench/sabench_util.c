// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sabench's helpers: the latency histogram, sockets with timeouts, and the
 * stream pattern. */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "sabench.h"

/* ---------------------------------------------------------------------- */
/* Latency histogram: log-linear, 1/64 relative resolution, up to ~2^40 ns */

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

void h_add(struct hist *h, uint64_t v)
{
	h->n[h_index(v)]++;
	h->count++;
}

uint64_t h_pct(const struct hist *h, double pct)
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

int h_write(const struct hist *h, const char *path)
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
uint64_t tcp_bytes_sent(int fd)
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
bool eagain_retry(uint64_t started, const char *what)
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

int send_all(int fd, const void *buf, size_t len)
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
int recv_all(int fd, void *buf, size_t len)
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
int recv_eof(int fd)
{
	char c;
	int r = recv_all(fd, &c, 1);

	if (r == 1)
		return 0;
	if (r == 0)
		p_err("unexpected data instead of EOF");
	return -1;
}

int listen_socket(void)
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

int accept_one(int lfd)
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

int connect_one(void)
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

int send_result(int fd, struct result *res)
{
	res->magic = RESULT_MAGIC;
	res->eagain = eagain_spurious;
	return send_all(fd, res, sizeof(*res));
}

/* The result follows any stream acknowledgements (8-byte totals) still
 * queued; the magic tells them apart. */
int recv_result(int fd, struct result *res)
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

void pattern_fill(unsigned char *buf, size_t len)
{
	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t w = htole64((uint64_t)((i / 8) % PAT_K));

		memcpy(buf + i, &w, 8);
	}
}

unsigned char pattern_byte(uint64_t off)
{
	return (unsigned char)(((off / 8) % PAT_K) >> ((off % 8) * 8));
}

/* Check @len bytes at stream offset @off. Returns the offset of the first
 * wrong byte, or UINT64_MAX when all are right. */
uint64_t pattern_check(const unsigned char *p, size_t len, uint64_t off)
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


int hello(int fd, int is_client)
{
	char b = 'h';

	if (is_client)
		return send_all(fd, &b, 1) || recv_all(fd, &b, 1) ? -1 : 0;
	return recv_all(fd, &b, 1) || send_all(fd, &b, 1) ? -1 : 0;
}
