// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sockaccel.h"
#include "drain.h"
#include "log.h"
#include "pins.h"
#include "sockdiag.h"

#define DRAIN_POLL_MS 5

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

static int open_pinned(const char *dir, const char *name)
{
	char why[SA_PIN_WHY_LEN];
	int fd;

	fd = sa_pin_open(dir, name, why, sizeof(why));
	if (fd < 0)
		p_err("%s", why);
	return fd;
}

/* Drain what is ours: of our layout, or a setup that never finished. */
static int check_layout(const char *dir)
{
	struct sa_layout_check lc;

	if (sa_pin_layout_check(dir, &lc) && lc.state != SA_LAYOUT_UNWRITTEN) {
		p_err("%s", lc.why);
		return -EPROTO;
	}
	return 0;
}

static int set_draining(const char *dir)
{
	struct sa_ctl ctl = {};
	__u32 zero = 0;
	int fd, err = 0;

	fd = open_pinned(dir, SA_PIN_CTL);
	if (fd < 0)
		return fd;
	bpf_map_lookup_elem(fd, &zero, &ctl);
	ctl.draining = 1;
	if (bpf_map_update_elem(fd, &zero, &ctl, BPF_ANY) < 0) {
		err = -errno;
		p_err("can't switch redirection off in '%s/%s': %s", dir, SA_PIN_CTL,
		      strerror(-err));
	}
	close(fd);
	return err;
}

struct entry {
	struct sa_sock_key key;
	__u64 cookie;
	bool done;
};

static int collect(int map_fd, struct entry **out, size_t *cnt)
{
	struct sa_sock_key key, next;
	struct entry *v = NULL, *tmp;
	size_t n = 0, cap = 0;
	void *prev = NULL;

	while (bpf_map_get_next_key(map_fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			tmp = realloc(v, cap * sizeof(*v));
			if (!tmp) {
				free(v);
				return -ENOMEM;
			}
			v = tmp;
		}
		memset(&v[n], 0, sizeof(v[n]));
		v[n].key = key;
		if (bpf_map_lookup_elem(map_fd, &key, &v[n].cookie) == 0)
			n++;	/* else the socket closed meanwhile */
	}
	*out = v;
	*cnt = n;
	return 0;
}

static bool entry_alive(int map_fd, const struct entry *e)
{
	__u64 cookie;

	return bpf_map_lookup_elem(map_fd, &e->key, &cookie) == 0 && cookie == e->cookie;
}

/*
 * sock_diag could not answer: the entry is kept, and the operator told once
 * why, since "still holds bytes" would be a guess. Without the tcp_diag
 * module (a kernel that cannot autoload it: no modprobe, modules_disabled)
 * every query fails with ENOENT, as for a socket that is gone.
 */
static void diag_failed(struct sa_drain_result *r, const char *what, int err)
{
	if (r->diag_warned)
		return;
	r->diag_warned = true;
	p_warn("can't ask sock_diag %s: %s; sockets it cannot answer for are kept in the map "
	       "as if they held unread bytes (if TCP sockets exist that it does not find, load "
	       "its TCP handler: modprobe tcp_diag)", what, strerror(-err));
}

/* Delete the entries of netns @ns whose receivers hold nothing; the calling
 * thread is in that netns. */
static void drain_netns(int map_fd, struct entry *v, size_t n, __u64 ns, struct sa_drain_result *r)
{
	int diag = sa_sockdiag_open();

	if (diag < 0)
		diag_failed(r, "(NETLINK_SOCK_DIAG socket)", diag);
	for (size_t i = 0; i < n; i++) {
		__u32 rmem = 1;
		int err;

		if (v[i].done || v[i].key.netns != ns || diag < 0)
			continue;
		err = sa_sock_rmem(diag, &v[i].key, v[i].cookie, &rmem);
		/* not found, yet still in the map: the socket lives (the map
		 * drops a socket as it closes), sock_diag cannot see it */
		if (err && (err != -ENOENT || entry_alive(map_fd, &v[i])))
			diag_failed(r, "about a socket's receive memory", err);
		if (err || rmem)
			continue;	/* unread bytes, or cannot tell: keep it */
		/* switch off + grace: nothing new lands here, so 0 stays 0 */
		if (bpf_map_delete_elem(map_fd, &v[i].key) == 0)
			r->deleted++;
		v[i].done = true;
	}
	if (diag >= 0)
		close(diag);
}

/*
 * One pass over the map. sock_diag answers only for the caller's network
 * namespace, so the thread visits each namespace that has entries (found by
 * netns cookie among running processes) and comes back. Returns how many
 * entries still hold bytes, or a negative errno.
 */
static int drain_pass(int map_fd, struct sa_drain_result *r)
{
	struct entry *v = NULL;
	size_t n = 0;
	__u64 self;
	int orig, err, remaining = 0;

	err = collect(map_fd, &v, &n);
	if (err)
		return err;
	orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig < 0 || sa_netns_cookie_self(&self)) {
		err = -errno;
		goto cleanup;
	}
	drain_netns(map_fd, v, n, self, r);
	for (size_t i = 0; i < n; i++) {
		__u64 ns = v[i].key.netns;

		if (v[i].done || ns == self)
			continue;
		if (sa_netns_enter(ns) == 0) {
			drain_netns(map_fd, v, n, ns, r);
			if (setns(orig, CLONE_NEWNET) < 0) {
				err = -errno;
				p_err("can't return to the original network namespace: %s",
				      strerror(-err));
				goto cleanup;
			}
		}
		/* a namespace no process is in any more: mark its entries seen */
		for (size_t j = i; j < n; j++)
			if (v[j].key.netns == ns && !v[j].done) {
				v[j].done = true;
				remaining++;
			}
	}
	for (size_t i = 0; i < n; i++)
		if (!v[i].done)
			remaining++;
cleanup:
	if (orig >= 0)
		close(orig);
	free(v);
	return err ? err : remaining;
}

static void remove_pins(const char *dir)
{
	char path[PATH_MAX];

	/* the pin table backwards: links first, so nothing is attached while
	 * maps are unpinned; the layout last */
	for (unsigned int i = sa_pins_cnt; i-- > 0;)
		if (sa_pin_path(path, dir, sa_pins[i].name) == 0 && unlink(path) < 0 &&
		    errno != ENOENT)
			p_warn("can't remove pin '%s': %s", path, strerror(errno));
	if (rmdir(dir) < 0 && errno != ENOENT)
		p_warn("can't remove pin dir '%s': %s (it holds something sockaccel did not "
		       "create)", dir, strerror(errno));
}

/*
 * Stop insertions now, not when the kernel gets round to it: unlinking the
 * last pin of a link only schedules its release on a workqueue, so sockops
 * would stay attached for a moment after unlink() returns and could insert a
 * socket after the drain has looked.  BPF_LINK_DETACH is synchronous.
 */
static int stop_insertions(const char *dir)
{
	char path[PATH_MAX], why[SA_PIN_WHY_LEN];
	int fd, err;

	err = sa_pin_path(path, dir, SA_PIN_LINK_SOCKOPS);
	if (err)
		return err;
	fd = sa_pin_open(dir, SA_PIN_LINK_SOCKOPS, why, sizeof(why));
	if (fd < 0) {
		if (fd == -ENOENT)
			return 0;
		p_err("%s", why);
		return fd;
	}
	err = 0;
	if (bpf_link_detach(fd) < 0 && errno != ENOLINK) {
		err = -errno;
		p_err("can't detach sockops link '%s': %s", path, strerror(-err));
	}
	close(fd);
	if (!err && unlink(path) < 0 && errno != ENOENT) {
		err = -errno;
		p_err("can't remove '%s' to stop insertions: %s", path, strerror(-err));
	}
	return err;
}

int sa_drain(const struct sa_drain_opts *o, struct sa_drain_result *r)
{
	int lock_fd = -1, map_fd = -1, err;
	char path[PATH_MAX];
	struct stat st;
	__u64 deadline;

	memset(r, 0, sizeof(*r));
	if (stat(o->pin_dir, &st) < 0) {
		if (errno == ENOENT) {
			r->was_off = true;
			return 0;
		}
		/* not "off": we cannot see, so we must not say */
		err = -errno;
		p_err("can't examine pin dir '%s': %s", o->pin_dir, strerror(-err));
		return err;
	}
	lock_fd = sa_pin_dir_lock(o->pin_dir, &r->holder);
	if (lock_fd < 0) {
		err = lock_fd;
		goto cleanup;
	}
	err = sa_pin_path(path, o->pin_dir, SA_PIN_SOCK_HASH);
	if (err)
		goto cleanup;
	if (stat(path, &st) < 0 && errno != ENOENT) {
		err = -errno;
		p_err("can't examine '%s': %s", path, strerror(-err));
		goto cleanup;
	}
	if (access(path, F_OK) != 0) {
		/* no map: nothing can be accelerated; just clear the pins */
		remove_pins(o->pin_dir);
		r->was_off = true;
		goto cleanup;
	}
	err = check_layout(o->pin_dir);
	if (err)
		goto cleanup;
	map_fd = open_pinned(o->pin_dir, SA_PIN_SOCK_HASH);
	if (map_fd < 0) {
		err = map_fd;
		goto cleanup;
	}

	/* 1. no new insertions */
	err = stop_insertions(o->pin_dir);
	if (err)
		goto cleanup;
	/* 2. no new redirects; queued ones are still read first, so order holds */
	err = set_draining(o->pin_dir);
	if (err)
		goto cleanup;
	usleep(o->grace_ms * 1000);

	/* 3. delete entries whose receivers drained */
	deadline = now_ms() + o->timeout_ms;
	for (bool first = true;; first = false) {
		__u32 before = r->deleted;
		int remaining = drain_pass(map_fd, r);

		if (remaining < 0) {
			err = remaining;
			p_err("drain pass over '%s' failed: %s", o->pin_dir, strerror(-err));
			goto cleanup;
		}
		if (first)
			r->entries_before = (__u32)remaining + r->deleted;
		r->remaining = (__u32)remaining;
		if (remaining == 0 || now_ms() >= deadline)
			break;
		if (r->deleted == before)
			usleep(DRAIN_POLL_MS * 1000);
	}

	/* 4. the pins; entries left stay until their sockets close */
	remove_pins(o->pin_dir);
cleanup:
	if (map_fd >= 0)
		close(map_fd);
	if (lock_fd >= 0)
		close(lock_fd);
	return err;
}
