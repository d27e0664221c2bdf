// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Several threads writing one socket while its direction falls back to TCP
 * (KERNEL-FACTS, "Untested risk": the sender's lock is released while a
 * redirect is delivered, so another thread's message can go over TCP in
 * between).
 *
 * queue_limit alternates between its minimum (64 KiB; the receiver's
 * sk_rcvbuf rules), crossed after a few records, and 1 MiB, crossed after
 * many records redirected by the threads at once; it is changed by editing
 * the config and SIGHUP (the reload must reach the pinned ctl map). Each
 * round opens a new
 * accelerated connection, starts 4 writer threads at once on its (blocking)
 * client socket, each sending its own records with one send() per record,
 * while the receiver sleeps, then reads slowly, then at full speed.
 *
 * Every byte says who wrote it: the top 2 bits are the writer, the low 6
 * bits are that writer's pattern at its own byte offset. So the reader
 * checks, whatever the interleaving:
 *  - per writer: every byte, in order, none lost or duplicated, all of them
 *    (the order of one thread's writes is what TCP promises);
 *  - per record: no other writer's byte inside it ("whole").
 * The writer's direction must be marked fallen back in every round.
 *
 * A plain TCP connection (outside the cgroup) under the same load is the
 * control; its figures are logged beside the accelerated ones.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <bpf/bpf.h>

#include "exitcodes.h"
#include "testlib.h"

#define MiB (1ULL << 20)
#define NWRITERS 4
#define PER_WRITER (2 * MiB)	/* bytes per writer per round */
#define ROUNDS 20
#define CONTROL_ROUNDS 3
#define SLEEP_MS 300		/* receiver asleep at the start */
#define SLOW_MS 300		/* then reads slowly for this long */

static const size_t rec_sizes[] = { 17, 64, 200, 1000, 1448, 4000, 9000, 16384, 3, 65536, 511 };
#define NREC_SIZES (sizeof(rec_sizes) / sizeof(rec_sizes[0]))
#define MAX_RECS 4096		/* records per writer per round, at most */
#define MAX_SPLITS 4096

/* Byte @n of writer @w. */
static unsigned char wbyte(unsigned int w, __u64 n, __u64 seed)
{
	unsigned char b;

	tl_pattern_fill(&b, seed, n, 1);
	return (unsigned char)(w << 6 | (b & 63));
}

static void wfill(unsigned char *buf, unsigned int w, __u64 seed, __u64 off, size_t len)
{
	tl_pattern_fill(buf, seed, off, len);
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(w << 6 | (buf[i] & 63));
}

/* The size of record @i of writer @w (different writers cycle differently). */
static size_t rec_size(unsigned int w, __u64 i)
{
	return rec_sizes[(i + w * 3) % NREC_SIZES];
}

struct round;

struct writer {
	struct round *r;
	unsigned int id;
	__u64 seed;
	pthread_t th;
	bool started;
	int err;
	char why[256];
	__u64 records, sent;
	__u64 cut;		/* records the kernel took in more than one send() */
	bool partial[MAX_RECS];	/* which ones */
};

struct round {
	int fd;				/* the shared client socket */
	pthread_barrier_t go;
	struct writer w[NWRITERS];
	atomic_bool abort;
	atomic_int done;		/* writers finished; the last one shuts down */
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	unsigned char *buf = malloc(65536);
	__u64 off = 0;

	if (!buf) {
		w->err = -ENOMEM;
		return NULL;
	}
	pthread_barrier_wait(&w->r->go);
	while (off < PER_WRITER && !atomic_load(&w->r->abort)) {
		size_t len = rec_size(w->id, w->records), done = 0;

		if (len > PER_WRITER - off)
			len = (size_t)(PER_WRITER - off);
		wfill(buf, w->id, w->seed, off, len);
		while (done < len) {	/* one send() per record, unless it is cut short */
			struct pollfd p = { .fd = w->r->fd, .events = POLLOUT };
			ssize_t n = send(w->r->fd, buf + done, len - done,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n > 0) {
				done += (size_t)n;
				if (done < len && w->records < MAX_RECS && !w->partial[w->records]) {
					w->partial[w->records] = true;
					w->cut++;
				}
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN) {
				if (poll(&p, 1, 20000) == 1)
					continue;
				errno = ETIMEDOUT;
			}
			w->err = n < 0 ? -errno : -EIO;
			snprintf(w->why, sizeof(w->why), "writer %u: send of record %llu at its "
				 "offset %llu: %s", w->id, (unsigned long long)w->records,
				 (unsigned long long)(off + done),
				 n < 0 ? strerror(errno) : "returned 0");
			atomic_store(&w->r->abort, true);
			goto out;
		}
		off += len;
		w->records++;
	}
out:
	w->sent = off;
	free(buf);
	if (atomic_fetch_add(&w->r->done, 1) == NWRITERS - 1 && !w->err)
		shutdown(w->r->fd, SHUT_WR);	/* EOF after the last record */
	return NULL;
}

struct split {
	unsigned int writer;
	__u64 record;
	size_t size;
	__u64 at;		/* bytes of it received when another writer's came */
};

struct result {
	__u64 bytes;
	__u64 records;		/* completed records seen */
	__u64 split;		/* records with another writer's bytes inside */
	__u64 split_whole;	/* of those, sent by one complete send() */
	__u64 cut;		/* records the kernel took in several send()s */
	struct split splits[MAX_SPLITS];
	int fallback;		/* sk_state of the client after the round */
	__u64 tcp_sent;
};

/*
 * Read everything from @fd until EOF, checking it as described at the top.
 * Returns 0 or -errno with @why filled in.
 */
static int reader(int fd, const __u64 *seeds, struct result *res, char *why, size_t wlen)
{
	static unsigned char buf[1 << 20];
	__u64 pos[NWRITERS] = {}, in_rec[NWRITERS] = {}, rec_no[NWRITERS] = {};
	long long t0 = tl_now_ms(), last = t0;
	int open_rec = -1;	/* writer whose record is partly received */

	tl_sleep_ms(SLEEP_MS);
	for (;;) {
		bool slow = tl_now_ms() - t0 < SLEEP_MS + SLOW_MS;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n = recv(fd, buf, slow ? 4096 : sizeof(buf), MSG_DONTWAIT);

		if (n == 0)
			break;
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				snprintf(why, wlen, "recv: %s", strerror(errno));
				return -errno;
			}
			if (tl_now_ms() - last > 20000) {
				snprintf(why, wlen, "no data for 20 s after %llu bytes",
					 (unsigned long long)res->bytes);
				return -ETIMEDOUT;
			}
			poll(&p, 1, 100);
			continue;
		}
		last = tl_now_ms();
		for (ssize_t i = 0; i < n; i++) {
			unsigned int w = buf[i] >> 6;

			if (w >= NWRITERS || pos[w] >= PER_WRITER) {
				snprintf(why, wlen, "byte %llu of the stream claims writer %u at its "
					 "offset %llu: more than it wrote", (unsigned long long)
					 (res->bytes + (__u64)i), w,
					 (unsigned long long)(w < NWRITERS ? pos[w] : 0));
				return -EILSEQ;
			}
			if (buf[i] != wbyte(w, pos[w], seeds[w])) {
				snprintf(why, wlen, "writer %u: its byte %llu (stream byte %llu, in "
					 "its record %llu) is wrong: lost, duplicated or reordered "
					 "within one thread's writes", w, (unsigned long long)pos[w],
					 (unsigned long long)(res->bytes + (__u64)i),
					 (unsigned long long)rec_no[w]);
				return -EILSEQ;
			}
			if (open_rec >= 0 && open_rec != (int)w) {
				/* another writer's byte inside open_rec's record */
				unsigned int o = (unsigned int)open_rec;

				if (res->split < MAX_SPLITS)
					res->splits[res->split] = (struct split){
						.writer = o, .record = rec_no[o],
						.size = rec_size(o, rec_no[o]), .at = in_rec[o] };
				res->split++;
			}
			pos[w]++;
			in_rec[w]++;
			open_rec = (int)w;
			if (in_rec[w] == rec_size(w, rec_no[w]) || pos[w] == PER_WRITER) {
				in_rec[w] = 0;
				rec_no[w]++;
				res->records++;
				open_rec = -1;
			}
		}
		res->bytes += (__u64)n;
		if (slow)
			usleep(1000);
	}
	for (unsigned int w = 0; w < NWRITERS; w++) {
		if (pos[w] != PER_WRITER) {
			snprintf(why, wlen, "EOF with %llu of writer %u's %llu bytes",
				 (unsigned long long)pos[w], w, (unsigned long long)PER_WRITER);
			return -EPIPE;
		}
	}
	return 0;
}

static int set_blocking(int fd)
{
	struct timeval tv = { .tv_sec = 30 };
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -errno;
	/* a blocked send() fails instead of hanging the test */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

static bool one_round(const char *label, bool plain, unsigned int no, struct result *res)
{
	struct tl_pair_opts o = { .family = TL_INET4 };
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_tcp_bytes cb;
	struct round r = { .fd = -1 };
	__u64 seeds[NWRITERS];
	char name[64], why[512] = "";
	bool barrier = false, ok = false;
	int err;

	memset(res, 0, sizeof(*res));
	if (plain)
		o.server.outside_cgroup = o.client.outside_cgroup = true;
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash");
	ASSERT_OK(tl_pair_make(&p, &o), "tl_pair_make");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, p.client), plain ? TL_NOT_IN_MAP : TL_IN_MAP,
		  plain ? "control client not in sock_hash" : "client in sock_hash");
	ASSERT_OK(set_blocking(p.client), "make the client socket blocking");
	r.fd = p.client;
	ASSERT_OK(-pthread_barrier_init(&r.go, NULL, NWRITERS), "barrier");
	barrier = true;
	for (unsigned int w = 0; w < NWRITERS; w++) {
		snprintf(name, sizeof(name), "%s round %u writer %u", label, no, w);
		seeds[w] = tl_seed(name);
		r.w[w] = (struct writer){ .r = &r, .id = w, .seed = seeds[w] };
		ASSERT_OK(-pthread_create(&r.w[w].th, NULL, writer_main, &r.w[w]),
			  "start a writer thread");
		r.w[w].started = true;
	}
	err = reader(p.server, seeds, res, why, sizeof(why));
	for (unsigned int w = 0; w < NWRITERS; w++) {
		pthread_join(r.w[w].th, NULL);
		r.w[w].started = false;
	}
	for (unsigned int w = 0; w < NWRITERS; w++)
		if (r.w[w].err)
			FAIL("%s round %u: %s", label, no, r.w[w].why);
	if (err)
		FAIL("%s round %u: %s", label, no, why);
	/* a record the kernel took in pieces may be interleaved on TCP too;
	 * one taken whole by a single send() must arrive whole */
	for (unsigned int w = 0; w < NWRITERS; w++)
		res->cut += r.w[w].cut;
	for (__u64 i = 0; i < res->split && i < MAX_SPLITS; i++) {
		const struct split *sp = &res->splits[i];
		bool cut = sp->record >= MAX_RECS || r.w[sp->writer].partial[sp->record];

		if (!cut)
			res->split_whole++;
		if (!cut || getenv("BT_DEBUG"))
			tl_log("%s round %u: writer %u's record %llu (%zu bytes, sent by %s) has "
			       "another writer's bytes after its byte %llu", label, no, sp->writer,
			       (unsigned long long)sp->record, sp->size,
			       cut ? "several send()s" : "ONE send()", (unsigned long long)sp->at);
	}
	ASSERT_OK(tl_tcp_bytes(p.client, &cb), "TCP_INFO");
	res->tcp_sent = cb.sent;
	res->fallback = plain ? 0 : tl_sock_fallback(p.client);
	tl_log("%s round %u: %llu bytes from %d threads, %llu records (%llu taken by the kernel "
	       "in pieces), %llu interleaved with another writer's bytes (%llu of them sent by "
	       "one send()), %llu bytes over TCP%s", label, no,
	       (unsigned long long)res->bytes, NWRITERS, (unsigned long long)res->records,
	       (unsigned long long)res->cut, (unsigned long long)res->split,
	       (unsigned long long)res->split_whole, (unsigned long long)cb.sent,
	       plain ? "" : res->fallback == 1 ? ", fell back" : ", did NOT fall back");
	ok = true;
cleanup:
	if (!ok)
		atomic_store(&r.abort, true);
	/* the writers end once the socket is shut down (or their timeout) */
	if (p.client >= 0)
		shutdown(p.client, SHUT_RDWR);
	for (unsigned int w = 0; w < NWRITERS; w++)
		if (r.w[w].started)
			pthread_join(r.w[w].th, NULL);
	if (barrier)
		pthread_barrier_destroy(&r.go);
	tl_pair_close(&p);
	tl_pins_close(&pins);
	return ok;
}

/* queue_limit in the config, SIGHUP, and wait until the pinned ctl has it. */
static bool set_limit(struct tl_daemon *d, __u32 limit)
{
	char text[64], path[PATH_MAX];
	struct sa_ctl c = {};
	__u32 zero = 0;
	int fd = -1;
	bool ok = false;

	snprintf(text, sizeof(text), "queue_limit = %u\n", limit);
	ASSERT_OK(tl_config_write(text), "write queue_limit to the config");
	/* its notify messages must be read, or sd_notify() blocks the daemon
	 * once the datagram queue is full (10 messages) */
	tl_daemon_poll(d);
	ASSERT_OK(kill(d->pid, SIGHUP), "SIGHUP sockacceld (reload)");
	ASSERT_OK(tl_pin_path(path, "ctl"), "ctl pin path");
	fd = bpf_obj_get(path);
	ASSERT_FD(fd, "open the pinned ctl map");
	ASSERT_TRUE(TL_WAIT_FOR((tl_daemon_poll(d), bpf_map_lookup_elem(fd, &zero, &c) == 0 &&
				 c.queue_limit == limit), 10000),
		    "the reload put the new queue_limit into ctl");
	ok = true;
cleanup:
	if (fd >= 0)
		close(fd);
	return ok;
}

int main(void)
{
	struct tl_daemon d = TL_DAEMON_INIT;
	static struct result res;
	__u64 acc_split = 0, acc_bytes = 0, acc_records = 0, ctl_split = 0, ctl_records = 0;
	__u64 acc_cut = 0, ctl_cut = 0, acc_split_all = 0, ctl_split_all = 0;
	unsigned int fell = 0;

	ASSERT_OK(tl_init("bound_threads", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_config_write("queue_limit = 65536\n"), "write queue_limit to the config");
	/* the sticky bound: flow control refused (integration.flowctl has it) */
	ASSERT_OK(tl_daemon_start_variant(&d, "flow_control", "base+"),
		  "start sockacceld with flow_control refused");
	if (tl_daemon_output_contains(&d, "queue limit unavailable")) {
		/* the documented behaviour before 6.2: no bound, and it says so */
		tl_log("SKIP the bound: this kernel has no bpf_cast_to_kern_ctx (< 6.2); "
		       "sockacceld reports the queue limit as unavailable, as documented");
		ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
		goto cleanup;
	}

	tl_log("---- control: the same load on plain TCP");
	for (unsigned int i = 1; i <= CONTROL_ROUNDS; i++) {
		ASSERT_TRUE(one_round("plain", true, i, &res), "plain TCP round");
		ctl_split += res.split_whole;
		ctl_split_all += res.split;
		ctl_cut += res.cut;
		ctl_records += res.records;
	}
	tl_log("---- accelerated connections, falling back while %d threads write", NWRITERS);
	for (unsigned int i = 1; i <= ROUNDS; i++) {
		/* a small limit crosses at once; a larger one after many
		 * records redirected by the threads concurrently */
		ASSERT_TRUE(set_limit(&d, i % 2 ? 65536 : 1 << 20), "change queue_limit");
		tl_log("accelerated round %u: queue_limit %u", i, i % 2 ? 65536 : 1 << 20);
		ASSERT_TRUE(one_round("accelerated", false, i, &res), "accelerated round");
		acc_split += res.split_whole;
		acc_split_all += res.split;
		acc_cut += res.cut;
		acc_records += res.records;
		acc_bytes += res.bytes;
		fell += res.fallback == 1;
		ASSERT_EQ(res.fallback, 1, "the shared socket's direction fell back this round");
	}
	tl_log("FIGURE bound_threads: %llu bytes from %d threads on one socket per round, %d "
	       "rounds, every thread's bytes in order and complete; %u of %d directions fell "
	       "back mid-write; records: %llu, %llu taken by the kernel in pieces, %llu "
	       "interleaved, %llu of them sent by one send() (plain TCP control: %llu records, "
	       "%llu in pieces, %llu interleaved, %llu sent by one send())",
	       (unsigned long long)acc_bytes, NWRITERS, ROUNDS, fell, ROUNDS,
	       (unsigned long long)acc_records, (unsigned long long)acc_cut,
	       (unsigned long long)acc_split_all, (unsigned long long)acc_split,
	       (unsigned long long)ctl_records, (unsigned long long)ctl_cut,
	       (unsigned long long)ctl_split_all, (unsigned long long)ctl_split);
	ASSERT_EQ(ctl_split, 0, "control: plain TCP keeps every record of one send() whole");
	ASSERT_EQ(acc_split, 0, "every record sent by one send() arrived whole on the "
		  "accelerated connections");

	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
cleanup:
	tl_daemon_release(&d);
	return tl_finish();
}
