/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_DRAIN_H
#define SA_DRAIN_H

#include <stdbool.h>
#include <sys/types.h>
#include <linux/types.h>

struct sa_drain_opts {
	const char *pin_dir;
	unsigned int timeout_ms;	/* how long to wait for receivers */
	unsigned int grace_ms;		/* for redirects already past their verdict */
};

struct sa_drain_result {
	bool was_off;			/* nothing was pinned */
	__u32 entries_before;
	__u32 deleted;			/* entries removed after their receiver drained */
	__u32 remaining;		/* receivers still holding redirected bytes */
	pid_t holder;			/* with -EWOULDBLOCK: the daemon's pid */
	bool diag_warned;		/* sock_diag failed and that was said */
};

/*
 * Turn the fast path off without losing or reordering a byte:
 * detach sockops (no new insertions), switch redirection off, wait a grace
 * period, then delete each socket's entry once its receive side holds
 * nothing (sock_diag, in the socket's own netns), until none is
 * left or the timeout passes; finally remove the pins. Sockets whose
 * receivers never drained stay in the (now unpinned) map, redirect
 * nothing more, keep their queued bytes, and leave when they close.
 * Returns 0, -EWOULDBLOCK (a daemon holds the pin dir), -EPROTO (not a
 * sockaccel pin dir of this layout) or another negative errno.
 */
int sa_drain(const struct sa_drain_opts *o, struct sa_drain_result *r);

#endif
