// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Helpers of the sockaccelctl tests; see ctl_helpers.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "ctl_helpers.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define CTL_ARGS_MAX	48
#define NOBODY		65534

void ctl_out_free(struct ctl_out *o)
{
	free(o->out);
	free(o->err);
	o->out = o->err = NULL;
	o->out_len = o->err_len = 0;
	o->code = -1;
	o->status = 0;
	o->cmdline[0] = '\0';
}

static int last_cap(void)
{
	int v = CAP_LAST_CAP;
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = CAP_LAST_CAP;
		fclose(f);
	}
	return v;
}

struct priv_drop {
	enum ctl_priv priv;
	int cap_max;
};

/*
 * testlib's exec hook, in the forked child of a possibly multi-threaded
 * test: only async-signal-safe calls and raw syscalls (one thread is left,
 * so the per-thread credential syscalls are process-wide here).
 */
static void drop_privileges(void *arg)
{
	const struct priv_drop *pd = arg;

	if (pd->priv == CTL_AS_NOBODY) {
		/* no keep-caps: the capabilities go with uid 0 */
		if (syscall(SYS_setgroups, 0, NULL) < 0 ||
		    syscall(SYS_setresgid, NOBODY, NOBODY, NOBODY) < 0 ||
		    syscall(SYS_setresuid, NOBODY, NOBODY, NOBODY) < 0)
			_exit(TL_EXIT_HOOK_FAILED);
	} else if (pd->priv == CTL_AS_ROOT_NO_CAPS) {
		struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
		struct __user_cap_data_struct d[2];

		/* Without the bounding set, execve would give uid 0 every
		 * capability back. */
		for (int c = 0; c <= pd->cap_max; c++)
			if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
				_exit(TL_EXIT_HOOK_FAILED);
		prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
		memset(d, 0, sizeof(d));
		if (syscall(SYS_capset, &h, d) < 0)
			_exit(TL_EXIT_HOOK_FAILED);
	}
}

static const char *priv_name(enum ctl_priv p)
{
	switch (p) {
	case CTL_AS_ROOT: return "";
	case CTL_AS_NOBODY: return "[uid 65534] ";
	case CTL_AS_ROOT_NO_CAPS: return "[uid 0, no capabilities] ";
	}
	return "";
}

int ctl_exec(struct ctl_out *o, const struct ctl_opts *co, const char *const *args)
{
	static const struct ctl_opts defaults;
	const char *argv[CTL_ARGS_MAX + 2];
	struct tl_capture c;
	struct priv_drop pd;
	int timeout_ms, argc = 0, err;
	size_t cl;
	char sbuf[64];

	if (!co)
		co = &defaults;
	timeout_ms = co->timeout_ms ? co->timeout_ms : CTL_TIMEOUT_MS;
	pd.priv = co->priv;
	pd.cap_max = last_cap();
	ctl_out_free(o);

	argv[argc++] = tl_ctl_path();
	for (int i = 0; args[i]; i++) {
		if (argc > CTL_ARGS_MAX)
			return -E2BIG;
		argv[argc++] = args[i];
	}
	argv[argc] = NULL;
	cl = (size_t)snprintf(o->cmdline, sizeof(o->cmdline), "%ssockaccelctl", priv_name(co->priv));
	for (int i = 1; i < argc && cl < sizeof(o->cmdline); i++)
		cl += (size_t)snprintf(o->cmdline + cl, sizeof(o->cmdline) - cl,
				       strpbrk(argv[i], " \t'\"") || !argv[i][0] ? " '%s'" : " %s",
				       argv[i]);

	err = tl_run_capture_hook((char *const *)argv, timeout_ms,
				  co->priv == CTL_AS_ROOT ? NULL : drop_privileges, &pd, &c);
	o->status = c.status;
	o->out = c.out;
	o->out_len = c.out_len;
	o->err = c.err;
	o->err_len = c.err_len;
	o->code = !err && WIFEXITED(o->status) ? WEXITSTATUS(o->status) : -1;
	if (err == -ETIMEDOUT)
		tl_log("$ %s: still running after %d ms; killed", o->cmdline, timeout_ms);
	else if (err)
		tl_log("$ %s: %s", o->cmdline, strerror(-err));
	else
		tl_log("$ %s -> %s%s", o->cmdline, tl_status_str(o->status, sbuf, sizeof(sbuf)),
		       o->err_len ? " (with stderr)" : "");
	if (o->code >= TL_EXIT_HOOK_FAILED && o->code <= 127)
		tl_log("  (exit %d: the test's child could not %s)", o->code,
		       o->code == TL_EXIT_HOOK_FAILED ? "drop its privileges" :
		       o->code == 126 ? "set up its fds" : "exec sockaccelctl");
	return err;
}

static int ctl_cmd_va(struct ctl_out *o, const struct ctl_opts *co, const char *arg, va_list ap)
{
	const char *args[CTL_ARGS_MAX + 1];
	int n = 0;

	if (!co || !co->no_pin_dir) {
		args[n++] = "--pin-dir";
		args[n++] = tl_env.pin_dir;
	}
	for (const char *a = arg; a; a = va_arg(ap, const char *)) {
		if (n >= CTL_ARGS_MAX)
			return -E2BIG;
		args[n++] = a;
	}
	args[n] = NULL;
	return ctl_exec(o, co, args);
}

int ctl_cmd(struct ctl_out *o, const char *arg, ...)
{
	va_list ap;
	int err;

	va_start(ap, arg);
	err = ctl_cmd_va(o, NULL, arg, ap);
	va_end(ap);
	return err;
}

int ctl_cmd_opts(struct ctl_out *o, const struct ctl_opts *co, const char *arg, ...)
{
	va_list ap;
	int err;

	va_start(ap, arg);
	err = ctl_cmd_va(o, co, arg, ap);
	va_end(ap);
	return err;
}

static void dump_stream(const char *name, const char *buf, size_t len)
{
	const size_t max = 6000;

	if (!len) {
		tl_log("  %s: (empty)", name);
		return;
	}
	if (len > max)
		tl_log("  %s (%zu bytes, the last %zu):\n%s", name, len, max, buf + len - max);
	else
		tl_log("  %s (%zu bytes):\n%s%s", name, len, buf,
		       buf[len - 1] == '\n' ? "" : "\n  (no newline at the end)");
}

void ctl_out_dump(const struct ctl_out *o)
{
	char sbuf[64];

	tl_log("  command: %s", o->cmdline[0] ? o->cmdline : "(not run)");
	if (o->cmdline[0])
		tl_log("  result:  %s", o->code >= 0 ? tl_status_str(o->status, sbuf, sizeof(sbuf))
						     : "did not exit normally (timeout?)");
	dump_stream("stdout", o->out ? o->out : "", o->out_len);
	dump_stream("stderr", o->err ? o->err : "", o->err_len);
}

bool ctl_out_has(const struct ctl_out *o, const char *needle)
{
	return o->out && strstr(o->out, needle);
}

bool ctl_err_has(const struct ctl_out *o, const char *needle)
{
	return o->err && strstr(o->err, needle);
}

void ctl_fail_exit(const char *file, int line, const char *what, const struct ctl_out *o,
		   int code)
{
	char got[32];

	if (o->code >= 0)
		snprintf(got, sizeof(got), "exit %d", o->code);
	else
		snprintf(got, sizeof(got), "%s", o->cmdline[0] ? "no normal exit" : "not run");
	tl_fail_msg(file, line, "%s: expected exit %d, got %s", what, code, got);
	ctl_out_dump(o);
}

void ctl_fail_out(const char *file, int line, const char *what, const struct ctl_out *o,
		  const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tl_fail_msg(file, line, "%s: %s", what, msg);
	ctl_out_dump(o);
}

int ctl_json(const struct ctl_out *o, enum cj_type type, struct cj **v, char *why, size_t len)
{
	char err[256];

	cj_free(*v);
	*v = cj_parse(o->out ? o->out : "", o->out_len, err, sizeof(err));
	if (!*v) {
		snprintf(why, len, "stdout is not JSON: %s", err);
		return -EINVAL;
	}
	if ((*v)->type != type) {
		snprintf(why, len, "stdout is a JSON %s, expected a JSON %s",
			 cj_type_name((*v)->type), cj_type_name(type));
		return -EINVAL;
	}
	return 0;
}

int ctl_json_error(const struct ctl_out *o, const char *needle, char *why, size_t len)
{
	struct cj *v = NULL;
	const char *msg;
	int err = ctl_json(o, CJ_OBJ, &v, why, len);

	if (err)
		goto cleanup;
	err = -EINVAL;
	msg = cj_str(cj_get(v, "error"));
	if (!msg)
		snprintf(why, len, "no string member \"error\" in the JSON object");
	else if (v->n != 1)
		snprintf(why, len, "the error object has %zu members, expected only \"error\"", v->n);
	else if (!msg[0])
		snprintf(why, len, "the error text is empty");
	else if (needle && !strstr(msg, needle))
		snprintf(why, len, "the error text does not contain \"%s\"", needle);
	else
		err = 0;
cleanup:
	cj_free(v);
	return err;
}

int ctl_dir_entries(const char *dir, const char *prefix, char *buf, size_t len)
{
	struct dirent *de;
	size_t used = 0;
	int n = 0;
	DIR *d = opendir(dir);

	if (len)
		buf[0] = '\0';
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		n++;
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
						 de->d_name);
	}
	closedir(d);
	return n;
}

int ctl_remove_probe_cgroups(void)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(tl_env.cgroup);

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char path[PATH_MAX], kill_path[PATH_MAX];
		int fd;

		if (strncmp(de->d_name, "sockaccel-probe-", 16) != 0)
			continue;
		n++;
		if (tl_pathf(path, "%s/%s", tl_env.cgroup, de->d_name) ||
		    tl_pathf(kill_path, "%s/cgroup.kill", path))
			continue;
		fd = open(kill_path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "1", 1) < 0)
				tl_log("writing %s: %s", kill_path, strerror(errno));
			close(fd);
		}
		if (!TL_WAIT_FOR(rmdir(path) == 0 || errno == ENOENT, 5000))
			tl_log("can't remove the probe's cgroup %s: %s", path, strerror(errno));
	}
	closedir(d);
	return n;
}

bool ctl_exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

int ctl_sockaddr_str(int fd, bool peer, char *buf, size_t len, bool *ipv4)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char a[INET6_ADDRSTRLEN];

	if ((peer ? getpeername(fd, (struct sockaddr *)&ss, &sl)
		  : getsockname(fd, (struct sockaddr *)&ss, &sl)) < 0)
		return -errno;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(in->sin_port));
		*ipv4 = true;
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], a, sizeof(a));
			snprintf(buf, len, "%s:%u", a, ntohs(in6->sin6_port));
			*ipv4 = true;
		} else {
			inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
			snprintf(buf, len, "[%s]:%u", a, ntohs(in6->sin6_port));
			*ipv4 = false;
		}
	} else {
		return -EAFNOSUPPORT;
	}
	return 0;
}

int ctl_sock_cookie(int fd, __u64 *cookie)
{
	socklen_t len = sizeof(*cookie);

	return getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len) < 0 ? -errno : 0;
}

int ctl_netns_cookie(int fd, __u64 *cookie)
{
	socklen_t len = sizeof(*cookie);

	return getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len) < 0 ? -errno : 0;
}

int ctl_counters(const struct tl_pins *p, __u64 c[SA_CNT_MAX], const char *label)
{
	int err = tl_counters(p, c);

	if (!err)
		tl_counters_log(label, c);
	return err;
}
