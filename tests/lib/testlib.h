/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one helper library of the sockaccel integration tests. They drive the
 * real sockacceld on the real kernel, so everything here is about doing that
 * without hanging and without leaving anything behind:
 *
 *  - assertions that name the failing call and jump to the test's cleanup;
 *  - a private environment: temp dir, private bpffs, child cgroup, removed
 *    on every exit path (normal, assertion, SIGTERM/SIGINT, alarm budget);
 *  - children that join the test cgroup and/or a fresh network namespace
 *    before they create sockets, and TCP connections made that way;
 *  - sockacceld spawn/stop with READY=1 over $NOTIFY_SOCKET;
 *  - an HTTP/1.1 client on a plain socket, for /metrics;
 *  - pattern streams that detect loss, reordering and cross-talk;
 *  - the proofs of acceleration (map membership, counters, TCP_INFO,
 *    programs attached, map ids).
 *
 * Conventions: functions return 0 or a negative errno and say what went
 * wrong on stderr; every wait has a timeout. ASSERT_* macros need a
 * `cleanup:` label in the calling function.
 */
#ifndef SA_TESTLIB_H
#define SA_TESTLIB_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/bpf.h>
#include <linux/types.h>

#include "sockaccel.h"

/* ------------------------------------------------------------------------ */
/* Logging and assertions                                                   */

void tl_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Number of failed assertions in this process so far. */
int tl_failures(void);

void tl_fail_ret(const char *file, int line, const char *what, long long ret, int err);
void tl_fail_cmp(const char *file, int line, const char *what, const char *a_expr,
		 const char *op, const char *b_expr, long long a, long long b);
void tl_fail_msg(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void tl_fail_exit(const char *file, int line, const char *what, int status, int code);

/*
 * ASSERT_OK: @expr must be 0. A return of -1 is reported with errno's text
 * (libc convention), any other negative value as a negative errno (libbpf
 * and this library), a positive one as is.
 */
#define ASSERT_OK(expr, what) do {						\
	long long ret_ = (long long)(expr);					\
	int errno_ = errno;							\
	if (ret_ != 0) {							\
		tl_fail_ret(__FILE__, __LINE__, (what), ret_, errno_);		\
		goto cleanup;							\
	}									\
} while (0)

/* ASSERT_FD: @fd (an expression evaluated once) must be >= 0. */
#define ASSERT_FD(fd, what) do {						\
	long long ret_ = (long long)(fd);					\
	int errno_ = errno;							\
	if (ret_ < 0) {								\
		tl_fail_ret(__FILE__, __LINE__, (what), ret_, errno_);		\
		goto cleanup;							\
	}									\
} while (0)

#define TL_ASSERT_CMP(a, op, b, what) do {					\
	long long a_ = (long long)(a), b_ = (long long)(b);			\
	if (!(a_ op b_)) {							\
		tl_fail_cmp(__FILE__, __LINE__, (what), #a, #op, #b, a_, b_);	\
		goto cleanup;							\
	}									\
} while (0)

#define ASSERT_EQ(a, b, what)	TL_ASSERT_CMP(a, ==, b, what)
#define ASSERT_NEQ(a, b, what)	TL_ASSERT_CMP(a, !=, b, what)
#define ASSERT_GT(a, b, what)	TL_ASSERT_CMP(a, >, b, what)
#define ASSERT_GE(a, b, what)	TL_ASSERT_CMP(a, >=, b, what)
#define ASSERT_LT(a, b, what)	TL_ASSERT_CMP(a, <, b, what)
#define ASSERT_LE(a, b, what)	TL_ASSERT_CMP(a, <=, b, what)

#define ASSERT_TRUE(cond, what) do {						\
	if (!(cond)) {								\
		tl_fail_msg(__FILE__, __LINE__, "%s: `%s` is false", (what), #cond); \
		goto cleanup;							\
	}									\
} while (0)
#define ASSERT_FALSE(cond, what) do {						\
	if (cond) {								\
		tl_fail_msg(__FILE__, __LINE__, "%s: `%s` is true", (what), #cond); \
		goto cleanup;							\
	}									\
} while (0)

/* A wait status (waitpid) must be a normal exit with @code. */
#define ASSERT_EXIT(status, code, what) do {					\
	int st_ = (status), code_ = (code);					\
	if (!tl_exited_with(st_, code_)) {					\
		tl_fail_exit(__FILE__, __LINE__, (what), st_, code_);		\
		goto cleanup;							\
	}									\
} while (0)

#define FAIL(...) do {								\
	tl_fail_msg(__FILE__, __LINE__, __VA_ARGS__);				\
	goto cleanup;								\
} while (0)

/* Poll @cond every 10 ms for up to @timeout_ms; true if it became true. */
#define TL_WAIT_FOR(cond, timeout_ms) ({					\
	long long deadline_ = tl_now_ms() + (timeout_ms);			\
	bool ok_;								\
	while (!(ok_ = (cond)) && tl_now_ms() < deadline_)			\
		tl_sleep_ms(10);						\
	ok_;									\
})

long long tl_now_ms(void);	/* CLOCK_MONOTONIC */
void tl_sleep_ms(unsigned int ms);

bool tl_exited_with(int status, int code);
/* "exited 3", "killed by signal 9" */
const char *tl_status_str(int status, char *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* The test environment                                                     */

struct tl_env {
	char name[64];
	char tmp[PATH_MAX];		/* /tmp/sockaccel-test.XXXXXX */
	char bpffs[PATH_MAX];		/* <tmp>/bpffs, a private bpffs mount */
	char pin_dir[PATH_MAX];		/* <tmp>/bpffs/pins (created by the daemon) */
	char config[PATH_MAX];		/* <tmp>/sockaccel.conf, empty: the host's
					 * /etc/sockaccel never applies to a test */
	char cgroup2[PATH_MAX];		/* the cgroup2 mount point */
	char cgroup[PATH_MAX];		/* <cgroup2>/sockaccel-test-<pid>-<n> */
	int cgroup_fd;
};

/* Read-only for tests; filled by tl_init(). */
extern struct tl_env tl_env;

/*
 * Set up the environment for test @name and arm an alarm of @budget_s
 * seconds after which the test fails and cleans up. Needs root.
 */
int tl_init(const char *name, unsigned int budget_s);
/* Clean up and return the process exit status: 0 if no assertion failed. */
int tl_finish(void);

/* Kill @pid (SIGKILL) and reap it at cleanup unless untracked first. */
void tl_track_pid(pid_t pid);
void tl_untrack_pid(pid_t pid);
/* Unmount (MNT_DETACH) @path at cleanup, before the temp dir goes. */
int tl_track_mount(const char *path);
void tl_untrack_mount(const char *path);
/* Write @value to the sysctl file @path; the old value is restored at
 * cleanup. */
int tl_sysctl_set(const char *path, const char *value);
/* printf into a PATH_MAX buffer; -ENAMETOOLONG if it does not fit. */
int tl_pathf(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "<tmp>/<name>" into @buf (PATH_MAX). */
int tl_tmp_path(char *buf, const char *name);
/* "<pin_dir>/<name>" into @buf (PATH_MAX). */
int tl_pin_path(char *buf, const char *name);
/* rm -r @path, not crossing into other filesystems. */
int tl_rm_rf(const char *path);
/* Run @argv (argv[0] looked up in PATH) and wait up to @timeout_ms. */
int tl_run_cmd(char *const argv[], int timeout_ms, int *status);

/* ------------------------------------------------------------------------ */
/* Children: in the test cgroup and/or a new network namespace              */

struct tl_ctx {
	bool outside_cgroup;	/* default: join the test cgroup */
	bool netns;		/* unshare(CLONE_NEWNET) and bring lo up */
};

/* Runs in the child with one end of a SOCK_SEQPACKET channel; returns 0 on
 * success. The child exits non-zero if it fails or an assertion failed. */
typedef int (*tl_child_fn)(void *arg, int ctl);

struct tl_child {
	pid_t pid;
	int ctl;	/* parent's end of the channel */
	int pidfd;
};

/*
 * Fork a child that first joins the test cgroup (writes its pid to
 * cgroup.procs) and/or a new netns as @ctx says, and only then runs @fn.
 * Results come back over the channel or through tl_shared_alloc() memory.
 */
int tl_child_start(struct tl_child *c, const struct tl_ctx *ctx, tl_child_fn fn, void *arg);
/* Wait for the child to exit; *@status gets the wait status. Kills it and
 * returns -ETIMEDOUT after @timeout_ms. Closes the channel. */
int tl_child_wait(struct tl_child *c, int timeout_ms, int *status);
/* MAP_SHARED anonymous memory, visible to children forked later. */
void *tl_shared_alloc(size_t len);
void tl_shared_free(void *p, size_t len);

/* Join the test cgroup (the calling process). */
int tl_cgroup_join(void);
/* Enter a new network namespace and bring its lo up. */
int tl_netns_enter(void);

/* A message with up to @nfds file descriptors over a SOCK_SEQPACKET channel. */
int tl_send_msg(int ctl, const void *data, size_t len, const int *fds, int nfds);
/* Receive one; -ETIMEDOUT after @timeout_ms, -EPIPE when the peer is gone. */
int tl_recv_msg(int ctl, void *data, size_t len, int *fds, int max_fds, int *nfds,
		int timeout_ms);

/* ------------------------------------------------------------------------ */
/* TCP connections                                                          */

enum tl_family {
	TL_INET4,	/* 127.0.0.1 */
	TL_INET6,	/* ::1 */
	TL_DUAL,	/* [::] listener (V6ONLY off), IPv4 client to 127.0.0.1 */
};

struct tl_pair_opts {
	enum tl_family family;
	/* Where the listener (and so the accepted socket) and the client are
	 * created; both default to the test cgroup. */
	struct tl_ctx server;
	struct tl_ctx client;	/* ignored with server.netns: one netns for both */
	__u16 server_port;	/* 0: ephemeral */
	__u16 client_port;	/* 0: ephemeral; else bind the client to it */
	/* TCP Fast Open: warm up a cookie, then connect with sendto(MSG_FASTOPEN)
	 * carrying @syn_data. */
	bool fastopen;
	const void *syn_data;
	size_t syn_len;
	/* Skip the one-byte exchange each way that tl_pair_make does so that
	 * the next bytes are redirected (the splice guard keeps a direction on
	 * TCP until its receiver read with recvmsg); for receivers that must
	 * read by other means from their first byte. */
	bool no_warm_up;
};

struct tl_pair {
	int client;		/* non-blocking, in this process */
	int server;		/* the accepted socket */
	bool syn_data_acked;	/* fastopen: TCPI_OPT_SYN_DATA on the client */
};

#define TL_PAIR_INIT { .client = -1, .server = -1 }

/* Make a connected pair in the places @o names, hand both sockets to this
 * process (SCM_RIGHTS) and make them non-blocking. */
int tl_pair_make(struct tl_pair *p, const struct tl_pair_opts *o);
/* One byte each way between the two ends of a connection, read with recv:
 * what tl_pair_make does unless told not to (see no_warm_up). */
int tl_warm_up(int a, int b);
void tl_pair_close(struct tl_pair *p);
const char *tl_family_name(enum tl_family f);

/* ------------------------------------------------------------------------ */
/* HTTP, by hand (a plain socket, so that a test sees the bytes)            */

/* Every connect, send and receive of these times out after this long. */
#define TL_HTTP_MS	5000

/* A blocking TCP socket connected to @addr (a numeric IPv4 or IPv6 address:
 * "127.0.0.1", "::1") port @port, with TL_HTTP_MS send and receive
 * timeouts; the fd or -errno, after logging what failed. */
int tl_http_connect(const char *addr, __u16 port);
/*
 * "@method @path HTTP/1.1" with Connection: close to @addr:@port, the
 * response read to EOF: its status code into *@code and its body,
 * NUL-terminated and cut to @len - 1 bytes, into @body. 0, -EPROTO if the
 * answer is not HTTP, or another -errno (-ETIMEDOUT), after logging what
 * failed with the URL.
 */
int tl_http_request(const char *addr, __u16 port, const char *method, const char *path,
		    int *code, char *body, size_t len);

/* ------------------------------------------------------------------------ */
/* Pattern streams                                                          */

/*
 * Byte o of a stream is byte (o % 8) (little-endian) of the 64-bit word
 * (o / 8) ^ seed: every offset differs, so loss, duplication and reordering
 * show as "offset X carries the data of offset Y", and another stream's data
 * (another seed) as foreign data.
 */
__u64 tl_seed(const char *label);
void tl_pattern_fill(void *buf, __u64 seed, __u64 off, size_t len);
/* Index of the first byte of @buf that differs from the pattern, or @len. */
size_t tl_pattern_check(const void *buf, __u64 seed, __u64 off, size_t len);

enum tl_write_mode {
	TL_WRITE_SEND,		/* send(2), sizes cycling 1 B .. 1 MiB */
	TL_WRITE_SENDFILE,	/* sendfile(2) from a temp file holding the pattern */
	TL_WRITE_SPLICE,	/* write(2) into a pipe, splice(2) pipe -> socket */
};

struct tl_stream {
	/* Settings: tl_stream_init() sets defaults, change them before start. */
	char name[48];
	__u64 seed;
	__u64 len;		/* offset of the last byte + 1 */
	__u64 start;		/* first offset to write (earlier bytes were sent
				 * some other way, e.g. in a TFO SYN); the reader
				 * always starts at 0 */
	enum tl_write_mode mode;
	size_t max_write;	/* largest write (default 1 MiB) */
	__u64 max_ahead;	/* writer stays this close to the reader (default:
				 * a quarter of the flow limit, so that neither
				 * flow control nor the bound sends it to TCP) */
	unsigned int pace_us;	/* sleep after every write (default 0) */
	bool gated;		/* write only up to tl_stream_allow() (default off) */
	bool shutdown;		/* shutdown(SHUT_WR) after the last byte, and the
				 * reader expects EOF right after it (default on) */
	int stall_ms;		/* no progress for this long fails (default 20 s) */
	bool fixed_writes;	/* every write is max_write bytes (default off:
				 * sizes cycle 1 B .. max_write) */
	unsigned int read_delay_ms;	/* reader sleeps this long before its
					 * first read (default 0) */
	unsigned int read_pace_us;	/* reader sleeps after every read (default 0) */
	size_t max_read;	/* largest read (default and at most 1 MiB) */

	/* Progress, shared by the threads and the test. */
	_Atomic __u64 credit;
	_Atomic __u64 written;
	_Atomic __u64 verified;
	atomic_bool abort;
	atomic_bool wdone, rdone;

	/* Results */
	int werr, rerr;
	char wwhy[512], rwhy[512];

	/* Private */
	int wfd, rfd;
	pthread_t wthread, rthread;
	bool started;
};

void tl_stream_init(struct tl_stream *s, const char *name, __u64 len, enum tl_write_mode mode);
/* Start a writer thread on @wfd and a reader thread on @rfd. */
int tl_stream_start(struct tl_stream *s, int wfd, int rfd);
/* Let a gated writer send up to offset @upto. */
void tl_stream_allow(struct tl_stream *s, __u64 upto);
/* Wait until the reader verified @upto bytes; fails early if a side failed. */
int tl_stream_wait_verified(struct tl_stream *s, __u64 upto, int timeout_ms);
/* Wait for both threads (stopping them after @timeout_ms); 0 if the whole
 * stream arrived byte-exact (and EOF after it, with shutdown). Reports. */
int tl_stream_join(struct tl_stream *s, int timeout_ms);
/* Stop and join the threads; for cleanup paths. NULL-safe, idempotent. */
void tl_stream_stop(struct tl_stream *s);
const char *tl_write_mode_name(enum tl_write_mode m);

/* ------------------------------------------------------------------------ */
/* Acceleration proofs                                                      */

struct tl_pins {
	int sock_hash;
	int counters;
};

#define TL_PINS_INIT { .sock_hash = -1, .counters = -1 }

/* Open the pinned sock_hash and counters under tl_env.pin_dir. */
int tl_pins_open(struct tl_pins *p);
void tl_pins_close(struct tl_pins *p);

enum tl_map_state {
	TL_NOT_IN_MAP = 0,
	TL_IN_MAP = 1,		/* key present, value = this socket's SO_COOKIE */
	TL_IN_MAP_OTHER = 2,	/* key present with another socket's cookie */
};

/* Where socket @fd stands in SOCKHASH @map_fd (enum tl_map_state or -errno). */
int tl_sock_map_state(int map_fd, int fd);
const char *tl_map_state_name(int state);
/* tl_pair_make, then both sockets must be in SOCKHASH @map_fd (the one
 * that is not is logged): the start of every test of the fast path. */
int tl_pair_in_map(struct tl_pair *p, const struct tl_pair_opts *o, int map_fd);
/* Number of entries in SOCKHASH @map_fd (or any map whose key is no larger
 * than struct sa_sock_key, e.g. the local_addrs LPM trie). */
int tl_map_count(int map_fd, __u32 *n);

int tl_counters(const struct tl_pins *p, __u64 c[SA_CNT_MAX]);
/* One line: every non-zero counter by name. */
void tl_counters_log(const char *label, const __u64 c[SA_CNT_MAX]);

struct tl_tcp_bytes {
	__u64 sent;		/* tcpi_bytes_sent */
	__u64 acked;		/* tcpi_bytes_acked */
	__u64 received;		/* tcpi_bytes_received */
	__u8 options;		/* tcpi_options */
};
int tl_tcp_bytes(int fd, struct tl_tcp_bytes *b);
/*
 * Send, or receive and check, exactly @len bytes of pattern @seed (offset 0)
 * on @fd, blocking or not, retrying EAGAIN (non-blocking fd, socket
 * timeouts, tcp_bpf's spurious one) until @timeout_ms. 0, -EPIPE on EOF,
 * -EILSEQ on a wrong byte, or -errno.
 * Never allocates, so forked test children may call it.
 */
int tl_xfer(int fd, bool sending, __u64 seed, size_t len, int timeout_ms);
/* Bytes that went through TCP on an accelerated connection: "~0". */
#define TL_BYPASS_MAX(total)	((total) / 100)

/* Programs attached directly to the test cgroup for @type. */
int tl_cgroup_prog_count(enum bpf_attach_type type, __u32 *cnt);
/* Programs attached to map @map_fd for @type (BPF_SK_MSG_VERDICT). */
int tl_map_prog_count(int map_fd, enum bpf_attach_type type, __u32 *cnt);
/*
 * Wait until no sockops program is on the test cgroup (no sk_msg program on
 * @map_fd); -ETIMEDOUT with the last count in @cnt otherwise.
 */
int tl_wait_cgroup_detached(__u32 *cnt, int timeout_ms);
int tl_wait_map_detached(int map_fd, __u32 *cnt, int timeout_ms);
/* The id of the object pinned as @name (pins.h) in tl_env.pin_dir. */
/* A new fd for the object pinned as @name in tl_env.pin_dir, or -errno. */
int tl_pin_open(const char *name);
int tl_pin_id(const char *name, __u32 *id);
/* The program id inside the link pinned as @name. */
int tl_pin_link_prog_id(const char *name, __u32 *prog_id);
bool tl_map_id_exists(__u32 id);

/* The pinned fast path as the kernel sees it, read through fresh fds. */
struct tl_fastpath {
	__u32 map_id;		/* sock_hash */
	__u32 max_entries;	/* of sock_hash */
	__u32 msg_attach;	/* enum sa_msg_attach, from the pinned layout */
	__u32 link_sockops;	/* link ids */
	__u32 link_msg;		/* 0 with the legacy sk_msg attach */
	__u32 prog_sockops;	/* program ids inside those links */
	__u32 prog_msg;
	__u32 cg_progs;		/* sockops programs attached to the test cgroup */
	__u32 msg_progs;	/* sk_msg programs attached to sock_hash */
	__u64 cnt[SA_CNT_MAX];
};
int tl_fastpath_read(struct tl_fastpath *f);
void tl_fastpath_log(const char *label, const struct tl_fastpath *f);
/* Wait until map @id is freed (freeing is deferred); -ETIMEDOUT if not. */
int tl_map_id_wait_gone(__u32 id, int timeout_ms);

/* ------------------------------------------------------------------------ */
/* sockacceld                                                               */

enum {
	TL_D_RAW_ARGS = 1 << 0,	/* don't add --cgroup/--pin-dir of the env */
	TL_D_QUIET = 1 << 1,	/* don't add --verbose */
	TL_D_NO_CONFIG = 1 << 2,	/* don't add --config <tl_env.config> */
};

struct tl_daemon {
	int id;
	pid_t pid;
	int pidfd;
	int notify_fd;
	bool ready;
	bool exited;
	int status;		/* wait status, when exited */
	unsigned int n_status;	/* STATUS= notify messages taken so far */
	char err_path[PATH_MAX];	/* its stderr */
	char out_path[PATH_MAX];	/* its stdout */
};

#define TL_DAEMON_INIT { .pid = -1, .pidfd = -1, .notify_fd = -1 }

/* Default timeouts; the box is a noisy 2-core VM. */
#define TL_READY_MS	30000
#define TL_STOP_MS	15000

const char *tl_daemon_path(void);
/* Spawn sockacceld [--config F] [--cgroup C --pin-dir P] [--verbose] @args... (NULL-
 * terminated, may be NULL) with NOTIFY_SOCKET set; does not wait. */
int tl_daemon_start(struct tl_daemon *d, const char *const *args, unsigned int flags);
/* Non-blocking: take notify messages and a possible exit into account.
 * Long tests must call it now and then (the waits below do): sd_notify()
 * blocks sockacceld once 10 of its messages (STATUS= every 5 s, three per
 * SIGHUP) are unread. */
void tl_daemon_poll(struct tl_daemon *d);
/* 0 once READY=1 arrived; -ECHILD if the daemon exited first (its status
 * in d->status), -ETIMEDOUT. */
int tl_daemon_wait_ready(struct tl_daemon *d, int timeout_ms);
/* Start and wait for READY=1. */
int tl_daemon_start_ready(struct tl_daemon *d, const char *const *args, unsigned int flags);
/* Wait for the exit; -ETIMEDOUT. d->status holds the wait status. */
int tl_daemon_wait_exit(struct tl_daemon *d, int timeout_ms);
/*
 * tl_daemon_start_ready with the features in @refuse (comma list, or NULL)
 * treated as refused by the kernel through the documented test switch
 * (SOCKACCEL_TEST_REFUSE), then check that the "ready" line names a variant
 * starting with @variant ("base+budget", ...). 0, or -1 after logging why.
 */
int tl_daemon_start_variant(struct tl_daemon *d, const char *refuse, const char *variant);
/* Does the variant its "ready:" line names include @feature ("demote", ...;
 * whole names only)? */
bool tl_daemon_has_feature(const struct tl_daemon *d, const char *feature);
/* The variant its "ready:" line names ("base+peer_bound+demote+..."), into
 * @buf; -ENOENT if no such line (yet). */
int tl_daemon_variant(const struct tl_daemon *d, char *buf, size_t len);
/* Send @sig and wait for the exit; SIGKILL and -ETIMEDOUT after @timeout_ms. */
int tl_daemon_stop(struct tl_daemon *d, int sig, int timeout_ms);
/* Does its stdout or stderr contain @needle? */
bool tl_daemon_output_contains(const struct tl_daemon *d, const char *needle);
/* Copy its output to our stderr (on failures). */
void tl_daemon_dump(const struct tl_daemon *d);
/* Kill (SIGKILL) if still running and release; NULL-safe, idempotent. */
void tl_daemon_release(struct tl_daemon *d);

/*
 * tl_daemon_start with @wrapper (NULL-terminated, e.g. valgrind and its
 * options; wrapper[0] an absolute path) in front of the daemon.
 */
int tl_daemon_start_wrapped(struct tl_daemon *d, const char *const *wrapper,
			    const char *const *args, unsigned int flags);

/* ------------------------------------------------------------------------ */
/* Memory, fallback, commands, resources                                    */

/* Receive memory of socket @fd as `ss -tm` shows it (SO_MEMINFO):
 * rmem_alloc counts the redirected bytes queued for it as well as TCP's.
 * Either pointer may be NULL. */
int tl_sock_rmem(int fd, __u32 *rmem_alloc, __u32 *rcvbuf);
/* Has the sending direction of socket @fd fallen back to TCP (its entry in
 * the pinned sk_state)? 1 yes, 0 no, or -errno. */
int tl_sock_fallback(int fd);
/* TCP memory of the whole host in pages ("TCP: ... mem N" of
 * /proc/net/sockstat). */
int tl_tcp_mem_pages(long *pages);

/* sockaccelctl of the same build as the daemon (<build>/daemon), or
 * $SOCKACCELCTL. */
const char *tl_ctl_path(void);
/* "<build>/bpf/<name>" of the daemon's build tree, or "$SA_BPF_DIR/<name>",
 * into @buf (PATH_MAX). */
int tl_bpf_object_path(char *buf, const char *name);
/* Replace the contents of the daemons' config file (tl_env.config). */
int tl_config_write(const char *text);
/* VmRSS (KiB) and the number of open fds of process @pid. */
int tl_proc_usage(pid_t pid, long *rss_kb, int *nfds);
/*
 * Run @argv (argv[0] looked up in PATH) for up to @timeout_ms (then
 * SIGKILL) with stdin from /dev/null, and capture its stdout and stderr:
 * *@out and *@err are NUL-terminated and malloc'd (free them), NULL on
 * error. Usable from children of the test as well.
 */
int tl_run_capture(char *const argv[], int timeout_ms, int *status, char **out, char **err);

/*
 * Runs in the forked child just before exec, e.g. to drop privileges: only
 * async-signal-safe calls (the test may be threaded); on failure
 * _exit(TL_EXIT_HOOK_FAILED). 126 and 127 say that the child could not set
 * up its fds or exec.
 */
typedef void (*tl_exec_hook)(void *arg);
#define TL_EXIT_HOOK_FAILED 125

struct tl_capture {
	int status;		/* wait status */
	char *out;		/* stdout, NUL-terminated (it may hold NULs) */
	size_t out_len;
	char *err;		/* stderr, likewise */
	size_t err_len;
};
/* tl_run_capture with @hook (NULL: none) in the child, and the outputs'
 * lengths; @c's out and err are malloc'd (free them), NULL on error. */
int tl_run_capture_hook(char *const argv[], int timeout_ms, tl_exec_hook hook, void *arg,
			struct tl_capture *c);

/* Counter slot @slot (< SA_COUNTERS_CAP, e.g. SA_CNT_TEST_VARIANT) summed
 * over CPUs. */
int tl_counter_slot(const struct tl_pins *p, unsigned int slot, __u64 *sum);
/* Tag (hash of the instructions) and id of the program pinned as @name. */
int tl_pin_prog_tag(const char *name, __u8 tag[BPF_TAG_SIZE], __u32 *id);

/* Copy the lines of the daemon's stderr that contain @needle (e.g.
 * "error:") to the log; returns how many. */
int tl_daemon_log_lines(const struct tl_daemon *d, const char *needle);

/*
 * A new connection of @family in the test cgroup is accelerated: both
 * sockets in the pinned sock_hash, a @len-byte stream written with @mode
 * arrives byte-exact, and TCP carried ~0 of it. Assertion failures are
 * logged; returns whether all held.
 */
bool tl_new_conn_accelerated(const char *label, enum tl_family family, __u64 len,
			     enum tl_write_mode mode);

/* ------------------------------------------------------------------------ */
/* A ConfigMap volume (testlib_configmap.c)                                 */

struct tl_configmap {
	char dir[PATH_MAX];	/* the volume: ..data -> ..2026_NN/ */
	char conf[PATH_MAX];	/* <dir>/sockaccel.conf -> ..data/sockaccel.conf */
	unsigned int version;
};

/* Write @text to @path (created or truncated). */
int tl_write_file(const char *path, const char *text);
/* Make the volume under tl_env.tmp with @text as its first version. */
int tl_configmap_create(struct tl_configmap *cm, const char *text);
/* What the kubelet does on an update: a new timestamped dir with the file, a
 * symlink to it under a temp name renamed over ..data (atomic), the old dir
 * removed. */
int tl_configmap_update(struct tl_configmap *cm, const char *text);
/* Is a new IPv4 connection to server port @port in sock_hash (TL_IN_MAP,
 * TL_NOT_IN_MAP; -EPROTO if its two ends disagree)? */
int tl_port_map_state(const struct tl_pins *pins, __u16 port);
/* Lines of its stderr holding @needle; quiet, for polling. */
int tl_daemon_count_lines(struct tl_daemon *d, const char *needle);

#endif /* SA_TESTLIB_H */
