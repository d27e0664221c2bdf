// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * status --probe: prove the fast path end to end. A child process joins a
 * short-lived cgroup under the accelerated one, opens a loopback connection
 * and sends one message, read with recv(), then a second; the probe passes
 * when both sockets are in the map (by key, matched by socket cookie) and
 * the second message arrived without TCP carrying it (tcpi_bytes_sent did
 * not move). Its sockets carry SA_PROBE_MARK, so the
 * programs count them apart from the operator's traffic.
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
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <bpf/bpf.h>

#include "sockaccel.h"
#include "ctl.h"
#include "key.h"
#include "mounts.h"
#include "pins.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

#define PROBE_TIMEOUT_MS 3000
static const char probe_msg[] = "sockaccel probe";

static int marked_socket(void)
{
	unsigned int mark = SA_PROBE_MARK;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Is @fd in the map, as itself (value = its socket cookie)? */
static bool in_map(int map_fd, int fd)
{
	struct sa_sock_key key;
	socklen_t len = sizeof(__u64);
	__u64 cookie, value;

	if (sa_key_of_socket(fd, &key) || getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len))
		return false;
	return bpf_map_lookup_elem(map_fd, &key, &value) == 0 && value == cookie;
}

/* In the child: returns 0 on success, else writes why into @why. */
static int probe_child(const char *cgroup, int map_fd, char *why, size_t len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	struct tcp_info ti = {};
	__u64 first_sent = 0;
	socklen_t tl = sizeof(ti);
	struct pollfd pfd;
	char buf[64];
	int lfd, cfd, afd, err;
	ssize_t n;

	/* before any socket exists: a socket's cgroup is fixed at creation */
	err = sa_cgroup_join(cgroup);
	if (err) {
		snprintf(why, len, "can't join %.200s: %s", cgroup, strerror(-err));
		return -1;
	}
	lfd = marked_socket();
	cfd = marked_socket();
	if (lfd < 0 || cfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    listen(lfd, 1) || getsockname(lfd, (struct sockaddr *)&sin, &sl) ||
	    connect(cfd, (struct sockaddr *)&sin, sizeof(sin))) {
		snprintf(why, len, "loopback connection failed: %s", strerror(errno));
		return -1;
	}
	pfd = (struct pollfd){ .fd = lfd, .events = POLLIN };
	if (poll(&pfd, 1, PROBE_TIMEOUT_MS) != 1 || (afd = accept(lfd, NULL, NULL)) < 0) {
		snprintf(why, len, "accept timed out");
		return -1;
	}
	if (!in_map(map_fd, cfd) || !in_map(map_fd, afd)) {
		snprintf(why, len, "the probe's sockets were not inserted into the map "
			 "(sockops not attached to this cgroup, or the map is full)");
		return -1;
	}
	/* Twice: with the splice guard a direction starts on TCP until its
	 * receiver has read with recv(), so the first message may go over TCP;
	 * the second must not add a byte to it. */
	for (int round = 0; round < 2; round++) {
		if (send(cfd, probe_msg, sizeof(probe_msg), MSG_NOSIGNAL) != sizeof(probe_msg)) {
			snprintf(why, len, "send failed: %s", strerror(errno));
			return -1;
		}
		pfd = (struct pollfd){ .fd = afd, .events = POLLIN };
		if (poll(&pfd, 1, PROBE_TIMEOUT_MS) != 1 ||
		    (n = recv(afd, buf, sizeof(buf), MSG_DONTWAIT)) != sizeof(probe_msg) ||
		    memcmp(buf, probe_msg, sizeof(probe_msg)) != 0) {
			snprintf(why, len, "the message did not arrive intact");
			return -1;
		}
		if (getsockopt(cfd, IPPROTO_TCP, TCP_INFO, &ti, &tl)) {
			snprintf(why, len, "TCP_INFO: %s", strerror(errno));
			return -1;
		}
		if (round == 0)
			first_sent = ti.tcpi_bytes_sent;
	}
	if (ti.tcpi_bytes_sent != first_sent) {
		snprintf(why, len, "the message went over TCP (%llu bytes sent): sk_msg is not "
			 "redirecting", (unsigned long long)(ti.tcpi_bytes_sent - first_sent));
		return -1;
	}
	snprintf(why, len, "a loopback connection was inserted and its message redirected");
	return 0;
}

int sa_probe_run(const char *pin_dir, const char *cgroup, char *detail, size_t len)
{
	char child_cg[PATH_MAX];
	const char *where;
	bool own_cgroup = false;
	int pipefd[2] = { -1, -1 }, map_fd = -1, status = 0, ret = -1;
	struct pollfd pfd;
	pid_t pid = -1;
	ssize_t n;

	if (!cgroup || !cgroup[0]) {
		snprintf(detail, len, "no cgroup has sockops attached: nothing to probe");
		return -1;
	}
	map_fd = sa_pin_open(pin_dir, SA_PIN_SOCK_HASH, detail, len);
	if (map_fd < 0)
		return -1;
	snprintf(child_cg, sizeof(child_cg), "%s/sockaccel-probe-%d", cgroup, (int)getpid());
	own_cgroup = mkdir(child_cg, 0700) == 0;
	/* a cgroup that cannot have children: probe in the cgroup itself */
	where = own_cgroup ? child_cg : cgroup;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		snprintf(detail, len, "pipe: %s", strerror(errno));
		goto cleanup;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(detail, len, "fork: %s", strerror(errno));
		goto cleanup;
	}
	if (pid == 0) {
		char why[256];
		int rc = probe_child(where, map_fd, why, sizeof(why));

		if (write(pipefd[1], why, strlen(why) + 1) < 0)
			rc = -1;
		_exit(rc ? 1 : 0);
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	pfd = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
	if (poll(&pfd, 1, 2 * PROBE_TIMEOUT_MS) != 1) {
		kill(pid, SIGKILL);
		snprintf(detail, len, "the probe timed out");
	} else {
		n = read(pipefd[0], detail, len - 1);
		detail[n > 0 ? n : 0] = '\0';
	}
	waitpid(pid, &status, 0);
	ret = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
cleanup:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	close(map_fd);
	/* the cgroup empties only after the child is reaped; rmdir may need retries */
	for (int i = 0; own_cgroup && i < 100 && rmdir(child_cg) < 0 && errno == EBUSY; i++)
		usleep(10000);
	return ret;
}
