/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_LOG_H
#define SA_LOG_H

#include <stdbool.h>

/* syslog priorities, as sd-daemon(3) prefixes use them */
enum sa_log_level {
	SA_LOG_ERR = 3,
	SA_LOG_WARN = 4,
	SA_LOG_INFO = 6,
	SA_LOG_DEBUG = 7,
};

/*
 * Configure logging once at start-up. @verbose shows debug lines and the
 * libbpf log. @quiet hides info lines (machine-readable output on stdout).
 * Under systemd (stderr is the journal stream) lines get "<N>" priority
 * prefixes; in a terminal they get "prog: " and the level word.
 */
void sa_log_init(const char *prog, bool verbose, bool quiet);

void sa_log(enum sa_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define p_err(...)	sa_log(SA_LOG_ERR, __VA_ARGS__)
#define p_warn(...)	sa_log(SA_LOG_WARN, __VA_ARGS__)
#define p_info(...)	sa_log(SA_LOG_INFO, __VA_ARGS__)
#define p_debug(...)	sa_log(SA_LOG_DEBUG, __VA_ARGS__)

#endif
