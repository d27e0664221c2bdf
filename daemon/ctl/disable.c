// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sockaccelctl disable / enable. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "sockaccel.h"
#include "ctl.h"
#include "parse.h"
#include "drain.h"
#include "exitcodes.h"
#include "bringup.h"
#include "fastpath.h"
#include "preflight.h"

#define DRAIN_GRACE_MS 50

int do_disable(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{},
	};
	struct sa_drain_opts o = { .pin_dir = c->pin_dir, .timeout_ms = 10000,
				   .grace_ms = DRAIN_GRACE_MS };
	struct sa_drain_result r;
	__u32 secs;
	int opt, err;

	while ((opt = ctl_getopt(c, argc, argv, longopts)) != -1) {
		if (opt == '?')
			return SA_CTL_USAGE;
		if (sa_parse_u32(optarg, 0, 86400, &secs)) {
			ctl_err(c, "disable --timeout: '%s' is not a number of seconds from 0 to 86400",
				optarg);
			return SA_CTL_USAGE;
		}
		o.timeout_ms = secs * 1000;
	}

	err = sa_drain(&o, &r);
	if (err == -EWOULDBLOCK) {
		ctl_err(c, "sockacceld (pid %d) holds %s: stop it first (systemctl disable --now "
			"sockaccel), then run disable again", (int)r.holder, c->pin_dir);
		return SA_CTL_BUSY;
	}
	if (err) {
		ctl_err(c, "disable failed: %s (the messages above say where; nothing that holds "
			"data was removed)", strerror(-err));
		return SA_CTL_FAIL;
	}
	if (c->json) {
		jsonw_start_object(c->jw);
		jsonw_bool_field(c->jw, "was_off", r.was_off);
		jsonw_uint_field(c->jw, "entries", r.entries_before);
		jsonw_uint_field(c->jw, "drained", r.deleted);
		jsonw_uint_field(c->jw, "remaining", r.remaining);
		jsonw_end_object(c->jw);
	} else if (r.was_off) {
		printf("the fast path was already off (%s holds no map)\n", c->pin_dir);
	} else {
		printf("disabled: %u sockets drained and removed from the map; pins removed\n",
		       r.deleted);
		if (r.remaining)
			printf("%u sockets still hold redirected bytes their receivers have not read; "
			       "they stay in the (unpinned) map, redirect nothing more, and leave it "
			       "when they close\n", r.remaining);
	}
	return r.remaining ? SA_CTL_DRAINED_EXCEPT : SA_CTL_OK;
}

/* The same bring-up as sockacceld: its configuration file (the default
 * one, if present), its variant and attach choice, its policy. */
int do_enable(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cgroup", required_argument, NULL, 'c' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "config", required_argument, NULL, 'f' },
		{},
	};
	const char *config_path = SA_CONFIG_DEFAULT, *cgroup = NULL;
	struct sa_bringup_opts bo = { .attach = SA_ATTACH_AUTO };
	bool config_set = false, max_set = false;
	char err_text[PATH_MAX + 512], variant[256];
	struct sa_fastpath_info fi;
	struct sa_config config;
	struct sa_bringup b;
	__u32 max_conns = 0;
	int opt, code;

	while ((opt = ctl_getopt(c, argc, argv, longopts)) != -1) {
		switch (opt) {
		case 'c':
			cgroup = optarg;
			break;
		case 'm':
			if (sa_parse_u32(optarg, SA_MAX_CONNS_MIN, SA_MAX_CONNS_MAX, &max_conns)) {
				ctl_err(c, "enable --max-conns: '%s' is not a number from %u to %u",
					optarg, SA_MAX_CONNS_MIN, SA_MAX_CONNS_MAX);
				return SA_CTL_USAGE;
			}
			max_set = true;
			break;
		case 'f':
			config_path = optarg;
			config_set = true;
			break;
		default:
			return SA_CTL_USAGE;
		}
	}
	if (sa_config_load(config_path, config_set, &config, err_text, sizeof(err_text))) {
		ctl_err(c, "enable: %s", err_text);
		return SA_CTL_USAGE;
	}
	/* sockaccelctl addresses one pin dir: that is the one set up */
	snprintf(config.pin_dir, sizeof(config.pin_dir), "%s", c->pin_dir);
	if (cgroup)
		snprintf(config.cgroup, sizeof(config.cgroup), "%s", cgroup);
	if (max_set)
		config.max_conns = max_conns;
	bo.config = &config;
	code = sa_bringup(&bo, &b);
	if (code == SA_EXIT_LOCKED) {
		ctl_err(c, "sockacceld holds %s: the fast path is already managed by it",
			c->pin_dir);
		return SA_CTL_BUSY;
	}
	if (code) {
		ctl_err(c, "enable: %s", b.why);
		return SA_CTL_FAIL;
	}
	sa_fastpath_info(b.fp, &fi);
	sa_variant_describe(b.variant.loaded, variant, sizeof(variant));
	if (c->json) {
		jsonw_start_object(c->jw);
		jsonw_string_field(c->jw, "cgroup", b.pf.cgroup);
		jsonw_uint_field(c->jw, "map_id", fi.map_id);
		jsonw_string_field(c->jw, "msg_attach", fi.msg_legacy ? "legacy" : "link");
		jsonw_string_field(c->jw, "variant", variant);
		jsonw_end_object(c->jw);
	} else {
		printf("enabled: accelerating cgroup %s (map id %u, sk_msg %s, variant %s); start "
		       "sockacceld to have it watched\n", b.pf.cgroup, fi.map_id,
		       fi.msg_legacy ? "legacy attach" : "link", variant);
	}
	sa_bringup_release(&b);
	return SA_CTL_OK;
}
