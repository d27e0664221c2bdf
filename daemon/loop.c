// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * One epoll loop. Each event source is a row of the table below: how to
 * open its fd and which handler reads it. Handlers do the work; nothing
 * runs in signal context (signals arrive through a signalfd).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>

#include "counters.h"
#include "exitcodes.h"
#include "log.h"
#include "loop.h"
#include "pins.h"

#define HEALTH_INTERVAL_S 5

struct daemon {
	struct sa_fastpath *fp;
	const char *pin_dir;
	const char *cgroup;
	bool unhealthy;		/* last health check failed */
	bool stop;
	int exit_code;
};

static int open_signals(struct daemon *d)
{
	sigset_t set;

	/* Blocked since main() began; read here instead. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int on_signal(struct daemon *d, int fd)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			p_info("SIGHUP: nothing to reload");
			continue;
		}
		p_info("%s: exiting; the fast path stays pinned and attached (remove %s to "
		       "turn it off)", strsignal((int)si.ssi_signo), d->pin_dir);
		d->stop = true;
		d->exit_code = SA_EXIT_OK;
	}
	return 0;
}

static void turned_off(struct daemon *d, const char *what)
{
	p_info("%s was removed: acceleration turned off by the operator. New connections "
	       "use plain TCP; accelerated ones keep working until they close. Exiting.", what);
	d->stop = true;
	d->exit_code = SA_EXIT_OK;
}

static int open_pin_watch(struct daemon *d)
{
	const char *which;
	int fd;

	fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0)
		return -1;
	if (inotify_add_watch(fd, d->pin_dir, IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF |
			      IN_MOVE_SELF | IN_ONLYDIR) < 0) {
		close(fd);
		return -1;
	}
	/* A removal between setup and the watch would otherwise go unseen. */
	which = sa_fastpath_missing_pin(d->fp);
	if (which)
		turned_off(d, which);
	return fd;
}

static int on_pins_changed(struct daemon *d, int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
				turned_off(d, d->pin_dir);
			else if (ev->len && sa_pin_lookup(ev->name))
				turned_off(d, ev->name);
			p += sizeof(*ev) + ev->len;
			if (d->stop)
				return 0;
		}
	}
	return 0;
}

static int open_health_timer(struct daemon *d)
{
	struct itimerspec its = {
		.it_interval = { .tv_sec = HEALTH_INTERVAL_S },
		.it_value = { .tv_sec = HEALTH_INTERVAL_S },
	};
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

	if (fd >= 0 && timerfd_settime(fd, 0, &its, NULL) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void notify_status(struct daemon *d)
{
	struct sa_fastpath_info fi;
	__u64 cnt[SA_CNT_MAX] = {};

	sa_fastpath_info(d->fp, &fi);
	sa_counters_read(fi.counters_fd, cnt);
	sd_notifyf(0, "STATUS=%s cgroup %s, %llu sockets inserted, %s attach",
		   d->unhealthy ? "DEGRADED:" : "accelerating", d->cgroup,
		   (unsigned long long)cnt[SA_CNT_INSERTED], fi.msg_legacy ? "legacy" : "link");
}

static int on_health_timer(struct daemon *d, int fd)
{
	char why[512];
	__u64 ticks;
	int problems;

	if (read(fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
		return 0;
	problems = sa_fastpath_check(d->fp, why, sizeof(why));
	if (problems && !d->unhealthy)
		p_warn("health check: %srestart sockacceld to attach again", why);
	else if (!problems && d->unhealthy)
		p_info("health check: the fast path is attached again");
	d->unhealthy = problems > 0;
	notify_status(d);
	return 0;
}

static const struct event_source {
	const char *name;
	int (*open)(struct daemon *d);
	int (*handle)(struct daemon *d, int fd);
} sources[] = {
	{ "signalfd", open_signals, on_signal },
	{ "inotify on the pin dir", open_pin_watch, on_pins_changed },
	{ "health timer", open_health_timer, on_health_timer },
};

#define N_SOURCES (sizeof(sources) / sizeof(sources[0]))

int sa_daemon_loop(struct sa_fastpath *fp, const char *pin_dir, const char *cgroup)
{
	struct daemon d = { .fp = fp, .pin_dir = pin_dir, .cgroup = cgroup };
	int fds[N_SOURCES], epfd;
	unsigned int i;

	for (i = 0; i < N_SOURCES; i++)
		fds[i] = -1;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		p_err("can't create epoll fd: %s", strerror(errno));
		return SA_EXIT_FAILURE;
	}
	for (i = 0; i < N_SOURCES; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };

		fds[i] = sources[i].open(&d);
		if (fds[i] < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
			p_err("can't set up the %s: %s", sources[i].name, strerror(errno));
			d.exit_code = SA_EXIT_FAILURE;
			goto cleanup;
		}
	}

	notify_status(&d);
	while (!d.stop) {
		struct epoll_event evs[N_SOURCES];
		int n = epoll_wait(epfd, evs, N_SOURCES, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			p_err("epoll_wait: %s", strerror(errno));
			d.exit_code = SA_EXIT_FAILURE;
			break;
		}
		for (int k = 0; k < n && !d.stop; k++) {
			i = evs[k].data.u32;
			sources[i].handle(&d, fds[i]);
		}
	}
cleanup:
	sd_notify(0, "STOPPING=1");
	for (i = N_SOURCES; i-- > 0;)
		if (fds[i] >= 0)
			close(fds[i]);
	close(epfd);
	return d.exit_code;
}
