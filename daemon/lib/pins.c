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

static int mount_bpffs(const char *target)
{
	/* As bpftool does: a private mount, so it does not propagate. */
	if (mount("bpf", target, "bpf", 0, "mode=0700") < 0) {
		int err = -errno;

		p_err("can't mount bpffs at '%s': %s (mount it first: mount -t bpf bpf %s; "
		      "sockaccel-bpffs.service does that under systemd)",
		      target, strerror(-err), target);
		return err;
	}
	p_info("mounted bpffs at %s", target);
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
