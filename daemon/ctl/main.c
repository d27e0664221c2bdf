// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockaccelctl [OPTIONS] COMMAND [ARGS]: see and steer the fast path.
 * One table of commands, one dispatcher, as bpftool does.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "log.h"
#include "parse.h"
#include "pins.h"

static const struct cmd cmds[] = {
	{ "status", do_status, "[--probe] [--degraded-ok]   health check: healthy (0), degraded (1), off (3)" },
	{ "stats", do_stats, "[--watch N [--count M]] [--prometheus]   the counters" },
	{ "conns", do_conns, "                    the accelerated sockets" },
	{ "disable", do_disable, "[--timeout SEC]     drain, then remove the fast path" },
	{ "enable", do_enable, "[--cgroup PATH] [--max-conns N]   set the fast path up again" },
	{ "preflight", do_preflight, "[--cgroup PATH]     the daemon's checks, as a report" },
	{ "selftest", do_selftest, "                    which known sockmap kernel behaviours this kernel has" },
	{ "version", do_version, "                    versions of sockaccel, libbpf, kernel, layout" },
};

void ctl_err(struct ctl *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!c->json) {
		fprintf(stderr, "%s: error: %s\n", c->prog, msg);
		return;
	}
	if (c->error_printed)
		return;
	c->error_printed = true;
	if (!c->jw)
		c->jw = jsonw_new(stdout);
	jsonw_start_object(c->jw);
	jsonw_string_field(c->jw, "error", msg);
	jsonw_end_object(c->jw);
}

int ctl_bad_option(struct ctl *c, int opt, char **argv, const char *cmd)
{
	if (opt == ':')
		ctl_err(c, "%s: option '%s' needs a value", cmd, argv[optind - 1]);
	else
		ctl_err(c, "%s: unknown option '%s'", cmd, argv[optind - 1]);
	return SA_CTL_USAGE;
}

static int unexpected_arg(struct ctl *c, char **argv, int i)
{
	ctl_err(c, "%s: unexpected argument '%s'", argv[0], argv[i]);
	return SA_CTL_USAGE;
}

int ctl_getopt(struct ctl *c, int argc, char **argv, const struct option *longopts)
{
	int opt;

	if (c->opt_argv != argv) {
		c->opt_argv = argv;
		optind = 0;	/* main's getopt_long walked another argv */
	}
	opt = getopt_long(argc, argv, "+:", longopts, NULL);
	if (opt == '?' || opt == ':') {
		ctl_bad_option(c, opt, argv, argv[0]);
		return '?';
	}
	if (opt == -1 && optind < argc) {
		unexpected_arg(c, argv, optind);
		return '?';
	}
	return opt;
}

int ctl_no_args(struct ctl *c, int argc, char **argv)
{
	return argc > 1 ? unexpected_arg(c, argv, 1) : 0;
}

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"Usage: %s [OPTIONS] COMMAND [ARGS]\n"
		"See and steer the sockaccel fast path.\n\n"
		"Options:\n"
		"  -p, --pin-dir DIR   the instance to look at (default %s)\n"
		"  -j, --json          JSON on stdout, errors included\n"
		"  -v, --verbose       libbpf's log\n"
		"  -h, --help          this text\n\n"
		"Commands:\n", prog, SA_PIN_DIR_DEFAULT);
	for (unsigned int i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(out, "  %-10s %s\n", cmds[i].name, cmds[i].usage);
	fprintf(out,
		"\nExamples:\n"
		"  %s status                    # exit 0 healthy, 1 degraded, 3 off, 4 cannot tell\n"
		"  %s status --degraded-ok      # a Kubernetes probe: 0 while the fast path is in place\n"
		"  %s status --probe --json     # also prove a loopback connection is redirected\n"
		"  %s stats --prometheus > /var/lib/node_exporter/sockaccel.prom\n"
		"  %s stats --watch 1           # rates every second\n"
		"  %s conns\n"
		"  %s disable --timeout 30      # no byte lost; exit 5 if some receivers still hold data\n\n"
		"Exit codes: 0 ok/healthy, 1 failed/degraded, 2 usage, 3 off, 4 cannot tell,\n"
		"5 drained except N, 6 sockacceld holds the pin dir, 7 selftest: kernel behaviours\n"
		"present. See sockaccelctl(8).\n",
		prog, prog, prog, prog, prog, prog, prog);
}

/* In JSON mode help is an object too, so stdout always parses. */
static int print_help(struct ctl *c)
{
	if (!c->json) {
		usage(stdout, c->prog);
		return SA_CTL_OK;
	}
	if (!c->jw)
		c->jw = jsonw_new(stdout);
	jsonw_start_object(c->jw);
	jsonw_string_field(c->jw, "usage", "sockaccelctl [OPTIONS] COMMAND [ARGS]");
	jsonw_name(c->jw, "commands");
	jsonw_start_array(c->jw);
	for (unsigned int i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		jsonw_start_object(c->jw);
		jsonw_string_field(c->jw, "name", cmds[i].name);
		jsonw_string_field(c->jw, "usage", cmds[i].usage);
		jsonw_end_object(c->jw);
	}
	jsonw_end_array(c->jw);
	jsonw_end_object(c->jw);
	jsonw_destroy(&c->jw);
	return SA_CTL_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct ctl c = { .prog = "sockaccelctl" };
	bool verbose = false, help_and_exit = false;
	const char *name;
	int opt, ret;

	snprintf(c.pin_dir, sizeof(c.pin_dir), "%s", SA_PIN_DIR_DEFAULT);
	opterr = 0;
	/* '+': stop at the command; its own options are parsed by it */
	while ((opt = getopt_long(argc, argv, "+:p:jvh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (sa_parse_abs_path(optarg, c.pin_dir)) {
				ctl_err(&c, "--pin-dir: '%s' is not an absolute path of sane length",
					optarg);
				goto usage_err;
			}
			break;
		case 'j':
			c.json = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			help_and_exit = true;
			break;
		default:
			ctl_bad_option(&c, opt, argv, "sockaccelctl");
			goto usage_err;
		}
	}
	sa_log_init(c.prog, verbose, c.json);
	if (help_and_exit)
		return print_help(&c);
	if (optind >= argc) {
		ctl_err(&c, "no command given");
		goto usage_err;
	}
	name = argv[optind];
	if (strcmp(name, "help") == 0)
		return print_help(&c);
	for (unsigned int i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmds[i].name, name) != 0)
			continue;
		if (c.json && !c.jw)
			c.jw = jsonw_new(stdout);
		ret = cmds[i].fn(&c, argc - optind, argv + optind);
		jsonw_destroy(&c.jw);
		return ret;
	}
	ctl_err(&c, "unknown command '%s'", name);
usage_err:
	jsonw_destroy(&c.jw);
	if (!c.json)
		fprintf(stderr, "Try '%s --help'.\n", c.prog);
	return SA_CTL_USAGE;
}
