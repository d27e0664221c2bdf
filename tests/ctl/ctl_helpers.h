/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Helpers of the sockaccelctl tests, on top of testlib: run sockaccelctl
 * with its stdout and stderr captured (as root, as an unprivileged uid, or
 * as root without capabilities), with a timeout; assertions that show the
 * command line and its output when they fail; JSON and Prometheus checks
 * of that output (ctl_json.h, ctl_prom.h).
 *
 * Like testlib's, the ASSERT_* macros here need a `cleanup:` label.
 */
#ifndef SA_CTL_HELPERS_H
#define SA_CTL_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

#include "ctl_json.h"
#include "ctl_prom.h"
#include "testlib.h"

/* Exit statuses of sockaccelctl (sockaccelctl(8)); the tests spell them
 * out rather than include the CLI's private header. */
enum {
	CTL_OK = 0,
	CTL_FAIL = 1,
	CTL_USAGE = 2,
	CTL_OFF = 3,
	CTL_UNKNOWN = 4,
	CTL_DRAINED_EXCEPT = 5,
	CTL_BUSY = 6,
};

enum ctl_priv {
	CTL_AS_ROOT = 0,	/* as the test runs: root with all capabilities */
	CTL_AS_NOBODY,		/* uid/gid 65534, no supplementary groups */
	CTL_AS_ROOT_NO_CAPS,	/* uid 0 with every capability dropped (bounding set too) */
};

struct ctl_opts {
	enum ctl_priv priv;
	int timeout_ms;		/* 0: CTL_TIMEOUT_MS */
	bool no_pin_dir;	/* ctl_cmd: don't add --pin-dir <tl_env.pin_dir> */
};

#define CTL_TIMEOUT_MS 30000

struct ctl_out {
	char cmdline[1024];
	int status;		/* wait status */
	int code;		/* exit code; -1 if it did not exit normally */
	char *out;		/* stdout, NUL-terminated */
	size_t out_len;
	char *err;		/* stderr, NUL-terminated */
	size_t err_len;
};

#define CTL_OUT_INIT { .code = -1 }

/*
 * Run sockaccelctl (tl_ctl_path) with @args (NULL-terminated, argv[0]
 * excluded) and capture its output. Returns 0 once it exited (o->code), -ETIMEDOUT if it
 * had to be killed, another -errno if it could not be run. Any earlier
 * output in @o is freed first.
 */
int ctl_exec(struct ctl_out *o, const struct ctl_opts *co, const char *const *args);
/* ctl_exec with "--pin-dir <tl_env.pin_dir>" first, then the varargs
 * (NULL-terminated), as root. */
int ctl_cmd(struct ctl_out *o, const char *arg, ...) __attribute__((sentinel));
/* The same with options. */
int ctl_cmd_opts(struct ctl_out *o, const struct ctl_opts *co, const char *arg, ...)
	__attribute__((sentinel));
void ctl_out_free(struct ctl_out *o);
/* Copy the command line, exit and output to the log. */
void ctl_out_dump(const struct ctl_out *o);

/* Does stdout (or stderr) contain @needle? */
bool ctl_out_has(const struct ctl_out *o, const char *needle);
bool ctl_err_has(const struct ctl_out *o, const char *needle);

void ctl_fail_exit(const char *file, int line, const char *what, const struct ctl_out *o,
		   int code);
void ctl_fail_out(const char *file, int line, const char *what, const struct ctl_out *o,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The command ran (ctl_exec returned 0) and exited with @code. */
#define ASSERT_CTL(run, o, want, what) do {					\
	int r_ = (run), c_ = (want);						\
	if (r_ != 0 || (o)->code != c_) {					\
		ctl_fail_exit(__FILE__, __LINE__, (what), (o), c_);		\
		goto cleanup;							\
	}									\
} while (0)

/* @needle is in stdout (ASSERT_OUT_HAS) or stderr (ASSERT_ERR_HAS). */
#define ASSERT_OUT_HAS(o, needle, what) do {					\
	if (!ctl_out_has((o), (needle))) {					\
		ctl_fail_out(__FILE__, __LINE__, (what), (o),			\
			     "stdout does not contain \"%s\"", (needle));	\
		goto cleanup;							\
	}									\
} while (0)
#define ASSERT_ERR_HAS(o, needle, what) do {					\
	if (!ctl_err_has((o), (needle))) {					\
		ctl_fail_out(__FILE__, __LINE__, (what), (o),			\
			     "stderr does not contain \"%s\"", (needle));	\
		goto cleanup;							\
	}									\
} while (0)

/* Nothing on stderr (--json: informational lines are silent). */
#define ASSERT_NO_STDERR(o, what) do {						\
	if ((o)->err_len) {							\
		ctl_fail_out(__FILE__, __LINE__, (what), (o), "stderr is not empty"); \
		goto cleanup;							\
	}									\
} while (0)

/*
 * stdout must be exactly one JSON value of type @type; *@v gets it (free
 * with cj_free; set it to NULL beforehand, it is freed first).
 */
int ctl_json(const struct ctl_out *o, enum cj_type type, struct cj **v, char *why, size_t len);
#define ASSERT_JSON(o, type, v, what) do {					\
	char why_[320];								\
	if (ctl_json((o), (type), &(v), why_, sizeof(why_))) {			\
		ctl_fail_out(__FILE__, __LINE__, (what), (o), "%s", why_);	\
		goto cleanup;							\
	}									\
} while (0)

/* A JSON error: stdout is {"error": "<text containing @needle>"} and nothing else. */
int ctl_json_error(const struct ctl_out *o, const char *needle, char *why, size_t len);
#define ASSERT_JSON_ERROR(o, needle, what) do {					\
	char why_[320];								\
	if (ctl_json_error((o), (needle), why_, sizeof(why_))) {		\
		ctl_fail_out(__FILE__, __LINE__, (what), (o), "%s", why_);	\
		goto cleanup;							\
	}									\
} while (0)

/* Member @path of @v is a string equal to @want / a boolean @want / an
 * unsigned integer (into *@out). */
#define ASSERT_JSON_STR(v, path, want, what) do {				\
	const char *s_ = cj_str(cj_path((v), (path)));				\
	if (!s_ || strcmp(s_, (want)) != 0) {					\
		tl_fail_msg(__FILE__, __LINE__, "%s: JSON %s is %s%s%s, expected \"%s\"", \
			    (what), (path), s_ ? "\"" : "", s_ ? s_ : "not a string", \
			    s_ ? "\"" : "", (want));				\
		goto cleanup;							\
	}									\
} while (0)
#define ASSERT_JSON_BOOL(v, path, want, what) do {				\
	bool b_;								\
	if (cj_bool(cj_path((v), (path)), &b_) || b_ != (want)) {		\
		tl_fail_msg(__FILE__, __LINE__, "%s: JSON %s is not %s", (what),	\
			    (path), (want) ? "true" : "false");			\
		goto cleanup;							\
	}									\
} while (0)
#define ASSERT_JSON_U64(v, path, out, what) do {				\
	if (cj_u64(cj_path((v), (path)), (out))) {				\
		tl_fail_msg(__FILE__, __LINE__, "%s: JSON %s is not an unsigned integer", \
			    (what), (path));					\
		goto cleanup;							\
	}									\
} while (0)

/* ------------------------------------------------------------------------ */
/* Odds and ends                                                            */

/* Names of the entries of @dir that start with @prefix, ", "-separated, in
 * @buf; returns how many there are (or -errno). */
int ctl_dir_entries(const char *dir, const char *prefix, char *buf, size_t len);
/* rmdir every <tl_env.cgroup>/sockaccel-probe-* a failing probe left, so the
 * test cgroup can go; returns how many were there. */
int ctl_remove_probe_cgroups(void);
/* Does @path exist? */
bool ctl_exists(const char *path);

/* "a.b.c.d:port" or "[v6]:port" as sockaccelctl conns prints an address,
 * with v4-mapped IPv6 shown as IPv4 (as the map keys hold them). */
int ctl_sockaddr_str(int fd, bool peer, char *buf, size_t len, bool *ipv4);
int ctl_sock_cookie(int fd, __u64 *cookie);
int ctl_netns_cookie(int fd, __u64 *cookie);

/*
 * Wait until no sockops program is attached to the test cgroup (no sk_msg
 * program to map @map_fd). A link is released when its pin's inode goes,
 * which can lag its unlink a little; the wait says so in the log.
 * 0, or -ETIMEDOUT (the count is in *@cnt).
 */

/* The counters through the pins' fd, with a log line. */
int ctl_counters(const struct tl_pins *p, __u64 c[SA_CNT_MAX], const char *label);

#endif
