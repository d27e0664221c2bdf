// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <bpf/libbpf.h>

#include "log.h"

/* Logging is process-wide by nature (stderr, libbpf's print hook); this is
 * the one place that keeps its settings. */
static struct {
	const char *prog;
	bool verbose;
	bool quiet;
	bool journal;
} log_cfg = { .prog = "sockaccel" };

/* sd_journal_stream_fd(3): systemd sets JOURNAL_STREAM to "dev:ino" of the
 * stream it connected stderr to. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(2, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

__attribute__((format(printf, 2, 0)))
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!log_cfg.verbose && level != LIBBPF_WARN)
		return 0;
	if (log_cfg.journal)
		fprintf(stderr, "<%d>", level == LIBBPF_WARN ? SA_LOG_WARN : SA_LOG_DEBUG);
	else
		fprintf(stderr, "%s: ", log_cfg.prog);	/* libbpf adds "libbpf: " */
	return vfprintf(stderr, fmt, ap);
}

void sa_log_init(const char *prog, bool verbose, bool quiet)
{
	log_cfg.prog = prog;
	log_cfg.verbose = verbose;
	log_cfg.quiet = quiet;
	log_cfg.journal = stderr_is_journal();
	libbpf_set_print(libbpf_print);
}

void sa_log(enum sa_log_level lvl, const char *fmt, ...)
{
	static const char *const words[] = {
		[SA_LOG_ERR] = "error: ", [SA_LOG_WARN] = "warning: ",
		[SA_LOG_INFO] = "", [SA_LOG_DEBUG] = "debug: ",
	};
	va_list ap;

	if (lvl == SA_LOG_DEBUG && !log_cfg.verbose)
		return;
	if (lvl == SA_LOG_INFO && log_cfg.quiet)
		return;
	/* one line, whole: sockacceld's metrics thread logs too */
	flockfile(stderr);
	if (log_cfg.journal)
		fprintf(stderr, "<%d>", lvl);
	else
		fprintf(stderr, "%s: %s", log_cfg.prog, words[lvl]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}
