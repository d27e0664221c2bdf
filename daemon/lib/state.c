// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Read what the kernel says about one pin dir. Nothing here changes state,
 * and nothing reads a file the daemon wrote: a health check must see what
 * is, not what a process believed.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <bpf/bpf.h>

#include "fdinfo.h"
#include "counters.h"
#include "mounts.h"
#include "pins.h"
#include "state.h"

static void note_err(struct sa_state *st, int err, const char *what)
{
	if (st->err)
		return;
	st->err = err;
	snprintf(st->err_what, sizeof(st->err_what), "%s: %s", what, strerror(-err));
}

/* Open a pin of ours; -1 when absent or not what we pin there. */
static int open_pin(struct sa_state *st, const char *name)
{
	for (unsigned int i = 0; i < st->n_pins; i++) {
		if (strcmp(st->pins[i].name, name) != 0)
			continue;
		if (!st->pins[i].right_kind)
			return -1;
		return sa_pin_open(st->pin_dir, name, NULL, 0);
	}
	return -1;
}

static void read_pins(struct sa_state *st)
{
	if (sa_pins_cnt > SA_PINS_MAX)
		note_err(st, -E2BIG, "the pin table (raise SA_PINS_MAX)");
	for (unsigned int i = 0; i < sa_pins_cnt && i < SA_PINS_MAX; i++) {
		struct sa_pin_state *p = &st->pins[st->n_pins++];
		char path[PATH_MAX];
		int fd;

		p->name = sa_pins[i].name;
		if (sa_pin_path(path, st->pin_dir, p->name) || access(path, F_OK) != 0)
			continue;
		p->present = true;
		st->n_present++;
		fd = sa_pin_open(st->pin_dir, p->name, NULL, 0);
		if (fd < 0) {
			if (fd == -EPERM || fd == -EACCES)
				note_err(st, fd, path);
			continue;
		}
		p->right_kind = sa_fd_is(fd, sa_pins[i].kind);
		if (p->right_kind) {
			struct bpf_link_info li;

			if (sa_pins[i].kind == SA_PIN_MAP)
				p->id = sa_map_id(fd);
			else if (sa_pins[i].kind == SA_PIN_PROG)
				p->id = sa_prog_id(fd);
			else if (sa_link_info(fd, &li) == 0)
				p->id = li.id;
		}
		close(fd);
	}
}

static __u64 found_id;
static char *found_path;
static size_t found_len;

static int match_cgroup(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	if (type == FTW_D && sb->st_ino == found_id) {
		snprintf(found_path, found_len, "%s", path);
		return 1;
	}
	return 0;
}

/*
 * cgroup id -> path, by walking the cgroup2 mounts (ids are inode numbers).
 * Every mount, not the first only: in a pod the first is the pod's own
 * cgroup namespace, and the cgroup attached to is found in the host's
 * hierarchy mounted beside it (hostPath).
 */
static void cgroup_path_of(__u64 id, char *buf, size_t len)
{
	char mnt[PATH_MAX];

	buf[0] = '\0';
	/* nftw has no user pointer; the walk is single-threaded and short-lived */
	found_id = id;
	found_path = buf;
	found_len = len;
	for (unsigned int n = 0; id && !buf[0] && !sa_mount_find_nth("cgroup2", n, mnt, sizeof(mnt));
	     n++)
		nftw(mnt, match_cgroup, 32, FTW_PHYS | FTW_MOUNT);
}

static void read_sockops(struct sa_state *st)
{
	struct bpf_link_info li;
	int lfd, cfd, ret;

	lfd = open_pin(st, SA_PIN_LINK_SOCKOPS);
	if (lfd < 0)
		return;
	if (sa_link_info(lfd, &li) == 0 && li.type == BPF_LINK_TYPE_CGROUP)
		st->cgroup_id = li.cgroup.cgroup_id;
	cgroup_path_of(st->cgroup_id, st->cgroup, sizeof(st->cgroup));
	cfd = st->cgroup[0] ? open(st->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	/* A restart replaces the link's program between our two reads; read
	 * the link again until both agree (or the program is really gone). */
	for (int tries = 0; cfd >= 0 && tries < 5; tries++) {
		if (sa_link_info(lfd, &li) < 0 || li.type != BPF_LINK_TYPE_CGROUP)
			break;
		st->sockops_link_id = li.id;
		st->sockops_prog_id = li.prog_id;
		ret = sa_prog_attached(cfd, BPF_CGROUP_SOCK_OPS, st->sockops_prog_id,
				       &st->cgroup_sockops_progs);
		if (ret == -EPERM || ret == -EACCES) {	/* no CAP_NET_ADMIN: cannot tell */
			note_err(st, ret, "BPF_PROG_QUERY on the cgroup");
			break;
		}
		st->sockops_attached = ret > 0;
		if (st->sockops_attached)
			break;
		usleep(20000);
	}
	if (cfd >= 0)
		close(cfd);
	close(lfd);
}

/* The map's id, size and fill; the open map fd, or -1. */
static int read_map_fill(struct sa_state *st)
{
	struct sa_sock_key key, next;
	struct bpf_map_info mi = {};
	__u32 len = sizeof(mi);
	void *prev = NULL;
	int mfd;

	mfd = open_pin(st, SA_PIN_SOCK_HASH);
	if (mfd < 0)
		return -1;
	if (bpf_obj_get_info_by_fd(mfd, &mi, &len) == 0) {
		st->map_id = mi.id;
		st->max_entries = mi.max_entries;
	}
	while (bpf_map_get_next_key(mfd, prev, &next) == 0) {
		st->entries++;
		key = next;
		prev = &key;
	}
	return mfd;
}

static void read_map(struct sa_state *st)
{
	struct bpf_link_info li;
	int mfd, lfd, pfd;

	mfd = read_map_fill(st);
	if (mfd < 0)
		return;

	pfd = open_pin(st, SA_PIN_PROG_MSG);
	if (pfd >= 0) {
		st->msg_prog_id = sa_prog_id(pfd);
		close(pfd);
	}
	lfd = open_pin(st, SA_PIN_LINK_MSG);
	if (lfd >= 0) {
		if (sa_link_info(lfd, &li) == 0 && li.type == SA_BPF_LINK_TYPE_SOCKMAP) {
			st->msg_link_id = li.id;
			st->msg_prog_id = li.prog_id;
			st->msg_attached = sa_sockmap_link_map_id(&li) == st->map_id;
		}
		close(lfd);
	} else if (st->msg_prog_id) {
		/* no link: attached with bpf_prog_attach, if at all */
		int ret = sa_prog_attached(mfd, BPF_SK_MSG_VERDICT, st->msg_prog_id, NULL);

		st->msg_legacy = true;
		if (ret == -EPERM || ret == -EACCES)
			note_err(st, ret, "BPF_PROG_QUERY on the map");
		/* kernels before 5.19 cannot query a map (EINVAL): the pinned
		 * program is all there is to go by */
		st->msg_attached = ret > 0 || ret == -EINVAL;
	}
	close(mfd);
}

static void read_ctl(struct sa_state *st)
{
	__u32 zero = 0;
	struct sa_ctl ctl;
	int fd;

	fd = open_pin(st, SA_PIN_CTL);
	if (fd >= 0) {
		st->ctl_read = bpf_map_lookup_elem(fd, &zero, &ctl) == 0;
		st->draining = st->ctl_read && ctl.draining;
		close(fd);
	}
}

static void read_small_maps(struct sa_state *st)
{
	__u32 zero = 0;
	int fd;

	st->layout.state = SA_LAYOUT_UNREADABLE;
	fd = open_pin(st, SA_PIN_LAYOUT);
	if (fd >= 0) {
		close(fd);
		sa_pin_layout_check(st->pin_dir, &st->layout);
	}
	read_ctl(st);
	fd = open_pin(st, SA_PIN_FEATURES);
	if (fd >= 0) {
		st->features_read = bpf_map_lookup_elem(fd, &zero, &st->features) == 0 &&
				    st->features.kernel[0];
		close(fd);
	}
	fd = open_pin(st, SA_PIN_COUNTERS);
	if (fd >= 0) {
		st->counters_read = sa_counters_read(fd, st->counters) == 0;
		close(fd);
	}
	fd = open_pin(st, SA_PIN_STEPASIDE);
	if (fd >= 0) {
		static struct sa_stepaside_entry all[SA_STEPASIDE_MAX];
		int n = sa_stepaside_read(fd, all, SA_STEPASIDE_MAX);

		/* the newest are the ones worth showing */
		for (int i = n > (int)SA_STATE_STEPASIDE_MAX ? n - (int)SA_STATE_STEPASIDE_MAX : 0;
		     i < n; i++)
			st->stepaside[st->n_stepaside++] = all[i];
		close(fd);
	}
}

static void read_progs(struct sa_state *st)
{
	static const char *const pins[2] = { SA_PIN_PROG_SOCKOPS, SA_PIN_PROG_MSG };
	FILE *f;

	for (int i = 0; i < 2; i++) {
		struct sa_prog_stats *ps = &st->progs[i];
		struct bpf_prog_info pi = {};
		__u32 len = sizeof(pi);
		int fd = open_pin(st, pins[i]);

		ps->pin = pins[i];
		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &pi, &len) == 0) {
			ps->id = pi.id;
			snprintf(ps->name, sizeof(ps->name), "%s", pi.name);
			ps->load_time_ns = pi.load_time;
			ps->run_cnt = pi.run_cnt;
			ps->run_time_ns = pi.run_time_ns;
		}
		close(fd);
	}
	st->bpf_stats_enabled = -1;
	f = fopen("/proc/sys/kernel/bpf_stats_enabled", "re");
	if (f) {
		if (fscanf(f, "%d", &st->bpf_stats_enabled) != 1)
			st->bpf_stats_enabled = -1;
		fclose(f);
	}
}

static void read_daemon(struct sa_state *st)
{
	struct stat sb;
	FILE *f;

	if (stat(st->pin_dir, &sb) < 0)
		return;
	f = fopen("/proc/locks", "re");
	if (!f)
		return;
	st->daemon_pid = sa_proc_locks_holder(f, major(sb.st_dev), minor(sb.st_dev), sb.st_ino);
	fclose(f);
}

/* The pin dir and its pins; false when there is nothing more to read. */
static bool read_start(const char *pin_dir, struct sa_state *st)
{
	struct stat sb;

	memset(st, 0, sizeof(*st));
	snprintf(st->pin_dir, sizeof(st->pin_dir), "%s", pin_dir);
	if (stat(pin_dir, &sb) < 0) {
		if (errno != ENOENT)
			note_err(st, -errno, pin_dir);
		return false;
	}
	st->pin_dir_exists = true;
	st->pin_dir_bpffs = sa_fs_kind(pin_dir, NULL) == SA_FS_BPF;
	if (!st->pin_dir_bpffs)
		return false;
	read_pins(st);
	return true;
}

int sa_state_read_gauges(const char *pin_dir, struct sa_state *st)
{
	int mfd;

	if (!read_start(pin_dir, st))
		return st->err;
	mfd = read_map_fill(st);
	if (mfd >= 0)
		close(mfd);
	read_ctl(st);
	return st->err;
}

int sa_state_read(const char *pin_dir, struct sa_state *st)
{
	if (!read_start(pin_dir, st))
		return st->err;
	read_small_maps(st);
	read_sockops(st);
	read_map(st);
	read_progs(st);
	read_daemon(st);
	return st->err;
}
