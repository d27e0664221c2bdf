// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Choose the variant of the programs this kernel accepts, one feature at a
 * time. Whether a verifier accepts a given use of a helper or kfunc is not
 * a stable fact of a kernel version (builds and backports differ), so
 * nothing here reads a version number: each feature is tried by loading the
 * programs with it, and a refusal costs that feature only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "builtin_objects.h"
#include "pins.h"
#include "variant.h"

struct feature_desc {
	__u32 bit;
	const char *name;
	bool kfunc;		/* absent from the object without kfuncs */
	__u32 alt;		/* the same feature by other means, tried next */
	bool is_alt;		/* only tried when its primary is refused */
	__u32 needs;		/* one of these must be loaded for it to be tried */
	const char *loss;
};

/* In probing order; a combined load that fails drops them from the end. */
static const struct feature_desc features[] = {
	{ SA_FEAT_PEER_BOUND, "peer_bound", true, SA_FEAT_PEER_READ, false, 0,
	  "the memory bound cannot read the receiver's queue, so each socket may "
	  "redirect only queue_limit bytes in all before its connection moves to TCP "
	  "(budget), even when the receiver keeps up" },
	{ SA_FEAT_PEER_READ, "peer_bound_read", false, 0, true, 0,
	  "as peer_bound" },
	{ SA_FEAT_BUDGET, "budget", false, 0, true, 0,
	  "no memory bound: a receiver that stops reading can hold unbounded memory "
	  "(up to the host's tcp_mem)" },
	{ SA_FEAT_FLOW, "flow_control", false, 0, false, SA_FEAT_PEER_BOUND | SA_FEAT_PEER_READ,
	  "senders do not block as on TCP: a receiver that falls behind may hold "
	  "queue_limit bytes, and then its connection moves to TCP for good" },
	{ SA_FEAT_DEMOTE, "demote", true, SA_FEAT_DEMOTE_READ, false, 0,
	  "connections that fell back to TCP keep both sockets in the map, so their "
	  "bulk streams run slower than plain TCP" },
	{ SA_FEAT_DEMOTE_READ, "demote_read", false, 0, true, 0,
	  "as demote" },
	{ SA_FEAT_TFO, "tfo_check", false, 0, false, 0,
	  "TCP Fast Open children are accelerated too, so a server that accepts TFO "
	  "may read data out of order: put its port in exclude_ports or turn server TFO "
	  "off (net.ipv4.tcp_fastopen)" },
	{ SA_FEAT_PROBE_MARK, "probe_mark", false, 0, false, 0,
	  "'sockaccelctl status --probe' connections count as ordinary traffic in the "
	  "counters" },
	{ SA_FEAT_SPLICE, "splice_guard", false, 0, false, 0,
	  "a program that reads an accelerated socket with splice(2) or sendfile(2) "
	  "(Go's io.Copy between connections, splicing proxies) stalls or misses bytes: "
	  "put its port in exclude_ports" },
	{ SA_FEAT_HALFCLOSE, "halfclose_guard", false, 0, false,
	  SA_FEAT_DEMOTE | SA_FEAT_DEMOTE_READ,
	  "a blocking recv() after shutdown(SHUT_WR) can return EAGAIN instead of waiting "
	  "for the reply or EOF" },
};
#define N_FEATURES (sizeof(features) / sizeof(features[0]))

static unsigned int bit_index(__u32 bit)
{
	return (unsigned int)__builtin_ctz(bit);
}

static const struct feature_desc *feature_of(__u32 bit)
{
	for (unsigned int i = 0; i < N_FEATURES; i++)
		if (features[i].bit == bit)
			return &features[i];
	return NULL;
}

const char *sa_feature_name(__u32 bit)
{
	const struct feature_desc *f = feature_of(bit);

	return f ? f->name : "unknown";
}

const char *sa_feature_loss(__u32 bit)
{
	const struct feature_desc *f = feature_of(bit);

	return f ? f->loss : "";
}

void sa_variant_describe(__u32 loaded, char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "base");

	for (unsigned int i = 0; i < N_FEATURES && off < len; i++)
		if (loaded & features[i].bit)
			off += (size_t)snprintf(buf + off, len - off, "+%s", features[i].name);
}

/* SOCKACCEL_TEST_REFUSE: a comma list of feature names, or "base". */
static __u32 test_refused(bool *base)
{
	const char *env = getenv(SA_TEST_REFUSE_ENV);
	char list[256], *tok, *save = NULL;
	__u32 mask = 0;

	*base = false;
	if (!env || !*env)
		return 0;
	snprintf(list, sizeof(list), "%s", env);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		bool known = false;

		if (strcmp(tok, "base") == 0) {
			*base = known = true;
		}
		for (unsigned int i = 0; i < N_FEATURES; i++) {
			if (strcmp(tok, features[i].name) == 0) {
				mask |= features[i].bit;
				known = true;
			}
		}
		if (!known)
			p_warn("%s: unknown feature '%s' ignored", SA_TEST_REFUSE_ENV, tok);
	}
	p_warn("%s=%s: treating these as refused by the kernel (a test switch)",
	       SA_TEST_REFUSE_ENV, env);
	return mask;
}

/* --- trial loads ------------------------------------------------------ */

/* libbpf's first telling warning while a trial runs: the reason when the
 * verifier never ran (a missing kfunc or tracepoint, a failed relocation). */
static char libbpf_first[SA_FEAT_REASON_LEN];

__attribute__((format(printf, 2, 0)))
static int capture_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];

	if (level != LIBBPF_WARN || libbpf_first[0])
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	/* the log dump's frame lines and the generic "failed to load" that
	 * follows the real reason carry nothing */
	if (line[0] && !strstr(line, "-- BEGIN") && !strstr(line, "-- END") &&
	    !strstr(line, "failed to load"))
		snprintf(libbpf_first, sizeof(libbpf_first), "%.*s",
			 (int)sizeof(libbpf_first) - 1, line);
	return 0;
}

static int set_features(struct bpf_object *obj, __u32 feats)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, obj) {
		const char *n = bpf_map__name(m);
		size_t l = strlen(n);

		if (bpf_map__is_internal(m) && l >= 7 && strcmp(n + l - 7, ".rodata") == 0)
			return bpf_map__set_initial_value(m, &feats, sizeof(feats));
	}
	return -ENOENT;	/* an object without the switch cannot be a sockaccel object */
}

struct bpf_object *sa_variant_open(const struct sa_variant *v, const char *object_path,
				   const char *pin_root)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_root,
		    .object_name = "sockaccel");
	struct bpf_program *p;
	struct bpf_object *obj;
	const void *bytes;
	size_t sz;
	int err;

	if (object_path) {
		obj = bpf_object__open_file(object_path, &oo);
	} else {
		bytes = sa_bpf_object_bytes(v->kfuncs, &sz);
		obj = bpf_object__open_mem(bytes, sz, &oo);
	}
	if (!obj)
		return NULL;
	err = set_features(obj, v->loaded);
	/* tracepoint programs load only for their feature: sock_recv_length
	 * exists from 6.3 on, and either may be refused alone */
	for (unsigned int i = 0; !err && i < SA_TRACING_PROGS_CNT; i++) {
		p = bpf_object__find_program_by_name(obj, sa_tracing_progs[i].prog);
		if (p)
			err = bpf_program__set_autoload(p, v->loaded & sa_tracing_progs[i].feature);
	}
	if (err) {
		bpf_object__close(obj);
		errno = -err;
		return NULL;
	}
	return obj;
}

/* The verifier's own words: the last source line it quoted and the line
 * that says what it refused. */
static void verifier_reason(const char *log, char *out, size_t len)
{
	const char *src = NULL, *why = NULL, *p = log;
	size_t src_len = 0, why_len = 0;

	while (*p) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n && strncmp(p, "processed ", 10) != 0 && strncmp(p, "verification time", 17) != 0 &&
		    strncmp(p, "stack depth", 11) != 0) {
			if (p[0] == ';') {
				src = p;
				src_len = n;
			} else {
				why = p;
				why_len = n;
			}
		}
		p += n + (e ? 1 : 0);
	}
	if (why && src)
		snprintf(out, len, "%.*s [at %.*s]", (int)why_len, why, (int)src_len, src);
	else if (why)
		snprintf(out, len, "%.*s", (int)why_len, why);
}

/* Load @prog_name alone (or every program when NULL) with @feats, no pins.
 * 0 or -errno; *@reason says why on failure when @reason is not NULL. */
static int trial(const struct sa_variant *v, const char *object_path, __u32 feats,
		 const char *prog_name, char *logbuf, size_t loglen, char *reason, size_t rlen)
{
	struct sa_variant t = *v;
	struct bpf_program *p;
	struct bpf_object *obj;
	struct bpf_map *m;
	int err;

	t.loaded = feats;
	obj = sa_variant_open(&t, object_path, NULL);
	if (!obj)
		return -errno;
	bpf_object__for_each_map(m, obj) {
		bpf_map__set_pin_path(m, NULL);
		if (bpf_map__type(m) == BPF_MAP_TYPE_SOCKHASH || bpf_map__type(m) == BPF_MAP_TYPE_HASH)
			bpf_map__set_max_entries(m, 2);
	}
	bpf_object__for_each_program(p, obj) {
		if (prog_name && strcmp(bpf_program__name(p), prog_name) != 0)
			bpf_program__set_autoload(p, false);
		else if (logbuf) {
			bpf_program__set_log_buf(p, logbuf, loglen);
			bpf_program__set_log_level(p, 1);
		}
	}
	if (logbuf)
		logbuf[0] = '\0';
	libbpf_first[0] = '\0';
	err = bpf_object__load(obj);
	if (err && reason) {
		if (logbuf && logbuf[0])
			verifier_reason(logbuf, reason, rlen);
		else if (libbpf_first[0])
			snprintf(reason, rlen, "%s", libbpf_first);
		else
			snprintf(reason, rlen, "%s", strerror(-err));
	}
	bpf_object__close(obj);
	return err;
}

/* Try @feats; on failure find which program refused it and why. */
static int try_features(const struct sa_variant *v, const char *object_path, __u32 feats,
			char *reason, size_t rlen)
{
	static const char *const progs[] = { "sa_msg", "sa_sockops", "sa_rx", "sa_splice" };
	size_t loglen = 16u << 20;
	char *logbuf;
	int err;

	err = trial(v, object_path, feats, NULL, NULL, 0, reason, rlen);
	if (!err)
		return 0;
	logbuf = malloc(loglen);
	for (unsigned int i = 0; logbuf && i < sizeof(progs) / sizeof(progs[0]); i++) {
		char why[SA_FEAT_REASON_LEN] = "";

		if (trial(v, object_path, feats, progs[i], logbuf, loglen, why, sizeof(why))) {
			snprintf(reason, rlen, "%s: %s", progs[i], why);
			break;
		}
	}
	free(logbuf);
	return err;
}

static void refuse(struct sa_variant *v, __u32 bit, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void refuse(struct sa_variant *v, __u32 bit, const char *fmt, ...)
{
	va_list ap;

	v->refused |= bit;
	v->loaded &= ~bit;
	va_start(ap, fmt);
	vsnprintf(v->reason[bit_index(bit)], SA_FEAT_REASON_LEN, fmt, ap);
	va_end(ap);
}

/* Probe @bit alone on top of the base. */
static void probe_one(struct sa_variant *v, const char *object_path, const struct feature_desc *f,
		      __u32 test_mask, const char *no_kfunc_reason)
{
	char why[SA_FEAT_REASON_LEN] = "";
	__u32 with = f->bit | (v->loaded & f->needs);

	v->wanted |= f->bit;
	if (test_mask & f->bit) {
		refuse(v, f->bit, "refused by the test switch %s", SA_TEST_REFUSE_ENV);
	} else if (f->needs && !(v->loaded & f->needs)) {
		refuse(v, f->bit, "needs one of the features it builds on, all refused");
	} else if (f->kfunc && !v->kfuncs && !object_path) {
		refuse(v, f->bit, "needs kfuncs, and this kernel refused the object that calls "
		       "them: %s", no_kfunc_reason);
	} else if (try_features(v, object_path, with, why, sizeof(why))) {
		refuse(v, f->bit, "%s", why);
	} else {
		v->loaded |= f->bit;
	}
}

int sa_variant_choose(const struct sa_variant_opts *o, struct sa_variant *v)
{
	libbpf_print_fn_t old_print;
	char no_kfunc_reason[SA_FEAT_REASON_LEN] = "";
	bool refuse_base;
	__u32 test_mask;
	int err = 0;

	memset(v, 0, sizeof(*v));
	v->unbounded_by_config = o->unbounded_ok;
	test_mask = test_refused(&refuse_base);
	old_print = libbpf_set_print(capture_print);	/* refusals are expected here */

	/* The base, with kfuncs first: one object serves every feature. */
	v->kfuncs = true;
	if (refuse_base) {
		snprintf(v->base_reason, sizeof(v->base_reason),
			 "refused by the test switch %s", SA_TEST_REFUSE_ENV);
		err = -ENOTSUP;
		goto out;
	}
	if (try_features(v, o->object_path, 0, no_kfunc_reason, sizeof(no_kfunc_reason))) {
		if (o->object_path) {
			snprintf(v->base_reason, sizeof(v->base_reason), "%s", no_kfunc_reason);
			err = -ENOTSUP;
			goto out;
		}
		v->kfuncs = false;
		if (try_features(v, NULL, 0, v->base_reason, sizeof(v->base_reason))) {
			err = -ENOTSUP;
			goto out;
		}
	}

	for (unsigned int i = 0; i < N_FEATURES; i++) {
		const struct feature_desc *f = &features[i];

		if (f->is_alt)
			continue;	/* only where the primary is refused, below */
		if ((f->bit == SA_FEAT_PEER_BOUND || f->bit == SA_FEAT_FLOW) && o->unbounded_ok)
			continue;
		probe_one(v, o->object_path, f, test_mask, no_kfunc_reason);
		if ((v->refused & f->bit) && f->alt)
			probe_one(v, o->object_path, feature_of(f->alt), test_mask,
				  no_kfunc_reason);
	}
	if (!o->unbounded_ok && !(v->loaded & (SA_FEAT_PEER_BOUND | SA_FEAT_PEER_READ)))
		probe_one(v, o->object_path, feature_of(SA_FEAT_BUDGET), test_mask, no_kfunc_reason);

	/* Each loads alone; together they normally do too. If not, drop
	 * features from the least important up until the set loads. */
	for (int i = (int)N_FEATURES - 1; i >= 0; i--) {
		char why[SA_FEAT_REASON_LEN] = "";

		if (!try_features(v, o->object_path, v->loaded, why, sizeof(why)))
			break;
		if (v->loaded & features[i].bit)
			refuse(v, features[i].bit, "loads alone but not with the other features: %s",
			       why);
	}
	if (!o->unbounded_ok && !(v->loaded & SA_FEAT_ANY_BOUND))
		err = -ENOSPC;
out:
	libbpf_set_print(old_print);
	return err;
}

void sa_variant_record(const struct sa_variant *v, struct sa_features *rec)
{
	struct utsname u = {};

	memset(rec, 0, sizeof(*rec));
	rec->wanted = v->wanted;
	rec->loaded = v->loaded;
	rec->refused = v->refused;
	rec->flags = v->unbounded_by_config ? SA_FEATURES_UNBOUNDED_BY_CONFIG : 0;
	uname(&u);
	snprintf(rec->kernel, sizeof(rec->kernel), "%.*s", (int)sizeof(rec->kernel) - 1,
		 u.release);
	memcpy(rec->reason, v->reason, sizeof(rec->reason));
}

unsigned int sa_features_missing(const struct sa_features *rec, char (*lines)[512],
				 unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < N_FEATURES && n < max; i++) {
		const struct feature_desc *f = &features[i], *loss = f;
		char alt_why[SA_FEAT_REASON_LEN + 64] = "";

		/* an alternative is reported with its primary */
		if (f->is_alt && f->bit != SA_FEAT_BUDGET)
			continue;
		if (!(rec->refused & f->bit) || (f->alt && (rec->loaded & f->alt)))
			continue;
		if (f->alt && (rec->refused & f->alt))
			snprintf(alt_why, sizeof(alt_why), "; %s: %.*s", sa_feature_name(f->alt),
				 (int)SA_FEAT_REASON_LEN, rec->reason[bit_index(f->alt)]);
		/* peer_bound's loss is what budget leaves; without budget too,
		 * budget's own line says it */
		if (f->bit == SA_FEAT_PEER_BOUND && !(rec->loaded & SA_FEAT_BUDGET))
			loss = feature_of(SA_FEAT_BUDGET);
		snprintf(lines[n++], 512, "%s refused: %s (%.*s%s)", f->name, loss->loss,
			 (int)SA_FEAT_REASON_LEN, rec->reason[bit_index(f->bit)], alt_why);
	}
	if (n < max && (rec->flags & SA_FEATURES_UNBOUNDED_BY_CONFIG))
		snprintf(lines[n++], 512, "memory bound off by configuration (memory_bound = off): "
			 "a receiver that stops reading can hold unbounded memory");
	return n;
}

void sa_variant_print(const struct sa_variant *v, int err, FILE *out)
{
	char desc[256];

	if (err == -ENOTSUP) {
		fprintf(out, "FAIL  %-44s refused: %s\n", "basic redirect (sockops + sk_msg)",
			v->base_reason);
		fprintf(out, "variant: none\n");
		return;
	}
	fprintf(out, "ok    %-44s loads (%s)\n", "basic redirect (sockops + sk_msg)",
		v->kfuncs ? "object with kfuncs" : "object without kfuncs");
	for (unsigned int i = 0; i < N_FEATURES; i++) {
		const struct feature_desc *f = &features[i];
		char title[64];

		if (!(v->wanted & f->bit))
			continue;
		snprintf(title, sizeof(title), "feature %s", f->name);
		if (v->loaded & f->bit)
			fprintf(out, "ok    %-44s loads\n", title);
		else if (f->alt && (v->loaded & f->alt))
			fprintf(out, "off   %-44s refused: %s\n      %s does the same\n", title,
				v->reason[bit_index(f->bit)], sa_feature_name(f->alt));
		else
			fprintf(out, "off   %-44s refused: %s\n      without it: %s\n", title,
				v->reason[bit_index(f->bit)], f->is_alt ? "see above" : f->loss);
	}
	if (v->unbounded_by_config)
		fprintf(out, "off   %-44s memory_bound = off in the configuration\n",
			"memory bound");
	if (err == -ENOSPC)
		fprintf(out, "FAIL  %-44s no bound loads; set memory_bound = off to run "
			"without one\n", "memory bound");
	sa_variant_describe(v->loaded, desc, sizeof(desc));
	fprintf(out, "variant: %s\n", desc);
}
