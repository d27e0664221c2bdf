// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Load generators of the stress tests; see stress.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "stress.h"

void st_fail(atomic_int *failures, char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(failures, 1) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	tl_log("FAIL (first failure): %s", why);
}

int st_raise_nofile(unsigned long n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur >= n)
		return 0;
	if (rl.rlim_max < n)
		rl.rlim_max = n;
	rl.rlim_cur = n;
	return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
}

/* A loopback listener; its port in *@port. */
static int listener(__u16 *port, int backlog)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

/* A connected pair through listener @lfd; *@c client, *@s server. */
static int connect_pair(int lfd, __u16 port, int *c, int *s)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int err;

	*c = *s = -1;
	*c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*c < 0)
		return -errno;
	if (connect(*c, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		goto fail;
	if (poll(&p, 1, 10000) != 1) {
		errno = ETIMEDOUT;
		goto fail;
	}
	*s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (*s < 0)
		goto fail;
	return 0;
fail:
	err = -errno;
	close(*c);
	*c = -1;
	return err;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

/* ------------------------------------------------------------------------ */
/* Concurrent streams                                                       */

struct sconn {
	int c, s;
	__u64 seed, written, verified;
	long long last;		/* last progress */
	bool shut, eof;
};

static const size_t chunk_sizes[] = { 1, 100, 1448, 4096, 9000, 16384, 65536, 777, 32768 };

/* Read what is there on connection @k; -1 on a failure (recorded). */
static int stream_read(struct st_streams *st, struct sconn *k, unsigned int i, unsigned char *buf,
		       size_t cap, int ep)
{
	for (int rounds = 0; rounds < 4; rounds++) {
		ssize_t r = recv(k->s, buf, cap, MSG_DONTWAIT);
		size_t bad;

		if (r > 0) {
			bad = tl_pattern_check(buf, k->seed, k->verified, (size_t)r);
			if (bad < (size_t)r) {
				st_fail(&st->failures, st->why, sizeof(st->why),
					"connection %u: data differs at offset %llu (written %llu): "
					"lost, reordered or foreign data", i,
					(unsigned long long)(k->verified + bad),
					(unsigned long long)k->written);
				return -1;
			}
			if (k->verified + (__u64)r > k->written) {
				st_fail(&st->failures, st->why, sizeof(st->why),
					"connection %u: more bytes than written", i);
				return -1;
			}
			k->verified += (__u64)r;
			k->last = tl_now_ms();
			atomic_fetch_add(&st->verified, (__u64)r);
			continue;
		}
		if (r == 0) {
			if (!k->shut || k->verified != k->written) {
				st_fail(&st->failures, st->why, sizeof(st->why),
					"connection %u: EOF after %llu of %llu bytes", i,
					(unsigned long long)k->verified,
					(unsigned long long)k->written);
				return -1;
			}
			k->eof = true;
			st->eofs++;
			epoll_ctl(ep, EPOLL_CTL_DEL, k->s, NULL);
			return 0;
		}
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		st_fail(&st->failures, st->why, sizeof(st->why), "connection %u: recv: %s", i,
			strerror(errno));
		return -1;
	}
	return 0;
}

int st_streams_main(void *arg, int ctl)
{
	struct st_streams *st = arg;
	struct tl_pins pins = TL_PINS_INIT;
	struct epoll_event evs[256];
	struct sconn *k = NULL;
	unsigned char *wbuf = NULL, *rbuf = NULL;
	unsigned int n = st->nconn, eofs_needed = n, ci = 0;
	long long last_check = tl_now_ms();
	int lfd = -1, ep = -1, err;
	__u16 port = 0;

	(void)ctl;
	if (!st->stall_ms)
		st->stall_ms = 30000;
	err = st_raise_nofile(2UL * n + 256);
	if (err) {
		st_fail(&st->failures, st->why, sizeof(st->why), "RLIMIT_NOFILE: %s",
			strerror(-err));
		goto out;
	}
	k = calloc(n, sizeof(*k));
	wbuf = malloc(65536);
	rbuf = malloc(262144);
	if (!k || !wbuf || !rbuf || tl_pins_open(&pins)) {
		st_fail(&st->failures, st->why, sizeof(st->why), "setup: out of memory or no pins");
		goto out;
	}
	for (unsigned int i = 0; i < n; i++)
		k[i].c = k[i].s = -1;
	lfd = listener(&port, 4096);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (lfd < 0 || ep < 0) {
		st_fail(&st->failures, st->why, sizeof(st->why), "listener/epoll: %s",
			strerror(errno));
		goto out;
	}
	for (unsigned int i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		char label[32];
		int cs, ss;

		err = connect_pair(lfd, port, &k[i].c, &k[i].s);
		if (err) {
			st_fail(&st->failures, st->why, sizeof(st->why),
				"connection %u of %u: %s", i, n, strerror(-err));
			goto out;
		}
		cs = tl_sock_map_state(pins.sock_hash, k[i].c);
		ss = tl_sock_map_state(pins.sock_hash, k[i].s);
		st->in_map += (cs == TL_IN_MAP) + (ss == TL_IN_MAP);
		st->fully_in_map += cs == TL_IN_MAP && ss == TL_IN_MAP;
		if (st->expect_accel && (cs != TL_IN_MAP || ss != TL_IN_MAP)) {
			st_fail(&st->failures, st->why, sizeof(st->why),
				"connection %u: client %s, server %s", i, tl_map_state_name(cs),
				tl_map_state_name(ss));
			goto out;
		}
		snprintf(label, sizeof(label), "stress conn %u", i);
		k[i].seed = tl_seed(label);
		k[i].last = tl_now_ms();
		if (set_nonblock(k[i].c) || set_nonblock(k[i].s) ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, k[i].s, &ev) < 0) {
			st_fail(&st->failures, st->why, sizeof(st->why), "connection %u: setup: %s",
				i, strerror(errno));
			goto out;
		}
		atomic_store(&st->up, (int)i + 1);
	}

	while (st->eofs < eofs_needed && !atomic_load(&st->failures)) {
		bool stopping = atomic_load(&st->stop);
		int ne;

		/* writers: every connection whose window has room */
		for (unsigned int i = 0; i < n; i++) {
			struct sconn *x = &k[i];
			__u64 room;
			size_t len;
			ssize_t r;

			if (x->shut)
				continue;
			if (stopping) {
				if (shutdown(x->c, SHUT_WR) < 0) {
					st_fail(&st->failures, st->why, sizeof(st->why),
						"connection %u: shutdown: %s", i, strerror(errno));
					goto out;
				}
				x->shut = true;
				continue;
			}
			room = st->window - (x->written - x->verified);
			if (x->written - x->verified >= st->window)
				continue;
			len = chunk_sizes[ci++ % (sizeof(chunk_sizes) / sizeof(chunk_sizes[0]))];
			if (len > room)
				len = (size_t)room;
			tl_pattern_fill(wbuf, x->seed, x->written, len);
			r = send(x->c, wbuf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (r > 0) {
				x->written += (__u64)r;
			} else if (r < 0 && errno != EAGAIN && errno != EINTR) {
				st_fail(&st->failures, st->why, sizeof(st->why),
					"connection %u: send: %s", i, strerror(errno));
				goto out;
			}
		}
		/* readers */
		ne = epoll_wait(ep, evs, 256, 1);
		for (int e = 0; e < ne; e++) {
			unsigned int i = evs[e].data.u32;

			if (stream_read(st, &k[i], i, rbuf, 262144, ep))
				goto out;
		}
		/* a connection with something outstanding must move */
		if (tl_now_ms() - last_check > 1000) {
			long long now = tl_now_ms();

			last_check = now;
			for (unsigned int i = 0; i < n; i++) {
				bool waiting = k[i].written > k[i].verified || (k[i].shut && !k[i].eof);

				if (!waiting)
					k[i].last = now;
				else if (now - k[i].last > st->stall_ms) {
					st_fail(&st->failures, st->why, sizeof(st->why),
						"connection %u: no progress for %d ms at %llu of %llu "
						"bytes%s", i, st->stall_ms,
						(unsigned long long)k[i].verified,
						(unsigned long long)k[i].written,
						k[i].shut ? " (EOF expected)" : "");
					goto out;
				}
			}
		}
	}
	for (unsigned int i = 0; i < n; i++) {
		struct tl_tcp_bytes cb;

		st->written += k[i].written;
		if (tl_tcp_bytes(k[i].c, &cb) == 0 && cb.sent <= TL_BYPASS_MAX(k[i].written) + 16)
			st->accelerated++;
		else if (st->expect_accel)
			st_fail(&st->failures, st->why, sizeof(st->why),
				"connection %u: TCP carried %llu of %llu bytes: not accelerated", i,
				(unsigned long long)cb.sent, (unsigned long long)k[i].written);
	}
out:
	if (k) {
		for (unsigned int i = 0; i < n; i++) {
			if (k[i].c >= 0)
				close(k[i].c);
			if (k[i].s >= 0)
				close(k[i].s);
		}
	}
	if (lfd >= 0)
		close(lfd);
	if (ep >= 0)
		close(ep);
	free(k);
	free(wbuf);
	free(rbuf);
	tl_pins_close(&pins);
	atomic_store(&st->done, 1);
	return atomic_load(&st->failures) ? 1 : 0;
}

/* ------------------------------------------------------------------------ */
/* Short connections                                                        */

#define CHURN_LEN 1024

int st_churn_main(void *arg, int ctl)
{
	struct st_churn *ch = arg;
	struct tl_pins pins = TL_PINS_INIT;
	struct timeval tv = { .tv_sec = 10 };
	int lfd;
	__u16 port = 0;

	(void)ctl;
	if (tl_pins_open(&pins)) {
		st_fail(&ch->failures, ch->why, sizeof(ch->why), "can't open the pins");
		goto out;
	}
	lfd = listener(&port, 1024);
	if (lfd < 0) {
		st_fail(&ch->failures, ch->why, sizeof(ch->why), "listener: %s", strerror(-lfd));
		goto out;
	}
	for (unsigned long i = 0; !atomic_load(&ch->stop) && (!ch->max || i < ch->max); i++) {
		__u64 seed = tl_seed("churn") ^ i;
		struct tl_tcp_bytes cb, sb;
		int c, s, cs, ss, err;

		err = connect_pair(lfd, port, &c, &s);
		if (err) {
			st_fail(&ch->failures, ch->why, sizeof(ch->why),
				"short connection %lu: connect: %s", i, strerror(-err));
			break;
		}
		setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		cs = tl_sock_map_state(pins.sock_hash, c);
		ss = tl_sock_map_state(pins.sock_hash, s);
		/* each direction's first bytes go over TCP until its receiver
		 * has read (the splice guard): one byte each way first */
		if ((err = tl_warm_up(c, s)) ||
		    (err = tl_xfer(c, true, seed, CHURN_LEN, 10000)) ||
		    (err = tl_xfer(s, false, seed, CHURN_LEN, 10000)) ||
		    (err = tl_xfer(s, true, ~seed, CHURN_LEN, 10000)) ||
		    (err = tl_xfer(c, false, ~seed, CHURN_LEN, 10000))) {
			st_fail(&ch->failures, ch->why, sizeof(ch->why),
				"short connection %lu: exchange: %s", i, strerror(-err));
		} else if (tl_tcp_bytes(c, &cb) == 0 && tl_tcp_bytes(s, &sb) == 0) {
			/* TCP carried the warm-up byte only */
			bool accel = cs == TL_IN_MAP && ss == TL_IN_MAP && cb.sent <= 1 &&
				     sb.sent <= 1;

			atomic_fetch_add(&ch->bytes, 2 * CHURN_LEN);
			atomic_fetch_add(&ch->made, 1);
			if (accel)
				atomic_fetch_add(&ch->accelerated, 1);
			else if (ch->expect_accel)
				st_fail(&ch->failures, ch->why, sizeof(ch->why),
					"short connection %lu not accelerated: client %s, server %s, "
					"TCP carried %llu and %llu bytes", i, tl_map_state_name(cs),
					tl_map_state_name(ss), (unsigned long long)cb.sent,
					(unsigned long long)sb.sent);
		}
		close(c);
		close(s);
		if (atomic_load(&ch->failures) > 100)
			break;
	}
	close(lfd);
out:
	tl_pins_close(&pins);
	atomic_store(&ch->done, 1);
	return atomic_load(&ch->failures) ? 1 : 0;
}

/* ------------------------------------------------------------------------ */
/* sockaccelctl in a loop                                                   */

int st_ctl_main(void *arg, int ctl)
{
	static const char *const cmds[] = { "status", "stats", "conns" };
	struct st_ctl *c = arg;

	(void)ctl;
	while (!atomic_load(&c->stop)) {
		for (int i = 0; i < 3 && !atomic_load(&c->stop); i++) {
			char *argv[] = { (char *)tl_ctl_path(), "--pin-dir", tl_env.pin_dir,
					 (char *)cmds[i], NULL };
			char *out = NULL, *err = NULL;
			int status = 0, want = i == 0 ? c->status_ok : 0, r;

			r = tl_run_capture(argv, 30000, &status, &out, &err);
			if (r || !tl_exited_with(status, want)) {
				char sbuf[64];

				atomic_fetch_add(&c->failed[i], 1);
				st_fail(&c->failures, c->why, sizeof(c->why),
					"sockaccelctl %s: %s (wanted exit %d); stdout: %.300s; "
					"stderr: %.300s", cmds[i],
					r ? strerror(-r) : tl_status_str(status, sbuf, sizeof(sbuf)),
					want, out ? out : "", err ? err : "");
			}
			free(out);
			free(err);
			atomic_fetch_add(&c->runs[i], 1);
		}
		tl_sleep_ms(20);
	}
	atomic_store(&c->done, 1);
	return atomic_load(&c->failures) ? 1 : 0;
}
