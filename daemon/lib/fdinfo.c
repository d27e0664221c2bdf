// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "fdinfo.h"

bool sa_fd_is(int fd, enum sa_pin_kind kind)
{
	static const char *const inode[] = {
		[SA_PIN_MAP] = "bpf-map", [SA_PIN_PROG] = "bpf-prog", [SA_PIN_LINK] = "bpf-link",
	};
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	if (strncmp(target, "anon_inode:", 11) != 0)
		return false;
	if (kind == SA_PIN_LINK && strcmp(target + 11, "bpf_link") == 0)
		return true;	/* the name before 6.x */
	return strcmp(target + 11, inode[kind]) == 0;
}

const char *sa_kind_name(enum sa_pin_kind kind)
{
	return kind == SA_PIN_MAP ? "map" : kind == SA_PIN_PROG ? "program" : "link";
}

int sa_link_info(int link_fd, struct bpf_link_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(link_fd, info, &len) < 0 ? -errno : 0;
}

__u32 sa_sockmap_link_map_id(const struct bpf_link_info *info)
{
	__u32 map_id;

	/* The union starts with sockmap.map_id, where cgroup.cgroup_id starts. */
	memcpy(&map_id, &info->cgroup, sizeof(map_id));
	return map_id;
}

__u32 sa_map_id(int map_fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(map_fd, &info, &len) < 0 ? 0 : info.id;
}

__u32 sa_prog_id(int prog_fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(prog_fd, &info, &len) < 0 ? 0 : info.id;
}

int sa_prog_attached(int target_fd, enum bpf_attach_type type, __u32 prog_id, __u32 *cnt)
{
	__u32 ids[64], n = 64, flags = 0;

	if (bpf_prog_query(target_fd, type, 0, &flags, ids, &n) < 0)
		return -errno;
	if (cnt)
		*cnt = n;
	for (__u32 i = 0; i < n && i < 64; i++)
		if (ids[i] == prog_id)
			return 1;
	return 0;
}
