// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sa_stream: one loopback TCP connection inside this process's cgroup, a
 * paced pattern stream over it, verified byte by byte at the receiver.
 * The writer stays within WINDOW of the reader, as an application window
 * would hold it. For tests that drive sockaccel from outside C (the systemd tests): it
 * needs no library, prints one line of JSON, exits 0 only when every byte
 * arrived in order and EOF came right after the last one.
 *
 *   sa_stream [--bytes N] [--duration-ms MS] [--port P] [--ipv6]
 *
 * "tcp_bytes_sent" is what the writer's tcpi_bytes_sent rose by during the
 * stream: ~0 when the stream was redirected by sockmap, N on plain TCP.
 * Before it, one byte goes each way and is read with recv(): the splice
 * guard keeps a direction on TCP until its receiver has read so.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define CHUNK 65536
#define READ_TIMEOUT_MS 10000
/* The writer stays this close to the reader, as a TCP window would hold it:
 * below sockaccel's flow limit (2 MiB), so the stream is redirected whole. */
#define WINDOW (512 * 1024)

/* What the reader has verified, shared with the forked writer. */
static volatile unsigned long long *progress;

static unsigned char pattern_byte(unsigned long long off)
{
	unsigned long long word = (off >> 3) * 0x9e3779b97f4a7c15ull;

	return (unsigned char)(word >> ((off & 7) * 8));
}

static void fill(unsigned char *buf, unsigned long long off, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = pattern_byte(off + i);
}

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

/* Writer: paced so that @total takes about @duration_ms. Once the reader
 * says it has seen EOF (@done), reports its tcpi_bytes_sent on @report:
 * only then is everything that TCP carried counted. */
static int writer(int fd, unsigned long long total, unsigned long long duration_ms, int report,
		  int done)
{
	static unsigned char buf[CHUNK];
	unsigned long long off = 0, start = now_ms();
	struct tcp_info ti = {};
	socklen_t tl = sizeof(ti);
	__u64 before;

	getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl);
	before = ti.tcpi_bytes_sent;
	while (off < total) {
		size_t n = total - off < CHUNK ? (size_t)(total - off) : CHUNK;
		ssize_t w;

		if (duration_ms) {
			unsigned long long due = start + duration_ms * off / total;

			while (now_ms() < due)
				usleep(1000);
		}
		while (off - *progress > WINDOW)
			usleep(50);
		fill(buf, off, n);
		w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "sa_stream: send at offset %llu: %s\n", off, strerror(errno));
			return 1;
		}
		off += (unsigned long long)w;
	}
	shutdown(fd, SHUT_WR);
	if (read(done, &ti, 1) < 0)
		return 1;
	getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl);
	ti.tcpi_bytes_sent -= before;
	if (write(report, &ti.tcpi_bytes_sent, sizeof(ti.tcpi_bytes_sent)) < 0)
		return 1;
	return 0;
}

static int reader(int fd, unsigned long long total, unsigned long long *got, char *why, size_t len)
{
	static unsigned char buf[CHUNK];
	unsigned long long off = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, READ_TIMEOUT_MS) != 1) {
			snprintf(why, len, "no data for %d ms at offset %llu", READ_TIMEOUT_MS, off);
			break;
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			snprintf(why, len, "recv at offset %llu: %s", off, strerror(errno));
			break;
		}
		if (n == 0) {
			if (off == total)
				why[0] = '\0';
			else
				snprintf(why, len, "EOF at offset %llu of %llu", off, total);
			break;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != pattern_byte(off + (unsigned long long)i)) {
				snprintf(why, len, "wrong byte at offset %llu",
					 off + (unsigned long long)i);
				*got = off;
				return 1;
			}
		}
		off += (unsigned long long)n;
		*progress = off;
		if (off > total) {
			snprintf(why, len, "more bytes than sent (%llu)", off);
			break;
		}
	}
	*got = off;
	return why[0] ? 1 : 0;
}

/* One byte from @from, read by @to with recv(); both blocking. */
static int warm_up(int from, int to)
{
	char b = 'w';

	return send(from, &b, 1, MSG_NOSIGNAL) == 1 && recv(to, &b, 1, 0) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bytes", required_argument, NULL, 'b' },
		{ "duration-ms", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'p' },
		{ "ipv6", no_argument, NULL, '6' },
		{},
	};
	unsigned long long total = 64ull << 20, duration = 0, got = 0, tcp_sent = ~0ull;
	struct sockaddr_storage ss = {};
	socklen_t sl;
	int port = 0, v6 = 0, opt, lfd, cfd, afd, pipefd[2], donefd[2], status, rc;
	char why[256] = "";
	pid_t pid;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b': total = strtoull(optarg, NULL, 10); break;
		case 'd': duration = strtoull(optarg, NULL, 10); break;
		case 'p': port = atoi(optarg); break;
		case '6': v6 = 1; break;
		default:
			fprintf(stderr, "usage: sa_stream [--bytes N] [--duration-ms MS] [--port P] [--ipv6]\n");
			return 2;
		}
	}
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons((unsigned short)port);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons((unsigned short)port);
		sl = sizeof(*a);
	}
	lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	opt = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &opt, sizeof(opt));
	if (bind(lfd, (struct sockaddr *)&ss, sl) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&ss, &sl) ||
	    connect(cfd, (struct sockaddr *)&ss, sl) || (afd = accept(lfd, NULL, NULL)) < 0) {
		printf("{\"ok\":false,\"error\":\"loopback connection: %s\"}\n", strerror(errno));
		return 1;
	}
	if (warm_up(cfd, afd) || warm_up(afd, cfd)) {
		printf("{\"ok\":false,\"error\":\"one byte each way: %s\"}\n", strerror(errno));
		return 1;
	}
	progress = mmap(NULL, sizeof(*progress), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			-1, 0);
	if (progress == MAP_FAILED || pipe(pipefd) || pipe(donefd))
		return 1;
	pid = fork();
	if (pid == 0) {
		close(afd);
		_exit(writer(cfd, total, duration, pipefd[1], donefd[0]));
	}
	close(cfd);
	rc = reader(afd, total, &got, why, sizeof(why));
	if (rc || write(donefd[1], "x", 1) != 1)
		kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (read(pipefd[0], &tcp_sent, sizeof(tcp_sent)) != sizeof(tcp_sent))
		tcp_sent = ~0ull;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		rc = 1;
	printf("{\"ok\":%s,\"bytes\":%llu,\"expected\":%llu,\"tcp_bytes_sent\":%lld,"
	       "\"error\":\"%s\"}\n", rc ? "false" : "true", got, total,
	       tcp_sent == ~0ull ? -1LL : (long long)tcp_sent, why);
	return rc;
}
