// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Integration test helpers: Pattern streams and transfers. See testlib.h. */
#include "testlib_priv.h"

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
/* Plain transfers                                                          */

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
		/* EAGAIN: a non-blocking fd, the socket's timeout, or tcp_bpf's
		 * spurious one (docs/kernel-behaviours.md): retry until our own
		 * deadline, polling briefly since readiness can lag that last */
		if ((errno != EAGAIN && errno != EINTR) || tl_now_ms() > deadline)
			return -errno;
		if (errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = sending ? POLLOUT : POLLIN };

			poll(&pfd, 1, 100);
		}
	}
	return 0;
}
