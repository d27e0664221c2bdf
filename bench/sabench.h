/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the pieces of sabench share: the options, the server's result, the
 * histogram, and the socket and pattern helpers (sabench_util.c) that the
 * server (sabench_server.c) and the client (sabench_client.c) run on.
 * sabench.c has the options and main; the tests are described there.
 */
#ifndef SABENCH_H
#define SABENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
extern const char *const test_names[];

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

extern struct env env;

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
extern uint64_t eagain_spurious;


void p_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t now_ns(void);

/* Latency histogram: log-linear, 1/64 relative resolution, up to ~2^40 ns */
#define H_SUB_BITS	6
#define H_SUB		(1u << H_SUB_BITS)
#define H_BUCKETS	(41u * H_SUB)

struct hist {
	uint64_t n[H_BUCKETS];
	uint64_t count;
};

void h_add(struct hist *h, uint64_t v);
uint64_t h_pct(const struct hist *h, double pct);
int h_write(const struct hist *h, const char *path);

/* Sockets: every blocking call times out after --timeout-ms */
uint64_t tcp_bytes_sent(int fd);
bool eagain_retry(uint64_t started, const char *what);
int send_all(int fd, const void *buf, size_t len);
int recv_all(int fd, void *buf, size_t len);
/* One byte each way, read with recv(), before a measured connection: a
 * direction starts on TCP until its receiver has read (the splice guard),
 * and the cells measure the steady state. crr does not: its setup is the
 * measurement. */
int hello(int fd, int is_client);
int recv_eof(int fd);
int listen_socket(void);
int accept_one(int lfd);
int connect_one(void);
int send_result(int fd, struct result *res);
int recv_result(int fd, struct result *res);

/* Stream pattern */
void pattern_fill(unsigned char *buf, size_t len);
unsigned char pattern_byte(uint64_t off);
uint64_t pattern_check(const unsigned char *p, size_t len, uint64_t off);

int run_server(void);
int client_rr(void);
int client_stream(void);
int client_crr(void);

#endif /* SABENCH_H */
