// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Tampered pins. With sockacceld stopped, the pin dir is changed by hand in
 * one way at a time, sockacceld is started, and then the change is undone
 * (the real objects were kept open, so they are pinned back as they were):
 *
 *  refused, exit 4, a message that names the pin (asserted on its text):
 *   - counters replaced by a plain ARRAY map (wrong map type under a map name)
 *   - ctl replaced by an ARRAY map with a 16-byte value (wrong value layout)
 *   - sock_hash replaced by a SOCKHASH with a 48-byte key (wrong key layout)
 *   - prog_sockops replaced by a map (wrong kind of object)
 *   - a directory at prog_msg (not a BPF object)
 *   - a foreign pinned map and a foreign directory in the pin dir
 *   - sock_hash__new as a map and link_msg__new as a directory (they look
 *     like leftovers of ours, but are not what we pin under that name)
 *  repaired:
 *   - link_sockops removed (the program still pinned): a new cgroup link
 *   - link_msg removed: a new sockmap link
 *   - prog_msg__new holding our own program (an interrupted rename): removed
 *  refused, exit 19:
 *   - a pin dir on tmpfs, existing (with a file in it) or to be created
 *
 * What sockacceld did not create is never deleted: after every refusal the
 * foreign object is still there (a pinned map with its own id). After every
 * repair there is exactly one sockops program on the cgroup and one sk_msg
 * program on the map, sock_hash keeps its id, and a new connection is
 * accelerated.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <bpf/bpf.h>

#include "exitcodes.h"
#include "pins.h"
#include "testlib.h"

#define MiB (1ULL << 20)

static struct tl_daemon d = TL_DAEMON_INIT;
static struct tl_fastpath first;

/* fds of the real objects, to pin them back */
static int real_counters = -1, real_ctl = -1, real_sock_hash = -1, real_prog_sockops = -1,
	   real_prog_msg = -1;

static bool exists(const char *name)
{
	char path[PATH_MAX];

	return tl_pin_path(path, name) == 0 && access(path, F_OK) == 0;
}

static int unpin(const char *name)
{
	char path[PATH_MAX];

	if (tl_pin_path(path, name))
		return -ENAMETOOLONG;
	return unlink(path) < 0 ? -errno : 0;
}

static int pin_fd(int fd, const char *name)
{
	char path[PATH_MAX];

	if (tl_pin_path(path, name))
		return -ENAMETOOLONG;
	return bpf_obj_pin(fd, path) < 0 ? -errno : 0;
}

/* A map of @type pinned as @name; returns its id (> 0) or -errno. */
static long pin_foreign_map(const char *name, enum bpf_map_type type, __u32 key, __u32 value,
			    __u32 max)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_map_create(type, "foreign", key, value, max, NULL), err;

	if (fd < 0)
		return -errno;
	err = pin_fd(fd, name);
	if (!err && bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		err = -errno;
	close(fd);
	return err ? err : (long)info.id;
}

/* The object pinned as @name is the map with id @id. */
static bool pinned_map_is(const char *name, __u32 id)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd = tl_pin_open(name);
	bool same;

	if (fd < 0)
		return false;
	same = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.id == id;
	close(fd);
	return same;
}

static bool stop_daemon(void)
{
	bool ok = false;

	ASSERT_OK(tl_daemon_stop(&d, SIGTERM, TL_STOP_MS), "SIGTERM sockacceld");
	ASSERT_EXIT(d.status, SA_EXIT_OK, "sockacceld after SIGTERM");
	ok = true;
cleanup:
	tl_daemon_release(&d);
	return ok;
}

/*
 * Start sockacceld (@args, @flags) and expect exit @code with every string
 * of @needles (NULL-terminated) in its output.
 */
static bool start_refused(const char *const *args, unsigned int flags, int code,
			  const char *const *needles, const char *what)
{
	bool ok = false;

	ASSERT_OK(tl_daemon_start(&d, args, flags), "start sockacceld");
	ASSERT_OK(tl_daemon_wait_exit(&d, TL_READY_MS), "sockacceld exits by itself");
	tl_daemon_log_lines(&d, "error");
	tl_daemon_log_lines(&d, "couldn't");
	ASSERT_FALSE(d.ready, "sockacceld never became ready");
	ASSERT_EXIT(d.status, code, what);
	for (int i = 0; needles && needles[i]; i++) {
		if (!tl_daemon_output_contains(&d, needles[i]))
			FAIL("%s: sockacceld's message lacks \"%s\"", what, needles[i]);
	}
	ok = true;
cleanup:
	if (!ok)
		tl_daemon_dump(&d);
	tl_daemon_release(&d);
	return ok;
}

/* Started and ready: one attachment each, same map, new connections work. */
static bool start_healthy(const char *what, struct tl_fastpath *fp)
{
	bool ok = false;

	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), what);
	ASSERT_OK(tl_fastpath_read(fp), "read the pinned fast path");
	tl_fastpath_log(what, fp);
	ASSERT_EQ(fp->map_id, first.map_id, "sock_hash keeps its map id");
	ASSERT_EQ(fp->cg_progs, 1, "one sockops program on the cgroup");
	ASSERT_EQ(fp->msg_progs, 1, "one sk_msg program on the map");
	ASSERT_TRUE(tl_new_conn_accelerated("probe c2s", TL_INET4, 4 * MiB, TL_WRITE_SEND), "a new connection is accelerated");
	ASSERT_TRUE(stop_daemon(), "stop sockacceld");
	ok = true;
cleanup:
	return ok;
}

/* Replace pin @name (real object kept in @real_fd) by a foreign map and
 * expect a refusal naming it; then put the real one back. */
static bool foreign_under_name(const char *name, int real_fd, enum bpf_map_type type,
			       __u32 key, __u32 value, __u32 max, const char *what,
			       const char *const *extra)
{
	char path[PATH_MAX], quoted[PATH_MAX + 4];
	const char *needles[8] = { quoted };
	long id = 0;
	bool unpinned = false, ok = false;

	tl_log("---- %s", what);
	for (int i = 0; extra && extra[i] && i < 6; i++)
		needles[i + 1] = extra[i];
	ASSERT_OK(tl_pin_path(path, name), "pin path");
	snprintf(quoted, sizeof(quoted), "'%s'", path);
	ASSERT_OK(unpin(name), "unpin the real object");
	unpinned = true;
	id = pin_foreign_map(name, type, key, value, max);
	ASSERT_GT(id, 0, "pin the foreign map");
	ASSERT_TRUE(start_refused(NULL, 0, SA_EXIT_PINNED_STATE, needles, what), what);
	ASSERT_TRUE(pinned_map_is(name, (__u32)id), "the foreign map is still pinned there");
	ok = true;
cleanup:
	/* undo, whatever happened, so that the next case starts clean */
	if (unpinned) {
		if (id > 0 && !pinned_map_is(name, (__u32)id)) {
			tl_fail_msg(__FILE__, __LINE__, "%s: the foreign map at %s was removed",
				    what, name);
			ok = false;
		}
		unpin(name);
		if (pin_fd(real_fd, name)) {
			tl_fail_msg(__FILE__, __LINE__, "can't pin the real %s back", name);
			ok = false;
		}
	}
	return ok;
}

static bool missing_link(const char *link, const char *what)
{
	struct tl_fastpath before, after;
	char want[64];
	__u32 cnt = 0;
	bool ok = false;

	tl_log("---- %s", what);
	ASSERT_OK(tl_fastpath_read(&before), "read the pinned fast path");
	ASSERT_OK(unpin(link), "remove the link pin");
	if (strcmp(link, SA_PIN_LINK_SOCKOPS) == 0) {
		ASSERT_OK(tl_wait_cgroup_detached(&cnt, 5000),
			  "removing the link pin detached sockops (programs left on the cgroup in cnt)");
	}
	ASSERT_TRUE(exists(SA_PIN_PROG_SOCKOPS) && exists(SA_PIN_PROG_MSG),
		    "the programs are still pinned");
	ASSERT_TRUE(start_healthy(what, &after), "sockacceld re-attaches");
	if (strcmp(link, SA_PIN_LINK_SOCKOPS) == 0) {
		ASSERT_NEQ(after.link_sockops, before.link_sockops, "a new sockops link");
		snprintf(want, sizeof(want), "via link id %u", after.link_sockops);
	} else {
		ASSERT_NEQ(after.link_msg, before.link_msg, "a new sk_msg link");
		snprintf(want, sizeof(want), "via link id %u", after.link_msg);
	}
	ASSERT_TRUE(tl_daemon_output_contains(&d, want), "the ready line names the new link");
	tl_daemon_log_lines(&d, "ready:");
	ASSERT_TRUE(exists(link), "the link is pinned again");
	ok = true;
cleanup:
	return ok;
}

static bool dir_at_pin(void)
{
	char path[PATH_MAX], quoted[PATH_MAX + 4];
	const char *needles[] = { quoted, "is not a pinned BPF object", "sockaccel did not create it",
				  NULL };
	struct stat sb;
	bool ok = false;

	tl_log("---- a directory where prog_msg is pinned");
	ASSERT_OK(tl_pin_path(path, SA_PIN_PROG_MSG), "pin path");
	snprintf(quoted, sizeof(quoted), "'%s'", path);
	ASSERT_OK(unpin(SA_PIN_PROG_MSG), "unpin prog_msg");
	ASSERT_OK(mkdir(path, 0700), "mkdir at the prog_msg pin");
	ASSERT_TRUE(start_refused(NULL, 0, SA_EXIT_PINNED_STATE, needles,
				  "a directory at a pin path"), "directory at prog_msg");
	ASSERT_TRUE(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode), "the directory is still there");
	ASSERT_OK(rmdir(path), "remove the directory");
	ASSERT_OK(pin_fd(real_prog_msg, SA_PIN_PROG_MSG), "pin prog_msg back");
	ok = true;
cleanup:
	return ok;
}

static bool foreign_names(void)
{
	const char *map_needles[] = { "contains 'other_tool_map', which sockaccel did not create",
				      NULL };
	const char *dir_needles[] = { "contains 'notes', which sockaccel did not create", NULL };
	const char *new_map_needles[] = { "contains 'sock_hash__new', which sockaccel did not "
					  "create", NULL };
	const char *new_dir_needles[] = { "contains 'link_msg__new', which sockaccel did not "
					  "create", NULL };
	char path[PATH_MAX];
	struct stat sb;
	long id;
	bool ok = false;

	tl_log("---- a foreign pinned map in the pin dir");
	id = pin_foreign_map("other_tool_map", BPF_MAP_TYPE_ARRAY, 4, 8, 1);
	ASSERT_GT(id, 0, "pin a foreign map");
	ASSERT_TRUE(start_refused(NULL, 0, SA_EXIT_PINNED_STATE, map_needles, "foreign map"),
		    "foreign map in the pin dir");
	ASSERT_TRUE(pinned_map_is("other_tool_map", (__u32)id), "the foreign map is still there");
	ASSERT_OK(unpin("other_tool_map"), "remove it");

	tl_log("---- a foreign directory in the pin dir");
	ASSERT_OK(tl_pin_path(path, "notes"), "path");
	ASSERT_OK(mkdir(path, 0700), "mkdir notes");
	ASSERT_TRUE(start_refused(NULL, 0, SA_EXIT_PINNED_STATE, dir_needles, "foreign directory"),
		    "foreign directory in the pin dir");
	ASSERT_TRUE(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode), "the directory is still there");
	ASSERT_OK(rmdir(path), "remove it");

	tl_log("---- sock_hash__new as a map (maps are never our leftovers)");
	id = pin_foreign_map("sock_hash__new", BPF_MAP_TYPE_ARRAY, 4, 8, 1);
	ASSERT_GT(id, 0, "pin a map as sock_hash__new");
	ASSERT_TRUE(start_refused(NULL, 0, SA_EXIT_PINNED_STATE, new_map_needles,
				  "sock_hash__new"), "sock_hash__new");
	ASSERT_TRUE(pinned_map_is("sock_hash__new", (__u32)id), "sock_hash__new is still there");
	ASSERT_OK(unpin("sock_hash__new"), "remove it");

	tl_log("---- link_msg__new as a directory");
	ASSERT_OK(tl_pin_path(path, "link_msg__new"), "path");
	ASSERT_OK(mkdir(path, 0700), "mkdir link_msg__new");
	ASSERT_TRUE(start_refused(NULL, 0, SA_EXIT_PINNED_STATE, new_dir_needles,
				  "link_msg__new directory"), "link_msg__new");
	ASSERT_TRUE(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode), "link_msg__new is still there");
	ASSERT_OK(rmdir(path), "remove it");
	ok = true;
cleanup:
	return ok;
}

/* Our own prog_msg__new (a crash between pin and rename) is cleaned up. */
static bool own_leftover(void)
{
	struct tl_fastpath fp;
	char path[PATH_MAX];
	bool ok = false;

	tl_log("---- prog_msg__new holding our program (an interrupted rename)");
	ASSERT_OK(pin_fd(real_prog_msg, "prog_msg__new"), "pin prog_msg__new");
	ASSERT_OK(tl_pin_path(path, "prog_msg__new"), "path");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "sockacceld starts");
	ASSERT_TRUE(tl_daemon_output_contains(&d, "left by an interrupted setup"),
		    "sockacceld says it removed the leftover");
	ASSERT_FALSE(exists("prog_msg__new"), "the leftover is gone");
	ASSERT_OK(tl_fastpath_read(&fp), "read the pinned fast path");
	ASSERT_EQ(fp.cg_progs, 1, "one sockops program on the cgroup");
	ASSERT_TRUE(stop_daemon(), "stop sockacceld");
	ok = true;
cleanup:
	return ok;
}

static bool not_bpffs(void)
{
	char mnt[PATH_MAX], pins[PATH_MAX], fresh[PATH_MAX], keep[PATH_MAX];
	const char *needles[] = { "not on bpffs", NULL };
	const char *args1[] = { "--cgroup", tl_env.cgroup, "--pin-dir", pins, NULL };
	const char *args2[] = { "--cgroup", tl_env.cgroup, "--pin-dir", fresh, NULL };
	struct stat sb;
	FILE *f;
	bool mounted = false, ok = false;

	tl_log("---- a pin dir on tmpfs");
	ASSERT_OK(tl_tmp_path(mnt, "tmpfs"), "path");
	ASSERT_OK(tl_pathf(pins, "%s/pins", mnt), "path");
	ASSERT_OK(tl_pathf(fresh, "%s/fresh", mnt), "path");
	ASSERT_OK(tl_pathf(keep, "%s/pins/keep", mnt), "path");
	ASSERT_OK(mkdir(mnt, 0700), "mkdir tmpfs");
	ASSERT_OK(mount("tmpfs", mnt, "tmpfs", 0, "mode=0700,size=1m"), "mount tmpfs");
	mounted = true;
	ASSERT_OK(tl_track_mount(mnt), "unmount it at cleanup");
	ASSERT_OK(mkdir(pins, 0700), "mkdir pins on tmpfs");
	f = fopen(keep, "we");
	ASSERT_TRUE(f != NULL, "create a file in it");
	fputs("not sockaccel's\n", f);
	fclose(f);

	ASSERT_TRUE(start_refused(args1, TL_D_RAW_ARGS, SA_EXIT_NO_BPFFS, needles,
				  "an existing pin dir on tmpfs"), "existing pin dir on tmpfs");
	ASSERT_TRUE(stat(keep, &sb) == 0 && sb.st_size > 0, "its file is still there");
	ASSERT_TRUE(start_refused(args2, TL_D_RAW_ARGS, SA_EXIT_NO_BPFFS, needles,
				  "a new pin dir on tmpfs"), "new pin dir on tmpfs");
	ASSERT_TRUE(stat(fresh, &sb) < 0 && errno == ENOENT, "no pin dir was created on tmpfs");
	ok = true;
cleanup:
	if (mounted) {
		umount2(mnt, MNT_DETACH);
		tl_untrack_mount(mnt);
	}
	return ok;
}

int main(void)
{
	const char *type_needles[] = { "counters", NULL };
	const char *ctl_needles[] = { "ctl", NULL };
	const char *key_needles[] = { "is not a sockaccel SOCKHASH", "key size 48", NULL };
	const char *kind_needles[] = { "is not a BPF program as sockaccel pins it", NULL };
	struct tl_fastpath fp;
	bool ok[12];

	ASSERT_OK(tl_init("tamper", TL_BUDGET_S), "tl_init");
	ASSERT_OK(tl_daemon_start_ready(&d, NULL, 0), "start sockacceld, wait for READY=1");
	ASSERT_OK(tl_fastpath_read(&first), "read the pinned fast path");
	tl_fastpath_log("at start", &first);
	ASSERT_TRUE(stop_daemon(), "stop sockacceld");
	ASSERT_FD(real_counters = tl_pin_open(SA_PIN_COUNTERS), "keep the real counters");
	ASSERT_FD(real_ctl = tl_pin_open(SA_PIN_CTL), "keep the real ctl");
	ASSERT_FD(real_sock_hash = tl_pin_open(SA_PIN_SOCK_HASH), "keep the real sock_hash");
	ASSERT_FD(real_prog_sockops = tl_pin_open(SA_PIN_PROG_SOCKOPS), "keep the real prog_sockops");
	ASSERT_FD(real_prog_msg = tl_pin_open(SA_PIN_PROG_MSG), "keep the real prog_msg");

	/* each case is undone whatever its outcome, so all of them run */
	ok[0] = foreign_under_name(SA_PIN_COUNTERS, real_counters, BPF_MAP_TYPE_ARRAY, 4,
				   sizeof(struct sa_counters), 1,
				   "counters is an ARRAY map, not a per-CPU array", type_needles);
	ok[1] = foreign_under_name(SA_PIN_CTL, real_ctl, BPF_MAP_TYPE_ARRAY, 4, 16, 1,
				   "ctl holds 16-byte values, not struct sa_ctl", ctl_needles);
	ok[2] = foreign_under_name(SA_PIN_SOCK_HASH, real_sock_hash, BPF_MAP_TYPE_SOCKHASH, 48, 8,
				   65536, "sock_hash has 48-byte keys", key_needles);
	ok[3] = foreign_under_name(SA_PIN_PROG_SOCKOPS, real_prog_sockops, BPF_MAP_TYPE_ARRAY, 4,
				   8, 1, "a map pinned as prog_sockops", kind_needles);
	ok[4] = start_healthy("after undoing the wrong objects", &fp);
	ok[5] = missing_link(SA_PIN_LINK_SOCKOPS, "link_sockops removed, program still pinned");
	if (exists(SA_PIN_LINK_MSG)) {
		ok[6] = missing_link(SA_PIN_LINK_MSG, "link_msg removed, program still pinned");
	} else {
		tl_log("SKIP link_msg removal: legacy sk_msg attach (kernel < 6.10) pins no link");
		ok[6] = true;
	}
	ok[7] = dir_at_pin();
	ok[8] = foreign_names();
	ok[9] = own_leftover();
	ok[10] = not_bpffs();
	ok[11] = start_healthy("at the end", &fp);
	ASSERT_TRUE(ok[0], "wrong map type under counters: refused with exit 4");
	ASSERT_TRUE(ok[1], "wrong value layout under ctl: refused with exit 4");
	ASSERT_TRUE(ok[2], "wrong key layout under sock_hash: refused with exit 4");
	ASSERT_TRUE(ok[3], "a map under a program's name: refused with exit 4");
	ASSERT_TRUE(ok[4], "healthy after undoing the wrong objects");
	ASSERT_TRUE(ok[5], "missing sockops link repaired");
	ASSERT_TRUE(ok[6], "missing sk_msg link repaired");
	ASSERT_TRUE(ok[7], "directory at a pin path refused, left alone");
	ASSERT_TRUE(ok[8], "foreign names in the pin dir refused, left alone");
	ASSERT_TRUE(ok[9], "our own leftover removed");
	ASSERT_TRUE(ok[10], "pin dir not on bpffs refused, left alone");
	ASSERT_TRUE(ok[11], "healthy at the end");
cleanup:
	if (real_counters >= 0)
		close(real_counters);
	if (real_ctl >= 0)
		close(real_ctl);
	if (real_sock_hash >= 0)
		close(real_sock_hash);
	if (real_prog_sockops >= 0)
		close(real_prog_sockops);
	if (real_prog_msg >= 0)
		close(real_prog_msg);
	tl_daemon_release(&d);
	return tl_finish();
}
