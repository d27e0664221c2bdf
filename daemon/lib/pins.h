/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_PINS_H
#define SA_PINS_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include <linux/types.h>

#include "fdinfo.h"
#include "sockaccel.h"

/*
 * The pin layout, in one place. Maps are pinned by libbpf under their BPF
 * names (LIBBPF_PIN_BY_NAME in sockaccel.bpf.c); programs and links by us.
 */
#define SA_PIN_DIR_DEFAULT	"/sys/fs/bpf/sockaccel"
#define SA_BPFFS_MOUNT_DEFAULT	"/sys/fs/bpf"

#define SA_PIN_LAYOUT		"layout"
#define SA_PIN_SOCK_HASH	"sock_hash"
#define SA_PIN_COUNTERS		"counters"
#define SA_PIN_CTL		"ctl"
#define SA_PIN_LOCAL_ADDRS	"local_addrs"
#define SA_PIN_PORTS		"ports"
#define SA_PIN_SK_STATE		"sk_state"
#define SA_PIN_MARKS		"marks"
#define SA_PIN_GENS		"gens"
#define SA_PIN_FEATURES		"features"
#define SA_PIN_RX_SEQ		"rx_seq"
#define SA_PIN_PROG_RX		"prog_rx"
#define SA_PIN_LINK_RX		"link_rx"
#define SA_PIN_STEPASIDE	"stepaside"
#define SA_PIN_PROG_SPLICE	"prog_splice"
#define SA_PIN_LINK_SPLICE	"link_splice"
#define SA_PIN_PROG_SOCKOPS	"prog_sockops"
#define SA_PIN_PROG_MSG		"prog_msg"
#define SA_PIN_LINK_SOCKOPS	"link_sockops"
#define SA_PIN_LINK_MSG		"link_msg"
/* Suffix of a pin being replaced; renamed over the real name. */
#define SA_PIN_TMP_SUFFIX	"__new"	/* bpffs refuses names with dots */

struct sa_pin_desc {
	const char *name;
	enum sa_pin_kind kind;
	__u32 feature;		/* SA_FEAT_* it exists for; 0: always */
};

/* In set-up order: teardown walks it backwards (links first, layout last). */
extern const struct sa_pin_desc sa_pins[];
extern const unsigned int sa_pins_cnt;

/* The tracepoint programs: each is loaded only with its feature, and its
 * program and link are pinned under these names. */
struct sa_tracing_prog {
	const char *prog;	/* name in the BPF object */
	const char *tracepoint;
	__u32 feature;		/* SA_FEAT_* */
	const char *prog_pin;
	const char *link_pin;
};
#define SA_TRACING_PROGS_CNT	2u
extern const struct sa_tracing_prog sa_tracing_progs[SA_TRACING_PROGS_CNT];

/* The entry of sa_pins[] named @name, or NULL. */
const struct sa_pin_desc *sa_pin_lookup(const char *name);

/* "@dir/@name" into @buf (PATH_MAX); -ENAMETOOLONG when it does not fit. */
int sa_pin_path(char *buf, const char *dir, const char *name);

/* Room for a one-line explanation naming a pin path, what is wrong and the fix. */
#define SA_PIN_WHY_LEN		(PATH_MAX * 2 + 256)

/*
 * Open the pin @name under @dir (bpf_obj_get), the one way every caller
 * does. Returns the fd, or a negative errno with @why (when not NULL)
 * holding one line that names the pin path, the errno text and the fix.
 */
int sa_pin_open(const char *dir, const char *name, char *why, size_t len);

/* What the layout pin says about a pin dir. */
enum sa_layout_state {
	SA_LAYOUT_CURRENT,	/* ours, layout SA_LAYOUT_VERSION */
	SA_LAYOUT_UNWRITTEN,	/* ours, created but never written: a setup stopped half-way */
	SA_LAYOUT_OTHER,	/* ours, another layout version */
	SA_LAYOUT_FOREIGN,	/* the pin is not a sockaccel layout map */
	SA_LAYOUT_UNREADABLE,	/* it cannot be opened or read (missing included) */
};

struct sa_layout_check {
	enum sa_layout_state state;
	int err;		/* 0 when CURRENT; -errno when UNREADABLE; else -EPROTO */
	bool read;		/* @layout holds the pinned value */
	struct sa_layout layout;
	char why[SA_PIN_WHY_LEN];	/* what is wrong and the fix; "" when CURRENT */
};

/*
 * The layout rule, in one place: is @pin_dir ours, and of which layout?
 * Opens the layout pin, checks it is a sockaccel layout map, reads it and
 * judges magic and version. Returns @c->err. Callers decide what they
 * accept beyond SA_LAYOUT_CURRENT (setup and drain finish an UNWRITTEN one).
 */
int sa_pin_layout_check(const char *pin_dir, struct sa_layout_check *c);

enum sa_pin_dir_state {
	SA_PIN_DIR_READY,		/* exists on bpffs */
	SA_PIN_DIR_CREATE,		/* parent is on bpffs; mkdir will do */
	SA_PIN_DIR_MOUNT,		/* parent is SA_BPFFS_MOUNT_DEFAULT, nothing mounted */
	SA_PIN_DIR_NOT_BPFFS,		/* dir or parent on another filesystem */
	SA_PIN_DIR_NO_PARENT,		/* parent does not exist */
	SA_PIN_DIR_TOO_LONG,
};

struct sa_pin_dir_plan {
	enum sa_pin_dir_state state;
	char checked[PATH_MAX];	/* the path whose filesystem decided it */
	long magic;		/* its f_type */
};

/* What preparing @pin_dir would take; touches nothing. */
void sa_pin_dir_plan(const char *pin_dir, struct sa_pin_dir_plan *plan);
/* One line saying what is wrong with a failing plan and how to fix it. */
int sa_pin_dir_plan_explain(const struct sa_pin_dir_plan *plan, const char *pin_dir,
			    char *buf, size_t len);

/*
 * Make sure @pin_dir can hold pins: it (or, if it does not exist yet, its
 * parent) must be on bpffs. When the parent is the conventional bpffs mount
 * point and nothing is mounted there, mount bpffs as bpftool does, if
 * @may_mount. Then create @pin_dir (0700). Errors are logged with the fix.
 */
int sa_pin_dir_prepare(const char *pin_dir, bool may_mount);

/*
 * Exclusive, non-blocking flock(2) on the pin dir itself, so that two
 * daemons (or a daemon and a drain) never set up one pin dir at once.
 * Returns the locked directory fd; the lock lives as long as it.
 * -EWOULDBLOCK when held elsewhere: *@holder gets the holder's pid (or 0).
 */
int sa_pin_dir_lock(const char *pin_dir, pid_t *holder);

/* Who holds a flock on the inode of @path, from a /proc/locks stream;
 * 0 if nobody. Split out from sa_pin_dir_lock() for unit tests. */
pid_t sa_proc_locks_holder(FILE *proc_locks, unsigned int major, unsigned int minor,
			   unsigned long ino);

#endif
