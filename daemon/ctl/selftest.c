// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockaccelctl selftest: which of the known sockmap kernel behaviours does
 * this kernel have? Each is reproduced in a private setup (a bpffs mounted
 * in a temporary directory, a child cgroup of the cgroup2 mount, the
 * fast path loaded without sockaccel's memory bound so the raw kernel
 * behaviour shows), then everything is removed. docs/kernel-behaviours.md
 * explains each one and what to do about it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <bpf/bpf.h>

#include "sockaccel.h"
#include "ctl.h"
#include "fastpath.h"
#include "key.h"
#include "log.h"
#include "mounts.h"
#include "pins.h"

#define EAGAIN_RUNS 10

struct behaviour {
	const char *id;
	const char *title;
	int present;		/* 1 present, 0 absent, -1 could not tell */
	char detail[256];
};

struct env {
	char tmp[64];
	char bpffs[128];
	char pins[192];
	char cgroup[PATH_MAX + 64];
	bool mounted;
	struct sa_fastpath *fp;
	int map_fd;
};

/* A connected loopback pair: *c client, *a accepted. */
static int pair(int *c, int *a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || *c < 0 || bind(l, (struct sockaddr *)&sin, sizeof(sin)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sin, &sl) ||
	    connect(*c, (struct sockaddr *)&sin, sizeof(sin)) || (*a = accept(l, NULL, NULL)) < 0) {
		if (l >= 0)
			close(l);
		return -1;
	}
	close(l);
	return 0;
}

static bool in_map(int map_fd, int fd)
{
	struct sa_sock_key k;
	__u64 v;

	return sa_key_of_socket(fd, &k) == 0 && bpf_map_lookup_elem(map_fd, &k, &v) == 0;
}

static void fill(unsigned char *b, size_t n, unsigned char v)
{
	memset(b, v, n);
}

/*
 * Backpressure: a non-blocking sender to a receiver that does not read.
 * Plain TCP stops it at a few MiB (EAGAIN); redirection accepts everything.
 */
static int child_backpressure(struct env *e, char *out, size_t len)
{
	static unsigned char buf[65536];
	size_t total = 0, want = 16u << 20;
	int c, a;

	if (pair(&c, &a) || !in_map(e->map_fd, c) || !in_map(e->map_fd, a)) {
		snprintf(out, len, "could not set up an accelerated connection");
		return -1;
	}
	fcntl(c, F_SETFL, O_NONBLOCK);
	fill(buf, sizeof(buf), 'b');
	while (total < want) {
		ssize_t n = send(c, buf, sizeof(buf), MSG_NOSIGNAL);

		if (n < 0)
			break;
		total += (size_t)n;
	}
	snprintf(out, len, "a non-blocking sender queued %zu of %zu bytes at a receiver that "
		 "does not read%s", total, want, total >= want ? " without EAGAIN" : "");
	return total >= want ? 1 : 0;
}

/*
 * Reordering on late insertion: bytes already waiting in the receiver's TCP
 * queue are read after bytes redirected later.
 */
static int child_late_insert(struct env *e, char *out, size_t len)
{
	unsigned char buf[8192], got[16384];
	struct sa_sock_key kc, ka;
	__u64 fc, fa;
	size_t off = 0;
	int c, a;

	if (pair(&c, &a)) {
		snprintf(out, len, "loopback connection failed");
		return -1;
	}
	/* sockops inserted them already; take them out, as if they predated it */
	sa_key_of_socket(c, &kc);
	sa_key_of_socket(a, &ka);
	bpf_map_delete_elem(e->map_fd, &kc);
	bpf_map_delete_elem(e->map_fd, &ka);
	fill(buf, sizeof(buf), 'O');	/* old: over TCP, unread */
	if (send(c, buf, sizeof(buf), 0) != sizeof(buf))
		return -1;
	usleep(100000);
	fc = (__u64)c;
	fa = (__u64)a;
	if (bpf_map_update_elem(e->map_fd, &kc, &fc, BPF_NOEXIST) ||
	    bpf_map_update_elem(e->map_fd, &ka, &fa, BPF_NOEXIST)) {
		snprintf(out, len, "inserting an established socket failed: %s", strerror(errno));
		return -1;
	}
	fill(buf, sizeof(buf), 'N');	/* new: redirected */
	if (send(c, buf, sizeof(buf), 0) != sizeof(buf))
		return -1;
	while (off < sizeof(got)) {
		struct pollfd p = { .fd = a, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 2000) != 1)
			break;
		n = recv(a, got + off, sizeof(got) - off, 0);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (off < sizeof(got)) {
		snprintf(out, len, "only %zu of %zu bytes arrived", off, sizeof(got));
		return -1;
	}
	snprintf(out, len, "8 KiB sent over TCP before insertion, 8 KiB redirected after: the "
		 "receiver read the %s bytes first", got[0] == 'N' ? "later" : "earlier");
	return got[0] == 'N' ? 1 : 0;
}

/*
 * Spurious EAGAIN: the client sends, shuts down its write side and blocks
 * in recv(); the server reads everything and closes. Plain TCP gives EOF.
 */
static int child_eagain(struct env *e, char *out, size_t len)
{
	static unsigned char buf[100000];
	int hits = 0, runs = 0;

	for (int i = 0; i < EAGAIN_RUNS; i++) {
		int c, a;
		pid_t srv;
		char b;
		ssize_t n;

		if (pair(&c, &a) || !in_map(e->map_fd, c))
			continue;
		srv = fork();
		if (srv == 0) {
			size_t total = 0;

			close(c);
			while (total < sizeof(buf) && (n = recv(a, buf, sizeof(buf), 0)) > 0)
				total += (size_t)n;
			usleep(200000);
			close(a);
			_exit(0);
		}
		close(a);
		send(c, buf, sizeof(buf), MSG_NOSIGNAL);
		shutdown(c, SHUT_WR);
		n = recv(c, &b, 1, 0);	/* blocking */
		if (n < 0 && errno == EAGAIN)
			hits++;
		runs++;
		close(c);
		waitpid(srv, NULL, 0);
	}
	if (!runs) {
		snprintf(out, len, "could not set up an accelerated connection");
		return -1;
	}
	snprintf(out, len, "a blocking recv() after shutdown(SHUT_WR) returned EAGAIN instead of "
		 "EOF in %d of %d runs", hits, runs);
	return hits ? 1 : 0;
}

/*
 * splice(2) misses redirected bytes: tcp_splice_read() reads only the TCP
 * receive queue, never the psock's ingress_msg. 64 KiB redirected to the
 * accepted socket: splice into a pipe for up to a second, then peek with
 * recv(), which does see the redirected queue, to tell "splice does not see
 * them" from "nothing arrived".
 */
static int child_splice(struct env *e, char *out, size_t len)
{
	static unsigned char buf[65536];
	ssize_t moved = 0, peeked;
	int c, a, p[2];

	if (pair(&c, &a) || !in_map(e->map_fd, c) || !in_map(e->map_fd, a)) {
		snprintf(out, len, "could not set up an accelerated connection");
		return -1;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(out, len, "pipe2: %s", strerror(errno));
		return -1;
	}
	/* SPLICE_F_NONBLOCK is about the pipe; the socket's own flag decides
	 * whether tcp_splice_read() waits for data */
	fcntl(a, F_SETFL, O_NONBLOCK);
	fill(buf, sizeof(buf), 's');
	if (send(c, buf, sizeof(buf), MSG_NOSIGNAL) != sizeof(buf)) {
		snprintf(out, len, "sending 64 KiB failed");
		return -1;
	}
	for (int i = 0; i < 100; i++) {	/* ~1 s */
		ssize_t n = splice(a, NULL, p[1], NULL, sizeof(buf), SPLICE_F_NONBLOCK);

		if (n > 0) {
			moved = n;
			break;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			snprintf(out, len, "splice(2) from the socket: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			snprintf(out, len, "splice(2) from the socket returned EOF");
			return -1;
		}
		usleep(10000);
	}
	if (moved > 0) {
		snprintf(out, len, "splice(2) moved %zd of the %zu redirected bytes", moved,
			 sizeof(buf));
		return 0;
	}
	peeked = recv(a, buf, sizeof(buf), MSG_DONTWAIT | MSG_PEEK);
	if (peeked <= 0) {
		snprintf(out, len, "neither splice(2) nor recv(MSG_PEEK) saw the %zu bytes sent",
			 sizeof(buf));
		return -1;
	}
	snprintf(out, len, "splice(2) moved 0 bytes in 1 s while recv(MSG_PEEK) saw %zd of the "
		 "%zu redirected bytes", peeked, sizeof(buf));
	return 1;
}

typedef int (*probe_fn)(struct env *, char *, size_t);

/* Run @fn in a child inside the private cgroup; its verdict comes back
 * through a pipe. */
static void run_in_cgroup(struct env *e, probe_fn fn, struct behaviour *b)
{
	int p[2], status;
	pid_t pid;

	b->present = -1;
	if (pipe(p) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		char msg[256] = "";
		int r = -1;

		close(p[0]);
		if (sa_cgroup_join(e->cgroup) == 0)
			r = fn(e, msg, sizeof(msg));
		else
			snprintf(msg, sizeof(msg), "can't join %s", e->cgroup);
		if (write(p[1], &r, sizeof(r)) < 0 || write(p[1], msg, strlen(msg) + 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &b->present, sizeof(b->present)) != sizeof(b->present))
		b->present = -1;
	if (read(p[0], b->detail, sizeof(b->detail) - 1) < 0)
		b->detail[0] = '\0';
	close(p[0]);
	/* a child stuck in a kernel that misbehaves differently: bound it */
	for (int i = 0; i < 300 && waitpid(pid, &status, WNOHANG) == 0; i++)
		usleep(100000);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

static void env_cleanup(struct env *e)
{
	sa_fastpath_close(e->fp);
	if (e->map_fd >= 0)
		close(e->map_fd);
	if (e->mounted)
		umount2(e->bpffs, MNT_DETACH);	/* drops the pins: links detach */
	if (e->cgroup[0]) {
		char kill_path[sizeof(e->cgroup) + 16];
		int fd;

		snprintf(kill_path, sizeof(kill_path), "%s/cgroup.kill", e->cgroup);
		fd = open(kill_path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "1", 1) < 0)
				p_debug("cgroup.kill: %s", strerror(errno));
			close(fd);
		}
		for (int i = 0; i < 100 && rmdir(e->cgroup) < 0 && errno == EBUSY; i++)
			usleep(10000);
	}
	if (e->tmp[0]) {
		rmdir(e->pins);
		rmdir(e->bpffs);
		rmdir(e->tmp);
	}
}

static int env_setup(struct env *e, struct ctl *c)
{
	/* the basic redirect only: the behaviours are the kernel's, not a
	 * feature's, and the object without kfuncs loads on every kernel */
	static const struct sa_variant basic = { .kfuncs = false, .loaded = 0 };
	struct sa_fastpath_opts fo = { .max_conns = 1024, .variant = &basic };
	char mnt[PATH_MAX], why[SA_PIN_WHY_LEN];

	if (sa_mount_find("cgroup2", mnt, sizeof(mnt))) {
		ctl_err(c, "selftest: no cgroup2 mount");
		return -ENOENT;
	}
	/* the pid in the name lets tests/cleanup-leftovers.sh tell a live run */
	snprintf(e->tmp, sizeof(e->tmp), "/tmp/sockaccel-selftest.%d.XXXXXX", (int)getpid());
	if (!mkdtemp(e->tmp)) {
		e->tmp[0] = '\0';
		ctl_err(c, "selftest: mkdtemp: %s", strerror(errno));
		return -errno;
	}
	snprintf(e->bpffs, sizeof(e->bpffs), "%s/bpffs", e->tmp);
	snprintf(e->pins, sizeof(e->pins), "%s/pins", e->bpffs);
	if (mkdir(e->bpffs, 0700) || mount("bpf", e->bpffs, "bpf", 0, "mode=0700")) {
		ctl_err(c, "selftest: can't mount a private bpffs at %s: %s", e->bpffs,
			strerror(errno));
		return -errno;
	}
	e->mounted = true;
	snprintf(e->cgroup, sizeof(e->cgroup), "%s/sockaccel-selftest-%d", mnt, (int)getpid());
	if (mkdir(e->cgroup, 0700)) {
		ctl_err(c, "selftest: can't create cgroup %s: %s", e->cgroup, strerror(errno));
		e->cgroup[0] = '\0';
		return -errno;
	}
	fo.pin_dir = e->pins;
	fo.cgroup = e->cgroup;
	/* the sk_msg attach method does not matter here; link where possible */
	fo.sockmap_link = false;
	if (sa_fastpath_setup(&fo, &e->fp)) {
		ctl_err(c, "selftest: can't load the fast path in the private setup");
		return -EINVAL;
	}
	e->map_fd = sa_pin_open(e->pins, SA_PIN_SOCK_HASH, why, sizeof(why));
	if (e->map_fd < 0) {
		ctl_err(c, "selftest: %s", why);
		return e->map_fd;
	}
	return 0;
}

int do_selftest(struct ctl *c, int argc, char **argv)
{
	struct behaviour bs[] = {
		{ .id = "no_backpressure", .title = "redirected data ignores the receiver's buffer" },
		{ .id = "late_insert_reorder",
		  .title = "reordering when a socket with unread data is inserted" },
		{ .id = "spurious_eagain", .title = "blocking recv() returns EAGAIN instead of waiting" },
		{ .id = "splice_misses_redirected", .title = "splice(2) does not see redirected bytes" },
	};
	static const probe_fn fns[] = { child_backpressure, child_late_insert, child_eagain,
					child_splice };
	struct env e = { .map_fd = -1 };
	int present = 0, unknown = 0;

	if (ctl_no_args(c, argc, argv))
		return SA_CTL_USAGE;
	if (env_setup(&e, c)) {
		env_cleanup(&e);
		return SA_CTL_FAIL;
	}
	for (unsigned int i = 0; i < sizeof(bs) / sizeof(bs[0]); i++) {
		run_in_cgroup(&e, fns[i], &bs[i]);
		present += bs[i].present == 1;
		unknown += bs[i].present < 0;
	}
	env_cleanup(&e);

	if (c->json) {
		jsonw_start_object(c->jw);
		jsonw_name(c->jw, "behaviours");
		jsonw_start_array(c->jw);
		for (unsigned int i = 0; i < sizeof(bs) / sizeof(bs[0]); i++) {
			jsonw_start_object(c->jw);
			jsonw_string_field(c->jw, "id", bs[i].id);
			jsonw_string_field(c->jw, "title", bs[i].title);
			jsonw_string_field(c->jw, "state", bs[i].present == 1 ? "present" :
					   bs[i].present == 0 ? "absent" : "unknown");
			jsonw_string_field(c->jw, "detail", bs[i].detail);
			jsonw_end_object(c->jw);
		}
		jsonw_end_array(c->jw);
		jsonw_uint_field(c->jw, "present", (unsigned int)present);
		jsonw_end_object(c->jw);
	} else {
		for (unsigned int i = 0; i < sizeof(bs) / sizeof(bs[0]); i++)
			printf("%-8s %-24s %s\n         %s\n",
			       bs[i].present == 1 ? "PRESENT" : bs[i].present == 0 ? "absent" : "unknown",
			       bs[i].id, bs[i].title, bs[i].detail);
		printf("%d of %zu known kernel behaviours present; see docs/kernel-behaviours.md\n",
		       present, sizeof(bs) / sizeof(bs[0]));
	}
	if (unknown)
		return SA_CTL_FAIL;
	return present ? SA_CTL_BEHAVIOURS : SA_CTL_OK;
}
