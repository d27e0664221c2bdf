// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sabench server: the receiving end of each test, which checks what it
 * got and sends its figures (struct result) at the end. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include "sabench.h"

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

	int one = 1;

	if (!buf)
		return -1;
	/* acknowledgements are small writes: without this Nagle holds one
	 * back until TCP's delayed ACK of the previous (40 ms), and a writer
	 * whose write fills its window waits for it every write. Applications
	 * with their own window (HTTP/2, gRPC) set it too. AF_UNIX: no-op. */
	if (env.window)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
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
			/* the writer's window: acknowledge every eighth of it, and
			 * the end of each write when writes are that large (a
			 * writer whose write fills the window waits for every
			 * byte; TCP's chunks need not end on an eighth) */
			if (env.window && (off - acked >= env.window / 8 ||
					   (env.size >= env.window / 8 && off % env.size == 0))) {
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

int run_server(void)
{
	int lfd = listen_socket(), fd, rc;

	if (lfd < 0)
		return 1;
	if (env.test == T_CRR) {
		rc = serve_crr(lfd);
	} else {
		fd = accept_one(lfd);
		if (fd < 0 || hello(fd, 0)) {
			if (fd >= 0)
				close(fd);
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
