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
	static const char *const state[] = { "pass", "fail", "info", "skip" };
	struct sa_preflight_opts po = { .pin_dir = c->pin_dir };
	struct sa_preflight pf;
	struct sa_variant v;
	bool probed = false;
	int opt, code, err = 0;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "+:", longopts, NULL)) != -1) {
		if (opt != 'c')
			return ctl_bad_option(c, opt, argv, "preflight");
		po.cgroup = optarg;
	}
	if (optind < argc) {
		ctl_err(c, "preflight: unexpected argument '%s'", argv[optind]);
		return SA_CTL_USAGE;
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
		jsonw_string_field(c->jw, "state", state[k->state]);
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
	struct sa_layout layout = {};
	char path[PATH_MAX];
	struct utsname u = {};
	bool pinned = false;
	__u32 zero = 0;
	int fd;

	if (argc > 1) {
		ctl_err(c, "version: unexpected argument '%s'", argv[1]);
		return SA_CTL_USAGE;
	}
	uname(&u);
	if (sa_pin_path(path, c->pin_dir, SA_PIN_LAYOUT) == 0 && (fd = bpf_obj_get(path)) >= 0) {
		pinned = bpf_map_lookup_elem(fd, &zero, &layout) == 0;
		close(fd);
	}
	if (c->json) {
		jsonw_start_object(c->jw);
		jsonw_string_field(c->jw, "sockaccel", SA_VERSION);
		jsonw_string_field(c->jw, "libbpf", libbpf_version_string());
		jsonw_string_field(c->jw, "kernel", u.release);
		jsonw_uint_field(c->jw, "layout", SA_LAYOUT_VERSION);
		jsonw_name(c->jw, "pinned_layout");
		if (pinned)
			jsonw_uint(c->jw, layout.version);
		else
			jsonw_null(c->jw);
		jsonw_end_object(c->jw);
		return SA_CTL_OK;
	}
	printf("sockaccel %s\nlibbpf %s\nkernel %s\nlayout %u", SA_VERSION,
	       libbpf_version_string(), u.release, SA_LAYOUT_VERSION);
	if (pinned)
		printf(" (pinned in %s: %u)", c->pin_dir, layout.version);
	printf("\n");
	return SA_CTL_OK;
}
