// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockacceld under valgrind memcheck (--leak-check=full, definite leaks
 * count as errors, --error-exitcode=99) through one scenario: start, a few
 * accelerated connections, SIGHUP with a changed config (ports, prefixes,
 * queue_limit, IPv6), SIGHUP with a broken config (kept the old policy),
 * another connection, SIGTERM. It must exit 0 with "ERROR SUMMARY: 0
 * errors" and nothing definitely lost.
 *
 * tests/stress/valgrind.supp suppresses only what is not sockaccel's own:
 * valgrind 3.19's model of the bpf() syscall (fields of other commands, a
 * NULL first key) and libbpf reading the verifier log the kernel wrote. The
 * log says how many were suppressed (used_suppression lines). The scenario
 * lasts long enough for one 5 s health check.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcodes.h"
#include "stress.h"

#ifndef SA_STRESS_DIR
#define SA_STRESS_DIR "."
#endif
#define VALGRIND "/usr/bin/valgrind"
#define VG_EXIT 99
#define VG_MS 180000	/* everything is ~50 times slower under valgrind */

static bool one_connection(const struct tl_pins *pins, const char *name, int i)
{
	struct tl_pair_opts o = { .family = TL_INET4 };
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_stream s;
	struct tl_tcp_bytes cb;
	bool ok = false;

	tl_stream_init(&s, name, 8 * ST_MiB, (enum tl_write_mode)(i % 3));
	ASSERT_OK(tl_pair_make(&p, &o), "tl_pair_make");
	ASSERT_EQ(tl_sock_map_state(pins->sock_hash, p.client), TL_IN_MAP, "client in sock_hash");
	ASSERT_EQ(tl_sock_map_state(pins->sock_hash, p.server), TL_IN_MAP, "server in sock_hash");
	ASSERT_OK(tl_stream_start(&s, p.client, p.server), "start stream");
	ASSERT_OK(tl_stream_join(&s, 60000), "stream byte-exact");
	ASSERT_OK(tl_tcp_bytes(p.client, &cb), "TCP_INFO");
	ASSERT_LE(cb.sent, TL_BYPASS_MAX(s.len), "accelerated");
	ok = true;
cleanup:
	tl_stream_stop(&s);
	tl_pair_close(&p);
	return ok;
}

static bool connections(struct tl_daemon *d, int n, const char *label)
{
	struct tl_pins pins = TL_PINS_INIT;
	char name[64];
	bool ok = false;

	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash");
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s %d", label, i);
		ASSERT_TRUE(one_connection(&pins, name, i), name);
		tl_daemon_poll(d);
	}
	ok = true;
cleanup:
	tl_pins_close(&pins);
	return ok;
}

/* Count the reload lines containing @needle in the daemon's stderr. */
static int reloads(struct tl_daemon *d, const char *needle)
{
	return tl_daemon_log_lines(d, needle);
}

int main(void)
{
	char log[PATH_MAX], supp[PATH_MAX], logopt[PATH_MAX + 16], suppopt[PATH_MAX + 16];
	const char *wrapper[] = { VALGRIND, "--tool=memcheck", "--leak-check=full",
				  "--show-leak-kinds=definite,possible",
				  "--errors-for-leak-kinds=definite", "--error-exitcode=99",
				  "--num-callers=30", "-s", suppopt, logopt, NULL };
	struct tl_daemon d = TL_DAEMON_INIT;
	char *text = NULL, *sum;
	FILE *f;
	long len;

	ASSERT_OK(tl_init("stress_valgrind", TL_BUDGET_S), "tl_init");
	ASSERT_OK(access(VALGRIND, X_OK), VALGRIND " is installed");
	ASSERT_OK(tl_tmp_path(log, "valgrind.log"), "path");
	ASSERT_OK(tl_pathf(supp, "%s/valgrind.supp", SA_STRESS_DIR), "path");
	ASSERT_OK(access(supp, R_OK), supp);
	snprintf(logopt, sizeof(logopt), "--log-file=%s", log);
	snprintf(suppopt, sizeof(suppopt), "--suppressions=%s", supp);

	ASSERT_OK(tl_daemon_start_wrapped(&d, wrapper, NULL, 0), "start sockacceld under valgrind");
	ASSERT_OK(tl_daemon_wait_ready(&d, VG_MS), "READY=1 under valgrind");
	ASSERT_TRUE(connections(&d, 3, "vg"), "accelerated connections");

	ASSERT_OK(tl_config_write("exclude_ports = 22, 6000-6010\nlocal_cidrs = 10.99.0.0/16, "
				  "fd99::/64\nqueue_limit = 67108864\nipv6 = no\n"),
		  "a new config");
	ASSERT_OK(kill(d.pid, SIGHUP), "SIGHUP");
	ASSERT_TRUE(TL_WAIT_FOR((tl_daemon_poll(&d),
				 tl_daemon_output_contains(&d, "2 excluded, ")), VG_MS),
		    "the reload applied the new policy");
	ASSERT_OK(tl_config_write("no_such_key = 1\n"), "a broken config");
	ASSERT_OK(kill(d.pid, SIGHUP), "SIGHUP");
	ASSERT_TRUE(TL_WAIT_FOR((tl_daemon_poll(&d),
				 tl_daemon_output_contains(&d, "previous policy stays")), VG_MS),
		    "the broken config was refused, the policy kept");
	reloads(&d, "reload");
	ASSERT_TRUE(connections(&d, 2, "vg after reload"), "accelerated after the reloads");
	/* let the 5 s health check run under valgrind too */
	for (int i = 0; i < 60; i++) {
		tl_sleep_ms(100);
		tl_daemon_poll(&d);
	}

	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, VG_MS), "SIGTERM sockacceld under valgrind");

	f = fopen(log, "re");
	ASSERT_TRUE(f != NULL, "valgrind's log");
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	if (text && fread(text, 1, (size_t)len, f) != (size_t)len)
		text[0] = '\0';
	fclose(f);
	ASSERT_TRUE(text != NULL, "read valgrind's log");
	for (char *l = strstr(text, "used_suppression:"); l; l = strstr(l + 1, "used_suppression:"))
		tl_log("valgrind %.*s", (int)strcspn(l, "\n"), l);
	sum = strstr(text, "ERROR SUMMARY:");
	tl_log("valgrind: %.200s", sum ? sum : "(no summary)");
	{
		const char *h = strstr(text, "HEAP SUMMARY:"), *e = h ? strstr(h, "ERROR SUMMARY") : NULL;

		if (h && e)
			tl_log("valgrind: %.*s", (int)(e - h), h);
	}
	if (!tl_exited_with(d.status, SA_EXIT_OK) || !sum ||
	    strncmp(sum, "ERROR SUMMARY: 0 errors", 23) != 0 ||
	    (strstr(text, "definitely lost:") && !strstr(text, "definitely lost: 0 bytes"))) {
		fputs(text, stderr);
		if (tl_exited_with(d.status, VG_EXIT))
			FAIL("valgrind found errors in sockacceld (exit %d); its log is above", VG_EXIT);
	}
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld under valgrind: exit 0, no valgrind errors");
	ASSERT_TRUE(sum && strncmp(sum, "ERROR SUMMARY: 0 errors", 23) == 0,
		    "valgrind: 0 errors");
	ASSERT_TRUE(!strstr(text, "definitely lost:") || strstr(text, "definitely lost: 0 bytes"),
		    "valgrind: nothing definitely lost");
	tl_log("FIGURE stress: sockacceld under valgrind memcheck: start, 5 accelerated "
	       "connections, 2 reloads, SIGTERM: 0 errors, no definite leaks");
cleanup:
	free(text);
	tl_daemon_release(&d);
	return tl_finish();
}
