// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Integration test helpers: Time, logging and failures; the environment; commands. See testlib.h. */
#include "testlib_priv.h"

struct tl_env tl_env = { .cgroup_fd = -1 };
struct tl_state tl_st = { .log_lock = PTHREAD_MUTEX_INITIALIZER };

/* ------------------------------------------------------------------------ */
/* Time, logging, failures                                                  */

long long tl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tl_sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

__attribute__((format(printf, 2, 0)))
static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	long long t = tl_now_ms() - tl_st.t0;
	int saved = errno;

	pthread_mutex_lock(&tl_st.log_lock);
	fprintf(stderr, "[%4lld.%03lld]", t / 1000, t % 1000);
	if (tl_st.owner && getpid() != tl_st.owner)
		fprintf(stderr, "[child %d]", (int)getpid());
	fprintf(stderr, " %s", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	fflush(stderr);
	pthread_mutex_unlock(&tl_st.log_lock);
	errno = saved;
}

void tl_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

int tl_failures(void)
{
	return atomic_load(&tl_st.failures);
}

static const char *base_name(const char *file)
{
	const char *s = strrchr(file, '/');

	return s ? s + 1 : file;
}

void tl_fail_msg(const char *file, int line, const char *fmt, ...)
{
	char prefix[128];
	va_list ap;

	atomic_fetch_add(&tl_st.failures, 1);
	snprintf(prefix, sizeof(prefix), "FAIL %s:%d: ", base_name(file), line);
	va_start(ap, fmt);
	vlog(prefix, fmt, ap);
	va_end(ap);
}

void tl_fail_ret(const char *file, int line, const char *what, long long ret, int err)
{
	if (ret == -1)
		tl_fail_msg(file, line, "%s: returned -1 (%s)", what, strerror(err));
	else if (ret < 0 && ret > -4096)
		tl_fail_msg(file, line, "%s: returned %lld (%s)", what, ret, strerror((int)-ret));
	else
		tl_fail_msg(file, line, "%s: returned %lld", what, ret);
}

void tl_fail_cmp(const char *file, int line, const char *what, const char *a_expr,
		 const char *op, const char *b_expr, long long a, long long b)
{
	tl_fail_msg(file, line, "%s: expected %s %s %s, got %lld %s %lld", what, a_expr, op,
		    b_expr, a, op, b);
}

bool tl_exited_with(int status, int code)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

const char *tl_status_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "wait status 0x%x", status);
	return buf;
}

void tl_fail_exit(const char *file, int line, const char *what, int status, int code)
{
	char buf[96];

	tl_fail_msg(file, line, "%s: expected exit code %d, got: %s", what, code,
		    tl_status_str(status, buf, sizeof(buf)));
}

/* ------------------------------------------------------------------------ */
/* Environment                                                              */

void tl_track_pid(pid_t pid)
{
	for (int i = 0; i < TL_MAX_PIDS; i++) {
		if (tl_st.pids[i] == 0) {
			tl_st.pids[i] = pid;
			return;
		}
	}
	tl_log("warning: more than %d processes tracked; pid %d will not be killed at cleanup",
	       TL_MAX_PIDS, (int)pid);
}

void tl_untrack_pid(pid_t pid)
{
	for (int i = 0; i < TL_MAX_PIDS; i++)
		if (tl_st.pids[i] == pid)
			tl_st.pids[i] = 0;
}

int tl_track_mount(const char *path)
{
	for (int i = 0; i < TL_MAX_MOUNTS; i++) {
		if (!tl_st.mounts[i][0]) {
			snprintf(tl_st.mounts[i], sizeof(tl_st.mounts[i]), "%s", path);
			return 0;
		}
	}
	return -ENOSPC;
}

void tl_untrack_mount(const char *path)
{
	for (int i = 0; i < TL_MAX_MOUNTS; i++)
		if (strcmp(tl_st.mounts[i], path) == 0)
			tl_st.mounts[i][0] = '\0';
}

int tl_sysctl_set(const char *path, const char *value)
{
	char old[128];
	ssize_t n;
	int fd, slot = -1, err = 0;

	for (int i = 0; i < TL_MAX_SYSCTLS; i++) {
		if (tl_st.sysctls[i].set && strcmp(tl_st.sysctls[i].path, path) == 0)
			slot = i;	/* already saved: keep the original value */
		else if (slot < 0 && !tl_st.sysctls[i].set)
			slot = i;
	}
	if (slot < 0 || strlen(path) >= sizeof(tl_st.sysctls[0].path))
		return -ENOSPC;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, old, sizeof(old) - 1);
	if (n <= 0) {
		err = n < 0 ? -errno : -EIO;
		goto cleanup;
	}
	if (!tl_st.sysctls[slot].set) {
		memcpy(tl_st.sysctls[slot].old, old, (size_t)n);
		tl_st.sysctls[slot].old_len = (size_t)n;
		snprintf(tl_st.sysctls[slot].path, sizeof(tl_st.sysctls[slot].path), "%s", path);
		tl_st.sysctls[slot].set = true;
	}
	if (pwrite(fd, value, strlen(value), 0) < 0) {
		err = -errno;
		goto cleanup;
	}
	old[n] = '\0';
	old[strcspn(old, "\n")] = '\0';
	tl_log("sysctl %s: %s -> %s (restored at cleanup)", path, old, value);
cleanup:
	close(fd);
	return err;
}

int tl_pathf(char *buf, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, PATH_MAX, fmt, ap);
	va_end(ap);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int tl_tmp_path(char *buf, const char *name)
{
	return tl_pathf(buf, "%s/%s", tl_env.tmp, name);
}

int tl_pin_path(char *buf, const char *name)
{
	return sa_pin_path(buf, tl_env.pin_dir, name);
}

/* Field 22 of /proc/self/stat: with the pid, it names this process even
 * after the pid is reused. The cleanup script compares it. */
static unsigned long long self_starttime(void)
{
	char buf[1024], *p;
	unsigned long long v = 0;
	FILE *f = fopen("/proc/self/stat", "re");

	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')'))) {
		/* p is at ")"; the space after it starts field 3, state */
		for (int field = 3; p && field <= 22; field++)
			p = strchr(p + 1, ' ');
		if (p)
			v = strtoull(p + 1, NULL, 10);
	}
	fclose(f);
	return v;
}

int tl_init(const char *name, unsigned int budget_s)
{
	char path[PATH_MAX];
	FILE *f;
	int err;

	tl_st.owner = getpid();
	tl_st.t0 = tl_now_ms();
	tl_st.budget = budget_s;
	snprintf(tl_env.name, sizeof(tl_env.name), "%s", name);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		tl_log("%s: needs root (bpf, mount, cgroups)", name);
		return -EPERM;
	}

	tl_cleanup_install();
	alarm(budget_s);

	err = sa_mount_find("cgroup2", tl_env.cgroup2, sizeof(tl_env.cgroup2));
	if (err) {
		tl_log("no cgroup2 mount in /proc/self/mountinfo: %s", strerror(-err));
		return err;
	}

	snprintf(tl_env.tmp, sizeof(tl_env.tmp), "/tmp/sockaccel-test.XXXXXX");
	if (!mkdtemp(tl_env.tmp))
		return -errno;
	tl_st.tmp_made = true;
	/* "pid starttime": cleanup-leftovers.sh leaves live tests alone */
	tl_tmp_path(path, "owner");
	f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "%d %llu\n", (int)getpid(), self_starttime());
	fclose(f);

	tl_tmp_path(tl_env.config, "sockaccel.conf");
	f = fopen(tl_env.config, "we");
	if (!f)
		return -errno;
	fclose(f);

	tl_tmp_path(tl_env.bpffs, "bpffs");
	if (mkdir(tl_env.bpffs, 0700) < 0)
		return -errno;
	if (mount("bpf", tl_env.bpffs, "bpf", 0, "mode=0700") < 0) {
		err = -errno;
		tl_log("mount -t bpf bpf %s: %s", tl_env.bpffs, strerror(-err));
		return err;
	}
	tl_st.bpffs_mounted = true;
	tl_pathf(tl_env.pin_dir, "%s/pins", tl_env.bpffs);

	for (int n = 0;; n++) {
		err = tl_pathf(tl_env.cgroup, "%s/sockaccel-test-%d-%d", tl_env.cgroup2,
			       (int)getpid(), n);
		if (err)
			return err;
		if (mkdir(tl_env.cgroup, 0755) == 0)
			break;
		if (errno != EEXIST || n > 100)
			return -errno;
	}
	tl_st.cgroup_made = true;
	if (tl_pathf(tl_st.cg_kill, "%s/cgroup.kill", tl_env.cgroup) ||
	    tl_pathf(tl_st.cg_events, "%s/cgroup.events", tl_env.cgroup) ||
	    tl_pathf(tl_st.cg_procs, "%s/cgroup.procs", tl_env.cgroup))
		return -ENAMETOOLONG;
	tl_env.cgroup_fd = open(tl_env.cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tl_env.cgroup_fd < 0)
		return -errno;

	tl_log("%s: tmp %s, cgroup %s, pins %s, budget %u s, daemon %s", name, tl_env.tmp,
	       tl_env.cgroup, tl_env.pin_dir, budget_s, tl_daemon_path());
	return 0;
}

int tl_finish(void)
{
	int failed = tl_failures();

	tl_cleanup_all();
	tl_log("%s %s%s", failed ? "FAIL" : "PASS", tl_env.name,
	       failed ? " (see FAIL lines above)" : "");
	return failed ? 1 : 0;
}

/* Wait for child @pid (pidfd @pidfd, or -1) up to @timeout_ms. */
int tl_wait_pid(pid_t pid, int pidfd, int timeout_ms, int *status)
{
	long long deadline = tl_now_ms() + timeout_ms;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		long long left;

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		left = deadline - tl_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		if (pidfd >= 0) {
			struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

			poll(&pfd, 1, (int)(left < 1000 ? left : 1000));
		} else {
			tl_sleep_ms(5);
		}
	}
}

int tl_pidfd_of(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

pid_t tl_spawn(char *const argv[], char *const envp[], int in, int out, int err,
	       tl_exec_hook hook, void *arg)
{
	pid_t parent = getpid(), pid;

	pthread_mutex_lock(&tl_st.log_lock);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		tl_child_reset(parent);
		signal(SIGPIPE, SIG_DFL);
		if (out >= 0) {
			if ((in >= 0 && dup2(in, 0) < 0) || dup2(out, 1) < 0 || dup2(err, 2) < 0)
				_exit(126);
			close_range(3, ~0U, 0);
		}
		if (hook)
			hook(arg);
		if (envp)
			execve(argv[0], argv, envp);
		else
			execvp(argv[0], argv);
		_exit(127);
	}
	pthread_mutex_unlock(&tl_st.log_lock);
	if (pid < 0)
		return -errno;
	tl_track_pid(pid);
	return pid;
}

/* Wait for a tl_spawn()ed child; after @timeout_ms kill it. 0 or -ETIMEDOUT. */
static int reap(const char *name, pid_t pid, int timeout_ms, int *status)
{
	int pidfd = tl_pidfd_of(pid);
	int err = tl_wait_pid(pid, pidfd, timeout_ms, status);

	if (err == -ETIMEDOUT) {
		tl_log("%s: still running after %d ms; killing it", name, timeout_ms);
		kill(pid, SIGKILL);
		tl_wait_pid(pid, pidfd, 5000, status);
	}
	tl_untrack_pid(pid);
	if (pidfd >= 0)
		close(pidfd);
	return err;
}

int tl_run_cmd(char *const argv[], int timeout_ms, int *status)
{
	pid_t pid = tl_spawn(argv, NULL, -1, -1, -1, NULL, NULL);

	return pid < 0 ? (int)pid : reap(argv[0], pid, timeout_ms, status);
}

/* ------------------------------------------------------------------------ */
/* Files and captured output                                                */

char *tl_read_file_len(const char *path, size_t *len)
{
	struct stat sb;
	char *buf = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) == 0 && (buf = malloc((size_t)sb.st_size + 1))) {
		while (got < (size_t)sb.st_size) {	/* a read may return less */
			ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);

			if (n <= 0)
				break;
			got += (size_t)n;
		}
		buf[got] = '\0';
	}
	close(fd);
	if (len)
		*len = got;
	return buf;
}

char *tl_read_file(const char *path)
{
	return tl_read_file_len(path, NULL);
}

int tl_run_capture_hook(char *const argv[], int timeout_ms, tl_exec_hook hook, void *arg,
			struct tl_capture *c)
{
	static atomic_int seq;
	char opath[PATH_MAX], epath[PATH_MAX];
	int n = atomic_fetch_add(&seq, 1), ofd = -1, efd = -1, in = -1, ret;
	pid_t pid;

	c->out = c->err = NULL;
	c->out_len = c->err_len = 0;
	c->status = 0;
	if (tl_pathf(opath, "%s/cmd-%d-%d.out", tl_env.tmp, (int)getpid(), n) ||
	    tl_pathf(epath, "%s/cmd-%d-%d.err", tl_env.tmp, (int)getpid(), n))
		return -ENAMETOOLONG;
	ofd = open(opath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	efd = open(epath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (ofd < 0 || efd < 0 || in < 0) {
		ret = -errno;
		goto cleanup;
	}

	pid = tl_spawn(argv, NULL, in, ofd, efd, hook, arg);
	if (pid < 0) {
		ret = (int)pid;
		goto cleanup;
	}
	ret = reap(argv[0], pid, timeout_ms, &c->status);
	c->out = tl_read_file_len(opath, &c->out_len);
	c->err = tl_read_file_len(epath, &c->err_len);
	if (!c->out || !c->err) {
		free(c->out);
		free(c->err);
		c->out = c->err = NULL;
		c->out_len = c->err_len = 0;
		if (!ret)
			ret = -ENOMEM;
	}
cleanup:
	if (ofd >= 0)
		close(ofd);
	if (efd >= 0)
		close(efd);
	if (in >= 0)
		close(in);
	unlink(opath);
	unlink(epath);
	return ret;
}

int tl_run_capture(char *const argv[], int timeout_ms, int *status, char **out, char **err)
{
	struct tl_capture c;
	int ret = tl_run_capture_hook(argv, timeout_ms, NULL, NULL, &c);

	*status = c.status;
	*out = c.out;
	*err = c.err;
	return ret;
}
