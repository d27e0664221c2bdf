/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_STEPASIDE_H
#define SA_STEPASIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "sockaccel.h"

/*
 * The processes the splice guard stepped aside for (the pinned "stepaside"
 * hash, sockaccel.h): what sockacceld logs once and sockaccelctl status
 * lists.
 */
struct sa_stepaside_entry {
	struct sa_stepaside_key key;
	struct sa_stepaside val;
};

/* Up to @max entries of the map @fd into @out, oldest first; how many, or
 * -errno. */
int sa_stepaside_read(int fd, struct sa_stepaside_entry *out, unsigned int max);

/* "splice(2)", "sendfile(2)", ... or "system call N" for @nr of this
 * machine's architecture. */
const char *sa_syscall_name(__u32 nr, char *buf, size_t len);

/* One line about @e, with the process's cgroup path when it still runs. */
void sa_stepaside_describe(const struct sa_stepaside_entry *e, char *buf, size_t len);

#endif
