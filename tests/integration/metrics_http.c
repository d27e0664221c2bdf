// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockacceld's /metrics (metrics_listen, daemon/lib/metrics_http.c):
 *  - GET /metrics answers 200 with Prometheus text (format 0.0.4, checked
 *    by tests/ctl/ctl_prom.h) that carries every counter and gauge, and is
 *    byte for byte what
 *    `sockaccelctl stats --prometheus` prints;
 *  - another path is 404, another method 405;
 *  - 50 idle connections and one that sends half a request and stalls
 *    block neither /metrics nor the daemon: `sockaccelctl status` answers
 *    at once and the health check keeps sending STATUS=; the server drops
 *    an idle connection after its timeout.
 * The HTTP client is testlib's (a plain socket, so that the test sees the
 * bytes).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "counters.h"
#include "ctl_prom.h"	/* the ctl tests' strict Prometheus checker */
#include "exitcodes.h"
#include "testlib.h"

#define METRICS_ADDR	"127.0.0.1"
#define METRICS_PORT	23451	/* below the ephemeral range */
#define N_IDLE		50
#define BODY_MAX	(64 * 1024)

/*
 * Valid Prometheus text (the ctl tests' strict checker, ctl_prom.h) with
 * every counter and the three gauges; sockets_inserted into *@inserted.
 */
static bool prom_check(const char *text, unsigned long long *inserted)
{
	static const char *const gauges[] = { "sockaccel_map_entries", "sockaccel_map_max_entries",
					      "sockaccel_draining" };
	struct prom p = {};
	const struct prom_sample *smp;
	char err[512], name[128];
	bool ok = false;

	if (prom_parse(text, strlen(text), &p, err, sizeof(err)))
		FAIL("/metrics is not valid Prometheus text: %s", err);
	ASSERT_EQ(p.n, SA_CNT_MAX + 3, "/metrics: every counter and the three gauges");
	for (int i = 0; i < SA_CNT_MAX; i++) {
		snprintf(name, sizeof(name), "sockaccel_%s_total", sa_counter_descs[i].name);
		smp = prom_find(&p, name);
		if (!smp || strcmp(smp->type, "counter"))
			FAIL("/metrics: no counter %s", name);
	}
	for (unsigned int i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++) {
		smp = prom_find(&p, gauges[i]);
		if (!smp || strcmp(smp->type, "gauge"))
			FAIL("/metrics: no gauge %s", gauges[i]);
	}
	smp = prom_find(&p, "sockaccel_sockets_inserted_total");
	*inserted = (unsigned long long)smp->value;
	ok = true;
cleanup:
	prom_free(&p);
	return ok;
}

static int ctl_capture(const char *cmd, const char *opt, int *status, char **out)
{
	char *argv[] = { (char *)tl_ctl_path(), "--pin-dir", tl_env.pin_dir, (char *)cmd,
			 (char *)opt, NULL };
	char *err = NULL;
	int ret = tl_run_capture(argv, 10000, status, out, &err);

	if (err && err[0])
		tl_log("sockaccelctl %s stderr: %s", cmd, err);
	free(err);
	return ret;
}

/* /metrics and `sockaccelctl stats --prometheus` agree; nothing moves in
 * between here, but try twice more in case a gauge did. */
static bool same_as_ctl(const char *body_in)
{
	static char body[BODY_MAX];
	char *out = NULL;
	bool same = false;
	int code, status;

	snprintf(body, sizeof(body), "%s", body_in);
	for (int attempt = 0; attempt < 3 && !same; attempt++) {
		free(out);
		out = NULL;
		if (attempt)
			tl_sleep_ms(200);
		if (attempt && (tl_http_request(METRICS_ADDR, METRICS_PORT, "GET", "/metrics",
						&code, body, BODY_MAX) || code != 200))
			break;
		if (ctl_capture("stats", "--prometheus", &status, &out) ||
		    !tl_exited_with(status, 0) || !out)
			break;
		same = !strcmp(out, body);
	}
	if (!same)
		tl_log("/metrics:\n%s\nsockaccelctl stats --prometheus:\n%s", body,
		       out ? out : "(nothing)");
	free(out);
	return same;
}

int main(void)
{
	static char body[BODY_MAX];
	struct tl_daemon d = TL_DAEMON_INIT;
	struct sockaddr_in busy_addr = { .sin_family = AF_INET, .sin_port = htons(METRICS_PORT) };
	int idle[N_IDLE], stalled = -1, busy = -1, code, status;
	unsigned long long inserted;
	unsigned int status_before;
	struct pollfd pfd;
	long long t0;
	char *out = NULL, c;

	for (int i = 0; i < N_IDLE; i++)
		idle[i] = -1;
	ASSERT_OK(tl_init("metrics_http", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_config_write("metrics_listen = 127.0.0.1:23451\n"), "config");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_TRUE(tl_daemon_output_contains(&d, "serving http://127.0.0.1:23451/metrics"),
		    "the log says where /metrics is");
	ASSERT_TRUE(tl_new_conn_accelerated("metrics", TL_INET4, 256 * 1024, TL_WRITE_SEND),
		    "an accelerated connection");

	/* 200, Prometheus text, the same as sockaccelctl's */
	ASSERT_OK(tl_http_request(METRICS_ADDR, METRICS_PORT, "GET", "/metrics", &code, body,
				  BODY_MAX), "GET /metrics");
	ASSERT_EQ(code, 200, "GET /metrics");
	ASSERT_TRUE(prom_check(body, &inserted), "/metrics parses as Prometheus text");
	ASSERT_GE(inserted, 2, "sockaccel_sockets_inserted_total counts the connection's two");
	ASSERT_TRUE(same_as_ctl(body), "/metrics is what sockaccelctl stats --prometheus prints");

	/* only GET /metrics */
	ASSERT_OK(tl_http_request(METRICS_ADDR, METRICS_PORT, "GET", "/", &code, body, BODY_MAX),
		  "GET /");
	ASSERT_EQ(code, 404, "GET /");
	ASSERT_OK(tl_http_request(METRICS_ADDR, METRICS_PORT, "GET", "/metrics/x", &code, body,
				  BODY_MAX), "GET /metrics/x");
	ASSERT_EQ(code, 404, "GET /metrics/x");
	ASSERT_OK(tl_http_request(METRICS_ADDR, METRICS_PORT, "POST", "/metrics", &code, body,
				  BODY_MAX), "POST /metrics");
	ASSERT_EQ(code, 405, "POST /metrics");

	/* idle and stalled clients block nothing */
	for (int i = 0; i < N_IDLE; i++)
		ASSERT_FD(idle[i] = tl_http_connect(METRICS_ADDR, METRICS_PORT), "an idle connection");
	ASSERT_FD(stalled = tl_http_connect(METRICS_ADDR, METRICS_PORT), "the stalled connection");
	ASSERT_EQ(send(stalled, "GET /metr", 9, MSG_NOSIGNAL), 9, "half a request line");
	tl_sleep_ms(200);
	tl_daemon_poll(&d);
	status_before = d.n_status;

	t0 = tl_now_ms();
	ASSERT_OK(tl_http_request(METRICS_ADDR, METRICS_PORT, "GET", "/metrics", &code, body,
				  BODY_MAX), "GET /metrics beside them");
	ASSERT_EQ(code, 200, "GET /metrics beside 50 idle and 1 stalled connection");
	tl_log("FIGURE /metrics beside 51 idle or stalled connections: %lld ms", tl_now_ms() - t0);
	ASSERT_LT(tl_now_ms() - t0, 2000, "/metrics answers at once");

	t0 = tl_now_ms();
	ASSERT_OK(ctl_capture("status", NULL, &status, &out), "sockaccelctl status");
	/* 0 healthy, 1 degraded (a feature this kernel refused): either way
	 * it answered */
	ASSERT_TRUE(tl_exited_with(status, 0) || tl_exited_with(status, 1),
		    "sockaccelctl status: healthy or degraded");
	ASSERT_LT(tl_now_ms() - t0, 3000, "sockaccelctl status answers at once");

	/* the health check (every 5 s) sends STATUS= each time it runs */
	ASSERT_TRUE(TL_WAIT_FOR((tl_daemon_poll(&d), d.n_status > status_before), 8000),
		    "the health check ran while the clients stalled");
	ASSERT_FALSE(d.exited, "sockacceld still runs");

	/* the stalled client is dropped after the connection timeout (10 s) */
	pfd = (struct pollfd){ .fd = stalled, .events = POLLIN };
	ASSERT_EQ(poll(&pfd, 1, 20000), 1, "the server closes the stalled connection");
	ASSERT_TRUE(recv(stalled, &c, 1, 0) <= 0, "EOF (or reset) on the stalled connection");
	ASSERT_OK(tl_http_request(METRICS_ADDR, METRICS_PORT, "GET", "/metrics", &code, body,
				  BODY_MAX), "GET /metrics after the timeout");
	ASSERT_EQ(code, 200, "GET /metrics after the timeout");

	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
	ASSERT_EQ(tl_daemon_log_lines(&d, "error:"), 0, "no error in the log");
	tl_daemon_release(&d);

	/* IPv6: "[::1]:PORT" */
	ASSERT_OK(tl_config_write("metrics_listen = [::1]:23451\n"), "config");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld on [::1]");
	ASSERT_OK(tl_http_request("::1", METRICS_PORT, "GET", "/metrics", &code, body, BODY_MAX),
		  "GET [::1]/metrics");
	ASSERT_EQ(code, 200, "GET [::1]/metrics");
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	tl_daemon_release(&d);

	/* a port someone else has: said with the reason and the fix, and
	 * sockacceld accelerates anyway */
	ASSERT_FD(busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket");
	busy_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* past the earlier connections' TIME_WAIT; a listener still refuses
	 * sockacceld's bind, SO_REUSEADDR or not */
	ASSERT_OK(setsockopt(busy, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int)),
		  "SO_REUSEADDR");
	ASSERT_OK(bind(busy, (struct sockaddr *)&busy_addr, sizeof(busy_addr)), "bind the port");
	ASSERT_OK(listen(busy, 1), "listen");
	ASSERT_OK(tl_config_write("metrics_listen = 127.0.0.1:23451\n"), "config");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, its port taken");
	ASSERT_EQ(tl_daemon_log_lines(&d, "metrics_listen 127.0.0.1:23451: can't listen: "
				      "Address already in use (another process"), 1,
		  "the error names the address, the reason and the fix");
	ASSERT_TRUE(tl_new_conn_accelerated("no metrics", TL_INET4, 64 * 1024, TL_WRITE_SEND),
		    "accelerating without /metrics");
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	if (tl_failures())
		tl_daemon_dump(&d);
	free(out);
	for (int i = 0; i < N_IDLE; i++)
		if (idle[i] >= 0)
			close(idle[i]);
	if (stalled >= 0)
		close(stalled);
	if (busy >= 0)
		close(busy);
	tl_daemon_release(&d);
	return tl_finish();
}
