// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "sockaccel.h"
#include "config.h"
#include "daemon_opts.h"
#include "parse.h"
#include "pins.h"

/* Absolute, fits, no trailing slashes (pin names are joined to it). */
static int set_path(char *dst, const char *src, const char *opt, FILE *err)
{
	int ret = sa_parse_abs_path(src, dst);

	if (ret == -EINVAL)
		fprintf(err, "%s: '%s' is not an absolute path\n", opt, src);
	else if (ret)
		fprintf(err, "%s: path is too long\n", opt);
	return ret ? -EINVAL : 0;
}

void sa_daemon_usage(FILE *out, const char *prog)
{
	fprintf(out,
		"Usage: %s [OPTIONS]\n"
		"Load sockaccel's sockops and sk_msg programs, pin them and keep them attached.\n"
		"The fast path stays in place when sockacceld stops; remove the pin dir to turn\n"
		"it off.\n"
		"\n"
		"  -C, --config FILE    settings and policy (default %s; may be absent)\n"
		"  -c, --cgroup PATH    cgroup2 directory to accelerate (default: the root of the\n"
		"                       cgroup2 mount found in /proc/self/mountinfo)\n"
		"  -p, --pin-dir DIR    where programs, maps and links are pinned (default %s)\n"
		"  -m, --max-conns N    SOCKHASH capacity in sockets, %u..%u (default %u)\n"
		"      --msg-attach auto|link|legacy\n"
		"                       how sk_msg is attached to the map: a sockmap link\n"
		"                       (kernel >= 6.10) or bpf_prog_attach (default auto)\n"
		"      --metrics-listen ADDR:PORT|off\n"
		"                       serve /metrics there (overrides metrics_listen; in a\n"
		"                       DaemonSet: --metrics-listen=$(POD_IP):9465)\n"
		"      --bpf-object FILE\n"
		"                       load the programs from FILE (a sockaccel .bpf.o of the\n"
		"                       same layout) instead of the built-in ones; for upgrade tests\n"
		"      --preflight      run the checks, print a report, exit (0: all passed)\n"
		"  -v, --verbose        debug lines and the libbpf log\n"
		"  -h, --help           this text\n"
		"  -V, --version        print the version\n"
		"\n"
		"Examples:\n"
		"  %s --preflight\n"
		"  %s --cgroup /sys/fs/cgroup/app.slice --max-conns 16384\n"
		"  rm -r %s          # turn acceleration off (live connections keep working)\n"
		"\n"
		"Options given here override the configuration file. SIGHUP re-reads the file\n"
		"and updates the policy in place; so does a change of the file itself (an\n"
		"edit, a Kubernetes ConfigMap update), which its directory is watched for.\n"
		"Exit codes are listed in sockacceld(8) and docs/operations.md.\n",
		prog, SA_CONFIG_DEFAULT, SA_PIN_DIR_DEFAULT, SA_MAX_CONNS_MIN, SA_MAX_CONNS_MAX, SA_MAX_CONNS_DEFAULT,
		prog, prog, SA_PIN_DIR_DEFAULT);
}

int sa_daemon_settings(const struct sa_daemon_opts *o, struct sa_config *c, char *err,
		       size_t len)
{
	int ret = sa_config_load(o->config, o->config_set, c, err, len);

	if (ret)
		return ret;
	if (o->cgroup[0])
		snprintf(c->cgroup, sizeof(c->cgroup), "%s", o->cgroup);
	if (o->pin_dir_set)
		snprintf(c->pin_dir, sizeof(c->pin_dir), "%s", o->pin_dir);
	if (o->max_conns_set)
		c->max_conns = o->max_conns;
	if (o->metrics_listen[0])
		return sa_listen_parse(o->metrics_listen, "--metrics-listen", &c->metrics_listen,
				       err, len);
	return 0;
}

int sa_daemon_opts_parse(int argc, char **argv, struct sa_daemon_opts *o, FILE *err)
{
	enum { OPT_PREFLIGHT = 256, OPT_MSG_ATTACH, OPT_BPF_OBJECT, OPT_METRICS_LISTEN };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'C' },
		{ "cgroup", required_argument, NULL, 'c' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "preflight", no_argument, NULL, OPT_PREFLIGHT },
		{ "msg-attach", required_argument, NULL, OPT_MSG_ATTACH },
		{ "bpf-object", required_argument, NULL, OPT_BPF_OBJECT },
		{ "metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{},
	};
	int c;

	memset(o, 0, sizeof(*o));
	strcpy(o->pin_dir, SA_PIN_DIR_DEFAULT);
	strcpy(o->config, SA_CONFIG_DEFAULT);
	o->max_conns = SA_MAX_CONNS_DEFAULT;

	optind = 0;	/* GNU: full re-initialisation */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":C:c:p:m:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'C':
			if (set_path(o->config, optarg, "--config", err))
				return -EINVAL;
			o->config_set = true;
			break;
		case 'c':
			if (set_path(o->cgroup, optarg, "--cgroup", err))
				return -EINVAL;
			break;
		case 'p':
			if (set_path(o->pin_dir, optarg, "--pin-dir", err))
				return -EINVAL;
			o->pin_dir_set = true;
			break;
		case 'm':
			if (sa_parse_u32(optarg, SA_MAX_CONNS_MIN, SA_MAX_CONNS_MAX, &o->max_conns)) {
				fprintf(err, "--max-conns: '%s' is not a number from %u to %u\n",
					optarg, SA_MAX_CONNS_MIN, SA_MAX_CONNS_MAX);
				return -EINVAL;
			}
			o->max_conns_set = true;
			break;
		case OPT_MSG_ATTACH:
			if (strcmp(optarg, "auto") == 0) {
				o->msg_attach = SA_MSG_ATTACH_OPT_AUTO;
			} else if (strcmp(optarg, "link") == 0) {
				o->msg_attach = SA_MSG_ATTACH_OPT_LINK;
			} else if (strcmp(optarg, "legacy") == 0) {
				o->msg_attach = SA_MSG_ATTACH_OPT_LEGACY;
			} else {
				fprintf(err, "--msg-attach: '%s' is not one of auto, link, legacy\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_BPF_OBJECT:
			if (set_path(o->bpf_object, optarg, "--bpf-object", err))
				return -EINVAL;
			break;
		case OPT_METRICS_LISTEN: {
			struct sa_listen l;
			char why[256];

			/* checked now, so a typo is a usage error, not a failed start */
			if (sa_listen_parse(optarg, "--metrics-listen", &l, why, sizeof(why))) {
				fprintf(err, "%s\n", why);
				return -EINVAL;
			}
			snprintf(o->metrics_listen, sizeof(o->metrics_listen), "%s", optarg);
			break;
		}
		case OPT_PREFLIGHT:
			o->preflight_only = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			o->help = true;
			break;
		case 'V':
			o->version = true;
			break;
		case ':':
			fprintf(err, "option '%s' needs a value\n", argv[optind - 1]);
			return -EINVAL;
		default:
			fprintf(err, "unknown option '%s'\n", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(err, "unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}
