// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Integration test helpers: Proofs of acceleration: map state, counters, programs. See testlib.h. */
#include "testlib_priv.h"

/* ------------------------------------------------------------------------ */
/* Acceleration proofs                                                      */

int tl_pin_open(const char *name)
{
	char path[PATH_MAX];
	int fd;

	if (tl_pin_path(path, name))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

int tl_pins_open(struct tl_pins *p)
{
	p->sock_hash = tl_pin_open(SA_PIN_SOCK_HASH);
	if (p->sock_hash < 0)
		return p->sock_hash;
	p->counters = tl_pin_open(SA_PIN_COUNTERS);
	if (p->counters < 0) {
		int err = p->counters;

		close(p->sock_hash);
		p->sock_hash = -1;
		return err;
	}
	return 0;
}

void tl_pins_close(struct tl_pins *p)
{
	if (!p)
		return;
	if (p->sock_hash >= 0)
		close(p->sock_hash);
	if (p->counters >= 0)
		close(p->counters);
	p->sock_hash = p->counters = -1;
}

int tl_sock_map_state(int map_fd, int fd)
{
	struct sa_sock_key k;
	__u64 val = 0, cookie = 0;
	socklen_t cl = sizeof(cookie);
	int err;

	err = sa_key_of_socket(fd, &k);
	if (err)
		return err;
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &cl) < 0)
		return -errno;
	if (bpf_map_lookup_elem(map_fd, &k, &val) < 0)
		return errno == ENOENT ? TL_NOT_IN_MAP : -errno;
	return val == cookie ? TL_IN_MAP : TL_IN_MAP_OTHER;
}

const char *tl_map_state_name(int state)
{
	switch (state) {
	case TL_NOT_IN_MAP: return "not in the map";
	case TL_IN_MAP: return "in the map";
	case TL_IN_MAP_OTHER: return "key in the map with another socket's cookie";
	}
	return strerror(-state);
}

int tl_pair_in_map(struct tl_pair *p, const struct tl_pair_opts *o, int map_fd)
{
	int fds[2], i, st;

	if (tl_pair_make(p, o))
		return -1;
	fds[0] = p->client;
	fds[1] = p->server;
	for (i = 0; i < 2; i++) {
		st = tl_sock_map_state(map_fd, fds[i]);
		if (st != TL_IN_MAP) {
			tl_log("%s socket: %s, expected in the map", i ? "server" : "client",
			       tl_map_state_name(st));
			return -1;
		}
	}
	return 0;
}

int tl_map_count(int map_fd, __u32 *n)
{
	struct sa_sock_key k, next;
	void *prev = NULL;

	*n = 0;
	while (bpf_map_get_next_key(map_fd, prev, &next) == 0) {
		(*n)++;
		k = next;
		prev = &k;
		if (*n > SA_MAX_CONNS_MAX)
			return -ELOOP;
	}
	return errno == ENOENT ? 0 : -errno;
}

int tl_counters(const struct tl_pins *p, __u64 c[SA_CNT_MAX])
{
	return sa_counters_read(p->counters, c);
}

void tl_counters_log(const char *label, const __u64 c[SA_CNT_MAX])
{
	char line[1024];
	size_t n = 0;

	line[0] = '\0';
	for (int i = 0; i < SA_CNT_MAX && n < sizeof(line); i++)
		if (c[i])
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%llu",
					      sa_counter_descs[i].name, (unsigned long long)c[i]);
	tl_log("counters %s:%s", label, n ? line : " all zero");
}

int tl_tcp_bytes(int fd, struct tl_tcp_bytes *b)
{
	struct tcp_info ti = {};
	socklen_t len = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -errno;
	if (len < offsetof(struct tcp_info, tcpi_bytes_sent) + sizeof(ti.tcpi_bytes_sent))
		return -EOPNOTSUPP;
	b->sent = ti.tcpi_bytes_sent;
	b->acked = ti.tcpi_bytes_acked;
	b->received = ti.tcpi_bytes_received;
	b->options = ti.tcpi_options;
	return 0;
}

int tl_cgroup_prog_count(enum bpf_attach_type type, __u32 *cnt)
{
	__u32 ids[64], flags = 0;
	int err;

	*cnt = sizeof(ids) / sizeof(ids[0]);
	err = bpf_prog_query(tl_env.cgroup_fd, type, 0, &flags, ids, cnt);
	return err < 0 ? -errno : 0;
}

int tl_map_prog_count(int map_fd, enum bpf_attach_type type, __u32 *cnt)
{
	__u32 ids[64], flags = 0;
	int err;

	*cnt = sizeof(ids) / sizeof(ids[0]);
	err = bpf_prog_query(map_fd, type, 0, &flags, ids, cnt);
	return err < 0 ? -errno : 0;
}

/*
 * A link whose last reference was a bpffs pin is released from a workqueue
 * (bpf_link_put() defers the free), so the program leaves the cgroup or map a
 * little after unlink() returns: poll instead of asserting at once.
 */
static int wait_detached(int map_fd, enum bpf_attach_type type, bool cgroup, __u32 *cnt,
			 int timeout_ms)
{
	long long t0 = tl_now_ms();
	bool gone = TL_WAIT_FOR((cgroup ? tl_cgroup_prog_count(type, cnt)
					: tl_map_prog_count(map_fd, type, cnt)) == 0 && *cnt == 0,
				timeout_ms);

	if (gone && tl_now_ms() - t0 > 0)
		tl_log("%s detached after %lld ms", cgroup ? "sockops" : "sk_msg", tl_now_ms() - t0);
	return gone ? 0 : -ETIMEDOUT;
}

int tl_wait_cgroup_detached(__u32 *cnt, int timeout_ms)
{
	return wait_detached(-1, BPF_CGROUP_SOCK_OPS, true, cnt, timeout_ms);
}

int tl_wait_map_detached(int map_fd, __u32 *cnt, int timeout_ms)
{
	return wait_detached(map_fd, BPF_SK_MSG_VERDICT, false, cnt, timeout_ms);
}

int tl_pin_id(const char *name, __u32 *id)
{
	const struct sa_pin_desc *d = sa_pin_lookup(name);
	union {
		struct bpf_map_info map;
		struct bpf_prog_info prog;
		struct bpf_link_info link;
	} info;
	__u32 len;
	int fd, err = 0;

	if (!d)
		return -EINVAL;
	fd = tl_pin_open(name);
	if (fd < 0)
		return fd;
	memset(&info, 0, sizeof(info));
	len = d->kind == SA_PIN_MAP ? sizeof(info.map) :
	      d->kind == SA_PIN_PROG ? sizeof(info.prog) : sizeof(info.link);
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		err = -errno;
	else
		*id = d->kind == SA_PIN_MAP ? info.map.id :
		      d->kind == SA_PIN_PROG ? info.prog.id : info.link.id;
	close(fd);
	return err;
}

int tl_pin_link_prog_id(const char *name, __u32 *prog_id)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd, err = 0;

	fd = tl_pin_open(name);
	if (fd < 0)
		return fd;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		err = -errno;
	else
		*prog_id = info.prog_id;
	close(fd);
	return err;
}

bool tl_map_id_exists(__u32 id)
{
	int fd = bpf_map_get_fd_by_id(id);

	if (fd >= 0) {
		close(fd);
		return true;
	}
	return errno != ENOENT;
}

int tl_map_id_wait_gone(__u32 id, int timeout_ms)
{
	return TL_WAIT_FOR(!tl_map_id_exists(id), timeout_ms) ? 0 : -ETIMEDOUT;
}

int tl_fastpath_read(struct tl_fastpath *f)
{
	struct tl_pins p = TL_PINS_INIT;
	struct bpf_map_info mi = {};
	struct sa_layout layout = {};
	__u32 len = sizeof(mi), zero = 0;
	int err, lfd;

	memset(f, 0, sizeof(*f));
	err = tl_pins_open(&p);
	if (err) {
		tl_log("opening the pinned maps in %s: %s", tl_env.pin_dir, strerror(-err));
		return err;
	}
	if (bpf_obj_get_info_by_fd(p.sock_hash, &mi, &len) < 0) {
		err = -errno;
		goto cleanup;
	}
	f->map_id = mi.id;
	f->max_entries = mi.max_entries;
	/* how sk_msg is attached: a link (kernel >= 6.10) or legacy */
	lfd = tl_pin_open(SA_PIN_LAYOUT);
	if (lfd < 0) {
		err = lfd;
		goto cleanup;
	}
	if (bpf_map_lookup_elem(lfd, &zero, &layout) < 0)
		err = -errno;
	close(lfd);
	if (err)
		goto cleanup;
	f->msg_attach = layout.msg_attach;

	err = tl_counters(&p, f->cnt);
	if (!err)
		err = tl_pin_id(SA_PIN_LINK_SOCKOPS, &f->link_sockops);
	if (!err)
		err = tl_pin_link_prog_id(SA_PIN_LINK_SOCKOPS, &f->prog_sockops);
	if (!err && f->msg_attach == SA_MSG_ATTACH_LINK) {
		err = tl_pin_id(SA_PIN_LINK_MSG, &f->link_msg);
		if (!err)
			err = tl_pin_link_prog_id(SA_PIN_LINK_MSG, &f->prog_msg);
	} else if (!err) {
		err = tl_pin_id(SA_PIN_PROG_MSG, &f->prog_msg);
	}
	if (!err)
		err = tl_cgroup_prog_count(BPF_CGROUP_SOCK_OPS, &f->cg_progs);
	if (!err)
		err = tl_map_prog_count(p.sock_hash, BPF_SK_MSG_VERDICT, &f->msg_progs);
cleanup:
	if (err)
		tl_log("reading the pinned fast path: %s", strerror(-err));
	tl_pins_close(&p);
	return err;
}

void tl_fastpath_log(const char *label, const struct tl_fastpath *f)
{
	tl_log("fast path %s: sock_hash id %u (max %u); link_sockops %u -> prog %u; "
	       "sk_msg prog %u (%s %u); %u sockops prog(s) on the cgroup, %u sk_msg prog(s) "
	       "on the map; msgs_redirected %llu", label, f->map_id, f->max_entries,
	       f->link_sockops, f->prog_sockops, f->prog_msg,
	       f->msg_attach == SA_MSG_ATTACH_LINK ? "link" : "legacy attach, layout",
	       f->msg_attach == SA_MSG_ATTACH_LINK ? f->link_msg : f->msg_attach,
	       f->cg_progs, f->msg_progs, (unsigned long long)f->cnt[SA_CNT_MSG_REDIRECTED]);
}

/* ------------------------------------------------------------------------ */
/* Memory, fallback, resources                                              */

int tl_sock_rmem(int fd, __u32 *rmem_alloc, __u32 *rcvbuf)
{
	__u32 mi[SK_MEMINFO_VARS] = {};
	socklen_t len = sizeof(mi);

	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &len) < 0)
		return -errno;
	if (len < (SK_MEMINFO_RCVBUF + 1) * sizeof(__u32))
		return -EOPNOTSUPP;
	if (rmem_alloc)
		*rmem_alloc = mi[SK_MEMINFO_RMEM_ALLOC];
	if (rcvbuf)
		*rcvbuf = mi[SK_MEMINFO_RCVBUF];
	return 0;
}

/* Marked in its own storage, or by its peer in "marks" (until it next
 * sends or gets an ACK, when the mark moves to its storage). */
int tl_sock_fallback(int fd)
{
	struct sa_sk_state v = {};
	struct sa_sock_key key;
	int map = tl_pin_open(SA_PIN_SK_STATE), marks, err;
	__u32 mark;

	if (map < 0)
		return map;
	if (bpf_map_lookup_elem(map, &fd, &v) < 0)
		err = errno == ENOENT ? 0 : -errno;
	else
		err = v.fallback ? 1 : 0;
	close(map);
	if (err)
		return err;
	err = sa_key_of_socket(fd, &key);
	if (err)
		return err;
	marks = tl_pin_open(SA_PIN_MARKS);
	if (marks < 0)
		return marks;
	if (bpf_map_lookup_elem(marks, &key, &mark) < 0)
		err = errno == ENOENT ? 0 : -errno;
	else
		err = mark ? 1 : 0;
	close(marks);
	return err;
}

int tl_tcp_mem_pages(long *pages)
{
	char line[256];
	FILE *f = fopen("/proc/net/sockstat", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		const char *m;

		if (strncmp(line, "TCP:", 4) != 0 || !(m = strstr(line, " mem ")))
			continue;
		*pages = strtol(m + 5, NULL, 10);
		err = 0;
	}
	fclose(f);
	return err;
}

int tl_proc_usage(pid_t pid, long *rss_kb, int *nfds)
{
	char path[64], line[256];
	struct tl_dirent64 *de;
	char buf[4096];
	FILE *f;
	long n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	*rss_kb = -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			*rss_kb = strtol(line + 6, NULL, 10);
	fclose(f);
	if (*rss_kb < 0)
		return -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*nfds = 0;
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long pos = 0; pos < n; pos += de->d_reclen) {
			de = (struct tl_dirent64 *)(buf + pos);
			if (de->d_name[0] != '.')
				(*nfds)++;
		}
	}
	close(fd);
	return n < 0 ? -errno : 0;
}

int tl_counter_slot(const struct tl_pins *p, unsigned int slot, __u64 *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	struct sa_counters *percpu;
	size_t len;
	__u32 zero = 0;
	int err = 0;

	if (ncpu < 0)
		return ncpu;
	if (slot >= SA_COUNTERS_CAP)
		return -EINVAL;
	/* mmap, not malloc: forked test children call this, and a child of a
	 * threaded parent must not allocate (ASan's allocator deadlocked in one) */
	len = (size_t)ncpu * sizeof(*percpu);
	percpu = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (percpu == MAP_FAILED)
		return -errno;
	if (bpf_map_lookup_elem(p->counters, &zero, percpu) < 0) {
		err = -errno;
		goto cleanup;
	}
	*sum = 0;
	for (int cpu = 0; cpu < ncpu; cpu++)
		*sum += percpu[cpu].c[slot];
cleanup:
	munmap(percpu, len);
	return err;
}

int tl_pin_prog_tag(const char *name, __u8 tag[BPF_TAG_SIZE], __u32 *id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd = tl_pin_open(name), err = 0;

	if (fd < 0)
		return fd;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) {
		err = -errno;
	} else {
		memcpy(tag, info.tag, BPF_TAG_SIZE);
		if (id)
			*id = info.id;
	}
	close(fd);
	return err;
}

bool tl_new_conn_accelerated(const char *label, enum tl_family family, __u64 len,
			     enum tl_write_mode mode)
{
	struct tl_pair_opts o = { .family = family };
	struct tl_pair p = TL_PAIR_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_stream s;
	struct tl_tcp_bytes cb;
	bool ok = false;

	tl_stream_init(&s, label, len, mode);
	ASSERT_OK(tl_pins_open(&pins), "open pinned sock_hash");
	ASSERT_OK(tl_pair_make(&p, &o), "tl_pair_make");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, p.client), TL_IN_MAP,
		  "new client in sock_hash");
	ASSERT_EQ(tl_sock_map_state(pins.sock_hash, p.server), TL_IN_MAP,
		  "new server in sock_hash");
	ASSERT_OK(tl_stream_start(&s, p.client, p.server), "start stream");
	ASSERT_OK(tl_stream_join(&s, 60000), "the new connection's stream byte-exact");
	ASSERT_OK(tl_tcp_bytes(p.client, &cb), "TCP_INFO");
	ASSERT_LE(cb.sent, TL_BYPASS_MAX(s.len), "the new connection bypassed TCP");
	ok = true;
cleanup:
	tl_stream_stop(&s);
	tl_pair_close(&p);
	tl_pins_close(&pins);
	return ok;
}
