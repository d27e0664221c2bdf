// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Integration test helpers: Cleanup, async-signal-safe: it also runs from signal handlers. See testlib.h. */
#include <dirent.h>

#include "testlib_priv.h"

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

/* Remove the cgroups a test made under its own (a pod's, say): rmdir is
 * the only removal a cgroup has, and they are empty once cgroup.kill of the
 * parent has done its work. One level is all tests make. */
static void ss_rmdir_children(const char *cgroup)
{
	char buf[4096];
	int fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long n;

	if (fd < 0)
		return;
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long pos = 0; pos < n;) {
			struct tl_dirent64 *de = (struct tl_dirent64 *)(buf + pos);

			pos += de->d_reclen;
			if (de->d_type == DT_DIR && strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0)
				unlinkat(fd, de->d_name, AT_REMOVEDIR);
		}
	}
	close(fd);
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

void tl_ss_dump_file(const char *path)
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
void tl_cleanup_all(void)
{
	char path[PATH_MAX + 32], line[256], *p;
	int fd;

	if (!tl_st.owner || getpid() != tl_st.owner)
		return;
	if (atomic_exchange(&tl_st.cleaning, 1))
		return;
	alarm(60);	/* the cleanup's own budget; see on_signal() */

	/* 1. Our processes: daemons, children, commands. */
	for (int i = 0; i < TL_MAX_PIDS; i++)
		if (tl_st.pids[i] > 0)
			kill(tl_st.pids[i], SIGKILL);
	for (int i = 0; i < TL_MAX_PIDS; i++) {
		if (tl_st.pids[i] > 0 && !ss_reap(tl_st.pids[i], 5000, NULL)) {
			p = ss_cat(line, "cleanup: pid ");
			p = ss_num(p, tl_st.pids[i]);
			ss_cat(p, " did not die\n");
			ss_puts(line);
		}
		tl_st.pids[i] = 0;
	}

	/* 2. The cgroup: kill whatever is left in it, then remove it. */
	if (tl_st.cgroup_made) {
		bool empty = false;

		fd = open(tl_st.cg_kill, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "1", 1) < 0)
				ss_puts("cleanup: writing cgroup.kill failed\n");
			close(fd);
		}
		for (int i = 0; i < 500 && !empty; i++) {
			ssize_t n;

			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			fd = open(tl_st.cg_events, O_RDONLY | O_CLOEXEC);
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
			ss_rmdir_children(tl_env.cgroup);
			if (rmdir(tl_env.cgroup) == 0 || errno == ENOENT) {
				tl_st.cgroup_made = false;
				break;
			}
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			ss_sleep_ms(10);
		}
		if (tl_st.cgroup_made) {
			ss_puts("cleanup: can't remove cgroup ");
			ss_puts(tl_env.cgroup);
			ss_puts("\n");
		}
	}

	/* 3. sysctls back to what they were. */
	for (int i = 0; i < TL_MAX_SYSCTLS; i++) {
		if (!tl_st.sysctls[i].set)
			continue;
		fd = open(tl_st.sysctls[i].path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, tl_st.sysctls[i].old, tl_st.sysctls[i].old_len) < 0) {
			ss_puts("cleanup: can't restore ");
			ss_puts(tl_st.sysctls[i].path);
			ss_puts("\n");
		}
		if (fd >= 0)
			close(fd);
		tl_st.sysctls[i].set = false;
	}

	/* 4. On failure, the last daemons' output, before the files go. */
	if (atomic_load(&tl_st.failures) && tl_st.tmp_made) {
		int first = tl_st.ndaemons - TL_DUMP_DAEMONS + 1;

		for (int id = first < 1 ? 1 : first; id <= tl_st.ndaemons; id++) {
			ss_daemon_path(path, id, ".out");
			tl_ss_dump_file(path);
			ss_daemon_path(path, id, ".err");
			tl_ss_dump_file(path);
		}
	}

	/* 5. Mounts: the test's own, then the private bpffs. */
	for (int i = TL_MAX_MOUNTS - 1; i >= 0; i--) {
		if (!tl_st.mounts[i][0])
			continue;
		if (umount2(tl_st.mounts[i], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) {
			ss_puts("cleanup: can't unmount ");
			ss_puts(tl_st.mounts[i]);
			ss_puts("\n");
		}
		tl_st.mounts[i][0] = '\0';
	}
	if (tl_st.bpffs_mounted) {
		if (umount2(tl_env.bpffs, MNT_DETACH) < 0) {
			ss_puts("cleanup: can't unmount ");
			ss_puts(tl_env.bpffs);
			ss_puts("\n");
		}
		tl_st.bpffs_mounted = false;
	}

	/* 6. The temp dir. */
	if (tl_st.tmp_made) {
		const char *keep = getenv("SA_TEST_KEEP");

		if (atomic_load(&tl_st.failures) && keep && keep[0] == '1') {
			ss_puts("cleanup: SA_TEST_KEEP=1, keeping ");
			ss_puts(tl_env.tmp);
			ss_puts("\n");
		} else if (ss_rm_rf(tl_env.tmp) < 0) {
			ss_puts("cleanup: can't remove ");
			ss_puts(tl_env.tmp);
			ss_puts("\n");
		}
		tl_st.tmp_made = false;
	}
	alarm(0);
}

static const int handled_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGALRM };

static void on_signal(int sig)
{
	char msg[256], *p;

	if (!tl_st.owner || getpid() != tl_st.owner)
		_exit(128 + sig);
	if (atomic_load(&tl_st.cleaning)) {
		if (sig == SIGALRM) {
			ss_puts("cleanup itself timed out\n");
			_exit(1);
		}
		return;
	}
	atomic_fetch_add(&tl_st.failures, 1);
	if (sig == SIGALRM) {
		p = ss_cat(msg, "TIMEOUT: ");
		p = ss_cat(p, tl_env.name);
		p = ss_cat(p, " exceeded its budget of ");
		p = ss_num(p, tl_st.budget);
		ss_cat(p, " s; cleaning up\n");
	} else {
		p = ss_cat(msg, "FAIL: ");
		p = ss_cat(p, tl_env.name);
		p = ss_cat(p, " interrupted by signal ");
		p = ss_num(p, sig);
		ss_cat(p, "; cleaning up\n");
	}
	ss_puts(msg);
	tl_cleanup_all();
	p = ss_cat(msg, "FAIL ");
	p = ss_cat(p, tl_env.name);
	ss_cat(p, "\n");
	ss_puts(msg);
	_exit(1);
}

static void at_exit(void)
{
	tl_cleanup_all();
}


void tl_child_reset(pid_t parent)
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

void tl_cleanup_install(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigfillset(&sa.sa_mask);
	for (unsigned int i = 0; i < sizeof(handled_signals) / sizeof(handled_signals[0]); i++)
		sigaction(handled_signals[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	atexit(at_exit);
}
