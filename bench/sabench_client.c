// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sabench client: drives each test and prints its one line of results. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "sabench.h"

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

int client_rr(void)
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
	if (fd < 0 || hello(fd, 1))
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

int client_stream(void)
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
	if (fd < 0 || hello(fd, 1))
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

int client_crr(void)
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
