// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sockaccelctl preflight / version. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sockaccel.h"
#include "ctl.h"
#include "pins.h"
#include "exitcodes.h"
#include "preflight.h"
#include "variant.h"

#ifndef SA_VERSION
#define SA_VERSION "unknown"
#endif

int do_preflight(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cgroup", required_argument, NULL, 'c' },
		{},
	};
	struct sa_preflight_opts po = { .pin_dir = c->pin_dir };
	struct sa_preflight pf;
	struct sa_variant v;
	bool probed = false;
	int opt, code, err = 0;

	while ((opt = ctl_getopt(c, argc, argv, longopts)) != -1) {
		if (opt == '?')
			return SA_CTL_USAGE;
		po.cgroup = optarg;
	}
	code = sa_preflight_run(&po, &pf);
	if (pf.checks[0].state == SA_CHECK_PASS) {
		struct sa_variant_opts vo = {};

		err = sa_variant_choose(&vo, &v);
		probed = true;
		if (!code && err)
			code = err == -ENOTSUP ? SA_EXIT_VERIFIER : SA_EXIT_NO_BOUND;
	}
	if (!c->json) {
		sa_preflight_print(&pf, stdout);
		if (probed)
			sa_variant_print(&v, err, stdout);
		return code ? SA_CTL_FAIL : SA_CTL_OK;
	}
	jsonw_start_object(c->jw);
	jsonw_bool_field(c->jw, "passed", code == 0);
	jsonw_int_field(c->jw, "daemon_exit_code", code);
	jsonw_bool_field(c->jw, "sockmap_link", pf.sockmap_link);
	if (probed) {
		char desc[256];

		sa_variant_describe(err == -ENOTSUP ? 0 : v.loaded, desc, sizeof(desc));
		jsonw_string_field(c->jw, "variant", err == -ENOTSUP ? "none" : desc);
		jsonw_name(c->jw, "refused");
		jsonw_start_array(c->jw);
		for (unsigned int i = 0; i < SA_FEAT_SLOTS; i++) {
			if (!(v.refused & (1u << i)))
				continue;
			jsonw_start_object(c->jw);
			jsonw_string_field(c->jw, "name", sa_feature_name(1u << i));
			jsonw_string_field(c->jw, "reason", v.reason[i]);
			jsonw_end_object(c->jw);
		}
		jsonw_end_array(c->jw);
	}
	jsonw_name(c->jw, "checks");
	jsonw_start_array(c->jw);
	for (unsigned int i = 0; i < pf.n; i++) {
		const struct sa_check *k = &pf.checks[i];

		jsonw_start_object(c->jw);
		jsonw_string_field(c->jw, "id", k->id);
		jsonw_string_field(c->jw, "title", k->title);
		jsonw_string_field(c->jw, "state", sa_check_state_name(k->state));
		jsonw_string_field(c->jw, "detail", k->detail);
		if (k->state == SA_CHECK_FAIL) {
			jsonw_string_field(c->jw, "fix", k->fix);
			jsonw_int_field(c->jw, "exit_code", k->exit_code);
		}
		jsonw_end_object(c->jw);
	}
	jsonw_end_array(c->jw);
	jsonw_end_object(c->jw);
	return code ? SA_CTL_FAIL : SA_CTL_OK;
}

int do_version(struct ctl *c, int argc, char **argv)
{
	struct sa_layout_check lc;
	struct utsname u = {};
	bool pinned;

	if (ctl_no_args(c, argc, argv))
		return SA_CTL_USAGE;
	uname(&u);
	/* whatever version is pinned, as long as the pin is ours */
	sa_pin_layout_check(c->pin_dir, &lc);
	pinned = lc.read && lc.state != SA_LAYOUT_FOREIGN;
	if (c->json) {
		jsonw_start_object(c->jw);
		jsonw_string_field(c->jw, "sockaccel", SA_VERSION);
		jsonw_string_field(c->jw, "libbpf", libbpf_version_string());
		jsonw_string_field(c->jw, "kernel", u.release);
		jsonw_uint_field(c->jw, "layout", SA_LAYOUT_VERSION);
		jsonw_name(c->jw, "pinned_layout");
		if (pinned)
			jsonw_uint(c->jw, lc.layout.version);
		else
			jsonw_null(c->jw);
		jsonw_end_object(c->jw);
		return SA_CTL_OK;
	}
	printf("sockaccel %s\nlibbpf %s\nkernel %s\nlayout %u", SA_VERSION,
	       libbpf_version_string(), u.release, SA_LAYOUT_VERSION);
	if (pinned)
		printf(" (pinned in %s: %u)", c->pin_dir, lc.layout.version);
	printf("\n");
	return SA_CTL_OK;
}
