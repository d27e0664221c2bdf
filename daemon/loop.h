/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_LOOP_H
#define SA_LOOP_H

#include "fastpath.h"

/*
 * sockacceld's event loop: signals, changes in the pin dir, the periodic
 * health check. Returns the process exit status (enum sa_exit).
 */
int sa_daemon_loop(struct sa_fastpath *fp, const char *pin_dir, const char *cgroup);

#endif
