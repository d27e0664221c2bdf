// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Integration test helpers: Children in the test cgroup and netns; TCP connections. See testlib.h. */
#include "testlib_priv.h"

/* ------------------------------------------------------------------------ */
/* Children, cgroup, netns                                                  */

int tl_cgroup_join(void)
{
	char buf[32];
	int fd, n, err = 0;

	fd = open(tl_st.cg_procs, O_WRONLY | O_CLOEXEC);
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

	pthread_mutex_lock(&tl_st.log_lock);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int err, rc;

		pthread_mutex_init(&tl_st.log_lock, NULL);
		tl_child_reset(parent);
		atomic_store(&tl_st.failures, 0);
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
	pthread_mutex_unlock(&tl_st.log_lock);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return -errno;
	}
	tl_track_pid(pid);
	c->pid = pid;
	c->ctl = sv[0];
	c->pidfd = tl_pidfd_of(pid);
	return 0;
}

int tl_child_wait(struct tl_child *c, int timeout_ms, int *status)
{
	int err, dummy;

	if (c->pid <= 0)
		return -ECHILD;
	if (!status)
		status = &dummy;
	err = tl_wait_pid(c->pid, c->pidfd, timeout_ms, status);
	if (err == -ETIMEDOUT) {
		tl_log("child %d still running after %d ms; killing it", (int)c->pid, timeout_ms);
		kill(c->pid, SIGKILL);
		tl_wait_pid(c->pid, c->pidfd, 5000, status);
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
/* HTTP/1.1, by hand                                                        */

/* "127.0.0.1:9100" or "[::1]:9100" into @buf. */
static const char *http_peer(char *buf, size_t len, const char *addr, __u16 port)
{
	snprintf(buf, len, strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, port);
	return buf;
}

int tl_http_connect(const char *addr, __u16 port)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct timeval tv = { .tv_sec = TL_HTTP_MS / 1000, .tv_usec = TL_HTTP_MS % 1000 * 1000 };
	struct sockaddr *sa;
	socklen_t sa_len;
	char peer[INET6_ADDRSTRLEN + 16];
	int fd, err;

	http_peer(peer, sizeof(peer), addr, port);
	if (inet_pton(AF_INET, addr, &in.sin_addr) == 1) {
		sa = (struct sockaddr *)&in;
		sa_len = sizeof(in);
	} else if (inet_pton(AF_INET6, addr, &in6.sin6_addr) == 1) {
		sa = (struct sockaddr *)&in6;
		sa_len = sizeof(in6);
	} else {
		tl_log("HTTP to %s: '%s' is not a numeric IPv4 or IPv6 address", peer, addr);
		return -EINVAL;
	}
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		tl_log("HTTP to %s: socket: %s", peer, strerror(-err));
		return err;
	}
	/* SO_SNDTIMEO bounds connect() too */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		err = -errno;
		tl_log("HTTP to %s: socket timeouts: %s", peer, strerror(-err));
		goto fail;
	}
	if (connect(fd, sa, sa_len) < 0) {
		err = errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		tl_log("HTTP to %s: connect: %s", peer, strerror(-err));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return err;
}

int tl_http_request(const char *addr, __u16 port, const char *method, const char *path,
		    int *code, char *body, size_t len)
{
	size_t cap = len + 8192, got = 0;
	char req[512], peer[INET6_ADDRSTRLEN + 16], *buf, *eoh;
	int fd = -1, n, err = 0;
	ssize_t r;

	http_peer(peer, sizeof(peer), addr, port);
	n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
		     "Content-Length: 0\r\n\r\n", method, path, peer);
	if (n < 0 || (size_t)n >= sizeof(req)) {
		tl_log("%s http://%s%s: request too long", method, peer, path);
		return -ENAMETOOLONG;
	}
	buf = malloc(cap);
	if (!buf) {
		tl_log("%s http://%s%s: %s", method, peer, path, strerror(ENOMEM));
		return -ENOMEM;
	}
	fd = tl_http_connect(addr, port);
	if (fd < 0) {
		err = fd;
		goto cleanup;
	}
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		err = -errno;
		tl_log("%s http://%s%s: sending the request: %s", method, peer, path,
		       strerror(-err));
		goto cleanup;
	}
	while (got < cap - 1 && (r = recv(fd, buf + got, cap - 1 - got, 0)) != 0) {
		if (r < 0) {
			err = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
			tl_log("%s http://%s%s: reading the response (%zu bytes so far): %s",
			       method, peer, path, got, strerror(-err));
			goto cleanup;
		}
		got += (size_t)r;
	}
	buf[got] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", code) != 1) {
		tl_log("%s http://%s%s: not an HTTP response (%zu bytes): %.200s", method, peer,
		       path, got, buf);
		err = -EPROTO;
		goto cleanup;
	}
	eoh = strstr(buf, "\r\n\r\n");
	if (len)
		snprintf(body, len, "%s", eoh ? eoh + 4 : "");
cleanup:
	if (fd >= 0)
		close(fd);
	free(buf);
	return err;
}
