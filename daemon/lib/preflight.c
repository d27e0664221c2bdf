// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Preflight: real probes of everything the fast path needs, before anything
 * is loaded. Each check fills one struct sa_check; a failure names what was
 * found and the fix, and carries its own exit code.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "sockaccel.h"
#include "exitcodes.h"
#include "kconfig.h"
#include "mounts.h"
#include "pins.h"
#include "preflight.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

__attribute__((format(printf, 2, 3)))
static void set_detail(struct sa_check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4)))
static void fail(struct sa_check *c, int code, const char *fmt, ...)
{
	va_list ap;

	c->state = SA_CHECK_FAIL;
	c->exit_code = code;
	va_start(ap, fmt);
	vsnprintf(c->fix, sizeof(c->fix), fmt, ap);
	va_end(ap);
}

static bool has_cap(const struct __user_cap_data_struct d[2], int cap)
{
	return d[cap / 32].effective & (1u << (cap % 32));
}

static int read_first_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	if (fgets(buf, (int)len, f)) {
		buf[strcspn(buf, "\n")] = '\0';
		err = 0;
	}
	fclose(f);
	return err;
}

/*
 * bpf() failed with EPERM/EACCES although the capabilities are there: find
 * which security mechanism said no, and how to allow it.
 */
static void explain_denial(struct sa_check *c, int err)
{
	char lockdown[128] = "", lsm[256] = "", buf[256];
	const char *mode;

	read_first_line("/sys/kernel/security/lockdown", lockdown, sizeof(lockdown));
	read_first_line("/sys/kernel/security/lsm", lsm, sizeof(lsm));
	mode = strchr(lockdown, '[');
	if (mode && strncmp(mode, "[none]", 6) != 0) {
		fail(c, SA_EXIT_BPF_DENIED,
		     "kernel lockdown is active (%s); it restricts BPF. Boot with lockdown=none "
		     "(or disable Secure Boot's lockdown enforcement) to use sockaccel", lockdown);
		return;
	}
	if (strstr(lsm, "selinux") && read_first_line("/sys/fs/selinux/enforce", buf, sizeof(buf)) == 0 &&
	    strcmp(buf, "1") == 0) {
		fail(c, SA_EXIT_BPF_DENIED,
		     "SELinux is enforcing and refused bpf() (%s); find the denial with "
		     "'ausearch -m avc -ts recent' and allow the bpf class permissions "
		     "(map_create, prog_load, map_read, map_write, prog_run) for this domain",
		     strerror(err));
		return;
	}
	if (strstr(lsm, "apparmor") &&
	    (read_first_line("/proc/self/attr/apparmor/current", buf, sizeof(buf)) == 0 ||
	     read_first_line("/proc/self/attr/current", buf, sizeof(buf)) == 0) &&
	    strncmp(buf, "unconfined", 10) != 0) {
		fail(c, SA_EXIT_BPF_DENIED,
		     "AppArmor profile '%s' confines this process and refused bpf() (%s); add "
		     "'capability bpf, capability net_admin, capability perfmon,' to it or run "
		     "sockacceld unconfined (see 'journalctl -k | grep DENIED')", buf, strerror(err));
		return;
	}
	fail(c, SA_EXIT_BPF_DENIED,
	     "bpf() was refused (%s) although CAP_BPF/CAP_SYS_ADMIN are held; active LSMs: "
	     "%s. Check the kernel log (journalctl -k) for a denial", strerror(err),
	     lsm[0] ? lsm : "unknown");
}

static void check_bpf(const struct sa_preflight_opts *o, struct sa_preflight *pf,
		      struct sa_check *c)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {};
	bool admin, bpf, net_admin, perfmon;
	int fd, err;

	if (syscall(SYS_capget, &hdr, d) < 0)
		memset(d, 0, sizeof(d));
	admin = has_cap(d, CAP_SYS_ADMIN);
	bpf = has_cap(d, CAP_BPF);
	net_admin = has_cap(d, CAP_NET_ADMIN);
	perfmon = has_cap(d, CAP_PERFMON);

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "sa_probe", 4, 4, 1, NULL);
	if (fd >= 0) {
		close(fd);
		if (!admin && !net_admin) {
			set_detail(c, "bpf() works but CAP_NET_ADMIN is missing");
			fail(c, SA_EXIT_NO_PRIVILEGE,
			     "attaching sockops and sk_msg programs needs CAP_NET_ADMIN; run as root "
			     "or grant CAP_BPF CAP_NET_ADMIN CAP_PERFMON");
			return;
		}
		if (!admin && !perfmon) {
			set_detail(c, "bpf() works but CAP_PERFMON is missing");
			fail(c, SA_EXIT_NO_PRIVILEGE,
			     "the sockops program reads a kernel field through BTF, which needs "
			     "CAP_PERFMON; grant CAP_BPF CAP_NET_ADMIN CAP_PERFMON");
			return;
		}
		set_detail(c, "bpf() usable (CAP_SYS_ADMIN %s, CAP_BPF %s, CAP_NET_ADMIN %s, "
			   "CAP_PERFMON %s)", admin ? "yes" : "no", bpf ? "yes" : "no",
			   net_admin ? "yes" : "no", perfmon ? "yes" : "no");
		c->state = SA_CHECK_PASS;
		return;
	}
	err = errno;
	if (err == ENOSYS) {
		set_detail(c, "bpf() is not implemented by this kernel");
		fail(c, SA_EXIT_NO_BPF_SYSCALL,
		     "the kernel was built without CONFIG_BPF_SYSCALL=y; use a kernel that has it");
		return;
	}
	set_detail(c, "bpf(BPF_MAP_CREATE) failed: %s", strerror(err));
	if ((err == EPERM || err == EACCES) && !admin && !bpf) {
		fail(c, SA_EXIT_NO_PRIVILEGE,
		     "sockacceld needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (or CAP_SYS_ADMIN); "
		     "run it as root or from sockaccel.service");
		return;
	}
	if (err == EPERM || err == EACCES) {
		explain_denial(c, err);
		return;
	}
	fail(c, SA_EXIT_NO_BPF_SYSCALL, "unexpected bpf() error %s; see the kernel log",
	     strerror(err));
}

static void check_sockhash(const struct sa_preflight_opts *o, struct sa_preflight *pf,
			   struct sa_check *c)
{
	char src[300] = "";
	char stream, sockmsg;
	int fd, err;

	fd = bpf_map_create(BPF_MAP_TYPE_SOCKHASH, "sa_probe", sizeof(struct sa_sock_key),
			    sizeof(__u64), 1, NULL);
	if (fd >= 0) {
		close(fd);
		set_detail(c, "a SOCKHASH map can be created");
		c->state = SA_CHECK_PASS;
		return;
	}
	err = errno;
	set_detail(c, "creating a SOCKHASH failed: %s", strerror(err));
	if (err == EPERM) {
		fail(c, SA_EXIT_NO_PRIVILEGE,
		     "creating a SOCKHASH needs CAP_NET_ADMIN; run as root or grant it");
		return;
	}
	/* Before ~5.13 sockmap sat behind CONFIG_BPF_STREAM_PARSER; later
	 * behind CONFIG_NET_SOCK_MSG, which BPF_SYSCALL && INET select. */
	stream = sa_kconfig_get("CONFIG_BPF_STREAM_PARSER", src, sizeof(src));
	sockmsg = sa_kconfig_get("CONFIG_NET_SOCK_MSG", NULL, 0);
	if (!stream)
		fail(c, SA_EXIT_NO_SOCKHASH,
		     "this kernel has no sockmap support (its config is not readable here: no "
		     "/proc/config.gz or /boot/config-*); it needs CONFIG_BPF_STREAM_PARSER=y "
		     "(kernels before 5.13) or CONFIG_NET_SOCK_MSG=y");
	else if (stream != 'y')
		fail(c, SA_EXIT_NO_SOCKHASH,
		     "%s says CONFIG_BPF_STREAM_PARSER is not set: that is the reason. Use a "
		     "kernel built with CONFIG_BPF_STREAM_PARSER=y", src);
	else
		fail(c, SA_EXIT_NO_SOCKHASH,
		     "%s has CONFIG_BPF_STREAM_PARSER=y (CONFIG_NET_SOCK_MSG=%c) yet SOCKHASH "
		     "creation fails; check the kernel log", src, sockmsg ? sockmsg : '?');
}

static void check_netns_cookie(const struct sa_preflight_opts *o, struct sa_preflight *pf,
			       struct sa_check *c)
{
	int ops = libbpf_probe_bpf_helper(BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_get_netns_cookie, NULL);
	int msg = libbpf_probe_bpf_helper(BPF_PROG_TYPE_SK_MSG, BPF_FUNC_get_netns_cookie, NULL);

	set_detail(c, "bpf_get_netns_cookie in sockops: %s, in sk_msg: %s",
		   ops == 1 ? "yes" : "no", msg == 1 ? "yes" : "no");
	if (ops == 1 && msg == 1) {
		c->state = SA_CHECK_PASS;
		return;
	}
	fail(c, SA_EXIT_NO_NETNS_COOKIE,
	     "without the netns cookie in the key, two network namespaces using the same "
	     "addresses would receive each other's data; sockaccel refuses to run. Use a "
	     "kernel >= 5.15");
}

/* BPF_LINK_TYPE_SOCKMAP (6.10): try to link a trivial sk_msg program to a
 * scratch SOCKHASH; older kernels say EINVAL. */
static void check_sockmap_link(const struct sa_preflight_opts *o, struct sa_preflight *pf,
			       struct sa_check *c)
{
	const struct bpf_insn pass[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = SK_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int map = -1, prog = -1, link = -1;

	c->state = SA_CHECK_INFO;
	map = bpf_map_create(BPF_MAP_TYPE_SOCKHASH, "sa_probe", 4, 8, 1, NULL);
	prog = bpf_prog_load(BPF_PROG_TYPE_SK_MSG, "sa_probe", "GPL", pass, 2, NULL);
	if (map >= 0 && prog >= 0)
		link = bpf_link_create(prog, map, BPF_SK_MSG_VERDICT, NULL);
	pf->sockmap_link = link >= 0;
	if (pf->sockmap_link)
		set_detail(c, "sockmap links supported: sk_msg is attached with a pinned link");
	else
		set_detail(c, "no sockmap links (kernel < 6.10: %s): sk_msg is attached with "
			   "bpf_prog_attach", strerror(errno));
	if (link >= 0)
		close(link);
	if (prog >= 0)
		close(prog);
	if (map >= 0)
		close(map);
}

static void check_btf(const struct sa_preflight_opts *o, struct sa_preflight *pf,
		      struct sa_check *c)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK) == 0) {
		set_detail(c, "/sys/kernel/btf/vmlinux present");
		c->state = SA_CHECK_PASS;
		return;
	}
	set_detail(c, "/sys/kernel/btf/vmlinux: %s", strerror(errno));
	fail(c, SA_EXIT_NO_BTF,
	     "the programs read tcp_sock.fastopen_rsk through CO-RE, which needs kernel BTF "
	     "(libbpf would fail with \"failed to find valid kernel BTF\"); use a kernel built "
	     "with CONFIG_DEBUG_INFO_BTF=y");
}

static void check_cgroup2(const struct sa_preflight_opts *o, struct sa_preflight *pf,
			  struct sa_check *c)
{
	int err = sa_mount_find("cgroup2", pf->cgroup2_mount, sizeof(pf->cgroup2_mount));

	if (!err) {
		set_detail(c, "cgroup2 mounted at %s", pf->cgroup2_mount);
		c->state = SA_CHECK_PASS;
		return;
	}
	set_detail(c, "no cgroup2 mount in /proc/self/mountinfo");
	fail(c, SA_EXIT_NO_CGROUP2,
	     "mount the unified hierarchy (mount -t cgroup2 none /sys/fs/cgroup/unified) or boot "
	     "with systemd.unified_cgroup_hierarchy=1");
}

static void check_cgroup(const struct sa_preflight_opts *o, struct sa_preflight *pf,
			 struct sa_check *c)
{
	enum sa_fs_kind kind;
	long magic = 0;

	if (!o->cgroup && !pf->cgroup2_mount[0]) {
		c->state = SA_CHECK_SKIP;
		set_detail(c, "no cgroup2 mount to default to");
		return;
	}
	snprintf(pf->cgroup, sizeof(pf->cgroup), "%s", o->cgroup ? o->cgroup : pf->cgroup2_mount);
	kind = sa_fs_kind(pf->cgroup, &magic);
	switch (kind) {
	case SA_FS_CGROUP2: {
		__u64 id = 0;

		c->state = SA_CHECK_PASS;
		if (!o->cgroup && sa_cgroup_id(pf->cgroup, &id) == 0 && id != SA_CGROUP_ROOT_ID) {
			set_detail(c, "%s is a cgroup2 directory, but the root of a cgroup namespace "
				   "(a container's), not the host's: only this container's processes "
				   "would be accelerated; to accelerate the node, mount the host's "
				   "cgroup2 hierarchy (hostPath) and name it with --cgroup",
				   pf->cgroup);
			return;
		}
		set_detail(c, "%s is a cgroup2 directory", pf->cgroup);
		return;
	}
	case SA_FS_MISSING:
		set_detail(c, "%s: %s", pf->cgroup, strerror(errno));
		fail(c, SA_EXIT_CGROUP_MISSING,
		     "create the cgroup (mkdir %s) or pass an existing one under the cgroup2 "
		     "mount%s%s with --cgroup", pf->cgroup,
		     pf->cgroup2_mount[0] ? " " : "", pf->cgroup2_mount);
		return;
	case SA_FS_CGROUP1:
		set_detail(c, "%s is on a cgroup v1 hierarchy", pf->cgroup);
		fail(c, SA_EXIT_CGROUP_NOT_V2,
		     "sockops programs attach only to cgroup v2; pass a path under the cgroup2 "
		     "mount (%s), or enable the unified hierarchy (boot with "
		     "systemd.unified_cgroup_hierarchy=1)",
		     pf->cgroup2_mount[0] ? pf->cgroup2_mount : "none found");
		return;
	default:
		set_detail(c, "%s is not a cgroup directory (filesystem type 0x%lx)", pf->cgroup,
			   magic);
		fail(c, SA_EXIT_CGROUP_NOT_V2, "pass a directory under the cgroup2 mount (%s)",
		     pf->cgroup2_mount[0] ? pf->cgroup2_mount : "none found");
		return;
	}
}

static void check_bpffs(const struct sa_preflight_opts *o, struct sa_preflight *pf,
			struct sa_check *c)
{
	struct sa_pin_dir_plan plan;

	sa_pin_dir_plan(o->pin_dir, &plan);
	sa_pin_dir_plan_explain(&plan, o->pin_dir, c->detail, sizeof(c->detail));
	switch (plan.state) {
	case SA_PIN_DIR_READY:
	case SA_PIN_DIR_CREATE:
	case SA_PIN_DIR_MOUNT:
		c->state = SA_CHECK_PASS;
		return;
	default:
		fail(c, SA_EXIT_NO_BPFFS, "%s", c->detail);
		snprintf(c->detail, sizeof(c->detail), "pin dir %s is not on bpffs", o->pin_dir);
	}
}

struct check_desc {
	const char *id;
	const char *title;
	bool needs_bpf;		/* meaningless when bpf() itself failed */
	void (*fn)(const struct sa_preflight_opts *, struct sa_preflight *, struct sa_check *);
};

static const struct check_desc checks[] = {
	{ "bpf", "bpf() syscall and privileges", false, check_bpf },
	{ "sockhash", "SOCKHASH support", true, check_sockhash },
	{ "netns_cookie", "bpf_get_netns_cookie in sockops and sk_msg", true, check_netns_cookie },
	{ "sockmap_link", "sk_msg attach method", true, check_sockmap_link },
	{ "btf", "kernel BTF", false, check_btf },
	{ "cgroup2", "cgroup2 mount", false, check_cgroup2 },
	{ "cgroup", "target cgroup", false, check_cgroup },
	{ "bpffs", "bpffs for the pin dir", false, check_bpffs },
};

int sa_preflight_run(const struct sa_preflight_opts *opts, struct sa_preflight *pf)
{
	const struct sa_check *first;
	bool bpf_ok = true;

	memset(pf, 0, sizeof(*pf));
	for (unsigned int i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		struct sa_check *c = &pf->checks[pf->n++];

		c->id = checks[i].id;
		c->title = checks[i].title;
		if (checks[i].needs_bpf && !bpf_ok) {
			c->state = SA_CHECK_SKIP;
			set_detail(c, "skipped: bpf() is not usable");
			continue;
		}
		checks[i].fn(opts, pf, c);
		if (i == 0 && c->state == SA_CHECK_FAIL)
			bpf_ok = false;
	}
	first = sa_preflight_first_failure(pf);
	return first ? first->exit_code : SA_EXIT_OK;
}

const struct sa_check *sa_preflight_first_failure(const struct sa_preflight *pf)
{
	for (unsigned int i = 0; i < pf->n; i++)
		if (pf->checks[i].state == SA_CHECK_FAIL)
			return &pf->checks[i];
	return NULL;
}

/* Each state's name in JSON and its word in the plain report. */
static const struct {
	const char *name;
	const char *word;
} check_states[] = {
	[SA_CHECK_PASS] = { "pass", "ok" },
	[SA_CHECK_FAIL] = { "fail", "FAIL" },
	[SA_CHECK_INFO] = { "info", "info" },
	[SA_CHECK_SKIP] = { "skip", "skip" },
};

const char *sa_check_state_name(enum sa_check_state state)
{
	return check_states[state].name;
}

void sa_preflight_print(const struct sa_preflight *pf, FILE *out)
{
	const struct sa_check *first = sa_preflight_first_failure(pf);

	for (unsigned int i = 0; i < pf->n; i++) {
		const struct sa_check *c = &pf->checks[i];

		fprintf(out, "%-5s %-44s %s\n", check_states[c->state].word, c->title, c->detail);
		if (c->state == SA_CHECK_FAIL)
			fprintf(out, "      fix: %s (exit code %d)\n", c->fix, c->exit_code);
	}
	fprintf(out, "preflight: %s\n", first ? "FAILED" : "all checks passed");
}
