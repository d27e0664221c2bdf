// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sa_pod: run a command the way a container runtime runs a pod's container,
 * so that the DaemonSet's settings can be tested on a host without one.
 *
 *   sa_pod --rootfs DIR [--cgroup-procs FILE] [--bind SRC:DST[:ro]]...
 *          [--caps LIST] [--hostpid] [--entrypoint PATH] -- CMD [ARGS...]
 *   sa_pod --enter PID [--caps LIST] -- CMD [ARGS...]
 *
 * Create mode: join the cgroup whose cgroup.procs is given (the pod's), then
 * new mount, cgroup, UTS, IPC and (without --hostpid) PID namespaces; the
 * network namespace stays the host's (hostNetwork: true). Inside: proc,
 * a read-only sysfs, the cgroup2 view of the pod's own cgroup namespace at
 * /sys/fs/cgroup, a tmpfs /dev with null/zero/full/random/urandom, the
 * binds, then the root made read-only (readOnlyRootFilesystem), chroot,
 * every capability outside LIST dropped from the bounding set (drop: ALL,
 * add: LIST) and no_new_privs (allowPrivilegeEscalation: false).
 * --entrypoint replaces CMD, so that a wrapper may pass the host's binary
 * path and the image's own binary runs.
 *
 * Enter mode is `kubectl exec` (and an exec probe): the namespaces and root
 * of the container whose process is PID, the same capability rule.
 *
 * The container dies with sa_pod (PR_SET_PDEATHSIG), so SIGKILL to sa_pod is
 * a kill -9 of the whole pod; SIGTERM, SIGINT and SIGHUP are passed on.
 * Exits with the command's status (128+N for signal N).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>

#define MAX_BINDS 16

struct bind {
	const char *src;
	char dst[PATH_MAX];
	bool ro;
};

struct pod {
	const char *rootfs;
	const char *cgroup_procs;
	const char *entrypoint;
	struct bind binds[MAX_BINDS];
	unsigned int n_binds;
	__u64 caps;		/* the ones kept */
	bool hostpid;
	pid_t enter;
};

static pid_t child = -1;

static void die(const char *what, const char *obj)
{
	fprintf(stderr, "sa_pod: %s %s: %s\n", what, obj ? obj : "", strerror(errno));
	exit(125);
}

static const char *const cap_names[] = {
	[CAP_NET_ADMIN] = "NET_ADMIN", [CAP_SYS_ADMIN] = "SYS_ADMIN",
	[CAP_SYS_PTRACE] = "SYS_PTRACE", [CAP_BPF] = "BPF", [CAP_PERFMON] = "PERFMON",
	[CAP_SYS_RESOURCE] = "SYS_RESOURCE", [CAP_IPC_LOCK] = "IPC_LOCK",
	[CAP_DAC_OVERRIDE] = "DAC_OVERRIDE", [CAP_NET_RAW] = "NET_RAW",
	[CAP_SYS_CHROOT] = "SYS_CHROOT", [CAP_CHOWN] = "CHOWN",
};

/* "BPF,NET_ADMIN,PERFMON" (Kubernetes spelling, no CAP_), or "" for none */
static int parse_caps(const char *list, __u64 *out)
{
	char buf[256], *tok, *save = NULL;

	*out = 0;
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned int i, n = sizeof(cap_names) / sizeof(cap_names[0]);

		for (i = 0; i < n; i++)
			if (cap_names[i] && strcmp(cap_names[i], tok) == 0)
				break;
		if (i == n) {
			fprintf(stderr, "sa_pod: unknown capability '%s'\n", tok);
			return -1;
		}
		*out |= 1ULL << i;
	}
	return 0;
}

static void drop_caps(__u64 keep)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {};

	for (int cap = 0; cap <= 63; cap++) {
		if (keep & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			die("can't drop from the bounding set:", cap_names[cap]);
	}
	/* root's exec gives it the bounding set; the rest goes now too */
	d[0].effective = d[0].permitted = (__u32)keep;
	d[1].effective = d[1].permitted = (__u32)(keep >> 32);
	if (syscall(SYS_capset, &h, d) < 0)
		die("capset", NULL);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("no_new_privs", NULL);
}

static void pathf(char *buf, const char *root, const char *rel)
{
	if (snprintf(buf, PATH_MAX, "%s%s", root, rel) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		die("path", rel);
	}
}

static void mkdir_p(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(tmp, 0755);
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		die("mkdir", path);
}

static void do_mount(const char *src, const char *dst, const char *type, unsigned long fl,
		     const char *data)
{
	if (mount(src, dst, type, fl, data) < 0)
		die("mount", dst);
}

static void bind_ro(const char *dst)
{
	do_mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
}

/* The file systems a runtime gives every container, then the pod's binds. */
static void build_root(const struct pod *p)
{
	static const char *const devs[] = { "null", "zero", "full", "random", "urandom" };
	char path[PATH_MAX], src[PATH_MAX];

	do_mount(p->rootfs, p->rootfs, NULL, MS_BIND | MS_REC, NULL);
	pathf(path, p->rootfs, "/proc");
	mkdir_p(path);
	do_mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	pathf(path, p->rootfs, "/sys");
	mkdir_p(path);
	do_mount("sysfs", path, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	/* the pod's own cgroup namespace, as /proc/self/mountinfo shows it */
	pathf(path, p->rootfs, "/sys/fs/cgroup");
	do_mount("cgroup2", path, "cgroup2", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	pathf(path, p->rootfs, "/dev");
	mkdir_p(path);
	do_mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k");
	for (unsigned int i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		int fd;

		snprintf(src, sizeof(src), "/dev/%s", devs[i]);
		pathf(path, p->rootfs, src);
		fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
		if (fd < 0)
			die("create", path);
		close(fd);
		do_mount(src, path, NULL, MS_BIND, NULL);
	}
	for (unsigned int i = 0; i < p->n_binds; i++) {
		const struct bind *b = &p->binds[i];

		pathf(path, p->rootfs, b->dst);
		mkdir_p(path);
		do_mount(b->src, path, NULL, MS_BIND | MS_REC, NULL);
		if (b->ro)
			bind_ro(path);
	}
	bind_ro(p->rootfs);
	if (chdir(p->rootfs) < 0 || chroot(".") < 0 || chdir("/") < 0)
		die("chroot", p->rootfs);
}

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

/* Parent side: pass signals on, exit as the child did. */
static int supervise(void)
{
	struct sigaction sa = { .sa_handler = forward };
	int status;

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid", NULL);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static void enter_ns(pid_t pid, int *rootfd)
{
	static const char *const ns[] = { "cgroup", "ipc", "uts", "pid", "mnt" };
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	*rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*rootfd < 0)
		die("open", path);
	for (unsigned int i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, 0) < 0)
			die("setns", path);
		close(fd);
	}
}

static void join_cgroup(const char *procs)
{
	FILE *f = fopen(procs, "we");

	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0)
		die("join", procs);
}

static int usage(void)
{
	fprintf(stderr, "usage: sa_pod --rootfs DIR [--cgroup-procs FILE] [--bind SRC:DST[:ro]]... "
			"[--caps LIST] [--hostpid] [--entrypoint PATH] -- CMD [ARGS...]\n"
			"       sa_pod --enter PID [--caps LIST] -- CMD [ARGS...]\n");
	return 2;
}

static int parse_bind(struct pod *p, const char *arg)
{
	struct bind *b;
	char *colon;

	if (p->n_binds == MAX_BINDS)
		return -1;
	b = &p->binds[p->n_binds++];
	snprintf(b->dst, sizeof(b->dst), "%s", arg);
	colon = strchr(b->dst, ':');
	if (!colon)
		return -1;
	*colon = '\0';
	b->src = strdup(b->dst);
	memmove(b->dst, colon + 1, strlen(colon + 1) + 1);
	colon = strchr(b->dst, ':');
	if (colon) {
		if (strcmp(colon, ":ro") != 0)
			return -1;
		*colon = '\0';
		b->ro = true;
	}
	return b->dst[0] == '/' ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rootfs", required_argument, NULL, 'r' },
		{ "cgroup-procs", required_argument, NULL, 'g' },
		{ "bind", required_argument, NULL, 'b' },
		{ "caps", required_argument, NULL, 'c' },
		{ "hostpid", no_argument, NULL, 'H' },
		{ "entrypoint", required_argument, NULL, 'e' },
		{ "enter", required_argument, NULL, 'E' },
		{},
	};
	struct pod p = {};
	int c, rootfd = -1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': p.rootfs = optarg; break;
		case 'g': p.cgroup_procs = optarg; break;
		case 'b':
			if (parse_bind(&p, optarg)) {
				fprintf(stderr, "sa_pod: bad --bind '%s'\n", optarg);
				return 2;
			}
			break;
		case 'c':
			if (parse_caps(optarg, &p.caps))
				return 2;
			break;
		case 'H': p.hostpid = true; break;
		case 'e': p.entrypoint = optarg; break;
		case 'E': p.enter = (pid_t)atoi(optarg); break;
		default: return usage();
		}
	}
	if (optind >= argc || (!p.rootfs == !p.enter))
		return usage();
	if (p.entrypoint)
		argv[optind] = (char *)p.entrypoint;

	if (p.enter) {
		enter_ns(p.enter, &rootfd);
	} else {
		if (p.cgroup_procs)
			join_cgroup(p.cgroup_procs);
		if (unshare(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
			    (p.hostpid ? 0 : CLONE_NEWPID)) < 0)
			die("unshare", NULL);
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			die("make / private", NULL);
	}

	child = fork();
	if (child < 0)
		die("fork", NULL);
	if (child > 0)
		return supervise();

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		die("pdeathsig", NULL);
	if (p.hostpid && getppid() == 1)
		_exit(125);	/* sa_pod died before the prctl */
	if (p.enter) {
		if (fchdir(rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0)
			die("chroot into the container's root", NULL);
		close(rootfd);
	} else {
		build_root(&p);
		if (sethostname("pod", 3) < 0)
			die("sethostname", NULL);
	}
	drop_caps(p.caps);
	execv(argv[optind], argv + optind);
	die("exec", argv[optind]);
	return 125;
}
