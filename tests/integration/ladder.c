// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The feature ladder (daemon/lib/variant.c): sockacceld loads the best
 * variant of its programs this kernel accepts, and says what it lost. On
 * whatever kernel this runs, starting from what a default start got (a
 * kernel may refuse some features itself; only those it gave are forced
 * off here):
 *
 *  0. The default start: its "ready:" variant is what the pinned "features"
 *     map records; status is healthy (0) unless the kernel refused a
 *     feature, then degraded (1) naming each refused one.
 *  1. Each optional feature the kernel gave, refused alone through the test
 *     switch (SOCKACCEL_TEST_REFUSE; with its *_read alternative, where this
 *     build has one): sockacceld becomes ready with exactly that feature
 *     gone (peer_bound's place taken by budget), its log names
 *     "<feature> refused", a new connection is accelerated byte-exact, and
 *     `sockaccelctl status` exits 1 (degraded) naming the feature, plain and
 *     --json (variant.refused with a reason, variant.loaded without it).
 *  2. All optional features refused at once: variant exactly base+budget,
 *     still accelerating.
 *  3. A real verifier refusal: sockaccel_testrefuse.bpf.o, whose demote
 *     every verifier refuses: ready without demote, and status gives the
 *     verifier's words ("invalid bpf_context access") as the reason. That
 *     object calls kfuncs, so this runs where the default start got demote;
 *     elsewhere the kernel's own refusal, checked in 0., is the real one.
 *  4. `sockaccelctl enable` and sockacceld on the same config give the same
 *     variant, the same features record, the same ctl value (queue limit,
 *     policy), the same port rules, local prefixes, map size and attach
 *     method; once as they come, once with demote refused for both.
 *  5. The basic redirect refused: sockacceld exits 20 by itself, saying why
 *     without --verbose; nothing is pinned and nothing attached.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "ctl_json.h"	/* the strict JSON parser of the sockaccelctl tests */
#include "exitcodes.h"
#include "pins.h"
#include "testlib.h"
#include "variant.h"

#define MiB (1ULL << 20)
#define CONN_LEN (4 * MiB)
#define QUEUE_LIMIT 4194304u
#define MAX_CONNS 4096u
#define EXCLUDED_PORT 9u
#define CONFIG_CIDR "198.51.100.0/24"
#define CONFIG_ADDR "198.51.100.7"	/* inside CONFIG_CIDR */

#define REASON_SWITCH "refused by the test switch"
#define REASON_VERIFIER "invalid bpf_context access"

/*
 * The features in the order a variant names them. Written out here, not
 * taken from the daemon's library, so that a variant line that drops or
 * reorders features differs from what the test expects. An alternative
 * ("*_read": the same feature by other means, tried when its primary is
 * refused) may not be in this build: its bit is looked up by name at run
 * time (feats_resolve), and 0 means absent. Refusing a feature means
 * refusing its alternatives too.
 */
static struct feat {
	const char *name;
	__u32 bit;
	const char *alt_of;	/* the primary it stands in for */
} feats[] = {
	{ "peer_bound", SA_FEAT_PEER_BOUND, NULL },
	{ "peer_bound_read", 0, "peer_bound" },
	{ "budget", SA_FEAT_BUDGET, NULL },
	{ "flow_control", SA_FEAT_FLOW, NULL },
	{ "demote", SA_FEAT_DEMOTE, NULL },
	{ "demote_read", 0, "demote" },
	{ "tfo_check", SA_FEAT_TFO, NULL },
	{ "probe_mark", SA_FEAT_PROBE_MARK, NULL },
	{ "splice_guard", SA_FEAT_SPLICE, NULL },
	{ "halfclose_guard", SA_FEAT_HALFCLOSE, NULL },
};
#define N_FEATS (sizeof(feats) / sizeof(feats[0]))

/* The optional features the ladder tries first (budget only stands in
 * for a missing peer_bound). */
static const __u32 primaries[] = { SA_FEAT_PEER_BOUND, SA_FEAT_FLOW, SA_FEAT_DEMOTE,
				   SA_FEAT_TFO, SA_FEAT_PROBE_MARK, SA_FEAT_SPLICE,
				   SA_FEAT_HALFCLOSE };
#define N_PRIMARIES (sizeof(primaries) / sizeof(primaries[0]))

static void feats_resolve(void)
{
	for (unsigned int i = 0; i < N_FEATS; i++) {
		if (feats[i].bit)
			continue;
		for (unsigned int b = 0; b < SA_FEAT_SLOTS; b++)
			if (strcmp(sa_feature_name(1u << b), feats[i].name) == 0)
				feats[i].bit = 1u << b;
		tl_log("alternative %s (of %s): %s", feats[i].name, feats[i].alt_of,
		       feats[i].bit ? "in this build" : "not in this build");
	}
}

static const char *feat_name(__u32 bit)
{
	for (unsigned int i = 0; i < N_FEATS; i++)
		if (feats[i].bit == bit)
			return feats[i].name;
	return "?";
}

static __u32 feat_bit(const char *name)
{
	for (unsigned int i = 0; i < N_FEATS; i++)
		if (strcmp(feats[i].name, name) == 0)
			return feats[i].bit;
	return 0;
}

/* @primary and the alternatives of it this build has. */
static __u32 capability(__u32 primary)
{
	__u32 mask = primary;

	for (unsigned int i = 0; i < N_FEATS; i++)
		if (feats[i].alt_of && !strcmp(feats[i].alt_of, feat_name(primary)))
			mask |= feats[i].bit;
	return mask;
}

/* The features a features record lacks for good: refused, and no
 * alternative of theirs loaded (budget included: refused, it is no bound). */
static __u32 missing(const struct sa_features *rec)
{
	__u32 mask = 0;

	for (unsigned int i = 0; i < N_FEATS; i++) {
		__u32 bit = feats[i].bit;

		if (!bit || feats[i].alt_of || !(rec->refused & bit))
			continue;
		if (!(rec->loaded & (capability(bit) & ~bit)))
			mask |= bit;
	}
	return mask;
}

/* "base+peer_bound+..." for @mask. */
static void describe(__u32 mask, char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "base");

	for (unsigned int i = 0; i < N_FEATS && off < len; i++)
		if (feats[i].bit && (mask & feats[i].bit))
			off += (size_t)snprintf(buf + off, len - off, "+%s", feats[i].name);
}

/* "peer_bound,demote" for @mask (the test switch's syntax). */
static void name_list(__u32 mask, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < N_FEATS && off < len; i++)
		if (feats[i].bit && (mask & feats[i].bit))
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "," : "",
						feats[i].name);
}

/* Does some line of @text contain @a, and @b too (unless NULL)? */
static bool has_line(const char *text, const char *a, const char *b)
{
	for (const char *l = text; l && *l;) {
		const char *e = strchr(l, '\n');
		size_t n = e ? (size_t)(e - l) : strlen(l);

		if (memmem(l, n, a, strlen(a)) && (!b || memmem(l, n, b, strlen(b))))
			return true;
		l = e ? e + 1 : NULL;
	}
	return false;
}

/* Does a line of the daemon's stderr contain @a (and @b)? */
static bool daemon_line(const struct tl_daemon *d, const char *a, const char *b)
{
	char *text = NULL;
	size_t cap = 0;
	FILE *f = fopen(d->err_path, "re");
	bool found;

	if (!f)
		return false;
	found = getdelim(&text, &cap, '\0', f) >= 0 && has_line(text, a, b);
	fclose(f);
	free(text);
	return found;
}

/* ------------------------------------------------------------------------ */
/* sockaccelctl                                                             */

struct cmd {
	char line[512];
	int code;		/* exit code, -1 if it did not exit normally */
	char *out, *err;
};

#define CMD_INIT { .code = -1 }

static void cmd_free(struct cmd *c)
{
	free(c->out);
	free(c->err);
	c->out = c->err = NULL;
}

/* sockaccelctl --pin-dir <test pin dir> @arg... (NULL-terminated). */
__attribute__((sentinel))
static int ctl_run(struct cmd *c, const char *arg, ...)
{
	const char *argv[16];
	int argc = 0, status = 0, err;
	size_t off = 0;
	va_list ap;

	cmd_free(c);
	c->code = -1;
	argv[argc++] = tl_ctl_path();
	argv[argc++] = "--pin-dir";
	argv[argc++] = tl_env.pin_dir;
	va_start(ap, arg);
	for (const char *a = arg; a && argc < 15; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	c->line[0] = '\0';
	for (int i = 0; i < argc && off < sizeof(c->line); i++)
		off += (size_t)snprintf(c->line + off, sizeof(c->line) - off, "%s%s", i ? " " : "",
					argv[i]);
	err = tl_run_capture((char *const *)argv, 30000, &status, &c->out, &c->err);
	if (!err && WIFEXITED(status))
		c->code = WEXITSTATUS(status);
	if (!c->out || !c->err) {
		cmd_free(c);
		c->out = strdup("");
		c->err = strdup("");
		if (!c->out || !c->err)
			return -ENOMEM;
	}
	return err;
}

static void cmd_dump(const struct cmd *c)
{
	tl_log("%s: exit %d\n---- stdout\n%s---- stderr\n%s----", c->line, c->code,
	       c->out ? c->out : "", c->err ? c->err : "");
}

/* ------------------------------------------------------------------------ */
/* The pinned state                                                         */

static int features_read(struct sa_features *f)
{
	__u32 zero = 0;
	int fd = tl_pin_open(SA_PIN_FEATURES), err = 0;

	if (fd < 0)
		return fd;
	memset(f, 0, sizeof(*f));
	if (bpf_map_lookup_elem(fd, &zero, f) < 0)
		err = -errno;
	close(fd);
	return err;
}

/* Has the pin dir no entries (or is it gone)? @names gets them. */
static int pin_dir_entries(char *names, size_t len)
{
	DIR *dir = opendir(tl_env.pin_dir);
	struct dirent *de;
	size_t off = 0;
	int n = 0;

	names[0] = '\0';
	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n++;
		if (off < len)
			off += (size_t)snprintf(names + off, len - off, "%s%s", off ? " " : "",
						de->d_name);
	}
	closedir(dir);
	return n;
}

/* ------------------------------------------------------------------------ */
/* sockaccelctl status, plain and --json                                    */

/*
 * status says what the pinned programs run with: variant @loaded; a
 * "problem:" line for each feature of @named (primaries), containing @why
 * unless NULL; in --json, variant.refused lists exactly what the pinned
 * record refused, each with a reason and what is lost, the reason of each
 * feature of @why_mask containing @why. Degraded (1) when the record lacks
 * a feature for good, healthy (0) otherwise.
 */
static bool status_check(__u32 loaded, __u32 named, const char *why, __u32 why_mask)
{
	struct cmd plain = CMD_INIT, json = CMD_INIT;
	struct sa_features rec;
	struct cj *v = NULL;
	const struct cj *arr;
	char variant[256], needle[300], err[256];
	__u32 json_loaded = 0, json_refused = 0;
	__u64 code = 0;
	int want;
	bool ok = false;

	describe(loaded, variant, sizeof(variant));
	ASSERT_OK(features_read(&rec), "read the pinned features record");
	ASSERT_EQ(rec.loaded, loaded, "the features record holds the variant sockacceld named");
	ASSERT_EQ(rec.refused & why_mask, why_mask, "the features record holds each refusal");
	ASSERT_EQ(missing(&rec) & named, named, "each refused feature is missing for good");
	want = missing(&rec) ? 1 : 0;

	ASSERT_OK(ctl_run(&plain, "status", NULL), "run sockaccelctl status");
	ASSERT_EQ(plain.code, want, "sockaccelctl status: 1 (degraded) with a feature refused, "
		  "0 (healthy) with none");
	ASSERT_TRUE(has_line(plain.out, want ? "sockaccel: degraded" : "sockaccel: healthy", NULL),
		    "status states its verdict");
	snprintf(needle, sizeof(needle), " %s (loaded on ", variant);
	ASSERT_TRUE(has_line(plain.out, "variant:", needle), "status names the variant exactly");
	for (unsigned int i = 0; i < N_FEATS; i++) {
		if (!feats[i].bit || !(named & feats[i].bit))
			continue;
		snprintf(needle, sizeof(needle), "%s refused: ", feats[i].name);
		if (!has_line(plain.out, "problem:", needle) ||
		    (why && !has_line(plain.out, needle, why)))
			FAIL("status has no \"problem:\" line naming %s%s%s%s", needle,
			     why ? "with the reason \"" : "", why ? why : "", why ? "\"" : "");
	}

	ASSERT_OK(ctl_run(&json, "--json", "status", NULL), "run sockaccelctl --json status");
	ASSERT_EQ(json.code, want, "sockaccelctl --json status exits as plain status");
	v = cj_parse(json.out, strlen(json.out), err, sizeof(err));
	if (!v || v->type != CJ_OBJ)
		FAIL("--json status is not one JSON object: %s", v ? "another type" : err);
	if (!cj_str(cj_get(v, "verdict")) ||
	    strcmp(cj_str(cj_get(v, "verdict")), want ? "degraded" : "healthy") != 0)
		FAIL("--json status: verdict is not \"%s\"", want ? "degraded" : "healthy");
	ASSERT_OK(cj_u64(cj_get(v, "exit_code"), &code), "--json status has exit_code");
	ASSERT_EQ(code, want, "--json status: exit_code");
	if (!cj_str(cj_path(v, "variant.name")) ||
	    strcmp(cj_str(cj_path(v, "variant.name")), variant) != 0)
		FAIL("--json status: variant.name is %s, expected \"%s\"",
		     cj_str(cj_path(v, "variant.name")) ?: "missing", variant);

	arr = cj_path(v, "variant.loaded");
	if (!arr || arr->type != CJ_ARR)
		FAIL("--json status: variant.loaded is not an array");
	for (size_t i = 0; i < arr->n; i++) {
		const char *name = cj_str(arr->items[i]);
		__u32 bit = name ? feat_bit(name) : 0;

		if (!bit || (json_loaded & bit))
			FAIL("--json status: variant.loaded[%zu] (%s) is not a feature this test "
			     "knows, named once", i, name ?: "not a string");
		json_loaded |= bit;
	}
	ASSERT_EQ(json_loaded, loaded, "--json status: variant.loaded lists exactly the variant");

	arr = cj_path(v, "variant.refused");
	if (!arr || arr->type != CJ_ARR)
		FAIL("--json status: variant.refused is not an array");
	for (size_t i = 0; i < arr->n; i++) {
		const char *name = cj_str(cj_get(arr->items[i], "name"));
		const char *reason = cj_str(cj_get(arr->items[i], "reason"));
		const char *loss = cj_str(cj_get(arr->items[i], "without_it"));
		__u32 bit = name ? feat_bit(name) : 0;

		if (!bit || !reason || !loss)
			FAIL("--json status: variant.refused[%zu] lacks a name this test knows, a "
			     "reason or without_it", i);
		if (!reason[0] || !loss[0])
			FAIL("--json status: variant.refused[%zu] (%s) has an empty reason or "
			     "without_it", i, name);
		if ((why_mask & bit) && why && !strstr(reason, why))
			FAIL("--json status: the reason of %s is \"%s\", without \"%s\"", name, reason,
			     why);
		json_refused |= bit;
	}
	ASSERT_EQ(json_refused & (why_mask | named), why_mask | named,
		  "--json status: variant.refused lists each refused feature");
	ASSERT_EQ(json_refused, rec.refused,
		  "--json status: variant.refused is what the features record holds");
	ASSERT_EQ(json_refused & json_loaded, 0, "no feature both loaded and refused");
	ok = true;
cleanup:
	if (!ok) {
		cmd_dump(&plain);
		cmd_dump(&json);
	}
	cj_free(v);
	cmd_free(&plain);
	cmd_free(&json);
	return ok;
}

/* ------------------------------------------------------------------------ */
/* Rungs                                                                    */

/*
 * Start sockacceld with @refuse (the test switch, or NULL) and @object
 * (--bpf-object, or NULL); it must run variant @loaded exactly, log a
 * "<feature> refused" line with @why for each feature of @named, accelerate
 * a new connection and say all that in status (status_check); then SIGTERM,
 * exit 0.
 */
static bool rung(const char *label, const char *refuse, const char *object, __u32 loaded,
		 __u32 named, const char *why, __u32 why_mask)
{
	const char *args[] = { "--bpf-object", object, NULL };
	struct tl_daemon d = TL_DAEMON_INIT;
	char want[256], got[256], needle[64];
	bool ok = false;

	describe(loaded, want, sizeof(want));
	tl_log("---- %s: expecting variant %s", label, want);
	if (refuse)
		setenv(SA_TEST_REFUSE_ENV, refuse, 1);
	ASSERT_OK(tl_daemon_start_ready(&d, object ? args : NULL, 0),
		  "start sockacceld, wait for READY=1");
	unsetenv(SA_TEST_REFUSE_ENV);
	ASSERT_OK(tl_daemon_variant(&d, got, sizeof(got)), "sockacceld's ready line names a variant");
	if (strcmp(got, want) != 0)
		FAIL("%s: sockacceld runs variant %s, expected %s", label, got, want);
	if ((named & SA_FEAT_PEER_BOUND) && !strstr(got, "+budget"))
		FAIL("%s: without peer_bound the variant %s has no +budget", label, got);
	for (unsigned int i = 0; i < N_FEATS; i++) {
		if (!feats[i].bit || !(named & feats[i].bit))
			continue;
		snprintf(needle, sizeof(needle), "%s refused: ", feats[i].name);
		if (!daemon_line(&d, needle, why))
			FAIL("%s: sockacceld's log has no line \"%s...(%s...)\"", label, needle,
			     why ? why : "");
	}
	ASSERT_TRUE(tl_new_conn_accelerated(label, TL_INET4, CONN_LEN, TL_WRITE_SEND),
		    "a new IPv4 connection is accelerated byte-exact");
	ASSERT_TRUE(status_check(loaded, named, why, why_mask),
		    "sockaccelctl status names the refusals");
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
	ok = true;
cleanup:
	unsetenv(SA_TEST_REFUSE_ENV);
	if (!ok)
		tl_daemon_dump(&d);
	tl_daemon_release(&d);
	return ok;
}

/* ------------------------------------------------------------------------ */
/* sockaccelctl enable against sockacceld                                   */

struct snap {
	char variant[256];
	struct sa_features feat;
	struct sa_ctl ctl;
	__u8 port_excluded;		/* ports[EXCLUDED_PORT] */
	__u32 ports_ruled;		/* ports not SA_PORT_DEFAULT */
	__u32 local_addrs;		/* entries */
	__u32 cidr_source;		/* local_addrs value covering CONFIG_ADDR */
	struct tl_fastpath fp;
};

static bool snap_read(const char *who, struct snap *s)
{
	struct sa_lpm_key k = { .prefixlen = 128 };
	__u32 zero = 0;
	int ctl = -1, ports = -1, local = -1;
	bool ok = false;

	ASSERT_OK(tl_fastpath_read(&s->fp), "read the pinned fast path");
	ASSERT_OK(features_read(&s->feat), "read the pinned features record");
	ASSERT_FD(ctl = tl_pin_open(SA_PIN_CTL), "open the pinned ctl map");
	ASSERT_OK(bpf_map_lookup_elem(ctl, &zero, &s->ctl), "read ctl");
	ASSERT_FD(ports = tl_pin_open(SA_PIN_PORTS), "open the pinned ports map");
	s->ports_ruled = 0;
	for (__u32 port = 0; port < 65536; port++) {
		__u8 rule = 0;

		ASSERT_OK(bpf_map_lookup_elem(ports, &port, &rule), "read a port's rule");
		if (port == EXCLUDED_PORT)
			s->port_excluded = rule;
		s->ports_ruled += rule != SA_PORT_DEFAULT;
	}
	ASSERT_FD(local = tl_pin_open(SA_PIN_LOCAL_ADDRS), "open the pinned local_addrs map");
	ASSERT_OK(tl_map_count(local, &s->local_addrs), "count local_addrs");
	k.addr[2] = htonl(0xffff);
	ASSERT_EQ(inet_pton(AF_INET, CONFIG_ADDR, &k.addr[3]), 1, "inet_pton");
	s->cidr_source = 0;
	if (bpf_map_lookup_elem(local, &k, &s->cidr_source) < 0 && errno != ENOENT)
		FAIL("look %s up in local_addrs: %s", CONFIG_ADDR, strerror(errno));
	tl_log("%s: variant %s; features wanted %#x loaded %#x refused %#x flags %#x; ctl "
	       "queue_limit %u policy %#x draining %u; port %u rule %u, %u ports ruled; "
	       "%u local prefixes, %s -> %#x; sock_hash max %u, sk_msg %s", who, s->variant,
	       s->feat.wanted, s->feat.loaded, s->feat.refused, s->feat.flags, s->ctl.queue_limit,
	       s->ctl.policy, s->ctl.draining, EXCLUDED_PORT, s->port_excluded, s->ports_ruled,
	       s->local_addrs, CONFIG_ADDR, s->cidr_source, s->fp.max_entries,
	       s->fp.msg_attach == SA_MSG_ATTACH_LINK ? "link" : "legacy");
	ok = true;
cleanup:
	if (ctl >= 0)
		close(ctl);
	if (ports >= 0)
		close(ports);
	if (local >= 0)
		close(local);
	return ok;
}

/* What either one set up must hold, whoever set it up. */
static bool snap_valid(const char *who, const struct snap *s, __u32 refused)
{
	char desc[256];
	bool ok = false;

	describe(s->feat.loaded, desc, sizeof(desc));
	if (strcmp(desc, s->variant) != 0)
		FAIL("%s reported variant %s, the features record says %s", who, s->variant, desc);
	ASSERT_EQ(s->feat.refused & refused, refused, "the refused feature is recorded as such");
	ASSERT_EQ(s->feat.loaded & refused, 0, "the refused feature is not loaded");
	ASSERT_EQ(s->ctl.queue_limit, QUEUE_LIMIT, "ctl.queue_limit is the config's");
	ASSERT_EQ(s->ctl.draining, 0, "ctl.draining is off");
	ASSERT_EQ(s->ctl.policy, SA_POLICY_NO_IPV6, "ctl.policy: ipv6 = off, no ports list");
	ASSERT_EQ(s->port_excluded, SA_PORT_EXCLUDE, "exclude_ports = 9 is in the ports map");
	ASSERT_EQ(s->ports_ruled, 1, "no port but 9 has a rule");
	ASSERT_TRUE(s->cidr_source & SA_LOCAL_CONFIG, "local_cidrs is in local_addrs");
	ASSERT_EQ(s->fp.max_entries, MAX_CONNS, "sock_hash holds max_conns");
	ASSERT_EQ(s->fp.cg_progs, 1, "one sockops program on the cgroup");
	ASSERT_EQ(s->fp.msg_progs, 1, "one sk_msg program on the map");
	ok = true;
cleanup:
	if (!ok)
		tl_log("(that was the state %s set up)", who);
	return ok;
}

/* `sockaccelctl enable` and then sockacceld, each from nothing, with the
 * same config and the same @refuse: the same fast path. */
static bool enable_like_daemon(const char *refuse, __u32 refused)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	struct cmd c = CMD_INIT;
	struct snap *e = calloc(2, sizeof(*e)), *s = e ? e + 1 : NULL;
	const char *v;
	bool ok = false;

	tl_log("---- sockaccelctl enable and sockacceld, same config%s%s", refuse ? ", refusing " : "",
	       refuse ? refuse : "");
	ASSERT_TRUE(e, "calloc");
	ASSERT_OK(pin_dir_entries(e->variant, sizeof(e->variant)), "nothing pinned beforehand");

	if (refuse)
		setenv(SA_TEST_REFUSE_ENV, refuse, 1);
	ASSERT_OK(ctl_run(&c, "enable", "--config", tl_env.config, "--cgroup", tl_env.cgroup, NULL),
		  "run sockaccelctl enable");
	unsetenv(SA_TEST_REFUSE_ENV);
	if (c.code != 0) {
		cmd_dump(&c);
		FAIL("sockaccelctl enable exited %d, expected 0", c.code);
	}
	v = strstr(c.out, "variant ");
	if (!v) {
		cmd_dump(&c);
		FAIL("sockaccelctl enable does not name its variant");
	}
	v += strlen("variant ");
	snprintf(e->variant, sizeof(e->variant), "%.*s", (int)strcspn(v, ") \n"), v);
	ASSERT_TRUE(snap_read("sockaccelctl enable", e), "read what sockaccelctl enable set up");
	ASSERT_TRUE(snap_valid("sockaccelctl enable", e, refused),
		    "sockaccelctl enable set up what the config says");
	ASSERT_TRUE(tl_new_conn_accelerated("after enable", TL_INET4, CONN_LEN, TL_WRITE_SEND),
		    "a new connection is accelerated after sockaccelctl enable");
	ASSERT_OK(ctl_run(&c, "disable", NULL), "run sockaccelctl disable");
	if (c.code != 0) {
		cmd_dump(&c);
		FAIL("sockaccelctl disable exited %d, expected 0", c.code);
	}

	if (refuse)
		setenv(SA_TEST_REFUSE_ENV, refuse, 1);
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	unsetenv(SA_TEST_REFUSE_ENV);
	ASSERT_OK(tl_daemon_variant(&d, s->variant, sizeof(s->variant)),
		  "sockacceld's ready line names a variant");
	ASSERT_TRUE(snap_read("sockacceld", s), "read what sockacceld set up");
	ASSERT_TRUE(snap_valid("sockacceld", s, refused), "sockacceld set up what the config says");
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
	ASSERT_OK(ctl_run(&c, "disable", NULL), "run sockaccelctl disable");
	if (c.code != 0) {
		cmd_dump(&c);
		FAIL("sockaccelctl disable exited %d, expected 0", c.code);
	}

	if (strcmp(e->variant, s->variant) != 0)
		FAIL("variant: sockaccelctl enable %s, sockacceld %s", e->variant, s->variant);
	ASSERT_EQ(e->feat.wanted, s->feat.wanted, "features.wanted: enable == sockacceld");
	ASSERT_EQ(e->feat.loaded, s->feat.loaded, "features.loaded: enable == sockacceld");
	ASSERT_EQ(e->feat.refused, s->feat.refused, "features.refused: enable == sockacceld");
	ASSERT_EQ(e->feat.flags, s->feat.flags, "features.flags: enable == sockacceld");
	ASSERT_EQ(memcmp(&e->ctl, &s->ctl, sizeof(e->ctl)), 0,
		  "the ctl value (queue_limit, policy, ...): enable == sockacceld");
	ASSERT_EQ(e->port_excluded, s->port_excluded, "ports[9]: enable == sockacceld");
	ASSERT_EQ(e->ports_ruled, s->ports_ruled, "ports with a rule: enable == sockacceld");
	ASSERT_EQ(e->local_addrs, s->local_addrs, "local_addrs entries: enable == sockacceld");
	ASSERT_EQ(e->fp.max_entries, s->fp.max_entries, "sock_hash size: enable == sockacceld");
	ASSERT_EQ(e->fp.msg_attach, s->fp.msg_attach, "sk_msg attach method: enable == sockacceld");
	ok = true;
cleanup:
	unsetenv(SA_TEST_REFUSE_ENV);
	if (!ok)
		tl_daemon_dump(&d);
	tl_daemon_release(&d);
	cmd_free(&c);
	free(e);
	return ok;
}

/* The basic redirect refused: exit 20, the reason on stderr, nothing left. */
static bool base_refused(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	char names[512];
	__u32 cnt = 0;
	int n;
	bool ok = false;

	tl_log("---- the basic redirect refused");
	n = pin_dir_entries(names, sizeof(names));
	ASSERT_EQ(n, 0, "the pin dir is empty beforehand");
	ASSERT_OK(tl_wait_cgroup_detached(&cnt, 5000), "nothing attached to the cgroup beforehand");

	setenv(SA_TEST_REFUSE_ENV, "base", 1);
	ASSERT_OK(tl_daemon_start(&d, NULL, TL_D_QUIET), "start sockacceld without --verbose");
	unsetenv(SA_TEST_REFUSE_ENV);
	ASSERT_EQ(tl_daemon_wait_ready(&d, TL_READY_MS), -ECHILD,
		  "sockacceld exits by itself, never ready (0: READY=1 came)");
	ASSERT_EXIT(d.status, SA_EXIT_VERIFIER, "sockacceld with the basic redirect refused");
	ASSERT_GT(tl_daemon_log_lines(&d, "basic redirect"), 0,
		  "stderr names the basic redirect without --verbose");
	ASSERT_TRUE(daemon_line(&d, "basic redirect", REASON_SWITCH),
		    "the same line gives the reason");

	n = pin_dir_entries(names, sizeof(names));
	if (n != 0)
		FAIL("the pin dir holds %d entries after the refusal: %s", n, names);
	ASSERT_OK(tl_cgroup_prog_count(BPF_CGROUP_SOCK_OPS, &cnt), "query the cgroup's sockops");
	ASSERT_EQ(cnt, 0, "no sockops program attached to the cgroup");
	ok = true;
cleanup:
	unsetenv(SA_TEST_REFUSE_ENV);
	if (!ok)
		tl_daemon_dump(&d);
	tl_daemon_release(&d);
	return ok;
}

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	struct cmd c = CMD_INIT;
	char variant[256], want[256], list[160], testrefuse[PATH_MAX];
	struct sa_features rec;
	__u32 given = 0, krefused = 0, named = 0, fresh = 0, everything = 0;
	long long t0;

	ASSERT_OK(tl_init("ladder", TL_BUDGET_S), "tl_init");
	t0 = tl_now_ms();
	feats_resolve();

	/* 0. What this kernel gives. */
	tl_log("---- default start");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	for (unsigned int i = 0; i < N_FEATS; i++)
		if (feats[i].bit && tl_daemon_has_feature(&d, feats[i].name))
			given |= feats[i].bit;
	ASSERT_OK(tl_daemon_variant(&d, variant, sizeof(variant)),
		  "sockacceld's ready line names a variant");
	describe(given, want, sizeof(want));
	if (strcmp(variant, want) != 0)
		FAIL("the ready line says variant %s, its features make %s", variant, want);
	ASSERT_OK(features_read(&rec), "read the pinned features record");
	krefused = rec.refused;
	tl_log("this kernel gives variant %s", variant);
	for (unsigned int i = 0; i < N_FEATS; i++)
		if (feats[i].bit && (krefused & feats[i].bit))
			tl_log("  the kernel refused %s: %s", feats[i].name,
			       rec.reason[__builtin_ctz(feats[i].bit)]);
	ASSERT_TRUE(status_check(given, missing(&rec), NULL, 0), "status of the default start");
	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
	tl_daemon_release(&d);

	/* 1. Each feature the kernel gave, refused alone (with its
	 * alternatives: the feature, not one way to it). */
	for (unsigned int i = 0; i < N_PRIMARIES; i++) {
		__u32 bit = primaries[i], cap = capability(bit), loaded = given & ~cap;
		char label[64];

		everything |= cap;
		if (!(given & cap)) {
			tl_log("---- %s: refused by this kernel already, not forced", feat_name(bit));
			continue;
		}
		if (bit == SA_FEAT_PEER_BOUND)	/* and flow control, built on it */
			loaded = (loaded & ~SA_FEAT_FLOW) | SA_FEAT_BUDGET;
		if (bit == SA_FEAT_DEMOTE)	/* and the half-close guard, likewise */
			loaded &= ~SA_FEAT_HALFCLOSE;
		named |= bit;
		fresh |= cap & ~krefused;
		name_list(cap, list, sizeof(list));
		snprintf(label, sizeof(label), "%s refused", feat_name(bit));
		ASSERT_TRUE(rung(label, list, NULL, loaded, bit, REASON_SWITCH, cap & ~krefused),
			    label);
	}
	if (given & SA_FEAT_BUDGET)
		tl_log("---- budget: this kernel runs it in peer_bound's place; refusing it as well "
		       "is the no-bound exit (membound tests it)");

	/* 2. All of them at once. */
	name_list(everything, list, sizeof(list));
	ASSERT_TRUE(rung("all optional features refused", list, NULL, SA_FEAT_BUDGET, named,
			 REASON_SWITCH, fresh), "all optional features refused: base+budget");

	/* 3. A real verifier refusal. The test object calls kfuncs: it loads
	 * where the default start got a kfunc feature such as demote. */
	if (given & SA_FEAT_DEMOTE) {
		__u32 cap = capability(SA_FEAT_DEMOTE);

		ASSERT_OK(tl_bpf_object_path(testrefuse, "sockaccel_testrefuse.bpf.o"),
			  "path of sockaccel_testrefuse.bpf.o");
		ASSERT_OK(access(testrefuse, R_OK), testrefuse);
		ASSERT_TRUE(rung("the verifier refuses demote (sockaccel_testrefuse.bpf.o)", NULL,
				 testrefuse, given & ~cap & ~SA_FEAT_HALFCLOSE, SA_FEAT_DEMOTE,
				 REASON_VERIFIER,
				 cap & ~krefused), "a real verifier refusal");
	} else {
		tl_log("---- this kernel refused demote itself; the default start's status named it "
		       "with the kernel's reason, which is the real refusal here");
	}

	/* 4. sockaccelctl enable is the same bring-up. */
	ASSERT_OK(tl_config_write("queue_limit = 4194304\nexclude_ports = 9\nlocal_cidrs = "
				  CONFIG_CIDR "\nmax_conns = 4096\nipv6 = off\n"),
		  "write the config both use");
	ASSERT_OK(ctl_run(&c, "disable", NULL), "run sockaccelctl disable");
	if (c.code != 0) {
		cmd_dump(&c);
		FAIL("sockaccelctl disable exited %d, expected 0", c.code);
	}
	ASSERT_TRUE(enable_like_daemon(NULL, 0), "enable and sockacceld agree");
	name_list(capability(SA_FEAT_DEMOTE), list, sizeof(list));
	ASSERT_TRUE(enable_like_daemon(list, capability(SA_FEAT_DEMOTE)),
		    "enable and sockacceld agree with demote refused");

	/* 5. Nothing at all. */
	ASSERT_TRUE(base_refused(), "the basic redirect refused");
	tl_log("all rungs in %lld ms", tl_now_ms() - t0);
cleanup:
	unsetenv(SA_TEST_REFUSE_ENV);
	cmd_free(&c);
	tl_daemon_release(&d);
	return tl_finish();
}
