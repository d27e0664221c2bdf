// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Scenario 4: scenario 3 (restart.c) with `kill -9` of sockacceld during the
 * transfer instead of SIGTERM: no byte lost, still accelerated, same map id,
 * same links, exactly one program attached after every restart.
 */
#define RESTART_SIG SIGKILL
#define RESTART_NAME "kill9"
#define RESTART_ROUNDS 10
#include "restart.c"
