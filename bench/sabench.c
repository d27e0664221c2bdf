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
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "sabench.h"

const char *const test_names[] = { "rr", "stream", "crr" };

struct env env = {
	.test = T_RR,
	.host = "127.0.0.1",
	.size = 64,
	.duration_ms = 3000,
	.warmup_ms = 300,
	.timeout_ms = 10000,
};

/* Spurious EAGAIN: a blocking recv()/send() that returned EAGAIN before its
 * timeout (tcp_bpf_recvmsg wakes and gives up; see docs/design.md). */
uint64_t eagain_spurious;

void p_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sabench %s: ", env.server ? "server" : "client");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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
