// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Integration test helpers; see testlib.h for the tour.
 *
 * The cleanup code (cleanup_all and what it calls) also runs from signal
 * handlers (SIGTERM, SIGINT, SIGHUP and the SIGALRM budget), so it sticks to
 * async-signal-safe calls on paths computed in tl_init().
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <endian.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "counters.h"
#include "key.h"
#include "mounts.h"
#include "pins.h"
#include "variant.h"
#include "testlib.h"

#ifndef SOCKACCELD_PATH
#define SOCKACCELD_PATH "sockacceld"
#endif
#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

#define TL_MAX_PIDS	64
#define TL_MAX_MOUNTS	4
#define TL_MAX_SYSCTLS	4
#define TL_DUMP_DAEMONS	3	/* logs of the last N daemons shown on failure */
#define TL_DUMP_TAIL	12288	/* bytes of each */

struct tl_env tl_env = { .cgroup_fd = -1 };

extern char **environ;

/* Everything cleanup needs, prepared in advance. */
static struct {
	pid_t owner;
	atomic_int failures;
	atomic_int cleaning;
	long long t0;
	unsigned int budget;
	bool bpffs_mounted;
	bool cgroup_made;
	bool tmp_made;
	volatile pid_t pids[TL_MAX_PIDS];
	char mounts[TL_MAX_MOUNTS][PATH_MAX];
	struct {
		char path[128];
		char old[128];
		size_t old_len;
		volatile bool set;
	} sysctls[TL_MAX_SYSCTLS];
	int ndaemons;
	char cg_kill[PATH_MAX];
	char cg_events[PATH_MAX];
	char cg_procs[PATH_MAX];
	pthread_mutex_t log_lock;	/* held across fork(): no stdio lock is
					 * taken by another thread at that moment */
} st = { .log_lock = PTHREAD_MUTEX_INITIALIZER };

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
	long long t = tl_now_ms() - st.t0;
	int saved = errno;

	pthread_mutex_lock(&st.log_lock);
	fprintf(stderr, "[%4lld.%03lld]", t / 1000, t % 1000);
	if (st.owner && getpid() != st.owner)
		fprintf(stderr, "[child %d]", (int)getpid());
	fprintf(stderr, " %s", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	fflush(stderr);
	pthread_mutex_unlock(&st.log_lock);
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
	return atomic_load(&st.failures);
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

	atomic_fetch_add(&st.failures, 1);
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
/* Async-signal-safe helpers for cleanup                                    */

static void ss_write(const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void ss_puts(const char *s)
{
	ss_write(s, strlen(s));
}

/* Append decimal @v at @p; returns the new end. */
static char *ss_num(char *p, long long v)
{
	char tmp[24];
	int n = 0;
	bool neg = v < 0;
	unsigned long long u = neg ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (neg)
		*p++ = '-';
	while (n)
		*p++ = tmp[--n];
	*p = '\0';
	return p;
}

static char *ss_cat(char *p, const char *s)
{
	while (*s)
		*p++ = *s++;
	*p = '\0';
	return p;
}

static void ss_sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* waitpid with a bound; true once reaped (or not our child any more). */
static bool ss_reap(pid_t pid, int timeout_ms, int *status)
{
	for (int waited = 0;; waited += 5) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD))
			return true;
		if (waited >= timeout_ms)
			return false;
		ss_sleep_ms(5);
	}
}

struct tl_dirent64 {
	__u64 d_ino;
	__s64 d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Remove everything under directory @dirfd, staying on device @dev. */
static int ss_rm_under(int dirfd, dev_t dev, int depth)
{
	char buf[4096];
	int err = 0;

	if (depth > 16)
		return -ELOOP;
	for (int pass = 0; pass < 64; pass++) {
		bool any = false, removed = false;

		if (lseek(dirfd, 0, SEEK_SET) < 0)
			return -errno;
		for (;;) {
			long n = syscall(SYS_getdents64, dirfd, buf, sizeof(buf));

			if (n <= 0)
				break;
			for (long pos = 0; pos < n;) {
				struct tl_dirent64 *de = (struct tl_dirent64 *)(buf + pos);
				const char *nm = de->d_name;
				struct stat sb;

				pos += de->d_reclen;
				if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
					continue;
				any = true;
				if (fstatat(dirfd, nm, &sb, AT_SYMLINK_NOFOLLOW) < 0)
					continue;
				if (sb.st_dev != dev) {
					err = -EXDEV;	/* a mount point: never cross */
					continue;
				}
				if (S_ISDIR(sb.st_mode)) {
					int sub = openat(dirfd, nm, O_RDONLY | O_DIRECTORY |
							 O_NOFOLLOW | O_CLOEXEC);

					if (sub >= 0) {
						ss_rm_under(sub, dev, depth + 1);
						close(sub);
					}
					if (unlinkat(dirfd, nm, AT_REMOVEDIR) == 0)
						removed = true;
					else
						err = -errno;
				} else if (unlinkat(dirfd, nm, 0) == 0) {
					removed = true;
				} else {
					err = -errno;
				}
			}
		}
		if (!any)
			return 0;
		if (!removed)
			return err ? err : -ENOTEMPTY;
	}
	return err;
}

static int ss_rm_rf(const char *path)
{
	struct stat sb;
	int fd, err;

	if (lstat(path, &sb) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(sb.st_mode))
		return unlink(path) < 0 ? -errno : 0;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = ss_rm_under(fd, sb.st_dev, 0);
	close(fd);
	if (rmdir(path) < 0 && !err)
		err = -errno;
	return err;
}

int tl_rm_rf(const char *path)
{
	return ss_rm_rf(path);
}

static void ss_dump_file(const char *path)
{
	char buf[4096];
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return;
	if (fstat(fd, &sb) == 0 && sb.st_size > 0) {
		ss_puts("---- ");
		ss_puts(path);
		if (sb.st_size > TL_DUMP_TAIL) {
			ss_puts(" (last part)");
			lseek(fd, sb.st_size - TL_DUMP_TAIL, SEEK_SET);
		}
		ss_puts(" ----\n");
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			ss_write(buf, (size_t)n);
		ss_puts("---- end ----\n");
	}
	close(fd);
}

static void ss_daemon_path(char *buf, int id, const char *suffix)
{
	char *p = ss_cat(buf, tl_env.tmp);

	p = ss_cat(p, "/daemon-");
	p = ss_num(p, id);
	ss_cat(p, suffix);
}

/*
 * Undo everything, in reverse order of setup. Runs once, in the process that
 * called tl_init(), from tl_finish(), atexit or a signal handler.
 */
static void cleanup_all(void)
{
	char path[PATH_MAX + 32], line[256], *p;
	int fd;

	if (!st.owner || getpid() != st.owner)
		return;
	if (atomic_exchange(&st.cleaning, 1))
		return;
	alarm(60);	/* the cleanup's own budget; see on_signal() */

	/* 1. Our processes: daemons, children, commands. */
	for (int i = 0; i < TL_MAX_PIDS; i++)
		if (st.pids[i] > 0)
			kill(st.pids[i], SIGKILL);
	for (int i = 0; i < TL_MAX_PIDS; i++) {
		if (st.pids[i] > 0 && !ss_reap(st.pids[i], 5000, NULL)) {
			p = ss_cat(line, "cleanup: pid ");
			p = ss_num(p, st.pids[i]);
			ss_cat(p, " did not die\n");
			ss_puts(line);
		}
		st.pids[i] = 0;
	}

	/* 2. The cgroup: kill whatever is left in it, then remove it. */
	if (st.cgroup_made) {
		bool empty = false;

		fd = open(st.cg_kill, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "1", 1) < 0)
				ss_puts("cleanup: writing cgroup.kill failed\n");
			close(fd);
		}
		for (int i = 0; i < 500 && !empty; i++) {
			ssize_t n;

			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			fd = open(st.cg_events, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				break;
			n = read(fd, line, sizeof(line) - 1);
			close(fd);
			line[n > 0 ? n : 0] = '\0';
			empty = strstr(line, "populated 0") != NULL;
			if (!empty)
				ss_sleep_ms(10);
		}
		if (tl_env.cgroup_fd >= 0) {
			close(tl_env.cgroup_fd);
			tl_env.cgroup_fd = -1;
		}
		for (int i = 0; i < 500; i++) {
			if (rmdir(tl_env.cgroup) == 0 || errno == ENOENT) {
				st.cgroup_made = false;
				break;
			}
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			ss_sleep_ms(10);
		}
		if (st.cgroup_made) {
			ss_puts("cleanup: can't remove cgroup ");
			ss_puts(tl_env.cgroup);
			ss_puts("\n");
		}
	}

	/* 3. sysctls back to what they were. */
	for (int i = 0; i < TL_MAX_SYSCTLS; i++) {
		if (!st.sysctls[i].set)
			continue;
		fd = open(st.sysctls[i].path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, st.sysctls[i].old, st.sysctls[i].old_len) < 0) {
			ss_puts("cleanup: can't restore ");
			ss_puts(st.sysctls[i].path);
			ss_puts("\n");
		}
		if (fd >= 0)
			close(fd);
		st.sysctls[i].set = false;
	}

	/* 4. On failure, the last daemons' output, before the files go. */
	if (atomic_load(&st.failures) && st.tmp_made) {
		int first = st.ndaemons - TL_DUMP_DAEMONS + 1;

		for (int id = first < 1 ? 1 : first; id <= st.ndaemons; id++) {
			ss_daemon_path(path, id, ".out");
			ss_dump_file(path);
			ss_daemon_path(path, id, ".err");
			ss_dump_file(path);
		}
	}

	/* 5. Mounts: the test's own, then the private bpffs. */
	for (int i = TL_MAX_MOUNTS - 1; i >= 0; i--) {
		if (!st.mounts[i][0])
			continue;
		if (umount2(st.mounts[i], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) {
			ss_puts("cleanup: can't unmount ");
			ss_puts(st.mounts[i]);
			ss_puts("\n");
		}
		st.mounts[i][0] = '\0';
	}
	if (st.bpffs_mounted) {
		if (umount2(tl_env.bpffs, MNT_DETACH) < 0) {
			ss_puts("cleanup: can't unmount ");
			ss_puts(tl_env.bpffs);
			ss_puts("\n");
		}
		st.bpffs_mounted = false;
	}

	/* 6. The temp dir. */
	if (st.tmp_made) {
		const char *keep = getenv("SA_TEST_KEEP");

		if (atomic_load(&st.failures) && keep && keep[0] == '1') {
			ss_puts("cleanup: SA_TEST_KEEP=1, keeping ");
			ss_puts(tl_env.tmp);
			ss_puts("\n");
		} else if (ss_rm_rf(tl_env.tmp) < 0) {
			ss_puts("cleanup: can't remove ");
			ss_puts(tl_env.tmp);
			ss_puts("\n");
		}
		st.tmp_made = false;
	}
	alarm(0);
}

static void on_signal(int sig)
{
	char msg[256], *p;

	if (!st.owner || getpid() != st.owner)
		_exit(128 + sig);
	if (atomic_load(&st.cleaning)) {
		if (sig == SIGALRM) {
			ss_puts("cleanup itself timed out\n");
			_exit(1);
		}
		return;
	}
	atomic_fetch_add(&st.failures, 1);
	if (sig == SIGALRM) {
		p = ss_cat(msg, "TIMEOUT: ");
		p = ss_cat(p, tl_env.name);
		p = ss_cat(p, " exceeded its budget of ");
		p = ss_num(p, st.budget);
		ss_cat(p, " s; cleaning up\n");
	} else {
		p = ss_cat(msg, "FAIL: ");
		p = ss_cat(p, tl_env.name);
		p = ss_cat(p, " interrupted by signal ");
		p = ss_num(p, sig);
		ss_cat(p, "; cleaning up\n");
	}
	ss_puts(msg);
	cleanup_all();
	p = ss_cat(msg, "FAIL ");
	p = ss_cat(p, tl_env.name);
	ss_cat(p, "\n");
	ss_puts(msg);
	_exit(1);
}

static void at_exit(void)
{
	cleanup_all();
}

static const int handled_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGALRM };

/* In a freshly forked child: default signal handling, nothing blocked, die
 * with the parent. Async-signal-safe (a multi-threaded parent forked us). */
static void child_reset(pid_t parent)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigset_t none;

	for (unsigned int i = 0; i < sizeof(handled_signals) / sizeof(handled_signals[0]); i++)
		sigaction(handled_signals[i], &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
}

/* ------------------------------------------------------------------------ */
/* Environment                                                              */

void tl_track_pid(pid_t pid)
{
	for (int i = 0; i < TL_MAX_PIDS; i++) {
		if (st.pids[i] == 0) {
			st.pids[i] = pid;
			return;
		}
	}
	tl_log("warning: more than %d processes tracked; pid %d will not be killed at cleanup",
	       TL_MAX_PIDS, (int)pid);
}

void tl_untrack_pid(pid_t pid)
{
	for (int i = 0; i < TL_MAX_PIDS; i++)
		if (st.pids[i] == pid)
			st.pids[i] = 0;
}

int tl_track_mount(const char *path)
{
	for (int i = 0; i < TL_MAX_MOUNTS; i++) {
		if (!st.mounts[i][0]) {
			snprintf(st.mounts[i], sizeof(st.mounts[i]), "%s", path);
			return 0;
		}
	}
	return -ENOSPC;
}

void tl_untrack_mount(const char *path)
{
	for (int i = 0; i < TL_MAX_MOUNTS; i++)
		if (strcmp(st.mounts[i], path) == 0)
			st.mounts[i][0] = '\0';
}

int tl_sysctl_set(const char *path, const char *value)
{
	char old[128];
	ssize_t n;
	int fd, slot = -1, err = 0;

	for (int i = 0; i < TL_MAX_SYSCTLS; i++) {
		if (st.sysctls[i].set && strcmp(st.sysctls[i].path, path) == 0)
			slot = i;	/* already saved: keep the original value */
		else if (slot < 0 && !st.sysctls[i].set)
			slot = i;
	}
	if (slot < 0 || strlen(path) >= sizeof(st.sysctls[0].path))
		return -ENOSPC;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, old, sizeof(old) - 1);
	if (n <= 0) {
		err = n < 0 ? -errno : -EIO;
		goto cleanup;
	}
	if (!st.sysctls[slot].set) {
		memcpy(st.sysctls[slot].old, old, (size_t)n);
		st.sysctls[slot].old_len = (size_t)n;
		snprintf(st.sysctls[slot].path, sizeof(st.sysctls[slot].path), "%s", path);
		st.sysctls[slot].set = true;
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
	struct sigaction sa = { .sa_handler = on_signal };
	char path[PATH_MAX];
	FILE *f;
	int err;

	st.owner = getpid();
	st.t0 = tl_now_ms();
	st.budget = budget_s;
	snprintf(tl_env.name, sizeof(tl_env.name), "%s", name);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		tl_log("%s: needs root (bpf, mount, cgroups)", name);
		return -EPERM;
	}

	sigfillset(&sa.sa_mask);
	for (unsigned int i = 0; i < sizeof(handled_signals) / sizeof(handled_signals[0]); i++)
		sigaction(handled_signals[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	atexit(at_exit);
	alarm(budget_s);

	err = sa_mount_find("cgroup2", tl_env.cgroup2, sizeof(tl_env.cgroup2));
	if (err) {
		tl_log("no cgroup2 mount in /proc/self/mountinfo: %s", strerror(-err));
		return err;
	}

	snprintf(tl_env.tmp, sizeof(tl_env.tmp), "/tmp/sockaccel-test.XXXXXX");
	if (!mkdtemp(tl_env.tmp))
		return -errno;
	st.tmp_made = true;
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
	st.bpffs_mounted = true;
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
	st.cgroup_made = true;
	if (tl_pathf(st.cg_kill, "%s/cgroup.kill", tl_env.cgroup) ||
	    tl_pathf(st.cg_events, "%s/cgroup.events", tl_env.cgroup) ||
	    tl_pathf(st.cg_procs, "%s/cgroup.procs", tl_env.cgroup))
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

	cleanup_all();
	tl_log("%s %s%s", failed ? "FAIL" : "PASS", tl_env.name,
	       failed ? " (see FAIL lines above)" : "");
	return failed ? 1 : 0;
}

/* Wait for child @pid (pidfd @pidfd, or -1) up to @timeout_ms. */
static int wait_pid(pid_t pid, int pidfd, int timeout_ms, int *status)
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

static int pidfd_of(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/*
 * fork() and exec  (execve with , or execvp when  is NULL).
 * With  >= 0 the child's stdout and stderr go to  and , stdin to
 *  when that is >= 0, and every other fd is closed. The child dies with
 * us; its pid is tracked for cleanup. Returns the pid or -errno. The caller
 * builds everything beforehand: a child of a threaded parent must not
 * allocate (other threads may hold malloc's or stdio's locks).
 */
static pid_t spawn(char *const argv[], char *const envp[], int in, int out, int err)
{
	pid_t parent = getpid(), pid;

	pthread_mutex_lock(&st.log_lock);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		child_reset(parent);
		signal(SIGPIPE, SIG_DFL);
		if (out >= 0) {
			if ((in >= 0 && dup2(in, 0) < 0) || dup2(out, 1) < 0 || dup2(err, 2) < 0)
				_exit(126);
			close_range(3, ~0U, 0);
		}
		if (envp)
			execve(argv[0], argv, envp);
		else
			execvp(argv[0], argv);
		_exit(127);
	}
	pthread_mutex_unlock(&st.log_lock);
	if (pid < 0)
		return -errno;
	tl_track_pid(pid);
	return pid;
}

/* Wait for a spawn()ed child; after  kill it. 0 or -ETIMEDOUT. */
static int reap(const char *name, pid_t pid, int timeout_ms, int *status)
{
	int pidfd = pidfd_of(pid);
	int err = wait_pid(pid, pidfd, timeout_ms, status);

	if (err == -ETIMEDOUT) {
		tl_log("%s: still running after %d ms; killing it", name, timeout_ms);
		kill(pid, SIGKILL);
		wait_pid(pid, pidfd, 5000, status);
	}
	tl_untrack_pid(pid);
	if (pidfd >= 0)
		close(pidfd);
	return err;
}

int tl_run_cmd(char *const argv[], int timeout_ms, int *status)
{
	pid_t pid = spawn(argv, NULL, -1, -1, -1);

	return pid < 0 ? (int)pid : reap(argv[0], pid, timeout_ms, status);
}

/* ------------------------------------------------------------------------ */
/* Children, cgroup, netns                                                  */

int tl_cgroup_join(void)
{
	char buf[32];
	int fd, n, err = 0;

	fd = open(st.cg_procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%d", (int)getpid());
	if (write(fd, buf, (size_t)n) != n)
		err = -errno;
	close(fd);
	return err;
}

int tl_netns_enter(void)
{
	struct ifreq ifr = {};
	int fd, err = 0;

	if (unshare(CLONE_NEWNET) < 0)
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		err = -errno;
		goto cleanup;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		err = -errno;
cleanup:
	close(fd);
	return err;
}

void *tl_shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void tl_shared_free(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

int tl_child_start(struct tl_child *c, const struct tl_ctx *ctx, tl_child_fn fn, void *arg)
{
	pid_t parent = getpid(), pid;
	int sv[2];

	c->pid = -1;
	c->ctl = -1;
	c->pidfd = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;

	pthread_mutex_lock(&st.log_lock);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int err, rc;

		pthread_mutex_init(&st.log_lock, NULL);
		child_reset(parent);
		atomic_store(&st.failures, 0);
		close(sv[0]);
		if (!ctx->outside_cgroup) {
			err = tl_cgroup_join();
			if (err) {
				tl_log("FAIL: joining cgroup %s: %s", tl_env.cgroup,
				       strerror(-err));
				_exit(1);
			}
		}
		if (ctx->netns) {
			err = tl_netns_enter();
			if (err) {
				tl_log("FAIL: new netns: %s", strerror(-err));
				_exit(1);
			}
		}
		rc = fn(arg, sv[1]);
		fflush(NULL);
		_exit(rc || tl_failures() ? 1 : 0);
	}
	pthread_mutex_unlock(&st.log_lock);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return -errno;
	}
	tl_track_pid(pid);
	c->pid = pid;
	c->ctl = sv[0];
	c->pidfd = pidfd_of(pid);
	return 0;
}

int tl_child_wait(struct tl_child *c, int timeout_ms, int *status)
{
	int err, dummy;

	if (c->pid <= 0)
		return -ECHILD;
	if (!status)
		status = &dummy;
	err = wait_pid(c->pid, c->pidfd, timeout_ms, status);
	if (err == -ETIMEDOUT) {
		tl_log("child %d still running after %d ms; killing it", (int)c->pid, timeout_ms);
		kill(c->pid, SIGKILL);
		wait_pid(c->pid, c->pidfd, 5000, status);
	}
	tl_untrack_pid(c->pid);
	c->pid = -1;
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->ctl >= 0)
		close(c->ctl);
	c->pidfd = -1;
	c->ctl = -1;
	return err;
}

int tl_send_msg(int ctl, const void *data, size_t len, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} u = {};
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > 8)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *cm;

		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(ctl, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

int tl_recv_msg(int ctl, void *data, size_t len, int *fds, int max_fds, int *nfds,
		int timeout_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = data, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct pollfd pfd = { .fd = ctl, .events = POLLIN };
	struct cmsghdr *cm;
	ssize_t n;
	int r, got = 0;

	if (nfds)
		*nfds = 0;
	do {
		r = poll(&pfd, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	n = recvmsg(ctl, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		int cnt;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < cnt; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (got < max_fds)
				fds[got++] = fd;
			else
				close(fd);
		}
	}
	if (nfds)
		*nfds = got;
	if ((size_t)n != len)
		return -EBADMSG;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* TCP connections                                                          */

enum pair_role { ROLE_ALL, ROLE_LISTEN, ROLE_CONNECT };

struct pair_req {
	enum pair_role role;
	const struct tl_pair_opts *o;	/* valid in the child: fork copies memory */
	__u16 server_port;		/* ROLE_CONNECT: where the listener is */
};

struct pair_reply {
	int err;
	char why[240];
	__u16 server_port;
	bool syn_data_acked;
};

const char *tl_family_name(enum tl_family f)
{
	switch (f) {
	case TL_INET4: return "IPv4";
	case TL_INET6: return "IPv6";
	case TL_DUAL: return "dual-stack";
	}
	return "?";
}

static socklen_t pair_addr(struct sockaddr_storage *ss, enum tl_family f, bool listener,
			   __u16 port)
{
	memset(ss, 0, sizeof(*ss));
	if (f == TL_INET4 || (f == TL_DUAL && !listener)) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		in6->sin6_addr = f == TL_DUAL ? in6addr_any : in6addr_loopback;
		return sizeof(*in6);
	}
}

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int r;

	do {
		r = poll(&pfd, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

static int accept_timeout(int lfd, int timeout_ms)
{
	int err = wait_fd(lfd, POLLIN, timeout_ms);
	int fd;

	if (err)
		return err;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int connect_timeout(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	int flags = fcntl(fd, F_GETFL), err = 0;
	socklen_t el = sizeof(err);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	if (connect(fd, sa, len) < 0) {
		if (errno != EINPROGRESS)
			return -errno;
		err = wait_fd(fd, POLLOUT, timeout_ms);
		if (err)
			return err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			return -errno;
		if (err)
			return -err;
	}
	return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

#define PAIR_FAIL(rep, e, ...) do {						\
	(rep)->err = (e);							\
	snprintf((rep)->why, sizeof((rep)->why), __VA_ARGS__);		\
	goto cleanup;								\
} while (0)

static int pair_listener(const struct tl_pair_opts *o, struct pair_reply *rep)
{
	struct sockaddr_storage ss;
	socklen_t len = pair_addr(&ss, o->family, true, o->server_port);
	int fd = -1, one = 1, zero = 0, qlen = 16;

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		PAIR_FAIL(rep, -errno, "listener socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		PAIR_FAIL(rep, -errno, "SO_REUSEADDR: %s", strerror(errno));
	if (o->family == TL_DUAL &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0)
		PAIR_FAIL(rep, -errno, "IPV6_V6ONLY off: %s", strerror(errno));
	if (o->fastopen && setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof(qlen)) < 0)
		PAIR_FAIL(rep, -errno, "TCP_FASTOPEN on the listener: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		PAIR_FAIL(rep, -errno, "bind listener to port %u: %s", o->server_port,
			  strerror(errno));
	if (listen(fd, 64) < 0)
		PAIR_FAIL(rep, -errno, "listen: %s", strerror(errno));
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		PAIR_FAIL(rep, -errno, "getsockname: %s", strerror(errno));
	rep->server_port = ntohs(ss.ss_family == AF_INET ?
				 ((struct sockaddr_in *)&ss)->sin_port :
				 ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
cleanup:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* A client socket, bound to o->client_port if set; not yet connected. */
static int pair_client_socket(const struct tl_pair_opts *o, struct pair_reply *rep)
{
	struct sockaddr_storage ss;
	socklen_t len = pair_addr(&ss, o->family, false, o->client_port);
	struct timeval tv = { .tv_sec = 10 };
	int fd = -1, one = 1;

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		PAIR_FAIL(rep, -errno, "client socket: %s", strerror(errno));
	/* bounds a blocking sendto(MSG_FASTOPEN) */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		PAIR_FAIL(rep, -errno, "SO_SNDTIMEO: %s", strerror(errno));
	if (o->client_port) {
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
			PAIR_FAIL(rep, -errno, "SO_REUSEADDR: %s", strerror(errno));
		if (bind(fd, (struct sockaddr *)&ss, len) < 0)
			PAIR_FAIL(rep, -errno, "bind client to port %u: %s", o->client_port,
				  strerror(errno));
	}
	return fd;
cleanup:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* A first TFO connection only fetches the cookie: its data follows the
 * handshake. With the cookie cached, the next SYN carries data. */
static int pair_tfo_warmup(const struct tl_pair_opts *o, int lfd, __u16 port,
			   struct pair_reply *rep)
{
	struct sockaddr_storage ss;
	socklen_t len = pair_addr(&ss, o->family, false, port);
	struct tl_pair_opts plain = *o;
	int cfd = -1, sfd = -1;
	char c;

	plain.client_port = 0;
	cfd = pair_client_socket(&plain, rep);
	if (cfd < 0)
		goto cleanup;
	if (sendto(cfd, "w", 1, MSG_FASTOPEN, (struct sockaddr *)&ss, len) != 1)
		PAIR_FAIL(rep, -errno, "TFO warm-up sendto(MSG_FASTOPEN): %s", strerror(errno));
	sfd = accept_timeout(lfd, 10000);
	if (sfd < 0)
		PAIR_FAIL(rep, sfd, "TFO warm-up accept: %s", strerror(-sfd));
	if (wait_fd(sfd, POLLIN, 10000) || read(sfd, &c, 1) != 1)
		PAIR_FAIL(rep, -EIO, "TFO warm-up: the byte did not arrive");
cleanup:
	if (cfd >= 0)
		close(cfd);
	if (sfd >= 0)
		close(sfd);
	return rep->err;
}

static int pair_child(void *arg, int ctl)
{
	struct pair_req *rq = arg;
	const struct tl_pair_opts *o = rq->o;
	struct pair_reply rep = {};
	struct sockaddr_storage ss;
	int lfd = -1, cfd = -1, sfd = -1, fds[2], nfds = 0;
	socklen_t len;

	if (rq->role == ROLE_ALL || rq->role == ROLE_LISTEN) {
		lfd = pair_listener(o, &rep);
		if (lfd < 0)
			goto cleanup;
		if (rq->role == ROLE_LISTEN) {
			fds[nfds++] = lfd;
			goto cleanup;
		}
	} else {
		rep.server_port = rq->server_port;
	}
	if (o->fastopen && pair_tfo_warmup(o, lfd, rep.server_port, &rep))
		goto cleanup;

	cfd = pair_client_socket(o, &rep);
	if (cfd < 0)
		goto cleanup;
	len = pair_addr(&ss, o->family, false, rep.server_port);
	if (o->fastopen) {
		ssize_t n = sendto(cfd, o->syn_data, o->syn_len, MSG_FASTOPEN,
				   (struct sockaddr *)&ss, len);

		if (n != (ssize_t)o->syn_len)
			PAIR_FAIL(&rep, n < 0 ? -errno : -EIO,
				  "sendto(MSG_FASTOPEN, %zu bytes): %s",
				  o->syn_len, n < 0 ? strerror(errno) : "short write");
	} else {
		int err = connect_timeout(cfd, (struct sockaddr *)&ss, len, 10000);

		if (err)
			PAIR_FAIL(&rep, err, "connect to port %u: %s", rep.server_port,
				  strerror(-err));
	}
	fds[nfds++] = cfd;
	if (rq->role == ROLE_CONNECT)
		goto cleanup;

	sfd = accept_timeout(lfd, 10000);
	if (sfd < 0)
		PAIR_FAIL(&rep, sfd, "accept: %s", strerror(-sfd));
	fds[nfds++] = sfd;
	if (o->fastopen) {
		struct tcp_info ti = {};
		socklen_t tl = sizeof(ti);

		if (getsockopt(cfd, IPPROTO_TCP, TCP_INFO, &ti, &tl) < 0)
			PAIR_FAIL(&rep, -errno, "TCP_INFO: %s", strerror(errno));
		rep.syn_data_acked = ti.tcpi_options & TCPI_OPT_SYN_DATA;
	}
cleanup:
	if (rep.err)
		nfds = 0;
	tl_send_msg(ctl, &rep, sizeof(rep), fds, nfds);
	if (lfd >= 0)
		close(lfd);
	if (cfd >= 0)
		close(cfd);
	if (sfd >= 0)
		close(sfd);
	return 0;
}

/* Run pair_child with @rq in @ctx; the reply and up to @max_fds fds come
 * back. */
static int pair_run(struct pair_req *rq, const struct tl_ctx *ctx, struct pair_reply *rep,
		    int *fds, int max_fds, int *nfds)
{
	struct tl_child c;
	int err, status;
	char sbuf[64];

	err = tl_child_start(&c, ctx, pair_child, rq);
	if (err)
		return err;
	err = tl_recv_msg(c.ctl, rep, sizeof(*rep), fds, max_fds, nfds, 20000);
	if (tl_child_wait(&c, 10000, &status) == 0 && !tl_exited_with(status, 0) && !err) {
		tl_log("socket child %s", tl_status_str(status, sbuf, sizeof(sbuf)));
		err = -ECHILD;
	}
	if (err) {
		tl_log("socket child: no reply: %s", strerror(-err));
		return err;
	}
	if (rep->err) {
		tl_log("socket child: %s", rep->why);
		return rep->err;
	}
	return 0;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* One byte from @from to @to, read back. */
static int warm_up(int from, int to)
{
	struct pollfd pf = { .fd = to, .events = POLLIN };
	char b = 'w';

	if (send(from, &b, 1, MSG_NOSIGNAL) != 1)
		return -errno;
	if (poll(&pf, 1, 10000) != 1)
		return -ETIMEDOUT;
	return recv(to, &b, 1, MSG_DONTWAIT) == 1 ? 0 : -EIO;
}

int tl_warm_up(int a, int b)
{
	int err = warm_up(a, b);

	return err ? err : warm_up(b, a);
}

int tl_pair_make(struct tl_pair *p, const struct tl_pair_opts *o)
{
	struct pair_req rq = { .o = o };
	struct pair_reply rep = {};
	int fds[2] = { -1, -1 }, nfds = 0, lfd = -1, err;
	bool one_child = o->server.netns ||
			 o->server.outside_cgroup == o->client.outside_cgroup;

	p->client = p->server = -1;
	p->syn_data_acked = false;
	if (!one_child && (o->fastopen || o->client.netns))
		return -EINVAL;

	if (one_child) {
		rq.role = ROLE_ALL;
		err = pair_run(&rq, &o->server, &rep, fds, 2, &nfds);
		if (err)
			goto cleanup;
		if (nfds != 2) {
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			err = -EBADMSG;
			goto cleanup;
		}
		p->client = fds[0];
		p->server = fds[1];
		p->syn_data_acked = rep.syn_data_acked;
	} else {
		/* listener in one place, client in the other; the accepted
		 * socket inherits the listener's cgroup */
		rq.role = ROLE_LISTEN;
		err = pair_run(&rq, &o->server, &rep, &lfd, 1, &nfds);
		if (err)
			goto cleanup;
		rq.role = ROLE_CONNECT;
		rq.server_port = rep.server_port;
		err = pair_run(&rq, &o->client, &rep, &p->client, 1, &nfds);
		if (err)
			goto cleanup;
		p->server = accept_timeout(lfd, 10000);
		if (p->server < 0) {
			err = p->server;
			tl_log("accept: %s", strerror(-err));
			goto cleanup;
		}
	}
	err = set_nonblock(p->client);
	if (!err)
		err = set_nonblock(p->server);
	/* the splice guard keeps each direction on TCP until its receiver has
	 * read with recvmsg: one byte each way, so that what a test sends next
	 * is redirected from its first byte (a TFO pair's SYN data is the
	 * start of its stream) */
	if (!err && !o->fastopen && !o->no_warm_up)
		err = warm_up(p->client, p->server);
	if (!err && !o->fastopen && !o->no_warm_up)
		err = warm_up(p->server, p->client);
cleanup:
	if (lfd >= 0)
		close(lfd);
	if (err)
		tl_pair_close(p);
	return err;
}

void tl_pair_close(struct tl_pair *p)
{
	if (!p)
		return;
	if (p->client >= 0)
		close(p->client);
	if (p->server >= 0)
		close(p->server);
	p->client = p->server = -1;
}

/* ------------------------------------------------------------------------ */
/* Pattern                                                                  */

__u64 tl_seed(const char *label)
{
	__u64 h = 0xcbf29ce484222325ULL;	/* FNV-1a, then splitmix64's mix */

	for (const unsigned char *c = (const unsigned char *)label; *c; c++)
		h = (h ^ *c) * 0x100000001b3ULL;
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h | 1ULL << 63;	/* decoding other streams' data lands far out */
}

static inline unsigned char pat_byte(__u64 seed, __u64 o)
{
	return (unsigned char)(((o >> 3) ^ seed) >> ((o & 7) * 8));
}

void tl_pattern_fill(void *buf, __u64 seed, __u64 off, size_t len)
{
	unsigned char *b = buf;
	size_t i = 0;

	for (; i < len && ((off + i) & 7); i++)
		b[i] = pat_byte(seed, off + i);
	for (; i + 8 <= len; i += 8) {
		__u64 w = htole64(((off + i) >> 3) ^ seed);

		memcpy(b + i, &w, 8);
	}
	for (; i < len; i++)
		b[i] = pat_byte(seed, off + i);
}

size_t tl_pattern_check(const void *buf, __u64 seed, __u64 off, size_t len)
{
	const unsigned char *b = buf;
	unsigned char exp[16384];

	for (size_t done = 0; done < len;) {
		size_t n = len - done < sizeof(exp) ? len - done : sizeof(exp);

		tl_pattern_fill(exp, seed, off + done, n);
		if (memcmp(exp, b + done, n) != 0) {
			for (size_t i = 0; i < n; i++)
				if (exp[i] != b[done + i])
					return done + i;
		}
		done += n;
	}
	return len;
}

static void hex16(char *out, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n && i < 16; i++)
		out += sprintf(out, "%02x", b[i]);
	*out = '\0';
}

/* Say what arrived at offset boff + bad instead of the pattern. */
static void describe_mismatch(const struct tl_stream *s, const unsigned char *buf, __u64 boff,
			      size_t blen, size_t bad, char *why, size_t wlen)
{
	__u64 at = boff + bad, al = (at + 7) & ~7ULL;
	unsigned char exp[16];
	size_t n = blen - bad < 16 ? blen - bad : 16;
	char got_hex[40], exp_hex[40], what[160] = "too few bytes to decode";

	if ((at & ~7ULL) >= boff && (at & ~7ULL) + 8 <= boff + blen)
		al = at & ~7ULL;
	if (al >= boff && al + 8 <= boff + blen) {
		__u64 w;

		memcpy(&w, buf + (al - boff), 8);
		w = le64toh(w) ^ s->seed;
		if (w < (s->len + 7) / 8)
			snprintf(what, sizeof(what),
				 "the word at offset %llu holds the data of offset %llu "
				 "(lost, duplicated or reordered data)",
				 (unsigned long long)al, (unsigned long long)w * 8);
		else
			snprintf(what, sizeof(what),
				 "the word at offset %llu is this stream's pattern at no offset "
				 "(corrupted, or another stream's data: cross-talk?)",
				 (unsigned long long)al);
	}
	tl_pattern_fill(exp, s->seed, at, n);
	hex16(got_hex, buf + bad, n);
	hex16(exp_hex, exp, n);
	snprintf(why, wlen, "data differs at offset %llu of %llu: got %s, expected %s; %s",
		 (unsigned long long)at, (unsigned long long)s->len, got_hex, exp_hex, what);
}

/* ------------------------------------------------------------------------ */
/* Streams                                                                  */

static const size_t write_sizes[] = {
	1, 2, 3, 7, 8, 13, 100, 511, 1000, 1448, 4095, 4096, 9000, 16384, 65535,
	65536, 65537, 131072, 262144, 524287, 1048576,
};
static const size_t read_sizes[] = {
	1048576, 1, 4096, 65536, 13, 262144, 1000, 131072, 8, 16384, 1048576,
};
#define NSIZES(a) (sizeof(a) / sizeof((a)[0]))
#define TL_READ_BUF 1048576

const char *tl_write_mode_name(enum tl_write_mode m)
{
	switch (m) {
	case TL_WRITE_SEND: return "send";
	case TL_WRITE_SENDFILE: return "sendfile";
	case TL_WRITE_SPLICE: return "splice";
	}
	return "?";
}

/*
 * How far a writer may run ahead of its reader. A TCP sender is held back by
 * the receive window; a redirecting one is held back by sockacceld's flow
 * control, which sends over TCP while the receiver holds more than
 * flow_limit (SA_FLOW_LIMIT_DEFAULT), or, without flow control, by the bound
 * that moves a connection to TCP for good past queue_limit. A quarter of
 * the flow limit plus one write stays well inside both, so a stream is
 * redirected from the first byte to the last.
 */
static __u64 default_max_ahead(void)
{
	return SA_FLOW_LIMIT_DEFAULT / 4;
}

void tl_stream_init(struct tl_stream *s, const char *name, __u64 len, enum tl_write_mode mode)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->seed = tl_seed(name);
	s->len = len;
	s->mode = mode;
	s->max_write = 1 << 20;
	s->max_ahead = default_max_ahead();
	s->shutdown = true;
	s->stall_ms = 20000;
	s->max_read = TL_READ_BUF;
	s->wfd = s->rfd = -1;
}

/* Wait until @fd is ready for @events; a wait longer than the stall
 * timeout fails, and so does an abort of the stream. */
static int stream_wait(struct tl_stream *s, int fd, short events)
{
	long long deadline = tl_now_ms() + s->stall_ms;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int r;

		if (atomic_load(&s->abort))
			return -ECANCELED;
		r = poll(&pfd, 1, 100);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (tl_now_ms() > deadline)
			return -ETIMEDOUT;
	}
}

/* A file of the stream's pattern at the stream's offsets, for sendfile. */
static int pattern_file(const struct tl_stream *s, unsigned char *buf, size_t buflen)
{
	char path[PATH_MAX];
	int fd;

	if (tl_tmp_path(path, "pattern-XXXXXX"))
		return -ENAMETOOLONG;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	for (__u64 off = 0; off < s->len;) {
		size_t n = s->len - off < buflen ? (size_t)(s->len - off) : buflen;

		tl_pattern_fill(buf, s->seed, off, n);
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n) {
			int err = -errno;

			close(fd);
			return err ? err : -EIO;
		}
		off += n;
	}
	return fd;
}

struct wstate {
	unsigned char *buf;
	int file;
	int pipe[2];
	size_t pipe_cap;
};

/* Send [off, off + n) of the pattern in s->mode. */
static int write_chunk(struct tl_stream *s, struct wstate *w, __u64 off, size_t n)
{
	size_t done = 0, in_pipe = 0, to_pipe = 0;
	int err;

	if (s->mode != TL_WRITE_SENDFILE)
		tl_pattern_fill(w->buf, s->seed, off, n);
	while (done < n) {
		ssize_t r;

		if (s->mode == TL_WRITE_SEND) {
			r = send(s->wfd, w->buf + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		} else if (s->mode == TL_WRITE_SENDFILE) {
			off_t foff = (off_t)(off + done);

			r = sendfile(s->wfd, w->file, &foff, n - done);
		} else {
			if (to_pipe < n) {
				r = write(w->pipe[1], w->buf + to_pipe, n - to_pipe);
				if (r > 0) {
					to_pipe += (size_t)r;
					in_pipe += (size_t)r;
				} else if (r < 0 && errno != EAGAIN && errno != EINTR) {
					snprintf(s->wwhy, sizeof(s->wwhy), "write to pipe: %s",
						 strerror(errno));
					return -errno;
				}
			}
			if (in_pipe == 0)
				continue;
			r = splice(w->pipe[0], NULL, s->wfd, NULL, in_pipe,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (r > 0)
				in_pipe -= (size_t)r;
		}
		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		if (r == 0) {
			snprintf(s->wwhy, sizeof(s->wwhy), "%s returned 0 at offset %llu",
				 tl_write_mode_name(s->mode), (unsigned long long)(off + done));
			return -EIO;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			err = -errno;
			snprintf(s->wwhy, sizeof(s->wwhy), "%s at offset %llu: %s",
				 tl_write_mode_name(s->mode), (unsigned long long)(off + done),
				 strerror(errno));
			return err;
		}
		err = stream_wait(s, s->wfd, POLLOUT);
		if (err) {
			snprintf(s->wwhy, sizeof(s->wwhy),
				 err == -ETIMEDOUT ? "socket not writable for %d ms at offset %llu"
						   : "stopped (%d) at offset %llu",
				 err == -ETIMEDOUT ? s->stall_ms : err,
				 (unsigned long long)(off + done));
			return err;
		}
	}
	return 0;
}

static void wait_for_partner(struct tl_stream *s);

static void *writer_main(void *arg)
{
	struct tl_stream *s = arg;
	struct wstate w = { .file = -1, .pipe = { -1, -1 } };
	__u64 off = s->start;
	size_t i = 0;
	int err = 0;

	w.buf = malloc(s->max_write);
	if (!w.buf) {
		err = -ENOMEM;
		snprintf(s->wwhy, sizeof(s->wwhy), "out of memory");
		goto cleanup;
	}
	if (s->mode == TL_WRITE_SENDFILE) {
		w.file = pattern_file(s, w.buf, s->max_write);
		if (w.file < 0) {
			err = w.file;
			snprintf(s->wwhy, sizeof(s->wwhy), "pattern file: %s", strerror(-err));
			goto cleanup;
		}
	} else if (s->mode == TL_WRITE_SPLICE) {
		if (pipe2(w.pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
			err = -errno;
			snprintf(s->wwhy, sizeof(s->wwhy), "pipe2: %s", strerror(errno));
			goto cleanup;
		}
		fcntl(w.pipe[1], F_SETPIPE_SZ, (int)s->max_write);
	}

	while (off < s->len) {
		__u64 limit = s->gated ? atomic_load(&s->credit) : s->len;
		size_t n;

		if (atomic_load(&s->abort)) {
			err = -ECANCELED;
			snprintf(s->wwhy, sizeof(s->wwhy), "stopped at offset %llu",
				 (unsigned long long)off);
			break;
		}
		if (s->max_ahead && atomic_load(&s->verified) + s->max_ahead < limit)
			limit = atomic_load(&s->verified) + s->max_ahead;
		if (limit <= off) {
			tl_sleep_ms(1);
			continue;
		}
		n = s->fixed_writes ? s->max_write : write_sizes[i++ % NSIZES(write_sizes)];
		if (n > s->max_write)
			n = s->max_write;
		if (n > limit - off)
			n = (size_t)(limit - off);
		err = write_chunk(s, &w, off, n);
		if (err)
			break;
		off += n;
		atomic_store(&s->written, off);
		if (s->pace_us)
			usleep(s->pace_us);
	}
	if (!err && s->shutdown)
		wait_for_partner(s);
	if (!err && s->shutdown && shutdown(s->wfd, SHUT_WR) < 0) {
		err = -errno;
		snprintf(s->wwhy, sizeof(s->wwhy), "shutdown(SHUT_WR): %s", strerror(errno));
	}
cleanup:
	s->werr = err;
	if (err)
		atomic_store(&s->abort, true);
	free(w.buf);
	if (w.file >= 0)
		close(w.file);
	if (w.pipe[0] >= 0)
		close(w.pipe[0]);
	if (w.pipe[1] >= 0)
		close(w.pipe[1]);
	atomic_store(&s->wdone, true);
	return NULL;
}

static void *reader_main(void *arg)
{
	struct tl_stream *s = arg;
	unsigned char *buf = malloc(TL_READ_BUF);
	long long last = tl_now_ms();
	__u64 off = 0;
	size_t i = 0;
	int err = 0;

	if (!buf) {
		err = -ENOMEM;
		snprintf(s->rwhy, sizeof(s->rwhy), "out of memory");
		goto cleanup;
	}
	/* A slow receiver: nothing is read for a while. */
	for (long long until = tl_now_ms() + s->read_delay_ms; tl_now_ms() < until;) {
		if (atomic_load(&s->abort))
			break;
		tl_sleep_ms(5);
	}
	last = tl_now_ms();
	/* Up to the last byte, then (with shutdown) EOF right after it. */
	for (;;) {
		size_t want = read_sizes[i % NSIZES(read_sizes)];
		ssize_t r;

		if (s->max_read && want > s->max_read)
			want = s->max_read;
		if (atomic_load(&s->abort)) {
			err = -ECANCELED;
			snprintf(s->rwhy, sizeof(s->rwhy), "stopped at offset %llu",
				 (unsigned long long)off);
			break;
		}
		if (off >= s->len && !s->shutdown)
			break;
		r = recv(s->rfd, buf, want, MSG_DONTWAIT);
		if (r > 0) {
			size_t mine = off >= s->len ? 0 :
				      s->len - off < (__u64)r ? (size_t)(s->len - off) : (size_t)r;
			size_t bad = tl_pattern_check(buf, s->seed, off, mine);

			i++;
			if (bad < mine) {
				err = -EILSEQ;
				describe_mismatch(s, buf, off, mine, bad, s->rwhy, sizeof(s->rwhy));
				break;
			}
			if (mine < (size_t)r) {
				err = -E2BIG;
				snprintf(s->rwhy, sizeof(s->rwhy),
					 "%zd bytes arrived after the last byte (offset %llu)",
					 r - (ssize_t)mine, (unsigned long long)s->len);
				break;
			}
			off += mine;
			atomic_store(&s->verified, off);
			last = tl_now_ms();
			if (s->read_pace_us)
				usleep(s->read_pace_us);
			continue;
		}
		if (r == 0) {
			if (off < s->len) {
				err = -EPIPE;
				snprintf(s->rwhy, sizeof(s->rwhy),
					 "EOF after %llu of %llu bytes (writer at %llu)",
					 (unsigned long long)off, (unsigned long long)s->len,
					 (unsigned long long)atomic_load(&s->written));
			}
			break;	/* EOF right after the last byte: done */
		}
		if (errno != EAGAIN && errno != EINTR) {
			err = -errno;
			snprintf(s->rwhy, sizeof(s->rwhy), "recv at offset %llu: %s",
				 (unsigned long long)off, strerror(errno));
			break;
		}
		{
			struct pollfd pfd = { .fd = s->rfd, .events = POLLIN };

			poll(&pfd, 1, 100);
		}
		/* Silence is only a stall while something is outstanding: a
		 * gated writer may be waiting for credit. */
		if (tl_now_ms() - last > s->stall_ms &&
		    (off >= s->len || atomic_load(&s->written) > off || atomic_load(&s->wdone))) {
			err = -ETIMEDOUT;
			if (off >= s->len)
				snprintf(s->rwhy, sizeof(s->rwhy),
					 "no EOF within %d ms after the last byte", s->stall_ms);
			else
				snprintf(s->rwhy, sizeof(s->rwhy),
					 "no data for %d ms at offset %llu of %llu (writer at %llu)",
					 s->stall_ms, (unsigned long long)off,
					 (unsigned long long)s->len,
					 (unsigned long long)atomic_load(&s->written));
			break;
		}
	}
cleanup:
	s->rerr = err;
	if (err)
		atomic_store(&s->abort, true);
	free(buf);
	atomic_store(&s->rdone, true);
	return NULL;
}

/*
 * Streams running both ways on one connection: a half-close moves the
 * connection to TCP (the half-close guard), so a writer that finishes first
 * waits for the other direction's writer before its shutdown(SHUT_WR), and
 * both streams are redirected to their last byte, as tests expect.
 */
#define TL_STREAMS_MAX 64
static struct tl_stream *running_streams[TL_STREAMS_MAX];
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;

static void stream_register(struct tl_stream *s, bool on)
{
	pthread_mutex_lock(&running_lock);
	for (unsigned int i = 0; i < TL_STREAMS_MAX; i++) {
		if (on && !running_streams[i]) {
			running_streams[i] = s;
			break;
		}
		if (!on && running_streams[i] == s)
			running_streams[i] = NULL;
	}
	pthread_mutex_unlock(&running_lock);
}

static void wait_for_partner(struct tl_stream *s)
{
	long long end = tl_now_ms() + (s->stall_ms > 0 ? s->stall_ms : 20000);
	struct tl_stream *p = NULL;

	pthread_mutex_lock(&running_lock);
	for (unsigned int i = 0; i < TL_STREAMS_MAX && !p; i++)
		if (running_streams[i] && running_streams[i] != s &&
		    running_streams[i]->wfd == s->rfd && running_streams[i]->rfd == s->wfd)
			p = running_streams[i];
	pthread_mutex_unlock(&running_lock);
	/* a partner stays registered until joined or stopped, after this */
	while (p && atomic_load(&p->written) < p->len && !atomic_load(&p->abort) &&
	       !atomic_load(&s->abort) && tl_now_ms() < end)
		tl_sleep_ms(1);
}

int tl_stream_start(struct tl_stream *s, int wfd, int rfd)
{
	int err;

	s->wfd = wfd;
	s->rfd = rfd;
	atomic_store(&s->written, s->start);
	atomic_store(&s->verified, 0);
	atomic_store(&s->abort, false);
	atomic_store(&s->wdone, false);
	atomic_store(&s->rdone, false);
	if (!s->gated)
		atomic_store(&s->credit, s->len);
	s->werr = s->rerr = 0;
	s->wwhy[0] = s->rwhy[0] = '\0';
	err = -pthread_create(&s->rthread, NULL, reader_main, s);
	if (err)
		return err;
	err = -pthread_create(&s->wthread, NULL, writer_main, s);
	if (err) {
		atomic_store(&s->abort, true);
		pthread_join(s->rthread, NULL);
		return err;
	}
	s->started = true;
	stream_register(s, true);
	tl_log("stream %s: %llu bytes via %s%s", s->name,
	       (unsigned long long)(s->len - s->start), tl_write_mode_name(s->mode),
	       s->gated ? ", gated" : "");
	return 0;
}

void tl_stream_allow(struct tl_stream *s, __u64 upto)
{
	if (upto > s->len)
		upto = s->len;
	if (upto > atomic_load(&s->credit))
		atomic_store(&s->credit, upto);
}

static void stream_report(const struct tl_stream *s)
{
	if (s->werr && s->werr != -ECANCELED)
		tl_log("stream %s: writer: %s", s->name, s->wwhy);
	if (s->rerr && s->rerr != -ECANCELED)
		tl_log("stream %s: reader: %s", s->name, s->rwhy);
}

int tl_stream_wait_verified(struct tl_stream *s, __u64 upto, int timeout_ms)
{
	long long deadline = tl_now_ms() + timeout_ms;

	while (atomic_load(&s->verified) < upto) {
		if (atomic_load(&s->abort)) {
			stream_report(s);
			return -EIO;
		}
		if (tl_now_ms() > deadline) {
			tl_log("stream %s: %llu of %llu bytes verified after %d ms (writer at %llu)",
			       s->name, (unsigned long long)atomic_load(&s->verified),
			       (unsigned long long)upto, timeout_ms,
			       (unsigned long long)atomic_load(&s->written));
			return -ETIMEDOUT;
		}
		tl_sleep_ms(2);
	}
	return 0;
}

int tl_stream_join(struct tl_stream *s, int timeout_ms)
{
	long long deadline = tl_now_ms() + timeout_ms;
	bool timed_out = false;

	if (!s->started)
		return -EINVAL;
	while (!(atomic_load(&s->wdone) && atomic_load(&s->rdone))) {
		if (tl_now_ms() > deadline) {
			timed_out = true;
			tl_log("stream %s: not done after %d ms (written %llu, verified %llu of %llu)",
			       s->name, timeout_ms, (unsigned long long)atomic_load(&s->written),
			       (unsigned long long)atomic_load(&s->verified),
			       (unsigned long long)s->len);
			atomic_store(&s->abort, true);
			break;
		}
		tl_sleep_ms(2);
	}
	pthread_join(s->wthread, NULL);
	pthread_join(s->rthread, NULL);
	stream_register(s, false);
	s->started = false;
	stream_report(s);
	if (timed_out)
		return -ETIMEDOUT;
	/* the side that failed first; the other one was only stopped */
	if (s->rerr && s->rerr != -ECANCELED)
		return s->rerr;
	if (s->werr)
		return s->werr;
	if (s->rerr)
		return s->rerr;
	tl_log("stream %s: %llu bytes byte-exact%s", s->name, (unsigned long long)s->len,
	       s->shutdown ? ", EOF after the last byte" : "");
	return 0;
}

void tl_stream_stop(struct tl_stream *s)
{
	if (!s || !s->started)
		return;
	atomic_store(&s->abort, true);
	pthread_join(s->wthread, NULL);
	pthread_join(s->rthread, NULL);
	stream_register(s, false);
	s->started = false;
}

/* ------------------------------------------------------------------------ */
/* Acceleration proofs                                                      */

int tl_pin_open(const char *name)
{
	char path[PATH_MAX];
	int fd;

	if (tl_pin_path(path, name))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

int tl_pins_open(struct tl_pins *p)
{
	p->sock_hash = tl_pin_open(SA_PIN_SOCK_HASH);
	if (p->sock_hash < 0)
		return p->sock_hash;
	p->counters = tl_pin_open(SA_PIN_COUNTERS);
	if (p->counters < 0) {
		int err = p->counters;

		close(p->sock_hash);
		p->sock_hash = -1;
		return err;
	}
	return 0;
}

void tl_pins_close(struct tl_pins *p)
{
	if (!p)
		return;
	if (p->sock_hash >= 0)
		close(p->sock_hash);
	if (p->counters >= 0)
		close(p->counters);
	p->sock_hash = p->counters = -1;
}

int tl_sock_map_state(int map_fd, int fd)
{
	struct sa_sock_key k;
	__u64 val = 0, cookie = 0;
	socklen_t cl = sizeof(cookie);
	int err;

	err = sa_key_of_socket(fd, &k);
	if (err)
		return err;
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &cl) < 0)
		return -errno;
	if (bpf_map_lookup_elem(map_fd, &k, &val) < 0)
		return errno == ENOENT ? TL_NOT_IN_MAP : -errno;
	return val == cookie ? TL_IN_MAP : TL_IN_MAP_OTHER;
}

const char *tl_map_state_name(int state)
{
	switch (state) {
	case TL_NOT_IN_MAP: return "not in the map";
	case TL_IN_MAP: return "in the map";
	case TL_IN_MAP_OTHER: return "key in the map with another socket's cookie";
	}
	return strerror(-state);
}

int tl_map_count(int map_fd, __u32 *n)
{
	struct sa_sock_key k, next;
	void *prev = NULL;

	*n = 0;
	while (bpf_map_get_next_key(map_fd, prev, &next) == 0) {
		(*n)++;
		k = next;
		prev = &k;
		if (*n > SA_MAX_CONNS_MAX)
			return -ELOOP;
	}
	return errno == ENOENT ? 0 : -errno;
}

int tl_counters(const struct tl_pins *p, __u64 c[SA_CNT_MAX])
{
	return sa_counters_read(p->counters, c);
}

void tl_counters_log(const char *label, const __u64 c[SA_CNT_MAX])
{
	char line[1024];
	size_t n = 0;

	line[0] = '\0';
	for (int i = 0; i < SA_CNT_MAX && n < sizeof(line); i++)
		if (c[i])
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%llu",
					      sa_counter_descs[i].name, (unsigned long long)c[i]);
	tl_log("counters %s:%s", label, n ? line : " all zero");
}

int tl_tcp_bytes(int fd, struct tl_tcp_bytes *b)
{
	struct tcp_info ti = {};
	socklen_t len = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -errno;
	if (len < offsetof(struct tcp_info, tcpi_bytes_sent) + sizeof(ti.tcpi_bytes_sent))
		return -EOPNOTSUPP;
	b->sent = ti.tcpi_bytes_sent;
	b->acked = ti.tcpi_bytes_acked;
	b->received = ti.tcpi_bytes_received;
	b->options = ti.tcpi_options;
	return 0;
}

int tl_cgroup_prog_count(enum bpf_attach_type type, __u32 *cnt)
{
	__u32 ids[64], flags = 0;
	int err;

	*cnt = sizeof(ids) / sizeof(ids[0]);
	err = bpf_prog_query(tl_env.cgroup_fd, type, 0, &flags, ids, cnt);
	return err < 0 ? -errno : 0;
}

int tl_map_prog_count(int map_fd, enum bpf_attach_type type, __u32 *cnt)
{
	__u32 ids[64], flags = 0;
	int err;

	*cnt = sizeof(ids) / sizeof(ids[0]);
	err = bpf_prog_query(map_fd, type, 0, &flags, ids, cnt);
	return err < 0 ? -errno : 0;
}

/*
 * A link whose last reference was a bpffs pin is released from a workqueue
 * (bpf_link_put() defers the free), so the program leaves the cgroup or map a
 * little after unlink() returns: poll instead of asserting at once.
 */
static int wait_detached(int map_fd, enum bpf_attach_type type, bool cgroup, __u32 *cnt,
			 int timeout_ms)
{
	long long t0 = tl_now_ms();
	bool gone = TL_WAIT_FOR((cgroup ? tl_cgroup_prog_count(type, cnt)
					: tl_map_prog_count(map_fd, type, cnt)) == 0 && *cnt == 0,
				timeout_ms);

	if (gone && tl_now_ms() - t0 > 0)
		tl_log("%s detached after %lld ms", cgroup ? "sockops" : "sk_msg", tl_now_ms() - t0);
	return gone ? 0 : -ETIMEDOUT;
}

int tl_wait_cgroup_detached(__u32 *cnt, int timeout_ms)
{
	return wait_detached(-1, BPF_CGROUP_SOCK_OPS, true, cnt, timeout_ms);
}

int tl_wait_map_detached(int map_fd, __u32 *cnt, int timeout_ms)
{
	return wait_detached(map_fd, BPF_SK_MSG_VERDICT, false, cnt, timeout_ms);
}

int tl_pin_id(const char *name, __u32 *id)
{
	const struct sa_pin_desc *d = sa_pin_lookup(name);
	union {
		struct bpf_map_info map;
		struct bpf_prog_info prog;
		struct bpf_link_info link;
	} info;
	__u32 len;
	int fd, err = 0;

	if (!d)
		return -EINVAL;
	fd = tl_pin_open(name);
	if (fd < 0)
		return fd;
	memset(&info, 0, sizeof(info));
	len = d->kind == SA_PIN_MAP ? sizeof(info.map) :
	      d->kind == SA_PIN_PROG ? sizeof(info.prog) : sizeof(info.link);
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		err = -errno;
	else
		*id = d->kind == SA_PIN_MAP ? info.map.id :
		      d->kind == SA_PIN_PROG ? info.prog.id : info.link.id;
	close(fd);
	return err;
}

int tl_pin_link_prog_id(const char *name, __u32 *prog_id)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd, err = 0;

	fd = tl_pin_open(name);
	if (fd < 0)
		return fd;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		err = -errno;
	else
		*prog_id = info.prog_id;
	close(fd);
	return err;
}

bool tl_map_id_exists(__u32 id)
{
	int fd = bpf_map_get_fd_by_id(id);

	if (fd >= 0) {
		close(fd);
		return true;
	}
	return errno != ENOENT;
}

int tl_map_id_wait_gone(__u32 id, int timeout_ms)
{
	return TL_WAIT_FOR(!tl_map_id_exists(id), timeout_ms) ? 0 : -ETIMEDOUT;
}

int tl_fastpath_read(struct tl_fastpath *f)
{
	struct tl_pins p = TL_PINS_INIT;
	struct bpf_map_info mi = {};
	struct sa_layout layout = {};
	__u32 len = sizeof(mi), zero = 0;
	int err, lfd;

	memset(f, 0, sizeof(*f));
	err = tl_pins_open(&p);
	if (err) {
		tl_log("opening the pinned maps in %s: %s", tl_env.pin_dir, strerror(-err));
		return err;
	}
	if (bpf_obj_get_info_by_fd(p.sock_hash, &mi, &len) < 0) {
		err = -errno;
		goto cleanup;
	}
	f->map_id = mi.id;
	f->max_entries = mi.max_entries;
	/* how sk_msg is attached: a link (kernel >= 6.10) or legacy */
	lfd = tl_pin_open(SA_PIN_LAYOUT);
	if (lfd < 0) {
		err = lfd;
		goto cleanup;
	}
	if (bpf_map_lookup_elem(lfd, &zero, &layout) < 0)
		err = -errno;
	close(lfd);
	if (err)
		goto cleanup;
	f->msg_attach = layout.msg_attach;

	err = tl_counters(&p, f->cnt);
	if (!err)
		err = tl_pin_id(SA_PIN_LINK_SOCKOPS, &f->link_sockops);
	if (!err)
		err = tl_pin_link_prog_id(SA_PIN_LINK_SOCKOPS, &f->prog_sockops);
	if (!err && f->msg_attach == SA_MSG_ATTACH_LINK) {
		err = tl_pin_id(SA_PIN_LINK_MSG, &f->link_msg);
		if (!err)
			err = tl_pin_link_prog_id(SA_PIN_LINK_MSG, &f->prog_msg);
	} else if (!err) {
		err = tl_pin_id(SA_PIN_PROG_MSG, &f->prog_msg);
	}
	if (!err)
		err = tl_cgroup_prog_count(BPF_CGROUP_SOCK_OPS, &f->cg_progs);
	if (!err)
		err = tl_map_prog_count(p.sock_hash, BPF_SK_MSG_VERDICT, &f->msg_progs);
cleanup:
	if (err)
		tl_log("reading the pinned fast path: %s", strerror(-err));
	tl_pins_close(&p);
	return err;
}

void tl_fastpath_log(const char *label, const struct tl_fastpath *f)
{
	tl_log("fast path %s: sock_hash id %u (max %u); link_sockops %u -> prog %u; "
	       "sk_msg prog %u (%s %u); %u sockops prog(s) on the cgroup, %u sk_msg prog(s) "
	       "on the map; msgs_redirected %llu", label, f->map_id, f->max_entries,
	       f->link_sockops, f->prog_sockops, f->prog_msg,
	       f->msg_attach == SA_MSG_ATTACH_LINK ? "link" : "legacy attach, layout",
	       f->msg_attach == SA_MSG_ATTACH_LINK ? f->link_msg : f->msg_attach,
	       f->cg_progs, f->msg_progs, (unsigned long long)f->cnt[SA_CNT_MSG_REDIRECTED]);
}

/* ------------------------------------------------------------------------ */
/* sockacceld                                                               */

const char *tl_daemon_path(void)
{
	const char *e = getenv("SOCKACCELD");

	return e && e[0] ? e : SOCKACCELD_PATH;
}

static int daemon_spawn(struct tl_daemon *d, const char *const *wrapper, const char *const *args,
			unsigned int flags)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *argv[64];
	char **envp = NULL, notify_env[128], cmdline[1024], name[96];
	int argc = 0, nenv = 0, out = -1, errf = -1, devnull = -1, err = 0;
	size_t cl = 0, nl;
	pid_t pid;

	memset(d, 0, sizeof(*d));
	d->pid = -1;
	d->pidfd = -1;
	d->id = ++st.ndaemons;
	if (tl_pathf(d->err_path, "%s/daemon-%d.err", tl_env.tmp, d->id) ||
	    tl_pathf(d->out_path, "%s/daemon-%d.out", tl_env.tmp, d->id))
		return -ENAMETOOLONG;

	/* Our own NOTIFY_SOCKET, abstract: "@sockaccel-test-<pid>-<id>" */
	snprintf(name, sizeof(name), "sockaccel-test-%d-%d", (int)getpid(), d->id);
	nl = strlen(name);
	memcpy(sun.sun_path + 1, name, nl);
	d->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (d->notify_fd < 0)
		return -errno;
	if (bind(d->notify_fd, (struct sockaddr *)&sun,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + nl)) < 0) {
		err = -errno;
		goto cleanup;
	}
	snprintf(notify_env, sizeof(notify_env), "NOTIFY_SOCKET=@%s", name);

	for (int i = 0; wrapper && wrapper[i] && argc < 32; i++)
		argv[argc++] = wrapper[i];
	argv[argc++] = tl_daemon_path();
	if (!(flags & TL_D_NO_CONFIG)) {
		argv[argc++] = "--config";
		argv[argc++] = tl_env.config;
	}
	if (!(flags & TL_D_RAW_ARGS)) {
		argv[argc++] = "--cgroup";
		argv[argc++] = tl_env.cgroup;
		argv[argc++] = "--pin-dir";
		argv[argc++] = tl_env.pin_dir;
	}
	if (!(flags & TL_D_QUIET))
		argv[argc++] = "--verbose";
	for (int i = 0; args && args[i]; i++) {
		if (argc >= (int)(sizeof(argv) / sizeof(argv[0])) - 1) {
			err = -E2BIG;
			goto cleanup;
		}
		argv[argc++] = args[i];
	}
	argv[argc] = NULL;
	cmdline[0] = '\0';
	for (int i = 0; i < argc && cl < sizeof(cmdline); i++)
		cl += (size_t)snprintf(cmdline + cl, sizeof(cmdline) - cl, "%s%s", i ? " " : "",
				       argv[i]);

	/* Everything the child needs exists before fork(): it must not
	 * allocate (other threads may hold malloc's or stdio's locks). */
	for (char **e = environ; *e; e++)
		nenv++;
	envp = calloc((size_t)nenv + 2, sizeof(*envp));
	if (!envp) {
		err = -ENOMEM;
		goto cleanup;
	}
	nenv = 0;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "NOTIFY_SOCKET=", 14) != 0)
			envp[nenv++] = *e;
	envp[nenv++] = notify_env;
	envp[nenv] = NULL;
	out = open(d->out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	errf = open(d->err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (out < 0 || errf < 0 || devnull < 0) {
		err = -errno;
		goto cleanup;
	}

	pid = spawn((char *const *)argv, envp, devnull, out, errf);
	if (pid < 0) {
		err = (int)pid;
		goto cleanup;
	}
	d->pid = pid;
	d->pidfd = pidfd_of(pid);
	tl_log("sockacceld #%d (pid %d): %s", d->id, (int)pid, cmdline);
cleanup:
	free(envp);
	if (out >= 0)
		close(out);
	if (errf >= 0)
		close(errf);
	if (devnull >= 0)
		close(devnull);
	if (err && d->notify_fd >= 0) {
		close(d->notify_fd);
		d->notify_fd = -1;
	}
	return err;
}

int tl_daemon_start(struct tl_daemon *d, const char *const *args, unsigned int flags)
{
	return daemon_spawn(d, NULL, args, flags);
}

int tl_daemon_start_wrapped(struct tl_daemon *d, const char *const *wrapper,
			    const char *const *args, unsigned int flags)
{
	return daemon_spawn(d, wrapper, args, flags);
}

void tl_daemon_poll(struct tl_daemon *d)
{
	char buf[4096], sbuf[96];
	ssize_t n;
	int status;

	while (d->notify_fd >= 0) {
		char *save = NULL;

		n = recv(d->notify_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n < 0)
			break;
		buf[n] = '\0';
		for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			if (strcmp(l, "READY=1") == 0 && !d->ready) {
				d->ready = true;
				tl_log("sockacceld #%d (pid %d): READY=1", d->id, (int)d->pid);
			} else if (strncmp(l, "READY=", 6) != 0) {
				tl_log("sockacceld #%d notify: %s", d->id, l);
			}
		}
	}
	if (!d->exited && d->pid > 0 && waitpid(d->pid, &status, WNOHANG) == d->pid) {
		d->exited = true;
		d->status = status;
		tl_untrack_pid(d->pid);
		tl_log("sockacceld #%d (pid %d) %s", d->id, (int)d->pid,
		       tl_status_str(status, sbuf, sizeof(sbuf)));
	}
}

static int daemon_wait(struct tl_daemon *d, bool for_ready, int timeout_ms)
{
	long long deadline = tl_now_ms() + timeout_ms;

	if (d->pid <= 0)
		return -ECHILD;
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = d->notify_fd, .events = POLLIN },
			{ .fd = d->pidfd, .events = POLLIN },
		};
		long long left;

		tl_daemon_poll(d);
		if (for_ready && d->ready)
			return 0;
		if (d->exited)
			return for_ready ? -ECHILD : 0;
		left = deadline - tl_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		if (d->pidfd >= 0)
			poll(pfd, 2, (int)(left < 200 ? left : 200));
		else
			tl_sleep_ms(5);
	}
}

int tl_daemon_wait_ready(struct tl_daemon *d, int timeout_ms)
{
	int err = daemon_wait(d, true, timeout_ms);

	if (err == -ETIMEDOUT)
		tl_log("sockacceld #%d: no READY=1 within %d ms", d->id, timeout_ms);
	else if (err == -ECHILD)
		tl_log("sockacceld #%d exited before READY=1", d->id);
	if (err)
		tl_daemon_dump(d);
	return err;
}

int tl_daemon_start_ready(struct tl_daemon *d, const char *const *args, unsigned int flags)
{
	int err = tl_daemon_start(d, args, flags);

	return err ? err : tl_daemon_wait_ready(d, TL_READY_MS);
}

int tl_daemon_wait_exit(struct tl_daemon *d, int timeout_ms)
{
	return daemon_wait(d, false, timeout_ms);
}

int tl_daemon_stop(struct tl_daemon *d, int sig, int timeout_ms)
{
	int err;

	if (d->pid <= 0)
		return -ECHILD;
	tl_daemon_poll(d);
	if (d->exited)
		return 0;
	if (kill(d->pid, sig) < 0)
		return -errno;
	err = tl_daemon_wait_exit(d, timeout_ms);
	if (err == -ETIMEDOUT) {
		tl_log("sockacceld #%d (pid %d) still running %d ms after signal %d; SIGKILL",
		       d->id, (int)d->pid, timeout_ms, sig);
		tl_daemon_dump(d);
		kill(d->pid, SIGKILL);
		tl_daemon_wait_exit(d, 5000);
		return -ETIMEDOUT;
	}
	return err;
}

/* The whole file, NUL-terminated; *@len (if not NULL) gets its length,
 * which counts any NUL bytes inside it. */
static char *read_file_len(const char *path, size_t *len)
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

static char *read_file(const char *path)
{
	return read_file_len(path, NULL);
}

bool tl_daemon_output_contains(const struct tl_daemon *d, const char *needle)
{
	const char *paths[] = { d->err_path, d->out_path };
	bool found = false;

	for (int i = 0; i < 2 && !found; i++) {
		size_t len = 0;
		char *text = read_file_len(paths[i], &len);

		found = text && memmem(text, len, needle, strlen(needle));
		free(text);
	}
	return found;
}

void tl_daemon_dump(const struct tl_daemon *d)
{
	pthread_mutex_lock(&st.log_lock);
	fflush(stderr);
	ss_dump_file(d->out_path);
	ss_dump_file(d->err_path);
	pthread_mutex_unlock(&st.log_lock);
}

void tl_daemon_release(struct tl_daemon *d)
{
	if (!d)
		return;
	if (d->pid > 0 && !d->exited) {
		kill(d->pid, SIGKILL);
		tl_daemon_wait_exit(d, 5000);
	}
	if (d->pidfd >= 0)
		close(d->pidfd);
	if (d->notify_fd >= 0)
		close(d->notify_fd);
	d->pidfd = d->notify_fd = -1;
	d->pid = -1;
}

/* ------------------------------------------------------------------------ */
/* Memory, fallback, commands, resources                                    */

int tl_sock_rmem(int fd, __u32 *rmem_alloc, __u32 *rcvbuf)
{
	__u32 mi[SK_MEMINFO_VARS] = {};
	socklen_t len = sizeof(mi);

	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &len) < 0)
		return -errno;
	if (len < (SK_MEMINFO_RCVBUF + 1) * sizeof(__u32))
		return -EOPNOTSUPP;
	if (rmem_alloc)
		*rmem_alloc = mi[SK_MEMINFO_RMEM_ALLOC];
	if (rcvbuf)
		*rcvbuf = mi[SK_MEMINFO_RCVBUF];
	return 0;
}

/* Marked in its own storage, or by its peer in "marks" (until it next
 * sends or gets an ACK, when the mark moves to its storage). */
int tl_sock_fallback(int fd)
{
	struct sa_sk_state v = {};
	struct sa_sock_key key;
	int map = tl_pin_open(SA_PIN_SK_STATE), marks, err;
	__u32 mark;

	if (map < 0)
		return map;
	if (bpf_map_lookup_elem(map, &fd, &v) < 0)
		err = errno == ENOENT ? 0 : -errno;
	else
		err = v.fallback ? 1 : 0;
	close(map);
	if (err)
		return err;
	err = sa_key_of_socket(fd, &key);
	if (err)
		return err;
	marks = tl_pin_open(SA_PIN_MARKS);
	if (marks < 0)
		return marks;
	if (bpf_map_lookup_elem(marks, &key, &mark) < 0)
		err = errno == ENOENT ? 0 : -errno;
	else
		err = mark ? 1 : 0;
	close(marks);
	return err;
}

int tl_tcp_mem_pages(long *pages)
{
	char line[256];
	FILE *f = fopen("/proc/net/sockstat", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		const char *m;

		if (strncmp(line, "TCP:", 4) != 0 || !(m = strstr(line, " mem ")))
			continue;
		*pages = strtol(m + 5, NULL, 10);
		err = 0;
	}
	fclose(f);
	return err;
}

const char *tl_ctl_path(void)
{
	static char path[PATH_MAX];
	const char *e = getenv("SOCKACCELCTL");
	char *slash;

	if (e && e[0])
		return e;
	/* both binaries are built into <build>/daemon */
	snprintf(path, sizeof(path), "%s", SOCKACCELD_PATH);
	slash = strrchr(path, '/');
	if (!slash)
		return "sockaccelctl";
	snprintf(slash + 1, sizeof(path) - (size_t)(slash + 1 - path), "sockaccelctl");
	return path;
}

int tl_bpf_object_path(char *buf, const char *name)
{
	char dir[PATH_MAX], *slash;
	const char *e = getenv("SA_BPF_DIR");

	if (e && e[0])
		return tl_pathf(buf, "%s/%s", e, name);
	/* <build>/daemon/sockacceld -> <build>/bpf/<name> */
	snprintf(dir, sizeof(dir), "%s", SOCKACCELD_PATH);
	for (int i = 0; i < 2; i++) {
		slash = strrchr(dir, '/');
		if (!slash)
			return -ENOENT;
		*slash = '\0';
	}
	return tl_pathf(buf, "%s/bpf/%s", dir, name);
}

int tl_daemon_start_variant(struct tl_daemon *d, const char *refuse, const char *variant)
{
	char want[128];
	int err;

	if (refuse)
		setenv(SA_TEST_REFUSE_ENV, refuse, 1);
	err = tl_daemon_start_ready(d, NULL, 0);
	unsetenv(SA_TEST_REFUSE_ENV);
	if (err)
		return err;
	snprintf(want, sizeof(want), "variant %s", variant);
	if (!tl_daemon_output_contains(d, want)) {
		tl_log("FAIL sockacceld (refusing '%s') did not report '%s'", refuse ? refuse : "",
		       want);
		return -1;
	}
	return 0;
}

bool tl_daemon_has_feature(const struct tl_daemon *d, const char *feature)
{
	char variant[256], *save = NULL;

	if (tl_daemon_variant(d, variant, sizeof(variant)))
		return false;
	/* whole names: "demote" is not "demote_read" */
	for (char *f = strtok_r(variant, "+", &save); f; f = strtok_r(NULL, "+", &save))
		if (strcmp(f, feature) == 0)
			return true;
	return false;
}

int tl_daemon_variant(const struct tl_daemon *d, char *buf, size_t len)
{
	char *text = read_file(d->err_path), *save = NULL;
	int err = -ENOENT;

	if (!text)
		return -errno;
	/* "sockacceld: ready: ...; variant base+...; queue limit ..." */
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		const char *v = strstr(l, "ready: ") ? strstr(l, "; variant ") : NULL;

		if (v) {
			v += strlen("; variant ");
			snprintf(buf, len, "%.*s", (int)strcspn(v, "; \t"), v);
			err = 0;
		}
	}
	free(text);
	return err;
}

int tl_config_write(const char *text)
{
	FILE *f = fopen(tl_env.config, "we");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		err = -EIO;
	if (fclose(f) != 0 && !err)
		err = -errno;
	if (!err)
		tl_log("config %s: %s", tl_env.config, text);
	return err;
}

int tl_proc_usage(pid_t pid, long *rss_kb, int *nfds)
{
	char path[64], line[256];
	struct tl_dirent64 *de;
	char buf[4096];
	FILE *f;
	long n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	*rss_kb = -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			*rss_kb = strtol(line + 6, NULL, 10);
	fclose(f);
	if (*rss_kb < 0)
		return -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*nfds = 0;
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long pos = 0; pos < n; pos += de->d_reclen) {
			de = (struct tl_dirent64 *)(buf + pos);
			if (de->d_name[0] != '.')
				(*nfds)++;
		}
	}
	close(fd);
	return n < 0 ? -errno : 0;
}

int tl_run_capture(char *const argv[], int timeout_ms, int *status, char **out, char **err)
{
	static atomic_int seq;
	char opath[PATH_MAX], epath[PATH_MAX];
	int n = atomic_fetch_add(&seq, 1), ofd = -1, efd = -1, ret;
	pid_t pid;

	*out = *err = NULL;
	if (tl_pathf(opath, "%s/cmd-%d-%d.out", tl_env.tmp, (int)getpid(), n) ||
	    tl_pathf(epath, "%s/cmd-%d-%d.err", tl_env.tmp, (int)getpid(), n))
		return -ENAMETOOLONG;
	ofd = open(opath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	efd = open(epath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (ofd < 0 || efd < 0) {
		ret = -errno;
		goto cleanup;
	}

	pid = spawn(argv, NULL, -1, ofd, efd);
	if (pid < 0) {
		ret = (int)pid;
		goto cleanup;
	}
	ret = reap(argv[0], pid, timeout_ms, status);
	*out = read_file(opath);
	*err = read_file(epath);
	if (!*out || !*err) {
		free(*out);
		free(*err);
		*out = *err = NULL;
		if (!ret)
			ret = -ENOMEM;
	}
cleanup:
	if (ofd >= 0)
		close(ofd);
	if (efd >= 0)
		close(efd);
	unlink(opath);
	unlink(epath);
	return ret;
}

int tl_counter_slot(const struct tl_pins *p, unsigned int slot, __u64 *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	struct sa_counters *percpu;
	size_t len;
	__u32 zero = 0;
	int err = 0;

	if (ncpu < 0)
		return ncpu;
	if (slot >= SA_COUNTERS_CAP)
		return -EINVAL;
	/* mmap, not malloc: forked test children call this, and a child of a
	 * threaded parent must not allocate (ASan's allocator deadlocked in one) */
	len = (size_t)ncpu * sizeof(*percpu);
	percpu = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (percpu == MAP_FAILED)
		return -errno;
	if (bpf_map_lookup_elem(p->counters, &zero, percpu) < 0) {
		err = -errno;
		goto cleanup;
	}
	*sum = 0;
	for (int cpu = 0; cpu < ncpu; cpu++)
		*sum += percpu[cpu].c[slot];
cleanup:
	munmap(percpu, len);
	return err;
}

int tl_pin_prog_tag(const char *name, __u8 tag[BPF_TAG_SIZE], __u32 *id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd = tl_pin_open(name), err = 0;

	if (fd < 0)
		return fd;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) {
		err = -errno;
	} else {
		memcpy(tag, info.tag, BPF_TAG_SIZE);
		if (id)
			*id = info.id;
	}
	close(fd);
	return err;
}

int tl_daemon_log_lines(const struct tl_daemon *d, const char *needle)
{
	char *text = read_file(d->err_path), *save = NULL;
	int n = 0;

	if (!text)
		return -errno;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strstr(l, needle)) {
			tl_log("sockacceld #%d said: %s", d->id, l);
			n++;
		}
	}
	free(text);
	return n;
}

bool tl_new_conn_accelerated(const char *label, enum tl_family family, __u64 len,
			     enum tl_write_mode mode)
{
	struct tl_pair_opts o = { .family = family };
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_stream s;
	struct tl_tcp_bytes cb;
	bool ok = false;

	tl_stream_init(&s, label, len, mode);
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash");
	ASSERT_OK(tl_pair_make(&p, &o), "tl_pair_make");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, p.client), TL_IN_MAP,
		  "new client in sock_hash");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, p.server), TL_IN_MAP,
		  "new server in sock_hash");
	ASSERT_OK(tl_stream_start(&s, p.client, p.server), "start stream");
	ASSERT_OK(tl_stream_join(&s, 60000), "the new connection's stream byte-exact");
	ASSERT_OK(tl_tcp_bytes(p.client, &cb), "TCP_INFO");
	ASSERT_LE(cb.sent, TL_BYPASS_MAX(s.len), "the new connection bypassed TCP");
	ok = true;
cleanup:
	tl_stream_stop(&s);
	tl_pair_close(&p);
	tl_pins_close(&pins);
	return ok;
}

/*
 * No allocation: forked test children call this, and a child of a threaded
 * parent must not allocate (ASan's allocator is not fork-safe: a forked
 * child hung in malloc). The pattern is made and checked 64 KiB at a time,
 * at its offset, so an exchange of up to 64 KiB is one send().
 */
int tl_xfer(int fd, bool sending, __u64 seed, size_t len, int timeout_ms)
{
	long long deadline = tl_now_ms() + timeout_ms;
	static __thread unsigned char buf[65536];
	size_t done = 0, pos = 0, have = 0;	/* sending: buf[pos..pos+have) to send */

	while (done < len) {
		size_t chunk = len - done < sizeof(buf) ? len - done : sizeof(buf);
		ssize_t n;

		if (sending && !have) {
			tl_pattern_fill(buf, seed, done, chunk);
			pos = 0;
			have = chunk;
		}
		n = sending ? send(fd, buf + pos, have, MSG_NOSIGNAL) :
			      recv(fd, buf, chunk, 0);
		if (n > 0) {
			if (!sending && tl_pattern_check(buf, seed, done, (size_t)n) != (size_t)n)
				return -EILSEQ;
			if (sending) {
				pos += (size_t)n;
				have -= (size_t)n;
			}
			done += (size_t)n;
			continue;
		}
		if (n == 0)
			return -EPIPE;
		/* EAGAIN: the socket's timeout, or tcp_bpf's spurious one
		 * (docs/kernel-behaviours.md): retry until our own deadline */
		if ((errno != EAGAIN && errno != EINTR) || tl_now_ms() > deadline)
			return -errno;
	}
	return 0;
}
