// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sockaccel.conf parsing: a table of files and what each must give. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "sockaccel.h"
#include "config.h"
#include "confwatch.h"
#include "daemon_opts.h"
#include "unit.h"

struct conf_case {
	const char *text;
	int ret;
	const char *err_has;
};

static const struct conf_case cases[] = {
	{ "", 0, NULL },
	{ "# only a comment\n\n   \n", 0, NULL },
	{ "cgroup = /sys/fs/cgroup/app.slice\npin_dir=/sys/fs/bpf/x # trailing\n", 0, NULL },
	{ "max_conns = 1024\nports = 6379, 8000-8100\nexclude_ports = 22\n", 0, NULL },
	{ "local_cidrs = 172.17.0.0/16, fd00::/8, 10.0.0.1\nipv6 = no\n", 0, NULL },
	{ "bogus = 1\n", -EINVAL, "t.conf:1: key 'bogus': unknown key; accepted: cgroup," },
	{ "max_conns = 1\n", -EINVAL, "t.conf:1: key 'max_conns'" },
	{ "\n\nmax_conns = lots\n", -EINVAL, "t.conf:3: key 'max_conns'" },
	{ "ports = 0\n", -EINVAL, "'0' is not a port" },
	{ "ports = 70000\n", -EINVAL, "'70000' is not a port" },
	{ "ports = 90-80\n", -EINVAL, "backwards" },
	{ "ports = 80,,\n", -EINVAL, "is not a port" },
	{ "exclude_ports =\n", -EINVAL, "no value" },
	{ "local_cidrs = 10.0.0.0/33\n", -EINVAL, "prefix length" },
	{ "local_cidrs = example.com\n", -EINVAL, "is not an address" },
	{ "ipv6 = maybe\n", -EINVAL, "accepted: yes, no" },
	{ "cgroup = relative\n", -EINVAL, "accepted: an absolute path" },
	{ "just words\n", -EINVAL, "is not a setting" },
	{ "ipv6 = yes\nipv6 = no\n", -EINVAL, "t.conf:2: key 'ipv6': set twice" },
	{ "memory_bound = auto\n", 0, NULL },
	{ "flow_limit = auto\nqueue_limit = 1048576\n", 0, NULL },
	{ "flow_limit = 4096\n", -EINVAL, "'4096' is out of range" },
	{ "memory_bound = none\n", -EINVAL, "accepted: auto, off" },
	{ "memory_bound = off\nmemory_bound = auto\n", -EINVAL, "set twice" },
	{ "metrics_listen = off\n", 0, NULL },
	{ "metrics_listen = 127.0.0.1\n", -EINVAL, "has no port" },
	{ "metrics_listen = 127.0.0.1:0\n", -EINVAL, "'0' is not a port" },
	{ "metrics_listen = ::1:9465\n", -EINVAL, "IPv6 goes in []" },
	{ "metrics_listen = [::1:9465\n", -EINVAL, "closing ']'" },
	{ "metrics_listen = localhost:9465\n", -EINVAL, "is not an IPv4 address" },
};

static int parse(const char *text, struct sa_config *c, char *err, size_t len)
{
	FILE *f = fmemopen((void *)text, strlen(text) ? strlen(text) : 1, "r");
	int ret;

	sa_config_defaults(c);
	ret = sa_config_parse(f, "t.conf", c, err, len);
	fclose(f);
	return ret;
}

static int put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* sa_config_fingerprint: equal for equal bytes through a symlink, different
 * for other bytes and for a missing file; an event in the dir is seen. */
static bool fingerprints(void)
{
	char dir[] = "/tmp/sa-unit-confwatch.XXXXXX", file[64], link[64], wdir[PATH_MAX];
	char err[PATH_MAX * 2];
	__u64 a, b, missing, empty;
	bool gone, ok = false;
	int fd = -1;

	if (!mkdtemp(dir))
		return false;
	snprintf(file, sizeof(file), "%s/real.conf", dir);
	snprintf(link, sizeof(link), "%s/sockaccel.conf", dir);
	missing = sa_config_fingerprint(link);
	if (put(file, "") || symlink("real.conf", link))
		goto cleanup;
	empty = sa_config_fingerprint(link);
	fd = sa_confwatch_open(link, wdir, err, sizeof(err));
	if (fd < 0 || strcmp(wdir, dir))
		goto cleanup;
	if (sa_confwatch_read(fd, &gone))	/* nothing happened yet */
		goto cleanup;
	if (put(file, "ports = 80\n"))
		goto cleanup;
	a = sa_config_fingerprint(link);
	if (!sa_confwatch_read(fd, &gone) || gone)	/* IN_CLOSE_WRITE */
		goto cleanup;
	if (put(file, "ports = 80\n"))
		goto cleanup;
	b = sa_config_fingerprint(link);
	ok = a == b && a != empty && empty != missing &&
	     (put(file, "ports = 81\n"), sa_config_fingerprint(file) != a);
cleanup:
	if (fd >= 0)
		close(fd);
	unlink(link);
	unlink(file);
	rmdir(dir);
	return ok;
}

int main(void)
{
	struct sa_daemon_opts o;
	struct sa_config c;
	char err[512];
	__u32 a;

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		CHECK_EQ(parse(cases[i].text, &c, err, sizeof(err)), cases[i].ret, cases[i].text);
		if (cases[i].err_has && !strstr(err, cases[i].err_has)) {
			unit_failures++;
			fprintf(stderr, "FAIL: '%s' not in '%s'\n", cases[i].err_has, err);
		}
	}

	CHECK_EQ(parse("ports = 6379, 8000-8100\nexclude_ports = 8050\n", &c, err, sizeof(err)), 0,
		 "policy");
	CHECK_EQ(c.n_ports, 2, "two ranges");
	/* what the ranges mean is the BPF program's: tests/integration/policy.c */
	CHECK(c.ports[0].lo == 6379 && c.ports[0].hi == 6379, "a single port");
	CHECK(c.ports[1].lo == 8000 && c.ports[1].hi == 8100, "a range");
	CHECK(c.n_exclude == 1 && c.exclude[0].lo == 8050 && c.exclude[0].hi == 8050,
	      "one excluded port");

	CHECK_EQ(parse("local_cidrs = 172.17.0.0/16, fd00::/8, 10.0.0.1\n", &c, err, sizeof(err)),
		 0, "cidrs");
	CHECK_EQ(c.n_cidrs, 3, "three prefixes");
	inet_pton(AF_INET, "172.17.0.0", &a);
	CHECK(c.cidrs[0].family == SA_AF_INET && c.cidrs[0].addr[0] == a &&
	      c.cidrs[0].prefixlen == 16, "v4 prefix");
	CHECK(c.cidrs[1].family == SA_AF_INET6 && c.cidrs[1].prefixlen == 8, "v6 prefix");
	CHECK_EQ(c.cidrs[2].prefixlen, 32, "bare address is a /32");

	CHECK_EQ(parse("", &c, err, sizeof(err)), 0, "defaults");
	CHECK(c.ipv6 && c.max_conns == SA_MAX_CONNS_DEFAULT && c.n_ports == 0, "defaults");
	CHECK(!c.unbounded, "a memory bound by default");
	CHECK_EQ(parse("memory_bound = off\n", &c, err, sizeof(err)), 0, "memory_bound = off");
	CHECK(c.unbounded, "off means no bound");
	CHECK_EQ(parse("flow_limit = 2097152\n", &c, err, sizeof(err)), 0, "flow_limit");
	CHECK_EQ(c.flow_limit, 2097152, "flow_limit in bytes");

	CHECK_EQ(c.metrics_listen.family, 0, "no metrics endpoint by default");
	CHECK_EQ(parse("metrics_listen = 127.0.0.1:9465\n", &c, err, sizeof(err)), 0, "v4 listen");
	sa_listen_format(&c.metrics_listen, err, sizeof(err));
	CHECK(!strcmp(err, "127.0.0.1:9465"), "v4 listen round-trips");
	CHECK_EQ(parse("metrics_listen = [::1]:9465\n", &c, err, sizeof(err)), 0, "v6 listen");
	sa_listen_format(&c.metrics_listen, err, sizeof(err));
	CHECK(!strcmp(err, "[::1]:9465"), "v6 listen round-trips");

	/* the default file may be absent; a named one may not */
	CHECK_EQ(sa_config_load("/nonexistent/sockaccel.conf", false, &c, err, sizeof(err)), 0,
		 "missing default file");
	CHECK_EQ(sa_config_load("/nonexistent/sockaccel.conf", true, &c, err, sizeof(err)),
		 -ENOENT, "missing named file");
	CHECK(strstr(err, "/nonexistent/sockaccel.conf") != NULL, "names the file");

	/* the watch's fingerprint follows the bytes, not the events */
	CHECK(fingerprints(), "fingerprints");

	/* the command line overrides the file */
	sa_daemon_opts_parse(5, (char *[]){ "sockacceld", "--config", "/nonexistent/x.conf",
					    "--max-conns", "8", NULL }, &o, stderr);
	CHECK_EQ(sa_daemon_settings(&o, &c, err, sizeof(err)), -ENOENT, "named config missing");
	sa_daemon_opts_parse(3, (char *[]){ "sockacceld", "--max-conns", "8", NULL }, &o, stderr);
	strcpy(o.config, "/nonexistent/default.conf");
	CHECK_EQ(sa_daemon_settings(&o, &c, err, sizeof(err)), 0, "default config absent");
	CHECK_EQ(c.max_conns, 8, "command line wins");
	return unit_done("test_config");
}
