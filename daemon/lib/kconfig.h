/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_KCONFIG_H
#define SA_KCONFIG_H

#include <stddef.h>

/*
 * The running kernel's value of @option ("CONFIG_BPF_STREAM_PARSER"): 'y',
 * 'm', 'n' (listed as not set or absent) or 0 when no config can be read.
 * Reads /proc/config.gz, then /boot/config-$(uname -r). @source, if not
 * NULL, names the file that answered.
 */
char sa_kconfig_get(const char *option, char *source, size_t source_len);

/* The same on one config text line by line; for unit tests. */
char sa_kconfig_scan_line(const char *line, const char *option);

#endif
