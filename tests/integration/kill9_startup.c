// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Scenario 4, harder: `kill -9` of sockacceld at various moments of its
 * start-up (0 to 300 ms after exec, i.e. during preflight, load, pinning or
 * attaching), each followed by a normal start that must become ready and
 * leave the same fast path: same map id and links, exactly one program
 * attached, the streaming connection still accelerated and byte-exact.
 */
#define RESTART_SIG SIGKILL
#define RESTART_NAME "kill9_startup"
#define RESTART_ROUNDS 2
#define RESTART_STARTUP_KILLS 1
#include "restart.c"
