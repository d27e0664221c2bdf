// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * One epoll loop. Each event source is a row of the table at the end: how
 * to open its fd and which handler reads it. Nothing runs in signal
 * context: signals arrive through a signalfd.
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

#include "bringup.h"
#include "confwatch.h"
#include "counters.h"
#include "exitcodes.h"
#include "log.h"
#include "loop.h"
#include "pins.h"
#include "rtnl.h"
#include "stepaside.h"

#define HEALTH_INTERVAL_S 5
#define STEPASIDE_INTERVAL_S 1
#define STEPASIDE_LOGGED_MAX 256

struct loop {
	struct sa_daemon *d;
	bool unhealthy;		/* the last health check failed */
	bool stop;
	int exit_code;
	/* commands (cgroup and name) already logged by the splice guard; one
	 * line each, however many processes of it come and go */
	struct sa_stepaside_key logged[STEPASIDE_LOGGED_MAX];
	unsigned int n_logged;
	bool halfclose_logged;	/* the half-close guard's first act, said once */
	char config_dir[PATH_MAX];	/* watched for changes of the config file */
};

/* An event source's open() returns this when it is not needed here. */
#define SOURCE_UNUSED (-2)

static void notify_status(struct loop *l)
{
	struct sa_fastpath_info fi;
	__u64 cnt[SA_CNT_MAX] = {};

	sa_fastpath_info(l->d->fp, &fi);
	sa_counters_read(fi.counters_fd, cnt);
	sd_notifyf(0, "STATUS=%s cgroup %s, %llu sockets inserted, %s attach",
		   l->unhealthy ? "DEGRADED: see the log;" : "accelerating", l->d->cgroup,
		   (unsigned long long)cnt[SA_CNT_INSERTED], fi.msg_legacy ? "legacy" : "link");
}

/*
 * SIGHUP, or the file changed (@why): re-read the configuration; a bad file
 * leaves the old policy.
 */
static void reload(struct loop *l, const char *why)
{
	struct sa_daemon *d = l->d;
	struct sa_config c;
	char err[PATH_MAX + 512];

	sd_notify(0, "RELOADING=1");
	/* this version is dealt with, loaded or refused: the watch reloads
	 * only when the bytes change again */
	d->config_sum = sa_config_fingerprint(d->opts->config);
	if (sa_daemon_settings(d->opts, &c, err, sizeof(err))) {
		p_err("reload (%s): %s; the previous policy stays in force", why, err);
	} else if (sa_policy_apply_config(d->policy, &c) == 0) {
		if (strcmp(c.pin_dir, d->config.pin_dir) || c.max_conns != d->config.max_conns ||
		    c.unbounded != d->config.unbounded ||
		    memcmp(&c.metrics_listen, &d->config.metrics_listen,
			   sizeof(c.metrics_listen)) ||
		    (c.cgroup[0] && strcmp(c.cgroup, d->cgroup)))
			p_warn("reload: cgroup, pin_dir, max_conns, memory_bound and "
			       "metrics_listen take effect at the next start (systemctl restart "
			       "sockaccel)");
		d->config = c;
		p_info("reload (%s): policy updated (%u port rules, %u excluded, %u local prefixes, "
		       "IPv6 %s)", why, c.n_ports, c.n_exclude, sa_policy_local_count(d->policy),
		       c.ipv6 ? "on" : "off");
	} else {
		p_err("reload: the policy maps could not be written; restart sockacceld");
	}
	sd_notify(0, "READY=1");
	notify_status(l);
}

static int open_signals(struct loop *l)
{
	sigset_t set;

	/* blocked since main() began; read here instead */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void on_signal(struct loop *l, int fd)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			reload(l, "SIGHUP");
			continue;
		}
		p_info("%s: exiting; the fast path stays pinned and attached (remove %s to "
		       "turn it off)", strsignal((int)si.ssi_signo), l->d->config.pin_dir);
		l->stop = true;
		l->exit_code = SA_EXIT_OK;
	}
}

static void turned_off(struct loop *l, const char *what)
{
	p_info("%s was removed: acceleration turned off by the operator. New connections "
	       "use plain TCP; accelerated ones keep working until they close. Exiting.", what);
	l->stop = true;
	l->exit_code = SA_EXIT_OK;
}

static int open_pin_watch(struct loop *l)
{
	const char *which;
	int fd;

	fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0)
		return -1;
	if (inotify_add_watch(fd, l->d->config.pin_dir, IN_DELETE | IN_MOVED_FROM |
			      IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR) < 0) {
		close(fd);
		return -1;
	}
	/* a removal between setup and the watch would otherwise go unseen */
	which = sa_fastpath_missing_pin(l->d->fp);
	if (which)
		turned_off(l, which);
	return fd;
}

static void on_pins_changed(struct loop *l, int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n && !l->stop;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
				turned_off(l, l->d->config.pin_dir);
			else if (ev->len && sa_pin_lookup(ev->name))
				turned_off(l, ev->name);
			p += sizeof(*ev) + ev->len;
		}
	}
}

/* A ConfigMap swap or an edit of the file: reload as on SIGHUP. */
static int open_config_watch(struct loop *l)
{
	char err[PATH_MAX * 2 + 128];
	int fd;

	fd = sa_confwatch_open(l->d->opts->config, l->config_dir, err, sizeof(err));
	if (fd == -ENOENT) {
		p_debug("config: no directory '%s'; changes are not watched (SIGHUP reloads)",
			l->config_dir);
		return SOURCE_UNUSED;
	}
	if (fd < 0) {
		/* acceleration does not depend on it; SIGHUP still reloads */
		p_warn("config: %s; changes are not noticed until a SIGHUP", err);
		return SOURCE_UNUSED;
	}
	/* a change between the first load and the watch would go unseen */
	if (sa_config_fingerprint(l->d->opts->config) != l->d->config_sum)
		reload(l, "the configuration file changed");
	return fd;
}

static void on_config_changed(struct loop *l, int fd)
{
	bool gone;

	if (sa_confwatch_read(fd, &gone)) {
		if (sa_config_fingerprint(l->d->opts->config) != l->d->config_sum)
			reload(l, "the configuration file changed");
		else
			p_debug("config: '%s' changed, '%s' did not: no reload", l->config_dir,
				l->d->opts->config);
	}
	if (gone)
		p_warn("config: '%s' was removed or moved; changes of '%s' are not noticed "
		       "any more (SIGHUP still reloads; restart sockacceld to watch again)",
		       l->config_dir, l->d->opts->config);
}

static int open_rtnl(struct loop *l)
{
	return l->d->rtnl_fd;	/* opened and dumped by main() before READY */
}

static void on_rtnl(struct loop *l, int fd)
{
	int err = sa_rtnl_read(fd, sa_bringup_on_addr, l->d->policy);

	if (err == -ENOBUFS) {
		/* events were dropped: start over from a full dump */
		p_warn("address events overran; reading all addresses again");
		sa_rtnl_request_dump(fd);
	} else if (err < 0) {
		p_warn("reading address events: %s", strerror(-err));
	}
}

static int open_timer(__u64 usec)
{
	struct itimerspec its = {
		.it_interval = { .tv_sec = (time_t)(usec / 1000000), .tv_nsec = (long)(usec % 1000000) * 1000 },
	};
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

	its.it_value = its.it_interval;
	if (fd >= 0 && timerfd_settime(fd, 0, &its, NULL) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool timer_fired(int fd)
{
	__u64 ticks;

	return read(fd, &ticks, sizeof(ticks)) == sizeof(ticks);
}

static int open_health_timer(struct loop *l)
{
	return open_timer((__u64)HEALTH_INTERVAL_S * 1000000);
}

static void on_health_timer(struct loop *l, int fd)
{
	char why[512];
	int problems;

	if (!timer_fired(fd))
		return;
	problems = sa_fastpath_check(l->d->fp, why, sizeof(why));
	if (problems && !l->unhealthy)
		p_warn("health check: %srestart sockacceld to attach again", why);
	else if (!problems && l->unhealthy)
		p_info("health check: the fast path is attached again");
	l->unhealthy = problems > 0;
	notify_status(l);
}

/* The guards' log: one line per command and cgroup the splice guard stepped
 * aside for, one line when the half-close guard first acted. */
static bool stepaside_logged(struct loop *l, const struct sa_stepaside_key *k, bool stranded)
{
	struct sa_stepaside_key cmd = *k;

	cmd.tgid = stranded;	/* a stall is logged apart, once too */
	for (unsigned int i = 0; i < l->n_logged; i++)
		if (memcmp(&l->logged[i], &cmd, sizeof(cmd)) == 0)
			return true;
	if (l->n_logged < STEPASIDE_LOGGED_MAX)
		l->logged[l->n_logged++] = cmd;
	return false;
}

static int open_stepaside_timer(struct loop *l)
{
	if (!(l->d->features & (SA_FEAT_SPLICE | SA_FEAT_HALFCLOSE)))
		return SOURCE_UNUSED;
	return open_timer((__u64)STEPASIDE_INTERVAL_S * 1000000);
}

static void on_stepaside_timer(struct loop *l, int fd)
{
	static struct sa_stepaside_entry es[SA_STEPASIDE_MAX];
	struct sa_fastpath_info fi;
	char line[1024];
	int n;

	if (!timer_fired(fd))
		return;
	sa_fastpath_info(l->d->fp, &fi);
	if (!l->halfclose_logged) {
		__u64 cnt[SA_CNT_MAX] = {};

		/* the guard runs in sockops, which has no helper for the
		 * process's name: counted, not attributed */
		sa_counters_read(fi.counters_fd, cnt);
		if (cnt[SA_CNT_HALFCLOSE_DEMOTED] + cnt[SA_CNT_HALFCLOSE_BUSY]) {
			l->halfclose_logged = true;
			p_info("half-close guard: accelerated sockets whose application shut down "
			       "its write side now leave the map, so a blocking recv() waits for "
			       "the reply as on TCP (halfclose_demoted, halfclose_busy in "
			       "'sockaccelctl stats')");
		}
	}
	if (!(l->d->features & SA_FEAT_SPLICE))
		return;
	n = sa_stepaside_read(fi.stepaside_fd, es, SA_STEPASIDE_MAX);
	for (int i = 0; i < n; i++) {
		bool stranded = es[i].val.stranded > 0;

		if (stepaside_logged(l, &es[i].key, stranded))
			continue;
		sa_stepaside_describe(&es[i], line, sizeof(line));
		if (stranded)
			p_warn("splice guard: %s: bytes redirected before its first splice cannot "
			       "reach splice, so that connection waits for a recv(); its later "
			       "connections stay on TCP. To keep it off the fast path from the "
			       "start, put its port in exclude_ports", line);
		else
			p_info("splice guard: %s: its connections now go over TCP", line);
	}
}

/* WatchdogSec=: ping at half the interval, and only while healthy, so that
 * systemd restarts a daemon whose fast path came apart or that hangs. */
static int open_watchdog(struct loop *l)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec < 2)
		return SOURCE_UNUSED;	/* no WatchdogSec= */
	return open_timer(usec / 2);
}

static void on_watchdog(struct loop *l, int fd)
{
	if (timer_fired(fd) && !l->unhealthy)
		sd_notify(0, "WATCHDOG=1");
}

static const struct event_source {
	const char *name;
	int (*open)(struct loop *l);	/* fd, SOURCE_UNUSED, or -1 with errno */
	void (*handle)(struct loop *l, int fd);
} sources[] = {
	{ "signalfd", open_signals, on_signal },
	{ "inotify watch on the pin dir", open_pin_watch, on_pins_changed },
	{ "inotify watch on the config dir", open_config_watch, on_config_changed },
	{ "rtnetlink address monitor", open_rtnl, on_rtnl },
	{ "health check timer", open_health_timer, on_health_timer },
	{ "watchdog timer", open_watchdog, on_watchdog },
	{ "step-aside log timer", open_stepaside_timer, on_stepaside_timer },
};

#define N_SOURCES (sizeof(sources) / sizeof(sources[0]))

int sa_daemon_loop(struct sa_daemon *d)
{
	struct loop l = { .d = d };
	int fds[N_SOURCES], epfd;
	unsigned int i;

	for (i = 0; i < N_SOURCES; i++)
		fds[i] = -1;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		p_err("can't create an epoll fd: %s", strerror(errno));
		return SA_EXIT_FAILURE;
	}
	for (i = 0; i < N_SOURCES; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };

		fds[i] = sources[i].open(&l);
		if (fds[i] == SOURCE_UNUSED) {
			fds[i] = -1;
			continue;
		}
		if (fds[i] < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
			p_err("can't set up the %s: %s", sources[i].name, strerror(errno));
			l.exit_code = SA_EXIT_FAILURE;
			goto cleanup;
		}
	}

	notify_status(&l);
	while (!l.stop) {
		struct epoll_event evs[N_SOURCES];
		int n = epoll_wait(epfd, evs, N_SOURCES, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			p_err("epoll_wait: %s", strerror(errno));
			l.exit_code = SA_EXIT_FAILURE;
			break;
		}
		for (int k = 0; k < n && !l.stop; k++) {
			i = evs[k].data.u32;
			sources[i].handle(&l, fds[i]);
		}
	}
cleanup:
	sd_notify(0, "STOPPING=1");
	for (i = N_SOURCES; i-- > 0;)
		if (fds[i] >= 0 && fds[i] != d->rtnl_fd)	/* main() owns that one */
			close(fds[i]);
	close(epfd);
	return l.exit_code;
}
