// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Load, pin and attach the fast path, or take over a pinned one.
 *
 * Rules this file follows (docs/design.md has the kernel facts behind them):
 * - Maps are reused through their pins (libbpf checks type, sizes,
 *   max_entries, flags), never through bpf_map__reuse_fd (checks nothing).
 * - A pinned link is updated in place with BPF_F_REPLACE; a second
 *   attachment is never made (a socket already in the map would then fail
 *   insertion with EBUSY, and new sockets would run two programs).
 * - sk_msg is attached before sockops, so no socket is inserted into a map
 *   that has no sk_msg program yet (a psock keeps the programs it got).
 * - Pins are replaced by pinning "<name>__new" and renaming it over the old
 *   one: the old object is released only once the new one is in place.
 */
#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sockaccel.h"
#include "fdinfo.h"
#include "fastpath.h"
#include "log.h"
#include "mounts.h"
#include "builtin_objects.h"
#include "pins.h"

struct sa_fastpath {
	struct bpf_object *obj;
	struct bpf_map *m_layout, *m_sock_hash, *m_counters, *m_ctl, *m_ports, *m_local_addrs;
	struct bpf_map *m_marks, *m_features, *m_rx_seq, *m_stepaside;
	const struct sa_variant *variant;
	struct bpf_program *p_sockops, *p_msg;
	/* sa_tracing_progs[i]'s program, NULL without its feature */
	struct bpf_program *p_tracing[SA_TRACING_PROGS_CNT];
	char pin_dir[PATH_MAX];
	char cgroup[PATH_MAX];
	__u64 cgroup_id;
	int lock_fd;
	int cgroup_fd;
	int sockops_link_fd;
	int msg_link_fd;	/* -1 with the legacy attach */
	int tracing_link_fd[SA_TRACING_PROGS_CNT];	/* -1 without the feature */
	enum sa_msg_attach msg_attach;
};

/* What was found in the pin dir before anything was touched. */
struct pinned_state {
	bool any;			/* at least one sockaccel pin */
	struct sa_layout layout;	/* zero if no layout pin */
	bool layout_pinned;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int pin_replace(int fd, const char *dir, const char *name)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	int err;

	err = sa_pin_path(path, dir, name);
	if (err)
		return err;
	snprintf(tmp, sizeof(tmp), "%s%s", path, SA_PIN_TMP_SUFFIX);
	unlink(tmp);
	if (bpf_obj_pin(fd, tmp) < 0) {
		err = -errno;
		p_err("can't pin %s at '%s': %s", name, tmp, strerror(-err));
		return err;
	}
	if (rename(tmp, path) < 0) {
		err = -errno;
		p_err("can't rename pin '%s' to '%s': %s", tmp, path, strerror(-err));
		unlink(tmp);
		return err;
	}
	return 0;
}

/* A pin we expect must be the kind of object we would have put there. */
static int check_pin_kind(const char *dir, const char *name, const struct sa_pin_desc *d)
{
	char path[PATH_MAX], why[SA_PIN_WHY_LEN];
	int fd, err = 0;

	fd = sa_pin_open(dir, name, why, sizeof(why));
	if (fd < 0) {
		p_err("%s; sockaccel did not create it: remove it or choose another --pin-dir",
		      why);
		return -EPROTO;
	}
	sa_pin_path(path, dir, name);	/* fitted for the open */
	if (!sa_fd_is(fd, d->kind)) {
		p_err("pin '%s' is not a BPF %s as sockaccel pins it; something else replaced "
		      "it: remove it or choose another --pin-dir", path, sa_kind_name(d->kind));
		err = -EPROTO;
	}
	close(fd);
	return err;
}

/*
 * Look at every entry of the pin dir before loading anything: refuse what
 * we did not create, drop our own half-done renames, check the layout and
 * the SOCKHASH size. Nothing is trusted because of its name alone.
 */
static int inspect_pins(const struct sa_fastpath_opts *o, struct pinned_state *st)
{
	struct sa_layout_check lc;
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	int err = 0;

	memset(st, 0, sizeof(*st));
	dir = opendir(o->pin_dir);
	if (!dir) {
		err = -errno;
		p_err("can't read pin dir '%s': %s", o->pin_dir, strerror(-err));
		return err;
	}
	while ((de = readdir(dir))) {
		const struct sa_pin_desc *d;
		size_t n = strlen(de->d_name), sl = strlen(SA_PIN_TMP_SUFFIX);

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		err = sa_pin_path(path, o->pin_dir, de->d_name);
		if (err)
			break;
		if (n > sl && strcmp(de->d_name + n - sl, SA_PIN_TMP_SUFFIX) == 0) {
			char base[NAME_MAX + 1];

			snprintf(base, sizeof(base), "%.*s", (int)(n - sl), de->d_name);
			d = sa_pin_lookup(base);
			if (d && d->kind != SA_PIN_MAP &&
			    check_pin_kind(o->pin_dir, de->d_name, d) == 0) {
				/* our own rename interrupted by a crash */
				p_info("removing stale '%s' left by an interrupted setup", path);
				unlink(path);
				continue;
			}
		}
		d = sa_pin_lookup(de->d_name);
		if (!d) {
			p_err("pin dir '%s' contains '%s', which sockaccel did not create; "
			      "choose another --pin-dir or remove it", o->pin_dir, de->d_name);
			err = -EPROTO;
			break;
		}
		err = check_pin_kind(o->pin_dir, de->d_name, d);
		if (err)
			break;
		st->any = true;
	}
	closedir(dir);
	if (err)
		return err;

	err = sa_pin_path(path, o->pin_dir, SA_PIN_LAYOUT);
	if (err || access(path, F_OK) != 0)
		return err;
	err = sa_pin_layout_check(o->pin_dir, &lc);
	if (lc.state == SA_LAYOUT_UNWRITTEN) {
		/* a setup that stopped half-way: this one completes it */
		p_info("%s", lc.why);
		err = 0;
	} else if (err) {
		p_err("%s", lc.why);
		return err;
	}
	st->layout = lc.layout;
	st->layout_pinned = true;

	err = sa_pin_path(path, o->pin_dir, SA_PIN_SOCK_HASH);
	if (!err && access(path, F_OK) == 0) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		int fd = sa_pin_open(o->pin_dir, SA_PIN_SOCK_HASH, NULL, 0);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) < 0) {
			err = -errno;
			p_err("can't inspect pinned map '%s': %s", path, strerror(-err));
		} else if (info.type != BPF_MAP_TYPE_SOCKHASH ||
			   info.key_size != sizeof(struct sa_sock_key)) {
			p_err("pinned map '%s' is not a sockaccel SOCKHASH (type %u, key size %u); "
			      "choose another --pin-dir", path, info.type, info.key_size);
			err = -EPROTO;
		} else if (info.max_entries != o->max_conns) {
			p_err("pinned map '%s' holds up to %u sockets, this run asks for %u: "
			      "keep max_conns %u, or resize by draining the fast path "
			      "('sockaccelctl --pin-dir %s disable') and starting again", path,
			      info.max_entries, o->max_conns, info.max_entries, o->pin_dir);
			err = -EPROTO;
		}
		if (fd >= 0)
			close(fd);
	}
	return err;
}

/* Look up what this file uses by name: the object may be either built-in
 * variant or a file given for testing, so no skeleton struct is assumed. */
static int find_parts(struct sa_fastpath *fp)
{
	static const struct { const char *name; size_t off; } maps[] = {
		{ SA_PIN_LAYOUT, offsetof(struct sa_fastpath, m_layout) },
		{ SA_PIN_SOCK_HASH, offsetof(struct sa_fastpath, m_sock_hash) },
		{ SA_PIN_COUNTERS, offsetof(struct sa_fastpath, m_counters) },
		{ SA_PIN_CTL, offsetof(struct sa_fastpath, m_ctl) },
		{ SA_PIN_PORTS, offsetof(struct sa_fastpath, m_ports) },
		{ SA_PIN_LOCAL_ADDRS, offsetof(struct sa_fastpath, m_local_addrs) },
		{ SA_PIN_MARKS, offsetof(struct sa_fastpath, m_marks) },
		{ SA_PIN_FEATURES, offsetof(struct sa_fastpath, m_features) },
		{ SA_PIN_RX_SEQ, offsetof(struct sa_fastpath, m_rx_seq) },
		{ SA_PIN_STEPASIDE, offsetof(struct sa_fastpath, m_stepaside) },
	};

	for (unsigned int i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(fp->obj, maps[i].name);

		if (!m) {
			p_err("the BPF object has no map '%s'; it is not a sockaccel object of "
			      "layout %u", maps[i].name, SA_LAYOUT_VERSION);
			return -EPROTO;
		}
		*(struct bpf_map **)((char *)fp + maps[i].off) = m;
	}
	fp->p_sockops = bpf_object__find_program_by_name(fp->obj, "sa_sockops");
	fp->p_msg = bpf_object__find_program_by_name(fp->obj, "sa_msg");
	for (unsigned int i = 0; i < SA_TRACING_PROGS_CNT; i++) {
		struct bpf_program *p =
			bpf_object__find_program_by_name(fp->obj, sa_tracing_progs[i].prog);

		fp->p_tracing[i] = p && bpf_program__autoload(p) ? p : NULL;
	}
	if (!fp->p_sockops || !fp->p_msg) {
		p_err("the BPF object lacks sa_sockops or sa_msg");
		return -EPROTO;
	}
	return 0;
}

/*
 * Every map already pinned must have the shape this object defines, or
 * libbpf's reuse fails with a bare EINVAL. Checked first, so the refusal
 * names the pin and what differs, and counts as "not our state" (-EPROTO).
 */
static int check_pinned_maps(struct sa_fastpath *fp, const char *pin_dir)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, fp->obj) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		char path[PATH_MAX];
		int fd;

		if (sa_pin_path(path, pin_dir, bpf_map__name(m)) || access(path, F_OK) != 0)
			continue;
		fd = sa_pin_open(pin_dir, bpf_map__name(m), NULL, 0);
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) < 0) {
			if (fd >= 0)
				close(fd);
			continue;	/* inspect_pins() already judged the kind */
		}
		close(fd);
		if (info.type != bpf_map__type(m) || info.key_size != bpf_map__key_size(m) ||
		    info.value_size != bpf_map__value_size(m) ||
		    info.max_entries != bpf_map__max_entries(m) ||
		    info.map_flags != bpf_map__map_flags(m)) {
			p_err("pinned map '%s' is not what sockaccel layout %u pins there (type %u, "
			      "key %u, value %u, max %u, flags 0x%x; expected type %u, key %u, "
			      "value %u, max %u, flags 0x%x); remove it or choose another --pin-dir",
			      path, SA_LAYOUT_VERSION, info.type, info.key_size, info.value_size,
			      info.max_entries, info.map_flags, bpf_map__type(m),
			      bpf_map__key_size(m), bpf_map__value_size(m), bpf_map__max_entries(m),
			      bpf_map__map_flags(m));
			return -EPROTO;
		}
	}
	return 0;
}

static int load_programs(struct sa_fastpath *fp, const struct sa_fastpath_opts *o)
{
	int err;

	fp->obj = sa_variant_open(o->variant, o->object_path, o->pin_dir);
	if (!fp->obj) {
		err = -errno;
		p_err("can't open the BPF object%s%s: %s", o->object_path ? " " : "",
		      o->object_path ? o->object_path : "", strerror(-err));
		return err;
	}
	err = find_parts(fp);
	if (!err)
		err = bpf_map__set_max_entries(fp->m_sock_hash, o->max_conns);
	if (!err)	/* at most one mark per socket in the map */
		err = bpf_map__set_max_entries(fp->m_marks, o->max_conns);
	if (!err)	/* at most one waiting sender per socket in the map */
		err = bpf_map__set_max_entries(fp->m_rx_seq, o->max_conns);
	if (!err)
		err = check_pinned_maps(fp, o->pin_dir);
	if (err)
		return err;
	err = bpf_object__load(fp->obj);
	if (err) {
		/* the same set loaded a moment ago without pins */
		p_err("can't load the BPF programs and maps: %s (the libbpf lines above name "
		      "the object; --verbose shows the verifier log)", strerror(-err));
		return err;
	}
	return 0;
}

static int write_state(struct sa_fastpath *fp, const struct pinned_state *st)
{
	struct sa_layout layout = {
		.magic = SA_LAYOUT_MAGIC,
		.version = SA_LAYOUT_VERSION,
		.msg_attach = fp->msg_attach,
	};
	struct sa_ctl ctl = {};
	__u32 zero = 0;
	int fd, err;

	fd = bpf_map__fd(fp->m_layout);
	if (bpf_map_update_elem(fd, &zero, &layout, BPF_ANY) < 0)
		goto fail;

	/* An earlier drain may have switched redirection off; starting the
	 * daemon is the operator asking for the fast path again. */
	fd = bpf_map__fd(fp->m_ctl);
	if (bpf_map_lookup_elem(fd, &zero, &ctl) == 0 && ctl.draining)
		p_info("redirect switch was off (an interrupted drain?); turning it on");
	ctl.draining = 0;
	if (bpf_map_update_elem(fd, &zero, &ctl, BPF_ANY) < 0)
		goto fail;
	return 0;
fail:
	err = -errno;	/* before p_err, which may change errno */
	p_err("can't write pinned state in '%s': %s", fp->pin_dir, strerror(-err));
	return err;
}

/*
 * The tracepoint programs (sa_tracing_progs). Tracing links cannot be
 * updated in place, so a new link is pinned over the old one: both run for
 * a moment, doing the same into the same maps. Without the feature, a link
 * left by an earlier run is removed: its program would work for nobody.
 */
static int attach_tracing(struct sa_fastpath *fp, unsigned int i)
{
	const struct sa_tracing_prog *t = &sa_tracing_progs[i];
	struct bpf_link *link;
	char path[PATH_MAX];
	int err;

	if (!fp->p_tracing[i]) {
		const char *stale[] = { t->link_pin, t->prog_pin };

		for (unsigned int j = 0; j < 2; j++)
			if (sa_pin_path(path, fp->pin_dir, stale[j]) == 0 && unlink(path) == 0)
				p_info("removed '%s': %s is not loaded", path,
				       sa_feature_name(t->feature));
		return 0;
	}
	link = bpf_program__attach(fp->p_tracing[i]);
	if (!link) {
		err = -errno;
		p_err("can't attach %s (%s) to tracepoint %s: %s", t->prog,
		      sa_feature_name(t->feature), t->tracepoint, strerror(-err));
		return err;
	}
	fp->tracing_link_fd[i] = dup(bpf_link__fd(link));
	bpf_link__destroy(link);	/* closes its fd only; ours keeps it alive */
	if (fp->tracing_link_fd[i] < 0)
		return -errno;
	err = pin_replace(fp->tracing_link_fd[i], fp->pin_dir, t->link_pin);
	if (!err)
		err = pin_replace(bpf_program__fd(fp->p_tracing[i]), fp->pin_dir, t->prog_pin);
	return err;
}

/* What the programs now in the links run with, for sockaccelctl status. */
static int record_features(struct sa_fastpath *fp)
{
	struct sa_features rec;
	__u32 zero = 0;

	sa_variant_record(fp->variant, &rec);
	if (bpf_map_update_elem(bpf_map__fd(fp->m_features), &zero, &rec, BPF_ANY) < 0) {
		int err = -errno;

		p_err("can't record the features in '%s/features': %s", fp->pin_dir,
		      strerror(-err));
		return err;
	}
	return 0;
}

/*
 * Put @prog_fd into the pinned link @lfd in place of the program it runs.
 * BPF_F_REPLACE needs an fd of the old program; the pinned program is it
 * (opening it by id would need CAP_SYS_ADMIN). When that pin is missing or
 * holds another program, update without the guard: we hold the pin dir
 * lock, so nobody else is updating.
 */
static int link_update(struct sa_fastpath *fp, int lfd, __u32 old_prog_id, const char *prog_pin,
		       int prog_fd, const char *what)
{
	LIBBPF_OPTS(bpf_link_update_opts, uo);
	int old, err = 0;

	old = sa_pin_open(fp->pin_dir, prog_pin, NULL, 0);
	if (old >= 0 && sa_fd_is(old, SA_PIN_PROG) && sa_prog_id(old) == old_prog_id) {
		uo.flags = BPF_F_REPLACE;
		uo.old_prog_fd = old;
	} else {
		p_debug("pin '%s/%s' is not the program of the %s link (id %u); updating it "
			"without BPF_F_REPLACE", fp->pin_dir, prog_pin, what, old_prog_id);
	}
	if (bpf_link_update(lfd, prog_fd, &uo) < 0) {
		err = -errno;
		p_err("can't update the pinned %s link in place: %s%s", what, strerror(-err),
		      err == -EPERM ? " (its program was replaced by someone else meanwhile)" : "");
	}
	if (old >= 0)
		close(old);
	return err;
}

static int attach_msg(struct sa_fastpath *fp)
{
	int prog = bpf_program__fd(fp->p_msg);
	int map = bpf_map__fd(fp->m_sock_hash);
	__u32 map_id = sa_map_id(map);
	struct bpf_link_info info;
	char path[PATH_MAX];
	int lfd, err;

	err = sa_pin_path(path, fp->pin_dir, SA_PIN_LINK_MSG);
	if (err)
		return err;
	if (fp->msg_attach == SA_MSG_ATTACH_LEGACY) {
		if (access(path, F_OK) == 0) {
			p_err("'%s' exists but the pinned layout records a legacy sk_msg attach; "
			      "remove the pin dir (rm -r %s) and start again", path, fp->pin_dir);
			return -EPROTO;
		}
		/* Replaces any program attached before, without a gap. */
		if (bpf_prog_attach(prog, map, BPF_SK_MSG_VERDICT, 0) < 0) {
			err = -errno;
			p_err("can't attach sk_msg to map id %u: %s", map_id, strerror(-err));
			return err;
		}
		return 0;
	}

	lfd = sa_pin_open(fp->pin_dir, SA_PIN_LINK_MSG, NULL, 0);
	if (lfd >= 0) {
		err = sa_link_info(lfd, &info);
		if (err || info.type != SA_BPF_LINK_TYPE_SOCKMAP) {
			p_err("pinned link '%s' is not a sockmap link; remove it", path);
			close(lfd);
			return -EPROTO;
		}
		if (sa_sockmap_link_map_id(&info) == map_id) {
			err = link_update(fp, lfd, info.prog_id, SA_PIN_PROG_MSG, prog, "sk_msg");
			if (err) {
				close(lfd);
				return err;
			}
			fp->msg_link_fd = lfd;
			p_info("updated sk_msg link id %u in place", info.id);
			return 0;
		}
		p_info("pinned sk_msg link id %u is %s; attaching a new one", info.id,
		       sa_sockmap_link_map_id(&info) ? "on another map" : "detached");
		close(lfd);
	}
	lfd = bpf_link_create(prog, map, BPF_SK_MSG_VERDICT, NULL);
	if (lfd < 0) {
		err = -errno;
		p_err("can't attach sk_msg to map id %u with a link: %s%s", map_id, strerror(-err),
		      err == -EBUSY ? " (a program is attached to the map another way; "
				      "remove the pin dir and start again)" : "");
		return err;
	}
	err = pin_replace(lfd, fp->pin_dir, SA_PIN_LINK_MSG);
	if (err) {
		close(lfd);	/* never pinned: closing detaches it */
		return err;
	}
	fp->msg_link_fd = lfd;
	return 0;
}

static int attach_sockops(struct sa_fastpath *fp)
{
	int prog = bpf_program__fd(fp->p_sockops);
	struct bpf_link_info info;
	char path[PATH_MAX];
	int lfd, err;

	err = sa_pin_path(path, fp->pin_dir, SA_PIN_LINK_SOCKOPS);
	if (err)
		return err;
	lfd = sa_pin_open(fp->pin_dir, SA_PIN_LINK_SOCKOPS, NULL, 0);
	if (lfd >= 0) {
		err = sa_link_info(lfd, &info);
		if (err || info.type != BPF_LINK_TYPE_CGROUP ||
		    info.cgroup.attach_type != BPF_CGROUP_SOCK_OPS) {
			p_err("pinned link '%s' is not a cgroup sockops link; remove it", path);
			close(lfd);
			return -EPROTO;
		}
		if (info.cgroup.cgroup_id == fp->cgroup_id) {
			err = link_update(fp, lfd, info.prog_id, SA_PIN_PROG_SOCKOPS, prog,
					  "sockops");
			if (err) {
				close(lfd);
				return err;
			}
			fp->sockops_link_fd = lfd;
			p_info("updated sockops link id %u in place", info.id);
			return 0;
		}
		if (info.cgroup.cgroup_id)
			p_info("pinned sockops link id %u is attached to cgroup id %llu, not %s; "
			       "moving it", info.id, (unsigned long long)info.cgroup.cgroup_id,
			       fp->cgroup);
		else
			p_info("pinned sockops link id %u was detached; attaching again", info.id);
		close(lfd);	/* the rename below drops the old link's last reference */
	}
	lfd = bpf_link_create(prog, fp->cgroup_fd, BPF_CGROUP_SOCK_OPS, NULL);
	if (lfd < 0) {
		err = -errno;
		p_err("can't attach sockops to cgroup '%s': %s", fp->cgroup, strerror(-err));
		return err;
	}
	err = pin_replace(lfd, fp->pin_dir, SA_PIN_LINK_SOCKOPS);
	if (err) {
		close(lfd);
		return err;
	}
	fp->sockops_link_fd = lfd;
	return 0;
}

int sa_fastpath_setup(const struct sa_fastpath_opts *o, struct sa_fastpath **out)
{
	struct sa_fastpath *fp;
	struct pinned_state st;
	pid_t holder = 0;
	int err;

	fp = calloc(1, sizeof(*fp));
	if (!fp)
		return -ENOMEM;
	fp->lock_fd = fp->cgroup_fd = fp->sockops_link_fd = fp->msg_link_fd = -1;
	for (unsigned int i = 0; i < SA_TRACING_PROGS_CNT; i++)
		fp->tracing_link_fd[i] = -1;
	snprintf(fp->pin_dir, sizeof(fp->pin_dir), "%s", o->pin_dir);
	snprintf(fp->cgroup, sizeof(fp->cgroup), "%s", o->cgroup);
	fp->variant = o->variant;

	err = sa_pin_dir_prepare(o->pin_dir, true);
	if (err)
		goto cleanup;
	fp->lock_fd = sa_pin_dir_lock(o->pin_dir, &holder);
	if (fp->lock_fd < 0) {
		err = fp->lock_fd;
		if (err == -EWOULDBLOCK)
			p_err("pin dir '%s' is in use by another sockacceld (pid %d); stop it "
			      "first (systemctl stop sockaccel) or choose another --pin-dir",
			      o->pin_dir, (int)holder);
		goto cleanup;
	}

	err = inspect_pins(o, &st);
	if (err)
		goto cleanup;
	fp->msg_attach = o->sockmap_link ? SA_MSG_ATTACH_LINK : SA_MSG_ATTACH_LEGACY;
	if ((st.layout.msg_attach == SA_MSG_ATTACH_LINK ||
	     st.layout.msg_attach == SA_MSG_ATTACH_LEGACY) && st.layout.msg_attach != fp->msg_attach) {
		/* The pinned map already has its sk_msg program attached one
		 * way; attaching it the other way too would fail with EBUSY. */
		fp->msg_attach = st.layout.msg_attach;
		p_info("keeping the pinned %s sk_msg attach; remove %s to change it",
		       fp->msg_attach == SA_MSG_ATTACH_LINK ? "link" : "legacy", o->pin_dir);
	}

	fp->cgroup_fd = open(o->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fp->cgroup_fd < 0 || sa_cgroup_id(o->cgroup, &fp->cgroup_id)) {
		err = -errno;
		p_err("can't open cgroup '%s': %s", o->cgroup, strerror(-err));
		goto cleanup;
	}

	err = load_programs(fp, o);
	if (err)
		goto cleanup;
	err = write_state(fp, &st);
	if (err)
		goto cleanup;
	err = attach_msg(fp);
	if (err)
		goto cleanup;
	err = attach_sockops(fp);
	for (unsigned int i = 0; !err && i < SA_TRACING_PROGS_CNT; i++)
		err = attach_tracing(fp, i);
	if (err)
		goto cleanup;
	err = record_features(fp);
	if (err)
		goto cleanup;
	/* Program pins: for inspection, and in legacy mode what keeps
	 * sockaccel's sk_msg program findable. */
	err = pin_replace(bpf_program__fd(fp->p_msg), o->pin_dir, SA_PIN_PROG_MSG);
	if (!err)
		err = pin_replace(bpf_program__fd(fp->p_sockops), o->pin_dir,
				  SA_PIN_PROG_SOCKOPS);
	if (err)
		goto cleanup;

	*out = fp;
	fp = NULL;
cleanup:
	/* On failure, what was pinned stays pinned: it is consistent (maps and
	 * links are only ever replaced whole) and the next start completes it. */
	sa_fastpath_close(fp);
	return err;
}

void sa_fastpath_close(struct sa_fastpath *fp)
{
	if (!fp)
		return;
	close_fd(&fp->sockops_link_fd);	/* pinned: closing does not detach */
	close_fd(&fp->msg_link_fd);
	for (unsigned int i = 0; i < SA_TRACING_PROGS_CNT; i++)
		close_fd(&fp->tracing_link_fd[i]);
	close_fd(&fp->cgroup_fd);
	bpf_object__close(fp->obj);	/* pinned maps and links stay */
	close_fd(&fp->lock_fd);
	free(fp);
}

void sa_fastpath_info(const struct sa_fastpath *fp, struct sa_fastpath_info *info)
{
	struct bpf_link_info li;

	memset(info, 0, sizeof(*info));
	info->sock_hash_fd = bpf_map__fd(fp->m_sock_hash);
	info->counters_fd = bpf_map__fd(fp->m_counters);
	info->ctl_fd = bpf_map__fd(fp->m_ctl);
	info->ports_fd = bpf_map__fd(fp->m_ports);
	info->local_addrs_fd = bpf_map__fd(fp->m_local_addrs);
	info->stepaside_fd = bpf_map__fd(fp->m_stepaside);
	info->map_id = sa_map_id(info->sock_hash_fd);
	info->max_entries = bpf_map__max_entries(fp->m_sock_hash);
	info->sockops_prog_id = sa_prog_id(bpf_program__fd(fp->p_sockops));
	info->msg_prog_id = sa_prog_id(bpf_program__fd(fp->p_msg));
	info->msg_legacy = fp->msg_attach == SA_MSG_ATTACH_LEGACY;
	if (sa_link_info(fp->sockops_link_fd, &li) == 0)
		info->sockops_link_id = li.id;
	if (fp->msg_link_fd >= 0 && sa_link_info(fp->msg_link_fd, &li) == 0)
		info->msg_link_id = li.id;
}

const char *sa_fastpath_missing_pin(const struct sa_fastpath *fp)
{
	char path[PATH_MAX];

	for (unsigned int i = 0; i < sa_pins_cnt; i++) {
		const char *name = sa_pins[i].name;

		if (fp->msg_attach == SA_MSG_ATTACH_LEGACY && strcmp(name, SA_PIN_LINK_MSG) == 0)
			continue;
		if (sa_pins[i].feature && !(fp->variant->loaded & sa_pins[i].feature))
			continue;
		if (sa_pin_path(path, fp->pin_dir, name) == 0 && access(path, F_OK) != 0)
			return name;
	}
	return NULL;
}

int sa_fastpath_check(const struct sa_fastpath *fp, char *why, size_t len)
{
	struct sa_fastpath_info fi;
	struct bpf_link_info li;
	int problems = 0;
	size_t off = 0;

	why[0] = '\0';
	sa_fastpath_info(fp, &fi);
	if (sa_link_info(fp->sockops_link_fd, &li) < 0 || li.cgroup.cgroup_id != fp->cgroup_id ||
	    sa_prog_attached(fp->cgroup_fd, BPF_CGROUP_SOCK_OPS, li.prog_id, NULL) == 0) {
		problems++;
		off += (size_t)snprintf(why + off, len - off,
					"sockops is no longer attached to cgroup %s (link detached "
					"by hand?): new connections are not accelerated; ",
					fp->cgroup);
	}
	if (off < len && fp->msg_link_fd >= 0 &&
	    (sa_link_info(fp->msg_link_fd, &li) < 0 || sa_sockmap_link_map_id(&li) != fi.map_id)) {
		problems++;
		off += (size_t)snprintf(why + off, len - off,
					"sk_msg link is detached from map id %u: new connections "
					"are inserted but not redirected; ", fi.map_id);
	}
	if (off < len && fp->msg_link_fd < 0 &&
	    sa_prog_attached(fi.sock_hash_fd, BPF_SK_MSG_VERDICT, fi.msg_prog_id, NULL) == 0) {
		problems++;
		snprintf(why + off, len - off, "sk_msg program id %u is not attached to map id %u; ",
			 fi.msg_prog_id, fi.map_id);
	}
	return problems;
}
