// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Scenario 10: two sockacceld started at once against the same pin dir,
 * five times (the first time with no pins yet, then taking over the pins):
 *  - exactly one wins (READY=1, keeps running); the other exits 3 saying
 *    "in use by another sockacceld (pid <winner>)";
 *  - the pinned state is consistent afterwards: one sockops program on the
 *    cgroup, one sk_msg program on sock_hash, the same sock_hash map every
 *    round, and a new connection is accelerated.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"
#include "testlib.h"

#define ROUNDS 5
#define MiB (1ULL << 20)

static bool settled(const struct tl_daemon *x)
{
	return x->ready || x->exited;
}

/* Start two daemons back to back; tell the winner from the loser. */
static bool race(struct tl_daemon *a, struct tl_daemon *b, struct tl_daemon **winner,
		struct tl_daemon **loser)
{
	long long deadline;
	char msg[96], sa[64], sb[64];
	bool ok = false;

	*winner = *loser = NULL;
	ASSERT_OK(tl_daemon_start(a, NULL, 0), "start the first sockacceld");
	ASSERT_OK(tl_daemon_start(b, NULL, 0), "start the second sockacceld");
	deadline = tl_now_ms() + TL_READY_MS;
	while (!(settled(a) && settled(b)) && tl_now_ms() < deadline) {
		tl_daemon_poll(a);
		tl_daemon_poll(b);
		tl_sleep_ms(5);
	}
	tl_log("race: #%d (pid %d) %s, #%d (pid %d) %s", a->id, (int)a->pid,
	       a->exited ? tl_status_str(a->status, sa, sizeof(sa)) : a->ready ? "ready" : "starting",
	       b->id, (int)b->pid,
	       b->exited ? tl_status_str(b->status, sb, sizeof(sb)) : b->ready ? "ready" : "starting");
	if (a->ready && !a->exited && b->exited && !b->ready) {
		*winner = a;
		*loser = b;
	} else if (b->ready && !b->exited && a->exited && !a->ready) {
		*winner = b;
		*loser = a;
	} else {
		tl_daemon_dump(a);
		tl_daemon_dump(b);
		FAIL("exactly one of two sockacceld must become ready and the other exit: #%d %s, #%d %s",
		     a->id, a->ready ? "ready" : a->exited ? "exited" : "still starting",
		     b->id, b->ready ? "ready" : b->exited ? "exited" : "still starting");
	}
	ASSERT_EXIT((*loser)->status, SA_EXIT_LOCKED, "the losing sockacceld");
	snprintf(msg, sizeof(msg), "in use by another sockacceld (pid %d)", (int)(*winner)->pid);
	if (!tl_daemon_output_contains(*loser, msg)) {
		tl_daemon_dump(*loser);
		FAIL("the losing sockacceld does not say \"%s\"", msg);
	}
	ok = true;
cleanup:
	return ok;
}

int main(void)
{
	struct tl_daemon a = TL_DAEMON_INIT, b = TL_DAEMON_INIT;
	struct tl_daemon *winner = NULL, *loser = NULL;
	struct tl_fastpath fp;
	__u32 map_id = 0;
	char label[48];

	ASSERT_OK(tl_init("two_daemons", TL_BUDGET_S), "tl_init");
	for (int round = 1; round <= ROUNDS; round++) {
		tl_log("---- round %d/%d: two sockacceld at once%s", round, ROUNDS,
		       round == 1 ? " (no pins yet)" : "");
		ASSERT_TRUE(race(&a, &b, &winner, &loser), "one winner, one loser");
		ASSERT_OK(tl_fastpath_read(&fp), "read the pinned fast path");
		snprintf(label, sizeof(label), "round %d", round);
		tl_fastpath_log(label, &fp);
		ASSERT_EQ(fp.cg_progs, 1, "sockops programs attached to the cgroup");
		ASSERT_EQ(fp.msg_progs, 1, "sk_msg programs attached to sock_hash");
		if (round == 1)
			map_id = fp.map_id;
		ASSERT_EQ(fp.map_id, map_id, "the same sock_hash every round");
		snprintf(label, sizeof(label), "round %d c2s", round);
		ASSERT_TRUE(tl_new_conn_accelerated(label, TL_INET6, 4 * MiB, TL_WRITE_SENDFILE), "a new connection is accelerated");

		ASSERT_OK(tl_daemon_stop(winner, SIGTERM, TL_STOP_MS), "SIGTERM the winner");
		ASSERT_EXIT(winner->status, SA_EXIT_OK, "the winner after SIGTERM");
		tl_daemon_release(&a);
		tl_daemon_release(&b);
	}
cleanup:
	tl_daemon_release(&a);
	tl_daemon_release(&b);
	return tl_finish();
}
