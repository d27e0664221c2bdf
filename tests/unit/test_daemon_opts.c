// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sockacceld's command line: table of argument vectors and outcomes. */
#include <errno.h>
#include <stdio.h>

#include "sockaccel.h"
#include "config.h"
#include "daemon_opts.h"
#include "pins.h"
#include "unit.h"

struct opts_case {
	const char *argv[6];
	int ret;
	const char *err_has;	/* text the error must contain */
};

static const struct opts_case cases[] = {
	{ { "sockacceld" }, 0, NULL },
	{ { "sockacceld", "--max-conns", "4" }, 0, NULL },
	{ { "sockacceld", "--max-conns", "1" }, -EINVAL, "from 2 to 4194304" },
	{ { "sockacceld", "--max-conns", "4194305" }, -EINVAL, "not a number" },
	{ { "sockacceld", "--max-conns", "12abc" }, -EINVAL, "'12abc'" },
	{ { "sockacceld", "--max-conns", "-5" }, -EINVAL, "'-5'" },
	{ { "sockacceld", "--max-conns", "99999999999999999999" }, -EINVAL, "not a number" },
	{ { "sockacceld", "--max-conns" }, -EINVAL, "needs a value" },
	{ { "sockacceld", "--cgroup", "relative/path" }, -EINVAL, "not an absolute path" },
	{ { "sockacceld", "--pin-dir", "pins" }, -EINVAL, "not an absolute path" },
	{ { "sockacceld", "--bogus" }, -EINVAL, "unknown option '--bogus'" },
	{ { "sockacceld", "extra" }, -EINVAL, "unexpected argument 'extra'" },
	{ { "sockacceld", "--preflight", "-v" }, 0, NULL },
	{ { "sockacceld", "--msg-attach", "legacy" }, 0, NULL },
	{ { "sockacceld", "--msg-attach", "both" }, -EINVAL, "not one of auto, link, legacy" },
	{ { "sockacceld", "--metrics-listen", "10.1.2.3:9465" }, 0, NULL },
	{ { "sockacceld", "--metrics-listen", "[fd00::1]:9465" }, 0, NULL },
	{ { "sockacceld", "--metrics-listen", "off" }, 0, NULL },
	{ { "sockacceld", "--metrics-listen", "10.1.2:9465" }, -EINVAL,
	  "--metrics-listen: '10.1.2' is not an IPv4 address" },
	{ { "sockacceld", "--metrics-listen", "10.1.2.3" }, -EINVAL, "has no port" },
};

int main(void)
{
	struct sa_daemon_opts o;
	char errbuf[512];

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct opts_case *c = &cases[i];
		FILE *err = fmemopen(errbuf, sizeof(errbuf), "w");
		int argc = 0, ret;

		while (c->argv[argc])
			argc++;
		memset(errbuf, 0, sizeof(errbuf));
		ret = sa_daemon_opts_parse(argc, (char **)c->argv, &o, err);
		fclose(err);
		CHECK_EQ(ret, c->ret, c->argv[argc - 1]);
		if (c->err_has)
			CHECK(strstr(errbuf, c->err_has) != NULL, c->err_has);
	}

	sa_daemon_opts_parse(1, (char *[]){ "sockacceld", NULL }, &o, stderr);
	CHECK_STR(o.pin_dir, SA_PIN_DIR_DEFAULT, "default pin dir");
	CHECK_EQ(o.max_conns, SA_MAX_CONNS_DEFAULT, "default max conns");
	CHECK_STR(o.cgroup, "", "default cgroup: found at run time");

	sa_daemon_opts_parse(5, (char *[]){ "sockacceld", "-c", "/sys/fs/cgroup/x//", "-p",
					    "/sys/fs/bpf/t/", NULL }, &o, stderr);
	CHECK_STR(o.cgroup, "/sys/fs/cgroup/x", "trailing slashes dropped");
	CHECK_STR(o.pin_dir, "/sys/fs/bpf/t", "trailing slashes dropped");

	sa_daemon_opts_parse(2, (char *[]){ "sockacceld", "--preflight", NULL }, &o, stderr);
	CHECK(o.preflight_only, "--preflight");
	CHECK_EQ(o.msg_attach, SA_MSG_ATTACH_OPT_AUTO, "default attach");
	sa_daemon_opts_parse(3, (char *[]){ "sockacceld", "--msg-attach", "legacy", NULL }, &o,
			     stderr);
	CHECK_EQ(o.msg_attach, SA_MSG_ATTACH_OPT_LEGACY, "--msg-attach legacy");

	/* the option wins over the file's metrics_listen (absent file: off) */
	{
		struct sa_config c;
		char why[512];

		sa_daemon_opts_parse(5, (char *[]){ "sockacceld", "--config", "/nonexistent.conf",
						    "--metrics-listen", "10.1.2.3:9465", NULL },
				     &o, stderr);
		o.config_set = false;	/* an absent file is fine */
		CHECK_EQ(sa_daemon_settings(&o, &c, why, sizeof(why)), 0, why);
		sa_listen_format(&c.metrics_listen, why, sizeof(why));
		CHECK_STR(why, "10.1.2.3:9465", "--metrics-listen in the settings");
	}
	return unit_done("test_daemon_opts");
}
