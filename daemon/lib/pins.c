// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <libgen.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <bpf/bpf.h>

#include "log.h"
#include "mounts.h"
#include "sockaccel.h"
#include "pins.h"

const struct sa_pin_desc sa_pins[] = {
	{ SA_PIN_LAYOUT, SA_PIN_MAP, 0 },
	{ SA_PIN_SOCK_HASH, SA_PIN_MAP, 0 },
	{ SA_PIN_COUNTERS, SA_PIN_MAP, 0 },
	{ SA_PIN_CTL, SA_PIN_MAP, 0 },
	{ SA_PIN_LOCAL_ADDRS, SA_PIN_MAP, 0 },
	{ SA_PIN_PORTS, SA_PIN_MAP, 0 },
	{ SA_PIN_SK_STATE, SA_PIN_MAP, 0 },
	{ SA_PIN_MARKS, SA_PIN_MAP, 0 },
	{ SA_PIN_GENS, SA_PIN_MAP, 0 },
	{ SA_PIN_FEATURES, SA_PIN_MAP, 0 },
	{ SA_PIN_RX_SEQ, SA_PIN_MAP, 0 },
	{ SA_PIN_STEPASIDE, SA_PIN_MAP, 0 },
	{ SA_PIN_PROG_MSG, SA_PIN_PROG, 0 },
	{ SA_PIN_PROG_SOCKOPS, SA_PIN_PROG, 0 },
	{ SA_PIN_PROG_RX, SA_PIN_PROG, SA_FEAT_FLOW },
	{ SA_PIN_LINK_RX, SA_PIN_LINK, SA_FEAT_FLOW },
	{ SA_PIN_PROG_SPLICE, SA_PIN_PROG, SA_FEAT_SPLICE },
	{ SA_PIN_LINK_SPLICE, SA_PIN_LINK, SA_FEAT_SPLICE },
	{ SA_PIN_LINK_MSG, SA_PIN_LINK, 0 },
	{ SA_PIN_LINK_SOCKOPS, SA_PIN_LINK, 0 },
};
const unsigned int sa_pins_cnt = sizeof(sa_pins) / sizeof(sa_pins[0]);

const struct sa_tracing_prog sa_tracing_progs[SA_TRACING_PROGS_CNT] = {
	{ "sa_rx", "sock_recv_length", SA_FEAT_FLOW, SA_PIN_PROG_RX, SA_PIN_LINK_RX },
	{ "sa_splice", "tcp_rcv_space_adjust", SA_FEAT_SPLICE, SA_PIN_PROG_SPLICE,
	  SA_PIN_LINK_SPLICE },
};

const struct sa_pin_desc *sa_pin_lookup(const char *name)
{
	for (unsigned int i = 0; i < sa_pins_cnt; i++)
		if (strcmp(sa_pins[i].name, name) == 0)
			return &sa_pins[i];
	return NULL;
}

int sa_pin_path(char *buf, const char *dir, const char *name)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", dir, name);

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int sa_pin_open(const char *dir, const char *name, char *why, size_t len)
{
	char path[PATH_MAX];
	int fd, err;

	err = sa_pin_path(path, dir, name);
	if (err) {
		if (why)
			snprintf(why, len, "pin path '%s/%s' is too long: choose a shorter pin dir",
				 dir, name);
		return err;
	}
	fd = bpf_obj_get(path);
	if (fd >= 0)
		return fd;
	err = -errno;
	if (!why)
		return err;
	if (err == -ENOENT)
		snprintf(why, len, "can't open pin '%s': %s (nothing is pinned there: the fast "
			 "path is off)", path, strerror(-err));
	else if (err == -EPERM || err == -EACCES)
		/* bpffs answers EACCES for a file that is no BPF object, too */
		snprintf(why, len, "can't open pin '%s': %s (run as root, or with CAP_BPF; or "
			 "it is not a pinned BPF object)", path, strerror(-err));
	else
		snprintf(why, len, "can't open pin '%s': %s (is '%s' on bpffs?)", path,
			 strerror(-err), dir);
	return err;
}

/* Opens and reads; the verdict on what was read is sa_pin_layout_check's. */
static int read_layout(const char *pin_dir, struct sa_layout_check *c)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), zero = 0;
	char path[PATH_MAX];
	int fd, err;

	fd = sa_pin_open(pin_dir, SA_PIN_LAYOUT, c->why, sizeof(c->why));
	if (fd < 0) {
		c->state = SA_LAYOUT_UNREADABLE;
		return fd;
	}
	sa_pin_path(path, pin_dir, SA_PIN_LAYOUT);	/* fitted for the open */
	if (!sa_fd_is(fd, SA_PIN_MAP) || bpf_obj_get_info_by_fd(fd, &info, &len) < 0 ||
	    info.type != BPF_MAP_TYPE_ARRAY || info.key_size != 4 ||
	    info.value_size != sizeof(c->layout) || info.max_entries != 1) {
		c->state = SA_LAYOUT_FOREIGN;
		snprintf(c->why, sizeof(c->why), "pin '%s' is not a sockaccel layout map; this "
			 "pin dir holds objects sockaccel did not create: choose another "
			 "--pin-dir", path);
		err = -EPROTO;
		goto cleanup;
	}
	if (bpf_map_lookup_elem(fd, &zero, &c->layout) < 0) {
		err = -errno;
		c->state = SA_LAYOUT_UNREADABLE;
		snprintf(c->why, sizeof(c->why), "can't read pinned layout '%s': %s", path,
			 strerror(-err));
		goto cleanup;
	}
	c->read = true;
	err = 0;
cleanup:
	close(fd);
	return err;
}

int sa_pin_layout_check(const char *pin_dir, struct sa_layout_check *c)
{
	memset(c, 0, sizeof(*c));
	c->err = read_layout(pin_dir, c);
	if (!c->read)
		return c->err;
	if (c->layout.magic == 0) {
		c->state = SA_LAYOUT_UNWRITTEN;
		snprintf(c->why, sizeof(c->why), "pinned state in '%s' is from a setup that "
			 "has not finished (or was interrupted); starting sockacceld completes it",
			 pin_dir);
	} else if (c->layout.magic != SA_LAYOUT_MAGIC) {
		c->state = SA_LAYOUT_FOREIGN;
		snprintf(c->why, sizeof(c->why), "pinned layout in '%s' has magic 0x%x, not "
			 "sockaccel's: choose another --pin-dir", pin_dir, c->layout.magic);
	} else if (c->layout.version != SA_LAYOUT_VERSION) {
		c->state = SA_LAYOUT_OTHER;
		snprintf(c->why, sizeof(c->why), "pinned state in '%s' has layout version %u, "
			 "this sockacceld uses %u: migrate by draining the old fast path with the "
			 "sockaccelctl of that version ('sockaccelctl --pin-dir %s disable'; or "
			 "rm -r %s, which keeps live connections working until they close), then "
			 "start this sockacceld",
			 pin_dir, c->layout.version, SA_LAYOUT_VERSION, pin_dir, pin_dir);
	} else {
		c->state = SA_LAYOUT_CURRENT;
		return 0;
	}
	c->err = -EPROTO;
	return c->err;
}

static int mount_bpffs(const char *target)
{
	int err;

	if (mount("bpf", target, "bpf", 0, "mode=0700") < 0) {
		err = -errno;
		p_err("can't mount bpffs at '%s': %s (mount it first: mount -t bpf bpf %s; "
		      "sockaccel-bpffs.service does that under systemd)",
		      target, strerror(-err), target);
		return err;
	}
	p_info("mounted bpffs at %s", target);
	/*
	 * Private, as bpftool's mount_bpffs_for_pin makes it, so that mounts
	 * under it do not propagate to other mount namespaces. The bpffs is
	 * usable either way, so a failure here is only worth a warning.
	 */
	if (mount(NULL, target, NULL, MS_PRIVATE | MS_REC, NULL) < 0)
		p_warn("can't make bpffs at '%s' private: %s (it works, but mounts under it "
		       "propagate)", target, strerror(errno));
	return 0;
}

void sa_pin_dir_plan(const char *pin_dir, struct sa_pin_dir_plan *plan)
{
	char parent[PATH_MAX];
	enum sa_fs_kind kind;

	memset(plan, 0, sizeof(*plan));
	if (strlen(pin_dir) >= sizeof(parent)) {
		plan->state = SA_PIN_DIR_TOO_LONG;
		return;
	}
	strcpy(plan->checked, pin_dir);
	kind = sa_fs_kind(pin_dir, &plan->magic);
	if (kind == SA_FS_BPF) {
		plan->state = SA_PIN_DIR_READY;
		return;
	}
	if (kind != SA_FS_MISSING) {
		plan->state = SA_PIN_DIR_NOT_BPFFS;
		return;
	}
	strcpy(parent, pin_dir);
	strcpy(plan->checked, dirname(parent));
	kind = sa_fs_kind(plan->checked, &plan->magic);
	if (kind == SA_FS_BPF)
		plan->state = SA_PIN_DIR_CREATE;
	else if (kind == SA_FS_MISSING)
		plan->state = SA_PIN_DIR_NO_PARENT;
	else if (strcmp(plan->checked, SA_BPFFS_MOUNT_DEFAULT) == 0)
		plan->state = SA_PIN_DIR_MOUNT;
	else
		plan->state = SA_PIN_DIR_NOT_BPFFS;
}

int sa_pin_dir_plan_explain(const struct sa_pin_dir_plan *plan, const char *pin_dir,
			    char *buf, size_t len)
{
	switch (plan->state) {
	case SA_PIN_DIR_READY:
	case SA_PIN_DIR_CREATE:
		return snprintf(buf, len, "pin dir '%s' is on bpffs", pin_dir);
	case SA_PIN_DIR_MOUNT:
		return snprintf(buf, len, "nothing is mounted at %s; sockacceld mounts bpffs there",
				plan->checked);
	case SA_PIN_DIR_NOT_BPFFS:
		return snprintf(buf, len,
				"'%s' is not on bpffs (filesystem type 0x%lx); mount one "
				"(mount -t bpf bpf %s) or choose a pin dir under %s",
				plan->checked, plan->magic, plan->checked, SA_BPFFS_MOUNT_DEFAULT);
	case SA_PIN_DIR_NO_PARENT:
		return snprintf(buf, len,
				"parent '%s' of the pin dir does not exist; create it on a bpffs "
				"mount or choose a pin dir under %s",
				plan->checked, SA_BPFFS_MOUNT_DEFAULT);
	default:
		return snprintf(buf, len, "pin dir path '%.64s...' is too long", pin_dir);
	}
}

int sa_pin_dir_prepare(const char *pin_dir, bool may_mount)
{
	struct sa_pin_dir_plan plan;
	char why[PATH_MAX + 256];

	sa_pin_dir_plan(pin_dir, &plan);
	switch (plan.state) {
	case SA_PIN_DIR_READY:
		return 0;
	case SA_PIN_DIR_CREATE:
		break;
	case SA_PIN_DIR_MOUNT:
		if (may_mount) {
			if (mount_bpffs(plan.checked))
				return -ENOTDIR;	/* it said why and how */
			break;
		}
		/* fall through */
	default:
		sa_pin_dir_plan_explain(&plan, pin_dir, why, sizeof(why));
		p_err("%s", why);
		return -ENOTDIR;
	}
	if (mkdir(pin_dir, 0700) < 0 && errno != EEXIST) {
		int err = -errno;

		p_err("can't create pin dir '%s': %s", pin_dir, strerror(-err));
		return err;
	}
	return 0;
}

pid_t sa_proc_locks_holder(FILE *proc_locks, unsigned int major, unsigned int minor,
			   unsigned long ino)
{
	char line[256];

	/* "1: FLOCK  ADVISORY  WRITE 1234 00:1f:5678 0 EOF" */
	while (fgets(line, sizeof(line), proc_locks)) {
		unsigned int maj, min;
		unsigned long i;
		char type[16];
		int pid;

		if (strstr(line, "->"))	/* a waiter, not the holder */
			continue;
		if (sscanf(line, "%*d: %15s %*s %*s %d %x:%x:%lu", type, &pid, &maj, &min, &i) != 5)
			continue;
		if (strcmp(type, "FLOCK") == 0 && maj == major && min == minor && i == ino)
			return pid;
	}
	return 0;
}

int sa_pin_dir_lock(const char *pin_dir, pid_t *holder)
{
	struct stat st;
	FILE *locks;
	int fd, err;

	*holder = 0;
	fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		p_err("can't open pin dir '%s': %s", pin_dir, strerror(-err));
		return err;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	err = -errno;
	if (err == -EWOULDBLOCK && fstat(fd, &st) == 0) {
		locks = fopen("/proc/locks", "re");
		if (locks) {
			*holder = sa_proc_locks_holder(locks, major(st.st_dev), minor(st.st_dev),
						       st.st_ino);
			fclose(locks);
		}
	}
	close(fd);
	return err;
}
