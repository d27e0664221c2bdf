// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Integration test helpers: sockacceld: start, stop, logs. See testlib.h. */
#include "testlib_priv.h"

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
	d->id = ++tl_st.ndaemons;
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

	pid = tl_spawn((char *const *)argv, envp, devnull, out, errf, NULL, NULL);
	if (pid < 0) {
		err = (int)pid;
		goto cleanup;
	}
	d->pid = pid;
	d->pidfd = tl_pidfd_of(pid);
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
				d->n_status += strncmp(l, "STATUS=", 7) == 0;
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

bool tl_daemon_output_contains(const struct tl_daemon *d, const char *needle)
{
	const char *paths[] = { d->err_path, d->out_path };
	bool found = false;

	for (int i = 0; i < 2 && !found; i++) {
		size_t len = 0;
		char *text = tl_read_file_len(paths[i], &len);

		found = text && memmem(text, len, needle, strlen(needle));
		free(text);
	}
	return found;
}

void tl_daemon_dump(const struct tl_daemon *d)
{
	pthread_mutex_lock(&tl_st.log_lock);
	fflush(stderr);
	tl_ss_dump_file(d->out_path);
	tl_ss_dump_file(d->err_path);
	pthread_mutex_unlock(&tl_st.log_lock);
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
/* Binaries, variants, config                                               */

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
	char *text = tl_read_file(d->err_path), *save = NULL;
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
	int err = tl_write_file(tl_env.config, text);

	if (!err)
		tl_log("config %s: %s", tl_env.config, text);
	return err;
}

int tl_daemon_log_lines(const struct tl_daemon *d, const char *needle)
{
	char *text = tl_read_file(d->err_path), *save = NULL;
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
