/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Helpers of the stress tests, on top of testlib. Load comes from child
 * processes (tl_child_start) that run one of three loops and report into
 * shared memory (tl_shared_alloc), so that the test process itself only
 * starts and stops daemons and checks:
 *
 *  - st_streams_main: N connections at once in one process (epoll, no
 *    threads), each client writing its own pattern stream to its server,
 *    every byte verified, until told to stop; then EOF and final checks;
 *  - st_churn_main: short connections back to back (connect, 1 KiB each
 *    way, verified, close), each checked for acceleration;
 *  - st_ctl_main: sockaccelctl status, stats and conns in a loop, each run
 *    checked for its exit code.
 *
 * Every wait is bounded; a child that fails records the first reason in
 * its shared struct and the test fails with it.
 */
#ifndef SA_STRESS_H
#define SA_STRESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <linux/types.h>

#include "testlib.h"

#define ST_MiB (1ULL << 20)

/* ------------------------------------------------------------------------ */
/* Concurrent streams                                                       */

struct st_streams {
	/* settings, before the child starts */
	unsigned int nconn;
	__u64 window;		/* a writer stays this close to its reader */
	bool expect_accel;	/* every socket must be in sock_hash */
	int stall_ms;		/* no progress on a connection for this long fails */

	/* control */
	atomic_int stop;	/* set by the test: send EOF, finish, report */

	/* progress and results */
	atomic_int up;		/* connections made */
	atomic_int done;	/* 1 when the child finished (ok or not) */
	_Atomic __u64 verified;	/* bytes verified so far, all connections */
	__u64 written;
	unsigned int in_map;	/* sockets found in sock_hash after connect */
	unsigned int fully_in_map;	/* connections with both sockets in it */
	unsigned int accelerated;	/* at the end: TCP carried ~0 of its bytes */
	unsigned int eofs;	/* readers that saw EOF right after the last byte */
	atomic_int failures;
	char why[512];
};

int st_streams_main(void *arg, int ctl);

/* ------------------------------------------------------------------------ */
/* Short connections                                                        */

struct st_churn {
	/* settings */
	unsigned long max;	/* stop after this many (0: only on stop) */
	bool expect_accel;	/* both sockets in sock_hash, TCP carried 0 bytes */

	atomic_int stop;
	atomic_int done;
	_Atomic unsigned long made;	/* connections completed */
	_Atomic unsigned long accelerated;
	_Atomic __u64 bytes;		/* verified, both ways */
	atomic_int failures;
	char why[512];
};

int st_churn_main(void *arg, int ctl);

/* ------------------------------------------------------------------------ */
/* sockaccelctl in a loop                                                   */

struct st_ctl {
	int status_ok;		/* exit code status must return (0 healthy) */

	atomic_int stop;
	atomic_int done;
	_Atomic unsigned long runs[3];	/* status, stats, conns */
	_Atomic unsigned long failed[3];
	atomic_int failures;
	char why[1024];
};

int st_ctl_main(void *arg, int ctl);

/* ------------------------------------------------------------------------ */
/* Odds and ends                                                            */

/* Raise RLIMIT_NOFILE (soft and hard) to at least @n. */
int st_raise_nofile(unsigned long n);
/* Record the first failure of a child in @why (size @len). */
void st_fail(atomic_int *failures, char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
