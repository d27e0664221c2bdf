/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_MOUNTS_H
#define SA_MOUNTS_H

#include <stdio.h>
#include <linux/types.h>

/*
 * Find the first mount of filesystem type @fstype ("cgroup2", "bpf", ...)
 * in a mountinfo stream (proc(5) format) and copy its mount point, with the
 * octal escapes undone, into @buf. Returns 0, -ENOENT or -ENAMETOOLONG.
 */
int sa_mountinfo_find(FILE *mountinfo, const char *fstype, char *buf, size_t len);
/* The same for the @nth (0-based) mount of that type. */
int sa_mountinfo_find_nth(FILE *mountinfo, const char *fstype, unsigned int nth, char *buf,
			  size_t len);
/* The same on /proc/self/mountinfo. */
int sa_mount_find(const char *fstype, char *buf, size_t len);
int sa_mount_find_nth(const char *fstype, unsigned int nth, char *buf, size_t len);

/* The root cgroup of the whole hierarchy has cgroup id (kernfs inode) 1;
 * the root of a cgroup namespace's mount (a container's /sys/fs/cgroup)
 * has its own cgroup's id. */
#define SA_CGROUP_ROOT_ID 1

enum sa_fs_kind {
	SA_FS_MISSING,		/* the path does not exist */
	SA_FS_CGROUP2,
	SA_FS_CGROUP1,
	SA_FS_BPF,
	SA_FS_OTHER,
};

/* statfs(2) @path; on SA_FS_OTHER *@magic holds f_type. */
enum sa_fs_kind sa_fs_kind(const char *path, long *magic);

/* Move the calling process into cgroup2 directory @cgroup (before it
 * creates sockets: a socket's cgroup is fixed at creation). */
int sa_cgroup_join(const char *cgroup);

/* The cgroup id the kernel reports (bpf_link_info, bpftool) for a cgroup2
 * directory: its kernfs inode number. */
int sa_cgroup_id(const char *path, __u64 *id);

#endif
